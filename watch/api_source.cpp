#include "watch/api_source.h"

#include <array>
#include <boost/asio/post.hpp>
#include <map>
#include <mutex>
#include <optional>

#include "dataplane/log.h"
#include "watch/protobuf.h"
#include "watch/decode.h"

namespace kproxy::watch {

namespace {
enum class Kind { kServices, kSlices, kEndpoints, kNode, kServiceCIDRs };
// Streams whose first listing gates the first sync: services, slices (or endpoints), node. The
// ServiceCIDRs (optional, as upstream's informer for them) come after, and only refine.
constexpr size_t kGatingStreams = 3;
}  // namespace

struct ApiSource::Shared {
  std::atomic<bool> stopped{false};
  // Only on the io thread:
  Sink sink;
  std::array<bool, kGatingStreams> listed{};
  bool complete = false;
};

struct ApiSource::Stream {
  size_t index = 0;
  Kind kind = Kind::kServices;
  ResourceRequest request;
  HttpClientPtr http;
  SteadyReflectorClock clock;
  std::mutex mu;  // guards reflector creation against stop()
  bool stopping = false;
  std::unique_ptr<Reflector> reflector;
  std::thread thread;
  // Endpoints fallback: how many slices each Endpoints object became (to delete the extra ones).
  std::map<model::NamespacedName, size_t> endpointsSlices;
};

ApiSource::ApiSource(boost::asio::io_context& io, Options options, ClientFactory factory)
    : io_(io), options_(std::move(options)), factory_(std::move(factory)), shared_(std::make_shared<Shared>()) {
  if (!factory_) factory_ = [client = options_.client] { return makeCurlHttpClient(client); };
}

ApiSource::~ApiSource() { stop(); }

void ApiSource::start(Sink sink) {
  shared_->sink = std::move(sink);
  log::info("watching the API server at " + options_.client.describe());
  std::vector<ResourceRequest> requests = {
      {"services", "/api/v1/services", kProxyLabelSelector, ""},
      {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", kProxyLabelSelector, ""},
      {"node " + options_.nodeName, "/api/v1/nodes", "", "metadata.name=" + options_.nodeName},
  };
  std::vector<Kind> kinds = {Kind::kServices, Kind::kSlices, Kind::kNode};
  if (options_.serviceCIDRs) {
    requests.push_back({"servicecidrs", "/apis/networking.k8s.io/v1/servicecidrs", "", ""});
    kinds.push_back(Kind::kServiceCIDRs);
  }
  for (size_t i = 0; i < kinds.size(); ++i) {
    auto s = std::make_unique<Stream>();
    s->index = i;
    s->kind = kinds[i];
    s->request = requests[i];
    s->http = factory_();
    streams_.push_back(std::move(s));
  }
  for (auto& s : streams_) s->thread = std::thread([this, stream = s.get()] { runStream(*stream); });
}

void ApiSource::stop() {
  shared_->stopped = true;
  for (auto& s : streams_) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->stopping = true;
      if (s->reflector) s->reflector->stop();
    }
    s->http->cancel();
    s->clock.interrupt();
  }
  for (auto& s : streams_)
    if (s->thread.joinable()) s->thread.join();
}

