// The iptables rules IPVS mode needs beside IPVS (upstream's writeIptablesRules): masquerade
// marks and hairpin by ipset match, NodePort and LB chains, the access filter that rejects
// other ports on Service IPs, and the jumps from the built-in chains into them.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "iptables/jump_rules.h"
#include "ipvs/planner.h"

namespace kproxy::ipvs {

// Restore input (filter, then nat) that rewrites every chain of ours. The rules match ipsets,
// so they do not change with Services, except KUBE-IPVS-OUT-FILTER's drops for `nodeDenied`
// (Fragment::nodeDenied): IPVS mode restores them in full syncs, and a partial sync that would
// change those drops becomes a full one.
std::string renderHelperRules(const IpvsOptions& opts, const std::set<std::string>& nodeDenied = {});

// Upstream IPVS mode's jumps from built-in chains.
std::vector<iptables::JumpRule> ipvsJumpRules();

// `rules` (renderHelperRules' text) with these jumps inserted first in their built-in chains.
std::string withJumps(std::string rules, const std::vector<iptables::JumpRule>& jumps);

// The chains of IPVS mode (both tables), for cleanup and mode switches.
bool isIpvsModeChain(std::string_view chain);

}  // namespace kproxy::ipvs
