#include "daemon/debug_endpoint.h"

#include <nlohmann/json.hpp>

namespace kproxy::daemon {
namespace {

nlohmann::json portJson(const dataplane::ServicePortInfo& p) {
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& e : p.endpoints)
    eps.push_back({{"address", e.hostPort}, {"ready", e.ready}, {"serving", e.serving}, {"terminating", e.terminating},
                   {"local", e.local}, {"nodeName", e.nodeName}, {"zone", e.zone}});
  auto indices = [&](const std::vector<size_t>& idx) {
    nlohmann::json a = nlohmann::json::array();
    for (size_t i : idx)
      if (i < p.endpoints.size()) a.push_back(p.endpoints[i].hostPort);
    return a;
  };
  nlohmann::json j = {{"name", p.nameString},
                      {"family", model::familyName(p.family)},
                      {"protocol", model::protocolName(p.protocol)},
                      {"clusterIP", p.clusterIP},
                      {"port", p.port},
                      {"endpoints", eps},
                      {"clusterEndpoints", indices(p.clusterEndpoints)},
                      {"localEndpoints", indices(p.localEndpoints)},
                      {"internalTrafficPolicy", p.internalPolicyLocal ? "Local" : "Cluster"},
                      {"externalTrafficPolicy", p.externalPolicyLocal ? "Local" : "Cluster"}};
  if (p.nodePort) j["nodePort"] = p.nodePort;
  if (p.healthCheckNodePort) j["healthCheckNodePort"] = p.healthCheckNodePort;
  if (!p.externalIPs.empty()) j["externalIPs"] = p.externalIPs;
  if (!p.loadBalancerVIPs.empty()) j["loadBalancerIPs"] = p.loadBalancerVIPs;
  if (!p.loadBalancerSourceRanges.empty()) j["loadBalancerSourceRanges"] = p.loadBalancerSourceRanges;
  if (p.affinityClientIP) j["sessionAffinityTimeoutSeconds"] = p.stickySeconds;
  return j;
}

HttpResponse json(const nlohmann::json& j, int status = 200) {
  // Names come from the API server: dump() escapes them, and invalid UTF-8 is replaced.
  return {status, "application/json", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", {}};
}

}  // namespace

HttpResponse debugResponse(const std::string& path, const DebugView& view) {
  if (path == "/" || path.empty())
    return {200, "text/plain; charset=utf-8",
            "kproxy debug endpoint (--profiling)\n"
            "  /debug/kproxy/state                     what was last programmed, per family\n"
            "  /debug/kproxy/services                  every Service port with its endpoints\n"
            "  /debug/kproxy/services/NAMESPACE/NAME   one Service\n",
            {}};
  if (path == "/state") {
    nlohmann::json families = nlohmann::json::array();
    for (const auto& s : view.applied)
      if (s) families.push_back({{"family", model::familyName(s->family)}, {"servicePorts", s->ports.size()}, {"endpoints", s->endpointCount()}});
    return json({{"version", view.version},
                 {"mode", view.mode},
                 {"node", view.node},
                 {"primaryNodeIPs", view.nodeInfo.primaryIPs},
                 {"podCIDRs", view.nodeInfo.podCIDRs},
                 {"serviceCIDRs", view.nodeInfo.serviceCIDRs},
                 {"applied", families},
                 {"healthCheckNodePorts", view.healthCheckPorts}});
  }
  const std::string prefix = "/services";
  if (path.compare(0, prefix.size(), prefix) != 0) return {404, "text/plain; charset=utf-8", "404 page not found\n", {}};
  std::string want = path.substr(prefix.size());
  if (!want.empty() && want.front() == '/') want.erase(0, 1);
  if (!want.empty() && want.back() == '/') want.pop_back();
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& s : view.applied)
    if (s)
      for (const auto& p : s->ports)
        if (want.empty() || p.name.service.str() == want) ports.push_back(portJson(p));
  if (!want.empty() && ports.empty()) return json({{"error", "no Service " + want + " is programmed"}}, 404);
  return json(ports);
}

}  // namespace kproxy::daemon
