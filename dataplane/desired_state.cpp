#include "dataplane/desired_state.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "dataplane/ip.h"

namespace kproxy::dataplane {

std::string ServicePortName::str() const {
  std::string s = service.str();
  if (!port.empty()) {
    s += ':';
    s += port;
  }
  return s;
}

void PortList::const_iterator::locate() {
  const auto& starts = list_->starts_;
  if (index_ >= list_->size_) {
    chunk_ = starts.size(), off_ = 0;
    return;
  }
  chunk_ = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), index_) - starts.begin()) - 1;
  off_ = index_ - starts[chunk_];
}

PortList::PortList(Vec ports) {
  if (!ports.empty()) {
    chunks_.push_back(std::make_shared<Vec>(std::move(ports)));
    mutable_ = true;
  }
  index();
}

PortList::PortList(std::vector<Chunk> chunks) {
  for (auto& c : chunks)
    if (c && !c->empty()) chunks_.push_back(std::move(c));
  index();
}

void PortList::index() {
  starts_.clear();
  size_ = 0;
  for (const auto& c : chunks_) {
    starts_.push_back(size_);
    size_ += c->size();
  }
}

const ServicePortInfo& PortList::at(size_t i) const {
  if (i >= size_) throw std::out_of_range("PortList::at");
  return (*this)[i];
}

PortList::Vec& PortList::own() {
  if (!mutable_ || chunks_.size() != 1 || chunks_.front().use_count() != 1) {
    auto all = std::make_shared<Vec>();
    all->reserve(size_);
    for (const auto& c : chunks_) all->insert(all->end(), c->begin(), c->end());
    chunks_.assign(1, all);
    mutable_ = true;
    index();
    return *all;
  }
  // Created by this list as a non-const Vec, and held by it alone.
  return const_cast<Vec&>(*chunks_.front());
}

void PortList::push_back(Ptr p) {
  own().push_back(std::move(p));
  index();
}

void PortList::sortByName() {
  if (empty()) return;
  Vec& v = own();
  std::sort(v.begin(), v.end(), [](const Ptr& a, const Ptr& b) { return a->name < b->name; });
}

ServicePortInfo& PortList::edit(size_t i) {
  if (i >= size_) throw std::out_of_range("PortList::edit");
  Vec& v = own();
  auto copy = std::make_shared<ServicePortInfo>(*v[i]);
  v[i] = copy;
  return *copy;
}

PortList::Range DesiredState::portsOf(const NamespacedName& svc) const {
  auto lo = std::lower_bound(ports.begin(), ports.end(), svc,
                             [](const ServicePortInfo& p, const NamespacedName& n) { return p.name.service < n; });
  auto hi = lo;
  while (hi != ports.end() && hi->name.service == svc) ++hi;
  return {lo, hi};
}

size_t DesiredState::endpointCount() const {
  size_t n = 0;
  for (const auto& p : ports) n += p.endpoints.size();
  return n;
}

namespace {

bool hasHint(const std::vector<std::string>& hints, const std::string& value) {
  return std::binary_search(hints.begin(), hints.end(), value);
}

enum class Topology { kNone, kSameZone, kSameNode };

// kube-proxy's topologyModeFromHints: PreferSameNode when every ready endpoint carries node hints
// and one is hinted for this node; else PreferSameZone when every ready endpoint carries zone
// hints and one is hinted for this node's zone; else none (traffic would black-hole otherwise).
Topology topologyMode(const ServicePortInfo& port, const NodeContext& node) {
  auto zoneIt = node.nodeLabels.find(model::kLabelTopologyZone);
  const std::string zone = zoneIt == node.nodeLabels.end() ? std::string() : zoneIt->second;
  bool anyReady = false, allNode = true, forNode = false, allZone = true, forZone = false;
  for (const auto& ep : port.endpoints) {
    if (!ep.ready) continue;
    anyReady = true;
    if (ep.nodeHints.empty()) allNode = false;
    else if (!node.nodeName.empty() && hasHint(ep.nodeHints, node.nodeName)) forNode = true;
    if (ep.zoneHints.empty()) allZone = false;
    else if (!zone.empty() && hasHint(ep.zoneHints, zone)) forZone = true;
  }
  if (!anyReady) return Topology::kNone;
  if (allNode && forNode) return Topology::kSameNode;
  if (allZone && forZone) return Topology::kSameZone;
  return Topology::kNone;
}

template <typename Pred>
std::vector<size_t> filterEndpoints(const std::vector<EndpointInfo>& eps, Pred pred) {
  std::vector<size_t> out;
  for (size_t i = 0; i < eps.size(); ++i)
    if (pred(eps[i])) out.push_back(i);
  return out;
}

}  // namespace

