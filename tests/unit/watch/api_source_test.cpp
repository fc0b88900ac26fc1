#include "watch/api_source.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <map>
#include <mutex>

namespace kproxy::watch {
namespace {

using nlohmann::json;

// A fake API answering by path: lists from `lists`, watches deliver `watchLines` then stay open
// until cancelled (as a quiet real watch does).
struct FakeApi {
  bool hasSlices = true;
  bool hasServiceCIDRs = false;
  std::map<std::string, std::string> lists;                   // path -> list body
  std::map<std::string, std::vector<std::string>> watchLines;  // path -> event lines
  std::mutex mu;
  std::vector<std::string> targets;
};

class FakeApiClient : public HttpClient {
 public:
  explicit FakeApiClient(FakeApi& api) : api_(api) {}
  HttpReply get(const std::string& target, std::chrono::seconds) override {
    record(target);
    if (target == "/apis/discovery.k8s.io/v1")
      return {api_.hasSlices ? 200 : 404, R"({"kind":"APIResourceList","resources":[{"name":"endpointslices"}]})", ""};
    if (target == "/apis/networking.k8s.io/v1")
      return {200, api_.hasServiceCIDRs ? R"({"resources":[{"name":"ingresses"},{"name":"servicecidrs"}]})"
                                        : R"({"resources":[{"name":"ingresses"}]})", ""};
    auto it = api_.lists.find(path(target));
    if (it == api_.lists.end()) return {404, R"({"message":"not found"})", ""};
    return {200, it->second, ""};
  }
  HttpReply stream(const std::string& target, std::chrono::seconds, const LineFn& onLine) override {
    record(target);
    std::vector<std::string> lines;
    {
      std::lock_guard<std::mutex> lock(api_.mu);
      lines.swap(api_.watchLines[path(target)]);
    }
    for (const auto& l : lines) onLine(l);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return cancelled_; });
    return {0, "", "cancelled"};
  }
  void cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

 private:
  static std::string path(const std::string& t) { return t.substr(0, t.find('?')); }
  void record(const std::string& t) {
    std::lock_guard<std::mutex> lock(api_.mu);
    api_.targets.push_back(t);
  }
  FakeApi& api_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

std::string listOf(const std::string& kind, std::vector<json> items) {
  return json{{"kind", kind + "List"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "100"}}}, {"items", items}}
      .dump();
}

json service(const std::string& name, int port) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", "7"}}},
          {"spec", {{"clusterIP", "10.96.0.5"}, {"ports", {{{"port", port}, {"protocol", "TCP"}}}}}}};
}

// Runs `src` until `done` says so (or 10 s pass), collecting every batch.
std::vector<SourceBatch> collect(boost::asio::io_context& io, ApiSource& src,
                                 const std::function<bool(const std::vector<SourceBatch>&)>& done) {
  std::vector<SourceBatch> got;
  auto work = boost::asio::make_work_guard(io);  // batches arrive from other threads
  src.start([&](SourceBatch b) {
    got.push_back(std::move(b));
    if (done(got)) io.stop();
  });
  io.run_for(std::chrono::seconds(10));
  src.stop();
  return got;
}

