// The iptables backend: turns a DesiredState into kernel rules through a RestoreClient, full or
// partial, keeping the last applied state so a partial sync can be computed against it.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/backend.h"
#include "dataplane/desired_state.h"
#include "iptables/renderer.h"
#include "iptables/restore_runner.h"

namespace kproxy::iptables {

using dataplane::SyncReport;

// report.transactions counts iptables-restore runs (a full sync on nft is chunked), report.deleted
// stale service chains.
class IptablesBackend : public dataplane::Backend {
 public:
  IptablesBackend(RenderOptions options, std::unique_ptr<RestoreClient> client);

  const char* mode() const override { return "iptables"; }
  const char* kernelStep() const override { return "restore"; }
  // Lists the kernel's chains and jump rules, renders everything, adds missing jump rules and
  // the canary chain, deletes stale service chains, and loads it all with one restore.
  SyncReport syncFull(std::shared_ptr<const dataplane::DesiredState> state) override;
  // Renders only `changed` services against the last applied state. Needs a prior success.
  SyncReport syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                         const std::set<model::NamespacedName>& changed) override;

  // False when the canary chain is gone (someone flushed our tables): the next sync must be full.
  bool canaryPresent() override;
  void setNodeInfo(const dataplane::NodeInfo& info) override { renderer_.setNodeInfo(info); }

  RestoreClient& client() { return *client_; }

 private:
  SyncReport load(std::vector<std::string> texts, const RenderResult& r, bool full,
                  std::shared_ptr<const dataplane::DesiredState> state, double renderSeconds);

  Renderer renderer_;
  std::unique_ptr<RestoreClient> client_;
};

}  // namespace kproxy::iptables
