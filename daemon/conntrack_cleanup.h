// Stale UDP conntrack cleanup after a sync: UDP has no connection end, so a flow pinned to an
// endpoint that is gone (or to a REJECT while a service had none) would blackhole its client
// (the classic "DNS breaks when CoreDNS restarts") until the entry times out.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "dataplane/desired_state.h"

namespace kproxy::daemon {

// One conntrack entry, as much of it as the decision needs.
struct FlowKey {
  std::string origDst;  // normalized IP
  uint16_t origDstPort = 0;
  std::string replySrc;
  uint16_t replySrcPort = 0;
};

// The pure decision: which UDP service addresses (ip:port and NodePorts) exist, and which
// endpoint ip:port each may be answered by.
class StaleUdpMatcher {
 public:
  explicit StaleUdpMatcher(const dataplane::DesiredState& state);
  bool empty() const { return servicePorts_.empty() && nodePorts_.empty(); }
  // True when the flow targets a UDP service (or NodePort) and its reply does not come from
  // an endpoint that service uses now.
  bool stale(const FlowKey& flow) const;

 private:
  // "ip:port" of service VIPs -> allowed "ip:port" of endpoints
  std::map<std::string, std::set<std::string>> servicePorts_;
  std::map<uint16_t, std::set<std::string>> nodePorts_;
};

// Whether this sync can have left stale UDP flows: a UDP port that lost an endpoint, gained its
// first ones (flows held a REJECT), is new, or changed its addresses. Compares only the ports
// that are not shared between the two states, so a sync that touched no UDP service skips the
// conntrack dump (a table of 100k flows costs ~100 ms to walk). `before` null: the first sync.
bool udpFlowsMayBeStale(const dataplane::DesiredState* before, const dataplane::DesiredState& now);

// Deletes the stale UDP entries of this network namespace (libnetfilter_conntrack). Returns how
// many were deleted; errors are logged, never fatal. `before` may be null (first sync).
size_t cleanStaleUdpConntrack(const dataplane::DesiredState* before, const dataplane::DesiredState& now);

}  // namespace kproxy::daemon
