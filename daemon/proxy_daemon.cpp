#include "daemon/proxy_daemon.h"

#include <malloc.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <map>
#include <sstream>

#include "dataplane/log.h"
#include "dataplane/proxy_options.h"

namespace kproxy::daemon {

namespace {
std::string ms(double seconds) {
  std::ostringstream o;
  o.precision(seconds < 0.01 ? 2 : 1);  // partial syncs take well under a millisecond
  o << std::fixed << seconds * 1000 << "ms";
  return o.str();
}
}  // namespace

ProxyDaemon::ProxyDaemon(boost::asio::io_context& io, std::string nodeName, SyncScheduler::Options timing,
                         std::unique_ptr<watch::Source> source, std::vector<FamilyBackend> backends)
    : io_(io),
      scheduler_(timing),
      timing_(timing),
      source_(std::move(source)),
      backends_(std::move(backends)),
      state_(std::move(nodeName)),
      syncTimer_(io),
      canaryTimer_(io) {}

ProxyDaemon::~ProxyDaemon() {
  stop();
  worker_.join();
}

namespace {
double unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
Metrics::Labels familyLabel(model::IPFamily f) { return {{"ip_family", model::familyName(f)}}; }
}  // namespace

void ProxyDaemon::start() {
  // As kube-proxy: healthy at start, so that a slow first listing does not fail the probe.
  if (health_)
    for (const auto& fb : backends_) health_->updated(fb.family, std::chrono::system_clock::now());
  if (metrics_)
    for (const auto& fb : backends_) perFamilyMetrics(*metrics_, fb.backend->mode(), model::familyName(fb.family));
  source_->start([this](watch::SourceBatch b) { onBatch(std::move(b)); });
  armCanary();
}

void ProxyDaemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  source_->stop();
  syncTimer_.cancel();
  canaryTimer_.cancel();
}

void ProxyDaemon::onBatch(watch::SourceBatch b) {
  if (stopped_) return;
  bool changed = false;
  size_t serviceChanges = 0;
  for (auto& s : b.upsertServices) serviceChanges += state_.upsertService(std::move(s));
  for (auto& k : b.deleteServices) serviceChanges += state_.deleteService(k);
  changed = serviceChanges > 0;
  if (metrics_ && serviceChanges)
    metrics_->counterAdd("kubeproxy_sync_proxy_rules_service_changes_total", static_cast<double>(serviceChanges));
  size_t endpointsBefore = state_.pendingEndpointChanges();
  for (auto& s : b.upsertSlices) changed |= state_.upsertSlice(std::move(s));
  for (auto& k : b.deleteSlices) changed |= state_.deleteSlice(k);
  if (metrics_ && state_.pendingEndpointChanges() > endpointsBefore) {
    metrics_->counterAdd("kubeproxy_sync_proxy_rules_endpoint_changes_total",
                         static_cast<double>(state_.pendingEndpointChanges() - endpointsBefore));
    metrics_->gaugeSet("kubeproxy_sync_proxy_rules_endpoint_changes_pending",
                       static_cast<double>(state_.pendingEndpointChanges() + unappliedEndpointChanges_));
  }
  for (auto& n : b.upsertNodes) changed |= state_.upsertNode(std::move(n));
  for (auto& n : b.deleteNodes) changed |= state_.deleteNode(n);
  // A new set of ranges reaches the backends with the NodeInfo, in a full sync.
  for (auto& c : b.upsertServiceCIDRs) changed |= state_.upsertServiceCIDR(std::move(c));
  for (auto& n : b.deleteServiceCIDRs) changed |= state_.deleteServiceCIDR(n);
  // kube-proxy: a Node being deleted fails /healthz so that load balancers drain it.
  if (health_ && (!b.upsertNodes.empty() || !b.deleteNodes.empty()))
    health_->setNodeEligible(!state_.node() || nodeEligible(*state_.node()));
  auto now = SyncScheduler::Clock::now();
  if (b.listComplete) {
    log::info("initial listing complete: " + std::to_string(state_.serviceCount()) + " services, " +
              std::to_string(state_.sliceCount()) + " endpoint slices");
    scheduler_.setReady(now);
  } else if (changed) {
    scheduler_.requestSync(now);
  }
  if (changed || b.listComplete) {
    auto wall = std::chrono::system_clock::now();
    if (health_)
      for (const auto& fb : backends_) health_->queued(fb.family, wall);
    if (metrics_)
      for (const auto& fb : backends_)
        metrics_->gaugeSet("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", unixSeconds(wall), familyLabel(fb.family));
  }
  arm();
}

void ProxyDaemon::arm() {
  if (stopped_ || syncing_) return;
  auto at = scheduler_.nextRunAt();
  if (!at) return;
  syncTimer_.expires_at(*at);
  syncTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) runSync();
  });
}

