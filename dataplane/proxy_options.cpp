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
  serviceCIDRs.clear();
  for (const auto& c : info.serviceCIDRs)
    if (auto cidr = net::parseCidr(c); cidr && cidr->network.family == family) serviceCIDRs.push_back(*cidr);
  if (nodePortPrimary) setNodePortAddresses(nodePortEntries);
}

void ProxyOptions::setNodePortAddresses(const std::vector<std::string>& entries) {
  nodePortEntries = entries;
  nodePortPrimary = std::find(entries.begin(), entries.end(), "primary") != entries.end();
  nodePortAddresses = nodePortCidrs(entries, family, primaryNodeIPs);
}

bool isNodePortKeyword(const std::string& entry) { return entry == "primary" || entry == "localhost" || entry == "all"; }

std::vector<net::Cidr> nodePortCidrs(const std::vector<std::string>& entries, model::IPFamily family,
                                     const std::vector<std::string>& primaryIPs) {
  const bool v6 = family == model::IPFamily::kIPv6;
  std::vector<net::Cidr> out;
  auto add = [&](const std::string& text) {
    if (auto c = net::parseCidr(text); c && c->network.family == family && std::find(out.begin(), out.end(), *c) == out.end())
      out.push_back(*c);
  };
  for (const auto& e : entries) {
    if (e == "all") add(v6 ? "::/0" : "0.0.0.0/0");
    else if (e == "localhost") add(v6 ? "::1/128" : "127.0.0.0/8");
    else if (e == "primary") {
      for (const auto& s : primaryIPs)
        if (auto ip = net::parseIP(s); ip && ip->family == family && !ip->isLoopback()) add(ip->str() + (v6 ? "/128" : "/32"));
    } else {
      add(e);
    }
  }
  if (std::any_of(out.begin(), out.end(), [](const net::Cidr& c) { return c.prefix == 0; })) out.clear();
  return out;
}

bool nodePortsIncludeIPv4Loopback(const std::vector<std::string>& entries) {
  const auto loopback = net::parseIP("127.0.0.1");
  bool v4 = false;
  for (const auto& e : entries) {
    if (e == "all" || e == "localhost") return true;
    if (e == "primary") {
      v4 = true;
      continue;
    }
    if (auto c = net::parseCidr(e); c && c->network.family == model::IPFamily::kIPv4) {
      v4 = true;
      if (c->contains(*loopback)) return true;
    }
  }
  return !v4;  // no IPv4 entry: IPv4 matches every address
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
