#include "daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "daemon/flags.h"
#include "dataplane/ip.h"
#include "dataplane/proxy_options.h"
#include "ipvs/planner.h"
#include "watch/yaml_json.h"

namespace kproxy::daemon {

namespace {

// Walks a YAML map: each known key is read by its reader; anything else is an error.
class Reader {
 public:
  Reader(std::vector<std::string>& errors, std::vector<std::string>& unknown) : errors_(errors), unknown_(unknown) {}

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
        unknown_.push_back(p + ": unknown field, ignored");
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
  auto number(double& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      try {
        if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "");
        into = n.as<double>();
      } catch (const YAML::Exception&) {
        fail(p, "expected a number, got \"" + (n.IsScalar() ? n.Scalar() : std::string("a structure")) + "\"");
      }
    };
  }
  auto gates(std::map<std::string, bool>& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      if (!n.IsMap()) return fail(p, "expected a map of feature gate names to true or false");
      for (const auto& kv : n) {
        const std::string name = kv.first.Scalar();
        if (!kv.second.IsScalar() || (kv.second.Scalar() != "true" && kv.second.Scalar() != "false")) {
          fail(p + "." + name, "expected true or false");
          continue;
        }
        into[name] = kv.second.Scalar() == "true";
      }
    };
  }
  // logging.vmodule: [{filePattern: x, verbosity: N}] in the file.
  auto vmodule(std::vector<std::string>& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      if (!n.IsSequence()) return fail(p, "expected a list of {filePattern, verbosity}");
      into.clear();
      for (const auto& e : n) {
        if (!e.IsMap() || !e["filePattern"] || !e["verbosity"] || !e["filePattern"].IsScalar() || !e["verbosity"].IsScalar())
          return fail(p, "expected a list of {filePattern, verbosity}");
        into.push_back(e["filePattern"].Scalar() + "=" + e["verbosity"].Scalar());
      }
    };
  }
  // logging.flushFrequency: a duration, or nanoseconds as a number (component-base's TimeOrMetaDuration).
  auto durationOrNanos(Millis& into) {
    return [this, &into](const YAML::Node& n, const std::string& p) {
      if (n.IsScalar() && !n.Scalar().empty() &&
          n.Scalar().find_first_not_of("0123456789") == std::string::npos && n.Scalar().size() < 19) {
        into = Millis(std::stoll(n.Scalar()) / 1000000);
        return;
      }
      auto d = n.IsScalar() ? parseDuration(n.Scalar()) : std::nullopt;
      if (!d) return fail(p, "\"" + (n.IsScalar() ? n.Scalar() : std::string("a structure")) + "\" is not a duration (like 5s)");
      into = *d;
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
  std::vector<std::string>& unknown_;
};

}  // namespace

