// The running proxy: source events -> ClusterState -> SyncScheduler -> backend on a worker.
// One io_context thread owns all state; the blocking restore runs on one worker thread and
// posts its report back.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "daemon/metrics.h"
#include "daemon/proxy_health.h"
#include "daemon/sync_scheduler.h"
#include "dataplane/proxy_options.h"
#include "dataplane/cluster_state.h"
#include "dataplane/backend.h"
#include "watch/source.h"

namespace kproxy::daemon {

// Runs after every successful sync on the worker, with the state the kernel held before and
// holds now (UDP conntrack cleanup hooks in here).
using PostSyncHook = std::function<void(const dataplane::DesiredState* before, const dataplane::DesiredState& now)>;

struct SyncStats {
  uint64_t syncs = 0, fullSyncs = 0, failures = 0;
  std::string lastError;
};

// One ruleset per IP family (iptables and ip6tables), as kube-proxy's dual-stack proxier runs.
struct FamilyBackend {
  model::IPFamily family;
  dataplane::BackendPtr backend;
};

class ProxyDaemon {
 public:
  ProxyDaemon(boost::asio::io_context& io, std::string nodeName, SyncScheduler::Options timing,
              std::unique_ptr<watch::Source> source, std::vector<FamilyBackend> backends);
  ~ProxyDaemon();

  void setPostSyncHook(PostSyncHook hook) { postSync_ = std::move(hook); }
  // On the io thread after a successful sync, with every family's applied state and the Node's
  // information the backends were given (health checks).
  using AppliedHook = std::function<void(const std::vector<std::shared_ptr<const dataplane::DesiredState>>&, const dataplane::NodeInfo&)>;
  void setAppliedHook(AppliedHook hook) { applied_ = std::move(hook); }
  // Where syncs are reported (both optional; owned by the caller, outliving the daemon).
  void setObservers(Metrics* metrics, ProxyHealth* health) {
    metrics_ = metrics;
    health_ = health;
  }
  // kube-proxy's bindAddress: a specific IP is the primary node IP of its family; before start().
  void setBindAddress(std::string ip) { bindAddress_ = std::move(ip); }
  // The AllowServiceExternalIPs feature gate; before start().
  void setServeExternalIPs(bool serve) { state_.setServeExternalIPs(serve); }
  void start();
  // Stops watching and syncing; waits for a sync in flight. Rules stay in the kernel.
  void stop();

  const SyncStats& stats() const { return stats_; }

 private:
  void onBatch(watch::SourceBatch batch);
  void arm();
  void runSync();
  void onSyncDone(std::vector<dataplane::SyncReport> reports);
  void armCanary();

  boost::asio::io_context& io_;
  SyncScheduler scheduler_;
  SyncScheduler::Options timing_;
  std::unique_ptr<watch::Source> source_;
  std::vector<FamilyBackend> backends_;
  dataplane::ClusterState state_;
  std::string bindAddress_;
  std::optional<dataplane::NodeInfo> nodeInfo_;  // what the backends were last given
  boost::asio::steady_timer syncTimer_;
  boost::asio::steady_timer canaryTimer_;
  boost::asio::thread_pool worker_{1};
  PostSyncHook postSync_;
  AppliedHook applied_;
  Metrics* metrics_ = nullptr;
  ProxyHealth* health_ = nullptr;
  bool syncing_ = false;
  bool stopped_ = false;
  // Services changed since the kernel last took a sync: kept across a failed sync.
  std::set<model::NamespacedName> unapplied_;
  // Endpoint changes and their trigger times not yet in the kernel: kept across failed syncs, so
  // a latency includes the retries.
  std::vector<dataplane::WallTime> unappliedTriggers_;
  size_t unappliedEndpointChanges_ = 0;
  double desiredSeconds_ = 0;  // building the last sync's desired states (all families)
  SyncStats stats_;
};

}  // namespace kproxy::daemon
