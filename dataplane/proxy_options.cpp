#include "dataplane/proxy_options.h"

namespace kproxy::dataplane {

const net::Cidr* ProxyOptions::localCIDR() const {
  for (const auto& c : clusterCIDRs)
    if (c.network.family == family) return &c;
  return nullptr;
}

std::optional<net::IPAddress> ProxyOptions::nodeIP() const {
  for (const auto& s : nodeIPs)
    if (auto ip = net::parseIP(s); ip && ip->family == family) return ip;
  return std::nullopt;
}

}  // namespace kproxy::dataplane
