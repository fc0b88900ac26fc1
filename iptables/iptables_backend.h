// The iptables backend: turns a DesiredState into kernel rules through a RestoreClient, full or
// partial, keeping the last applied state so a partial sync can be computed against it.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/desired_state.h"
#include "iptables/renderer.h"
#include "iptables/restore_runner.h"

namespace kproxy::iptables {

struct SyncReport {
  bool ok = false;
  bool full = false;
  std::string error;            // kernel's words and the rejected line
  size_t restoreBytes = 0;
  size_t restores = 0;          // iptables-restore runs (a full sync on nft is chunked)
  size_t deletedChains = 0;
  size_t servicePortsWritten = 0;
  size_t natRules = 0, filterRules = 0;
  double renderSeconds = 0, restoreSeconds = 0, totalSeconds = 0;
};

class IptablesBackend {
 public:
  IptablesBackend(RenderOptions options, std::unique_ptr<RestoreClient> client);

  // Lists the kernel's chains and jump rules, renders everything, adds missing jump rules and
  // the canary chain, deletes stale service chains, and loads it all with one restore.
  SyncReport syncFull(std::shared_ptr<const dataplane::DesiredState> state);
  // Renders only `changed` services against the last applied state. Needs a prior success.
  SyncReport syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                         const std::set<model::NamespacedName>& changed);

  // False when the canary chain is gone (someone flushed our tables): the next sync must be full.
  bool canaryPresent();

  bool hasApplied() const { return applied_ != nullptr; }
  // The state the kernel holds since the last successful sync (null before one).
  const std::shared_ptr<const dataplane::DesiredState>& applied() const { return applied_; }
  RestoreClient& client() { return *client_; }

 private:
  SyncReport load(std::vector<std::string> texts, const RenderResult& r, bool full,
                  std::shared_ptr<const dataplane::DesiredState> state, double renderSeconds);

  Renderer renderer_;
  std::unique_ptr<RestoreClient> client_;
  std::shared_ptr<const dataplane::DesiredState> applied_;
};

}  // namespace kproxy::iptables
