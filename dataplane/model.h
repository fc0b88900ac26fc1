// Value types for the Kubernetes objects kproxy consumes: Service, EndpointSlice, Node.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kproxy::model {

enum class IPFamily { kIPv4, kIPv6 };
enum class Protocol { kTCP, kUDP, kSCTP };

// "tcp", "udp", "sctp": the spelling iptables and the chain-name hashes use.
const char* protocolLower(Protocol p);
// "TCP", "UDP", "SCTP": the Kubernetes API spelling.
const char* protocolName(Protocol p);
const char* familyName(IPFamily f);

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string resourceVersion;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool deleting = false;  // metadata.deletionTimestamp is set
  bool operator==(const ObjectMeta&) const = default;
};

// "namespace/name", the key kube-proxy uses for Services and their slices.
struct NamespacedName {
  std::string namespace_;
  std::string name;
  std::string str() const { return namespace_ + "/" + name; }
  auto operator<=>(const NamespacedName&) const = default;
};

enum class ServiceType { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy { kCluster, kLocal };

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTCP;
  uint16_t port = 0;
  // targetPort is int or string in the API; kept for display, endpoints carry the real port.
  std::string targetPort;
  uint16_t nodePort = 0;
  bool operator==(const ServicePort&) const = default;
};

struct LoadBalancerIngress {
  std::string ip;        // normalized; empty for hostname-only ingress
  std::string hostname;
  std::string ipMode;    // "VIP" (default) or "Proxy"
  bool operator==(const LoadBalancerIngress&) const = default;
};

struct Service {
  ObjectMeta meta;
  ServiceType type = ServiceType::kClusterIP;
  std::string clusterIP;                 // "None" for headless
  std::vector<std::string> clusterIPs;   // normalized addresses, primary first
  std::vector<IPFamily> ipFamilies;
  std::vector<ServicePort> ports;
  std::vector<std::string> externalIPs;
  std::vector<LoadBalancerIngress> loadBalancerIngress;
  std::vector<std::string> loadBalancerSourceRanges;  // normalized CIDRs
  bool sessionAffinityClientIP = false;
  int sessionAffinityTimeoutSeconds = 10800;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::kCluster;
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::kCluster;
  uint16_t healthCheckNodePort = 0;
  std::string externalName;

  NamespacedName key() const { return {meta.namespace_, meta.name}; }
  bool operator==(const Service&) const = default;
  // False for headless and ExternalName services: kube-proxy programs nothing for them.
  bool isProxied() const;
};

struct EndpointConditions {
  // nullopt means unknown; the API says to treat ready=nil as ready.
  std::optional<bool> ready;
  std::optional<bool> serving;
  std::optional<bool> terminating;
  bool operator==(const EndpointConditions&) const = default;
};

struct Endpoint {
  std::vector<std::string> addresses;  // normalized
  EndpointConditions conditions;
  std::string nodeName;
  std::string zone;
  std::vector<std::string> hintsForZones;
  std::vector<std::string> hintsForNodes;  // trafficDistribution PreferSameNode
  bool operator==(const Endpoint&) const = default;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::kTCP;
  std::optional<uint16_t> port;  // nil port: the slice does not say, kube-proxy skips it
  bool operator==(const EndpointPort&) const = default;
};

enum class AddressType { kIPv4, kIPv6, kFQDN };

struct EndpointSlice {
  ObjectMeta meta;
  std::string serviceName;  // label kubernetes.io/service-name
  AddressType addressType = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;

  NamespacedName key() const { return {meta.namespace_, meta.name}; }
  NamespacedName serviceKey() const { return {meta.namespace_, serviceName}; }
  bool operator==(const EndpointSlice&) const = default;
};

struct NodeAddress {
  std::string type;  // InternalIP, ExternalIP, Hostname, ...
  std::string address;
  bool operator==(const NodeAddress&) const = default;
};

struct Node {
  ObjectMeta meta;
  std::vector<NodeAddress> addresses;
  std::vector<std::string> podCIDRs;  // spec.podCIDRs (spec.podCIDR on old objects), valid ones only
  std::vector<std::string> taintKeys;  // spec.taints[].key (ToBeDeletedByClusterAutoscaler fails /healthz)
  bool operator==(const Node&) const = default;
};

// networking.k8s.io/v1 ServiceCIDR: ranges the cluster allocates ClusterIPs from. nftables mode
// drops traffic to an address in them that no Service holds.
struct ServiceCIDR {
  ObjectMeta meta;
  std::vector<std::string> cidrs;  // spec.cidrs, canonical ("10.96.0.0/16"), at most one per family
  bool operator==(const ServiceCIDR&) const = default;
};

// kube-proxy lists with the selector
// "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless":
// objects carrying either label belong to another proxy or to no proxy.
bool ignoredByProxyLabels(const ObjectMeta& meta);

inline constexpr const char* kLabelServiceName = "kubernetes.io/service-name";
inline constexpr const char* kLabelServiceProxyName = "service.kubernetes.io/service-proxy-name";
inline constexpr const char* kLabelHeadless = "service.kubernetes.io/headless";
inline constexpr const char* kLabelTopologyZone = "topology.kubernetes.io/zone";

}  // namespace kproxy::model
