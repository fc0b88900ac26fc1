// `kproxy render`: print the rules kproxy would program for a set of manifests, touching nothing.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace kproxy::daemon {

// Returns the process exit status: 0 all good, 1 some manifest was bad (the good ones are still
// rendered), 2 usage error.
int runRender(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace kproxy::daemon
