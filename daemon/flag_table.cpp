#include "daemon/flag_table.h"

#include <charconv>
#include <sstream>

#include "daemon/flags.h"
#include "dataplane/ip.h"

namespace kproxy::daemon {

namespace {

using FT = FlagType;
using H = Handling;
using Ctx = FlagContext;

// Go's strconv.ParseBool, which pflag uses.
std::optional<bool> parseGoBool(const std::string& v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") return false;
  return std::nullopt;
}

// Kubernetes quantities as the logging buffer sizes take them: 512, 1K, 2Ki, 3M, 4Gi.
bool isQuantity(const std::string& v) {
  size_t i = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
  if (i == 0) return false;
  static const char* kSuffixes[] = {"", "k", "K", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  for (const char* s : kSuffixes)
    if (v.substr(i) == s) return true;
  return false;
}

// Applies one value to fields named in the table: the lambdas stay one line each.
void setBoth(Ctx& c, const std::string& v, bool& a, bool& b) {
  if (c.boolean(v, a)) b = a;
}

void noEffect(Ctx&, const std::string&) {}
// A bool flag kproxy has no use for: its value is still checked, as upstream's parser would.
void checkedBool(Ctx& c, const std::string& v) {
  bool b = false;
  c.boolean(v, b);
}
void checkedQuantity(Ctx& c, const std::string& v) {
  if (!isQuantity(v)) c.fail(v, "is not a quantity (like 512, 2Ki, 3M)");
}

const std::vector<FlagSpec>& buildTable() {
  static const std::vector<FlagSpec> table = {
      // Files and one-shot actions.
      {"config", FT::kString, "", "", true, H::kSupported, "The path to the configuration file (KubeProxyConfiguration, YAML or JSON). The process exits when its content changes, so a ConfigMap edit restarts the pod.",
       [](Ctx& c, const std::string& v) { c.flags.configFile = v; }},
      {"write-config-to", FT::kString, "", "", true, H::kSupported, "Write the configuration (defaults, with this command line's flags) to this file and exit.",
       [](Ctx& c, const std::string& v) { c.flags.writeConfigTo = v; }},
      {"cleanup", FT::kBool, "false", "", true, H::kSupported, "Remove every rule, set, virtual server and table any kube-proxy mode created, then exit.",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.cleanup); }},
      {"init-only", FT::kBool, "false", "", true, H::kSupported, "Do the start-up that needs full root (sysctls, conntrack limits, cleanup of other modes) and exit; the proxy can then run with CAP_NET_ADMIN only.",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.initOnly); }},
      {"feature-gates", FT::kGates, "", "featureGates", false, H::kSupported, "key=value pairs of feature gates. AllowServiceExternalIPs=false stops serving spec.externalIPs; KubeProxyIPVS=false refuses ipvs mode; KubeProxyNFTablesLocalhostNodePorts is known and warned about (kproxy serves no loopback NodePorts in nftables mode); MultiCIDRServiceAllocator=false stops watching ServiceCIDRs; gates kproxy does not know are warned about, not fatal.",
       [](Ctx& c, const std::string& v) {
         std::stringstream ss(v);
         std::string item;
         while (std::getline(ss, item, ',')) {
           auto trim = [](std::string s) {
             s.erase(0, s.find_first_not_of(" \t"));
             s.erase(s.find_last_not_of(" \t") + 1);
             return s;
           };
           item = trim(item);
           if (item.empty()) continue;
           auto eq = item.find('=');
           if (eq == std::string::npos) {
             c.fail(item, "is not key=value");
             continue;
           }
           auto b = parseGoBool(trim(item.substr(eq + 1)));
           if (!b) c.fail(item, "has no true or false value");
           else c.flags.config.featureGates[trim(item.substr(0, eq))] = *b;
         }
       }},
      // The API server.
      {"kubeconfig", FT::kString, "", "clientConnection.kubeconfig", false, H::kSupported, "Path to a kubeconfig file with the server and credentials (with neither it nor --master: the in-cluster service account).",
       [](Ctx& c, const std::string& v) { c.flags.config.kubeconfig = v; }},
      {"master", FT::kString, "", "", true, H::kSupported, "The address of the Kubernetes API server (overrides any value in kubeconfig).",
       [](Ctx& c, const std::string& v) { c.flags.master = v; }},
      {"kube-api-content-type", FT::kString, "application/vnd.kubernetes.protobuf", "clientConnection.contentType", false, H::kSupported, "Content type of requests to the API server: application/vnd.kubernetes.protobuf (lists and watches in protobuf, JSON from a server without it) or application/json.",
       [](Ctx& c, const std::string& v) { c.flags.config.clientConnection.contentType = v; }},
      {"kube-api-burst", FT::kInt, "10", "clientConnection.burst", false, H::kSupported, "Burst of requests to the API server (kproxy's list and watch requests stay far below it).",
       [](Ctx& c, const std::string& v) { c.integer(v, c.flags.config.clientConnection.burst, -2147483648L, 2147483647L); }},
      {"kube-api-qps", FT::kFloat, "5", "clientConnection.qps", false, H::kSupported, "Requests per second to the API server (kproxy's list and watch requests stay far below it).",
       [](Ctx& c, const std::string& v) {
         double d = 0;
         auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
         if (ec != std::errc() || p != v.data() + v.size()) c.fail(v, "is not a number");
         else c.flags.config.clientConnection.qps = d;
       }},
      // This node and the servers.
      {"hostname-override", FT::kString, "", "hostnameOverride", true, H::kSupported, "The name of this Node (default: the host name); lower-cased, as upstream.",
       [](Ctx& c, const std::string& v) { c.flags.hostnameOverrideFlag = v; }},
      {"bind-address", FT::kIP, "0.0.0.0", "bindAddress", false, H::kSupported, "Overrides kproxy's idea of the node's primary IP (the name is historical: nothing binds to it).",
       [](Ctx& c, const std::string& v) {
         if (!net::parseIP(v)) c.fail(v, "is not an IP address");
         else c.flags.config.bindAddress = v;
       }},
      {"healthz-bind-address", FT::kIPPort, "0.0.0.0:10256", "healthzBindAddress", false, H::kSupported, "IP:port of /healthz and /livez (an IP alone takes port 10256; empty: off).",
       [](Ctx& c, const std::string& v) { c.flags.config.healthzBindAddress = v; }},
      {"metrics-bind-address", FT::kIPPort, "127.0.0.1:10249", "metricsBindAddress", false, H::kSupported, "IP:port of /metrics (an IP alone takes port 10249; empty: off).",
       [](Ctx& c, const std::string& v) { c.flags.config.metricsBindAddress = v; }},
      {"bind-address-hard-fail", FT::kBool, "false", "bindAddressHardFail", false, H::kSupported, "Exit when a server's port cannot be bound (default: log and go on).",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.config.bindAddressHardFail); }},
      {"profiling", FT::kBool, "false", "enableProfiling", false, H::kSupported, "Serve /debug/kproxy/ on the metrics port: what kproxy last programmed, per family and per Service, as JSON (upstream serves Go's pprof there).",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.config.enableProfiling); }},
      {"show-hidden-metrics-for-version", FT::kString, "", "showHiddenMetricsForVersion", false, H::kNoEffect, "The previous version whose hidden metrics to show; kproxy hides none.",
       [](Ctx& c, const std::string& v) { c.flags.config.showHiddenMetricsForVersion = v; }},
      {"proxy-mode", FT::kString, "iptables", "mode", false, H::kSupported, "iptables (default), ipvs, nftables, or ebpf (kproxy's: socket-level load balancing, see README).",
       [](Ctx& c, const std::string& v) { c.flags.config.mode = v; }},
      // iptables and nftables.
      {"iptables-masquerade-bit", FT::kInt, "14", "iptables.masqueradeBit", false, H::kSupported, "The fwmark bit for packets to masquerade, 0-31 (iptables and ipvs modes; nftables mode takes nftables.masqueradeBit from the file).",
       [](Ctx& c, const std::string& v) { c.integer(v, c.flags.config.iptables.masqueradeBit, -2147483648L, 2147483647L); }},
      {"masquerade-all", FT::kBool, "false", "iptables.masqueradeAll", false, H::kSupported, "Masquerade all traffic sent to Service cluster IPs (every mode).",
       [](Ctx& c, const std::string& v) { setBoth(c, v, c.flags.config.iptables.masqueradeAll, c.flags.config.nftables.masqueradeAll); }},
      {"iptables-localhost-nodeports", FT::kBool, "true", "iptables.localhostNodePorts", false, H::kSupported, "NodePorts on 127.0.0.1 (iptables mode, IPv4 only).",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.config.iptables.localhostNodePorts); }},
      {"iptables-sync-period", FT::kDuration, "30s", "iptables.syncPeriod", false, H::kSupported, "How often a resync runs in iptables and nftables modes.",
       [](Ctx& c, const std::string& v) {
         if (c.duration(v, c.flags.config.iptables.syncPeriod)) c.flags.config.nftables.syncPeriod = c.flags.config.iptables.syncPeriod;
       }},
      {"iptables-min-sync-period", FT::kDuration, "1s", "iptables.minSyncPeriod", false, H::kSupported, "The least time between syncs in iptables and nftables modes (0: every change at once).",
       [](Ctx& c, const std::string& v) {
         if (c.duration(v, c.flags.config.iptables.minSyncPeriod)) c.flags.config.nftables.minSyncPeriod = c.flags.config.iptables.minSyncPeriod;
       }},
      // IPVS.
      {"ipvs-sync-period", FT::kDuration, "30s", "ipvs.syncPeriod", false, H::kSupported, "How often a resync runs in ipvs mode.",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.ipvs.syncPeriod); }},
      {"ipvs-min-sync-period", FT::kDuration, "0s", "ipvs.minSyncPeriod", false, H::kSupported, "The least time between syncs in ipvs mode.",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.ipvs.minSyncPeriod); }},
      {"ipvs-scheduler", FT::kString, "", "ipvs.scheduler", false, H::kSupported, "The IPVS scheduler (default rr).",
       [](Ctx& c, const std::string& v) { c.flags.config.ipvs.scheduler = v; }},
      {"ipvs-exclude-cidrs", FT::kStrings, "[]", "ipvs.excludeCIDRs", false, H::kSupported, "CIDRs whose IPVS virtual servers are never removed.",
       [](Ctx& c, const std::string& v) { c.flags.config.ipvs.excludeCIDRs = splitComma(v); }},
      {"ipvs-strict-arp", FT::kBool, "false", "ipvs.strictARP", false, H::kSupported, "arp_ignore=1 and arp_announce=2, so kube-ipvs0's addresses are not announced.",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.config.ipvs.strictARP); }},
      {"ipvs-tcp-timeout", FT::kDuration, "0s", "ipvs.tcpTimeout", false, H::kSupported, "Idle IPVS TCP connection timeout (0: the kernel's).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.ipvs.tcpTimeout); }},
      {"ipvs-tcpfin-timeout", FT::kDuration, "0s", "ipvs.tcpFinTimeout", false, H::kSupported, "IPVS TCP timeout after a FIN (0: the kernel's).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.ipvs.tcpFinTimeout); }},
      {"ipvs-udp-timeout", FT::kDuration, "0s", "ipvs.udpTimeout", false, H::kSupported, "IPVS UDP timeout (0: the kernel's).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.ipvs.udpTimeout); }},
      // Local traffic and NodePorts.
      {"detect-local-mode", FT::kString, "", "detectLocalMode", false, H::kSupported, "How pod traffic is told from the rest: ClusterCIDR (default), NodeCIDR, BridgeInterface or InterfaceNamePrefix.",
       [](Ctx& c, const std::string& v) { c.flags.config.detectLocalMode = v; }},
      {"pod-bridge-interface", FT::kString, "", "detectLocal.bridgeInterface", false, H::kSupported, "The bridge whose traffic is local (detect-local-mode BridgeInterface).",
       [](Ctx& c, const std::string& v) { c.flags.config.detectLocal.bridgeInterface = v; }},
      {"pod-interface-name-prefix", FT::kString, "", "detectLocal.interfaceNamePrefix", false, H::kSupported, "The interface name prefix whose traffic is local (detect-local-mode InterfaceNamePrefix).",
       [](Ctx& c, const std::string& v) { c.flags.config.detectLocal.interfaceNamePrefix = v; }},
      {"cluster-cidr", FT::kString, "", "clusterCIDR", false, H::kSupported, "The pods' CIDR (one per family, comma-separated), for detect-local-mode ClusterCIDR.",
       [](Ctx& c, const std::string& v) { c.flags.config.clusterCIDR = v; }},
      {"nodeport-addresses", FT::kStrings, "[]", "nodePortAddresses", false, H::kSupported, "CIDRs and keywords (primary: the Node's primary IPs, nftables mode's default; localhost: 127.0.0.0/8 and ::1/128; all: 0.0.0.0/0 and ::/0) of the node addresses NodePorts and health-check ports answer on. Unset: every local address.",
       [](Ctx& c, const std::string& v) { c.flags.config.nodePortAddresses = splitComma(v); }},
      // Process and conntrack.
      {"oom-score-adj", FT::kInt, "-999", "oomScoreAdj", false, H::kSupported, "The process's oom_score_adj, -1000..1000.",
       [](Ctx& c, const std::string& v) { c.integer(v, c.flags.config.oomScoreAdj, -2147483648L, 2147483647L); }},
      {"conntrack-max-per-core", FT::kInt, "32768", "conntrack.maxPerCore", false, H::kSupported, "nf_conntrack_max per CPU (0: leave it and ignore conntrack-min).",
       [](Ctx& c, const std::string& v) { c.integer(v, c.flags.config.conntrack.maxPerCore, -2147483648L, 2147483647L); }},
      {"conntrack-min", FT::kInt, "131072", "conntrack.min", false, H::kSupported, "The least nf_conntrack_max, whatever the CPU count.",
       [](Ctx& c, const std::string& v) { c.integer(v, c.flags.config.conntrack.min, -2147483648L, 2147483647L); }},
      {"conntrack-tcp-timeout-established", FT::kDuration, "24h0m0s", "conntrack.tcpEstablishedTimeout", false, H::kSupported, "Idle timeout of established TCP flows (0: leave it).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.conntrack.tcpEstablishedTimeout); }},
      {"conntrack-tcp-timeout-close-wait", FT::kDuration, "1h0m0s", "conntrack.tcpCloseWaitTimeout", false, H::kSupported, "Timeout of TCP flows in CLOSE_WAIT.",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.conntrack.tcpCloseWaitTimeout); }},
      {"conntrack-tcp-be-liberal", FT::kBool, "false", "conntrack.tcpBeLiberal", false, H::kSupported, "nf_conntrack_tcp_be_liberal=1 (and no INVALID drop rule).",
       [](Ctx& c, const std::string& v) { c.boolean(v, c.flags.config.conntrack.tcpBeLiberal); }},
      {"conntrack-udp-timeout", FT::kDuration, "0s", "conntrack.udpTimeout", false, H::kSupported, "Idle timeout of unreplied UDP flows (0: leave it).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.conntrack.udpTimeout); }},
      {"conntrack-udp-timeout-stream", FT::kDuration, "0s", "conntrack.udpStreamTimeout", false, H::kSupported, "Idle timeout of assured UDP flows (0: leave it).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.conntrack.udpStreamTimeout); }},
      {"config-sync-period", FT::kDuration, "15m0s", "configSyncPeriod", false, H::kSupported, "How often the informers' cache is resent (kproxy: the API source's relist period bound).",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.configSyncPeriod); }},
      {"healthz-port", FT::kInt, "10256", "", false, H::kSupported, "Deprecated: the /healthz port, where --healthz-bind-address has none (0: off).",
       [](Ctx& c, const std::string& v) {
         int port = 0;
         if (c.integer(v, port, -2147483648L, 2147483647L)) c.flags.healthzPort = port;
       }},
      {"metrics-port", FT::kInt, "10249", "", false, H::kSupported, "Deprecated: the /metrics port, where --metrics-bind-address has none (0: off).",
       [](Ctx& c, const std::string& v) {
         int port = 0;
         if (c.integer(v, port, -2147483648L, 2147483647L)) c.flags.metricsPort = port;
       }},
      // Logging (component-base).
      {"logging-format", FT::kString, "text", "logging.format", true, H::kSupported, "text (klog lines) or json.",
       [](Ctx& c, const std::string& v) { c.flags.config.logging.format = v; }},
      {"log-flush-frequency", FT::kDuration, "5s", "logging.flushFrequency", true, H::kNoEffect, "How often logs are flushed; kproxy writes each line at once.",
       [](Ctx& c, const std::string& v) { c.duration(v, c.flags.config.logging.flushFrequency); }},
      {"v", FT::kLevel, "0", "logging.verbosity", true, H::kSupported, "Log verbosity (2: each sync, 4: each change's programming latency).",
       [](Ctx& c, const std::string& v) { c.integer(v, c.flags.config.logging.verbosity, 0, 2147483647L); }},
      {"vmodule", FT::kVModule, "", "logging.vmodule", true, H::kNoEffect, "pattern=N per-file verbosity; checked, and kproxy's verbosity stays global.",
       [](Ctx& c, const std::string& v) {
         c.flags.config.logging.vmodule.clear();
         for (const auto& item : splitComma(v)) {
           auto eq = item.find('=');
           int level = 0;
           if (eq == std::string::npos || eq == 0 || !c.integer(item.substr(eq + 1), level, 0, 2147483647L)) {
             if (eq == std::string::npos || eq == 0) c.fail(item, "is not pattern=N");
             continue;
           }
           c.flags.config.logging.vmodule.push_back(item);
         }
       }},
      {"log-json-split-stream", FT::kBool, "false", "logging.options.json.splitStream", true, H::kNoEffect, "[Alpha] JSON errors to stderr, info to stdout.",
       checkedBool},
      {"log-json-info-buffer-size", FT::kQuantity, "0", "logging.options.json.infoBufferSize", true, H::kNoEffect, "[Alpha] Buffer for JSON info messages with split streams.",
       checkedQuantity},
      {"log-text-split-stream", FT::kBool, "false", "logging.options.text.splitStream", true, H::kNoEffect, "[Alpha] Text errors to stderr, info to stdout.",
       checkedBool},
      {"log-text-info-buffer-size", FT::kQuantity, "0", "logging.options.text.infoBufferSize", true, H::kNoEffect, "[Alpha] Buffer for text info messages with split streams.",
       checkedQuantity},
      {"version", FT::kString, "false", "", true, H::kSupported, "Print kproxy's version and the kube-proxy version it follows, and exit (--version=raw: as JSON).",
       [](Ctx& c, const std::string& v) {
         if (v == "raw") c.flags.version = "raw";
         else if (auto b = parseGoBool(v)) c.flags.version = *b ? "true" : "";
         else c.fail(v, "is not true, false or raw");
       }},
      {"boot-id-file", FT::kString, "/proc/sys/kernel/random/boot_id", "", true, H::kNoEffect, "cadvisor's boot id files; kproxy reads none.", noEffect},
      {"machine-id-file", FT::kString, "/etc/machine-id,/var/lib/dbus/machine-id", "", true, H::kNoEffect, "cadvisor's machine id files; kproxy reads none.", noEffect},
      // Windows' flags (kube-proxy's Windows build): nothing to do on Linux.
      {"windows-service", FT::kBool, "false", "windowsRunAsService", true, H::kNoEffect, "Windows only.",
       checkedBool},
      {"source-vip", FT::kString, "", "winkernel.sourceVip", true, H::kNoEffect, "Windows only.", noEffect},
      {"network-name", FT::kString, "", "winkernel.networkName", true, H::kNoEffect, "Windows only.", noEffect},
      {"enable-dsr", FT::kBool, "false", "winkernel.enableDSR", true, H::kNoEffect, "Windows only.",
       checkedBool},
      {"root-hns-endpoint-name", FT::kString, "", "winkernel.rootHnsEndpointName", true, H::kNoEffect, "Windows only.", noEffect},
      {"forward-healthcheck-vip", FT::kBool, "false", "winkernel.forwardHealthCheckVip", true, H::kNoEffect, "Windows only.",
       checkedBool},
      // kproxy's own.
      {"manifests", FT::kString, "", "", true, H::kKproxy, "Instead of an API server: Services, EndpointSlices, Nodes and ServiceCIDRs from manifests in this directory, following changes.",
       [](Ctx& c, const std::string& v) { c.flags.manifests = v; }},
      {"ebpf-cgroup-path", FT::kString, "", "", true, H::kKproxy, "ebpf mode: the cgroup v2 directory whose processes (the node's, pods included) get socket-level load balancing; default the cgroup2 mount.",
       [](Ctx& c, const std::string& v) { c.flags.ebpfCgroupPath = v; }},
      {"ebpf-bpffs-path", FT::kString, "/sys/fs/bpf", "", true, H::kKproxy, "ebpf mode: the bpf filesystem where kproxy/ keeps its maps and program links pinned (a restart takes them over); --cleanup and the other modes remove it.",
       [](Ctx& c, const std::string& v) { c.flags.ebpfBpffs = v; }},
      {"watch-timeout", FT::kDuration, "5m0s", "", true, H::kKproxy, "How long each watch runs before it is renewed (a silent stream is dropped after that plus up to 30s).",
       [](Ctx& c, const std::string& v) {
         std::chrono::milliseconds d{};
         if (!c.duration(v, d)) return;
         if (d < std::chrono::seconds(1)) c.fail(v, "is not a duration of 1s or more");
         else c.flags.watchTimeout = d;
       }},
      {"iptables-backend", FT::kString, "", "", true, H::kKproxy, "nft or legacy xtables (default: detected as kube-proxy does).",
       [](Ctx& c, const std::string& v) {
         if (v == "nft") c.flags.backend = iptables::XtablesBackend::kNft;
         else if (v == "legacy") c.flags.backend = iptables::XtablesBackend::kLegacy;
         else c.fail(v, "is not nft or legacy");
       }},
      {"no-cleanup-other-modes", FT::kBool, "", "", true, H::kKproxy, "Keep other modes' leftovers at start.",
       [](Ctx& c, const std::string& v) {
         bool b = false;
         if (c.boolean(v, b)) c.flags.cleanupOtherModes = !b;
       }},
  };
  return table;
}

}  // namespace

