// `kproxy [flags]`: the daemon's start-up (flags, cleanup of other modes, sysctls) and run loop.
#pragma once

#include <string>
#include <vector>

namespace kproxy::daemon {

int runDaemon(const std::vector<std::string>& args);
// `kproxy cleanup`: everything any mode created, in this network namespace.
int runCleanup();

}  // namespace kproxy::daemon
