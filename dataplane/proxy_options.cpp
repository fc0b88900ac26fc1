#include "dataplane/proxy_options.h"

#include <algorithm>

namespace kproxy::dataplane {

const net::Cidr* ProxyOptions::localCIDR() const {
  for (const auto& c : clusterCIDRs)
    if (c.network.family == family) return &c;
  return nullptr;
}

std::optional<net::IPAddress> ProxyOptions::nodeIP() const {
  for (const auto& s : primaryNodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family) return ip;
  for (const auto& s : nodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family && !ip->isLoopback()) return ip;
  return std::nullopt;
}

void ProxyOptions::setPrimaryNodeIPs(std::vector<std::string> ips) {
  primaryNodeIPs = std::move(ips);
  if (!nodePortPrimary) return;
  nodePortAddresses.clear();
  for (const auto& s : primaryNodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family && !ip->isLoopback())
      nodePortAddresses.push_back(net::Cidr{*ip, family == model::IPFamily::kIPv4 ? 32 : 128});
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
