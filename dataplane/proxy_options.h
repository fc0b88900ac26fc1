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
  // The node's addresses: matched against nodePortAddresses, and the first of the family is the
  // node IP that loadBalancerSourceRanges may allow.
  std::vector<std::string> nodeIPs;
  bool localhostNodePorts = true;
  // nf_conntrack_tcp_be_liberal set: kube-proxy then skips the INVALID drop rule (iptables).
  bool conntrackTCPLiberal = false;

  // The first cluster CIDR of this family (detect-local), if any.
  const net::Cidr* localCIDR() const;
  // The first node address of this family, if any.
  std::optional<net::IPAddress> nodeIP() const;
};

}  // namespace kproxy::dataplane
