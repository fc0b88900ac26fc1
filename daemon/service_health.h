// Health-check NodePorts: for each LoadBalancer Service with externalTrafficPolicy Local, an HTTP
// server on its healthCheckNodePort telling load balancers whether this node has local
// endpoints (200 and their count) or not (503), with kube-proxy's JSON and weight header.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>

#include "daemon/http_server.h"
#include "dataplane/desired_state.h"

namespace kproxy::daemon {

struct ServiceHealth {
  model::NamespacedName service;
  int localEndpoints = 0;
};

// kube-proxy's response for one service.
HttpResponse serviceHealthResponse(const ServiceHealth& h, bool proxyHealthy);

// Ports wanted by a desired state: healthCheckNodePort -> service and its ready local endpoints.
std::map<uint16_t, ServiceHealth> healthCheckPorts(const dataplane::DesiredState& state);

class ServiceHealthServers {
 public:
  // `proxyHealthy` is asked on every request: a node whose proxy is unhealthy answers 503 even
  // with local endpoints (upstream's serviceProxyHealthy).
  ServiceHealthServers(boost::asio::io_context& io, std::function<bool()> proxyHealthy)
      : io_(io), proxyHealthy_(std::move(proxyHealthy)) {}
  // Opens servers for new ports, closes those no longer wanted, updates counts. A port that
  // cannot be bound is logged and tried again on the next call.
  void sync(const std::map<uint16_t, ServiceHealth>& wanted);
  // Told once per port that cannot be bound (until it is): upstream's FailedToStartServiceHealthcheck.
  void onListenFailed(std::function<void(const ServiceHealth&, uint16_t port, const std::string& error)> fn) {
    listenFailed_ = std::move(fn);
  }
  size_t listening() const { return servers_.size(); }

 private:
  boost::asio::io_context& io_;
  std::function<bool()> proxyHealthy_;
  std::shared_ptr<std::map<uint16_t, ServiceHealth>> state_ = std::make_shared<std::map<uint16_t, ServiceHealth>>();
  std::map<uint16_t, std::unique_ptr<HttpServer>> servers_;
  std::function<void(const ServiceHealth&, uint16_t, const std::string&)> listenFailed_;
  std::set<uint16_t> reported_;  // ports whose failure was told already
};

}  // namespace kproxy::daemon