bool FlagContext::boolean(const std::string& value, bool& into) {
  auto b = parseGoBool(value);
  if (!b) {
    fail(value, "is not true or false");
    return false;
  }
  into = *b;
  return true;
}

bool FlagContext::integer(const std::string& value, int& into, long lo, long hi) {
  // Go's ParseInt with base 0, as pflag's Int32: 0x1f, 0o17 and 017 count too.
  long long v = 0;
  std::string digits = value;
  bool neg = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    neg = digits[0] == '-';
    digits.erase(0, 1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) base = 16, digits.erase(0, 2);
  else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) base = 8, digits.erase(0, 2);
  else if (digits.size() > 1 && digits[0] == '0') base = 8, digits.erase(0, 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
    fail(value, "is not an integer");
    return false;
  }
  if (neg) v = -v;
  if (v < lo || v > hi) {
    fail(value, "is out of range");
    return false;
  }
  into = static_cast<int>(v);
  return true;
}

bool FlagContext::duration(const std::string& value, std::chrono::milliseconds& into) {
  auto d = parseDuration(value);
  if (!d) {
    fail(value, "is not a duration (like 30s, 1m0s, 500ms)");
    return false;
  }
  into = *d;
  return true;
}

void FlagContext::fail(const std::string& value, const std::string& what) {
  problems.push_back("--" + name + ": \"" + value + "\" " + what);
}

