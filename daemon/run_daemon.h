// `kproxy [flags]`: the daemon's start-up (flags, cleanup of other modes, sysctls) and run loop.
#pragma once

#include <string>
#include <vector>

namespace kproxy::daemon {

int runDaemon(const std::vector<std::string>& args);
// `kproxy cleanup`: everything any mode created, in this network namespace.
// `bpffs`: where eBPF mode's pins are (--ebpf-bpffs-path).
int runCleanup(const std::string& bpffs);

}  // namespace kproxy::daemon
