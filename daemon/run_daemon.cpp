#include "daemon/run_daemon.h"

#include <sys/utsname.h>

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <fstream>
#include <thread>
#include <iostream>

#include "daemon/cleanup.h"
#include "daemon/config_fields.h"
#include "daemon/config_watch.h"
#include "daemon/debug_endpoint.h"
#include "daemon/conntrack_cleanup.h"
#include "daemon/flag_table.h"
#include "daemon/flags.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/process_metrics.h"
#include "daemon/proxy_health.h"
#include "daemon/service_health.h"
#include "daemon/version.h"
#include "daemon/proxy_daemon.h"
#include "daemon/proxy_setup.h"
#include "iptables/iptables_backend.h"
#include "iptables/nfacct.h"
#include "ipvs/ipvs_backend.h"
#include "ebpf/ebpf_backend.h"
#include "ebpf/loader.h"
#include "ebpf/socket_terminator.h"
#include "nftables/nftables_backend.h"
#include "dataplane/ip.h"
#include "dataplane/log.h"
#include "dataplane/proxy_options.h"
#include "watch/api_source.h"
#include "watch/event_recorder.h"
#include "watch/file_source.h"
#include "watch/yaml_json.h"

namespace kproxy::daemon {

namespace {

void writeSysctl(const std::string& path, const std::string& value) {
  std::ofstream f("/proc/sys/" + path);
  f << value;
  f.flush();
  if (!f) log::warning("cannot set " + path + "=" + value + " (not permitted here?); continuing");
}

long readSysctl(const std::string& path) {
  std::ifstream f("/proc/sys/" + path);
  long v = -1;
  f >> v;
  return f ? v : -1;
}

// Writes only when the value differs (some are read-only in a namespace: no needless warning).
void ensureSysctl(const std::string& path, long value) {
  if (readSysctl(path) != value) writeSysctl(path, std::to_string(value));
}

// kube-proxy's start-up tuning: conntrack table size and timeouts, our OOM score. Inside a
// network namespace the kernel refuses some of these (nf_conntrack_max: EINVAL): warn, go on.
void applyHostSettings(const ProxyConfig& cfg) {
  {
    std::ofstream oom("/proc/self/oom_score_adj");
    oom << cfg.oomScoreAdj;
    oom.flush();
    if (!oom) log::warning("cannot set oom_score_adj=" + std::to_string(cfg.oomScoreAdj) + "; continuing");
  }
  if (cfg.conntrack.maxPerCore > 0) {
    long cpus = static_cast<long>(std::thread::hardware_concurrency());
    long want = std::max<long>(static_cast<long>(cfg.conntrack.maxPerCore) * std::max(cpus, 1L), cfg.conntrack.min);
    long have = readSysctl("net/netfilter/nf_conntrack_max");
    if (have >= 0 && have < want) writeSysctl("net/netfilter/nf_conntrack_max", std::to_string(want));
  }
  auto setTimeout = [&](const char* name, Millis d) {
    if (d.count() > 0)
      ensureSysctl(std::string("net/netfilter/") + name, std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  setTimeout("nf_conntrack_tcp_timeout_established", cfg.conntrack.tcpEstablishedTimeout);
  setTimeout("nf_conntrack_tcp_timeout_close_wait", cfg.conntrack.tcpCloseWaitTimeout);
  setTimeout("nf_conntrack_udp_timeout", cfg.conntrack.udpTimeout);
  setTimeout("nf_conntrack_udp_timeout_stream", cfg.conntrack.udpStreamTimeout);
  if (cfg.conntrack.tcpBeLiberal) ensureSysctl("net/netfilter/nf_conntrack_tcp_be_liberal", 1);
}

void printReport(const CleanupReport& r, const std::string& what) {
  if (r.removed.empty() && r.errors.empty()) log::info(what + ": nothing to remove");
  for (const auto& line : r.removed) log::info(what + ": removed " + line);
  for (const auto& line : r.errors) log::error(what + ": " + line);
}

// What kube-proxy does with full privileges before it proxies: cleanup of other modes, conntrack
// and process settings, the mode's sysctls. False when the proxy cannot run at all.
bool privilegedStart(const DaemonFlags& flags, iptables::XtablesBackend backend) {
  const ProxyConfig& cfg = flags.config;
  const bool nftMode = cfg.mode == "nftables";
  const bool ipvsMode = cfg.mode == "ipvs";
  // Before anything is removed: a node switched to IPVS mode without IPVS keeps its old rules.
  if (ipvsMode && !std::filesystem::exists("/proc/sys/net/ipv4/vs")) {
    std::cerr << "kproxy: --proxy-mode ipvs: this kernel has no IPVS (load the ip_vs module and a scheduler's, "
                 "such as ip_vs_rr); nothing was changed\n";
    return false;
  }
  // Any scheduler the kernel has, as upstream: asked before anything is removed.
  if (ipvsMode) {
    auto client = ipvs::NetlinkIpvsClient::open();
    Status s = client ? ipvs::probeScheduler(*client.value(), cfg.ipvs.scheduler.empty() ? "rr" : cfg.ipvs.scheduler)
                      : Status::error(client.error());
    if (!s) {
      std::cerr << "kproxy: --proxy-mode ipvs: " << s.message() << "; nothing was changed\n";
      return false;
    }
  }
  if (flags.cleanupOtherModes) printReport(cleanupOtherModes(cfg.mode, backend, ebpf::pinDirUnder(flags.ebpfBpffs)), "cleanup of other modes");
  applyHostSettings(cfg);
  // NodePorts on 127.0.0.1 exist in iptables mode only (as upstream: not in nftables mode), and
  // route_localnet opens 127.0.0.0/8 to the network (CVE-2020-8558): set only when
  // nodePortAddresses takes in IPv4 loopback, as upstream's ContainsIPv4Loopback.
  if (!nftMode && !ipvsMode && cfg.iptables.localhostNodePorts &&
      dataplane::nodePortsIncludeIPv4Loopback(cfg.effectiveNodePortAddresses()))
    ensureSysctl("net/ipv4/conf/all/route_localnet", 1);
  // Upstream's IPVS sysctls: IPVS connections visible to conntrack (for masquerading),
  // connections to a removed destination or quiescent template expire, forwarding on.
  if (ipvsMode)
    for (const char* path : {"net/ipv4/vs/conntrack", "net/ipv4/vs/expire_nodest_conn",
                             "net/ipv4/vs/expire_quiescent_template", "net/ipv4/ip_forward"})
      ensureSysctl(path, 1);
  if (ipvsMode) {
    struct utsname u {};
    const std::string release = ::uname(&u) == 0 ? u.release : "";
    switch (ipvs::connReuseModeFor(release)) {
      case ipvs::ConnReuse::kSetZero: ensureSysctl("net/ipv4/vs/conn_reuse_mode", 0); break;
      case ipvs::ConnReuse::kLeave: log::v(2, "net/ipv4/vs/conn_reuse_mode left as it is (kernel " + release + " >= 5.9)"); break;
      case ipvs::ConnReuse::kUnsupported:
        log::error("net/ipv4/vs/conn_reuse_mode cannot be set: kernel " + release + " is older than 4.1");
        break;
    }
  }
  // Strict ARP: the node answers ARP only for addresses on the receiving interface, so the
  // Service IPs on kube-ipvs0 are not announced (MetalLB's ARP mode needs this).
  if (ipvsMode && cfg.ipvs.strictARP) {
    ensureSysctl("net/ipv4/conf/all/arp_ignore", 1);
    ensureSysctl("net/ipv4/conf/all/arp_announce", 2);
  }
  return true;
}

// --init-only: the privileged part alone, for an init container; the proxy then runs with
// CAP_NET_ADMIN only (every sysctl it would write already holds its value).
int runInitOnly(const DaemonFlags& flags, iptables::XtablesBackend backend) {
  log::info("kproxy --init-only: mode " + flags.config.mode);
  if (!privilegedStart(flags, backend)) return 1;
  log::info("initialization done; exiting (--init-only)");
  return 0;
}

}  // namespace

int runCleanup(const std::string& bpffs) {
  CleanupReport r = cleanupAll(ebpf::pinDirUnder(bpffs));
  printReport(r, "cleanup");
  return r.ok() ? 0 : 1;
}

namespace {
// As Go programs (kube-proxy among them) do at start: the soft descriptor limit up to the hard
// one, so that a burst of connections to the health ports does not starve the daemon's own work.
void raiseFdLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) log::v(2, "cannot raise the open files limit");
}
}  // namespace

int runDaemon(const std::vector<std::string>& args) {
  auto parsed = parseDaemonFlags(args);
  if (!parsed) {
    std::cerr << "kproxy: " << parsed.error() << "\n(see kproxy --help)\n";
    return 2;
  }
  DaemonFlags flags = parsed.value();
  if (flags.help) {
    std::cout << daemonUsage();
    return 0;
  }
  if (!flags.helpMarkdown.empty()) {
    std::cout << (flags.helpMarkdown == "config" ? configTableMarkdown() : flagTableMarkdown());
    return 0;
  }
  if (!flags.version.empty()) {
    if (flags.version == "raw")
      std::cout << "{\"kproxy\": \"" << kVersion << "\", \"gitVersion\": \"" << kKubeProxyVersion << "\"}\n";
    else
      std::cout << "kproxy " << kVersion << " (behaves as kube-proxy " << kKubeProxyVersion << ")\nKubernetes " << kKubeProxyVersion << "\n";
    return 0;
  }
  log::setVerbosity(flags.config.logging.verbosity);
  log::setFormat(flags.config.logging.format == "json" ? log::Format::kJson : log::Format::kText);
  for (const auto& w : flags.warnings) log::warning(w);
  if (!flags.writeConfigTo.empty()) {
    std::ofstream out(flags.writeConfigTo);
    out << configYaml(flags.config);
    if (!out.flush()) {
      std::cerr << "kproxy: cannot write " << flags.writeConfigTo << "\n";
      return 1;
    }
    log::info("wrote configuration to " + flags.writeConfigTo);
    return 0;
  }
  if (flags.cleanup) return runCleanup(flags.ebpfBpffs);
  raiseFdLimit();
  const ProxyConfig& cfg = flags.config;
  const bool nftMode = cfg.mode == "nftables";
  const bool ipvsMode = cfg.mode == "ipvs";
  auto backend = flags.backend ? *flags.backend : iptables::detectBackend(model::IPFamily::kIPv4);
  if (flags.initOnly) return runInitOnly(flags, backend);
  std::string node = nodeNameFrom(cfg);

  std::optional<watch::ClientConfig> apiClient;
  if (flags.manifests.empty()) {
    auto client = watch::resolveClientConfig(flags.master, cfg.kubeconfig, [](const char* name) {
      const char* v = std::getenv(name);
      return v ? std::optional<std::string>(v) : std::nullopt;
    });
    if (!client) {
      std::cerr << "kproxy: " << client.error() << "\n";
      return 1;
    }
    apiClient = client.value();
    apiClient->accept = watch::acceptHeader(cfg.clientConnection.contentType, cfg.clientConnection.acceptContentTypes);
  }

  log::info("kproxy starting: node " + node + ", mode " + cfg.mode +
            (nftMode || cfg.mode == "ebpf" ? std::string() : std::string(", backend ") + iptables::backendName(backend)) +
            ", source " + (apiClient ? "API server " + apiClient->describe() : "manifests " + flags.manifests));
  // eBPF mode: the programs' load is the kernel's check, made before anything else is removed.
  std::unique_ptr<ebpf::LoadedPrograms> bpfPrograms;
  if (cfg.mode == "ebpf") {
    ebpf::LoaderPaths paths{ebpf::pinDirUnder(flags.ebpfBpffs),
                            flags.ebpfCgroupPath.empty() ? ebpf::cgroup2Mount() : flags.ebpfCgroupPath};
    if (paths.cgroup.empty()) {
      std::cerr << "kproxy: --proxy-mode ebpf: no cgroup2 mount here (mount one, or give --ebpf-cgroup-path); "
                   "nothing was changed\n";
      return 1;
    }
    auto loaded = ebpf::LoadedPrograms::load(paths);
    if (!loaded) {
      std::cerr << "kproxy: --proxy-mode ebpf: " << loaded.error() << "; the other modes' rules were left as they are\n";
      return 1;
    }
    bpfPrograms = std::move(loaded).value();
    for (const auto& line : bpfPrograms->report()) log::info("ebpf: " + line);
  }
  if (!privilegedStart(flags, backend)) return 1;
  if (cfg.mode == "ipvs") log::warning("ipvs mode is deprecated since kube-proxy 1.37 (feature gate KubeProxyIPVS); nftables mode is its successor");
  if (featureEnabled(cfg, "KubeProxyNFTablesLocalhostNodePorts"))
    log::warning("feature gate KubeProxyNFTablesLocalhostNodePorts: kproxy does not serve NodePorts on loopback addresses in nftables mode; the gate is ignored");

  // Both families, as kube-proxy's dual-stack proxier, where the kernel has IPv6 at all.
  std::vector<model::IPFamily> families = {model::IPFamily::kIPv4};
  if (std::filesystem::exists("/proc/net/if_inet6")) families.push_back(model::IPFamily::kIPv6);
  std::vector<iptables::RenderOptions> perFamily;
  for (auto family : families) perFamily.push_back(proxyOptionsFor(cfg, family));
  // iptables mode counts INVALID drops and localhost NodePort packets in nfacct objects, as
  // upstream; where they cannot be created the rules take the plain forms.
  std::unique_ptr<iptables::NfacctClient> nfacct;
  bool nfacctInvalid = false, nfacctLocalhost = false;
  if (cfg.mode == "iptables") {
    nfacct = iptables::makeNetlinkNfacctClient();
    for (auto [name, ok] : {std::pair{iptables::kCtStateInvalidDroppedCounter, &nfacctInvalid},
                            std::pair{iptables::kLocalhostNodePortsAcceptedCounter, &nfacctLocalhost}}) {
      Status st = nfacct->ensure(name);
      *ok = static_cast<bool>(st);
      if (!st) log::warning(st.message() + "; its rules take the form without -m nfacct and its metric is not exposed");
    }
    for (auto& opts : perFamily) {
      opts.nfacctInvalidDropped = nfacctInvalid;
      opts.nfacctLocalhostNodePorts = nfacctLocalhost;
    }
  }

  boost::asio::io_context io;
  SyncScheduler::Options timing;
  timing.syncPeriod = cfg.syncPeriod();
  timing.minSyncPeriod = cfg.minSyncPeriod();
  timing.maxRetry = timing.syncPeriod;
  std::unique_ptr<watch::Source> source;
  if (apiClient) {
    watch::ApiSource::Options o;
    o.client = *apiClient;
    o.nodeName = node;
    o.reflector.minWatchTimeout = std::chrono::duration_cast<std::chrono::seconds>(flags.watchTimeout);
    o.reflector.streamingLists = true;  // where the server has them; paginated lists otherwise
    // Only nftables mode has a rule for them; the other modes save every node the watch.
    o.serviceCIDRs = nftMode && featureEnabled(cfg, "MultiCIDRServiceAllocator");
    source = std::make_unique<watch::ApiSource>(io, std::move(o));
  } else {
    source = std::make_unique<watch::FileSource>(io, flags.manifests);
  }
  std::vector<FamilyBackend> backends;
  auto nftGeneration = std::make_shared<nftables::OwnGeneration>();  // one per network namespace
  for (auto& opts : perFamily) {
    auto family = opts.family;
    if (bpfPrograms) {
      if (family != model::IPFamily::kIPv4) {
        log::warning("ebpf mode serves IPv4 Services only so far; IPv6 Services are not proxied");
        continue;
      }
      auto terminator = ebpf::UdpSocketTerminator::load(ebpf::pinDirUnder(flags.ebpfBpffs));
      if (!terminator)
        log::warning(terminator.error() + "; a UDP socket connected to an endpoint that goes away keeps sending there");
      backends.push_back({family, std::make_unique<ebpf::EbpfBackend>(
                                      std::move(opts),
                                      std::make_unique<ebpf::BpfMapClient>(bpfPrograms->servicesFd(), bpfPrograms->backendsFd(),
                                                                           bpfPrograms->affinityFd()),
                                      terminator ? std::move(terminator).value() : nullptr)});
      continue;
    }
    if (nftMode) {
      auto b = std::make_unique<nftables::NftablesBackend>(std::move(opts), std::make_unique<nftables::NetlinkNftClient>());
      b->shareGeneration(nftGeneration);
      backends.push_back({family, std::move(b)});
      continue;
    }
    auto restore = std::make_unique<iptables::RestoreRunner>(backend, family);
    if (ipvsMode) {
      auto client = ipvs::NetlinkIpvsClient::open();
      if (!client) {
        std::cerr << "kproxy: --proxy-mode ipvs: " << client.error() << "\n";
        return 1;
      }
      auto secs = [](std::chrono::milliseconds d) { return static_cast<uint32_t>(d.count() / 1000); };
      if (family == families.front() && (cfg.ipvs.tcpTimeout.count() || cfg.ipvs.tcpFinTimeout.count() || cfg.ipvs.udpTimeout.count()))
        if (Status s = client.value()->setTimeouts(secs(cfg.ipvs.tcpTimeout), secs(cfg.ipvs.tcpFinTimeout), secs(cfg.ipvs.udpTimeout)); !s)
          log::warning(s.message() + "; continuing with the kernel's timeouts");
      ipvs::IpvsOptions ipvsOpts;
      ipvsOpts.proxy = std::move(opts);
      ipvsOpts.scheduler = cfg.ipvs.scheduler.empty() ? "rr" : cfg.ipvs.scheduler;

      for (const auto& c : cfg.ipvs.excludeCIDRs)
        if (auto cidr = net::parseCidr(c)) ipvsOpts.excludeCIDRs.push_back(*cidr);
      backends.push_back({family, std::make_unique<ipvs::IpvsBackend>(std::move(ipvsOpts), std::move(client).value(),
                                                                     std::make_unique<ipvs::NetlinkDummyLink>(),
                                                                     std::make_unique<ipvs::LibIpsetClient>(),
                                                                     std::move(restore))});
      continue;
    }
    backends.push_back({family, std::make_unique<iptables::IptablesBackend>(std::move(opts), std::move(restore))});
  }
  // Declared before the daemon so it outlives the API source's threads, which report to it.
  Metrics metrics;
  describeRestClientMetrics(metrics);
  watch::setRequestObserver([&metrics](const watch::RequestRecord& r) {
    metrics.counterAdd("rest_client_requests_total", 1, {{"code", r.code}, {"host", r.host}, {"method", r.method}});
    metrics.observe("rest_client_request_duration_seconds", r.seconds, {{"host", r.host}, {"verb", r.method}});
  });
  ProxyDaemon daemon(io, node, timing, std::move(source), std::move(backends));
  daemon.setServeExternalIPs(featureEnabled(cfg, "AllowServiceExternalIPs"));
  daemon.setBindAddress(cfg.bindAddress);
  describeProxyMetrics(metrics, cfg.mode);
  describeBuildInfo(metrics, kVersion, kKubeProxyVersion);
  describeProcessMetrics(metrics);
  ProxyHealth health(2 * cfg.syncPeriod());  // upstream: twice the active mode's sync period
  daemon.setObservers(&metrics, &health);
  ServiceHealthServers serviceHealth(io, [&health] { return health.proxyHealthy(std::chrono::system_clock::now()); });
  // Health-check ports of both families, on the addresses nodePortAddresses gives (re-read each
  // sync: the Node's primary IPs and the local addresses may change).
  const bool ipv6 = hostHasIPv6();
  DebugView debug{kVersion, cfg.mode, node, {}, {}, {}};
  daemon.setAppliedHook([&, ipv6](const std::vector<std::shared_ptr<const dataplane::DesiredState>>& states,
                                  const dataplane::NodeInfo& nodeInfo) {
    std::vector<const dataplane::DesiredState*> raw;
    for (const auto& s : states) raw.push_back(s.get());
    std::vector<std::string> local = localAddresses(model::IPFamily::kIPv4), local6 = localAddresses(model::IPFamily::kIPv6);
    local.insert(local.end(), local6.begin(), local6.end());
    serviceHealth.sync(healthCheckPorts(raw), healthCheckAddresses(cfg.effectiveNodePortAddresses(), nodeInfo.primaryIPs, local, ipv6));
    if (cfg.enableProfiling) {
      debug.applied = states;
      debug.nodeInfo = nodeInfo;
      debug.healthCheckPorts = serviceHealth.ports();
    }
  });
  auto healthHandler = [&](const std::string& path) -> HttpResponse {
    bool isHealthz = path == "/healthz";
    if (!isHealthz && path != "/livez") return {404, "text/plain; charset=utf-8", "404 page not found\n", {}};
    auto now = std::chrono::system_clock::now();
    auto v = isHealthz ? health.healthz(now) : health.livez(now);
    metrics.counterAdd(isHealthz ? "kubeproxy_proxy_healthz_total" : "kubeproxy_proxy_livez_total", 1,
                       {{"code", std::to_string(v.status)}});
    return {v.status, "application/json", v.body, {}};
  };
  // Upstream's nfacct collectors: the kernel's counts, read at each scrape.
  const std::vector<std::pair<const char*, const char*>> nfacctMetrics = [&] {
    std::vector<std::pair<const char*, const char*>> out;
    if (nfacctInvalid) out.emplace_back(iptables::kCtStateInvalidDroppedCounter, "kubeproxy_iptables_ct_state_invalid_dropped_packets_total");
    if (nfacctLocalhost)
      out.emplace_back(iptables::kLocalhostNodePortsAcceptedCounter, "kubeproxy_iptables_localhost_nodeports_accepted_packets_total");
    return out;
  }();
  if (nfacctInvalid)
    metrics.describe("kubeproxy_iptables_ct_state_invalid_dropped_packets_total", "counter",
                     "packets dropped by iptables to work around conntrack problems");
  if (nfacctLocalhost)
    metrics.describe("kubeproxy_iptables_localhost_nodeports_accepted_packets_total", "counter",
                     "Number of packets accepted on nodeports of loopback interface");
  auto metricsHandler = [&](const std::string& path) -> HttpResponse {
    if (path == "/metrics") {
      updateProcessMetrics(metrics);
      for (const auto& [counter, metric] : nfacctMetrics) {
        if (auto n = nfacct->packets(counter)) metrics.gaugeSet(metric, static_cast<double>(n.value()));
        else log::warning("reading " + std::string(metric) + ": " + n.error());
      }
      return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition(), {}};
    }
    if (path == "/proxyMode") return {200, "text/plain; charset=utf-8", cfg.mode, {}};
    // As upstream's metrics server: the generic healthz check ("ok", not the proxy's health),
    // and /configz with the running configuration.
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok", {{"X-Content-Type-Options", "nosniff"}}};
    if (path == "/configz") {
      auto docs = watch::parseYaml(configYaml(cfg));
      nlohmann::json body = {{"kubeproxy.config.k8s.io", docs.documents.empty() ? nlohmann::json::object() : docs.documents.front()}};
      return {200, "application/json", body.dump(), {}};
    }
    if (path == "/livez") return healthHandler(path);
    // --profiling: upstream's Go profiler has no meaning here; kproxy's view of what it programmed.
    if (cfg.enableProfiling && path.rfind("/debug/kproxy", 0) == 0) return debugResponse(path.substr(13), debug);
    return {404, "text/plain; charset=utf-8", "404 page not found\n", {}};
  };
  HttpServer healthServer(io, healthHandler), metricsServer(io, metricsHandler);
  for (auto [server, address] : {std::pair{&healthServer, cfg.healthzBindAddress},
                                 std::pair{&metricsServer, cfg.metricsBindAddress}}) {
    if (address.empty()) continue;
    // Like kube-proxy: a port that cannot be bound is logged and the proxy keeps working,
    // unless bindAddressHardFail asks it to exit.
    if (Status st = server->listen(goListenAddress(address)); !st) {
      log::error(st.message());
      if (cfg.bindAddressHardFail) {
        std::cerr << "kproxy: " << st.message() << " (bindAddressHardFail)\n";
        return 1;
      }
    } else {
      log::info("serving on " + address);
    }
  }
  daemon.setPostSyncHook([&metrics](const dataplane::DesiredState* before, const dataplane::DesiredState& now) {
    auto start = std::chrono::steady_clock::now();
    size_t deleted = cleanStaleUdpConntrack(before, now);
    const Metrics::Labels fam = {{"ip_family", model::familyName(now.family)}};
    metrics.observe("kubeproxy_conntrack_reconciler_sync_duration_seconds",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), fam);
    if (deleted) metrics.counterAdd("kubeproxy_conntrack_reconciler_deleted_entries_total", static_cast<double>(deleted), fam);
  });

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + "; exiting, rules stay in place");
    daemon.stop();
    healthServer.stop();
    metricsServer.stop();
    io.stop();
  });
  // Kubernetes Events as upstream records them: Starting on the Node, and a health-check node
  // port that cannot be bound on its Service (API source only: manifests have no server).
  std::unique_ptr<watch::EventRecorder> events;
  if (apiClient) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    events = std::make_unique<watch::EventRecorder>(watch::makeCurlHttpClient(*apiClient), host);
    serviceHealth.onListenFailed([&events, node](const ServiceHealth& h, uint16_t port, const std::string& error) {
      events->record({{"Service", h.service.namespace_, h.service.name, h.service.str()}, "Warning",
                      "FailedToStartServiceHealthcheck", "Listen",
                      "node " + node + " failed to start healthcheck \"" + h.service.str() + "\" on port " +
                          std::to_string(port) + ": " + error});
    });
    events->record({{"Node", "", node, node}, "Normal", "Starting", "StartKubeProxy", ""});
  }

  // As upstream: a change of the config file's content ends the process, so the DaemonSet
  // restarts it with the new file (a ConfigMap edit reaches every node).
  int exitCode = 0;
  std::unique_ptr<ConfigFileWatch> configWatch;
  if (!flags.configFile.empty())
    configWatch = std::make_unique<ConfigFileWatch>(io, flags.configFile, flags.configText, [&] {
      log::error("the content of the configuration file " + flags.configFile + " changed; exiting so it is read again");
      exitCode = 1;
      daemon.stop();
      healthServer.stop();
      metricsServer.stop();
      io.stop();
    });
  daemon.start();
  io.run();
  return exitCode;
}

}  // namespace kproxy::daemon
