// A kproxy daemon that `kproxy bench` runs in the lab's node namespace; its own log says how
// long each sync took (desired state + render + kernel), which is what the bench reports.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <vector>

#include "dataplane/status.h"

namespace kproxy::benchcmd {

struct SyncTimes {
  std::vector<double> full, partial;  // seconds, in log order
  std::string failure;                // the first "sync ... failed" line, if any
};
// The IPv4 sync lines of a kproxy log ("full sync (IPv4) done: ..., 84.1ms (desired state
// 12.0ms, ...").
SyncTimes parseSyncTimes(const std::string& log);

class ProxyProcess {
 public:
  ~ProxyProcess() { stop(); }
  // Runs `exe args...` inside network namespace `ns`, stdout and stderr to `logPath`.
  Status start(const std::string& ns, const std::string& exe, const std::vector<std::string>& args,
               const std::string& logPath);
  // Waiting stops early once *flag is true (a signal arrived).
  void setCancel(const std::atomic<bool>* flag) { cancel_ = flag; }
  // Waits until the log shows `count` syncs of the kind; returns the last one's seconds.
  Result<double> waitForSync(bool full, size_t count, double timeoutSeconds);
  // Peak resident set (VmHWM), bytes; 0 when unknown.
  uint64_t peakRssBytes() const;
  bool running();
  void stop();
  std::string logTail(size_t lines) const;

 private:
  pid_t pid_ = -1;
  std::string log_;
  const std::atomic<bool>* cancel_ = nullptr;
};

}  // namespace kproxy::benchcmd