const std::vector<FlagSpec>& flagTable() { return buildTable(); }

const FlagSpec* findFlag(const std::string& name) {
  std::string n = name;
  for (auto& ch : n)
    if (ch == '_') ch = '-';
  for (const auto& f : flagTable())
    if (n == f.name) return &f;
  return nullptr;
}

const std::vector<std::string>& upstreamFlagNames() {
  static const std::vector<std::string> names = {
      "config", "write-config-to", "cleanup", "feature-gates", "kubeconfig", "master", "kube-api-content-type",
      "kube-api-burst", "kube-api-qps", "hostname-override", "bind-address", "healthz-bind-address",
      "metrics-bind-address", "bind-address-hard-fail", "profiling", "show-hidden-metrics-for-version", "init-only",
      "proxy-mode", "iptables-masquerade-bit", "masquerade-all", "iptables-localhost-nodeports",
      "iptables-sync-period", "iptables-min-sync-period", "ipvs-sync-period", "ipvs-min-sync-period",
      "ipvs-scheduler", "ipvs-exclude-cidrs", "ipvs-strict-arp", "ipvs-tcp-timeout", "ipvs-tcpfin-timeout",
      "ipvs-udp-timeout", "detect-local-mode", "pod-bridge-interface", "pod-interface-name-prefix", "cluster-cidr",
      "nodeport-addresses", "oom-score-adj", "conntrack-max-per-core", "conntrack-min",
      "conntrack-tcp-timeout-established", "conntrack-tcp-timeout-close-wait", "conntrack-tcp-be-liberal",
      "conntrack-udp-timeout", "conntrack-udp-timeout-stream", "config-sync-period", "healthz-port", "metrics-port",
      "logging-format", "log-flush-frequency", "v", "vmodule", "log-json-split-stream", "log-json-info-buffer-size",
      "log-text-split-stream", "log-text-info-buffer-size", "version", "boot-id-file", "machine-id-file"};
  return names;
}

