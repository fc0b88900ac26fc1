#include "daemon/proxy_health.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace kproxy::daemon {

void ProxyHealth::queued(model::IPFamily family, TimePoint now) {
  Family& f = families_[family];
  if (!f.queued) {
    f.queued = true;
    f.oldestQueued = now;
  }
}

void ProxyHealth::updated(model::IPFamily family, TimePoint now) {
  Family& f = families_[family];
  f.lastUpdated = now;
  f.queued = false;
}

bool ProxyHealth::familyHealthy(const Family& f, TimePoint now) const {
  return !f.queued || now - f.oldestQueued < timeout_;
}

bool ProxyHealth::proxyHealthy(TimePoint now) const {
  return std::all_of(families_.begin(), families_.end(), [&](const auto& kv) { return familyHealthy(kv.second, now); });
}

ProxyHealth::Verdict ProxyHealth::verdict(TimePoint now, bool withNode) const {
  Verdict v;
  const bool proxy = proxyHealthy(now);
  v.healthy = proxy && (!withNode || nodeEligible_);
  v.status = v.healthy ? 200 : 503;
  TimePoint last{};
  std::string status;
  for (const auto& [family, f] : families_) {  // IPv4 before IPv6: Go's sorted map keys
    last = std::max(last, f.lastUpdated);
    status += std::string(status.empty() ? "" : ",") + "\"" + model::familyName(family) + "\":{\"lastUpdated\":\"" +
              goJsonTime(f.lastUpdated) + "\",\"healthy\":" + (familyHealthy(f, now) ? "true" : "false") + "}";
  }
  // As upstream: a healthy answer's lastUpdated is now (older releases' meaning); the per-family
  // status keeps the real times.
  if (v.healthy) last = now;
  v.body = "{\"lastUpdated\":\"" + goJsonTime(last) + "\",\"currentTime\":\"" + goJsonTime(now) + "\"" +
           (withNode ? std::string(",\"nodeEligible\":") + (nodeEligible_ ? "true" : "false") : std::string()) +
           ",\"healthy\":" + (proxy ? "true" : "false") + (status.empty() ? "" : ",\"status\":{" + status + "}") + "}";
  return v;
}

bool nodeEligible(const model::Node& node) {
  if (node.meta.deleting) return false;
  return std::find(node.taintKeys.begin(), node.taintKeys.end(), kToBeDeletedTaint) == node.taintKeys.end();
}

std::string goJsonTime(ProxyHealth::TimePoint t) {
  if (t == ProxyHealth::TimePoint{}) return "0001-01-01T00:00:00Z";
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);
  long nanos = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - secs).count());
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16] = "";
  if (nanos) {
    std::snprintf(frac, sizeof frac, ".%09ld", nanos);
    for (int i = static_cast<int>(std::char_traits<char>::length(frac)) - 1; i > 0 && frac[i] == '0'; --i) frac[i] = '\0';
  }
  return std::string(buf) + frac + "Z";
}

}  // namespace kproxy::daemon