void categorizeEndpoints(ServicePortInfo& port, const NodeContext& node) {
  const auto& eps = port.endpoints;
  port.clusterEndpoints.clear();
  port.localEndpoints.clear();
  port.reachableEndpoints.clear();
  port.hasAnyEndpoints = false;

  if (port.usesClusterEndpoints()) {
    const Topology mode = topologyMode(port, node);
    const std::string zone = mode == Topology::kSameZone ? node.nodeLabels.at(model::kLabelTopologyZone) : std::string();
    port.clusterEndpoints = filterEndpoints(eps, [&](const EndpointInfo& ep) {
      if (!ep.ready) return false;
      if (mode == Topology::kSameNode) return hasHint(ep.nodeHints, node.nodeName);
      if (mode == Topology::kSameZone) return hasHint(ep.zoneHints, zone);
      return true;
    });
    // No ready endpoint anywhere: fall back to terminating ones that still serve.
    if (port.clusterEndpoints.empty())
      port.clusterEndpoints =
          filterEndpoints(eps, [](const EndpointInfo& ep) { return ep.serving && ep.terminating; });
    if (!port.clusterEndpoints.empty()) port.hasAnyEndpoints = true;
  }

  if (!port.usesLocalEndpoints()) {
    port.reachableEndpoints = port.clusterEndpoints;
    return;
  }

  bool localReady = false, localServingTerminating = false;
  for (const auto& ep : eps) {
    if (ep.ready) {
      port.hasAnyEndpoints = true;
      localReady = localReady || ep.local;
    } else if (ep.serving && ep.terminating) {
      port.hasAnyEndpoints = true;
      localServingTerminating = localServingTerminating || ep.local;
    }
  }
  if (localReady)
    port.localEndpoints = filterEndpoints(eps, [](const EndpointInfo& ep) { return ep.local && ep.ready; });
  else if (localServingTerminating)
    port.localEndpoints = filterEndpoints(
        eps, [](const EndpointInfo& ep) { return ep.local && ep.serving && ep.terminating; });

  if (!port.usesClusterEndpoints()) {
    port.reachableEndpoints = port.localEndpoints;
    return;
  }
  std::set_union(port.clusterEndpoints.begin(), port.clusterEndpoints.end(), port.localEndpoints.begin(),
                 port.localEndpoints.end(), std::back_inserter(port.reachableEndpoints));
}

