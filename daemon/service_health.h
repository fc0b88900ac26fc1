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
#include <vector>

#include "daemon/http_server.h"
#include "dataplane/desired_state.h"

namespace kproxy::daemon {

struct ServiceHealth {
  model::NamespacedName service;
  int localEndpoints = 0;
};

// kube-proxy's response for one service.
HttpResponse serviceHealthResponse(const ServiceHealth& h, bool proxyHealthy);

// Ports wanted by each family's desired state: healthCheckNodePort -> service and its ready
// local endpoints (a dual-stack Service's families share the port: the larger count wins, so an
// IPv6-only Service has its port as an IPv4 one does).
std::map<uint16_t, ServiceHealth> healthCheckPorts(const std::vector<const dataplane::DesiredState*>& states);
inline std::map<uint16_t, ServiceHealth> healthCheckPorts(const dataplane::DesiredState& state) {
  return healthCheckPorts(std::vector<const dataplane::DesiredState*>{&state});
}

// Where the health-check ports listen, as upstream's per-family NodePortAddresses decide it:
// a family with no CIDR of its own (or a /0, "all") matches all and takes the wildcard;
// otherwise every local address inside the family's CIDRs ("primary" and "localhost" expanded). Both families' wildcards fold into one dual-stack "::" socket (what Go's
// "0.0.0.0" listener is); `ipv6` false (no IPv6 on the host) leaves IPv6 out.
struct ListenAddress {
  std::string ip;        // without brackets
  bool v6only = false;   // "::" for IPv6 alone (IPv4 listens on addresses of its own)
  auto operator<=>(const ListenAddress&) const = default;
};
std::vector<ListenAddress> healthCheckAddresses(const std::vector<std::string>& nodePortAddresses,
                                              const std::vector<std::string>& primaryNodeIPs,
                                              const std::vector<std::string>& localAddresses, bool ipv6);

class ServiceHealthServers {
 public:
  // `proxyHealthy` is asked on every request: a node whose proxy is unhealthy answers 503 even
  // with local endpoints (upstream's serviceProxyHealthy).
  ServiceHealthServers(boost::asio::io_context& io, std::function<bool()> proxyHealthy)
      : io_(io), proxyHealthy_(std::move(proxyHealthy)) {}
  // Opens servers for new ports, closes those no longer wanted, updates counts. A port that
  // cannot be bound is logged and tried again on the next call.
  // Each port listens on every one of `addresses` or, when one of them cannot be bound, on none
  // (upstream closes the others so a retry starts clean). New addresses reopen every port.
  void sync(const std::map<uint16_t, ServiceHealth>& wanted, const std::vector<ListenAddress>& addresses = {{"::", false}});
  // Told once per port that cannot be bound (until it is): upstream's FailedToStartServiceHealthcheck.
  void onListenFailed(std::function<void(const ServiceHealth&, uint16_t port, const std::string& error)> fn) {
    listenFailed_ = std::move(fn);
  }
  size_t listening() const { return servers_.size(); }
  std::vector<uint16_t> ports() const {
    std::vector<uint16_t> out;
    for (const auto& [port, servers] : servers_) out.push_back(port);
    return out;
  }

 private:
  boost::asio::io_context& io_;
  std::function<bool()> proxyHealthy_;
  std::shared_ptr<std::map<uint16_t, ServiceHealth>> state_ = std::make_shared<std::map<uint16_t, ServiceHealth>>();
  std::map<uint16_t, std::vector<std::unique_ptr<HttpServer>>> servers_;
  std::vector<ListenAddress> addresses_;
  std::function<void(const ServiceHealth&, uint16_t, const std::string&)> listenFailed_;
  std::set<uint16_t> reported_;  // ports whose failure was told already
};

}  // namespace kproxy::daemon
