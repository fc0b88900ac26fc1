// List/watch of one API resource, as client-go's reflector does it: a paginated list, then a
// watch from the list's resourceVersion with bookmarks; a 410 (Expired) relists and the new list
// replaces what was known (deletes missed while away come out as deletes); failures reconnect
// with jittered, capped exponential backoff. Blocking: runs on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dataplane/model.h"
#include "watch/http_client.h"

namespace kproxy::watch {

struct ReflectorEvent {
  enum class Type { kUpsert, kDelete };
  Type type = Type::kUpsert;
  model::NamespacedName key;  // namespace empty for cluster-scoped objects (Nodes)
  nlohmann::json object;      // the object; for a delete its last state, or null after a relist
};

// The reflector's time and randomness, injected so that unit tests never sleep.
class ReflectorClock {
 public:
  virtual ~ReflectorClock() = default;
  // Waits `d`; returns false at once when interrupted (the reflector is stopping).
  virtual bool wait(std::chrono::milliseconds d) = 0;
  virtual std::chrono::steady_clock::time_point now() = 0;
  virtual double random() = 0;  // uniform in [0, 1)
};

// Real time; interrupt() ends every wait, now and later.
class SteadyReflectorClock : public ReflectorClock {
 public:
  bool wait(std::chrono::milliseconds d) override;
  std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }
  double random() override;
  void interrupt();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool interrupted_ = false;
  std::mt19937_64 rng_{std::random_device{}()};
};

struct ReflectorOptions {
  size_t pageSize = 500;
  // Each watch asks the server for timeoutSeconds in [min, 2 min), as client-go does, and gives
  // up on a stream silent for timeoutSeconds + min(30s, min).
  std::chrono::seconds minWatchTimeout{300};
  std::chrono::seconds listIdleTimeout{60};
  // Failures wait base/2..base, base = initial doubling per consecutive failure, capped at max.
  std::chrono::milliseconds backoffInitial{800};
  std::chrono::milliseconds backoffMax{30000};
  // Streaming lists (client-go's WatchList): the initial state comes as a watch with
  // sendInitialEvents=true ending at the "k8s.io/initial-events-end" bookmark, instead of
  // paginated lists. A server that refuses it (or sends no such bookmark within
  // listIdleTimeout) gets paginated lists from then on.
  bool streamingLists = false;
};

struct ResourceRequest {
  std::string name;  // for logs: "services"
  std::string path;  // "/api/v1/services"
  std::string labelSelector;
  std::string fieldSelector;
};

class Reflector {
 public:
  // On the reflector's thread. `listed` is true on the last delivery of each (re)list: from then
  // on, what was delivered describes everything the server holds.
  using Sink = std::function<void(std::vector<ReflectorEvent> events, bool listed)>;

  Reflector(ResourceRequest resource, HttpClient& http, ReflectorClock& clock, ReflectorOptions options, Sink sink);

  // Lists and watches until stop(). Never throws.
  void run();
  // Any thread. The caller also cancels the HTTP client and interrupts the clock, so that a
  // blocked call returns.
  void stop() { stop_ = true; }

  // Observability and tests.
  const std::string& resourceVersion() const { return resourceVersion_; }
  size_t known() const { return store_.size(); }
  uint64_t relists() const { return relists_; }
  bool streaming() const { return options_.streamingLists && !watchListRefused_; }

 private:
  enum class Outcome { kOk, kFailed, kExpired, kEnded, kUnsupported };
  Outcome list();
  // The streaming list; kOk once the initial events are in (the stream then goes on as a watch).
  Outcome watchList();
  // The end of a (re)list, paginated or streamed: what was known and is not in `fresh` was
  // deleted meanwhile.
  void finishList(std::vector<ReflectorEvent>& events, const std::set<model::NamespacedName>& fresh);
  // One object of a (re)list: recorded as known and in `fresh`; an event unless its version is
  // the one already known (periodic relists change nothing). `what` names it in a skip line.
  void listItem(nlohmann::json& item, const char* what, std::set<model::NamespacedName>& fresh,
                std::vector<ReflectorEvent>& events);
  Outcome watch();
  // Handles one watch line; returns kExpired or kFailed when the stream must end.
  Outcome onLine(std::string_view line, bool& delivered);
  void backoff(const std::string& why);
  std::string query(const std::vector<std::pair<std::string, std::string>>& params) const;

  ResourceRequest resource_;
  HttpClient& http_;
  ReflectorClock& clock_;
  ReflectorOptions options_;
  Sink sink_;
  std::atomic<bool> stop_{false};
  std::string resourceVersion_;
  // What the server holds, by key: its resourceVersion (relists skip unchanged objects).
  std::map<model::NamespacedName, std::string> store_;
  int failures_ = 0;
  uint64_t relists_ = 0;
  bool watchListRefused_ = false;  // the server does not do streaming lists: paginate
};

// "ns/name" key of an API object's metadata; nullopt (with a reason) when it has none.
std::optional<model::NamespacedName> objectKey(const nlohmann::json& obj, std::string* why = nullptr);

// Percent-encodes a query value ("!a,b=c" -> "%21a%2Cb%3Dc").
std::string urlEscape(std::string_view s);

}  // namespace kproxy::watch
