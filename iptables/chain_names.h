// kube-proxy's iptables chain names: base32(sha256(servicePortName + protocol [+ endpoint]))[:16].
#pragma once

#include <string>
#include <string_view>

namespace kproxy::iptables {

inline constexpr std::string_view kServicesChain = "KUBE-SERVICES";
inline constexpr std::string_view kExternalServicesChain = "KUBE-EXTERNAL-SERVICES";
inline constexpr std::string_view kNodePortsChain = "KUBE-NODEPORTS";
inline constexpr std::string_view kPostroutingChain = "KUBE-POSTROUTING";
inline constexpr std::string_view kMarkMasqChain = "KUBE-MARK-MASQ";
inline constexpr std::string_view kForwardChain = "KUBE-FORWARD";
inline constexpr std::string_view kProxyFirewallChain = "KUBE-PROXY-FIREWALL";
inline constexpr std::string_view kKubeletFirewallChain = "KUBE-FIREWALL";
inline constexpr std::string_view kCanaryChain = "KUBE-PROXY-CANARY";

inline constexpr std::string_view kSvcPrefix = "KUBE-SVC-";
inline constexpr std::string_view kSvlPrefix = "KUBE-SVL-";
inline constexpr std::string_view kExtPrefix = "KUBE-EXT-";
inline constexpr std::string_view kFwPrefix = "KUBE-FW-";
inline constexpr std::string_view kSepPrefix = "KUBE-SEP-";

// iptables refuses chain names longer than this.
inline constexpr size_t kMaxChainNameLength = 28;

// The 16-character hash; `protocol` is lower case ("tcp").
std::string portProtoHash(std::string_view servicePortName, std::string_view protocol);
// KUBE-SEP-<hash of servicePortName + protocol + "ip:port">.
std::string endpointChainName(std::string_view servicePortName, std::string_view protocol,
                              std::string_view endpoint);

// True for the per-service chain prefixes kube-proxy owns (SVC, SVL, EXT, FW, SEP).
bool isServiceChainName(std::string_view chain);

}  // namespace kproxy::iptables