TEST(ApiSource, CompletesTheListingOnlyWhenAllThreeStreamsListedAndSkipsBadObjects) {
  FakeApi api;
  api.lists["/api/v1/services"] = listOf("Service", {service("web", 80), service("bad", 70000)});
  api.lists["/apis/discovery.k8s.io/v1/endpointslices"] = listOf(
      "EndpointSlice", {{{"metadata", {{"name", "web-1"}, {"namespace", "default"}, {"labels", {{"kubernetes.io/service-name", "web"}}}}},
                         {"addressType", "IPv4"},
                         {"endpoints", nullptr},  // placeholder slices carry null
                         {"ports", nullptr}}});
  api.lists["/api/v1/nodes"] = listOf("Node", {{{"metadata", {{"name", "node1"}, {"labels", {{"topology.kubernetes.io/zone", "z1"}}}}}}});
  boost::asio::io_context io;
  ApiSource::Options opts;
  opts.nodeName = "node1";
  ApiSource src(io, opts, [&] { return std::make_unique<FakeApiClient>(api); });
  auto got = collect(io, src, [](const auto& g) { return !g.empty() && g.back().listComplete; });

  ASSERT_FALSE(got.empty());
  ASSERT_TRUE(got.back().listComplete);
  size_t complete = 0, services = 0, slices = 0, nodes = 0;
  for (const auto& b : got) {
    complete += b.listComplete;
    services += b.upsertServices.size();
    slices += b.upsertSlices.size();
    nodes += b.upsertNodes.size();
  }
  EXPECT_EQ(complete, 1u);
  EXPECT_EQ(services, 1u) << "the Service with port 70000 is skipped, the other kept";
  EXPECT_EQ(slices, 1u);
  EXPECT_EQ(nodes, 1u);
  std::lock_guard<std::mutex> lock(api.mu);
  auto sent = [&](const std::string& needle) {
    for (const auto& t : api.targets)
      if (t.find(needle) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(sent("/api/v1/services?limit=500&labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name"));
  EXPECT_TRUE(sent("/apis/discovery.k8s.io/v1/endpointslices?limit=500&labelSelector=%21service"));
  EXPECT_TRUE(sent("/api/v1/nodes?limit=500&fieldSelector=metadata.name%3Dnode1"));
}

TEST(ApiSource, FallsBackToEndpointsWithoutTheEndpointSliceApi) {
  FakeApi api;
  api.hasSlices = false;
  api.lists["/api/v1/services"] = listOf("Service", {service("web", 80)});
  json endpoints = {{"metadata", {{"name", "web"}, {"namespace", "default"}, {"resourceVersion", "9"}}},
                    {"subsets",
                     {{{"addresses", {{{"ip", "10.244.1.2"}, {"nodeName", "node1"}}}},
                       {"notReadyAddresses", {{{"ip", "10.244.2.2"}}}},
                       {"ports", {{{"port", 8080}, {"protocol", "TCP"}}}}},
                      {{"addresses", {{{"ip", "10.244.3.2"}}}}, {"ports", {{{"port", 9090}, {"protocol", "TCP"}}}}}}}};
  api.lists["/api/v1/endpoints"] = listOf("Endpoints", {endpoints});
  api.lists["/api/v1/nodes"] = listOf("Node", {});
  // Then the second subset goes away: its slice must be deleted.
  json shrunk = endpoints;
  shrunk["metadata"]["resourceVersion"] = "10";
  shrunk["subsets"].erase(1);
  api.watchLines["/api/v1/endpoints"] = {json{{"type", "MODIFIED"}, {"object", shrunk}}.dump()};
  boost::asio::io_context io;
  ApiSource::Options opts;
  opts.nodeName = "node1";
  ApiSource src(io, opts, [&] { return std::make_unique<FakeApiClient>(api); });
  auto got = collect(io, src, [](const auto& g) {
    for (const auto& b : g)
      if (!b.deleteSlices.empty()) return true;
    return false;
  });
  std::map<std::string, model::EndpointSlice> slices;
  std::vector<model::NamespacedName> deleted;
  for (auto& b : got) {
    for (auto& s : b.upsertSlices) slices[s.meta.name] = s;
    deleted.insert(deleted.end(), b.deleteSlices.begin(), b.deleteSlices.end());
  }
  ASSERT_EQ(slices.size(), 2u);
  const auto& first = slices["web.0"];
  EXPECT_EQ(first.serviceName, "web");
  ASSERT_EQ(first.endpoints.size(), 2u);
  EXPECT_EQ(first.endpoints[0].conditions.ready, true);
  EXPECT_EQ(first.endpoints[1].conditions.ready, false);
  EXPECT_EQ(first.ports[0].port, 8080);
  EXPECT_EQ(slices["web.1"].ports[0].port, 9090);
  EXPECT_EQ(deleted, (std::vector<model::NamespacedName>{{"default", "web.1"}}));
}

TEST(ApiSource, WatchesServiceCIDRsWhereServedWithoutWaitingForThem) {
  for (bool served : {true, false}) {
    FakeApi api;
    api.hasServiceCIDRs = served;
    api.lists["/api/v1/services"] = listOf("Service", {service("web", 80)});
    api.lists["/apis/discovery.k8s.io/v1/endpointslices"] = listOf("EndpointSlice", {});
    api.lists["/api/v1/nodes"] = listOf("Node", {});
    json good = {{"metadata", {{"name", "kubernetes"}, {"resourceVersion", "3"}}},
                 {"spec", {{"cidrs", {"10.96.0.0/16", "fd00:10:96::/112"}}}}};
    json bad = {{"metadata", {{"name", "typo"}, {"resourceVersion", "4"}}}, {"spec", {{"cidrs", {"10.97.0.0/33"}}}}};
    if (served) api.lists["/apis/networking.k8s.io/v1/servicecidrs"] = listOf("ServiceCIDR", {good, bad});
    json removed = good;
    api.watchLines["/apis/networking.k8s.io/v1/servicecidrs"] = {json{{"type", "DELETED"}, {"object", removed}}.dump()};
    boost::asio::io_context io;
    ApiSource::Options opts;
    opts.nodeName = "node1";
    ApiSource src(io, opts, [&] { return std::make_unique<FakeApiClient>(api); });
    bool sawComplete = false;
    auto got = collect(io, src, [&](const auto& g) {
      for (const auto& b : g) sawComplete |= b.listComplete;
      if (!served) return sawComplete;
      for (const auto& b : g)
        if (!b.deleteServiceCIDRs.empty()) return sawComplete;
      return false;
    });
    EXPECT_TRUE(sawComplete);
    std::vector<model::ServiceCIDR> upserts;
    std::vector<std::string> deletes;
    for (auto& b : got) {
      upserts.insert(upserts.end(), b.upsertServiceCIDRs.begin(), b.upsertServiceCIDRs.end());
      deletes.insert(deletes.end(), b.deleteServiceCIDRs.begin(), b.deleteServiceCIDRs.end());
    }
    std::lock_guard<std::mutex> lock(api.mu);
    bool listed = std::any_of(api.targets.begin(), api.targets.end(),
                              [](const std::string& t) { return t.rfind("/apis/networking.k8s.io/v1/servicecidrs?", 0) == 0; });
    if (served) {
      ASSERT_EQ(upserts.size(), 1u) << "the object with an invalid CIDR is skipped";
      EXPECT_EQ(upserts[0].meta.name, "kubernetes");
      EXPECT_EQ(upserts[0].cidrs, (std::vector<std::string>{"10.96.0.0/16", "fd00:10:96::/112"}));
      EXPECT_EQ(deletes, std::vector<std::string>{"kubernetes"});
      EXPECT_TRUE(listed);
    } else {
      EXPECT_TRUE(upserts.empty());
      EXPECT_FALSE(listed) << "a server without the resource is not asked for it";
    }
  }
}

}  // namespace
}  // namespace kproxy::watch
