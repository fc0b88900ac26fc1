#include "daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <set>

#include "daemon/flags.h"
#include "dataplane/ip.h"
#include "ipvs/planner.h"
#include "watch/yaml_json.h"

namespace kproxy::daemon {

namespace {

// Walks a YAML map: each known key is read by its reader; anything else is an error.
class Reader {
 public:
  explicit Reader(std::vector<std::string>& errors) : errors_(errors) {}

  void map(const YAML::Node& node, const std::string& path,
           const std::map<std::string, std::function<void(const YAML::Node&, const std::string&)>>& fields) {
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) {
      errors_.push_back((path.empty() ? "(root)" : path) + ": expected a map");
      return;
    }
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      std::string p = path.empty() ? key : path + "." + key;
      auto it = fields.find(key);
      if (it == fields.end()) {
        errors_.push_back(p + ": unknown field");
        continue;
      }
      if (kv.second.IsNull()) continue;
      it->second(kv.second, p);
    }
  }

  auto str(std::string& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      if (!n.IsScalar()) return fail(p, "expected a string");
      into = n.Scalar();
    };
  }
  auto boolean(bool& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
        return fail(p, "expected true or false, got \"" + (n.IsScalar() ? n.Scalar() : std::string("a structure")) + "\"");
      into = n.Scalar() == "true";
    };
  }
  auto integer(int& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      try {
        if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
        into = n.as<int>();
      } catch (const YAML::Exception&) {
        fail(p, "expected an integer, got \"" + (n.IsScalar() ? n.Scalar() : std::string("a structure")) + "\"");
      }
    };
  }
  auto duration(Millis& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      auto d = n.IsScalar() ? parseDuration(n.Scalar()) : std::nullopt;
      if (!d) return fail(p, "\"" + (n.IsScalar() ? n.Scalar() : std::string("a structure")) + "\" is not a duration (like 30s, 1m0s)");
      into = *d;
    };
  }
  auto strings(std::vector<std::string>& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      if (!n.IsSequence()) return fail(p, "expected a list");
      into.clear();
      for (const auto& e : n) {
        if (!e.IsScalar()) return fail(p, "expected a list of strings");
        into.push_back(e.Scalar());
      }
    };
  }
  // Fields kube-proxy has that kproxy accepts and does not use (yet).
  auto ignored() {
    return [](const YAML::Node&, const std::string&) {};
  }

 private:
  void fail(const std::string& path, const std::string& msg) { errors_.push_back(path + ": " + msg); }
  std::vector<std::string>& errors_;
};

}  // namespace

