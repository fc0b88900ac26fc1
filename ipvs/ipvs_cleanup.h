// Removing IPVS mode's virtual servers, and only ours: those on kube-ipvs0's addresses or in
// KUBE-IPVS-IPS, and node-address NodePorts listed in our NodePort sets. (Upstream flushes all
// of IPVS; a foreign virtual server survives kproxy's cleanup.)
#pragma once

#include <cstddef>

#include "dataplane/status.h"

namespace kproxy::ipvs {

// Ok(0) when this kernel has no IPVS.
Result<size_t> removeOwnVirtualServers();

}  // namespace kproxy::ipvs