Result<ProxyConfig> parseProxyConfig(const std::string& text, std::vector<std::string>* warnings) {
  ProxyConfig c;
  std::vector<std::string> errors, unknown;
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
  Reader r(errors, unknown);
  std::string apiVersion, kind;
  // Zero values mean "the default" in upstream's defaulting (kubeadm writes `syncPeriod: 0s`,
  // `healthzBindAddress: ""`, `qps: 0`); the defaults are applied after reading, below.
  c.healthzBindAddress.clear();
  c.metricsBindAddress.clear();
  auto ignoredMap = [&](const YAML::Node& n, const std::string& p) {
    if (!n.IsMap()) errors.push_back(p + ": expected a map");
  };
  try {  // a node of another shape than expected (a list where a map belongs) throws
    r.map(root, "",
          {{"apiVersion", r.str(apiVersion)},
           {"kind", r.str(kind)},
           {"featureGates", r.gates(c.featureGates)},
           {"clientConnection",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"kubeconfig", r.str(c.kubeconfig)},
                           {"acceptContentTypes", r.str(c.clientConnection.acceptContentTypes)},
                           {"contentType", r.str(c.clientConnection.contentType)},
                           {"qps", r.number(c.clientConnection.qps)},
                           {"burst", r.integer(c.clientConnection.burst)}});
            }},
           {"hostnameOverride", r.str(c.hostnameOverride)},
           {"bindAddress", r.str(c.bindAddress)},
           {"healthzBindAddress", r.str(c.healthzBindAddress)},
           {"metricsBindAddress", r.str(c.metricsBindAddress)},
           {"bindAddressHardFail", r.boolean(c.bindAddressHardFail)},
           {"enableProfiling", r.boolean(c.enableProfiling)},
           {"showHiddenMetricsForVersion", r.str(c.showHiddenMetricsForVersion)},
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
           {"nftables",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"masqueradeBit", r.integer(c.nftables.masqueradeBit)},
                           {"masqueradeAll", r.boolean(c.nftables.masqueradeAll)},
                           {"syncPeriod", r.duration(c.nftables.syncPeriod)},
                           {"minSyncPeriod", r.duration(c.nftables.minSyncPeriod)}});
            }},
           {"winkernel", ignoredMap},
           {"detectLocalMode", r.str(c.detectLocalMode)},
           {"detectLocal",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"bridgeInterface", r.str(c.detectLocal.bridgeInterface)},
                           {"interfaceNamePrefix", r.str(c.detectLocal.interfaceNamePrefix)}});
            }},
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
           {"configSyncPeriod", r.duration(c.configSyncPeriod)},
           {"portRange", r.str(c.portRange)},
           {"logging",
            [&](const YAML::Node& n, const std::string& p) {
              r.map(n, p, {{"format", r.str(c.logging.format)}, {"verbosity", r.integer(c.logging.verbosity)},
                           {"flushFrequency", r.durationOrNanos(c.logging.flushFrequency)}, {"options", ignoredMap},
                           {"vmodule", r.vmodule(c.logging.vmodule)}, {"sanitization", r.ignored()}});
            }},
           {"windowsRunAsService", r.ignored()}});
  } catch (const YAML::Exception& e) {
    return Status::error(std::string("malformed config: ") + e.what());
  }
  // Upstream's defaulting (SetDefaults_KubeProxyConfiguration, platformApplyDefaults).
  if (c.iptables.syncPeriod.count() == 0) c.iptables.syncPeriod = Millis(30000);
  if (c.iptables.minSyncPeriod.count() == 0) c.iptables.minSyncPeriod = Millis(1000);
  if (c.ipvs.syncPeriod.count() == 0) c.ipvs.syncPeriod = Millis(30000);
  if (c.nftables.syncPeriod.count() == 0) c.nftables.syncPeriod = Millis(30000);
  if (c.nftables.minSyncPeriod.count() == 0) c.nftables.minSyncPeriod = Millis(1000);
  if (c.configSyncPeriod.count() == 0) c.configSyncPeriod = Millis(15 * 60 * 1000);
  if (c.clientConnection.contentType.empty()) c.clientConnection.contentType = "application/vnd.kubernetes.protobuf";
  if (c.clientConnection.qps == 0) c.clientConnection.qps = 5;
  if (c.clientConnection.burst == 0) c.clientConnection.burst = 10;
  if (c.mode.empty()) c.mode = "iptables";
  if (c.logging.format.empty()) c.logging.format = "text";
  if (c.detectLocalMode.empty()) c.detectLocalMode = "ClusterCIDR";
  if (c.bindAddress.empty()) c.bindAddress = "0.0.0.0";
  // An IPv6 bindAddress makes the default servers listen on IPv6 (upstream's getDefaultAddresses).
  auto bind = net::parseIP(c.bindAddress);
  const bool v6 = bind && bind->family == model::IPFamily::kIPv6;
  auto withPort = [](std::string& addr, const std::string& def, const char* port) {
    if (addr.empty()) addr = def + ":" + port;
    else if (net::parseIP(addr)) addr = (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + port;
  };
  withPort(c.healthzBindAddress, v6 ? "[::]" : "0.0.0.0", "10256");
  withPort(c.metricsBindAddress, v6 ? "[::1]" : "127.0.0.1", "10249");
  if (kind != "KubeProxyConfiguration") errors.push_back("kind: \"" + kind + "\" is not KubeProxyConfiguration");
  if (apiVersion != "kubeproxy.config.k8s.io/v1alpha1")
    errors.push_back("apiVersion: \"" + apiVersion + "\" is not kubeproxy.config.k8s.io/v1alpha1");
  for (auto& e : validateProxyConfig(c)) errors.push_back(std::move(e));
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "; ") + e;
    return Status::error(msg);
  }
  if (warnings)
    for (auto& u : unknown) warnings->push_back(std::move(u));
  return c;
}

