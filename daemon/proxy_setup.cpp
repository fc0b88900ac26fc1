#include "daemon/proxy_setup.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "daemon/flags.h"
#include "dataplane/ip.h"

namespace kproxy::daemon {

std::string nodeNameFrom(const ProxyConfig& cfg) {
  std::string node = cfg.hostnameOverride;
  if (node.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    node = host;
  }
  node.erase(0, node.find_first_not_of(" \t\n"));
  node.erase(node.find_last_not_of(" \t\n") + 1);
  std::transform(node.begin(), node.end(), node.begin(), [](unsigned char c) { return std::tolower(c); });
  return node;
}

std::vector<std::string> localAddresses(model::IPFamily family) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    net::IPAddress ip;
    if (i->ifa_addr->sa_family == AF_INET && family == model::IPFamily::kIPv4) {
      ip.family = model::IPFamily::kIPv4;
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6 && family == model::IPFamily::kIPv6) {
      ip.family = model::IPFamily::kIPv6;
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(ip.str());
  }
  ::freeifaddrs(list);
  return out;
}

dataplane::ProxyOptions proxyOptionsFor(const ProxyConfig& cfg, model::IPFamily family) {
  dataplane::ProxyOptions opts;
  opts.family = family;
  for (const auto& c : splitComma(cfg.clusterCIDR))
    if (auto cidr = net::parseCidr(c)) opts.clusterCIDRs.push_back(*cidr);
  // Detect-local as upstream's modes; NodeCIDR's pod CIDRs arrive with the Node (setNodeInfo).
  if (cfg.detectLocalMode == "NodeCIDR") opts.localMode = dataplane::LocalMode::kNodeCIDR;
  if (cfg.detectLocalMode == "BridgeInterface") {
    opts.localMode = dataplane::LocalMode::kBridgeInterface;
    opts.localInterface = cfg.detectLocal.bridgeInterface;
  }
  if (cfg.detectLocalMode == "InterfaceNamePrefix") {
    opts.localMode = dataplane::LocalMode::kInterfaceNamePrefix;
    opts.localInterface = cfg.detectLocal.interfaceNamePrefix;
  }
  opts.setNodePortAddresses(cfg.effectiveNodePortAddresses());
  opts.masqueradeAll = cfg.masqueradeAll();
  opts.masqueradeBit = cfg.masqueradeBit();
  opts.localhostNodePorts = cfg.iptables.localhostNodePorts;
  opts.nodeIPs = localAddresses(family);
  std::ifstream liberal("/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal");
  int value = 0;
  opts.conntrackTCPLiberal = (liberal >> value) && value != 0;
  return opts;
}

}  // namespace kproxy::daemon