void ProxyDaemon::runSync() {
  if (stopped_ || syncing_) return;
  auto now = SyncScheduler::Clock::now();
  auto at = scheduler_.nextRunAt();
  if (!at || *at > now) return arm();
  SyncKind kind = scheduler_.begin(now);
  auto changes = state_.takeChanges();
  unapplied_.insert(changes.services.begin(), changes.services.end());
  unappliedTriggers_.insert(unappliedTriggers_.end(), changes.triggerTimes.begin(), changes.triggerTimes.end());
  unappliedEndpointChanges_ += changes.endpointChanges;
  if (changes.needFull) kind = SyncKind::kFull;
  // What the Node says (primary IPs, pod CIDRs), re-read when it changes (upstream restarts).
  std::optional<dataplane::NodeInfo> newNodeInfo;
  auto info = dataplane::nodeInfoOf(state_.node() ? &*state_.node() : nullptr, bindAddress_);
  info.serviceCIDRs = state_.serviceCIDRs();
  if (!nodeInfo_ || *nodeInfo_ != info) {
    auto join = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
      return out.empty() ? std::string("none known") : out;
    };
    log::info("primary node IPs: " + join(info.primaryIPs) + "; pod CIDRs: " + join(info.podCIDRs) +
              "; service CIDRs: " + join(info.serviceCIDRs));
    nodeInfo_ = info;
    newNodeInfo = std::move(info);
    kind = SyncKind::kFull;
  }
  std::vector<std::shared_ptr<const dataplane::DesiredState>> desired;
  auto buildStart = std::chrono::steady_clock::now();
  for (const auto& fb : backends_)
    desired.push_back(state_.desired(fb.family, kind == SyncKind::kFull));
  desiredSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - buildStart).count();
  syncing_ = true;
  std::set<model::NamespacedName> changed = unapplied_;
  boost::asio::post(worker_, [this, kind, desired = std::move(desired), changed = std::move(changed),
                               newNodeInfo = std::move(newNodeInfo)] {
    if (newNodeInfo)
      for (auto& fb : backends_) fb.backend->setNodeInfo(*newNodeInfo);
    std::vector<dataplane::SyncReport> reports;
    for (size_t i = 0; i < backends_.size(); ++i) {
      auto& backend = *backends_[i].backend;
      auto before = backend.applied();
      reports.push_back(kind == SyncKind::kFull ? backend.syncFull(desired[i]) : backend.syncPartial(desired[i], changed));
      if (reports.back().ok && postSync_) postSync_(before.get(), *desired[i]);
    }
    // A full sync's scratch (the whole ruleset rendered and encoded) is freed by now, but
    // glibc keeps the pages: hand them back, or the node sees the peak as our size for good.
    if (kind == SyncKind::kFull) ::malloc_trim(0);
    boost::asio::post(io_, [this, reports = std::move(reports)]() mutable { onSyncDone(std::move(reports)); });
  });
}

