// The API-server source: list/watch of Services, EndpointSlices (Endpoints where the cluster has no
// EndpointSlice API), this Node and the ServiceCIDRs with kube-proxy's selectors, one reflector thread each; objects
// are decoded on those threads and delivered as batches on the daemon's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "watch/http_client.h"
#include "watch/kubeconfig.h"
#include "watch/reflector.h"
#include "watch/source.h"

namespace kproxy::watch {

// kube-proxy's informer selector for Services and EndpointSlices (labels.Selector.String() order).
inline constexpr const char* kProxyLabelSelector = "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name";

class ApiSource : public Source {
 public:
  struct Options {
    ClientConfig client;
    std::string nodeName;
    ReflectorOptions reflector;
    // Watch networking.k8s.io/v1 ServiceCIDRs (the MultiCIDRServiceAllocator feature gate), where
    // the server has them; they never hold up the first sync.
    bool serviceCIDRs = true;
  };
  // Makes one HTTP client per stream; by default libcurl with `options.client`.
  using ClientFactory = std::function<HttpClientPtr()>;

  ApiSource(boost::asio::io_context& io, Options options, ClientFactory factory = {});
  ~ApiSource() override;

  // Starts the streams. The batch that completes the last first listing has listComplete.
  void start(Sink sink) override;
  // Stops the streams and joins their threads; batches not yet delivered are dropped.
  void stop() override;

 private:
  struct Shared;
  struct Stream;
  void runStream(Stream& s);
  // Whether the server serves `resource` in /apis/`groupVersion` (404: no); retried with backoff
  // until it answers; nullopt when stopping. A 200 that is not an APIResourceList says `ifUnsure`.
  std::optional<bool> discover(Stream& s, const std::string& groupVersion, const std::string& resource, bool ifUnsure);

  boost::asio::io_context& io_;
  Options options_;
  ClientFactory factory_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

}  // namespace kproxy::watch
