#include "daemon/proxy_health.h"

#include <cstdio>
#include <ctime>

namespace kproxy::daemon {

void ProxyHealth::queued(TimePoint now) {
  if (oldestQueued_ == TimePoint{}) oldestQueued_ = now;
}

void ProxyHealth::updated(TimePoint now) {
  lastUpdated_ = now;
  oldestQueued_ = TimePoint{};
}

ProxyHealth::Verdict ProxyHealth::verdict(TimePoint now, bool withNode) const {
  Verdict v;
  bool stale = oldestQueued_ != TimePoint{} && now - oldestQueued_ > timeout_;
  v.healthy = !stale && (!withNode || nodeEligible_);
  v.status = v.healthy ? 200 : 503;
  v.body = "{\"lastUpdated\": \"" + goTimeString(lastUpdated_) + "\",\"currentTime\": \"" + goTimeString(now) +
           "\", \"nodeEligible\": " + (nodeEligible_ ? "true" : "false") + ", \"healthy\": " +
           (v.healthy ? "true" : "false") + "}";
  return v;
}

std::string goTimeString(ProxyHealth::TimePoint t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  long nanos = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - secs).count());
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char frac[16] = "";
  if (nanos) {
    std::snprintf(frac, sizeof frac, ".%09ld", nanos);
    for (int i = static_cast<int>(std::char_traits<char>::length(frac)) - 1; i > 0 && frac[i] == '0'; --i) frac[i] = '\0';
  }
  return std::string(buf) + frac + " +0000 UTC";
}

}  // namespace kproxy::daemon
