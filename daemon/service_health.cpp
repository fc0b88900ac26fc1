#include "daemon/service_health.h"

#include "dataplane/log.h"

namespace kproxy::daemon {

HttpResponse serviceHealthResponse(const ServiceHealth& h, bool proxyHealthy) {
  HttpResponse r;
  r.status = h.localEndpoints > 0 && proxyHealthy ? 200 : 503;
  r.contentType = "application/json";
  r.headers.emplace_back("X-Load-Balancing-Endpoint-Weight", std::to_string(h.localEndpoints));
  r.body = "{\n\t\"service\": {\n\t\t\"namespace\": \"" + h.service.namespace_ + "\",\n\t\t\"name\": \"" +
           h.service.name + "\"\n\t},\n\t\"localEndpoints\": " + std::to_string(h.localEndpoints) +
           ",\n\t\"serviceProxyHealthy\": " + (proxyHealthy ? "true" : "false") + "\n}";
  return r;
}

std::map<uint16_t, ServiceHealth> healthCheckPorts(const dataplane::DesiredState& state) {
  std::map<uint16_t, ServiceHealth> out;
  for (const auto& p : state.ports) {
    if (p.healthCheckNodePort == 0) continue;
    int local = 0;
    for (const auto& ep : p.endpoints) local += ep.local && ep.ready;
    // One health check per Service; its ports share the endpoints' node placement.
    auto& h = out[p.healthCheckNodePort];
    h.service = p.name.service;
    h.localEndpoints = std::max(h.localEndpoints, local);
  }
  return out;
}

void ServiceHealthServers::sync(const std::map<uint16_t, ServiceHealth>& wanted) {
  *state_ = wanted;
  for (auto it = servers_.begin(); it != servers_.end();) {
    if (!wanted.count(it->first)) {
      it->second->stop();
      log::info("health check node port " + std::to_string(it->first) + " closed");
      it = servers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [port, h] : wanted) {
    if (servers_.count(port)) continue;
    auto state = state_;
    uint16_t p = port;
    auto healthy = proxyHealthy_;
    auto server = std::make_unique<HttpServer>(io_, [state, p, healthy](const std::string&) -> HttpResponse {
      auto it = state->find(p);
      if (it == state->end()) return {404, "text/plain; charset=utf-8", "404 page not found\n", {}};
      return serviceHealthResponse(it->second, !healthy || healthy());
    });
    if (Status st = server->listen("0.0.0.0:" + std::to_string(port)); !st) {
      log::error("health check node port for " + h.service.str() + ": " + st.message() + "; retrying on next sync");
      if (listenFailed_ && reported_.insert(port).second) listenFailed_(h, port, st.message());
      continue;
    }
    reported_.erase(port);
    log::info("health check node port " + std::to_string(port) + " open for " + h.service.str());
    servers_.emplace(port, std::move(server));
  }
}

}  // namespace kproxy::daemon
