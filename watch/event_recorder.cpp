#include "watch/event_recorder.h"

#include <cstdio>
#include <ctime>

#include "dataplane/log.h"

namespace kproxy::watch {

namespace {
constexpr size_t kMaxQueued = 64;

// metav1.MicroTime's JSON: RFC 3339 with exactly six fractional digits.
std::string microTime(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);
  long micros = static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count());
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%06ldZ", buf, micros);
  return out;
}
}  // namespace

nlohmann::json eventObject(const EventSpec& e, const std::string& host, std::chrono::system_clock::time_point now) {
  const std::string ns = e.regarding.namespace_.empty() ? "default" : e.regarding.namespace_;
  char name[64];
  std::snprintf(name, sizeof name, ".%llx",
                static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
  nlohmann::json regarding = {{"kind", e.regarding.kind}, {"name", e.regarding.name}, {"uid", e.regarding.uid}};
  if (!e.regarding.namespace_.empty()) regarding["namespace"] = e.regarding.namespace_;
  if (e.regarding.kind == "Service") regarding["apiVersion"] = "v1";
  return {{"apiVersion", "events.k8s.io/v1"},
          {"kind", "Event"},
          {"metadata", {{"name", e.regarding.name + name}, {"namespace", ns}}},
          {"eventTime", microTime(now)},
          {"reportingController", "kube-proxy"},
          {"reportingInstance", "kube-proxy-" + host},
          {"action", e.action},
          {"reason", e.reason},
          {"regarding", regarding},
          {"note", e.note},
          {"type", e.type}};
}

EventRecorder::EventRecorder(HttpClientPtr client, std::string host)
    : client_(std::move(client)), host_(std::move(host)), worker_([this] { run(); }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  client_->cancel();
  worker_.join();
}

void EventRecorder::record(EventSpec e) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || queue_.size() >= kMaxQueued) return;
    queue_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void EventRecorder::run() {
  for (;;) {
    EventSpec e;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      e = std::move(queue_.front());
      queue_.pop_front();
    }
    const nlohmann::json ev = eventObject(e, host_, std::chrono::system_clock::now());
    const std::string ns = ev["metadata"]["namespace"].get<std::string>();
    HttpReply r = client_->post("/apis/events.k8s.io/v1/namespaces/" + ns + "/events", ev.dump(), std::chrono::seconds(10));
    if (r.transportFailed() || r.status < 200 || r.status >= 300)
      log::warning("event " + e.reason + " for " + e.regarding.kind + " " + e.regarding.name + " not recorded: " +
                   (r.transportFailed() ? r.error : "HTTP " + std::to_string(r.status)));
    else
      log::v(2, "event " + e.reason + " recorded for " + e.regarding.kind + " " + e.regarding.name);
  }
}

}  // namespace kproxy::watch
