// The nftables backend: keeps in memory what it last committed (per Service: chains, sets and
// its entries in the shared maps) and sends the kernel only the difference, in one atomic
// netlink transaction checked against the ruleset generation. A full sync lists the table,
// rewrites every object of ours and removes what is stale.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dataplane/backend.h"
#include "nftables/netlink_client.h"
#include "nftables/renderer.h"

namespace kproxy::nftables {

// The ruleset generation after this process's latest commit. nf_tables keeps one generation per
// network namespace, so the IPv4 and IPv6 backends must share one: a commit by either is ours,
// not "another program", and must not send the other into a full resync.
struct OwnGeneration {
  std::optional<uint32_t> value;
};

class NftablesBackend : public dataplane::Backend {
 public:
  using Clock = std::chrono::steady_clock;

  NftablesBackend(dataplane::ProxyOptions options, NftClientPtr client,
                  std::function<Clock::time_point()> now = [] { return Clock::now(); });

  const char* mode() const override { return "nftables"; }
  const char* kernelStep() const override { return "netlink"; }
  // Lists the table, then in one transaction: creates what is missing, rewrites every chain and
  // the shared maps' elements, flushes stale chains (deleted a sync later: kernels before 6.2
  // release a map element's hold on a chain only after the commit) and deletes stale sets.
  dataplane::SyncReport syncFull(std::shared_ptr<const dataplane::DesiredState> state) override;
  // Only the changed services: their chains that differ are rewritten, their map elements added
  // or deleted, their stale chains flushed. Refused by the kernel if another program changed
  // nf_tables since our last commit; then a full sync runs instead.
  dataplane::SyncReport syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                    const std::set<model::NamespacedName>& changed) override;
  // Shares the record of our commits' generation with the backend of the other family.
  void shareGeneration(std::shared_ptr<OwnGeneration> g) { generation_ = std::move(g); }
  // False when our table is gone (`nft flush ruleset`, `kproxy cleanup`): sync in full.
  bool canaryPresent() override;

 private:
  // Who put which value for a key of a shared set or map; the kernel holds the first owner's
  // (base "" first, then services by name), as a full render does.
  struct Owned {
    Verdict value;
    DnatTarget target;
    std::string comment;
    bool operator==(const Owned&) const = default;
  };
  using ElementId = std::pair<std::string, ElementKey>;  // set, key
  using Owners = std::map<std::string, Owned>;            // owner -> value

  dataplane::SyncReport commitWith(Transaction& tx, dataplane::SyncReport report,
                                   std::chrono::steady_clock::time_point start, bool* generationChanged);
  // Deletes chains flushed at least a second ago; true when nothing got in the way.
  bool deleteStaleChains(dataplane::SyncReport& report);
  const Set* sharedSet(const std::string& name) const;
  std::optional<uint32_t> readGeneration();
  ServiceObjects render(const dataplane::DesiredState& state, const model::NamespacedName& svc) const;

  Renderer renderer_;
  NftClientPtr client_;
  std::function<Clock::time_point()> now_;

  // What the kernel holds (valid after a successful full sync).
  bool committed_ = false;
  Table base_;
  std::map<model::NamespacedName, ServiceObjects> services_;
  std::map<ElementId, Owners> owners_;
  // The shared dnat-N chains in the kernel and which services go to each.
  std::map<std::string, Chain> sharedChains_;
  std::map<std::string, std::set<std::string>> chainUsers_;
  std::shared_ptr<OwnGeneration> generation_ = std::make_shared<OwnGeneration>();
  // Chains flushed because nothing uses them any more, and when.
  std::map<std::string, Clock::time_point> staleChains_;
};

}  // namespace kproxy::nftables
