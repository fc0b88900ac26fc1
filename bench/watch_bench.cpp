// Initial listing through the API source as the daemon runs it (not a test): N Services and N
// EndpointSlices of M endpoints, in full API JSON form (managedFields included, as API servers
// send them) served in pages of 500 from memory; parsed and decoded on the stream threads,
// applied to the cluster cache on the io thread. Prints the time to a complete listing, peak RSS,
// and the cache's heap per 1,000 endpoints at several sizes (it must stay flat); the same listing
// in Kubernetes' protobuf (every field a server sends, bench/k8s_full.proto) beside the JSON:
// bytes on the wire and list+decode time; then as a streaming list (watch events from
// sendInitialEvents=true) for comparison.
//   build/watch_bench [--services 10000] [--endpoints 10] [--memory 10000,25000,50000] [--repeat 3]
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/cluster_state.h"
#include "dataplane/log.h"
#include "tests/support/protobuf_encode.h"
#include "watch/api_source.h"
#include "watch/decode.h"
#include "watch/protobuf.h"

using namespace kproxy;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string ipv4(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
  return buf;
}

json managedFields(const std::string& manager) {
  return json::array({{{"manager", manager},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"time", "2026-11-25T09:00:00Z"},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1", {{"f:metadata", {{"f:labels", {{".", json::object()}, {"f:app", json::object()}}}}},
                                     {"f:spec", {{"f:ports", {{".", json::object()}}}}}}}}});
}

json serviceItem(int i) {
  std::string name = "svc-" + std::to_string(i);
  std::string ip = ipv4((10u << 24 | 96u << 16) + 1 + static_cast<uint32_t>(i));
  return {{"metadata",
           {{"name", name}, {"namespace", "bench"}, {"uid", "8c1f2e2a-0000-4000-8000-" + std::to_string(100000000000 + i)},
            {"resourceVersion", std::to_string(1000 + i)}, {"creationTimestamp", "2026-11-25T09:00:00Z"},
            {"labels", {{"app", name}}}, {"managedFields", managedFields("kubectl-client-side-apply")}}},
          {"spec",
           {{"clusterIP", ip}, {"clusterIPs", {ip}}, {"internalTrafficPolicy", "Cluster"}, {"ipFamilies", {"IPv4"}},
            {"ipFamilyPolicy", "SingleStack"},
            {"ports", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"targetPort", 8080}}}},
            {"selector", {{"app", name}}}, {"sessionAffinity", "None"}, {"type", "ClusterIP"}}},
          {"status", {{"loadBalancer", json::object()}}}};
}

