#include "ipvs/helper_rules.h"

#include <cstdio>
#include <set>

namespace kproxy::ipvs {
namespace {

std::string comment(const char* setIpv4Name) {
  for (const auto& s : ipsetInfo())
    if (std::string(s.name) == setIpv4Name) return std::string("-m comment --comment \"") + s.comment + "\" ";
  return {};
}

}  // namespace

std::vector<iptables::JumpRule> ipvsJumpRules() {
  return {
      {"nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", ""},
      {"nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals", ""},
      {"nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules", ""},
      {"filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", ""},
      {"filter", "INPUT", "KUBE-NODE-PORT", "kubernetes health check rules", ""},
      {"filter", "INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules", ""},
      {"filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules", ""},
      {"filter", "INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter", ""},
      {"filter", "OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter", ""},
  };
}

bool isIpvsModeChain(std::string_view c) {
  static const std::set<std::string_view> kChains = {
      "KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ", "KUBE-FORWARD",
      "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER"};
  return kChains.count(c) > 0;
}

std::string withJumps(std::string rules, const std::vector<iptables::JumpRule>& jumps) {
  for (const auto& j : jumps) {
    auto at = rules.find("*" + j.table + "\n");
    if (at == std::string::npos) continue;
    rules.insert(rules.find("COMMIT\n", at), "-I " + j.srcChain + " 1 " + j.spec() + "\n");
  }
  return rules;
}

std::string renderHelperRules(const IpvsOptions& opts, const std::set<std::string>& nodeDenied) {
  const IPFamily f = opts.proxy.family;
  auto set = [&](const char* name) { return setName(name, f); };
  char mark[32];
  std::snprintf(mark, sizeof mark, "0x%x", 1u << opts.proxy.masqueradeBit);
  std::string t;
  auto line = [&](const std::string& s) { t += s + "\n"; };

  line("*filter");
  for (const char* c : {"KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL",
                        "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER"})
    line(std::string(":") + c + " - [0:0]");
  line("-A KUBE-PROXY-FIREWALL " + comment("KUBE-LOAD-BALANCER-FW") + "-m set --match-set " + set("KUBE-LOAD-BALANCER-FW") +
       " dst,dst -j KUBE-SOURCE-RANGES-FIREWALL");
  line("-A KUBE-SOURCE-RANGES-FIREWALL " + comment("KUBE-LOAD-BALANCER-SOURCE-CIDR") + "-m set --match-set " +
       set("KUBE-LOAD-BALANCER-SOURCE-CIDR") + " dst,dst,src -j RETURN");
  line("-A KUBE-SOURCE-RANGES-FIREWALL " + comment("KUBE-LOAD-BALANCER-SOURCE-IP") + "-m set --match-set " +
       set("KUBE-LOAD-BALANCER-SOURCE-IP") + " dst,dst,src -j RETURN");
  line("-A KUBE-SOURCE-RANGES-FIREWALL -j DROP");
  for (const auto& match : nodeDenied) line("-A KUBE-IPVS-OUT-FILTER " + match + " -j DROP");
  line(std::string("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark ") + mark + "/" +
       mark + " -j ACCEPT");
  line("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
       "RELATED,ESTABLISHED -j ACCEPT");
  line("-A KUBE-NODE-PORT " + comment("KUBE-HEALTH-CHECK-NODE-PORT") + "-m set --match-set " +
       set("KUBE-HEALTH-CHECK-NODE-PORT") + " dst -j ACCEPT");
  for (const char* s : {"KUBE-LOAD-BALANCER", "KUBE-CLUSTER-IP", "KUBE-EXTERNAL-IP", "KUBE-EXTERNAL-IP-LOCAL"})
    line("-A KUBE-IPVS-FILTER -m set --match-set " + set(s) + " dst,dst -j RETURN");
  line("-A KUBE-IPVS-FILTER -m set --match-set " + set("KUBE-HEALTH-CHECK-NODE-PORT") + " dst -j RETURN");
  line("-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set " + set("KUBE-IPVS-IPS") + " dst -j REJECT");
  line("COMMIT");

  line("*nat");
  for (const char* c : {"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"})
    line(std::string(":") + c + " - [0:0]");
  line(std::string("-A KUBE-SERVICES -s ") + (f == IPFamily::kIPv6 ? "::1/128" : "127.0.0.0/8") + " -j RETURN");
  line("-A KUBE-POSTROUTING " + comment("KUBE-LOOP-BACK") + "-m set --match-set " + set("KUBE-LOOP-BACK") +
       " dst,dst,src -j MASQUERADE");
  line("-A KUBE-SERVICES " + comment("KUBE-LOAD-BALANCER") + "-m set --match-set " + set("KUBE-LOAD-BALANCER") +
       " dst,dst -j KUBE-LOAD-BALANCER");
  line("-A KUBE-LOAD-BALANCER " + comment("KUBE-LOAD-BALANCER-LOCAL") + "-m set --match-set " +
       set("KUBE-LOAD-BALANCER-LOCAL") + " dst,dst -j RETURN");
  struct NodePortSets { const char* proto; const char* local; const char* all; const char* match; };
  for (const auto& n : {NodePortSets{"tcp", "KUBE-NODE-PORT-LOCAL-TCP", "KUBE-NODE-PORT-TCP", "dst"},
                        NodePortSets{"udp", "KUBE-NODE-PORT-LOCAL-UDP", "KUBE-NODE-PORT-UDP", "dst"},
                        NodePortSets{"sctp", "KUBE-NODE-PORT-LOCAL-SCTP-HASH", "KUBE-NODE-PORT-SCTP-HASH", "dst,dst"}}) {
    line(std::string("-A KUBE-NODE-PORT -p ") + n.proto + " " + comment(n.local) + "-m set --match-set " + set(n.local) +
         " " + n.match + " -j RETURN");
    line(std::string("-A KUBE-NODE-PORT -p ") + n.proto + " " + comment(n.all) + "-m set --match-set " + set(n.all) +
         " " + n.match + " -j KUBE-MARK-MASQ");
  }
  std::string clusterIP = "-A KUBE-SERVICES " + comment("KUBE-CLUSTER-IP") + "-m set --match-set " + set("KUBE-CLUSTER-IP");
  if (opts.proxy.masqueradeAll) line(clusterIP + " dst,dst -j KUBE-MARK-MASQ");
  else if (auto local = opts.proxy.localMatch()) line(clusterIP + " dst,dst " + local.iptables(true) + " -j KUBE-MARK-MASQ");
  else line(clusterIP + " src,dst -j KUBE-MARK-MASQ");
  for (const char* s : {"KUBE-EXTERNAL-IP", "KUBE-EXTERNAL-IP-LOCAL"}) {
    std::string m = "-A KUBE-SERVICES " + comment(s) + "-m set --match-set " + set(s) + " dst,dst";
    if (std::string(s) == "KUBE-EXTERNAL-IP") line(m + " -j KUBE-MARK-MASQ");
    line(m + " -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT");
    line(m + " -m addrtype --dst-type LOCAL -j ACCEPT");
  }
  line("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT");
  line("-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ");
  line("-A KUBE-SERVICES -m set --match-set " + set("KUBE-CLUSTER-IP") + " dst,dst -j ACCEPT");
  line("-A KUBE-SERVICES -m set --match-set " + set("KUBE-LOAD-BALANCER") + " dst,dst -j ACCEPT");
  line(std::string("-A KUBE-POSTROUTING -m mark ! --mark ") + mark + "/" + mark + " -j RETURN");
  line(std::string("-A KUBE-POSTROUTING -j MARK --xor-mark ") + mark);
  line("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully");
  line(std::string("-A KUBE-MARK-MASQ -j MARK --or-mark ") + mark);
  line("COMMIT");
  return t;
}

}  // namespace kproxy::ipvs
