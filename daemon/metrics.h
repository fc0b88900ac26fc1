// A small Prometheus registry (counters, gauges, histograms with labels) and its text exposition,
// with kube-proxy's metric names. Own code rather than prometheus-cpp: Debian 12 has no package
// for it, and kproxy needs a dozen series.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace kproxy::daemon {

class Metrics {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // kube-proxy's buckets for sync latencies: 1 ms doubling, 15 buckets.
  static std::vector<double> syncBuckets();
  // kube-proxy's buckets for kubeproxy_network_programming_duration_seconds.
  static std::vector<double> networkProgrammingBuckets();

  void counterAdd(const std::string& name, double v, const Labels& labels = {});
  void gaugeSet(const std::string& name, double v, const Labels& labels = {});
  void observe(const std::string& name, double v, const Labels& labels = {});
  // Declares a metric's help, type ("counter", "gauge", "histogram") and buckets once. A metric
  // without labels is exposed at zero from then on, as Prometheus' Go client does; a labelled
  // one (`vec`) only once a label set is used.
  void describe(const std::string& name, const std::string& type, const std::string& help,
                std::vector<double> buckets = {}, bool vec = false);

  // Creates the series at zero if it does not exist yet (a labelled metric exposed from the start).
  void touch(const std::string& name, const Labels& labels);

  // Prometheus text format 0.0.4.
  std::string exposition() const;
  double value(const std::string& name, const Labels& labels = {}) const;

 private:
  struct Series {
    double value = 0;  // counter/gauge; histogram sum
    uint64_t count = 0;
    std::vector<uint64_t> buckets;
  };
  struct Family {
    std::string type = "gauge", help;
    std::vector<double> bounds;
    std::map<Labels, Series> series;
  };
  Family& family(const std::string& name);

  mutable std::mutex mu_;  // written from the io thread, read by the HTTP handler on the same
                           // thread today; the lock keeps it safe if that ever changes
  std::map<std::string, Family> families_;
};

// Registers kproxy's metrics (upstream names) in `m`.
// kube-proxy's metrics as its RegisterMetrics registers them for `mode` ("iptables", "ipvs",
// "nftables"): the core ones for every mode, and each mode's own.
void describeProxyMetrics(Metrics& m, const std::string& mode = "iptables");
// kubernetes_build_info (gauge 1) with component-base's labels: git_version is the kube-proxy
// release kproxy follows with kproxy's version as build metadata ("v1.37.0+kproxy.0.17.0").
// client-go's request metrics (rest_client_requests_total{code,host,method},
// rest_client_request_duration_seconds{host,verb} with client-go's buckets).
void describeRestClientMetrics(Metrics& m);
void describeBuildInfo(Metrics& m, const std::string& kproxyVersion, const std::string& kubeVersion);
// The ip_family series of `family` ("IPv4", "IPv6") created at zero, so that a family's
// counters and histograms are exposed from the start.
void perFamilyMetrics(Metrics& m, const std::string& mode, const std::string& family);

}  // namespace kproxy::daemon
