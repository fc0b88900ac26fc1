#include "dataplane/proxy_options.h"

#include <algorithm>

namespace kproxy::dataplane {

std::string LocalMatch::iptables(bool negate) const {
  std::string n = negate ? "! " : "";
  switch (kind) {
    case Kind::kCidr: return n + "-s " + cidr.str();
    case Kind::kInterface: return n + "-i " + interface;
    case Kind::kInterfacePrefix: return n + "-i " + interface + "+";
    case Kind::kNone: break;
  }
  return "";
}

LocalMatch ProxyOptions::localMatch() const {
  LocalMatch m;
  switch (localMode) {
    case LocalMode::kClusterCIDR:
    case LocalMode::kNodeCIDR:
      // Upstream's detector takes the first CIDR of the family.
      for (const auto& c : localMode == LocalMode::kClusterCIDR ? clusterCIDRs : podCIDRs)
        if (c.network.family == family) {
          m.kind = LocalMatch::Kind::kCidr;
          m.cidr = c;
          return m;
        }
      return m;
    case LocalMode::kBridgeInterface:
    case LocalMode::kInterfaceNamePrefix:
      if (localInterface.empty()) return m;
      m.kind = localMode == LocalMode::kBridgeInterface ? LocalMatch::Kind::kInterface : LocalMatch::Kind::kInterfacePrefix;
      m.interface = localInterface;
      return m;
  }
  return m;
}

std::optional<net::IPAddress> ProxyOptions::nodeIP() const {
  for (const auto& s : primaryNodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family) return ip;
  for (const auto& s : nodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family && !ip->isLoopback()) return ip;
  return std::nullopt;
}

void ProxyOptions::setNodeInfo(const NodeInfo& info) {
  podCIDRs.clear();
  for (const auto& c : info.podCIDRs)
    if (auto cidr = net::parseCidr(c)) podCIDRs.push_back(*cidr);
  primaryNodeIPs = info.primaryIPs;
  if (!nodePortPrimary) return;
  nodePortAddresses.clear();
  for (const auto& s : primaryNodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family && !ip->isLoopback())
      nodePortAddresses.push_back(net::Cidr{*ip, family == model::IPFamily::kIPv4 ? 32 : 128});
}

NodeInfo nodeInfoOf(const model::Node* node, const std::string& bindAddress) {
  NodeInfo info;
  info.primaryIPs = primaryNodeIPsOf(node ? node->addresses : std::vector<model::NodeAddress>{}, bindAddress);
  if (node) info.podCIDRs = node->podCIDRs;
  return info;
}

std::vector<std::string> primaryNodeIPsOf(const std::vector<model::NodeAddress>& addresses, const std::string& bindAddress) {
  std::vector<net::IPAddress> picked;
  for (const char* type : {"InternalIP", "ExternalIP"})
    for (const auto& a : addresses) {
      if (a.type != type) continue;
      auto ip = net::parseIP(a.address);
      if (!ip) continue;
      bool haveFamily = std::any_of(picked.begin(), picked.end(), [&](const auto& p) { return p.family == ip->family; });
      if (!haveFamily) picked.push_back(*ip);
    }
  if (auto bind = net::parseIP(bindAddress); bind && !bind->isUnspecified()) {
    auto it = std::find_if(picked.begin(), picked.end(), [&](const auto& p) { return p.family == bind->family; });
    if (it != picked.end()) *it = *bind;
    else picked.insert(picked.begin(), *bind);
  }
  std::vector<std::string> out;
  for (const auto& ip : picked) out.push_back(ip.str());
  return out;
}

}  // namespace kproxy::dataplane
