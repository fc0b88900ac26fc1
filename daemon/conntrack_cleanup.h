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

// The pure decision, as upstream's conntrack reconciler: which UDP service addresses (ip:port and
// NodePorts) exist and which endpoint ip:port may answer each (every serving endpoint, whatever
// the topology or terminating state: a flow to it keeps working), and which addresses belonged
// to UDP services that `before` had and `state` no longer has (their DNATed flows go).
class StaleUdpMatcher {
 public:
  explicit StaleUdpMatcher(const dataplane::DesiredState& state, const dataplane::DesiredState* before = nullptr);
  bool empty() const { return servicePorts_.empty() && nodePorts_.empty() && goneServices_.empty() && goneNodePorts_.empty(); }
  // True when the flow targets a UDP service (or NodePort) and its reply does not come from a
  // serving endpoint of it, or targets a deleted UDP service and was DNATed.
  bool stale(const FlowKey& flow) const;

 private:
  // "ip:port" of service VIPs -> allowed "ip:port" of endpoints
  std::map<std::string, std::set<std::string>> servicePorts_;
  std::map<uint16_t, std::set<std::string>> nodePorts_;
  std::set<std::string> goneServices_;
  std::set<uint16_t> goneNodePorts_;
};

// Whether this sync can have left stale UDP flows: a UDP port that lost a serving endpoint, gained
// its first ones (flows held a REJECT), is new, changed its addresses or was deleted. Compares only the ports
// that are not shared between the two states, so a sync that touched no UDP service skips the
// conntrack dump (a table of 100k flows costs ~100 ms to walk). `before` null: the first sync.
bool udpFlowsMayBeStale(const dataplane::DesiredState* before, const dataplane::DesiredState& now);

// Deletes the stale UDP entries of this network namespace (libnetfilter_conntrack). Returns how
// many were deleted; errors are logged, never fatal. `before` may be null (first sync).
size_t cleanStaleUdpConntrack(const dataplane::DesiredState* before, const dataplane::DesiredState& now);

}  // namespace kproxy::daemon
