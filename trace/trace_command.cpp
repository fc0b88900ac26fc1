#include "trace/trace_command.h"


#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>

#include "daemon/flags.h"
#include "daemon/proxy_setup.h"
#include "dataplane/cluster_state.h"
#include "dataplane/log.h"
#include "iptables/renderer.h"
#include "iptables/restore_runner.h"
#include "iptables/subprocess.h"
#include "ipvs/dummy_link.h"
#include "ipvs/ipset_client.h"
#include "ipvs/ipvs_client.h"
#include "trace/iptables_eval.h"
#include "trace/ipvs_view.h"
#include "trace/nft_view.h"
#include "trace/probe.h"
#include "trace/service_lookup.h"
#include "watch/api_source.h"
#include "watch/decode.h"
#include "watch/bounded_json.h"

namespace kproxy::trace {

namespace {

using nlohmann::json;

constexpr const char* kUsage = R"(Usage: kproxy trace IP:PORT[/tcp|udp|sctp] [options]

Why does this Service address answer, or not? Run on a node (in its network namespace). Prints a
verdict first, then the Service port that owns the address, its policies, every endpoint with
its state and whether this node uses it (and why not), and with --kernel what the kernel holds.

Options:
  --from IP          the client's address (default: this node itself)
  --kernel           also read the kernel: in iptables mode the rule path a packet from the
                     client takes (iptables-save, with each endpoint's probability and packet
                     counters, masquerade, REJECT/DROP); in nftables mode the table's maps and
                     chains; in IPVS mode the virtual server (scheduler, destinations with
                     weights and connections), kube-ipvs0 and the ipsets; conntrack entries for
                     the address; drift from the desired state
  --probe            open a real connection (UDP: one datagram) and say who answered
  --timeout MS       probe timeout (default 1000)
  -o json|text       output format (default text)
  --healthz-address HOST:PORT
                     the daemon's /healthz, for the time of its last sync (default: from the
                     configuration, 127.0.0.1:10256)
and the daemon's options saying where Services come from and how this node is set up:
  --kubeconfig, --master, --manifests DIR, --config FILE, --hostname-override, --cluster-cidr,
  --proxy-mode, --iptables-backend, --masquerade-all, --nodeport-addresses, ...

Exit status: 0 reachable, 1 unreachable or drift, 2 error.
)";

struct TraceOptions {
  std::string target;
  std::optional<net::IPAddress> from;
  bool kernel = false, probe = false, json = false;
  int timeoutMs = 1000;
  std::string healthz;
  std::vector<std::string> daemonArgs;
};

