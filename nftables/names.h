// Upstream nftables mode's object names: "HASH-namespace/service/protocol/port" with HASH the
// first 8 characters of base32(sha256(rest)), so an operator sees the same names as on a
// kube-proxy node ("service-ULMVA6XW-ns1/svc1/tcp/p80").
#pragma once

#include <string>
#include <string_view>

#include "dataplane/desired_state.h"

namespace kproxy::nftables {

inline constexpr std::string_view kServicePrefix = "service-";    // Cluster-policy endpoints
inline constexpr std::string_view kLocalPrefix = "local-";        // Local-policy endpoints
inline constexpr std::string_view kExternalPrefix = "external-";  // NodePort, external and LB IPs
inline constexpr std::string_view kEndpointPrefix = "endpoint-";  // one endpoint (affinity only)
inline constexpr std::string_view kAffinityPrefix = "affinity-";  // affinity set of an endpoint
inline constexpr std::string_view kFirewallPrefix = "firewall-";  // loadBalancerSourceRanges

// nftables names are at most this long.
inline constexpr size_t kNameLengthMax = 256;

// "ULMVA6XW-ns1/svc1/tcp/p80".
std::string servicePortNameBase(const dataplane::ServicePortName& name);
// "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80" (IPv6 colons become dots).
std::string endpointNameBase(const dataplane::ServicePortName& name, const std::string& ip, uint16_t port);

// Per-service objects carry a "/" in their name; the fixed ones never do.
inline bool isServiceObjectName(std::string_view n) { return n.find('/') != std::string_view::npos; }

}  // namespace kproxy::nftables
