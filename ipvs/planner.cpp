#include "ipvs/planner.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "dataplane/ip.h"
#include "ipvs/ipvs_client.h"

namespace kproxy::ipvs {

const std::vector<SetInfo>& ipsetInfo() {
  static const std::vector<SetInfo> kSets = {
      {"KUBE-LOOP-BACK", "hash:ip,port,ip", "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"},
      {"KUBE-CLUSTER-IP", "hash:ip,port", "Kubernetes service cluster ip + port for masquerade purpose"},
      {"KUBE-EXTERNAL-IP", "hash:ip,port", "Kubernetes service external ip + port for masquerade and filter purpose"},
      {"KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port", "Kubernetes service external ip + port with externalTrafficPolicy=local"},
      {"KUBE-LOAD-BALANCER", "hash:ip,port", "Kubernetes service lb portal"},
      {"KUBE-LOAD-BALANCER-FW", "hash:ip,port", "Kubernetes service load balancer ip + port for load balancer with sourceRange"},
      {"KUBE-LOAD-BALANCER-LOCAL", "hash:ip,port", "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"},
      {"KUBE-LOAD-BALANCER-SOURCE-IP", "hash:ip,port,ip", "Kubernetes service load balancer ip + port + source IP for packet filter purpose"},
      {"KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net", "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"},
      {"KUBE-NODE-PORT-TCP", "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"},
      {"KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port", "Kubernetes nodeport TCP port with externalTrafficPolicy=local"},
      {"KUBE-NODE-PORT-UDP", "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"},
      {"KUBE-NODE-PORT-LOCAL-UDP", "bitmap:port", "Kubernetes nodeport UDP port with externalTrafficPolicy=local"},
      {"KUBE-NODE-PORT-SCTP-HASH", "hash:ip,port", "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"},
      {"KUBE-NODE-PORT-LOCAL-SCTP-HASH", "hash:ip,port", "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"},
      {"KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port", "Kubernetes health check node port"},
      {"KUBE-IPVS-IPS", "hash:ip", "Addresses on the ipvs interface"},
  };
  return kSets;
}

bool isSchedulerName(const std::string& name) {
  if (name.empty() || name.size() > 15) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

Status probeScheduler(IpvsClient& client, const std::string& scheduler) {
  Operation add;
  add.kind = OpKind::kAddService;
  add.server.key = ServiceKey{IPFamily::kIPv4, Protocol::kTCP, "198.51.100.1", 20000};
  add.server.scheduler = scheduler;
  ApplyResult r = client.apply({add});
  if (!r.ok())
    return Status::error("the kernel has no IPVS scheduler \"" + scheduler + "\" (load its module, ip_vs_" + scheduler +
                         "; schedulers of Linux: " + kSchedulerNames + "): " + r.errors.front());
  Operation del;
  del.kind = OpKind::kDeleteService;
  del.server.key = add.server.key;
  client.apply({del});
  return Status::ok();
}

ConnReuse connReuseModeFor(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return ConnReuse::kLeave;
  auto before = [&](int M, int m) { return major < M || (major == M && minor < m); };
  if (before(4, 1)) return ConnReuse::kUnsupported;
  if (!before(5, 9)) return ConnReuse::kLeave;
  return ConnReuse::kSetZero;
}

std::string setName(const char* ipv4Name, IPFamily family) {
  std::string n = ipv4Name;
  if (family == IPFamily::kIPv6) n = "KUBE-6-" + n.substr(5);
  // ipset names hold 31 characters: KUBE-6-LOAD-BALANCER-SOURCE-CIDR loses its last letter.
  if (n.size() > 31) n.resize(31);
  return n;
}

bool Fragment::operator==(const Fragment& o) const {
  if (addresses != o.addresses || sets != o.sets || nodeDenied != o.nodeDenied || servers.size() != o.servers.size())
    return false;
  for (auto a = servers.begin(), b = o.servers.begin(); a != servers.end(); ++a, ++b) {
    if (a->first != b->first || !a->second.server.sameSettings(b->second.server)) return false;
    const auto& da = a->second.destinations;
    const auto& db = b->second.destinations;
    if (da.size() != db.size()) return false;
    for (size_t i = 0; i < da.size(); ++i)
      if (!da[i].sameTarget(db[i]) || da[i].weight != db[i].weight) return false;
  }
  return true;
}

void Fragment::merge(const Fragment& o) {
  for (const auto& [k, s] : o.servers) servers.emplace(k, s);
  addresses.insert(o.addresses.begin(), o.addresses.end());
  for (const auto& [name, members] : o.sets) sets[name].insert(members.begin(), members.end());
  nodeDenied.insert(o.nodeDenied.begin(), o.nodeDenied.end());
}

IpvsOptions withLocalNodeIPs(const IpvsOptions& opts, const std::set<std::string>& local) {
  IpvsOptions out = opts;
  out.proxy.nodeIPs.clear();
  for (const auto& ip : opts.proxy.nodeIPs) {
    auto parsed = net::parseIP(ip);
    if (parsed && parsed->family == opts.proxy.family && local.count(parsed->str()) && !parsed->isLoopback())
      out.proxy.nodeIPs.push_back(parsed->str());
  }
  return out;
}

bool isOurs(const ServiceKey& key, const std::set<std::string>& bound, const std::set<std::string>& otherLocal,
            const std::map<std::string, std::set<std::string>>& sets) {
  if (bound.count(key.address)) return true;
  auto has = [&](const char* set, const std::string& member) {
    auto it = sets.find(setName(set, key.family));
    return it != sets.end() && it->second.count(member) > 0;
  };
  if (has("KUBE-IPVS-IPS", key.address)) return true;
  if (!otherLocal.count(key.address)) return false;
  const std::string port = std::to_string(key.port);
  switch (key.protocol) {
    case Protocol::kTCP: return has("KUBE-NODE-PORT-TCP", port);
    case Protocol::kUDP: return has("KUBE-NODE-PORT-UDP", port);
    case Protocol::kSCTP: return has("KUBE-NODE-PORT-SCTP-HASH", key.address + ",sctp:" + port);
  }
  return false;
}

Fragment planPorts(dataplane::PortList::Range ports, const IpvsOptions& opts, const std::set<std::string>& otherLocal) {
  const IPFamily family = opts.proxy.family;
  Fragment f;
  auto add = [&](const char* name, std::string member) { f.sets[setName(name, family)].insert(std::move(member)); };
  // Node addresses NodePorts answer on: nodePortAddresses filters them when given.
  std::vector<std::string> nodeIPs;
  for (const auto& ip : opts.proxy.nodeIPs) {
    auto parsed = net::parseIP(ip);
    if (!parsed || parsed->family != family) continue;
    bool allowed = opts.proxy.nodePortAddresses.empty();
    for (const auto& c : opts.proxy.nodePortAddresses) allowed = allowed || c.contains(*parsed);
    if (allowed) nodeIPs.push_back(ip);
  }
  const auto nodeIP = opts.proxy.nodeIP();
  for (const auto& p : ports) {
    const std::string proto = model::protocolLower(p.protocol);
    auto ipPort = [&](const std::string& ip, uint16_t port) { return ip + "," + proto + ":" + std::to_string(port); };
    auto dests = [&](bool local) {
      std::vector<Destination> out;
      for (size_t i : local ? p.localEndpoints : p.clusterEndpoints) {
        Destination d;
        d.address = p.endpoints[i].ip;
        d.port = p.endpoints[i].port;
        out.push_back(d);
      }
      return out;
    };
    auto server = [&](const std::string& ip, uint16_t port, bool local) {
      ObservedService s;
      s.server.key = ServiceKey{family, p.protocol, ip, port};
      s.server.scheduler = opts.scheduler;
      if (p.affinityClientIP) {
        s.server.flags = kFlagPersistent;
        s.server.timeout = static_cast<uint32_t>(p.stickySeconds);
      }
      s.destinations = dests(local);
      f.servers[s.server.key] = std::move(s);
    };
    auto bind = [&](const std::string& ip) {
      if (otherLocal.count(ip)) return;
      f.addresses.insert(ip);
      add("KUBE-IPVS-IPS", ip);
    };

    server(p.clusterIP, p.port, p.internalPolicyLocal);
    bind(p.clusterIP);
    add("KUBE-CLUSTER-IP", ipPort(p.clusterIP, p.port));
    for (const auto& ep : p.endpoints)
      if (ep.local) add("KUBE-LOOP-BACK", ep.ip + "," + proto + ":" + std::to_string(ep.port) + "," + ep.ip);
    for (const auto& ip : p.externalIPs) {
      server(ip, p.port, p.externalPolicyLocal);
      bind(ip);
      add(p.externalPolicyLocal ? "KUBE-EXTERNAL-IP-LOCAL" : "KUBE-EXTERNAL-IP", ipPort(ip, p.port));
    }
    for (const auto& ip : p.loadBalancerVIPs) {
      server(ip, p.port, p.externalPolicyLocal);
      bind(ip);
      add("KUBE-LOAD-BALANCER", ipPort(ip, p.port));
      if (p.externalPolicyLocal) add("KUBE-LOAD-BALANCER-LOCAL", ipPort(ip, p.port));
      if (!p.loadBalancerSourceRanges.empty()) {
        add("KUBE-LOAD-BALANCER-FW", ipPort(ip, p.port));
        // As upstream: when a source range holds the node's IP, traffic from the node to the LB
        // IP (looped back locally instead of reaching the balancer) is let through.
        bool allowFromNode = false;
        for (const auto& cidr : p.loadBalancerSourceRanges) {
          add("KUBE-LOAD-BALANCER-SOURCE-CIDR", ipPort(ip, p.port) + "," + cidr);
          auto c = net::parseCidr(cidr);
          allowFromNode = allowFromNode || (c && nodeIP && c->contains(*nodeIP));
        }
        if (allowFromNode) add("KUBE-LOAD-BALANCER-SOURCE-IP", ipPort(ip, p.port) + "," + ip);
        else f.nodeDenied.insert("-s " + ip + " -m ipvs --vaddr " + ip + " --vproto " + proto + " --vport " + std::to_string(p.port));
      }
    }
    if (p.nodePort != 0) {
      for (const auto& ip : nodeIPs) server(ip, p.nodePort, p.externalPolicyLocal);
      if (p.protocol == Protocol::kSCTP) {
        for (const auto& ip : nodeIPs) {
          add("KUBE-NODE-PORT-SCTP-HASH", ipPort(ip, p.nodePort));
          if (p.externalPolicyLocal) add("KUBE-NODE-PORT-LOCAL-SCTP-HASH", ipPort(ip, p.nodePort));
        }
      } else {
        bool tcp = p.protocol == Protocol::kTCP;
        add(tcp ? "KUBE-NODE-PORT-TCP" : "KUBE-NODE-PORT-UDP", std::to_string(p.nodePort));
        if (p.externalPolicyLocal) add(tcp ? "KUBE-NODE-PORT-LOCAL-TCP" : "KUBE-NODE-PORT-LOCAL-UDP", std::to_string(p.nodePort));
      }
    }
    if (p.healthCheckNodePort != 0) add("KUBE-HEALTH-CHECK-NODE-PORT", std::to_string(p.healthCheckNodePort));
  }
  return f;
}

Fragment planState(const dataplane::DesiredState& state, const IpvsOptions& opts, const std::set<std::string>& otherLocal,
                   std::map<model::NamespacedName, Fragment>* perService) {
  Fragment all;
  for (auto i = state.ports.begin(); i != state.ports.end();) {
    auto j = i;
    while (j != state.ports.end() && j->name.service == i->name.service) ++j;
    Fragment f = planPorts({i, j}, opts, otherLocal);
    all.merge(f);
    if (perService) perService->emplace(i->name.service, std::move(f));
    i = j;
  }
  return all;
}

std::string setCreateLines(IPFamily family) {
  std::string out;
  for (const auto& s : ipsetInfo()) {
    const std::string name = setName(s.name, family);
    if (std::string(s.type) == "bitmap:port") out += "create " + name + " bitmap:port range 0-65535 -exist\n";
    else
      out += "create " + name + " " + s.type + " family " + (family == IPFamily::kIPv6 ? "inet6" : "inet") +
             " hashsize 1024 maxelem 65536 -exist\n";
  }
  return out;
}

namespace detail {

void planServer(const ObservedService* want, const ObservedService* have, std::vector<Operation>& ops,
                const std::function<bool(const ServiceKey&, const Destination&)>& drainExpired) {
  if (!want) {
    Operation op;
    op.kind = OpKind::kDeleteService;
    op.server = have->server;
    ops.push_back(std::move(op));
    return;
  }
  auto destOp = [&](OpKind kind, const Destination& d, uint32_t weight) {
    Operation op;
    op.kind = kind;
    op.server = want->server;
    op.destination = d;
    op.destination.weight = weight;
    ops.push_back(std::move(op));
  };
  if (!have) {
    Operation op;
    op.kind = OpKind::kAddService;
    op.server = want->server;
    ops.push_back(std::move(op));
    for (const auto& d : want->destinations) destOp(OpKind::kAddDestination, d, d.weight);
    return;
  }
  if (!want->server.sameSettings(have->server)) {
    Operation op;
    op.kind = OpKind::kEditService;
    op.server = want->server;
    ops.push_back(std::move(op));
  }
  for (const auto& d : want->destinations) {
    const Destination* cur = nullptr;
    for (const auto& h : have->destinations)
      if (h.sameTarget(d)) cur = &h;
    if (!cur) destOp(OpKind::kAddDestination, d, d.weight);
    else if (cur->weight != d.weight) destOp(OpKind::kEditDestination, d, d.weight);
  }
  const bool drains = want->server.key.protocol != Protocol::kUDP;
  for (const auto& h : have->destinations) {
    if (hasTarget(want->destinations, h)) continue;
    if (!drains || drainExpired(want->server.key, h)) destOp(OpKind::kDeleteDestination, h, h.weight);
    else if (h.weight != 0) destOp(OpKind::kEditDestination, h, 0);
  }
}

}  // namespace detail

std::string formatServers(const std::map<ServiceKey, ObservedService>& servers) {
  std::ostringstream out;
  for (const auto& [key, s] : servers) {
    out << key.str() << " " << s.server.scheduler;
    if (s.server.persistent()) out << " persistent " << s.server.timeout;
    out << "\n";
    auto dests = s.destinations;
    std::sort(dests.begin(), dests.end(), [](const Destination& a, const Destination& b) { return a.str() < b.str(); });
    for (const auto& d : dests) out << "  -> " << d.str() << " Masq " << d.weight << "\n";
  }
  return out.str();
}

}  // namespace kproxy::ipvs