Millis ProxyConfig::syncPeriod() const {
  return mode == "ipvs" ? ipvs.syncPeriod : mode == "nftables" ? nftables.syncPeriod : iptables.syncPeriod;
}
Millis ProxyConfig::minSyncPeriod() const {
  return mode == "ipvs" ? ipvs.minSyncPeriod : mode == "nftables" ? nftables.minSyncPeriod : iptables.minSyncPeriod;
}
bool ProxyConfig::masqueradeAll() const { return mode == "nftables" ? nftables.masqueradeAll : iptables.masqueradeAll; }
int ProxyConfig::masqueradeBit() const { return mode == "nftables" ? nftables.masqueradeBit : iptables.masqueradeBit; }
std::vector<std::string> ProxyConfig::effectiveNodePortAddresses() const {
  if (nodePortAddresses.empty() && mode == "nftables") return {"primary"};
  return nodePortAddresses;
}

const std::map<std::string, bool>& knownFeatureGates() {
  // The gates of kube-proxy 1.37 that change what it does, with their defaults.
  static const std::map<std::string, bool> gates = {
      {"AllowServiceExternalIPs", true},               // KEP-5707: off, nothing is programmed for spec.externalIPs
      {"KubeProxyIPVS", true},                         // deprecated in 1.37: off, ipvs mode is refused
      {"KubeProxyNFTablesLocalhostNodePorts", false},  // alpha: localhost NodePorts in nftables mode (not in kproxy)
      {"MultiCIDRServiceAllocator", true},             // GA: ServiceCIDRs are watched (nftables mode drops unallocated ClusterIPs)
  };
  return gates;
}

bool featureEnabled(const ProxyConfig& c, const std::string& gate) {
  if (auto it = c.featureGates.find(gate); it != c.featureGates.end()) return it->second;
  auto known = knownFeatureGates().find(gate);
  return known != knownFeatureGates().end() && known->second;
}