namespace {

bool sliceMatchesFamily(const model::EndpointSlice& s, IPFamily family) {
  if (s.addressType == model::AddressType::kFQDN) return false;
  return (s.addressType == model::AddressType::kIPv4) == (family == IPFamily::kIPv4);
}

std::string clusterIPFor(const model::Service& svc, IPFamily family) {
  for (const auto& ip : svc.clusterIPs) {
    auto parsed = net::parseIP(ip);
    if (parsed && parsed->family == family) return ip;
  }
  return {};
}

std::vector<std::string> ipsOfFamily(const std::vector<std::string>& ips, IPFamily family) {
  std::vector<std::string> out;
  for (const auto& ip : ips) {
    auto parsed = net::parseIP(ip);
    if (parsed && parsed->family == family) out.push_back(ip);
  }
  return out;
}

void addEndpoints(ServicePortInfo& info, const std::vector<const model::EndpointSlice*>& slices,
                  const NodeContext& node) {
  // hostPort -> its index in info.endpoints: the same IP:port in two slices (a pod moving
  // between slices, or a new pod reusing a terminating pod's IP) is one endpoint; upstream
  // prefers a non-terminating one, else keeps what it has (here: the first by slice name).
  std::unordered_map<std::string, size_t> seen;
  size_t total = 0;
  for (const auto* slice : slices) total += slice->endpoints.size();
  info.endpoints.reserve(total);  // kept for the state's lifetime: no growth slack
  for (const auto* slice : slices) {
    const model::EndpointPort* match = nullptr;
    for (const auto& p : slice->ports)
      if (p.name == info.name.port && p.protocol == info.protocol && p.port) match = &p;
    if (!match) continue;
    for (const auto& ep : slice->endpoints) {
      if (ep.addresses.empty()) continue;
      EndpointInfo e;
      // kube-proxy uses only the first address: the others are interchangeable by definition.
      e.ip = ep.addresses.front();
      e.port = *match->port;
      e.hostPort = net::joinHostPort(e.ip, info.family, e.port);
      // Unset conditions as upstream reads them: ready and serving true, terminating false.
      e.ready = ep.conditions.ready.value_or(true);
      e.serving = ep.conditions.serving.value_or(true);
      e.terminating = ep.conditions.terminating.value_or(false);
      auto [at, fresh] = seen.emplace(e.hostPort, info.endpoints.size());
      if (!fresh && !(info.endpoints[at->second].terminating && !e.terminating)) continue;
      e.nodeName = ep.nodeName;
      e.local = !node.nodeName.empty() && ep.nodeName == node.nodeName;
      e.zone = ep.zone;
      e.zoneHints = ep.hintsForZones;
      std::sort(e.zoneHints.begin(), e.zoneHints.end());
      e.nodeHints = ep.hintsForNodes;
      std::sort(e.nodeHints.begin(), e.nodeHints.end());
      if (fresh) info.endpoints.push_back(std::move(e));
      else info.endpoints[at->second] = std::move(e);
    }
  }
  std::sort(info.endpoints.begin(), info.endpoints.end(),
            [](const EndpointInfo& a, const EndpointInfo& b) { return a.hostPort < b.hostPort; });
}

}  // namespace

DesiredState buildDesiredState(const std::vector<model::Service>& services,
                               const std::vector<model::EndpointSlice>& slices, const NodeContext& node,
                               IPFamily family) {
  std::vector<const model::Service*> svcPtrs;
  svcPtrs.reserve(services.size());
  for (const auto& s : services) svcPtrs.push_back(&s);
  std::vector<const model::EndpointSlice*> slicePtrs;
  slicePtrs.reserve(slices.size());
  for (const auto& s : slices) slicePtrs.push_back(&s);
  return buildDesiredState(std::move(svcPtrs), std::move(slicePtrs), node, family);
}

bool sliceUsable(const model::EndpointSlice& slice, IPFamily family) {
  return sliceMatchesFamily(slice, family) && !model::ignoredByProxyLabels(slice.meta);
}

