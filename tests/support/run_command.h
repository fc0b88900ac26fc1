// Test support: a shell command's standard output (the root tests drive nft and ip with it).
#pragma once

#include <cstdio>
#include <string>

namespace kproxy::testing {

inline std::string runCommand(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace kproxy::testing
