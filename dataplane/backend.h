// The Backend seam: what one dataplane mode (iptables, nftables, ipvs) does for one IP family.
// The daemon drives it from its worker thread; implementations keep the last state they applied.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"

namespace kproxy::dataplane {

struct SyncReport {
  bool ok = false;
  bool full = false;
  std::string error;               // the kernel side's words, and what it rejected
  size_t bytes = 0;                // sent to the kernel side: restore input, netlink batches
  size_t transactions = 0;         // restores or netlink batches
  size_t deleted = 0;              // stale chains, sets or services removed
  size_t servicePortsWritten = 0;  // service ports whose own objects were (re)written
  // Deletions of objects nothing uses any more that the kernel refused (nftables mode's stale
  // chains; upstream's ..._nftables_cleanup_failures_total). The sync itself may still succeed.
  size_t cleanupFailures = 0;
  // Rules per table after a full sync (kubeproxy_sync_proxy_rules_iptables_total{table}).
  std::vector<std::pair<std::string, size_t>> ruleCounts;
  // Rules per table written by this sync (kubeproxy_sync_proxy_rules_iptables_last{table}).
  std::vector<std::pair<std::string, size_t>> rulesWritten;
  double renderSeconds = 0, kernelSeconds = 0, totalSeconds = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // For logs and /proxyMode: "iptables", "nftables", "ipvs".
  virtual const char* mode() const = 0;
  // What the kernel step is called in logs: "restore", "netlink".
  virtual const char* kernelStep() const = 0;

  // Makes the kernel hold exactly `state` (ours only; foreign objects stay), whatever it held.
  // On failure the kernel keeps a consistent earlier state and applied() does not change.
  virtual SyncReport syncFull(std::shared_ptr<const DesiredState> state) = 0;
  // Rewrites only the `changed` services against applied(); a full sync when nothing was applied.
  virtual SyncReport syncPartial(std::shared_ptr<const DesiredState> state,
                                 const std::set<model::NamespacedName>& changed) = 0;
  // False when our objects vanished behind our back (someone flushed them): sync in full.
  virtual bool canaryPresent() = 0;
  // What the Node says changed (ProxyOptions::setNodeInfo); the next sync is full.
  virtual void setNodeInfo(const NodeInfo& info) { (void)info; }

  bool hasApplied() const { return applied_ != nullptr; }
  // The state the kernel holds since the last successful sync (null before one).
  const std::shared_ptr<const DesiredState>& applied() const { return applied_; }

 protected:
  std::shared_ptr<const DesiredState> applied_;
};
using BackendPtr = std::unique_ptr<Backend>;

}  // namespace kproxy::dataplane