namespace {
const char* typeName(FlagType t) {
  switch (t) {
    case FT::kBool: return "bool";
    case FT::kString: return "string";
    case FT::kInt: return "int32";
    case FT::kFloat: return "float32";
    case FT::kDuration: return "duration";
    case FT::kStrings: return "strings";
    case FT::kGates: return "mapStringBool";
    case FT::kIP: return "ip";
    case FT::kIPPort: return "ipport";
    case FT::kLevel: return "Level";
    case FT::kQuantity: return "quantity";
    case FT::kVModule: return "pattern=N,...";
  }
  return "";
}
}  // namespace

std::string flagUsage() {
  std::ostringstream o;
  for (const auto& f : flagTable()) {
    std::string head = std::string(f.name == std::string("v") ? "  -v, --v" : "      --") + (f.name == std::string("v") ? "" : f.name);
    if (f.type != FT::kBool) head += std::string(" ") + typeName(f.type);
    o << head << "\n        " << f.help;
    if (*f.upstreamDefault && f.type != FT::kBool) o << " (default " << f.upstreamDefault << ")";
    if (!f.withConfig) o << " Ignored with --config, as upstream.";
    if (f.handling == H::kNoEffect) o << " No effect on kproxy (warned).";
    o << "\n";
  }
  return o.str();
}

std::string flagTableMarkdown() {
  std::ostringstream o;
  o << "| flag | type | upstream default | config field | with `--config` | kproxy |\n"
    << "| --- | --- | --- | --- | --- | --- |\n";
  for (const auto& f : flagTable()) {
    std::string handling = f.handling == H::kSupported ? "as upstream" : f.handling == H::kNoEffect ? "accepted, warned: no effect" : "kproxy's own";
    std::string help = f.help;
    for (size_t i = 0; (i = help.find('|', i)) != std::string::npos; i += 2) help.replace(i, 1, "\\|");
    o << "| `--" << f.name << "` | " << typeName(f.type) << " | " << (*f.upstreamDefault ? std::string("`") + f.upstreamDefault + "`" : "")
      << " | " << (*f.configField ? std::string("`") + f.configField + "`" : "") << " | "
      << (f.withConfig ? "applies" : "ignored, warned") << " | " << handling << ": " << help << " |\n";
  }
  return o.str();
}

}  // namespace kproxy::daemon
