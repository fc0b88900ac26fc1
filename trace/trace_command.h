// `kproxy trace IP:PORT[/proto]`: why a Service address answers or not, from the desired state
// (what kproxy would program) and, with --kernel, what the kernel holds; --probe connects.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace kproxy::trace {

// Exit status: 0 reachable, 1 unreachable (or drift), 2 error.
int runTrace(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace kproxy::trace
