#include "daemon/service_health.h"

#include <algorithm>
#include <set>

#include "dataplane/ip.h"
#include "dataplane/log.h"
#include "dataplane/proxy_options.h"

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

std::map<uint16_t, ServiceHealth> healthCheckPorts(const std::vector<const dataplane::DesiredState*>& states) {
  std::map<uint16_t, ServiceHealth> out;
  for (const auto* state : states)
    if (state)
      for (const auto& p : state->ports) {
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

std::vector<ListenAddress> healthCheckAddresses(const std::vector<std::string>& nodePortAddresses,
                                              const std::vector<std::string>& primaryNodeIPs,
                                              const std::vector<std::string>& localAddresses, bool ipv6) {
  std::set<std::string> out;
  bool wildcard[2] = {false, false};
  for (auto family : {model::IPFamily::kIPv4, model::IPFamily::kIPv6}) {
    const int f = family == model::IPFamily::kIPv6;
    if (f && !ipv6) continue;
    const auto cidrs = dataplane::nodePortCidrs(nodePortAddresses, family, primaryNodeIPs);
    if (cidrs.empty()) {
      wildcard[f] = true;
      continue;
    }
    for (const auto& s : localAddresses)
      if (auto ip = net::parseIP(s); ip && ip->family == family)
        if (std::any_of(cidrs.begin(), cidrs.end(), [&](const net::Cidr& c) { return c.contains(*ip); })) out.insert(ip->str());
  }
  // Both wildcards: one dual-stack socket (specific addresses would collide with it).
  if (wildcard[0] && wildcard[1]) return {{"::", false}};
  std::vector<ListenAddress> result;
  if (wildcard[0]) result.push_back({"0.0.0.0", false});
  if (wildcard[1]) result.push_back({"::", true});  // IPv4 has addresses of its own
  for (const auto& ip : out) result.push_back({ip, false});
  return result;
}

void ServiceHealthServers::sync(const std::map<uint16_t, ServiceHealth>& wanted, const std::vector<ListenAddress>& addresses) {
  *state_ = wanted;
  const bool moved = addresses != addresses_;
  if (moved && !servers_.empty()) log::info("health check node ports move to new addresses: reopening them");
  addresses_ = addresses;
  for (auto it = servers_.begin(); it != servers_.end();) {
    if (moved || !wanted.count(it->first)) {
      for (auto& server : it->second) server->stop();
      if (!moved) log::info("health check node port " + std::to_string(it->first) + " closed");
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
    std::vector<std::unique_ptr<HttpServer>> open;
    Status failed = Status::ok();
    std::string where;
    for (const auto& a : addresses) {
      auto server = std::make_unique<HttpServer>(io_, [state, p, healthy](const std::string&) -> HttpResponse {
        auto it = state->find(p);
        if (it == state->end()) return {404, "text/plain; charset=utf-8", "404 page not found\n", {}};
        return serviceHealthResponse(it->second, !healthy || healthy());
      });
      std::string address = (a.ip.find(':') != std::string::npos ? "[" + a.ip + "]" : a.ip) + ":" + std::to_string(port);
      if (Status st = server->listen(address, a.v6only); !st) {
        failed = st;
        break;
      }
      where += (where.empty() ? "" : ", ") + address;
      open.push_back(std::move(server));
    }
    if (!failed) {
      for (auto& server : open) server->stop();
      log::error("health check node port for " + h.service.str() + ": " + failed.message() + "; retrying on next sync");
      if (listenFailed_ && reported_.insert(port).second) listenFailed_(h, port, failed.message());
      continue;
    }
    reported_.erase(port);
    log::info("health check node port " + std::to_string(port) + " open for " + h.service.str() + " on " + where);
    servers_.emplace(port, std::move(open));
  }
}

}  // namespace kproxy::daemon