void ProxyDaemon::onSyncDone(std::vector<dataplane::SyncReport> reports) {
  syncing_ = false;
  bool ok = std::all_of(reports.begin(), reports.end(), [](const auto& r) { return r.ok; });
  scheduler_.finished(SyncScheduler::Clock::now(), ok);
  ++stats_.syncs;
  if (!reports.empty() && reports.front().full) ++stats_.fullSyncs;
  auto wallNow = std::chrono::system_clock::now();
  if (ok) {
    unapplied_.clear();
    // Network programming latency: from each change's trigger time to rules in the kernel, one
    // observation per family as upstream's per-family proxiers make them.
    for (auto t : unappliedTriggers_) {
      // A trigger time in the future (clock skew, or a hostile annotation) has no latency to report.
      if (t > wallNow) continue;
      double seconds = std::chrono::duration<double>(wallNow - t).count();
      if (metrics_)
        for (const auto& fb : backends_)
          metrics_->observe("kubeproxy_network_programming_duration_seconds", seconds, familyLabel(fb.family));
      log::v(4, "network programming latency " + ms(seconds));
    }
    unappliedTriggers_.clear();
    unappliedEndpointChanges_ = 0;
  } else {
    ++stats_.failures;
    nodeInfo_.reset();  // the retry hands the Node's information over again, in a full sync
  }
  if (metrics_) {
    // Per IP family, as the metric reference of kube-proxy 1.37 labels them (ip_family).
    const std::string mode = backends_.empty() ? "iptables" : backends_.front().backend->mode();
    for (size_t i = 0; i < reports.size() && i < backends_.size(); ++i) {
      const auto& r = reports[i];
      const Metrics::Labels fam = familyLabel(backends_[i].family);
      metrics_->observe("kubeproxy_sync_proxy_rules_duration_seconds", r.totalSeconds, fam);
      metrics_->observe(r.full ? "kubeproxy_sync_full_proxy_rules_duration_seconds"
                               : "kubeproxy_sync_partial_proxy_rules_duration_seconds",
                        r.totalSeconds, fam);
      if (r.cleanupFailures && mode == "nftables")
        metrics_->counterAdd("kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total", static_cast<double>(r.cleanupFailures), fam);
      if (!r.ok) {
        // Charged to the mode's own counter, as upstream's proxiers do.
        if (mode == "nftables" || mode == "ebpf") {
          metrics_->counterAdd(std::string("kubeproxy_sync_proxy_rules_") + mode + "_sync_failures_total", 1, fam);
        } else {
          metrics_->counterAdd("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", 1, fam);
          if (!r.full && mode == "iptables")
            metrics_->counterAdd("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total", 1, fam);
        }
        continue;
      }
      metrics_->gaugeSet("kubeproxy_sync_proxy_rules_last_timestamp_seconds", unixSeconds(wallNow), fam);
      if (mode == "iptables") {  // upstream registers these in iptables mode only
        for (const auto& [table, n] : r.ruleCounts)
          metrics_->gaugeSet("kubeproxy_sync_proxy_rules_iptables_total", static_cast<double>(n),
                             {fam.front(), {"table", table}});
        for (const auto& [table, n] : r.rulesWritten)
          metrics_->gaugeSet("kubeproxy_sync_proxy_rules_iptables_last", static_cast<double>(n),
                             {fam.front(), {"table", table}});
      }
      // As kube-proxy: service ports with endpoints, a Local policy, and none of them here.
      double internal = 0, external = 0;
      if (auto applied = backends_[i].backend->applied())
        for (const auto& p : applied->ports) {
          if (!p.hasAnyEndpoints || !p.localEndpoints.empty()) continue;
          internal += p.internalPolicyLocal;
          external += p.externalPolicyLocal && p.externallyAccessible();
        }
      metrics_->gaugeSet("kubeproxy_sync_proxy_rules_no_local_endpoints_total", internal,
                         {fam.front(), {"traffic_policy", "internal"}});
      metrics_->gaugeSet("kubeproxy_sync_proxy_rules_no_local_endpoints_total", external,
                         {fam.front(), {"traffic_policy", "external"}});
    }
    metrics_->gaugeSet("kubeproxy_sync_proxy_rules_service_changes_pending", ok ? 0 : static_cast<double>(unapplied_.size()));
    metrics_->gaugeSet("kubeproxy_sync_proxy_rules_endpoint_changes_pending",
                       static_cast<double>(state_.pendingEndpointChanges() + unappliedEndpointChanges_));
  }
  // Each family whose sync succeeded is up to date (upstream's per-proxier Updated()).
  if (health_)
    for (size_t i = 0; i < reports.size() && i < backends_.size(); ++i)
      if (reports[i].ok) health_->updated(backends_[i].family, std::chrono::system_clock::now());
  if (ok && applied_) {
    std::vector<std::shared_ptr<const dataplane::DesiredState>> states;
    for (const auto& fb : backends_)
      if (const auto& s = fb.backend->applied()) states.push_back(s);
    applied_(states, nodeInfo_ ? *nodeInfo_ : dataplane::NodeInfo{});
  }
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& report = reports[i];
    std::string what = std::string(report.full ? "full" : "partial") + " sync (" +
                       (backends_[i].family == model::IPFamily::kIPv4 ? "IPv4" : "IPv6") + ")";
    if (report.ok) {
      const char* step = backends_[i].backend->kernelStep();
      log::info(what + " done: " + std::to_string(report.servicePortsWritten) + " service ports written, " +
                std::to_string(report.deleted) + " stale objects deleted, " + std::to_string(report.bytes) +
                " bytes in " + std::to_string(report.transactions) + " " + step + "(s), " + ms(report.totalSeconds) +
                " (desired state " + ms(desiredSeconds_) + ", render " + ms(report.renderSeconds) + ", " + step + " " +
                ms(report.kernelSeconds) + ")");
    } else {
      stats_.lastError = report.error;
      log::error(what + " failed, previous rules stay in place; retrying a full sync (attempt " +
                 std::to_string(scheduler_.consecutiveFailures()) + "): " + report.error);
    }
  }
  arm();
}

void ProxyDaemon::armCanary() {
  // kube-proxy checks its canary every sync period; a flushed table forces a full sync.
  canaryTimer_.expires_after(timing_.syncPeriod);
  canaryTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    {
      // On the worker: backend calls never overlap a sync.
      boost::asio::post(worker_, [this] {
        bool present = true;
        for (auto& fb : backends_)
          if (fb.backend->hasApplied() && !fb.backend->canaryPresent()) present = false;
        boost::asio::post(io_, [this, present] {
          if (present || stopped_) return;
          log::warning("canary chain KUBE-PROXY-CANARY is gone (rules flushed?); forcing a full sync");
          scheduler_.requestFullSync(SyncScheduler::Clock::now());
          arm();
        });
      });
    }
    armCanary();
  });
}

}  // namespace kproxy::daemon