std::vector<std::string> validateProxyConfig(const ProxyConfig& c) {
  std::vector<std::string> errors;
  static const std::set<std::string> kModes = {"", "iptables", "ipvs", "nftables", "ebpf"};
  if (!kModes.count(c.mode)) errors.push_back("mode: \"" + c.mode + "\" is not iptables, ipvs, nftables or ebpf");
  if (c.mode == "ipvs" && !featureEnabled(c, "KubeProxyIPVS"))
    errors.push_back("mode: \"ipvs\" is not allowed with the feature gate KubeProxyIPVS=false (ipvs mode is deprecated since kube-proxy 1.37)");
  if (!c.ipvs.scheduler.empty() && !ipvs::isSchedulerName(c.ipvs.scheduler))
    errors.push_back("ipvs.scheduler: \"" + c.ipvs.scheduler + "\" is not an IPVS scheduler name (1-15 of a-z, 0-9, _; Linux has " +
                     ipvs::kSchedulerNames + ")");
  for (auto [name, bit] : {std::pair{"iptables", c.iptables.masqueradeBit}, std::pair{"nftables", c.nftables.masqueradeBit}})
    if (bit < 0 || bit > 31)
      errors.push_back(std::string(name) + ".masqueradeBit: " + std::to_string(bit) + " is not in 0-31");
  // Each section is checked as upstream does: iptables' always, the others when their mode runs.
  auto periods = [&](const std::string& name, Millis sync, Millis minSync) {
    if (sync.count() <= 0) errors.push_back(name + ".syncPeriod: must be greater than 0");
    if (minSync.count() < 0) errors.push_back(name + ".minSyncPeriod: must be 0 or more");
    if (minSync > sync) errors.push_back(name + ".minSyncPeriod: must not exceed " + name + ".syncPeriod");
  };
  periods("iptables", c.iptables.syncPeriod, c.iptables.minSyncPeriod);
  if (c.mode == "ipvs") periods("ipvs", c.ipvs.syncPeriod, c.ipvs.minSyncPeriod);
  if (c.mode == "nftables") periods("nftables", c.nftables.syncPeriod, c.nftables.minSyncPeriod);
  for (auto [name, d] : {std::pair{"ipvs.tcpTimeout", c.ipvs.tcpTimeout}, std::pair{"ipvs.tcpFinTimeout", c.ipvs.tcpFinTimeout},
                         std::pair{"ipvs.udpTimeout", c.ipvs.udpTimeout},
                         std::pair{"conntrack.tcpEstablishedTimeout", c.conntrack.tcpEstablishedTimeout},
                         std::pair{"conntrack.tcpCloseWaitTimeout", c.conntrack.tcpCloseWaitTimeout}})
    if (d.count() < 0) errors.push_back(std::string(name) + ": must be 0 or more");
  if (c.configSyncPeriod.count() <= 0) errors.push_back("configSyncPeriod: must be greater than 0");
  if (c.clientConnection.burst < 0) errors.push_back("clientConnection.burst: must be 0 or more");
  if (c.clientConnection.qps < 0) errors.push_back("clientConnection.qps: must be 0 or more");
  if (!net::parseIP(c.bindAddress)) errors.push_back("bindAddress: \"" + c.bindAddress + "\" is not an IP address");
  const auto clusterCIDRs = splitComma(c.clusterCIDR);
  for (const auto& cidr : clusterCIDRs)
    if (!net::parseCidr(cidr)) errors.push_back("clusterCIDR: \"" + cidr + "\" is not a valid CIDR");
  if (clusterCIDRs.size() > 2) errors.push_back("clusterCIDR: at most one CIDR per IP family");
  for (size_t i = 0; i < c.nodePortAddresses.size(); ++i)
    if (!dataplane::isNodePortKeyword(c.nodePortAddresses[i]) && !net::parseCidr(c.nodePortAddresses[i]))
      errors.push_back("nodePortAddresses[" + std::to_string(i) + "]: \"" + c.nodePortAddresses[i] +
                       "\" is not a valid CIDR or one of the keywords primary, localhost, all");
  for (size_t i = 0; i < c.ipvs.excludeCIDRs.size(); ++i)
    if (!net::parseCidr(c.ipvs.excludeCIDRs[i]))
      errors.push_back("ipvs.excludeCIDRs[" + std::to_string(i) + "]: \"" + c.ipvs.excludeCIDRs[i] + "\" is not a valid CIDR");
  if (c.logging.format != "text" && c.logging.format != "json")
    errors.push_back("logging.format: \"" + c.logging.format + "\" is not text or json");
  if (c.logging.verbosity < 0) errors.push_back("logging.verbosity: " + std::to_string(c.logging.verbosity) + " is negative");
  static const std::set<std::string> kDetect = {"", "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"};
  if (!kDetect.count(c.detectLocalMode))
    errors.push_back("detectLocalMode: \"" + c.detectLocalMode + "\" is not ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix");
  // An interface name: 1-15 bytes, no '/', no whitespace, not "." or ".." (the kernel's dev_valid_name).
  auto ifname = [&](const std::string& field, const std::string& v, bool prefix) {
    bool ok = !v.empty() && v.size() < 16 && v != "." && v != "..";
    for (unsigned char ch : v) ok = ok && ch > ' ' && ch != '/' && ch != ':' && ch < 0x7f && !(prefix && ch == '+');
    if (!ok) errors.push_back(field + ": \"" + v + "\" is not an interface name" + (prefix ? " prefix" : ""));
  };
  if (c.detectLocalMode == "BridgeInterface") ifname("detectLocal.bridgeInterface", c.detectLocal.bridgeInterface, false);
  if (c.detectLocalMode == "InterfaceNamePrefix") ifname("detectLocal.interfaceNamePrefix", c.detectLocal.interfaceNamePrefix, true);
  if (c.oomScoreAdj < -1000 || c.oomScoreAdj > 1000)
    errors.push_back("oomScoreAdj: " + std::to_string(c.oomScoreAdj) + " is not in -1000..1000");
  if (c.conntrack.maxPerCore < 0) errors.push_back("conntrack.maxPerCore: must be 0 or more");
  if (c.conntrack.min < 0) errors.push_back("conntrack.min: must be 0 or more");
  if (!c.portRange.empty()) {
    unsigned lo = 0, hi = 0;
    char dash = 0;
    std::istringstream in(c.portRange);
    if (!(in >> lo >> dash >> hi) || dash != '-' || hi > 65535 || lo > hi)
      errors.push_back("portRange: \"" + c.portRange + "\" is not a port range (like 300-2000)");
  }
  auto address = [&](const std::string& field, const std::string& v) {
    if (v.empty()) return;
    auto colon = v.rfind(':');
    std::string host = colon == std::string::npos ? v : v.substr(0, colon);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int port = 0;
    if (colon != std::string::npos) {
      const std::string digits = v.substr(colon + 1);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
      if (ec != std::errc() || p != digits.data() + digits.size()) port = 0;
    }
    if (colon == std::string::npos || !net::parseIP(host) || port < 1 || port > 65535)
      errors.push_back(field + ": \"" + v + "\" is not IP:PORT");
  };
  address("healthzBindAddress", c.healthzBindAddress);
  address("metricsBindAddress", c.metricsBindAddress);
  return errors;
}

