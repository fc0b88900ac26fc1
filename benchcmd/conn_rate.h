// The data-plane measurement of `kproxy bench`: tiny TCP servers in the lab's pods and a client
// that opens short connections (connect, one request, the answer, close) as fast as it can.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "benchcmd/netns_lab.h"
#include "dataplane/status.h"

namespace kproxy::benchcmd {

struct ConnStats {
  size_t connections = 0;  // answered
  size_t failures = 0;     // refused, timed out or reset
  double seconds = 0;
  double p50Us = 0, p99Us = 0;  // per connection, from connect() to the answer
  double rate() const { return seconds > 0 ? static_cast<double>(connections) / seconds : 0; }
};

// One server per pod namespace of the lab, on `port`, answering "pod-<i>\n" to each request.
class PodServers {
 public:
  ~PodServers() { stop(); }
  Status start(const NetnsLab& lab, uint16_t port);
  void stop();

 private:
  std::vector<std::thread> threads_;
  std::vector<int> listeners_;
  std::atomic<bool> stopping_{false};
};

// Short connections from the namespace `clientNs` to ip:port for `seconds`, by `parallel`
// clients. Each connection ends with a reset, so neither side piles up TIME_WAIT sockets.
Result<ConnStats> measureConnections(const std::string& clientNs, const std::string& ip, uint16_t port,
                                     double seconds, int parallel = 1);

}  // namespace kproxy::benchcmd
