// Pure renderer: DesiredState -> the objects of table `ip|ip6 kube-proxy`, with upstream
// nftables mode's hooks, priorities and names (service-ips, service-nodeports, cluster-ips,
// no-endpoint-services, no-endpoint-nodeports, firewall-ips, ...).
//
// How a service picks its endpoint is ours, for load speed. Upstream writes a chain per endpoint
// (110k chains for 10k services x 10: minutes to load). kproxy keys shared maps by the packet's
// own destination and an index: a service's chain ends with `goto dnat-N`, whose one rule is
// `dnat to ip daddr . meta l4proto . th dport . numgen random mod N map @cluster-endpoints`
// (NodePorts: keyed by protocol and port). One dnat-N chain per endpoint count in use keeps the
// maps' bindings few: the kernel walks every binding of a map for each element added, and every
// element for each new binding, so a map (or an anonymous map per service) used from 10k chains
// loads in quadratic time. Hairpin traffic (a pod reaching itself through its Service) is
// masqueraded in postrouting by a lookup of `saddr . daddr` in the endpoint-hairpin set of
// (endpoint . endpoint) pairs. Only services with ClientIP affinity keep upstream's per-endpoint
// chains and affinity sets, which that feature needs.
#pragma once

#include <string>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"
#include "nftables/ruleset.h"

namespace kproxy::nftables {

// Fixed names (upstream's).
inline constexpr const char* kServicesChain = "services";
inline constexpr const char* kMasqueradingChain = "masquerading";
inline constexpr const char* kMarkMasqChain = "mark-for-masquerade";
inline constexpr const char* kRejectChain = "reject-chain";
inline constexpr const char* kServiceEndpointsCheckChain = "service-endpoints-check";
inline constexpr const char* kNodePortEndpointsCheckChain = "nodeport-endpoints-check";
inline constexpr const char* kFirewallCheckChain = "firewall-check";
inline constexpr const char* kClusterIPsCheckChain = "cluster-ips-check";
inline constexpr const char* kServiceIPsMap = "service-ips";
inline constexpr const char* kServiceNodePortsMap = "service-nodeports";
inline constexpr const char* kNoEndpointServicesMap = "no-endpoint-services";
inline constexpr const char* kNoEndpointNodePortsMap = "no-endpoint-nodeports";
inline constexpr const char* kFirewallIPsMap = "firewall-ips";
inline constexpr const char* kClusterIPsSet = "cluster-ips";
inline constexpr const char* kNodePortIPsSet = "nodeport-ips";
// Ours: (endpoint . endpoint) pairs, for hairpin masquerade without a chain per endpoint.
inline constexpr const char* kEndpointHairpinSet = "endpoint-hairpin";
// Ours: destination . index -> endpoint, per traffic policy; NodePorts by protocol . port . index.
inline constexpr const char* kClusterEndpointsMap = "cluster-endpoints";
inline constexpr const char* kLocalEndpointsMap = "local-endpoints";
inline constexpr const char* kNodePortClusterEndpointsMap = "nodeport-cluster-endpoints";
inline constexpr const char* kNodePortLocalEndpointsMap = "nodeport-local-endpoints";

// What one Service (all its ports of this family) adds to the table.
struct ServiceObjects {
  std::vector<Set> sets;          // its own: affinity sets
  std::vector<Chain> chains;      // its own chains
  std::vector<Element> elements;  // its entries in the shared sets and maps
  std::vector<std::string> sharedChains;  // the dnat-N chains it goes to (shared, see dnatChain)
  bool operator==(const ServiceObjects&) const = default;
};

class Renderer {
 public:
  explicit Renderer(dataplane::ProxyOptions options);

  // The fixed part: base chains with their jump rules, top-level chains, the shared sets and
  // maps (declared, without service elements), and nodeport-ips.
  Table base() const;
  // One service's objects, from its ports (all of one service, one family).
  ServiceObjects renderService(dataplane::PortList::Range ports) const;
  // base() plus every service: the whole table.
  Table renderFull(const dataplane::DesiredState& state) const;
  // The shared chain that DNATs to one of `n` endpoints of a Cluster (or Local) policy:
  // "dnat-3" / "dnat-local-3". Only named chains that dnatChainName returns are valid here.
  static std::string dnatChainName(bool local, uint32_t n);
  Chain dnatChain(const std::string& name) const;

  const dataplane::ProxyOptions& options() const { return options_; }
  void setNodeInfo(const dataplane::NodeInfo& info) { options_.setNodeInfo(info); }

 private:
  void renderPort(const dataplane::ServicePortInfo& p, ServiceObjects& out) const;

  dataplane::ProxyOptions options_;
  uint32_t mark_;
};

}  // namespace kproxy::nftables
