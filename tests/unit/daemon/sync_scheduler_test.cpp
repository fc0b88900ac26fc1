#include "daemon/sync_scheduler.h"

#include <gtest/gtest.h>

namespace kproxy::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TP = SyncScheduler::TimePoint;

const TP t0 = TP{} + seconds(1000);

SyncScheduler scheduler() {
  SyncScheduler::Options o;
  o.minSyncPeriod = seconds(1);
  o.syncPeriod = seconds(30);
  o.firstRetry = seconds(1);
  o.maxRetry = seconds(8);
  return SyncScheduler(o);
}

TEST(SyncScheduler, NothingBeforeTheFirstListingThenAFullSyncAtOnce) {
  auto s = scheduler();
  s.requestSync(t0);
  EXPECT_FALSE(s.nextRunAt());
  s.setReady(t0 + seconds(2));
  ASSERT_TRUE(s.nextRunAt());
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(2));
  EXPECT_EQ(s.begin(t0 + seconds(2)), SyncKind::kFull);
  EXPECT_FALSE(s.nextRunAt());  // running
  s.finished(t0 + seconds(2), true);
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(32));  // idle: the periodic full resync
}

TEST(SyncScheduler, ChangesArePartialAndBoundedByMinSyncPeriod) {
  auto s = scheduler();
  s.setReady(t0);
  s.begin(t0);
  s.finished(t0 + milliseconds(100), true);
  s.requestSync(t0 + milliseconds(200));
  s.requestSync(t0 + milliseconds(300));  // batches with the first
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(1));
  EXPECT_EQ(s.begin(t0 + seconds(1)), SyncKind::kPartial);
  s.finished(t0 + seconds(1) + milliseconds(5), true);
  EXPECT_FALSE(s.pending());
  s.requestSync(t0 + seconds(5));  // long after: at once
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(5));
}

TEST(SyncScheduler, ChangeDuringASyncQueuesAnotherOne) {
  auto s = scheduler();
  s.setReady(t0);
  s.begin(t0);
  s.requestSync(t0 + milliseconds(10));
  s.finished(t0 + milliseconds(500), true);
  EXPECT_TRUE(s.pending());
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(1));
}

TEST(SyncScheduler, PeriodicFullResync) {
  auto s = scheduler();
  s.setReady(t0);
  s.begin(t0);
  s.finished(t0, true);
  s.requestSync(t0 + seconds(31));
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(30));
  EXPECT_EQ(s.begin(t0 + seconds(31)), SyncKind::kFull);
}

TEST(SyncScheduler, FailureRetriesAsFullWithCappedExponentialBackoff) {
  auto s = scheduler();
  s.setReady(t0);
  TP now = t0;
  std::vector<long> waits;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(s.begin(now), SyncKind::kFull);
    s.finished(now, false);
    TP next = *s.nextRunAt();
    waits.push_back(std::chrono::duration_cast<seconds>(next - now).count());
    now = next;
  }
  EXPECT_EQ(waits, (std::vector<long>{1, 2, 4, 8, 8, 8}));
  EXPECT_EQ(s.consecutiveFailures(), 6);
  EXPECT_EQ(s.begin(now), SyncKind::kFull);
  s.finished(now, true);
  EXPECT_EQ(s.consecutiveFailures(), 0);
  s.requestSync(now + seconds(2));
  EXPECT_EQ(s.begin(now + seconds(2)), SyncKind::kPartial);
}

TEST(SyncScheduler, FullSyncRequestWins) {
  auto s = scheduler();
  s.setReady(t0);
  s.begin(t0);
  s.finished(t0, true);
  s.requestSync(t0 + seconds(3));
  s.requestFullSync(t0 + seconds(3));  // e.g. the canary chain vanished
  EXPECT_EQ(s.begin(t0 + seconds(3)), SyncKind::kFull);
}

// Periodic full resyncs cost at most 1% of wall time, between the sync period and an hour;
// changes in between stay partial, and a failure or a drift check still forces a full sync.
TEST(SyncScheduler, PeriodicFullSyncsAreSpacedToAOnePercentBudget) {
  SyncScheduler::Options o;
  o.syncPeriod = seconds(30);
  EXPECT_EQ(SyncScheduler::fullSyncInterval(milliseconds(50), o), seconds(30)) << "small cluster: the sync period";
  EXPECT_EQ(SyncScheduler::fullSyncInterval(seconds(9), o), seconds(900)) << "10k on iptables-nft";
  EXPECT_EQ(SyncScheduler::fullSyncInterval(seconds(60), o), std::chrono::hours(1)) << "never less often than hourly";
  o.syncPeriod = std::chrono::hours(2);
  EXPECT_EQ(SyncScheduler::fullSyncInterval(seconds(1), o), std::chrono::hours(2)) << "a longer sync period wins";

  auto s = scheduler();
  s.setReady(t0);
  ASSERT_EQ(s.begin(t0), SyncKind::kFull);
  s.finished(t0 + seconds(9), true);  // a 9 s full sync
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(30)) << "the periodic sync...";
  EXPECT_EQ(s.begin(t0 + seconds(30)), SyncKind::kPartial) << "...is partial until the budgeted full one";
  s.finished(t0 + seconds(30), true);
  EXPECT_EQ(*s.nextRunAt(), t0 + seconds(60));
  // One change per second: all partial until the budgeted full sync is due.
  TP now = t0 + seconds(10);
  int fulls = 0, partials = 0;
  for (; now < t0 + seconds(1900); now += seconds(1)) {
    s.requestSync(now);
    if (*s.nextRunAt() > now) continue;
    if (s.begin(now) == SyncKind::kFull) {
      ++fulls;
      now += seconds(9);  // full syncs still take 9 s
      s.finished(now, true);
    } else {
      ++partials;
      s.finished(now + milliseconds(10), true);
    }
  }
  EXPECT_EQ(fulls, 2) << "at 900 s and 1800 s";
  EXPECT_GT(partials, 1800);
  // A drift check's request is full at once, whatever the budget.
  s.requestFullSync(now);
  EXPECT_EQ(s.begin(*s.nextRunAt()), SyncKind::kFull);
}

}  // namespace
}  // namespace kproxy::daemon
