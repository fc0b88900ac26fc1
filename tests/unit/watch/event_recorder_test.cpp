// Events as kube-proxy's recorder writes them, and the recorder posting them off the caller's thread.
#include "watch/event_recorder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace kproxy::watch {
namespace {

TEST(EventRecorder, EventObjectAsUpstreamWritesIt) {
  auto now = std::chrono::system_clock::time_point{} + std::chrono::seconds(1800000000) + std::chrono::microseconds(42);
  auto ev = eventObject({{"Node", "", "node1", "node1"}, "Normal", "Starting", "StartKubeProxy", ""}, "host-a", now);
  EXPECT_EQ(ev["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(ev["kind"], "Event");
  EXPECT_EQ(ev["metadata"]["namespace"], "default");  // a Node's events live in default
  EXPECT_EQ(ev["metadata"]["name"], "node1.18fae27693b4a410");
  EXPECT_EQ(ev["eventTime"], "2027-01-15T08:00:00.000042Z");
  EXPECT_EQ(ev["reportingController"], "kube-proxy");
  EXPECT_EQ(ev["reportingInstance"], "kube-proxy-host-a");
  EXPECT_EQ(ev["regarding"], (nlohmann::json{{"kind", "Node"}, {"name", "node1"}, {"uid", "node1"}}));
  auto svc = eventObject({{"Service", "t", "lb", "t/lb"}, "Warning", "FailedToStartServiceHealthcheck", "Listen", "busy"},
                         "h", now);
  EXPECT_EQ(svc["metadata"]["namespace"], "t");
  EXPECT_EQ(svc["regarding"]["namespace"], "t");
  EXPECT_EQ(svc["type"], "Warning");
  EXPECT_EQ(svc["note"], "busy");
}

struct Posts {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> posts;
};

class RecordingHttp : public HttpClient {
 public:
  explicit RecordingHttp(Posts& p) : seen(p) {}
  HttpReply get(const std::string&, std::chrono::seconds) override { return {}; }
  HttpReply stream(const std::string&, std::chrono::seconds, const LineFn&) override { return {}; }
  HttpReply post(const std::string& target, const std::string& body, std::chrono::seconds) override {
    std::lock_guard<std::mutex> l(seen.mu);
    seen.posts.emplace_back(target, body);
    HttpReply r;
    r.status = 201;
    return r;
  }
  void cancel() override {}
  Posts& seen;
};

TEST(EventRecorder, PostsToTheRegardingObjectsNamespace) {
  Posts seen;
  {
    EventRecorder rec(std::make_unique<RecordingHttp>(seen), "h");
    rec.record({{"Service", "t", "lb", "t/lb"}, "Warning", "FailedToStartServiceHealthcheck", "Listen", "x"});
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> l(seen.mu);
        if (!seen.posts.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ASSERT_EQ(seen.posts.size(), 1u);
  EXPECT_EQ(seen.posts[0].first, "/apis/events.k8s.io/v1/namespaces/t/events");
  EXPECT_EQ(nlohmann::json::parse(seen.posts[0].second)["reason"], "FailedToStartServiceHealthcheck");
}

}  // namespace
}  // namespace kproxy::watch
