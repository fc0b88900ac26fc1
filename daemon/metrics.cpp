#include "daemon/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>

namespace kproxy::daemon {

std::vector<double> Metrics::syncBuckets() {
  std::vector<double> b;
  for (int i = 0; i < 15; ++i) b.push_back(0.001 * std::pow(2.0, i));
  return b;
}

std::vector<double> Metrics::networkProgrammingBuckets() {
  // Upstream's: 0 (its merge() starts from a zero bucket), 0.25, 0.5, 1..59 s, 60..115 s by 5,
  // 120..300 s by 30.
  std::vector<double> b = {0, 0.25, 0.5};
  for (int i = 1; i <= 59; ++i) b.push_back(i);
  for (int i = 60; i <= 115; i += 5) b.push_back(i);
  for (int i = 120; i <= 300; i += 30) b.push_back(i);
  return b;
}

Metrics::Family& Metrics::family(const std::string& name) { return families_[name]; }

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help,
                       std::vector<double> buckets, bool vec) {
  std::lock_guard<std::mutex> l(mu_);
  auto& f = family(name);
  f.type = type;
  f.help = help;
  f.bounds = std::move(buckets);
  if (!vec) f.series[{}].buckets.assign(f.bounds.size(), 0);
}

void Metrics::touch(const std::string& name, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  auto& f = family(name);
  if (!f.series.count(labels)) f.series[labels].buckets.assign(f.bounds.size(), 0);
}

void Metrics::counterAdd(const std::string& name, double v, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  family(name).series[labels].value += v;
}

void Metrics::gaugeSet(const std::string& name, double v, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  family(name).series[labels].value = v;
}

void Metrics::observe(const std::string& name, double v, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  auto& f = family(name);
  auto& s = f.series[labels];
  if (s.buckets.size() != f.bounds.size()) s.buckets.assign(f.bounds.size(), 0);
  for (size_t i = 0; i < f.bounds.size(); ++i)
    if (v <= f.bounds[i]) ++s.buckets[i];
  s.value += v;
  ++s.count;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto s = f->second.series.find(labels);
  if (s == f->second.series.end()) return 0;
  return f->second.type == "histogram" ? static_cast<double>(s->second.count) : s->second.value;
}

namespace {

// Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' client uses: the fewest digits
// that read back as the same double, in exponent form only when the exponent is < -4 or >= 6
// ("300", "16.384", "1e+06", "0.0001", "1e-05").
std::string fmt(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[64];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  int exp = std::atoi(std::strchr(buf, 'e') + 1);
  if (exp < -4 || exp >= 6) return buf;  // already "d.ddde+XX"
  std::snprintf(buf, sizeof buf, "%.*f", std::max(0, digits - 1 - exp), v);
  return buf;
}

std::string labelText(const Metrics::Labels& labels, const std::string& extraKey = "", const std::string& extraValue = "") {
  std::string s;
  auto add = [&](const std::string& k, const std::string& v) {
    s += s.empty() ? "{" : ",";
    s += k + "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') s += '\\';
      if (c == '\n') {
        s += "\\n";
        continue;
      }
      s += c;
    }
    s += "\"";
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (!extraKey.empty()) add(extraKey, extraValue);
  if (!s.empty()) s += "}";
  return s;
}

}  // namespace