Result<ProxyConfig> parseProxyConfig(const std::string& text) {
  ProxyConfig c;
  std::vector<std::string> errors;
  // libyaml reads it first: yaml-cpp 0.7 loops forever on some malformed text (a document
  // starting with ","), and an alias bomb must be refused before yaml-cpp expands it.
  if (watch::YamlDocuments checked = watch::parseYaml(text); !checked.ok())
    return Status::error("malformed config: " + checked.error);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::error(std::string("malformed config: ") + e.what());
  }
  Reader r(errors);
  std::string apiVersion, kind;
  try {  // a node of another shape than expected (a list where a map belongs) throws
    r.map(root, "",
          {{"apiVersion", r.str(apiVersion)},
           {"kind", r.str(kind)},
           {"featureGates", r.ignored()},
           {"clientConnection",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"kubeconfig", r.str(c.kubeconfig)}, {"acceptContentTypes", r.ignored()},
                           {"contentType", r.ignored()}, {"qps", r.ignored()}, {"burst", r.ignored()}});
            }},
           {"hostnameOverride", r.str(c.hostnameOverride)},
           {"bindAddress", r.str(c.bindAddress)},
           {"healthzBindAddress", r.str(c.healthzBindAddress)},
           {"metricsBindAddress", r.str(c.metricsBindAddress)},
           {"bindAddressHardFail", r.ignored()},
           {"enableProfiling", r.ignored()},
           {"showHiddenMetricsForVersion", r.ignored()},
           {"mode", r.str(c.mode)},
           {"iptables",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"masqueradeBit", r.integer(c.iptables.masqueradeBit)},
                           {"masqueradeAll", r.boolean(c.iptables.masqueradeAll)},
                           {"localhostNodePorts", r.boolean(c.iptables.localhostNodePorts)},
                           {"syncPeriod", r.duration(c.iptables.syncPeriod)},
                           {"minSyncPeriod", r.duration(c.iptables.minSyncPeriod)}});
            }},
           {"ipvs",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"syncPeriod", r.duration(c.ipvs.syncPeriod)},
                           {"minSyncPeriod", r.duration(c.ipvs.minSyncPeriod)},
                           {"scheduler", r.str(c.ipvs.scheduler)},
                           {"excludeCIDRs", r.strings(c.ipvs.excludeCIDRs)},
                           {"strictARP", r.boolean(c.ipvs.strictARP)},
                           {"tcpTimeout", r.duration(c.ipvs.tcpTimeout)},
                           {"tcpFinTimeout", r.duration(c.ipvs.tcpFinTimeout)},
                           {"udpTimeout", r.duration(c.ipvs.udpTimeout)}});
            }},
           {"nftables", r.ignored()},
           {"winkernel", r.ignored()},
           {"detectLocalMode", r.str(c.detectLocalMode)},
           {"detectLocal", r.ignored()},
           {"clusterCIDR", r.str(c.clusterCIDR)},
           {"nodePortAddresses", r.strings(c.nodePortAddresses)},
           {"oomScoreAdj", r.integer(c.oomScoreAdj)},
           {"conntrack",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"maxPerCore", r.integer(c.conntrack.maxPerCore)},
                           {"min", r.integer(c.conntrack.min)},
                           {"tcpEstablishedTimeout", r.duration(c.conntrack.tcpEstablishedTimeout)},
                           {"tcpCloseWaitTimeout", r.duration(c.conntrack.tcpCloseWaitTimeout)},
                           {"tcpBeLiberal", r.boolean(c.conntrack.tcpBeLiberal)},
                           {"udpTimeout", r.duration(c.conntrack.udpTimeout)},
                           {"udpStreamTimeout", r.duration(c.conntrack.udpStreamTimeout)}});
            }},
           {"configSyncPeriod", r.ignored()},
           {"portRange", r.ignored()},
           {"logging",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"format", r.str(c.logging.format)}, {"verbosity", r.integer(c.logging.verbosity)},
                           {"flushFrequency", r.ignored()}, {"options", r.ignored()},
                           {"vmodule", r.ignored()}, {"sanitization", r.ignored()}});
            }},
           {"windowsRunAsService", r.ignored()}});
  } catch (const YAML::Exception& e) {
    return Status::error(std::string("malformed config: ") + e.what());
  }
  // Upstream's defaulting: zero values mean "the default" (kubeadm writes `syncPeriod: 0s`,
  // `healthzBindAddress: ""`), and a bind address without a port gets the default port.
  if (c.iptables.syncPeriod.count() == 0) c.iptables.syncPeriod = Millis(30000);
  if (c.iptables.minSyncPeriod.count() == 0) c.iptables.minSyncPeriod = Millis(1000);
  if (c.ipvs.syncPeriod.count() == 0) c.ipvs.syncPeriod = Millis(30000);
  if (c.mode.empty()) c.mode = "iptables";
  if (c.logging.format.empty()) c.logging.format = "text";
  if (c.detectLocalMode.empty()) c.detectLocalMode = "ClusterCIDR";
  if (c.bindAddress.empty()) c.bindAddress = "0.0.0.0";
  auto withPort = [](std::string& addr, const char* def, const char* port) {
    if (addr.empty()) addr = def;
    else if (net::parseIP(addr)) addr = (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + port;
  };
  withPort(c.healthzBindAddress, "0.0.0.0:10256", "10256");
  withPort(c.metricsBindAddress, "127.0.0.1:10249", "10249");
  if (kind != "KubeProxyConfiguration") errors.push_back("kind: \"" + kind + "\" is not KubeProxyConfiguration");
  if (apiVersion != "kubeproxy.config.k8s.io/v1alpha1")
    errors.push_back("apiVersion: \"" + apiVersion + "\" is not kubeproxy.config.k8s.io/v1alpha1");
  for (auto& e : validateProxyConfig(c)) errors.push_back(std::move(e));
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "; ") + e;
    return Status::error(msg);
  }
  return c;
}

