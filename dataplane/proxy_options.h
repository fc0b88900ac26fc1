// What every mode's renderer needs to know about this node and the proxy's configuration, for
// one IP family.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip.h"
#include "dataplane/model.h"

namespace kproxy::dataplane {

struct ProxyOptions {
  model::IPFamily family = model::IPFamily::kIPv4;
  // Detect-local by cluster CIDR: traffic from outside it is masqueraded. Empty: no such rule.
  std::vector<net::Cidr> clusterCIDRs;
  bool masqueradeAll = false;
  int masqueradeBit = 14;
  // Empty: NodePorts answer on every local address.
  std::vector<net::Cidr> nodePortAddresses;
  // nodePortAddresses "primary": NodePorts answer on the primary node IPs only (set by
  // setPrimaryNodeIPs; upstream's "all local addresses" while none is known).
  bool nodePortPrimary = false;
  // The node's local addresses, matched against nodePortAddresses.
  std::vector<std::string> nodeIPs;
  // The Node's primary IPs (its status addresses, or bindAddress): the node IP that
  // loadBalancerSourceRanges allow traffic from, and "primary" NodePorts' addresses.
  std::vector<std::string> primaryNodeIPs;
  bool localhostNodePorts = true;
  // nf_conntrack_tcp_be_liberal set: kube-proxy then skips the INVALID drop rule (iptables).
  bool conntrackTCPLiberal = false;

  // The first cluster CIDR of this family (detect-local), if any.
  const net::Cidr* localCIDR() const;
  // The primary node IP of this family; without one, the first local address that is not
  // loopback (upstream falls back to 127.0.0.1, which no source range sensibly holds).
  std::optional<net::IPAddress> nodeIP() const;
  // New primary node IPs (the Node object changed): nodePortAddresses follow when "primary".
  void setPrimaryNodeIPs(std::vector<std::string> ips);
};

// The Node's primary IPs as upstream picks them (GetNodeHostIPs): the first InternalIP of each
// family, else its first ExternalIP, the family of the very first such address first; a
// specific `bindAddress` replaces the one of its family.
std::vector<std::string> primaryNodeIPsOf(const std::vector<model::NodeAddress>& addresses, const std::string& bindAddress);

}  // namespace kproxy::dataplane
