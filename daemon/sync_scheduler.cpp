#include "daemon/sync_scheduler.h"

#include <algorithm>

namespace kproxy::daemon {

SyncScheduler::SyncScheduler(Options options) : opt_(options) {}

SyncScheduler::Duration SyncScheduler::fullSyncInterval(Duration lastFullSync, const Options& o) {
  auto budgeted = std::chrono::duration_cast<Duration>(lastFullSync / kFullSyncBudget);
  return std::clamp(budgeted, o.syncPeriod, std::max(o.syncPeriod, o.maxFullSyncPeriod));
}

void SyncScheduler::setReady(TimePoint now) {
  if (ready_) return;
  ready_ = true;
  needFull_ = true;
  requestedAt_ = now;
}

void SyncScheduler::requestSync(TimePoint now) {
  if (!pending_ && !needFull_) requestedAt_ = now;
  pending_ = true;
}

void SyncScheduler::requestFullSync(TimePoint now) {
  if (!pending_ && !needFull_) requestedAt_ = now;
  needFull_ = true;
}

std::optional<SyncScheduler::TimePoint> SyncScheduler::nextRunAt() const {
  if (!ready_ || running_) return std::nullopt;
  if (failures_ > 0) return retryAt_;
  // Every sync period a sync runs (upstream's periodic sync): partial, which rewrites nothing that
  // did not change but lets a mode finish its own business (IPVS's drained destinations); full
  // when the budgeted interval since the last full one has passed.
  TimePoint periodic = std::min(lastStart_ + opt_.syncPeriod, lastFullStart_ + fullSyncInterval());
  if (!pending_ && !needFull_) return periodic;
  if (lastStart_ == TimePoint{}) return requestedAt_;  // the very first sync: at once
  // Changes batch up: never two syncs closer than minSyncPeriod.
  return std::min(periodic, std::max(requestedAt_, lastStart_ + opt_.minSyncPeriod));
}

SyncKind SyncScheduler::begin(TimePoint now) {
  running_ = true;
  bool full = needFull_ || failures_ > 0 || lastFullStart_ == TimePoint{} || now >= lastFullStart_ + fullSyncInterval();
  lastStart_ = now;
  runningFull_ = full;
  if (full) lastFullStart_ = now;
  // What is pending now is covered by this sync; later changes queue anew.
  pending_ = false;
  needFull_ = false;
  return full ? SyncKind::kFull : SyncKind::kPartial;
}

void SyncScheduler::finished(TimePoint now, bool ok) {
  running_ = false;
  if (ok) {
    if (runningFull_) lastFullDuration_ = now - lastFullStart_;
    failures_ = 0;
    return;
  }
  ++failures_;
  needFull_ = true;
  Duration backoff = opt_.firstRetry;
  for (int i = 1; i < failures_ && backoff < opt_.maxRetry; ++i) backoff *= 2;
  retryAt_ = now + std::min(backoff, opt_.maxRetry);
}

}  // namespace kproxy::daemon
