// What every mode's renderer needs to know about this node and the proxy's configuration, for
// one IP family.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip.h"
#include "dataplane/model.h"

namespace kproxy::dataplane {

// What the proxy knows from its Node object (and bindAddress), handed to the backends when it
// changes; the next sync is then full.
// What the backends learn from API objects other than Services and EndpointSlices: the Node,
// and the cluster's ServiceCIDRs. A change is applied in a full sync.
struct NodeInfo {
  std::vector<std::string> primaryIPs;  // primaryNodeIPsOf
  std::vector<std::string> podCIDRs;    // spec.podCIDRs
  std::vector<std::string> serviceCIDRs;  // every ServiceCIDR's ranges, both families, sorted
  bool operator==(const NodeInfo&) const = default;
};

// kube-proxy's detect-local modes: how traffic from this node's pods is told from the rest.
enum class LocalMode { kClusterCIDR, kNodeCIDR, kBridgeInterface, kInterfaceNamePrefix };

// The match for "from a local pod" in one family: a source CIDR, an input interface, or an
// input interface name prefix; kNone when nothing is known (no CIDR of the family yet).
struct LocalMatch {
  enum class Kind { kNone, kCidr, kInterface, kInterfacePrefix } kind = Kind::kNone;
  net::Cidr cidr;
  std::string interface;  // a name, or the prefix without a wildcard
  explicit operator bool() const { return kind != Kind::kNone; }
  // iptables' words: "-s 10.244.0.0/16", "-i cbr0", "-i veth+"; with `negate` a leading "! ".
  std::string iptables(bool negate) const;
};

struct ProxyOptions {
  model::IPFamily family = model::IPFamily::kIPv4;
  // Detect-local by cluster CIDR: traffic from outside it is masqueraded. Empty: no such rule.
  std::vector<net::Cidr> clusterCIDRs;
  LocalMode localMode = LocalMode::kClusterCIDR;
  std::string localInterface;        // BridgeInterface: the bridge; InterfaceNamePrefix: the prefix
  std::vector<net::Cidr> podCIDRs;   // NodeCIDR: the Node's, from setNodeInfo
  bool masqueradeAll = false;
  int masqueradeBit = 14;
  // Empty: NodePorts answer on every local address. Otherwise the family's CIDRs of
  // nodePortAddresses with the keywords expanded (setNodePortAddresses).
  std::vector<net::Cidr> nodePortAddresses;
  // The keyword "primary" was given: the primary node IPs join the CIDRs (setNodeInfo).
  bool nodePortPrimary = false;
  std::vector<std::string> nodePortEntries;  // as configured, for setNodeInfo to expand again
  // The node's local addresses, matched against nodePortAddresses.
  std::vector<std::string> nodeIPs;
  // This family's ServiceCIDR ranges (setNodeInfo): nftables mode drops traffic to addresses in
  // them that are not ClusterIPs, as upstream's "Drop traffic to unallocated ClusterIPs".
  std::vector<net::Cidr> serviceCIDRs;
  // The Node's primary IPs (its status addresses, or bindAddress): the node IP that
  // loadBalancerSourceRanges allow traffic from, and "primary" NodePorts' addresses.
  std::vector<std::string> primaryNodeIPs;
  bool localhostNodePorts = true;
  // nf_conntrack_tcp_be_liberal set: kube-proxy then skips the INVALID drop rule (iptables).
  bool conntrackTCPLiberal = false;
  // The nfacct objects exist (iptables mode creates them at start): the INVALID drop and the
  // localhost NodePort rules count into them with upstream's `-m nfacct` forms.
  bool nfacctInvalidDropped = false;
  bool nfacctLocalhostNodePorts = false;

  // How traffic from local pods is matched in this family (kube-proxy's LocalTrafficDetector).
  LocalMatch localMatch() const;
  // The primary node IP of this family; without one, the first local address that is not
  // loopback (upstream falls back to 127.0.0.1, which no source range sensibly holds).
  std::optional<net::IPAddress> nodeIP() const;
  // The Node object changed: new primary IPs (nodePortAddresses follow when "primary") and
  // pod CIDRs (detect-local NodeCIDR).
  void setNodeInfo(const NodeInfo& info);
  // nodePortAddresses as configured (CIDRs and the keywords primary, localhost, all), already
  // validated; for this family.
  void setNodePortAddresses(const std::vector<std::string>& entries);
};

// kube-proxy 1.37's nodePortAddresses keywords: "primary" (the Node's primary IPs), "localhost"
// (127.0.0.0/8 and ::1/128) and "all" (0.0.0.0/0 and ::/0), with CIDRs in any combination.
bool isNodePortKeyword(const std::string& entry);
// The CIDRs of `family` that `entries` name, "primary" expanded to `primaryIPs` (non-loopback).
// A family with none, or with a /0, matches all its addresses: then the result is empty.
std::vector<net::Cidr> nodePortCidrs(const std::vector<std::string>& entries, model::IPFamily family,
                                     const std::vector<std::string>& primaryIPs);

// Whether NodePorts may answer on 127.0.0.1 (and route_localnet is needed): the entries leave
// IPv4 matching all, or name localhost, all or a CIDR holding 127.0.0.1 ("primary" never does).
bool nodePortsIncludeIPv4Loopback(const std::vector<std::string>& entries);

// The Node's primary IPs as upstream picks them (GetNodeHostIPs): the first InternalIP of each
// family, else its first ExternalIP, the family of the very first such address first; a
// specific `bindAddress` replaces the one of its family.
std::vector<std::string> primaryNodeIPsOf(const std::vector<model::NodeAddress>& addresses, const std::string& bindAddress);
NodeInfo nodeInfoOf(const model::Node* node, const std::string& bindAddress);

}  // namespace kproxy::dataplane