// Loads Services, EndpointSlices and Nodes once: from manifests, or one full listing of the API.
Status loadCluster(const daemon::DaemonFlags& flags, const std::string& node, dataplane::ClusterState& state) {
  auto apply = [&](watch::SourceBatch& b) {
    for (auto& s : b.upsertServices) state.upsertService(std::move(s));
    for (auto& s : b.upsertSlices) state.upsertSlice(std::move(s));
    for (auto& n : b.upsertNodes) state.upsertNode(std::move(n));
    for (auto& c : b.upsertServiceCIDRs) state.upsertServiceCIDR(std::move(c));
  };
  if (!flags.manifests.empty()) {
    watch::Objects o = watch::loadManifests({flags.manifests});
    for (const auto& e : o.errors) log::warning(e.str() + " (skipped)");
    watch::SourceBatch b;
    b.upsertServices = std::move(o.services);
    b.upsertSlices = std::move(o.slices);
    b.upsertNodes = std::move(o.nodes);
    b.upsertServiceCIDRs = std::move(o.serviceCIDRs);
    b.listComplete = true;
    apply(b);
    return Status::ok();
  }
  auto client = watch::resolveClientConfig(flags.master, flags.config.kubeconfig, [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  if (!client) return client.status();
  boost::asio::io_context io;
  watch::ApiSource::Options o;
  o.client = client.value();
  o.client.accept = watch::acceptHeader(flags.config.clientConnection.contentType,
                                        flags.config.clientConnection.acceptContentTypes);
  o.nodeName = node;
  o.serviceCIDRs = false;  // the kernel's rules show them; the listing need not wait for them
  watch::ApiSource source(io, std::move(o));
  bool complete = false;
  // The streams post from their own threads: keep run_for waiting for them.
  auto guard = boost::asio::make_work_guard(io);
  source.start([&](watch::SourceBatch b) {
    apply(b);
    if (b.listComplete) {
      complete = true;
      io.stop();
    }
  });
  io.run_for(std::chrono::seconds(30));
  source.stop();
  if (!complete) return Status::error("no complete listing from the API server " + client.value().describe() + " within 30 s");
  return Status::ok();
}

// GET /healthz of the local daemon: "last successful sync 5m ago" or why not known.
std::string lastSync(const std::string& address) {
  auto colon = address.rfind(':');
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") host = "127.0.0.1";
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  auto ip = net::parseIP(host);
  if (!ip) return "no kproxy /healthz known (" + address + ")";
  int fd = ::socket(ip->family == model::IPFamily::kIPv4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_storage ss{};
  socklen_t len;
  if (ip->family == model::IPFamily::kIPv4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(std::atoi(port.c_str())));
    std::memcpy(&a->sin_addr, ip->bytes.data(), 4);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(std::atoi(port.c_str())));
    std::memcpy(&a->sin6_addr, ip->bytes.data(), 16);
    len = sizeof *a;
  }
  std::string body;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    std::string req = "GET /healthz HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) body.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto start = body.find("\r\n\r\n");
  if (start == std::string::npos) return "no kproxy answering /healthz on " + host + ":" + port;
  json j = watch::parseJson(std::string_view(body).substr(start + 4)).value;
  if (!j.is_object() || !j.contains("lastUpdated") || !j["lastUpdated"].is_string()) return "/healthz on " + host + ":" + port + " gave no lastUpdated";
  // 1.37's JSON: RFC 3339, and a healthy answer's lastUpdated is "now"; the per-family status
  // holds the real last sync. Older releases wrote Go's time.String(): "2026-11-25 11:45:00.594363003 +0000 UTC".
  std::string when = j["lastUpdated"].get<std::string>();
  if (j.contains("status") && j["status"].is_object() && j["status"].contains("IPv4") && j["status"]["IPv4"].is_object() &&
      j["status"]["IPv4"].contains("lastUpdated") && j["status"]["IPv4"]["lastUpdated"].is_string())
    when = j["status"]["IPv4"]["lastUpdated"].get<std::string>();
  auto last = dataplane::parseRFC3339(when);
  if (!last && when.size() > 26 && when[10] == ' ') {
    auto zone = when.find(" +");
    if (zone == std::string::npos) zone = when.find(" -");
    if (zone != std::string::npos && zone + 6 <= when.size())
      last = dataplane::parseRFC3339(when.substr(0, 10) + "T" + when.substr(11, zone - 11) + when.substr(zone + 1, 3) + ":" +
                                     when.substr(zone + 4, 2));
  }
  if (!last) return "last successful sync at " + when;
  auto age = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - *last).count();
  std::string ago = age < 120 ? std::to_string(age) + "s" : age < 7200 ? std::to_string(age / 60) + "m" : std::to_string(age / 3600) + "h";
  return "last successful sync " + ago + " ago";
}

std::string percent(double p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%5.1f%%", p * 100);
  return buf;
}

std::string where(const IptRule& r) {
  std::string s = r.table + " " + r.chain + " #" + std::to_string(r.index);
  if (r.packets) s += " [" + std::to_string(r.packets) + " pkts]";
  return s;
}

// The kernel's side, whatever the mode.
struct KernelView {
  std::string mode;                 // "iptables (nft backend)", "nftables"
  std::string error;                // could not read it
  std::vector<std::string> paths;   // one line per outcome
  std::vector<std::string> notes;
  std::set<std::string> dnatTargets;
  size_t rejects = 0, drops = 0, untouched = 0;
  size_t driftCount = 0;            // chains (iptables) or entries (nftables) that differ
  std::vector<std::string> diff;
  json j = json::object();
};

std::set<std::string> keysOf(const std::vector<IptRule>* rules) {
  std::set<std::string> out;
  if (rules)
    for (const auto& r : *rules) out.insert(ruleKey(r));
  return out;
}

