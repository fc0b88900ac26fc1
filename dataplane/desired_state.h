// DesiredState: what every Service IP:port must lead to on this node, for one IP family (pure).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dataplane/model.h"

namespace kproxy::dataplane {

using model::IPFamily;
using model::NamespacedName;
using model::Protocol;

// One port of one Service: the unit kube-proxy programs ("ns/name:port" + protocol).
struct ServicePortName {
  NamespacedName service;
  std::string port;  // the port's name, empty for an unnamed single port
  Protocol protocol = Protocol::kTCP;

  // "ns/name" or "ns/name:port", kube-proxy's ServicePortName.String().
  std::string str() const;
  auto operator<=>(const ServicePortName&) const = default;
};

struct EndpointInfo {
  std::string ip;        // normalized
  uint16_t port = 0;
  std::string hostPort;  // "ip:port" or "[ip]:port"
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  bool local = false;    // on this node
  std::string nodeName;
  std::string zone;
  std::vector<std::string> zoneHints;  // sorted
};

struct ServicePortInfo {
  ServicePortName name;
  std::string nameString;  // name.str(), kept because every rule comment uses it
  IPFamily family = IPFamily::kIPv4;
  std::string clusterIP;
  uint16_t port = 0;
  uint16_t nodePort = 0;
  Protocol protocol = Protocol::kTCP;
  std::vector<std::string> externalIPs;
  std::vector<std::string> loadBalancerVIPs;          // ingress IPs, ipMode Proxy excluded
  std::vector<std::string> loadBalancerSourceRanges;  // CIDRs of this family
  bool affinityClientIP = false;
  int stickySeconds = 10800;
  bool externalPolicyLocal = false;
  bool internalPolicyLocal = false;
  uint16_t healthCheckNodePort = 0;

  // Every endpoint of this family, sorted by hostPort, duplicates removed.
  std::vector<EndpointInfo> endpoints;
  // kube-proxy's CategorizeEndpoints, as indices into `endpoints`.
  std::vector<size_t> clusterEndpoints;
  std::vector<size_t> localEndpoints;
  std::vector<size_t> reachableEndpoints;  // union of the two, sorted
  bool hasAnyEndpoints = false;

  bool externallyAccessible() const {
    return nodePort != 0 || !loadBalancerVIPs.empty() || !externalIPs.empty();
  }
  bool usesClusterEndpoints() const {
    return !internalPolicyLocal || (externallyAccessible() && !externalPolicyLocal);
  }
  bool usesLocalEndpoints() const {
    return internalPolicyLocal || (externallyAccessible() && externalPolicyLocal);
  }
};

struct NodeContext {
  std::string nodeName;
  std::map<std::string, std::string> nodeLabels;
};

struct DesiredState {
  IPFamily family = IPFamily::kIPv4;
  std::vector<ServicePortInfo> ports;  // sorted by name

  // Binary search; nullptr when the state has no ports of that service.
  std::pair<const ServicePortInfo*, const ServicePortInfo*> portsOf(const NamespacedName& svc) const;
  size_t endpointCount() const;
};

// Builds the desired state from decoded objects. Services that are headless, ExternalName, or
// labelled for another proxy produce nothing; so do slices of another family or of FQDN type.
DesiredState buildDesiredState(const std::vector<model::Service>& services,
                               const std::vector<model::EndpointSlice>& slices,
                               const NodeContext& node, IPFamily family);
// The same over objects owned elsewhere (the cluster cache), without copying them.
DesiredState buildDesiredState(std::vector<const model::Service*> services,
                               std::vector<const model::EndpointSlice*> slices, const NodeContext& node,
                               IPFamily family);

// kube-proxy's endpoint selection for one service port (fills the category fields).
void categorizeEndpoints(ServicePortInfo& port, const NodeContext& node);

// Which per-port objects a service port needs and what traffic with nowhere to go gets: the
// decisions kube-proxy's iptables and nftables proxiers share, so every mode agrees on them.
struct PortPlan {
  bool hasEndpoints = false;          // anywhere in the cluster
  bool hasInternalEndpoints = false;  // ClusterIP traffic has somewhere to go
  bool hasExternalEndpoints = false;  // NodePort, external and LB IP traffic has somewhere to go
  bool usesClusterChain = false;      // the Cluster-policy endpoint set is used
  bool usesLocalChain = false;        // the Local-policy endpoint set is used
  bool usesExternalChain = false;
  bool usesFirewallChain = false;     // LB IPs with loadBalancerSourceRanges
  enum class Filter { kNone, kReject, kDrop };
  Filter internalFilter = Filter::kNone;  // reject: no endpoints at all; drop: none local (policy Local)
  Filter externalFilter = Filter::kNone;
  bool internalNoLocal() const { return internalFilter == Filter::kDrop; }
  bool externalNoLocal() const { return externalFilter == Filter::kDrop; }
};
PortPlan planPort(const ServicePortInfo& p);

}  // namespace kproxy::dataplane
