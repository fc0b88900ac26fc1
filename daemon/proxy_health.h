// kube-proxy 1.37's health semantics (pure, time injected): each IP family's proxier is healthy
// unless a queued change has waited longer than the timeout (2 x sync period) without a
// successful sync; /healthz also needs the Node to be eligible (not being deleted, not tainted
// ToBeDeletedByClusterAutoscaler), /livez does not.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "dataplane/model.h"

namespace kproxy::daemon {

inline constexpr const char* kToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler";

class ProxyHealth {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit ProxyHealth(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // A change is waiting for `family`'s sync (the oldest one counts).
  void queued(model::IPFamily family, TimePoint now);
  // `family`'s rules were synced successfully; also called once at start, as kube-proxy does.
  void updated(model::IPFamily family, TimePoint now);
  // From the Node object: false while it is being deleted or tainted for deletion by the
  // cluster autoscaler, so load balancers drain the node. True until a Node says otherwise.
  void setNodeEligible(bool eligible) { nodeEligible_ = eligible; }
  // Every family's proxier is healthy (what health-check node ports report as serviceProxyHealthy).
  bool proxyHealthy(TimePoint now) const;

  struct Verdict {
    bool healthy = true;
    int status = 200;  // 200 or 503
    std::string body;  // kube-proxy's JSON
  };
  Verdict healthz(TimePoint now) const { return verdict(now, true); }
  Verdict livez(TimePoint now) const { return verdict(now, false); }

 private:
  struct Family {
    TimePoint lastUpdated{}, oldestQueued{};
    bool queued = false;
  };
  bool familyHealthy(const Family& f, TimePoint now) const;
  Verdict verdict(TimePoint now, bool withNode) const;
  std::chrono::milliseconds timeout_;
  std::map<model::IPFamily, Family> families_;
  bool nodeEligible_ = true;
};

// Whether a Node may take traffic as upstream decides it (deletionTimestamp, autoscaler taint).
bool nodeEligible(const model::Node& node);

// Go's encoding/json form of a time.Time (RFC 3339 with nanoseconds, trailing zeros dropped):
// "2026-11-24T06:20:00.123456789Z"; the zero TimePoint is Go's zero time, "0001-01-01T00:00:00Z".
std::string goJsonTime(ProxyHealth::TimePoint t);

}  // namespace kproxy::daemon
