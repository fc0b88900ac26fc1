#include "ebpf/map_layout.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "dataplane/ip.h"

namespace kproxy::ebpf {

namespace {

std::string ipv4(uint32_t hostOrder) {
  net::IPAddress ip;
  for (int i = 0; i < 4; ++i) ip.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(hostOrder >> (24 - 8 * i));
  return ip.str();
}

std::optional<uint32_t> parseV4(const std::string& text) {
  auto ip = net::parseIP(text);
  if (!ip || ip->family != model::IPFamily::kIPv4) return std::nullopt;
  return (uint32_t{ip->bytes[0]} << 24) | (uint32_t{ip->bytes[1]} << 16) | (uint32_t{ip->bytes[2]} << 8) | ip->bytes[3];
}

uint8_t protoNumber(model::Protocol p) {
  switch (p) {
    case model::Protocol::kUDP: return IPPROTO_UDP;
    case model::Protocol::kSCTP: return IPPROTO_SCTP;
    default: return IPPROTO_TCP;
  }
}

model::Protocol protocolOf(uint8_t p) {
  return p == IPPROTO_UDP ? model::Protocol::kUDP : p == IPPROTO_SCTP ? model::Protocol::kSCTP : model::Protocol::kTCP;
}

// One Service address leading to `endpoints` (indices into port.endpoints), in slot order.
void addAddress(const dataplane::ServicePortInfo& port, const std::string& ip,
                const std::vector<size_t>& endpoints, MapEntries& out, uint16_t servicePort = 0) {
  auto addr = parseV4(ip);
  if (!addr) return;
  SvcKey key{*addr, servicePort ? servicePort : port.port, protoNumber(port.protocol)};
  // Two Services claiming one address:port (an external IP given twice): the first by name keeps it.
  if (out.services.contains(key)) return;
  SvcValue value{0, port.affinityClientIP ? static_cast<uint32_t>(port.stickySeconds) : 0};
  for (size_t i : endpoints) {
    const auto& ep = port.endpoints[i];
    auto be = parseV4(ep.ip);
    if (!be) continue;
    out.backends.emplace(BeKey{key, value.count++}, BeValue{*be, ep.port});
  }
  out.services[key] = value;
}

}  // namespace

kproxy_svc_key SvcKey::raw() const {
  kproxy_svc_key k{};
  k.addr = htonl(addr);
  k.port = htons(port);
  k.proto = proto;
  return k;
}

SvcKey SvcKey::from(const kproxy_svc_key& k) { return {ntohl(k.addr), ntohs(k.port), k.proto}; }

std::string SvcKey::str() const { return ipv4(addr) + ":" + std::to_string(port) + "/" + model::protocolLower(protocolOf(proto)); }

kproxy_be_value BeValue::raw() const {
  kproxy_be_value v{};
  v.addr = htonl(addr);
  v.port = htons(port);
  return v;
}

BeValue BeValue::from(const kproxy_be_value& v) { return {ntohl(v.addr), ntohs(v.port)}; }

std::string BeValue::str() const { return ipv4(addr) + ":" + std::to_string(port); }

EntryOptions entryOptionsFor(const dataplane::ProxyOptions& options) {
  EntryOptions out;
  for (const auto& text : options.nodeIPs) {
    auto ip = net::parseIP(text);
    if (!ip || ip->family != model::IPFamily::kIPv4 || ip->isLoopback()) continue;
    bool selected = options.nodePortAddresses.empty();
    for (const auto& cidr : options.nodePortAddresses) selected = selected || cidr.contains(*ip);
    if (selected) out.nodePortIPs.push_back(ip->str());
  }
  std::sort(out.nodePortIPs.begin(), out.nodePortIPs.end());
  return out;
}

void addEntries(const dataplane::ServicePortInfo& port, const EntryOptions& options, MapEntries& out) {
  if (port.family != model::IPFamily::kIPv4 || port.port == 0) return;
  const auto& internal = port.internalPolicyLocal ? port.localEndpoints : port.clusterEndpoints;
  if (!port.clusterIP.empty()) addAddress(port, port.clusterIP, internal, out);
  for (const auto& ip : port.externalIPs) addAddress(port, ip, port.clusterEndpoints, out);
  // Source ranges are checked on packets from outside (tc); from inside the node, such an LB IP
  // is left to the packet path.
  if (port.loadBalancerSourceRanges.empty())
    for (const auto& ip : port.loadBalancerVIPs) addAddress(port, ip, port.clusterEndpoints, out);
  if (port.nodePort)
    for (const auto& ip : options.nodePortIPs) addAddress(port, ip, port.clusterEndpoints, out, port.nodePort);
}

MapEntries entriesOf(const dataplane::DesiredState& state, const EntryOptions& options) {
  MapEntries out;
  for (const auto& p : state.ports) addEntries(p, options, out);
  return out;
}

MapEntries entriesOf(const dataplane::DesiredState& state, const model::NamespacedName& svc, const EntryOptions& options) {
  MapEntries out;
  for (const auto& p : state.portsOf(svc)) addEntries(p, options, out);
  return out;
}

MapWrites diff(const MapEntries& have, const MapEntries& want) {
  MapWrites w;
  for (const auto& [k, v] : want.backends)
    if (auto it = have.backends.find(k); it == have.backends.end() || it->second != v) w.backendUpserts.emplace_back(k, v);
  for (const auto& [k, v] : want.services)
    if (auto it = have.services.find(k); it == have.services.end() || it->second != v) w.serviceUpserts.emplace_back(k, v);
  for (const auto& [k, v] : have.services)
    if (!want.services.contains(k)) w.serviceDeletes.push_back(k);
  for (const auto& [k, v] : have.backends)
    if (!want.backends.contains(k)) w.backendDeletes.push_back(k);
  return w;
}

std::string renderText(const MapEntries& entries) {
  std::string out;
  auto be = entries.backends.begin();
  for (const auto& [k, v] : entries.services) {
    out += "service " + k.str() + " count " + std::to_string(v.count);
    if (v.affinitySecs) out += " affinity " + std::to_string(v.affinitySecs) + "s";
    out += v.count ? "\n" : " (refused)\n";
    while (be != entries.backends.end() && be->first.svc < k) ++be;
    for (; be != entries.backends.end() && be->first.svc == k; ++be)
      out += "  slot " + std::to_string(be->first.slot) + " " + be->second.str() + "\n";
  }
  return out;
}

}  // namespace kproxy::ebpf
