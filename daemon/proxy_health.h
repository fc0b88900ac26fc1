// kube-proxy's health semantics (pure, time injected): healthy unless a queued change has waited
// longer than the timeout (2 x sync period) without a successful sync.
#pragma once

#include <chrono>
#include <string>

namespace kproxy::daemon {

class ProxyHealth {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit ProxyHealth(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // A change is waiting for a sync (the oldest one counts).
  void queued(TimePoint now);
  // Rules were synced successfully; also called once at start, as kube-proxy does.
  void updated(TimePoint now);
  // The Node is being deleted: /healthz fails so load balancers drain the node; /livez does not.
  void setNodeEligible(bool eligible) { nodeEligible_ = eligible; }

  struct Verdict {
    bool healthy = true;
    int status = 200;  // 200 or 503
    std::string body;  // kube-proxy's JSON
  };
  Verdict healthz(TimePoint now) const { return verdict(now, true); }
  Verdict livez(TimePoint now) const { return verdict(now, false); }

 private:
  Verdict verdict(TimePoint now, bool withNode) const;
  std::chrono::milliseconds timeout_;
  TimePoint lastUpdated_{};
  TimePoint oldestQueued_{};
  bool nodeEligible_ = true;
};

// Go's time.Time.String() layout, which kube-proxy's JSON uses: "2026-11-24 06:20:00.123456789 +0000 UTC".
std::string goTimeString(ProxyHealth::TimePoint t);

}  // namespace kproxy::daemon
