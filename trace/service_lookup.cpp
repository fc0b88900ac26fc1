#include "trace/service_lookup.h"

#include <algorithm>
#include <charconv>

namespace kproxy::trace {

using dataplane::EndpointInfo;
using dataplane::ServicePortInfo;

std::string Target::str() const {
  std::string host = ip.family == model::IPFamily::kIPv6 ? "[" + ip.str() + "]" : ip.str();
  return host + ":" + std::to_string(port) + "/" + model::protocolName(proto);
}

std::optional<Target> parseTarget(const std::string& text, std::string& why) {
  std::string s = text;
  Target t;
  if (auto slash = s.rfind('/'); slash != std::string::npos) {
    std::string p = s.substr(slash + 1);
    std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (p == "tcp") t.proto = model::Protocol::kTCP;
    else if (p == "udp") t.proto = model::Protocol::kUDP;
    else if (p == "sctp") t.proto = model::Protocol::kSCTP;
    else return why = "unknown protocol \"" + s.substr(slash + 1) + "\" (tcp, udp or sctp)", std::nullopt;
    s = s.substr(0, slash);
  }
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return why = "expected [IPv6]:PORT", std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) return why = "expected IP:PORT (IPv6 as [IP]:PORT)", std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  auto ip = net::parseIP(host);
  if (!ip) return why = "\"" + host + "\" is not an IP address", std::nullopt;
  unsigned n = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535)
    return why = "\"" + port + "\" is not a port (1-65535)", std::nullopt;
  t.ip = *ip;
  t.port = static_cast<uint16_t>(n);
  return t;
}

const char* addressKindName(AddressKind k) {
  switch (k) {
    case AddressKind::kClusterIP: return "ClusterIP";
    case AddressKind::kExternalIP: return "external IP";
    case AddressKind::kLoadBalancerIP: return "load balancer IP";
    case AddressKind::kNodePort: return "NodePort";
  }
  return "?";
}

