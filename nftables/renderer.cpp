#include "nftables/renderer.h"

#include <map>
#include <set>

#include "nftables/names.h"

namespace kproxy::nftables {

using dataplane::PortPlan;
using dataplane::ServicePortInfo;

namespace {

constexpr int kDstnat = -100, kSrcnat = 100;

net::Cidr hostCidr(const net::IPAddress& ip) {
  return {ip, ip.family == IPFamily::kIPv4 ? 32 : 128};
}

Rule rule(std::vector<Stmt> stmts, std::string comment = {}) { return Rule{std::move(stmts), std::move(comment)}; }

// Where traffic with nowhere to go ends: reject (no endpoints at all) or drop (none here).
Verdict filterVerdict(PortPlan::Filter f) {
  return f == PortPlan::Filter::kReject ? Verdict::go(kRejectChain) : Verdict::drop();
}

// The chains one service builds, by name, in creation order.
class ChainSet {
 public:
  Chain& get(const std::string& name) {
    auto it = index_.find(name);
    if (it != index_.end()) return chains_[it->second];
    index_[name] = chains_.size();
    chains_.push_back(Chain{name, std::nullopt, {}, {}});
    return chains_.back();
  }
  std::vector<Chain> take() { return std::move(chains_); }

 private:
  std::vector<Chain> chains_;
  std::map<std::string, size_t> index_;
};

}  // namespace

Renderer::Renderer(dataplane::ProxyOptions options) : options_(std::move(options)), mark_(1u << options_.masqueradeBit) {}

Table Renderer::base() const {
  const IPFamily f = options_.family;
  Table t;
  t.family = f;
  t.comment = "rules for kube-proxy";
  const bool matchAllNodePorts = options_.nodePortAddresses.empty();

  t.sets.push_back({kClusterIPsSet, KeyType::kAddr, false, false, 0, "Active ClusterIPs"});
  if (!matchAllNodePorts) t.sets.push_back({kNodePortIPsSet, KeyType::kAddr, false, false, 0, "IPs that accept NodePort traffic"});
  t.sets.push_back({kEndpointHairpinSet, KeyType::kAddrPair, false, false, 0,
                    "endpoint . endpoint: a pod reaching itself through a Service is masqueraded"});
  t.sets.push_back({kNoEndpointServicesMap, KeyType::kAddrProtoPort, true, false, 0,
                    "vmap to drop or reject packets to services with no endpoints"});
  t.sets.push_back({kNoEndpointNodePortsMap, KeyType::kProtoPort, true, false, 0,
                    "vmap to drop or reject packets to service nodeports with no endpoints"});
  t.sets.push_back({kFirewallIPsMap, KeyType::kAddrProtoPort, true, false, 0,
                    "destinations that are subject to LoadBalancerSourceRanges"});
  t.sets.push_back({kServiceIPsMap, KeyType::kAddrProtoPort, true, false, 0,
                    "ClusterIP, ExternalIP and LoadBalancer IP traffic"});
  t.sets.push_back({kServiceNodePortsMap, KeyType::kProtoPort, true, false, 0, "NodePort traffic"});
  auto endpointMap = [&](const char* name, KeyType key, const char* comment) {
    Set m{name, key, false, false, 0, comment};
    m.endpointMap = true;
    t.sets.push_back(m);
  };
  endpointMap(kClusterEndpointsMap, KeyType::kAddrProtoPortIndex, "Cluster-policy endpoints of each service destination");
  endpointMap(kLocalEndpointsMap, KeyType::kAddrProtoPortIndex, "Local-policy endpoints of each service destination");
  endpointMap(kNodePortClusterEndpointsMap, KeyType::kProtoPortIndex, "Cluster-policy endpoints of each NodePort");
  endpointMap(kNodePortLocalEndpointsMap, KeyType::kProtoPortIndex, "Local-policy endpoints of each NodePort");

  auto baseChain = [&](const char* name, const char* type, const char* hook, int prio) {
    t.chains.push_back(Chain{name, BaseHook{type, hook, prio}, {}, {}});
  };
  // Filters see destinations before DNAT (dstnat - 10); cluster-ips-check after it (+ 10).
  baseChain("filter-prerouting", "filter", "prerouting", kDstnat - 10);
  baseChain("filter-input", "filter", "input", kDstnat - 10);
  baseChain("filter-forward", "filter", "forward", kDstnat - 10);
  baseChain("filter-output", "filter", "output", kDstnat - 10);
  baseChain("filter-output-post-dnat", "filter", "output", kDstnat + 10);
  baseChain("nat-prerouting", "nat", "prerouting", kDstnat);
  baseChain("nat-output", "nat", "output", kDstnat);
  baseChain("nat-postrouting", "nat", "postrouting", kSrcnat);
  auto chain = [&](const std::string& name) -> Chain& {
    for (auto& c : t.chains)
      if (c.name == name) return c;
    t.chains.push_back(Chain{name, std::nullopt, {}, {}});
    return t.chains.back();
  };
  // The jumps from the hooks, in upstream's order.
  struct Jump {
    const char* to;
    const char* from;
    bool newOnly;
  };
  for (const Jump& j : {Jump{kNodePortEndpointsCheckChain, "filter-input", true},
                        Jump{kServiceEndpointsCheckChain, "filter-input", true},
                        Jump{kServiceEndpointsCheckChain, "filter-forward", true},
                        Jump{kServiceEndpointsCheckChain, "filter-output", true},
                        Jump{kFirewallCheckChain, "filter-prerouting", true},
                        Jump{kFirewallCheckChain, "filter-output", true},
                        Jump{kServicesChain, "nat-output", false},
                        Jump{kServicesChain, "nat-prerouting", false},
                        Jump{kMasqueradingChain, "nat-postrouting", false},
                        Jump{kClusterIPsCheckChain, "filter-forward", true},
                        Jump{kClusterIPsCheckChain, "filter-output-post-dnat", true}}) {
    std::vector<Stmt> s;
    if (j.newOnly) s.push_back(Stmt::ctStateNew());
    s.push_back(Stmt::verdictOf(Verdict::jump(j.to)));
    chain(j.from);
    chain(j.to);
    chain(j.from).rules.push_back(rule(std::move(s)));
  }

  auto nodePortMatch = [&]() -> std::vector<Stmt> {
    if (!matchAllNodePorts) return {Stmt::addrInSet(false, kNodePortIPsSet)};
    auto loopback = f == IPFamily::kIPv4 ? *net::parseCidr("127.0.0.0/8") : *net::parseCidr("::1/128");
    return {Stmt::fibLocal(false), Stmt::addr(false, loopback, true)};
  };

  auto& services = chain(kServicesChain);
  services.rules.push_back(rule({Stmt::vmapAddrProtoPort(kServiceIPsMap)}));
  auto np = nodePortMatch();
  np.push_back(Stmt::vmapProtoPort(kServiceNodePortsMap));
  services.rules.push_back(rule(np));

  // Ours first: hairpin without a per-endpoint chain. Then upstream's mark-based masquerade.
  auto& masq = chain(kMasqueradingChain);
  masq.rules.push_back(rule({Stmt::ctStatusDnat(), Stmt::addrPairInSet(kEndpointHairpinSet), Stmt::masquerade()},
                            "hairpin: a pod reaching itself through a Service"));
  masq.rules.push_back(rule({Stmt::markClear(mark_), Stmt::verdictOf(Verdict::ret())}));
  masq.rules.push_back(rule({Stmt::markXor(mark_)}));
  masq.rules.push_back(rule({Stmt::masquerade()}));
  chain(kMarkMasqChain).rules.push_back(rule({Stmt::markOr(mark_)}));
  auto& reject = chain(kRejectChain);
  reject.comment = "helper for @no-endpoint-services / @no-endpoint-nodeports";
  reject.rules.push_back(rule({Stmt::reject()}));

  chain(kServiceEndpointsCheckChain).rules.push_back(rule({Stmt::vmapAddrProtoPort(kNoEndpointServicesMap)}));
  // Hooked from input only, so the destination is local already.
  std::vector<Stmt> npCheck;
  if (matchAllNodePorts) {
    npCheck.push_back(nodePortMatch()[1]);
  } else {
    npCheck.push_back(Stmt::addrInSet(false, kNodePortIPsSet));
  }
  npCheck.push_back(Stmt::vmapProtoPort(kNoEndpointNodePortsMap));
  chain(kNodePortEndpointsCheckChain).rules.push_back(rule(npCheck));
  chain(kFirewallCheckChain).rules.push_back(rule({Stmt::vmapAddrProtoPort(kFirewallIPsMap)}));
  chain(kClusterIPsCheckChain)
      .rules.push_back(rule({Stmt::addrInSet(false, kClusterIPsSet), Stmt::reject()},
                            "Reject traffic to invalid ports of ClusterIPs"));
  // Upstream writes one rule with an anonymous set of the ranges; one rule per range (at most a
  // few) drops the same packets without anonymous interval sets in our codec.
  for (const auto& c : options_.serviceCIDRs)
    chain(kClusterIPsCheckChain)
        .rules.push_back(rule({Stmt::addr(false, c), Stmt::verdictOf(Verdict::drop())}, "Drop traffic to unallocated ClusterIPs"));

  if (!matchAllNodePorts)
    for (const auto& s : options_.nodeIPs) {
      auto ip = net::parseIP(s);
      if (!ip || ip->family != f || ip->isLoopback()) continue;  // no localhost NodePorts in nftables mode
      for (const auto& c : options_.nodePortAddresses)
        if (c.contains(*ip)) {
          Element e;
          e.set = kNodePortIPsSet;
          e.key.a = *ip;
          t.elements.push_back(e);
          break;
        }
    }
  return t;
}

void Renderer::renderPort(const ServicePortInfo& p, ServiceObjects& out) const {
  const PortPlan plan = dataplane::planPort(p);
  const std::string base = servicePortNameBase(p.name);
  const std::string svcChain = std::string(kServicePrefix) + base;
  const std::string localChain = std::string(kLocalPrefix) + base;
  const std::string extChain = std::string(kExternalPrefix) + base;
  const std::string fwChain = std::string(kFirewallPrefix) + base;
  const std::string& internalChain = p.internalPolicyLocal ? localChain : svcChain;
  const std::string& externalPolicyChain = p.externalPolicyLocal ? localChain : svcChain;
  const std::string& comment = p.nameString;
  auto clusterIP = net::parseIP(p.clusterIP);
  if (!clusterIP) return;  // decoding guarantees it; be safe anyway

  auto element = [&](const char* set, const net::IPAddress* ip, uint16_t port, Verdict v, bool withComment) {
    Element e;
    e.set = set;
    if (ip) e.key.a = *ip;
    e.key.proto = p.protocol;
    e.key.port = port;
    e.value = std::move(v);
    if (withComment) e.comment = comment;
    out.elements.push_back(std::move(e));
  };

  // The ClusterIP.
  {
    Element e;
    e.set = kClusterIPsSet;
    e.key.a = *clusterIP;
    out.elements.push_back(e);
  }
  if (plan.hasInternalEndpoints)
    element(kServiceIPsMap, &*clusterIP, p.port, Verdict::go(internalChain), false);
  else
    element(kNoEndpointServicesMap, &*clusterIP, p.port, filterVerdict(plan.internalFilter), true);

  // External IPs.
  for (const auto& s : p.externalIPs) {
    auto ip = net::parseIP(s);
    if (!ip) continue;
    if (plan.hasEndpoints) element(kServiceIPsMap, &*ip, p.port, Verdict::go(extChain), false);
    if (!plan.hasExternalEndpoints)
      element(kNoEndpointServicesMap, &*ip, p.port, filterVerdict(plan.externalFilter), true);
  }

  ChainSet chains;
  // loadBalancerSourceRanges: checked in filter prerouting/output, before DNAT.
  if (plan.usesFirewallChain) {
    auto& fw = chains.get(fwChain);
    auto nodeIP = options_.nodeIP();
    bool allowFromNode = false;
    for (const auto& s : p.loadBalancerSourceRanges) {
      auto cidr = net::parseCidr(s);
      if (!cidr) continue;
      fw.rules.push_back(rule({Stmt::addr(true, *cidr), Stmt::verdictOf(Verdict::ret())}));
      allowFromNode = allowFromNode || (nodeIP && cidr->contains(*nodeIP));
    }
    // A VIP often is local too: the node reaching it loops back with the VIP as its source.
    if (allowFromNode)
      for (const auto& s : p.loadBalancerVIPs)
        if (auto ip = net::parseIP(s)) fw.rules.push_back(rule({Stmt::addr(true, hostCidr(*ip)), Stmt::verdictOf(Verdict::ret())}));
    fw.rules.push_back(rule({Stmt::verdictOf(Verdict::drop())}));
  }

  // Load-balancer IPs.
  for (const auto& s : p.loadBalancerVIPs) {
    auto ip = net::parseIP(s);
    if (!ip) continue;
    if (plan.hasEndpoints) element(kServiceIPsMap, &*ip, p.port, Verdict::go(extChain), false);
    if (plan.usesFirewallChain) element(kFirewallIPsMap, &*ip, p.port, Verdict::go(fwChain), true);
    if (!plan.hasExternalEndpoints)
      element(kNoEndpointServicesMap, &*ip, p.port, filterVerdict(plan.externalFilter), true);
  }

  // NodePorts.
  if (p.nodePort != 0) {
    if (plan.hasEndpoints) element(kServiceNodePortsMap, nullptr, p.nodePort, Verdict::go(extChain), false);
    if (!plan.hasExternalEndpoints)
      element(kNoEndpointNodePortsMap, nullptr, p.nodePort, filterVerdict(plan.externalFilter), true);
  }

  // Off-cluster traffic to a ClusterIP (a static route to any node) may bounce off-node: masquerade.
  const dataplane::LocalMatch local = options_.localMatch();
  // The detect-local match as a statement: "ip saddr [!=] CIDR" or "iifname [!=] NAME[*]".
  auto localStmt = [&](bool negate) {
    return local.kind == dataplane::LocalMatch::Kind::kCidr
               ? Stmt::addr(true, local.cidr, negate)
               : Stmt::iifname(local.interface, local.kind == dataplane::LocalMatch::Kind::kInterfacePrefix, negate);
  };
  if (plan.hasInternalEndpoints && (options_.masqueradeAll || local)) {
    std::vector<Stmt> s = {Stmt::addr(false, hostCidr(*clusterIP)), Stmt::dport(p.protocol, p.port)};
    if (!options_.masqueradeAll) s.push_back(localStmt(true));
    s.push_back(Stmt::verdictOf(Verdict::jump(kMarkMasqChain)));
    chains.get(internalChain).rules.push_back(rule(std::move(s)));
  }

  if (plan.usesExternalChain) {
    auto& ext = chains.get(extChain);
    if (!p.externalPolicyLocal) {
      // Cluster policy may cross nodes: masquerade so that replies come back through us.
      ext.rules.push_back(rule({Stmt::verdictOf(Verdict::jump(kMarkMasqChain))}));
    } else {
      const std::string shortCircuit = plan.usesClusterChain ? svcChain : plan.usesLocalChain ? localChain : "";
      // Pods reaching an external IP skip the policy, as if through an outside load balancer.
      if (local && !shortCircuit.empty())
        ext.rules.push_back(rule({localStmt(false), Stmt::verdictOf(Verdict::go(shortCircuit))},
                                 "short-circuit pod traffic"));
      ext.rules.push_back(rule({Stmt::fibLocal(true), Stmt::verdictOf(Verdict::jump(kMarkMasqChain))},
                               "masquerade local traffic"));
      if (!shortCircuit.empty())
        ext.rules.push_back(rule({Stmt::fibLocal(true), Stmt::verdictOf(Verdict::go(shortCircuit))},
                                 "short-circuit local traffic"));
    }
    if (plan.hasExternalEndpoints) ext.rules.push_back(rule({Stmt::verdictOf(Verdict::go(externalPolicyChain))}));
  }

  // Endpoint selection.
  std::vector<std::string> epBase(p.endpoints.size());
  std::vector<DnatTarget> target(p.endpoints.size());
  for (size_t i : p.reachableEndpoints) {
    epBase[i] = p.affinityClientIP ? endpointNameBase(p.name, p.endpoints[i].ip, p.endpoints[i].port) : "";
    if (auto ip = net::parseIP(p.endpoints[i].ip)) target[i] = {*ip, p.endpoints[i].port};
  }
  // Every destination of the port, as the endpoint maps key it (no address: the NodePort).
  std::vector<std::pair<std::optional<net::IPAddress>, uint16_t>> dests = {{*clusterIP, p.port}};
  for (const auto* list : {&p.externalIPs, &p.loadBalancerVIPs})
    for (const auto& s : *list)
      if (auto ip = net::parseIP(s)) dests.push_back({*ip, p.port});
  if (p.nodePort) dests.push_back({std::nullopt, p.nodePort});
  auto writeEndpoints = [&](const std::string& chainName, const std::vector<size_t>& eps, bool local) {
    auto& c = chains.get(chainName);
    if (eps.empty()) return;
    if (p.affinityClientIP) {
      std::vector<std::string> targets;
      for (size_t i : eps) {
        std::string epChain = std::string(kEndpointPrefix) + epBase[i];
        c.rules.push_back(rule({Stmt::addrInSet(true, std::string(kAffinityPrefix) + epBase[i]),
                                Stmt::verdictOf(Verdict::go(epChain))}));
        targets.push_back(epChain);
      }
      if (targets.size() == 1)
        c.rules.push_back(rule({Stmt::verdictOf(Verdict::go(targets[0]))}));
      else
        c.rules.push_back(rule({Stmt::vmapRandom(std::move(targets))}));
      return;
    }
    std::string dnat = dnatChainName(local, static_cast<uint32_t>(eps.size()));
    c.rules.push_back(rule({Stmt::verdictOf(Verdict::go(dnat))}));
    out.sharedChains.push_back(dnat);
    for (const auto& [ip, port] : dests)
      for (uint32_t k = 0; k < eps.size(); ++k) {
        Element e;
        e.set = ip ? (local ? kLocalEndpointsMap : kClusterEndpointsMap)
                   : (local ? kNodePortLocalEndpointsMap : kNodePortClusterEndpointsMap);
        if (ip) e.key.a = *ip;
        e.key.proto = p.protocol;
        e.key.port = port;
        e.key.index = k;
        e.target = target[eps[k]];
        out.elements.push_back(std::move(e));
      }
  };
  if (plan.usesClusterChain) writeEndpoints(svcChain, p.clusterEndpoints, false);
  if (plan.usesLocalChain) writeEndpoints(localChain, p.localEndpoints, true);

  for (size_t i : p.reachableEndpoints) {
    Element hp;
    hp.set = kEndpointHairpinSet;
    hp.key.a = hp.key.b = target[i].ip;
    out.elements.push_back(hp);
    if (!p.affinityClientIP) continue;
    std::string setName = std::string(kAffinityPrefix) + epBase[i];
    out.sets.push_back({setName, KeyType::kAddr, false, true, static_cast<uint32_t>(p.stickySeconds), {}});
    auto& ep = chains.get(std::string(kEndpointPrefix) + epBase[i]);
    ep.rules.push_back(rule({Stmt::updateSaddr(setName)}));
    ep.rules.push_back(rule({Stmt::l4proto(p.protocol), Stmt::dnat(target[i])}));
  }

  for (auto& c : chains.take()) out.chains.push_back(std::move(c));
}

ServiceObjects Renderer::renderService(dataplane::PortList::Range ports) const {
  ServiceObjects out;
  for (const auto& p : ports) renderPort(p, out);
  return out;
}

std::string Renderer::dnatChainName(bool local, uint32_t n) {
  return std::string(local ? "dnat-local-" : "dnat-") + std::to_string(n);
}

Chain Renderer::dnatChain(const std::string& name) const {
  bool local = name.rfind("dnat-local-", 0) == 0;
  uint32_t n = static_cast<uint32_t>(std::stoul(name.substr(local ? 11 : 5)));
  Chain c{name, std::nullopt, {}, {}};
  c.rules.push_back(rule({Stmt::dnatKeyed(local ? kLocalEndpointsMap : kClusterEndpointsMap, n, false)}));
  c.rules.push_back(rule({Stmt::dnatKeyed(local ? kNodePortLocalEndpointsMap : kNodePortClusterEndpointsMap, n, true)}));
  return c;
}

Table Renderer::renderFull(const dataplane::DesiredState& state) const {
  Table t = base();
  std::set<std::pair<std::string, ElementKey>> seen;
  for (const auto& e : t.elements) seen.insert({e.set, e.key});
  // Chains in the order a full sync creates them (and `nft list` shows them): each shared dnat
  // chain just before the first Service that goes to it.
  std::set<std::string> shared;
  const auto& ports = state.ports;
  for (auto i = ports.begin(); i != ports.end();) {
    auto j = i;
    while (j != ports.end() && j->name.service == i->name.service) ++j;
    ServiceObjects s = renderService({i, j});
    i = j;
    for (const auto& name : s.sharedChains)
      if (shared.insert(name).second) t.chains.push_back(dnatChain(name));
    for (auto& x : s.sets) t.sets.push_back(std::move(x));
    for (auto& c : s.chains) t.chains.push_back(std::move(c));
    // A key two services claim (the same external IP and port) goes to the first, by name.
    for (auto& e : s.elements)
      if (seen.insert({e.set, e.key}).second) t.elements.push_back(std::move(e));
  }
  return t;
}

}  // namespace kproxy::nftables
