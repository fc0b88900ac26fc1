// Test support: parse iptables-restore text and check the invariants every ruleset must hold.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"
#include "nftables/ruleset.h"

namespace kproxy::testing {

struct RestoreRule {
  std::string chain;
  std::vector<std::string> words;  // after "-A CHAIN", quotes kept
  std::string target() const;      // the word after -j
  std::string option(const std::string& flag) const;  // the word after `flag`
  bool has(const std::string& word) const;
};

struct RestoreTable {
  std::vector<std::string> chains;  // declared with ":NAME"
  std::vector<RestoreRule> rules;
  std::vector<std::string> deleted;  // "-X NAME"
};

// Splits on spaces, keeping "quoted strings" as one word.
std::vector<std::string> splitRuleWords(const std::string& line);
std::map<std::string, RestoreTable> parseRestore(const std::string& text);

// Every violation found, empty when the text is sound: each jump target is defined, no chain
// name is longer than 28 characters, every SEP chain DNATs, and each SVC/SVL chain selects each
// of its endpoints with equal probability.
std::vector<std::string> checkInvariants(const std::string& text);

// The same for an nftables table: every jump, goto and verdict names a defined chain, every @set
// a defined set of the right kind, names are unique and at most 256 characters, element keys are
// unique per set, every chain a service map leads to does something, and each destination's
// endpoint entries are indices 0..N-1 to distinct endpoints with a dnat-N chain picking among
// them (equal chances).
std::vector<std::string> checkNftInvariants(const nftables::Table& table);

// tests/golden/<case>/input.json: the render options and the desired state of its objects.
struct GoldenCase {
  dataplane::ProxyOptions opts;
  dataplane::DesiredState state;
  std::vector<std::string> decodeErrors;
};
GoldenCase loadGoldenCase(const std::string& dir);

}  // namespace kproxy::testing
