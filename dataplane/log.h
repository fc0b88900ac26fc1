// klog-style logging to stderr: "I1124 05:14:18.123456 12345] message", with -v levels.
#pragma once

#include <string>

namespace kproxy::log {

void setVerbosity(int v);
int verbosity();

void info(const std::string& msg);
void warning(const std::string& msg);
void error(const std::string& msg);
// Logged only at -v=level or higher.
void v(int level, const std::string& msg);

}  // namespace kproxy::log
