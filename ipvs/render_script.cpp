#include "ipvs/render_script.h"

#include "dataplane/ip.h"
#include "ipvs/helper_rules.h"

namespace kproxy::ipvs {

std::string renderScript(const dataplane::DesiredState& state, const IpvsOptions& opts) {
  const bool v6 = opts.proxy.family == IPFamily::kIPv6;
  std::set<std::string> local;
  for (const auto& ip : opts.proxy.nodeIPs)
    if (auto parsed = net::parseIP(ip); parsed && parsed->family == opts.proxy.family) local.insert(parsed->str());
  const IpvsOptions effective = withLocalNodeIPs(opts, local);
  Fragment all = planState(state, effective, local);
  auto ops = planOperations(all.servers, {}, [](const ServiceKey&, const Destination&) { return true; });

  size_t destinations = 0, members = 0;
  for (const auto& [k, s] : all.servers) destinations += s.destinations.size();
  for (const auto& [n, m] : all.sets) members += m.size();
  std::string out = "#!/bin/sh\n";
  out += "# kproxy render --proxy-mode ipvs (" + std::string(v6 ? "IPv6" : "IPv4") + "): " +
         std::to_string(all.servers.size()) + " virtual servers, " + std::to_string(destinations) + " destinations, " +
         std::to_string(all.addresses.size()) + " kube-ipvs0 addresses, " + std::to_string(members) + " set members.\n";
  out += "# Programs the current network namespace as kproxy's IPVS mode would; meant for a fresh one\n";
  out += "# (ip netns exec NS sh FILE). Needs the ip_vs and dummy modules, ipset and ipvsadm.\n";
  out += "set -e\n";
  out += "ip link show kube-ipvs0 >/dev/null 2>&1 || ip link add kube-ipvs0 type dummy\n";
  for (const auto& a : all.addresses)
    out += std::string("ip ") + (v6 ? "-6 " : "") + "addr add " + a + (v6 ? "/128" : "/32") + " dev kube-ipvs0\n";
  out += "ipset restore <<'EOF'\n" + setCreateLines(opts.proxy.family);
  for (const auto& [name, set] : all.sets)
    for (const auto& m : set) out += "add " + name + " " + m + " -exist\n";
  out += "EOF\n";
  out += "ipvsadm --restore <<'EOF'\n";
  for (const auto& op : ops) out += op.args() + "\n";
  out += "EOF\n";
  out += std::string(v6 ? "ip6tables" : "iptables") + "-restore --noflush <<'EOF'\n";
  out += withJumps(renderHelperRules(effective, all.nodeDenied), ipvsJumpRules());
  out += "EOF\n";
  return out;
}

}  // namespace kproxy::ipvs