std::string formatDuration(Millis d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  std::string secs = std::to_string(s);
  if (frac) {
    std::string f = std::to_string(frac + 1000).substr(1);
    while (!f.empty() && f.back() == '0') f.pop_back();
    secs += "." + f;
  }
  if (h) return sign + std::to_string(h) + "h" + std::to_string(m) + "m" + secs + "s";
  if (m) return sign + std::to_string(m) + "m" + secs + "s";
  return sign + secs + "s";
}

namespace {
std::string quoted(const std::string& s) {
  if (s.empty()) return "\"\"";
  // Plain scalars where YAML reads them back as the same string; quoted otherwise.
  bool plain = s.find_first_of(":#{}[],&*!|>'\"%@`\\ \t\n") == std::string::npos && s != "true" && s != "false" &&
               s != "null" && s.find_first_not_of("0123456789.-+") != std::string::npos;
  if (plain) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}
std::string list(const std::vector<std::string>& v) {
  if (v.empty()) return "null";
  std::string out;
  for (const auto& e : v) out += "\n  - " + quoted(e);
  return out;
}
std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
}  // namespace

std::string configYaml(const ProxyConfig& c) {
  const char* b = "false";
  auto tf = [](bool v) { return v ? "true" : "false"; };
  std::ostringstream y;
  y << "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
    << "bindAddress: " << quoted(c.bindAddress) << "\n"
    << "bindAddressHardFail: " << tf(c.bindAddressHardFail) << "\n"
    << "clientConnection:\n"
    << "  acceptContentTypes: " << quoted(c.clientConnection.acceptContentTypes) << "\n"
    << "  burst: " << c.clientConnection.burst << "\n"
    << "  contentType: " << quoted(c.clientConnection.contentType) << "\n"
    << "  kubeconfig: " << quoted(c.kubeconfig) << "\n"
    << "  qps: " << num(c.clientConnection.qps) << "\n"
    << "clusterCIDR: " << quoted(c.clusterCIDR) << "\n"
    << "configSyncPeriod: " << formatDuration(c.configSyncPeriod) << "\n"
    << "conntrack:\n"
    << "  maxPerCore: " << c.conntrack.maxPerCore << "\n"
    << "  min: " << c.conntrack.min << "\n"
    << "  tcpBeLiberal: " << tf(c.conntrack.tcpBeLiberal) << "\n"
    << "  tcpCloseWaitTimeout: " << formatDuration(c.conntrack.tcpCloseWaitTimeout) << "\n"
    << "  tcpEstablishedTimeout: " << formatDuration(c.conntrack.tcpEstablishedTimeout) << "\n"
    << "  udpStreamTimeout: " << formatDuration(c.conntrack.udpStreamTimeout) << "\n"
    << "  udpTimeout: " << formatDuration(c.conntrack.udpTimeout) << "\n"
    << "detectLocal:\n"
    << "  bridgeInterface: " << quoted(c.detectLocal.bridgeInterface) << "\n"
    << "  interfaceNamePrefix: " << quoted(c.detectLocal.interfaceNamePrefix) << "\n"
    << "detectLocalMode: " << quoted(c.detectLocalMode) << "\n"
    << "enableProfiling: " << tf(c.enableProfiling) << "\n";
  if (!c.featureGates.empty()) {
    y << "featureGates:\n";
    for (const auto& [k, v] : c.featureGates) y << "  " << quoted(k) << ": " << tf(v) << "\n";
  }
  y << "healthzBindAddress: " << quoted(c.healthzBindAddress) << "\n"
    << "hostnameOverride: " << quoted(c.hostnameOverride) << "\n"
    << "iptables:\n"
    << "  localhostNodePorts: " << tf(c.iptables.localhostNodePorts) << "\n"
    << "  masqueradeAll: " << tf(c.iptables.masqueradeAll) << "\n"
    << "  masqueradeBit: " << c.iptables.masqueradeBit << "\n"
    << "  minSyncPeriod: " << formatDuration(c.iptables.minSyncPeriod) << "\n"
    << "  syncPeriod: " << formatDuration(c.iptables.syncPeriod) << "\n"
    << "ipvs:\n"
    << "  excludeCIDRs: " << list(c.ipvs.excludeCIDRs) << "\n"
    << "  minSyncPeriod: " << formatDuration(c.ipvs.minSyncPeriod) << "\n"
    << "  scheduler: " << quoted(c.ipvs.scheduler) << "\n"
    << "  strictARP: " << tf(c.ipvs.strictARP) << "\n"
    << "  syncPeriod: " << formatDuration(c.ipvs.syncPeriod) << "\n"
    << "  tcpFinTimeout: " << formatDuration(c.ipvs.tcpFinTimeout) << "\n"
    << "  tcpTimeout: " << formatDuration(c.ipvs.tcpTimeout) << "\n"
    << "  udpTimeout: " << formatDuration(c.ipvs.udpTimeout) << "\n"
    << "kind: KubeProxyConfiguration\n"
    << "logging:\n"
    << "  flushFrequency: " << formatDuration(c.logging.flushFrequency) << "\n"
    << "  format: " << quoted(c.logging.format) << "\n"
    << "  options:\n"
    << "    json:\n"
    << "      infoBufferSize: \"0\"\n"
    << "    text:\n"
    << "      infoBufferSize: \"0\"\n"
    << "  verbosity: " << c.logging.verbosity << "\n";
  if (!c.logging.vmodule.empty()) {
    y << "  vmodule:\n";
    for (const auto& item : c.logging.vmodule) {
      auto eq = item.find('=');
      y << "  - filePattern: " << quoted(item.substr(0, eq)) << "\n    verbosity: "
        << (eq == std::string::npos ? "0" : item.substr(eq + 1)) << "\n";
    }
  }
  y << "metricsBindAddress: " << quoted(c.metricsBindAddress) << "\n"
    << "mode: " << quoted(c.mode) << "\n"
    << "nftables:\n"
    << "  masqueradeAll: " << tf(c.nftables.masqueradeAll) << "\n"
    << "  masqueradeBit: " << c.nftables.masqueradeBit << "\n"
    << "  minSyncPeriod: " << formatDuration(c.nftables.minSyncPeriod) << "\n"
    << "  syncPeriod: " << formatDuration(c.nftables.syncPeriod) << "\n"
    << "nodePortAddresses: " << list(c.nodePortAddresses) << "\n"
    << "oomScoreAdj: " << c.oomScoreAdj << "\n"
    << "portRange: " << quoted(c.portRange) << "\n"
    << "showHiddenMetricsForVersion: " << quoted(c.showHiddenMetricsForVersion) << "\n"
    << "winkernel:\n"
    << "  enableDSR: " << b << "\n"
    << "  forwardHealthCheckVip: " << b << "\n"
    << "  networkName: \"\"\n"
    << "  rootHnsEndpointName: \"\"\n"
    << "  sourceVip: \"\"\n";
  return y.str();
}

std::string defaultConfigYaml() { return configYaml(ProxyConfig{}); }

}  // namespace kproxy::daemon