void iptablesKernel(KernelView& k, const daemon::DaemonFlags& flags, const dataplane::ProxyOptions& opts,
                    const dataplane::DesiredState& state, const Finding& f, const Target& t, const Packet& pkt) {
  auto backend = flags.backend ? *flags.backend : iptables::detectBackend(t.ip.family);
  bool v6 = t.ip.family == model::IPFamily::kIPv6;
  std::string tool = std::string(v6 ? "ip6tables-" : "iptables-") + iptables::backendName(backend) + "-save";
  k.mode = std::string("iptables (") + iptables::backendName(backend) + " backend)";
  auto res = iptables::runProcess({tool, "-c"}, "");
  if (!res || res.value().exitCode != 0) {
    k.error = tool + ": " + (res ? res.value().err : res.error());
    return;
  }
  IptDump dump = parseIptablesSave(res.value().out);
  Evaluation ev = evaluate(dump, pkt);
  json paths = json::array();
  for (const auto& o : ev.outcomes) {
    std::string line = percent(o.probability) + "  ";
    std::string hops;
    json rules = json::array();
    for (const IptRule* r : o.rules) {
      // The hops that chose the way: kube chains of nat, and what decided in filter; built-in
      // chains' jumps and the masquerade bookkeeping (said as "masqueraded") are left out.
      static const std::set<std::string> kBuiltin = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
                                                     "KUBE-POSTROUTING", "KUBE-MARK-MASQ"};
      bool shown = !kBuiltin.count(r->chain) && r->target != "KUBE-MARK-MASQ" && (r->table == "nat" || r == o.decisive);
      if (shown)
        hops += (hops.empty() ? "" : " -> ") + r->chain + "#" + std::to_string(r->index) +
                (r->packets ? "[" + std::to_string(r->packets) + " pkts]" : "");
      rules.push_back({{"table", r->table}, {"chain", r->chain}, {"index", r->index}, {"packets", r->packets},
                       {"rule", r->text}});
    }
    std::string fate;
    switch (o.fate) {
      case Outcome::Fate::kDnat: fate = "DNAT " + o.dnatTo; k.dnatTargets.insert(o.dnatTo); break;
      case Outcome::Fate::kReject: fate = "REJECT (" + (o.decisive ? where(*o.decisive) : std::string("?")) + ")"; ++k.rejects; break;
      case Outcome::Fate::kDrop: fate = "DROP (" + (o.decisive ? where(*o.decisive) : std::string("?")) + ")"; ++k.drops; break;
      case Outcome::Fate::kAccept: fate = "no NAT: the packet goes to " + t.str() + " itself"; ++k.untouched; break;
    }
    line += fate + (o.masquerade ? ", masqueraded" : "") + (hops.empty() ? "" : "  via " + hops);
    k.paths.push_back(line);
    paths.push_back({{"probability", o.probability}, {"fate", fate}, {"masquerade", o.masquerade}, {"rules", rules}});
    if (o.affinityNote) k.notes.push_back("session affinity: a client seen before goes back to its previous endpoint");
  }
  for (const IptRule* r : ev.skipped) k.notes.push_back("rule not understood, taken as not matching: " + where(*r) + ": " + r->text);
  k.j["paths"] = paths;

  // Drift: this port's chains as kproxy would write them against the kernel's.
  if (!f.port) return;
  iptables::Renderer renderer(opts);
  IptDump want = parseIptablesSave(renderer.renderFull(state).text);
  std::vector<std::string> chains = renderer.natChainsOf(*f.port);
  for (const auto& c : chains) {
    auto desired = keysOf(want.chain("nat", c)), kernel = keysOf(dump.chain("nat", c));
    if (desired == kernel) continue;
    ++k.driftCount;
    if (!dump.chain("nat", c)) {
      k.diff.push_back("nat " + c + ": missing in the kernel");
      continue;
    }
    for (const auto& r : *want.chain("nat", c))
      if (!kernel.count(ruleKey(r))) k.diff.push_back("- nat " + c + " (desired): " + r.text);
    for (const auto& r : *dump.chain("nat", c))
      if (!desired.count(ruleKey(r))) k.diff.push_back("+ nat " + c + " (kernel): " + r.text);
  }
  // Its entry rules in KUBE-SERVICES / KUBE-NODEPORTS (those leading into its chains).
  for (const char* top : {"KUBE-SERVICES", "KUBE-NODEPORTS"}) {
    auto into = [&](const std::vector<IptRule>* rules) {
      std::set<std::string> out;
      if (rules)
        for (const auto& r : *rules)
          if (std::find(chains.begin(), chains.end(), r.target) != chains.end()) out.insert(ruleKey(r));
      return out;
    };
    auto desired = into(want.chain("nat", top)), kernel = into(dump.chain("nat", top));
    if (desired == kernel) continue;
    ++k.driftCount;
    for (const auto& key : desired)
      if (!kernel.count(key)) k.diff.push_back(std::string("- nat ") + top + " (desired): " + key);
    for (const auto& key : kernel)
      if (!desired.count(key)) k.diff.push_back(std::string("+ nat ") + top + " (kernel): " + key);
  }
}

