// Ported upstream test tables report how many of upstream's cases hold, in the test output
// (README's "Upstream's tests as ours" counts these lines).
#pragma once

#include <cstddef>
#include <iostream>
#include <string>

namespace kproxy::testing {

inline void reportUpstreamCases(const std::string& test, const std::string& file, const std::string& commit, size_t passed,
                                size_t total) {
  std::cout << "[upstream] " << test << " (kubernetes/kubernetes " << commit << ", " << file << "): " << passed << " of "
            << total << " cases hold\n";
}

}  // namespace kproxy::testing
