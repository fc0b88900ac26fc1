// The rules in built-in chains that lead into kproxy's chains (upstream's iptablesJumpChains),
// and how to add the missing ones to a full-sync restore without touching foreign rules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kproxy::iptables {

struct JumpRule {
  std::string table;     // "filter" or "nat"
  std::string srcChain;  // built-in chain
  std::string dstChain;  // ours
  std::string comment;   // empty for the kubelet-compatible KUBE-FIREWALL jumps
  std::string extraArgs; // e.g. "-m conntrack --ctstate NEW"

  // The rule after "-I CHAIN 1 ": "[extra] [-m comment --comment "c"] -j DST".
  std::string spec() const;
};

// Upstream's list; KUBE-FIREWALL jumps only when `withKubeletFirewall` (IPv4, localhost NodePorts).
std::vector<JumpRule> jumpRules(bool withKubeletFirewall);

// Whether iptables-save output of `rule.table` holds the rule (matched by chain, target and
// comment, so iptables' own argument reordering does not matter).
bool hasJumpRule(std::string_view saveText, const JumpRule& rule);

// Chains of every kube-proxy mode, for cleanup: the fixed names and the per-service prefixes.
bool isKproxyChain(std::string_view chain);

}  // namespace kproxy::iptables