namespace {

bool sameIP(const std::string& text, const net::IPAddress& ip) {
  auto p = net::parseIP(text);
  return p && *p == ip;
}

bool hasHint(const EndpointInfo& e, const std::string& zone) {
  return std::find(e.zoneHints.begin(), e.zoneHints.end(), zone) != e.zoneHints.end();
}

std::string plural(size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

void explain(Finding& f, const dataplane::NodeContext& node) {
  const ServicePortInfo& p = *f.port;
  bool internal = f.kind == AddressKind::kClusterIP;
  f.policyLocal = internal ? p.internalPolicyLocal : p.externalPolicyLocal;
  const char* policy = internal ? "internalTrafficPolicy" : "externalTrafficPolicy";
  const auto& used = f.policyLocal ? p.localEndpoints : p.clusterEndpoints;
  auto zone = node.nodeLabels.find(model::kLabelTopologyZone);
  bool anyReady = std::any_of(p.endpoints.begin(), p.endpoints.end(), [](const EndpointInfo& e) { return e.ready; });
  size_t readyUsed = 0, terminatingUsed = 0, notServing = 0, notReady = 0, servingTerminating = 0;
  for (size_t i = 0; i < p.endpoints.size(); ++i) {
    const EndpointInfo& e = p.endpoints[i];
    EndpointView v{&e, std::find(used.begin(), used.end(), i) != used.end(), {}};
    if (v.used) {
      readyUsed += e.ready;
      terminatingUsed += e.terminating;
      f.usedHostPorts.push_back(e.hostPort);
    } else if (f.policyLocal && !e.local) {
      v.whyNot = "on " + (e.nodeName.empty() ? std::string("no node") : e.nodeName) + ", not " + node.nodeName + " (" +
                 policy + " Local)";
    } else if (!e.ready && e.terminating && e.serving) {
      v.whyNot = "terminating: used only while no endpoint is ready";
    } else if (!e.ready && e.terminating) {
      v.whyNot = "terminating and not serving";
    } else if (!e.ready) {
      v.whyNot = "not ready";
    } else if (!e.nodeHints.empty() && std::find(e.nodeHints.begin(), e.nodeHints.end(), node.nodeName) == e.nodeHints.end()) {
      v.whyNot = "topology hints for node " + e.nodeHints.front() + " (PreferSameNode), this node is " + node.nodeName;
    } else if (zone != node.nodeLabels.end() && !hasHint(e, zone->second)) {
      v.whyNot = "topology hints for zone " + (e.zoneHints.empty() ? std::string("none") : e.zoneHints.front()) +
                 ", this node is in " + zone->second;
    } else {
      v.whyNot = "not selected";
    }
    if (!e.ready) {
      if (e.terminating && e.serving) ++servingTerminating;
      else if (e.terminating) ++notServing;
      else ++notReady;
    }
    f.endpoints.push_back(std::move(v));
  }
  std::sort(f.usedHostPorts.begin(), f.usedHostPorts.end());
  f.reachable = !used.empty();
  if (f.reachable) {
    f.verdict = "reachable: " + plural(used.size(), "endpoint") + " (" + std::to_string(readyUsed) + " ready";
    if (terminatingUsed) f.verdict += ", " + std::to_string(terminatingUsed) + " terminating";
    f.verdict += ")";
    return;
  }
  if (p.endpoints.empty()) {
    f.verdict = "unreachable: " + p.nameString + " has no endpoints";
  } else if (f.policyLocal && (anyReady || servingTerminating)) {
    f.verdict = std::string("unreachable: ") + policy + " Local and no endpoint on " + node.nodeName;
  } else {
    std::vector<std::string> parts;
    if (notServing) parts.push_back(std::to_string(notServing) + " terminating, not serving");
    if (notReady) parts.push_back(std::to_string(notReady) + " not ready");
    if (servingTerminating) parts.push_back(std::to_string(servingTerminating) + " terminating");
    std::string detail;
    for (const auto& s : parts) detail += (detail.empty() ? "" : ", ") + s;
    f.verdict = "unreachable: no ready endpoints (" + detail + ")";
  }
}

}  // namespace

Finding lookup(const dataplane::DesiredState& state, const Target& t, const dataplane::NodeContext& node,
               const std::vector<net::IPAddress>& nodeAddresses) {
  Finding f;
  bool addressOwned = false;
  const ServicePortInfo* nodePortMatch = nullptr;
  for (const auto& p : state.ports) {
    std::optional<AddressKind> kind;
    if (sameIP(p.clusterIP, t.ip)) kind = AddressKind::kClusterIP;
    for (const auto& ip : p.externalIPs)
      if (sameIP(ip, t.ip)) kind = AddressKind::kExternalIP;
    for (const auto& ip : p.loadBalancerVIPs)
      if (sameIP(ip, t.ip)) kind = AddressKind::kLoadBalancerIP;
    if (kind) {
      addressOwned = true;
      if (p.port == t.port && p.protocol == t.proto) {
        f.port = &p;
        f.kind = *kind;
        break;
      }
      f.nearMisses.push_back(p.nameString + " (" + addressKindName(*kind) + " port " + std::to_string(p.port) + "/" +
                             model::protocolName(p.protocol) + ")");
    }
    if (p.nodePort == t.port && p.protocol == t.proto && !nodePortMatch) nodePortMatch = &p;
  }
  bool nodeAddress = nodeAddresses.empty() ? !addressOwned
                                           : std::find(nodeAddresses.begin(), nodeAddresses.end(), t.ip) != nodeAddresses.end();
  if (!f.port && nodePortMatch && nodeAddress) {
    f.port = nodePortMatch;
    f.kind = AddressKind::kNodePort;
  }
  if (!f.port) {
    f.verdict = "unreachable: no Service has " + t.str();
    return f;
  }
  explain(f, node);
  return f;
}

}  // namespace kproxy::trace