json sliceItem(int i, int endpoints) {
  std::string svc = "svc-" + std::to_string(i);
  json eps = json::array();
  for (int j = 0; j < endpoints; ++j) {
    uint32_t a = (10u << 24 | 128u << 16) + static_cast<uint32_t>(i * endpoints + j);
    eps.push_back({{"addresses", {ipv4(a)}},
                   {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
                   {"nodeName", "node" + std::to_string((i + j) % 100)},
                   {"zone", "zone-" + std::to_string(j % 3)},
                   {"targetRef", {{"kind", "Pod"}, {"namespace", "bench"}, {"name", svc + "-pod-" + std::to_string(j)},
                                  {"uid", "5d3e0000-0000-4000-8000-" + std::to_string(200000000000 + j)}}}});
  }
  return {{"metadata",
           {{"name", svc + "-x7k2p"}, {"generateName", svc + "-"}, {"namespace", "bench"},
            {"resourceVersion", std::to_string(50000 + i)}, {"creationTimestamp", "2026-11-25T09:00:00Z"},
            {"labels", {{"kubernetes.io/service-name", svc}, {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}},
            {"annotations", {{"endpoints.kubernetes.io/last-change-trigger-time", "2026-11-25T09:00:00Z"}}},
            {"ownerReferences", {{{"apiVersion", "v1"}, {"kind", "Service"}, {"name", svc}, {"uid", "8c1f"},
                                  {"controller", true}, {"blockOwnerDeletion", true}}}},
            {"managedFields", managedFields("endpointslice-controller")}}},
          {"addressType", "IPv4"},
          {"endpoints", eps},
          {"ports", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}}};
}

// List pages, pre-rendered: path -> page bodies; "continue" is the next page's index.
using Pages = std::map<std::string, std::vector<std::string>>;

enum class Wire { kJson, kProtobuf };

Pages renderPages(int services, int endpoints, size_t pageSize, Wire wire = Wire::kJson) {
  Pages pages;
  auto paged = [&](const std::string& path, const std::string& kind, const std::string& api, int n, auto item) {
    auto& out = pages[path];
    for (int start = 0; start < n || (n == 0 && out.empty()); start += static_cast<int>(pageSize)) {
      json items = json::array();
      for (int i = start; i < std::min(n, start + static_cast<int>(pageSize)); ++i) items.push_back(item(i));
      json md = {{"resourceVersion", "999999"}};
      if (start + static_cast<int>(pageSize) < n) md["continue"] = std::to_string(out.size() + 1);
      json page{{"kind", kind}, {"apiVersion", api}, {"metadata", md}, {"items", items}};
      out.push_back(wire == Wire::kJson ? page.dump() : testing::encodeProtobuf(page, kind, api, "kproxy.bench"));
      if (n == 0) break;
    }
  };
  paged("/api/v1/services", "ServiceList", "v1", services, serviceItem);
  paged("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSliceList", "discovery.k8s.io/v1", services,
        [&](int i) { return sliceItem(i, endpoints); });
  paged("/api/v1/nodes", "NodeList", "v1", 0, [](int) { return json(); });
  return pages;
}

// The same objects as a streaming list's watch lines: ADDED events, then the bookmark that ends
// the initial events.
using Events = std::map<std::string, std::vector<std::string>>;

Events renderEvents(const Pages& pages) {
  Events events;
  for (const auto& [path, bodies] : pages) {
    auto& out = events[path];
    for (const auto& body : bodies) {
      json page = json::parse(body);
      for (auto& item : page["items"]) out.push_back(json{{"type", "ADDED"}, {"object", item}}.dump());
    }
    out.push_back(json{{"type", "BOOKMARK"},
                       {"object", {{"metadata", {{"resourceVersion", "999999"},
                                                 {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}}}}
                      .dump());
  }
  return events;
}

class MemoryApi : public watch::HttpClient {
 public:
  MemoryApi(const Pages& pages, const Events& events) : pages_(pages), events_(events) {}
  watch::HttpReply get(const std::string& target, std::chrono::seconds) override {
    if (target == "/apis/discovery.k8s.io/v1") return {200, "{}", ""};
    std::string path = target.substr(0, target.find('?'));
    size_t page = 0;
    if (auto c = target.find("continue="); c != std::string::npos) page = std::stoul(target.substr(c + 9));
    auto it = pages_.find(path);
    if (it == pages_.end() || page >= it->second.size()) return {404, "{}", ""};
    return {200, it->second[page], ""};
  }
  watch::HttpReply stream(const std::string& target, std::chrono::seconds, const LineFn& onLine) override {
    if (target.find("sendInitialEvents=true") != std::string::npos)
      if (auto it = events_.find(target.substr(0, target.find('?'))); it != events_.end())
        for (const auto& line : it->second) onLine(line);
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
  const Pages& pages_;
  const Events& events_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

size_t heapInUse() {
  struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

struct Run {
  double seconds = 0;
  size_t services = 0, slices = 0;
  double cacheMB = 0;
};

// Lists everything through the ApiSource into a ClusterState, as the daemon does: paginated
// lists, or streaming lists when `events` is given.
Run listOnce(const Pages& pages, const Events* events = nullptr) {
  Run r;
  ::malloc_trim(0);
  size_t heapBefore = heapInUse();
  auto state = std::make_unique<dataplane::ClusterState>("node1");
  {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    watch::ApiSource::Options opts;
    opts.nodeName = "node1";
    opts.reflector.streamingLists = events != nullptr;
    opts.serviceCIDRs = false;  // nftables mode's fourth stream; not what is measured here
    static const Events kNone;
    watch::ApiSource source(io, opts, [&] { return std::make_unique<MemoryApi>(pages, events ? *events : kNone); });
    auto t0 = Clock::now();
    source.start([&](watch::SourceBatch b) {
      for (auto& s : b.upsertServices) state->upsertService(std::move(s));
      for (auto& s : b.upsertSlices) state->upsertSlice(std::move(s));
      for (auto& n : b.upsertNodes) state->upsertNode(std::move(n));
      if (b.listComplete) {
        r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        io.stop();
      }
    });
    io.run();
    source.stop();
  }
  ::malloc_trim(0);
  r.services = state->serviceCount();
  r.slices = state->sliceCount();
  r.cacheMB = static_cast<double>(heapInUse() - std::min(heapInUse(), heapBefore)) / 1e6;
  return r;
}

// One thread, no source: the pages parsed into JSON trees, and the items decoded into models.
std::pair<double, double> parseThenDecode(const Pages& pages) {
  double parse = 0, decode = 0;
  size_t n = 0;
  for (const auto& [path, bodies] : pages)
    for (const auto& body : bodies) {
      auto t0 = Clock::now();
      json page = watch::decodeBody(body).value;
      auto t1 = Clock::now();
      for (const auto& item : page["items"]) {
        if (path == "/api/v1/services") n += watch::decodeService(item).index();
        else n += watch::decodeEndpointSlice(item).index();
      }
      auto t2 = Clock::now();
      parse += std::chrono::duration<double>(t1 - t0).count();
      decode += std::chrono::duration<double>(t2 - t1).count();
    }
  if (n) std::fprintf(stderr, "%zu items did not decode\n", n);
  return {parse, decode};
}

std::vector<int> parseList(const char* s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int services = 10000, endpoints = 10, repeat = 3;
  std::vector<int> memorySizes = {10000, 25000, 50000};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--services" && i + 1 < argc) services = std::stoi(argv[++i]);
    else if (a == "--endpoints" && i + 1 < argc) endpoints = std::stoi(argv[++i]);
    else if (a == "--memory" && i + 1 < argc) memorySizes = parseList(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc) repeat = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: watch_bench [--services N] [--endpoints M] [--memory N,N,...] [--repeat R]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  log::setVerbosity(-1);

  auto total = [](const Pages& p) {
    size_t bytes = 0;
    for (const auto& [path, v] : p)
      for (const auto& b : v) bytes += b.size();
    return bytes;
  };
  Pages pages = renderPages(services, endpoints, 500);
  size_t bytes = total(pages);
  // `repeat` listings of `p`: their times sorted, and the last run.
  auto listings = [&](const Pages& p, Run& lastRun) {
    std::vector<double> t;
    for (int r = 0; r < repeat; ++r) {
      lastRun = listOnce(p);
      t.push_back(lastRun.seconds);
    }
    std::sort(t.begin(), t.end());
    return t;
  };
  Run last;
  std::vector<double> times = listings(pages, last);
  {
    // The same objects in protobuf, as kube-apiserver answers Accept: application/vnd.kubernetes.protobuf.
    Pages proto = renderPages(services, endpoints, 500, Wire::kProtobuf);
    size_t protoBytes = total(proto);
    Run p;
    std::vector<double> pt = listings(proto, p);
    double js = times[times.size() / 2], ps = pt[pt.size() / 2];
    std::printf("JSON and protobuf, %d services + %d slices x %d endpoints, pages of 500 (median of %d):\n", services,
                services, endpoints, repeat);
    std::printf("  %-9s %12s %10s %14s %10s %14s\n", "format", "bytes", "of JSON", "list+decode s", "of JSON", "cached");
    std::printf("  %-9s %12zu %10s %14.3f %10s %7zu + %zu\n", "JSON", bytes, "1.00", js, "1.00", last.services, last.slices);
    std::printf("  %-9s %12zu %10.2f %14.3f %10.2f %7zu + %zu\n", "protobuf", protoBytes,
                static_cast<double>(protoBytes) / static_cast<double>(bytes), ps, ps / js, p.services, p.slices);
    auto [jp, jd] = parseThenDecode(pages);
    auto [pp, pd] = parseThenDecode(proto);
    std::printf("  on one thread: JSON parse %.3f s + decode %.3f s; protobuf parse %.3f s + decode %.3f s\n", jp, jd, pp, pd);
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("initial list, %d services + %d slices x %d endpoints (%.1f MB of JSON in pages of 500):\n", services,
              services, endpoints, static_cast<double>(bytes) / 1e6);
  std::printf("  listed, decoded and cached in %.3f s (median of %d; min %.3f, max %.3f)\n", times[times.size() / 2],
              repeat, times.front(), times.back());
  std::printf("  cache holds %zu services, %zu slices: %.1f MB heap\n", last.services, last.slices, last.cacheMB);
  std::printf("  peak RSS of this process (JSON pages included): %.0f MB\n", static_cast<double>(ru.ru_maxrss) / 1024);
  {
    // Streaming lists (sendInitialEvents): the same objects as watch events, no list pages.
    Events events = renderEvents(pages);
    size_t eventBytes = 0;
    for (const auto& [p, v] : events)
      for (const auto& l : v) eventBytes += l.size() + 1;
    std::vector<double> st;
    for (int r = 0; r < repeat; ++r) st.push_back(listOnce(pages, &events).seconds);
    std::sort(st.begin(), st.end());
    std::printf("streaming list of the same (%.1f MB of watch events):\n", static_cast<double>(eventBytes) / 1e6);
    std::printf("  listed, decoded and cached in %.3f s (median of %d; paginated: %.3f s)\n", st[st.size() / 2], repeat,
                times[times.size() / 2]);
  }
  pages.clear();

  std::printf("cache memory by size (slices of %d endpoints, one service each):\n", endpoints);
  std::printf("  %8s %10s %10s %12s %16s\n", "slices", "endpoints", "list s", "cache MB", "MB/1k endpoints");
  for (int n : memorySizes) {
    Pages p = renderPages(n, endpoints, 500);
    Run r = listOnce(p);
    double eps = static_cast<double>(n) * endpoints;
    std::printf("  %8d %10.0f %10.3f %12.1f %16.3f\n", n, eps, r.seconds, r.cacheMB, r.cacheMB / (eps / 1000));
  }
  return 0;
}