namespace {

void logSkipped(const DecodeError& e) { log::error(e.str() + " (skipped; its last good version, if any, stays)"); }

// Reflector events -> a batch of model objects, decoded here on the stream's thread.
SourceBatch toBatch(Kind kind, std::vector<ReflectorEvent>& events,
                    std::map<model::NamespacedName, size_t>& endpointsSlices) {
  SourceBatch b;
  for (auto& ev : events) {
    bool upsert = ev.type == ReflectorEvent::Type::kUpsert;
    switch (kind) {
      case Kind::kServices:
        if (!upsert) {
          b.deleteServices.push_back(ev.key);
        } else if (auto d = decodeService(ev.object); auto* s = std::get_if<model::Service>(&d)) {
          b.upsertServices.push_back(std::move(*s));
        } else {
          logSkipped(std::get<DecodeError>(d));
        }
        break;
      case Kind::kSlices:
        if (!upsert) {
          b.deleteSlices.push_back(ev.key);
        } else if (auto d = decodeEndpointSlice(ev.object); auto* s = std::get_if<model::EndpointSlice>(&d)) {
          b.upsertSlices.push_back(std::move(*s));
        } else {
          logSkipped(std::get<DecodeError>(d));
        }
        break;
      case Kind::kEndpoints: {
        size_t now = 0;
        if (upsert) {
          auto d = decodeEndpoints(ev.object);
          if (auto* e = std::get_if<DecodeError>(&d)) {
            logSkipped(*e);
            break;
          }
          auto& slices = std::get<std::vector<model::EndpointSlice>>(d);
          now = slices.size();
          for (auto& s : slices) b.upsertSlices.push_back(std::move(s));
        }
        size_t before = endpointsSlices.count(ev.key) ? endpointsSlices[ev.key] : 0;
        for (size_t i = now; i < before; ++i)
          b.deleteSlices.push_back({ev.key.namespace_, ev.key.name + "." + std::to_string(i)});
        if (now) endpointsSlices[ev.key] = now;
        else endpointsSlices.erase(ev.key);
        break;
      }
      case Kind::kServiceCIDRs:
        if (!upsert) {
          b.deleteServiceCIDRs.push_back(ev.key.name);
        } else if (auto d = decodeServiceCIDR(ev.object); auto* c = std::get_if<model::ServiceCIDR>(&d)) {
          b.upsertServiceCIDRs.push_back(std::move(*c));
        } else {
          logSkipped(std::get<DecodeError>(d));
        }
        break;
      case Kind::kNode:
        if (!upsert) {
          b.deleteNodes.push_back(ev.key.name);
        } else if (auto d = decodeNode(ev.object); auto* n = std::get_if<model::Node>(&d)) {
          b.upsertNodes.push_back(std::move(*n));
        } else {
          logSkipped(std::get<DecodeError>(d));
        }
        break;
    }
  }
  return b;
}

}  // namespace

std::optional<bool> ApiSource::discover(Stream& s, const std::string& groupVersion, const std::string& resource,
                                        bool ifUnsure) {
  int failures = 0;
  while (true) {
    HttpReply r = s.http->get("/apis/" + groupVersion, std::chrono::seconds(30));
    if (shared_->stopped) return std::nullopt;
    if (r.status == 404) return false;
    // An APIResourceList; the group may exist without this resource (older servers).
    if (r.status == 200) {
      nlohmann::json list = decodeBody(r.body).value;
      if (!list.is_object() || !list.contains("resources") || !list["resources"].is_array()) return ifUnsure;
      for (const auto& res : list["resources"])
        if (res.is_object() && res.contains("name") && res["name"] == resource) return true;
      return false;
    }
    ++failures;
    auto delay = std::min(options_.reflector.backoffInitial * (1 << std::min(failures - 1, 10)),
                          options_.reflector.backoffMax);
    log::warning("API discovery of " + groupVersion + " failed: " +
                 (r.transportFailed() ? r.error : "HTTP " + std::to_string(r.status)) + "; retrying in " +
                 std::to_string(delay.count()) + "ms");
    if (!s.clock.wait(delay)) return std::nullopt;
  }
}

void ApiSource::runStream(Stream& s) {
  if (s.kind == Kind::kSlices) {
    // kube-proxy needs EndpointSlices; only a cluster without that API gets Endpoints.
    auto found = discover(s, "discovery.k8s.io/v1", "endpointslices", true);
    if (!found) return;
    if (!*found) {
      log::warning("the API server has no discovery.k8s.io/v1 (EndpointSlices); following core/v1 Endpoints");
      s.kind = Kind::kEndpoints;
      s.request = {"endpoints", "/api/v1/endpoints", kProxyLabelSelector, ""};
    }
  }
  if (s.kind == Kind::kServiceCIDRs) {
    auto found = discover(s, "networking.k8s.io/v1", "servicecidrs", false);
    if (!found) return;
    if (!*found) {
      log::info("the API server has no networking.k8s.io/v1 ServiceCIDRs; traffic to unallocated ClusterIPs is not dropped");
      return;
    }
  }
  auto shared = shared_;
  size_t index = s.index;
  auto sink = [this, &s, shared, index](std::vector<ReflectorEvent> events, bool listed) {
    SourceBatch batch = toBatch(s.kind, events, s.endpointsSlices);
    boost::asio::post(io_, [shared, index, listed, batch = std::move(batch)]() mutable {
      if (shared->stopped) return;
      if (listed && index < kGatingStreams && !shared->listed[index]) {
        shared->listed[index] = true;
        if (!shared->complete && std::all_of(shared->listed.begin(), shared->listed.end(), [](bool b) { return b; })) {
          shared->complete = true;
          batch.listComplete = true;
        }
      }
      if (!batch.empty() || batch.listComplete) shared->sink(std::move(batch));
    });
  };
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return;
    s.reflector = std::make_unique<Reflector>(s.request, *s.http, s.clock, options_.reflector, sink);
  }
  s.reflector->run();
}

}  // namespace kproxy::watch
