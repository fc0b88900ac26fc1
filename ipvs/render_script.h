// `kproxy render --proxy-mode ipvs`: what IPVS mode would program, as a shell script that does
// the same with the usual tools (ip, ipset, ipvsadm --restore, iptables-restore) in the current
// network namespace. Nothing is programmed by kproxy itself.
#pragma once

#include <string>

#include "dataplane/desired_state.h"
#include "ipvs/planner.h"

namespace kproxy::ipvs {

// The node's addresses in `opts.proxy.nodeIPs` are taken as local (NodePorts listen on them and
// they are not bound to kube-ipvs0); loopback ones get no NodePorts, as in the daemon.
std::string renderScript(const dataplane::DesiredState& state, const IpvsOptions& opts);

}  // namespace kproxy::ipvs
