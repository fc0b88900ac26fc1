// When to sync and what kind: bounded frequency, periodic full resync, retry with backoff (pure,
// time injected; the Asio sync loop asks it and sleeps until nextRunAt()).
#pragma once

#include <chrono>
#include <optional>

namespace kproxy::daemon {

enum class SyncKind { kFull, kPartial };

class SyncScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Duration = Clock::duration;

  struct Options {
    Duration minSyncPeriod = std::chrono::seconds(1);  // --iptables-min-sync-period
    Duration syncPeriod = std::chrono::seconds(30);    // --iptables-sync-period: the least full resync interval
    Duration maxFullSyncPeriod = std::chrono::hours(1);  // the most (upstream's FullSyncPeriod)
    Duration firstRetry = std::chrono::seconds(1);     // backoff after a failure, doubling...
    Duration maxRetry = std::chrono::seconds(30);      // ...up to this
  };

  // Periodic full resyncs take at most this share of wall time: a full sync of F seconds comes
  // round every F / kFullSyncBudget, kept within [syncPeriod, maxFullSyncPeriod]. A small
  // cluster (F = 50 ms) keeps its 30 s self-repair; 10k Services on iptables-nft (F = 9 s) resync
  // every 15 min instead of holding the xtables lock 30% of the time; the periodic syncs between
  // are partial. Drift in between is caught by the canary and generation checks, which force a
  // full sync.
  static constexpr double kFullSyncBudget = 0.01;
  static Duration fullSyncInterval(Duration lastFullSync, const Options& options);

  explicit SyncScheduler(Options options);

  // The first complete listing is in: nothing may be programmed before this.
  void setReady(TimePoint now);
  // A Service or endpoint change is queued.
  void requestSync(TimePoint now);
  // Something invalidated the kernel state (canary chain gone, backend switched).
  void requestFullSync(TimePoint now);

  // When the next sync should start; nullopt before setReady().
  std::optional<TimePoint> nextRunAt() const;
  // Starts the sync due at `now` (call when now >= nextRunAt()).
  SyncKind begin(TimePoint now);
  // The sync started by begin() ended. A failure makes the next sync a full one, after backoff.
  void finished(TimePoint now, bool ok);

  bool pending() const { return pending_ || needFull_; }
  // The interval to the next periodic full sync, from the last full sync's duration.
  Duration fullSyncInterval() const { return fullSyncInterval(lastFullDuration_, opt_); }
  int consecutiveFailures() const { return failures_; }

 private:
  Options opt_;
  bool ready_ = false;
  bool pending_ = false;   // a change waits for a partial sync
  bool needFull_ = true;   // the next sync must be full
  bool running_ = false;
  bool runningFull_ = false;
  Duration lastFullDuration_{};
  int failures_ = 0;
  TimePoint lastStart_{};
  TimePoint lastFullStart_{};
  TimePoint retryAt_{};
  TimePoint requestedAt_{};
};

}  // namespace kproxy::daemon
