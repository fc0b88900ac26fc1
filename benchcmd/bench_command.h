// `kproxy bench`: sync times and data-plane connection rates of each proxy mode against the
// number of Services, measured in network namespaces of its own (root only).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace kproxy::benchcmd {

// Returns the exit status: 0 every row measured, 1 some failed, 2 usage error, 130 interrupted.
int runBench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace kproxy::benchcmd
