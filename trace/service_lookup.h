// What the desired state says about one address: which Service port owns IP:PORT/PROTO, which
// of its endpoints this node would use and why not the others, and the verdict in plain words.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/ip.h"

namespace kproxy::trace {

struct Target {
  net::IPAddress ip;
  uint16_t port = 0;
  model::Protocol proto = model::Protocol::kTCP;
  std::string str() const;  // "10.96.0.10:53/UDP", "[fd00::1]:80/TCP"
};
// "IP:PORT[/tcp|udp|sctp]", IPv6 in brackets; nullopt with `why` when malformed.
std::optional<Target> parseTarget(const std::string& text, std::string& why);

enum class AddressKind { kClusterIP, kExternalIP, kLoadBalancerIP, kNodePort };
const char* addressKindName(AddressKind k);

struct EndpointView {
  const dataplane::EndpointInfo* endpoint = nullptr;
  bool used = false;
  std::string whyNot;  // when unused
};

struct Finding {
  const dataplane::ServicePortInfo* port = nullptr;  // null: no Service owns the address
  AddressKind kind = AddressKind::kClusterIP;
  bool policyLocal = false;  // the traffic policy that applies to this kind of address is Local
  std::vector<EndpointView> endpoints;
  std::vector<std::string> usedHostPorts;  // sorted
  bool reachable = false;
  std::string verdict;                 // "reachable: 3 endpoints (3 ready)", "unreachable: ..."
  std::vector<std::string> nearMisses;  // other ports of the same address, for "no Service" verdicts
};

// `nodeAddresses`: this node's addresses, for NodePorts (empty: any address not otherwise owned
// may be the node's).
Finding lookup(const dataplane::DesiredState& state, const Target& target, const dataplane::NodeContext& node,
               const std::vector<net::IPAddress>& nodeAddresses);

}  // namespace kproxy::trace