void nftablesKernel(KernelView& k, const Target& t, const NftSource& src, bool dstLocal) {
  bool v6 = t.ip.family == model::IPFamily::kIPv6;
  k.mode = "nftables";
  auto res = iptables::runProcess({"nft", "-j", "list", "table", v6 ? "ip6" : "ip", "kube-proxy"}, "");
  if (!res) {
    k.error = "nft: " + res.error();
    return;
  }
  NftView view;
  std::string why;
  if (res.value().exitCode != 0) {
    k.untouched = 1;
    k.paths.push_back("table " + std::string(v6 ? "ip6" : "ip") + " kube-proxy does not exist");
    return;
  }
  if (!parseNftJson(res.value().out, view, why)) {
    k.error = why;
    return;
  }
  json paths = json::array();
  for (const auto& o : evaluateNft(view, t, src, dstLocal)) {
    std::string fate;
    switch (o.fate) {
      case NftOutcome::Fate::kDnat: fate = "DNAT " + o.dnatTo; k.dnatTargets.insert(o.dnatTo); break;
      case NftOutcome::Fate::kReject: fate = "REJECT"; ++k.rejects; break;
      case NftOutcome::Fate::kDrop: fate = "DROP"; ++k.drops; break;
      case NftOutcome::Fate::kAccept: fate = "no NAT: the packet goes to " + t.str() + " itself"; ++k.untouched; break;
    }
    std::string steps;
    for (const auto& s : o.steps) steps += (steps.empty() ? "" : " -> ") + s;
    k.paths.push_back(percent(o.probability) + "  " + fate + (o.masquerade ? ", masqueraded" : "") +
                      (steps.empty() ? "" : "  via " + steps));
    paths.push_back({{"probability", o.probability}, {"fate", fate}, {"masquerade", o.masquerade}, {"steps", o.steps}});
    if (o.affinityNote) k.notes.push_back("session affinity: a client seen before goes back to its previous endpoint");
  }
  k.j["paths"] = paths;
}