std::string Metrics::exposition() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (f.series.empty()) continue;  // a labelled metric never used: absent, as in Go's registry
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, s] : f.series) {
      if (f.type != "histogram") {
        out += name + labelText(labels) + " " + fmt(s.value) + "\n";
        continue;
      }
      for (size_t i = 0; i < f.bounds.size(); ++i)
        out += name + "_bucket" + labelText(labels, "le", fmt(f.bounds[i])) + " " +
               std::to_string(i < s.buckets.size() ? s.buckets[i] : 0) + "\n";
      out += name + "_bucket" + labelText(labels, "le", "+Inf") + " " + std::to_string(s.count) + "\n";
      out += name + "_sum" + labelText(labels) + " " + fmt(s.value) + "\n";
      out += name + "_count" + labelText(labels) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

void describeProxyMetrics(Metrics& m, const std::string& mode) {
  auto b = Metrics::syncBuckets();
  // Labels as kube-proxy 1.37's metric reference lists them: most carry ip_family (vec: each
  // family's series is created by the daemon at start, see perFamilyMetrics()).
  constexpr bool kVec = true;
  // Every mode (upstream's core registrations).
  m.describe("kubeproxy_sync_proxy_rules_duration_seconds", "histogram", "SyncProxyRules latency in seconds", b, kVec);
  m.describe("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "gauge",
             "The last time a sync of proxy rules was queued", {}, kVec);
  m.describe("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge",
             "The last time proxy rules were successfully synced", {}, kVec);
  m.describe("kubeproxy_sync_proxy_rules_endpoint_changes_pending", "gauge", "Pending proxy rules Endpoint changes");
  m.describe("kubeproxy_sync_proxy_rules_endpoint_changes_total", "counter", "Cumulative proxy rules Endpoint changes");
  m.describe("kubeproxy_sync_proxy_rules_service_changes_pending", "gauge", "Pending proxy rules Service changes");
  m.describe("kubeproxy_sync_proxy_rules_service_changes_total", "counter", "Cumulative proxy rules Service changes");
  m.describe("kubeproxy_proxy_healthz_total", "counter", "Cumulative proxy healthz HTTP status", {}, kVec);
  m.describe("kubeproxy_proxy_livez_total", "counter", "Cumulative proxy livez HTTP status", {}, kVec);
  m.describe("kubeproxy_network_programming_duration_seconds", "histogram",
             "In Cluster Network Programming Latency in seconds", Metrics::networkProgrammingBuckets(), kVec);
  m.describe("kubeproxy_sync_proxy_rules_no_local_endpoints_total", "gauge",
             "Number of services with a Local traffic policy and no endpoints", {}, kVec);
  m.describe("kubeproxy_conntrack_reconciler_sync_duration_seconds", "histogram",
             "ReconcileConntrackFlowsLatency latency in seconds", b, kVec);
  m.describe("kubeproxy_conntrack_reconciler_deleted_entries_total", "counter",
             "Cumulative conntrack flows deleted by conntrack reconciler", {}, kVec);
  // kproxy's partial syncs exist in every mode: their latency split is kept in each.
  m.describe("kubeproxy_sync_full_proxy_rules_duration_seconds", "histogram",
             "SyncProxyRules latency in seconds for full resyncs", b, kVec);
  m.describe("kubeproxy_sync_partial_proxy_rules_duration_seconds", "histogram",
             "SyncProxyRules latency in seconds for partial resyncs", b, kVec);
  if (mode == "ebpf") {  // kproxy's own mode, named as nftables mode's counter
    m.describe("kubeproxy_sync_proxy_rules_ebpf_sync_failures_total", "counter",
               "Cumulative proxy eBPF map sync failures", {}, kVec);
    return;
  }
  if (mode == "nftables") {
    m.describe("kubeproxy_sync_proxy_rules_nftables_sync_failures_total", "counter",
               "Cumulative proxy nftables sync failures", {}, kVec);
    m.describe("kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total", "counter",
               "Cumulative proxy nftables cleanup failures", {}, kVec);
    return;
  }
  m.describe("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", "counter",
             "Cumulative proxy iptables restore failures", {}, kVec);
  if (mode == "ipvs") return;
  m.describe("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total", "counter",
             "Cumulative proxy iptables partial restore failures", {}, kVec);
  m.describe("kubeproxy_sync_proxy_rules_iptables_total", "gauge", "Total number of iptables rules owned by kube-proxy", {},
             kVec);
  m.describe("kubeproxy_sync_proxy_rules_iptables_last", "gauge", "Number of iptables rules written by kube-proxy in last sync",
             {}, kVec);
}

#if defined(__aarch64__)
constexpr const char* kPlatform = "linux/arm64";
#else
constexpr const char* kPlatform = "linux/amd64";
#endif

void describeRestClientMetrics(Metrics& m) {
  m.describe("rest_client_requests_total", "counter", "Number of HTTP requests, partitioned by status code, method, and host.",
             {}, true);
  m.describe("rest_client_request_duration_seconds", "histogram", "Request latency in seconds. Broken down by verb, and host.",
             {0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0}, true);
}

void describeBuildInfo(Metrics& m, const std::string& kproxyVersion, const std::string& kubeVersion) {
  m.describe("kubernetes_build_info", "gauge",
             "A metric with a constant '1' value labeled by major, minor, git version, git commit, git tree state, build "
             "date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.",
             {}, true);
  std::string major, minor;  // "v1.37.0" -> 1, 37
  if (auto dot = kubeVersion.find('.'); kubeVersion.size() > 1 && dot != std::string::npos) {
    major = kubeVersion.substr(1, dot - 1);
    minor = kubeVersion.substr(dot + 1, kubeVersion.find('.', dot + 1) - dot - 1);
  }
  m.gaugeSet("kubernetes_build_info", 1,
             {{"build_date", __DATE__}, {"compiler", "gcc"}, {"git_commit", ""}, {"git_tree_state", ""},
              {"git_version", kubeVersion + "+kproxy." + kproxyVersion}, {"go_version", "none (C++)"},
              {"major", major}, {"minor", minor}, {"platform", kPlatform}});
}

void perFamilyMetrics(Metrics& m, const std::string& mode, const std::string& family) {
  const Metrics::Labels fam = {{"ip_family", family}};
  std::vector<const char*> names = {
      "kubeproxy_sync_proxy_rules_duration_seconds", "kubeproxy_sync_full_proxy_rules_duration_seconds",
      "kubeproxy_sync_partial_proxy_rules_duration_seconds", "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
      "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "kubeproxy_network_programming_duration_seconds",
      "kubeproxy_conntrack_reconciler_sync_duration_seconds", "kubeproxy_conntrack_reconciler_deleted_entries_total"};
  if (mode == "ebpf") {
    names.push_back("kubeproxy_sync_proxy_rules_ebpf_sync_failures_total");
  } else if (mode == "nftables") {
    names.push_back("kubeproxy_sync_proxy_rules_nftables_sync_failures_total");
    names.push_back("kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total");
  } else {
    names.push_back("kubeproxy_sync_proxy_rules_iptables_restore_failures_total");
    if (mode == "iptables") names.push_back("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total");
  }
  for (const char* n : names) m.touch(n, fam);
}

}  // namespace kproxy::daemon
