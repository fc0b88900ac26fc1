// ClusterState: the cache of Services, EndpointSlices, this Node and the ServiceCIDRs, fed by events from any
// source, tracking which Services changed since the last sync (kube-proxy's change trackers).
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/model.h"

namespace kproxy::dataplane {

using WallTime = std::chrono::system_clock::time_point;

// RFC 3339 as the API writes times ("2026-11-25T09:13:16.123456789Z", offsets allowed).
std::optional<WallTime> parseRFC3339(const std::string& text);

inline constexpr const char* kAnnotationTriggerTime = "endpoints.kubernetes.io/last-change-trigger-time";

class ClusterState {
 public:
  // Trigger times before `start` are not counted (kube-proxy: changes older than the proxy).
  explicit ClusterState(std::string nodeName, WallTime start = std::chrono::system_clock::now())
      : nodeName_(std::move(nodeName)), start_(start) {}

  // Each returns whether anything changed. Equal re-sends (periodic relists) change nothing.
  bool upsertService(model::Service s);
  bool deleteService(const model::NamespacedName& key);
  bool upsertSlice(model::EndpointSlice s);
  bool deleteSlice(const model::NamespacedName& key);
  // Only this node's object is kept; label (zone) and address changes force a full sync.
  bool upsertNode(model::Node n);
  bool deleteNode(const std::string& name);
  // ServiceCIDR objects; what matters is the union of their ranges (serviceCIDRs()).
  bool upsertServiceCIDR(model::ServiceCIDR c);
  bool deleteServiceCIDR(const std::string& name);
  // Every ServiceCIDR's ranges, sorted, each once: two objects naming the same range (as while
  // one replaces the other) keep it until both are gone.
  std::vector<std::string> serviceCIDRs() const;

  // Services whose rules may differ since the last take, and whether the next sync must be
  // full (node labels changed). Clears both.
  struct Changes {
    std::set<model::NamespacedName> services;
    bool needFull = false;
    // From the EndpointSlices' last-change-trigger-time annotations: network programming latency
    // is measured from these to the end of the sync that applies them.
    std::vector<WallTime> triggerTimes;
    size_t endpointChanges = 0;  // slice adds, updates and deletes
  };
  Changes takeChanges();
  bool hasChanges() const { return !changed_.empty() || nodeChanged_; }
  size_t pendingEndpointChanges() const { return endpointChanges_; }

  // The desired state of `family`. Only the Services changed since the previous call are
  // rebuilt (every one on the first call, after a node label change, or with `rebuild`); the
  // rest are shared with the previous state. O(change), not O(cluster), per sync.
  std::shared_ptr<const DesiredState> desired(model::IPFamily family, bool rebuild = false);
  // From scratch, for comparison and for one-off renders.
  DesiredState buildDesired(model::IPFamily family) const;
  NodeContext nodeContext() const;
  // The AllowServiceExternalIPs feature gate; set before the first desired().
  void setServeExternalIPs(bool serve) { serveExternalIPs_ = serve; }
  const std::optional<model::Node>& node() const { return node_; }
  size_t serviceCount() const { return services_.size(); }
  size_t sliceCount() const { return slices_.size(); }

  std::vector<model::Service> services() const;
  std::vector<model::EndpointSlice> slices() const;

 private:
  std::string nodeName_;
  std::map<model::NamespacedName, model::Service> services_;
  std::map<model::NamespacedName, model::EndpointSlice> slices_;
  std::optional<model::Node> node_;
  std::map<std::string, std::vector<std::string>> serviceCIDRs_;  // by object name
  std::set<model::NamespacedName> changed_;
  bool nodeChanged_ = false;
  bool serveExternalIPs_ = true;
  WallTime start_;
  std::vector<WallTime> triggerTimes_;
  size_t endpointChanges_ = 0;

  // service key -> keys of the slices that name it (kubernetes.io/service-name)
  std::map<model::NamespacedName, std::set<model::NamespacedName>> slicesByService_;
  struct FamilyCache {
    bool valid = false;
    std::set<model::NamespacedName> dirty;  // services to rebuild at the next desired()
    std::map<model::NamespacedName, std::vector<PortList::Ptr>> ports;  // services with ports only
    // The same ports in runs of consecutive services, keyed by each run's first service: a run
    // covers the services from its key to the next run's (the first run, from the start). A
    // change rebuilds its run; the next state shares every other run's chunk.
    std::map<model::NamespacedName, PortList::Chunk> runs;
    std::shared_ptr<const DesiredState> state;
  };
  // Rebuilds the runs holding `keys` (all of them when `all`).
  static void rebuildRuns(FamilyCache& cache, const std::set<model::NamespacedName>& keys, bool all);
  std::array<FamilyCache, 2> cache_;

  void touch(const model::NamespacedName& svc);
  std::vector<PortList::Ptr> buildService(const model::NamespacedName& svc, model::IPFamily family,
                                          const NodeContext& node) const;
};

}  // namespace kproxy::dataplane
