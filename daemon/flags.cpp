#include "daemon/flags.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "dataplane/ip.h"

namespace kproxy::daemon {

const char* kDaemonUsage = R"(Usage: kproxy [flags]

Runs the proxy until SIGTERM/SIGINT; rules stay in place on exit so a restart does not
interrupt traffic.

Flags (kube-proxy's names):
  --config FILE                    a KubeProxyConfiguration (YAML or JSON); flags override it
  --write-config-to FILE           write the default configuration and exit
  --proxy-mode iptables|ipvs|nftables  the dataplane mode (default iptables)
  --master URL                     the API server (overrides the kubeconfig's server)
  --kubeconfig FILE                credentials and server; with neither, the in-cluster service
                                   account (KUBERNETES_SERVICE_HOST/PORT and its token)
  --manifests DIR                  instead of an API server: Services, EndpointSlices and Nodes
                                   from manifests in DIR, following changes (inotify)
  --watch-timeout D                how long each watch runs before it is renewed (default 5m0s;
                                   a silent stream is dropped after that plus up to 30s)
  --hostname-override NAME         this node's name (default: the host name)
  --cluster-cidr CIDR[,CIDR]       masquerade traffic to ClusterIPs from outside this range
  --masquerade-all                 masquerade all traffic to ClusterIPs
  --nodeport-addresses CIDR[,...]  NodePorts only on local addresses in these ranges
  --iptables-sync-period D         full resync interval (default 30s)
  --iptables-min-sync-period D     minimum interval between syncs (default 1s)
  --iptables-masquerade-bit N      fwmark bit for masquerading (default 14)
  --iptables-localhost-nodeports B NodePorts on 127.0.0.1 (default true)
  --iptables-backend nft|legacy    xtables backend (default: detected like kube-proxy)
  --ipvs-scheduler NAME            rr (default), wrr, lc, wlc, sh, dh, sed, nq, mh
  --ipvs-sync-period D             IPVS mode's full resync interval (default 30s)
  --ipvs-min-sync-period D         IPVS mode's minimum interval between syncs (default 0s)
  --ipvs-exclude-cidrs CIDR[,...]  IPVS virtual servers in these ranges are never removed as stale
  --ipvs-strict-arp                arp_ignore=1, arp_announce=2 (for load balancers in ARP mode)
  --ipvs-tcp-timeout D             IPVS idle TCP timeout (default 0: the kernel's)
  --ipvs-tcpfin-timeout D          IPVS TCP timeout after a FIN (default 0: the kernel's)
  --ipvs-udp-timeout D             IPVS UDP timeout (default 0: the kernel's)
  --healthz-bind-address IP:PORT   /healthz and /livez (default 0.0.0.0:10256; "" turns it off)
  --metrics-bind-address IP:PORT   /metrics in Prometheus format (default 127.0.0.1:10249)
  --cleanup                        remove every rule any kube-proxy mode created, then exit
  --no-cleanup-other-modes         keep other modes' leftovers at start
  -v, --v N                        log verbosity (4: each network programming latency)
  --logging-format text|json       klog text lines (default) or one JSON object per line
)";

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  if (text == "0") return std::chrono::milliseconds(0);
  double totalMs = 0;
  size_t i = 0;
  if (text.empty()) return std::nullopt;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + j, v);
    if (ec != std::errc() || p != text.data() + j) return std::nullopt;
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    std::string unit = text.substr(j, k - j);
    double scale;
    if (unit == "h") scale = 3600e3;
    else if (unit == "m") scale = 60e3;
    else if (unit == "s") scale = 1e3;
    else if (unit == "ms") scale = 1;
    else if (unit == "us" || unit == "µs") scale = 1e-3;
    else if (unit == "ns") scale = 1e-6;
    else return std::nullopt;
    totalMs += v * scale;
    // Go's time.ParseDuration refuses what overflows int64 nanoseconds (about 292 years); the
    // conversion below would be undefined past it.
    if (!(totalMs <= 9223372036854.0)) return std::nullopt;
    i = k;
  }
  return std::chrono::milliseconds(static_cast<long long>(totalMs));
}

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

namespace {
Result<std::string> readWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Result<DaemonFlags> parseDaemonFlags(const std::vector<std::string>& args,
                                     const std::function<Result<std::string>(const std::string&)>& readFile) {
  DaemonFlags f;
  std::vector<std::string> problems;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--config" && i + 1 < args.size()) f.configFile = args[i + 1];
    else if (a.rfind("--config=", 0) == 0) f.configFile = a.substr(9);
  }
  if (!f.configFile.empty()) {
    auto text = readFile ? readFile(f.configFile) : readWholeFile(f.configFile);
    if (!text) return Status::error("--config: " + text.error());
    auto cfg = parseProxyConfig(text.value());
    if (!cfg) return Status::error("--config " + f.configFile + ": " + cfg.error());
    f.config = cfg.value();
  }
  ProxyConfig& c = f.config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i], value;
    bool inlineValue = false;
    if (a.rfind("--", 0) == 0) {
      if (auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        inlineValue = true;
      }
    }
    auto need = [&]() -> bool {
      if (inlineValue) return true;
      if (i + 1 >= args.size()) {
        problems.push_back(a + " needs a value");
        return false;
      }
      value = args[++i];
      return true;
    };
    auto boolean = [&](bool& target) {
      if (!inlineValue) target = true;
      else if (value == "true" || value == "false") target = value == "true";
      else problems.push_back(a + ": \"" + value + "\" is not true or false");
    };
    auto duration = [&](std::chrono::milliseconds& target) {
      if (!need()) return;
      auto d = parseDuration(value);
      if (!d) problems.push_back(a + ": \"" + value + "\" is not a duration (like 30s, 1m0s, 500ms)");
      else target = *d;
    };
    if (a == "-h" || a == "--help") f.help = true;
    else if (a == "--config") { need(); }
    else if (a == "--write-config-to") { if (need()) f.writeConfigTo = value; }
    else if (a == "--proxy-mode") { if (need()) c.mode = value; }
    else if (a == "--manifests") { if (need()) f.manifests = value; }
    else if (a == "--master") { if (need()) f.master = value; }
    else if (a == "--watch-timeout") {
      if (need()) {
        auto d = parseDuration(value);
        if (!d || *d < std::chrono::seconds(1)) problems.push_back(a + ": \"" + value + "\" is not a duration of 1s or more");
        else f.watchTimeout = *d;
      }
    }
    else if (a == "--kubeconfig") { if (need()) c.kubeconfig = value; }
    else if (a == "--hostname-override") { if (need()) c.hostnameOverride = value; }
    else if (a == "--logging-format") { if (need()) c.logging.format = value; }
    else if (a == "--healthz-bind-address") { if (need()) c.healthzBindAddress = value; }
    else if (a == "--metrics-bind-address") { if (need()) c.metricsBindAddress = value; }
    else if (a == "--cluster-cidr") { if (need()) c.clusterCIDR = value; }
    else if (a == "--masquerade-all") boolean(c.iptables.masqueradeAll);
    else if (a == "--nodeport-addresses") { if (need()) c.nodePortAddresses = splitComma(value); }
    else if (a == "--cleanup") boolean(f.cleanup);
    else if (a == "--no-cleanup-other-modes") f.cleanupOtherModes = false;
    else if (a == "--iptables-localhost-nodeports") {
      if (need()) {
        if (value != "true" && value != "false") problems.push_back(a + ": \"" + value + "\" is not true or false");
        c.iptables.localhostNodePorts = value == "true";
      }
    } else if (a == "--iptables-sync-period") {
      duration(c.iptables.syncPeriod);
    } else if (a == "--iptables-min-sync-period") {
      duration(c.iptables.minSyncPeriod);
    } else if (a == "--ipvs-sync-period") {
      duration(c.ipvs.syncPeriod);
    } else if (a == "--ipvs-min-sync-period") {
      duration(c.ipvs.minSyncPeriod);
    } else if (a == "--ipvs-tcp-timeout") {
      duration(c.ipvs.tcpTimeout);
    } else if (a == "--ipvs-tcpfin-timeout") {
      duration(c.ipvs.tcpFinTimeout);
    } else if (a == "--ipvs-udp-timeout") {
      duration(c.ipvs.udpTimeout);
    } else if (a == "--ipvs-scheduler") {
      if (need()) c.ipvs.scheduler = value;
    } else if (a == "--ipvs-strict-arp") {
      boolean(c.ipvs.strictARP);
    } else if (a == "--ipvs-exclude-cidrs") {
      if (need()) c.ipvs.excludeCIDRs = splitComma(value);
    } else if (a == "--iptables-masquerade-bit") {
      if (need()) {
        int bit = -1;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), bit);
        if (ec != std::errc() || p != value.data() + value.size() || bit < 0 || bit > 31)
          problems.push_back(a + ": \"" + value + "\" is not in 0-31");
        else c.iptables.masqueradeBit = bit;
      }
    } else if (a == "--iptables-backend") {
      if (need()) {
        if (value == "nft") f.backend = iptables::XtablesBackend::kNft;
        else if (value == "legacy") f.backend = iptables::XtablesBackend::kLegacy;
        else problems.push_back(a + ": \"" + value + "\" is not nft or legacy");
      }
    } else if (a == "-v" || a == "--v") {
      if (need()) {
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), c.logging.verbosity);
        if (ec != std::errc() || p != value.data() + value.size()) problems.push_back(a + ": \"" + value + "\" is not a number");
      }
    } else if (a.rfind("-v=", 0) == 0) {
      c.logging.verbosity = std::atoi(a.c_str() + 3);
    } else {
      problems.push_back("unknown flag \"" + a + "\"");
    }
  }
  for (auto& e : validateProxyConfig(c)) problems.push_back(std::move(e));
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
    return Status::error(msg);
  }
  return f;
}

}  // namespace kproxy::daemon