std::vector<std::string> validateProxyConfig(const ProxyConfig& c) {
  std::vector<std::string> errors;
  static const std::set<std::string> kModes = {"", "iptables", "ipvs", "nftables"};
  if (!kModes.count(c.mode)) errors.push_back("mode: \"" + c.mode + "\" is not iptables, ipvs or nftables");
  if (!c.ipvs.scheduler.empty() && !ipvs::isScheduler(c.ipvs.scheduler))
    errors.push_back("ipvs.scheduler: \"" + c.ipvs.scheduler + "\" is not an IPVS scheduler (" + ipvs::kSchedulerNames + ")");
  if (c.iptables.masqueradeBit < 0 || c.iptables.masqueradeBit > 31)
    errors.push_back("iptables.masqueradeBit: " + std::to_string(c.iptables.masqueradeBit) + " is not in 0-31");
  if (c.iptables.syncPeriod.count() <= 0) errors.push_back("iptables.syncPeriod: must be greater than 0");
  if (c.iptables.minSyncPeriod.count() < 0) errors.push_back("iptables.minSyncPeriod: must be 0 or more");
  if (c.iptables.minSyncPeriod > c.iptables.syncPeriod)
    errors.push_back("iptables.minSyncPeriod: must not exceed iptables.syncPeriod");
  for (const auto& cidr : splitComma(c.clusterCIDR))
    if (!net::parseCidr(cidr)) errors.push_back("clusterCIDR: \"" + cidr + "\" is not a valid CIDR");
  for (size_t i = 0; i < c.nodePortAddresses.size(); ++i)
    if (c.nodePortAddresses[i] != "primary" && !net::parseCidr(c.nodePortAddresses[i]))
      errors.push_back("nodePortAddresses[" + std::to_string(i) + "]: \"" + c.nodePortAddresses[i] + "\" is not a valid CIDR");
  for (size_t i = 0; i < c.ipvs.excludeCIDRs.size(); ++i)
    if (!net::parseCidr(c.ipvs.excludeCIDRs[i]))
      errors.push_back("ipvs.excludeCIDRs[" + std::to_string(i) + "]: \"" + c.ipvs.excludeCIDRs[i] + "\" is not a valid CIDR");
  if (c.logging.format != "text" && c.logging.format != "json")
    errors.push_back("logging.format: \"" + c.logging.format + "\" is not text or json");
  if (c.logging.verbosity < 0) errors.push_back("logging.verbosity: " + std::to_string(c.logging.verbosity) + " is negative");
  static const std::set<std::string> kDetect = {"", "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"};
  if (!kDetect.count(c.detectLocalMode)) errors.push_back("detectLocalMode: \"" + c.detectLocalMode + "\" is unknown");
  if (c.oomScoreAdj < -1000 || c.oomScoreAdj > 1000)
    errors.push_back("oomScoreAdj: " + std::to_string(c.oomScoreAdj) + " is not in -1000..1000");
  if (c.conntrack.maxPerCore < 0) errors.push_back("conntrack.maxPerCore: must be 0 or more");
  if (c.conntrack.min < 0) errors.push_back("conntrack.min: must be 0 or more");
  auto address = [&](const std::string& field, const std::string& v) {
    if (v.empty()) return;
    auto colon = v.rfind(':');
    std::string host = colon == std::string::npos ? v : v.substr(0, colon);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (colon == std::string::npos || !net::parseIP(host)) errors.push_back(field + ": \"" + v + "\" is not IP:PORT");
  };
  address("healthzBindAddress", c.healthzBindAddress);
  address("metricsBindAddress", c.metricsBindAddress);
  return errors;
}

std::string defaultConfigYaml() {
  return R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: ""
clusterCIDR: ""
conntrack:
  maxPerCore: 32768
  min: 131072
  tcpCloseWaitTimeout: 1h0m0s
  tcpEstablishedTimeout: 24h0m0s
detectLocalMode: ClusterCIDR
healthzBindAddress: 0.0.0.0:10256
hostnameOverride: ""
logging:
  format: text
  verbosity: 0
iptables:
  localhostNodePorts: true
  masqueradeAll: false
  masqueradeBit: 14
  minSyncPeriod: 1s
  syncPeriod: 30s
ipvs:
  excludeCIDRs: []
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 30s
metricsBindAddress: 127.0.0.1:10249
mode: iptables
nodePortAddresses: []
oomScoreAdj: -999
)";
}

}  // namespace kproxy::daemon
