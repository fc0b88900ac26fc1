// Kubernetes Events as kube-proxy's recorder writes them (events.k8s.io/v1, reporting controller
// "kube-proxy"), posted from a thread of their own so that the proxy never waits on the API
// server; a full queue drops the newest and an unreachable server loses them (upstream's events
// are best effort too).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "watch/http_client.h"

namespace kproxy::watch {

struct EventRef {
  std::string kind, namespace_, name, uid;
};

struct EventSpec {
  EventRef regarding;
  std::string type;    // Normal or Warning
  std::string reason;  // Starting, FailedToStartServiceHealthcheck
  std::string action;  // StartKubeProxy, Listen
  std::string note;
};

// The Event object (pure): named "<regarding>.<hex nanoseconds>", in the regarding object's
// namespace ("default" for a Node), eventTime in MicroTime form, reportingInstance
// "kube-proxy-<host>".
nlohmann::json eventObject(const EventSpec& e, const std::string& host, std::chrono::system_clock::time_point now);

class EventRecorder {
 public:
  EventRecorder(HttpClientPtr client, std::string host);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void record(EventSpec e);

 private:
  void run();
  HttpClientPtr client_;
  std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EventSpec> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace kproxy::watch
