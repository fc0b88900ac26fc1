// The nftables backend: keeps in memory what it last committed (the desired state, who claims
// each key of the shared maps) and sends the kernel only the difference, in one atomic
// netlink transaction checked against the ruleset generation. A full sync lists the table,
// rewrites every object of ours and removes what is stale.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
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
  void setNodeInfo(const dataplane::NodeInfo& info) override { renderer_.setNodeInfo(info); }

 private:
  // A key of one of the shared sets and maps (the set by its index in base_.sets).
  struct ElementId {
    uint16_t set;
    ElementKey key;
    auto operator<=>(const ElementId&) const = default;
  };
  // Who claims a key, sorted by name: "" (the base table) first, then services "ns/name". The
  // kernel holds the first one's value. Names point into names_ (shared, reference-counted).
  using Owners = std::pmr::vector<const std::string*>;
  // Every key's owners, in memory of their own: a full sync builds them while it renders and
  // frees each Service's objects, and kept nodes scattered among those would pin the pages
  // (250 MB at 50,000 Services after one full sync). A pool keeps them together.
  struct OwnerMap {
    std::unique_ptr<std::pmr::unsynchronized_pool_resource> pool =
        std::make_unique<std::pmr::unsynchronized_pool_resource>();
    std::pmr::map<ElementId, Owners> map{pool.get()};
  };

  // Interned owner names, each counted once per Owners entry naming it.
  const std::string* acquireName(const std::string& name);
  void releaseName(const std::string* name);
  uint16_t setIndex(const std::string& name) const;
  ElementId idOf(const Element& e) const { return {setIndex(e.set), e.key}; }
  // The element `owner` renders for `id` in `state`; null when it renders none. `rendered`
  // caches the services rendered so far in this sync.
  const Element* valueOf(const std::string& owner, const ElementId& id, const dataplane::DesiredState& state,
                         std::map<model::NamespacedName, ServiceObjects>& rendered) const;

  dataplane::SyncReport commitWith(Transaction& tx, dataplane::SyncReport report,
                                   std::chrono::steady_clock::time_point start, bool* generationChanged);
  // Deletes chains flushed at least a second ago; true when nothing got in the way.
  bool deleteStaleChains(dataplane::SyncReport& report);
  std::optional<uint32_t> readGeneration();
  ServiceObjects render(const dataplane::DesiredState& state, const model::NamespacedName& svc) const;

  Renderer renderer_;
  NftClientPtr client_;
  std::function<Clock::time_point()> now_;

  // What the kernel holds (valid after a successful full sync). A service's own objects are
  // not kept: the renderer is deterministic, so they are rendered again from applied_ when a
  // partial sync needs the old ones (at 10k services that saves ~120 MB).
  bool committed_ = false;
  Table base_;
  std::map<std::string, uint16_t> setIndex_;  // base_.sets by name
  std::unique_ptr<OwnerMap> owners_ = std::make_unique<OwnerMap>();
  std::map<std::string, size_t> names_;  // owner name -> references from owners_
  // The shared dnat-N chains in the kernel and which services go to each.
  std::map<std::string, Chain> sharedChains_;
  std::map<std::string, std::set<std::string>> chainUsers_;
  std::shared_ptr<OwnGeneration> generation_ = std::make_shared<OwnGeneration>();
  // Chains flushed because nothing uses them any more, and when.
  std::map<std::string, Clock::time_point> staleChains_;
};

}  // namespace kproxy::nftables