std::vector<ServicePortInfo> buildServicePorts(const model::Service& svc,
                                               const std::vector<const model::EndpointSlice*>& own,
                                               const NodeContext& node, IPFamily family) {
  std::vector<ServicePortInfo> out;
  if (!svc.isProxied() || model::ignoredByProxyLabels(svc.meta)) return out;
  std::string clusterIP = clusterIPFor(svc, family);
  if (clusterIP.empty()) return out;
  NamespacedName key = svc.key();

  static const std::vector<std::string> kNone;
  const std::vector<std::string>& externalIPs = node.serveExternalIPs ? svc.externalIPs : kNone;
  bool externallyAccessibleType = svc.type == model::ServiceType::kNodePort ||
                                  svc.type == model::ServiceType::kLoadBalancer || !externalIPs.empty();
  std::vector<std::string> lbVIPs;
  if (svc.type == model::ServiceType::kLoadBalancer) {
    for (const auto& ing : svc.loadBalancerIngress) {
      // ipMode Proxy: the load balancer proxies to the node, so the VIP is not ours to capture.
      if (ing.ip.empty() || ing.ipMode == "Proxy") continue;
      lbVIPs.push_back(ing.ip);
    }
    lbVIPs = ipsOfFamily(lbVIPs, family);
  }
  std::vector<std::string> sourceRanges;
  for (const auto& r : svc.loadBalancerSourceRanges) {
    auto c = net::parseCidr(r);
    if (c && c->network.family == family) sourceRanges.push_back(c->str());
  }

  for (const auto& sp : svc.ports) {
    ServicePortInfo info;
    info.name = ServicePortName{key, sp.name, sp.protocol};
    info.nameString = info.name.str();
    info.family = family;
    info.clusterIP = clusterIP;
    info.port = sp.port;
    info.protocol = sp.protocol;
    if (svc.type == model::ServiceType::kNodePort || svc.type == model::ServiceType::kLoadBalancer)
      info.nodePort = sp.nodePort;
    info.externalIPs = ipsOfFamily(externalIPs, family);
    info.loadBalancerVIPs = lbVIPs;
    info.loadBalancerSourceRanges = sourceRanges;
    info.affinityClientIP = svc.sessionAffinityClientIP;
    info.stickySeconds = svc.sessionAffinityTimeoutSeconds;
    info.externalPolicyLocal = externallyAccessibleType && svc.externalTrafficPolicy == model::TrafficPolicy::kLocal;
    info.internalPolicyLocal = svc.internalTrafficPolicy == model::TrafficPolicy::kLocal;
    if (info.externalPolicyLocal && svc.type == model::ServiceType::kLoadBalancer)
      info.healthCheckNodePort = svc.healthCheckNodePort;
    addEndpoints(info, own, node);
    categorizeEndpoints(info, node);
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const ServicePortInfo& a, const ServicePortInfo& b) { return a.name < b.name; });
  return out;
}

DesiredState buildDesiredState(std::vector<const model::Service*> order,
                               std::vector<const model::EndpointSlice*> slices, const NodeContext& node,
                               IPFamily family) {
  DesiredState state;
  state.family = family;

  std::vector<const model::EndpointSlice*> usable;
  usable.reserve(slices.size());
  for (const auto* s : slices)
    if (sliceUsable(*s, family)) usable.push_back(s);
  // Grouped by service, then by slice name, so the first slice to name an endpoint wins stably.
  std::sort(usable.begin(), usable.end(), [](const auto* a, const auto* b) {
    if (a->serviceKey() != b->serviceKey()) return a->serviceKey() < b->serviceKey();
    return a->meta.name < b->meta.name;
  });

  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return a->key() < b->key(); });
  state.ports.reserve(order.size());
  std::vector<const model::EndpointSlice*> own;
  for (const auto* svc : order) {
    NamespacedName key = svc->key();
    auto lo = std::lower_bound(usable.begin(), usable.end(), key,
                               [](const auto* s, const NamespacedName& k) { return s->serviceKey() < k; });
    own.clear();
    for (auto it = lo; it != usable.end() && (*it)->serviceKey() == key; ++it) own.push_back(*it);
    for (auto& p : buildServicePorts(*svc, own, node, family)) state.ports.push_back(std::move(p));
  }
  // Services are visited in key order and each one's ports come sorted: already sorted by name.
  return state;
}

PortPlan planPort(const ServicePortInfo& p) {
  PortPlan plan;
  plan.hasEndpoints = p.hasAnyEndpoints;
  plan.usesClusterChain = !p.clusterEndpoints.empty() && p.usesClusterEndpoints();
  plan.usesLocalChain = !p.localEndpoints.empty() && p.usesLocalEndpoints();
  plan.hasInternalEndpoints = plan.hasEndpoints && !(p.internalPolicyLocal && p.localEndpoints.empty());
  plan.hasExternalEndpoints = plan.hasEndpoints && !(p.externalPolicyLocal && p.localEndpoints.empty());
  plan.usesExternalChain = plan.hasEndpoints && p.externallyAccessible();
  plan.usesFirewallChain = plan.hasEndpoints && !p.loadBalancerVIPs.empty() && !p.loadBalancerSourceRanges.empty();
  using F = PortPlan::Filter;
  if (!plan.hasEndpoints) {
    plan.internalFilter = plan.externalFilter = F::kReject;
  } else {
    if (!plan.hasInternalEndpoints) plan.internalFilter = F::kDrop;
    if (!plan.hasExternalEndpoints) plan.externalFilter = F::kDrop;
  }
  return plan;
}

}  // namespace kproxy::dataplane
