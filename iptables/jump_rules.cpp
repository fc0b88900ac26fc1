#include "iptables/jump_rules.h"

#include <sstream>

#include "iptables/chain_names.h"

namespace kproxy::iptables {

std::string JumpRule::spec() const {
  std::string s;
  if (!extraArgs.empty()) s += extraArgs + " ";
  if (!comment.empty()) s += "-m comment --comment \"" + comment + "\" ";
  s += "-j " + dstChain;
  return s;
}

std::vector<JumpRule> jumpRules(bool withKubeletFirewall) {
  const std::string newConn = "-m conntrack --ctstate NEW";
  std::vector<JumpRule> r = {
      {"filter", "INPUT", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", newConn},
      {"filter", "FORWARD", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", newConn},
      {"filter", "INPUT", "KUBE-NODEPORTS", "kubernetes health check service ports", ""},
      {"filter", "FORWARD", "KUBE-SERVICES", "kubernetes service portals", newConn},
      {"filter", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", newConn},
      {"filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", ""},
      {"filter", "INPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", newConn},
      {"filter", "OUTPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", newConn},
      {"filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", newConn},
      {"nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", ""},
      {"nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals", ""},
      {"nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules", ""},
  };
  if (withKubeletFirewall) {
    r.push_back({"filter", "INPUT", "KUBE-FIREWALL", "", ""});
    r.push_back({"filter", "OUTPUT", "KUBE-FIREWALL", "", ""});
  }
  return r;
}

bool hasJumpRule(std::string_view saveText, const JumpRule& rule) {
  std::string prefix = "-A " + rule.srcChain + " ";
  std::string target = " -j " + rule.dstChain;
  std::string comment = "--comment \"" + rule.comment + "\"";
  size_t pos = 0;
  while (pos < saveText.size()) {
    size_t end = saveText.find('\n', pos);
    if (end == std::string_view::npos) end = saveText.size();
    std::string_view line = saveText.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, prefix.size()) != prefix) continue;
    bool targetOk = line.size() >= target.size() && line.substr(line.size() - target.size()) == target;
    if (!targetOk) continue;
    if (rule.comment.empty() ? line.find("--comment") == std::string_view::npos
                             : line.find(comment) != std::string_view::npos)
      return true;
  }
  return false;
}

bool isKproxyChain(std::string_view chain) {
  static constexpr std::string_view kFixed[] = {
      // iptables mode
      "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
      "KUBE-FORWARD", "KUBE-PROXY-FIREWALL", "KUBE-PROXY-CANARY",
      // ipvs mode
      "KUBE-LOAD-BALANCER", "KUBE-NODE-PORT", "KUBE-FIRE-WALL", "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER",
      "KUBE-SOURCE-RANGES-FIREWALL", "KUBE-MARK-DROP",
  };
  for (auto f : kFixed)
    if (chain == f) return true;
  return isServiceChainName(chain);
}

}  // namespace kproxy::iptables
