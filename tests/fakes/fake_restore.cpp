#include "tests/fakes/fake_restore.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace kproxy::testing {

namespace {
const std::set<std::string> kBuiltin = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
const std::set<std::string> kTargets = {"ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "SNAT", "MASQUERADE", "MARK"};

std::string targetOf(const std::string& rule) {
  auto pos = rule.find(" -j ");
  if (pos == std::string::npos) return {};
  std::string rest = rule.substr(pos + 4);
  return rest.substr(0, rest.find(' '));
}
}  // namespace

FakeRestore::FakeRestore() {
  for (const char* t : {"filter", "nat", "mangle"})
    for (const auto& c : kBuiltin) tables[t][c];
}

Status FakeRestore::restore(std::string_view input) {
  ++restores;
  lastInput = std::string(input);
  if (failNext > 0) {
    --failNext;
    return Status::error("injected failure");
  }
  auto next = tables;  // all-or-nothing
  std::istringstream in{std::string(input)};
  std::string line, table;
  int n = 0;
  auto fail = [&](const std::string& why) { return Status::error("line " + std::to_string(n) + ": " + why); };
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      table = line.substr(1);
      continue;
    }
    auto& t = next[table];
    if (line == "COMMIT") {
      for (const auto& [chain, rules] : t)
        for (const auto& r : rules) {
          std::string target = targetOf(r);
          if (!target.empty() && !kTargets.count(target) && !t.count(target))
            return fail("chain " + chain + " jumps to missing " + target);
        }
      continue;
    }
    if (line[0] == ':') {
      std::string chain = line.substr(1, line.find(' ') - 1);
      t[chain].clear();  // creates or flushes
    } else if (line.rfind("-A ", 0) == 0 || line.rfind("-I ", 0) == 0) {
      std::string chain = line.substr(3, line.find(' ', 3) - 3);
      if (!t.count(chain)) return fail("no chain " + chain);
      std::string spec = line.substr(3 + chain.size());
      if (line[1] == 'I') {
        std::string rest = spec.substr(1);
        if (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest[0]))) spec = " " + rest.substr(rest.find(' ') + 1);
        t[chain].insert(t[chain].begin(), "-A " + chain + spec);
      } else {
        t[chain].push_back("-A " + chain + spec);
      }
    } else if (line.rfind("-D ", 0) == 0) {
      std::string rule = "-A" + line.substr(2);
      std::string chain = line.substr(3, line.find(' ', 3) - 3);
      auto& rules = t[chain];
      auto it = std::find(rules.begin(), rules.end(), rule);
      if (it == rules.end()) return fail("no such rule: " + rule);
      rules.erase(it);
    } else if (line.rfind("-X ", 0) == 0) {
      std::string chain = line.substr(3);
      if (kBuiltin.count(chain) || !t.count(chain)) return fail("cannot delete " + chain);
      for (const auto& [c, rules] : t)
        for (const auto& r : rules)
          if (c != chain && targetOf(r) == chain) return fail(chain + " is referenced by " + c);
      t.erase(chain);
    } else {
      return fail("cannot parse: " + line);
    }
  }
  tables = std::move(next);
  return Status::ok();
}

Result<std::string> FakeRestore::save(std::string_view table) {
  std::string out = "*" + std::string(table) + "\n";
  const auto& t = tables[std::string(table)];
  for (const auto& [chain, rules] : t) out += ":" + chain + (kBuiltin.count(chain) ? " ACCEPT" : " -") + " [0:0]\n";
  for (const auto& [chain, rules] : t)
    for (const auto& r : rules) out += r + "\n";
  out += "COMMIT\n";
  return out;
}

}  // namespace kproxy::testing
