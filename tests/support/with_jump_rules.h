// Test helper: rendered iptables rules hold kproxy's chains only; the built-in chains' jumps come
// from the backend. This adds them, as a loaded ruleset has them, for the trace evaluator.
#pragma once

#include <sstream>
#include <string>

#include "iptables/jump_rules.h"

namespace kproxy::testing {

inline std::string withJumpRules(const std::string& rules) {
  std::string out, table;
  std::istringstream in(rules);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '*') table = line.substr(1);
    if (line == "COMMIT")
      for (const auto& j : iptables::jumpRules(true))
        if (j.table == table) out += "-A " + j.srcChain + " " + j.spec() + "\n";
    out += line + "\n";
  }
  return out;
}

}  // namespace kproxy::testing