// IPVS mode: read through kproxy's own clients (netlink, rtnetlink, libipset).
void ipvsKernel(KernelView& k, const dataplane::ProxyOptions& opts, const Finding& f, const Target& t) {
  k.mode = "ipvs";
  auto client = ipvs::NetlinkIpvsClient::open();
  if (!client) {
    k.error = client.error();
    return;
  }
  IpvsView view;
  auto servers = client.value()->list();
  if (!servers) {
    k.error = servers.error();
    return;
  }
  view.servers = std::move(servers).value();
  ipvs::NetlinkDummyLink link;
  view.deviceExists = link.exists();
  if (auto a = link.addresses(t.ip.family)) view.deviceAddresses = a.value();
  ipvs::LibIpsetClient ipsets;
  if (auto s = ipsets.list(t.ip.family == model::IPFamily::kIPv6 ? "KUBE-6-" : "KUBE-")) view.sets = s.value();

  std::optional<ipvs::Fragment> desired;
  if (f.port) {
    ipvs::IpvsOptions io;
    io.proxy = opts;
    dataplane::PortList one;
    one.push_back(*f.port);
    std::set<std::string> local;
    if (auto other = link.otherLocalAddresses(t.ip.family)) local = other.value();
    // Node addresses count as local even when this namespace is not the node's (a dry run).
    for (const auto& ip : opts.nodeIPs)
      if (auto parsed = net::parseIP(ip)) local.insert(parsed->str());
    // Planned as the daemon plans (no NodePorts on loopback addresses).
    desired = ipvs::planPorts({one.begin(), one.end()}, ipvs::withLocalNodeIPs(io, local), local);
  }
  IpvsEvaluation ev = evaluateIpvs(view, t, desired ? &*desired : nullptr);
  if (!ev.server.empty()) k.notes.insert(k.notes.begin(), "virtual server " + ev.server);
  if (!view.deviceExists) k.notes.push_back("kube-ipvs0 does not exist");
  json paths = json::array();
  for (const auto& o : ev.outcomes) {
    std::string fate;
    switch (o.fate) {
      case IpvsOutcome::Fate::kDnat: fate = "DNAT " + o.dnatTo; k.dnatTargets.insert(o.dnatTo); break;
      case IpvsOutcome::Fate::kReject: fate = "REJECT"; ++k.rejects; break;
      case IpvsOutcome::Fate::kAccept: fate = "no NAT: the packet goes to " + t.str() + " itself"; ++k.untouched; break;
    }
    k.paths.push_back(percent(o.probability) + "  " + fate + "  (" + o.detail + ")");
    paths.push_back({{"probability", o.probability}, {"fate", fate}, {"detail", o.detail}});
  }
  k.notes.insert(k.notes.end(), ev.notes.begin(), ev.notes.end());
  k.diff = ev.diff;
  k.driftCount = ev.diff.size();
  k.j["paths"] = paths;
  k.j["virtualServer"] = ev.server;
  k.j["notes"] = ev.notes;
}

}  // namespace

