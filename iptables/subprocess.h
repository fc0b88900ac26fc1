// Runs a program with posix_spawn, feeding stdin from memory and capturing stdout and stderr.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dataplane/status.h"

namespace kproxy::iptables {

struct ProcessResult {
  int exitCode = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// argv[0] is looked up in PATH. Fails (Status) only when the program cannot be started; a
// non-zero exit is a result, not an error. stdin and the output pipes are serviced together
// with poll(), so a child that writes a lot before reading all its input cannot deadlock us.
Result<ProcessResult> runProcess(const std::vector<std::string>& argv, std::string_view input);

}  // namespace kproxy::iptables