int runTrace(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  TraceOptions o;
  auto usage = [&](const std::string& msg) {
    err << "kproxy trace: " << msg << "\n(see kproxy trace --help)\n";
    return 2;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    } else if (a == "--kernel") {
      o.kernel = true;
    } else if (a == "--probe") {
      o.probe = true;
    } else if (a == "--from") {
      const std::string* v = value();
      if (!v) return usage("--from needs an IP address");
      auto ip = net::parseIP(*v);
      if (!ip) return usage("--from: \"" + *v + "\" is not an IP address");
      o.from = *ip;
    } else if (a == "-o" || a == "--output") {
      const std::string* v = value();
      if (!v || (*v != "json" && *v != "text")) return usage("-o takes json or text");
      o.json = *v == "json";
    } else if (a == "--timeout") {
      const std::string* v = value();
      if (!v || std::atoi(v->c_str()) <= 0) return usage("--timeout takes milliseconds");
      o.timeoutMs = std::atoi(v->c_str());
    } else if (a == "--healthz-address") {
      const std::string* v = value();
      if (!v) return usage("--healthz-address needs HOST:PORT");
      o.healthz = *v;
    } else if (a.rfind("-", 0) != 0 && o.target.empty()) {
      o.target = a;
    } else {
      o.daemonArgs.push_back(a);  // the daemon's flags and their values
    }
  }
  if (o.target.empty()) return usage("which address? kproxy trace IP:PORT[/tcp|udp|sctp]");
  std::string why;
  auto target = parseTarget(o.target, why);
  if (!target) return usage(o.target + ": " + why);
  if (o.from && o.from->family != target->ip.family) return usage("--from and the target are of different IP families");
  auto parsed = daemon::parseDaemonFlags(o.daemonArgs);
  if (!parsed) return usage(parsed.error());
  const daemon::DaemonFlags& flags = parsed.value();
  const auto& cfg = flags.config;
  if (o.healthz.empty()) o.healthz = cfg.healthzBindAddress.empty() ? "127.0.0.1:10256" : cfg.healthzBindAddress;
  log::setVerbosity(cfg.logging.verbosity);

  std::string node = daemon::nodeNameFrom(cfg);
  dataplane::ClusterState cluster(node);
  if (Status s = loadCluster(flags, node, cluster); !s) {
    err << "kproxy trace: " << s.message() << "\n";
    return 2;
  }
  auto opts = daemon::proxyOptionsFor(cfg, target->ip.family);
  dataplane::DesiredState state = cluster.buildDesired(target->ip.family);
  std::vector<net::IPAddress> nodeAddrs;
  for (const auto& a : opts.nodeIPs)
    if (auto ip = net::parseIP(a)) nodeAddrs.push_back(*ip);
  Finding f = lookup(state, *target, cluster.nodeContext(), nodeAddrs);

  json j;
  j["target"] = target->str();
  j["node"] = node;
  std::string verdict = f.verdict;
  bool ok = f.reachable;
  std::vector<std::string> lines;  // after the verdict

  if (f.port) {
    const auto& p = *f.port;
    lines.push_back("service:   " + p.nameString + " (" + addressKindName(f.kind) + " " + target->str() + ")");
    lines.push_back(std::string("policies:  internalTrafficPolicy ") + (p.internalPolicyLocal ? "Local" : "Cluster") +
                    ", externalTrafficPolicy " + (p.externalPolicyLocal ? "Local" : "Cluster") + ", sessionAffinity " +
                    (p.affinityClientIP ? "ClientIP (" + std::to_string(p.stickySeconds) + "s)" : std::string("None")));
    lines.push_back("endpoints: " + std::to_string(p.endpoints.size()) + (p.endpoints.empty() ? "" : ":"));
    json eps = json::array();
    for (const auto& v : f.endpoints) {
      const auto& e = *v.endpoint;
      std::string state = e.ready ? "ready" : e.terminating ? (e.serving ? "terminating (serving)" : "terminating") : "not ready";
      char buf[256];
      std::snprintf(buf, sizeof buf, "  %-24s %-22s %-10s %-10s ", e.hostPort.c_str(), state.c_str(),
                    e.nodeName.empty() ? "-" : e.nodeName.c_str(), e.zone.empty() ? "-" : e.zone.c_str());
      lines.push_back(std::string(buf) + (v.used ? "used" : "not used: " + v.whyNot));
      eps.push_back({{"address", e.hostPort}, {"ready", e.ready}, {"serving", e.serving}, {"terminating", e.terminating},
                     {"node", e.nodeName}, {"zone", e.zone}, {"local", e.local}, {"used", v.used}, {"whyNot", v.whyNot}});
    }
    j["service"] = {{"name", p.nameString}, {"kind", addressKindName(f.kind)},
                    {"internalTrafficPolicy", p.internalPolicyLocal ? "Local" : "Cluster"},
                    {"externalTrafficPolicy", p.externalPolicyLocal ? "Local" : "Cluster"},
                    {"sessionAffinity", p.affinityClientIP ? "ClientIP" : "None"}};
    j["endpoints"] = eps;
  } else {
    j["service"] = nullptr;
    for (const auto& m : f.nearMisses) lines.push_back("this address has: " + m);
    j["sameAddress"] = f.nearMisses;
  }

  if (o.kernel) {
    KernelView k;
    bool fromNode = !o.from || std::find(nodeAddrs.begin(), nodeAddrs.end(), *o.from) != nodeAddrs.end();
    // The node's own address: its first non-loopback one, else loopback.
    net::IPAddress src = o.from ? *o.from : nodeAddrs.empty() ? target->ip : nodeAddrs.front();
    if (!o.from)
      for (const auto& a : nodeAddrs)
        if (!a.isLoopback()) {
          src = a;
          break;
        }
    bool dstLocal = std::find(nodeAddrs.begin(), nodeAddrs.end(), target->ip) != nodeAddrs.end();
    if (cfg.mode == "nftables") {
      nftablesKernel(k, *target, NftSource{src, fromNode}, dstLocal);
    } else if (cfg.mode == "ipvs") {
      ipvsKernel(k, opts, f, *target);
    } else {
      Packet pkt{src, target->ip, target->proto, target->port, fromNode, nodeAddrs};
      iptablesKernel(k, flags, opts, state, f, *target, pkt);
    }
    if (!k.error.empty()) {
      err << "kproxy trace: reading the kernel: " << k.error << "\n";
      return 2;
    }
    lines.push_back("kernel:    " + k.mode + ", a new connection from " + src.str() + (fromNode ? " (this node)" : "") + ":");
    for (const auto& p : k.paths) lines.push_back("  " + p);
    std::vector<std::string> notes;  // in order, once each
    for (const auto& n : k.notes)
      if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
    for (const auto& n : notes) lines.push_back("  note: " + n);
    // Desired and kernel against each other.
    std::set<std::string> want(f.usedHostPorts.begin(), f.usedHostPorts.end());
    if (f.reachable && k.dnatTargets.empty() && k.rejects == 0 && k.drops == 0) {
      verdict = "unreachable: rules for " + target->str() + " missing in the kernel: " + lastSync(o.healthz);
      ok = false;
    } else if (f.reachable && (k.dnatTargets != want || k.rejects || k.drops || k.driftCount)) {
      size_t n = k.driftCount ? k.driftCount : 1;
      if (cfg.mode == "nftables") {
        n = 0;
        for (const auto& w : want)
          if (!k.dnatTargets.count(w)) ++n, k.diff.push_back("- endpoint " + w + " (desired) not in the kernel's maps");
        for (const auto& g : k.dnatTargets)
          if (!want.count(g)) ++n, k.diff.push_back("+ endpoint " + g + " (kernel) not desired");
        if (k.rejects || k.drops) ++n, k.diff.push_back("+ the kernel rejects or drops some connections");
        n = std::max<size_t>(n, 1);
      }
      // iptables counts chains; nftables and IPVS count entries (map elements, destinations, ...).
      const bool entries = cfg.mode == "nftables" || cfg.mode == "ipvs";
      verdict = "drift: kernel differs from the desired state in " + std::to_string(n) + " " +
                (entries ? (n == 1 ? "entry" : "entries") : (n == 1 ? "chain" : "chains"));
      ok = false;
    } else if (!f.reachable && f.port && !k.dnatTargets.empty()) {
      verdict = "drift: the kernel still sends " + target->str() + " to " + *k.dnatTargets.begin() +
                (k.dnatTargets.size() > 1 ? " and " + std::to_string(k.dnatTargets.size() - 1) + " more" : "") +
                "; desired: " + f.verdict.substr(f.verdict.find(':') + 2);
      ok = false;
    }
    for (const auto& d : k.diff) lines.push_back("  " + d);
    j["kernel"] = k.j;
    j["kernel"]["mode"] = k.mode;
    j["kernel"]["diff"] = k.diff;
    // Conntrack.
    size_t total = 0;
    std::string ctErr;
    auto flows = flowsTo(*target, 10, &total, &ctErr);
    if (!ctErr.empty()) {
      lines.push_back("conntrack: " + ctErr);
    } else {
      lines.push_back("conntrack: " + std::to_string(total) + " entr" + (total == 1 ? "y" : "ies") + " for " + target->str() +
                      (total > flows.size() ? " (first " + std::to_string(flows.size()) + ")" : ""));
      json fl = json::array();
      for (const auto& fw : flows) {
        lines.push_back("  " + fw.proto + " " + fw.origSrc + " -> " + fw.origDst + " answered by " + fw.replySrc +
                        (fw.state.empty() ? "" : " " + fw.state));
        fl.push_back({{"protocol", fw.proto}, {"source", fw.origSrc}, {"destination", fw.origDst}, {"replyFrom", fw.replySrc},
                      {"state", fw.state}});
      }
      j["conntrack"] = {{"total", total}, {"entries", fl}};
    }
  }

  if (o.probe) {
    std::optional<net::IPAddress> bindTo;
    if (o.from && std::find(nodeAddrs.begin(), nodeAddrs.end(), *o.from) != nodeAddrs.end()) bindTo = o.from;
    ProbeResult r = probe(*target, bindTo, o.timeoutMs);
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.2f ms", r.seconds * 1000);
    if (r.answered)
      lines.push_back("probe:     answered" + (r.endpoint.empty() ? std::string() : " by " + r.endpoint) + " in " + ms +
                      " (from " + r.local + ")");
    else
      lines.push_back("probe:     no answer: " + r.error + " (from " + r.local + ")");
    j["probe"] = {{"answered", r.answered}, {"error", r.error}, {"seconds", r.seconds}, {"endpoint", r.endpoint},
                  {"from", r.local}};
  }

  j["verdict"] = verdict;
  j["reachable"] = ok;
  if (o.json) {
    out << j.dump(2) << "\n";
  } else {
    out << verdict << "\n";
    for (const auto& l : lines) out << l << "\n";
  }
  return ok ? 0 : 1;
}

}  // namespace kproxy::trace
