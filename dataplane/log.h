// Logging to stderr with -v levels, as kube-proxy logs: klog text
// ("I1124 05:14:18.123456   12345] message") or, with --logging-format json, one JSON object
// per line as component-base writes them ({"ts":1795597996.123456,"v":0,"msg":"..."}), plus a
// "level" key for warnings and errors.
#pragma once

#include <string>

namespace kproxy::log {

enum class Format { kText, kJson };

void setVerbosity(int v);
int verbosity();
void setFormat(Format f);
// One log line as it would be written at `level` ('I', 'W', 'E') and verbosity `v` (tests).
std::string formatLine(char level, int v, const std::string& msg);

void info(const std::string& msg);
void warning(const std::string& msg);
void error(const std::string& msg);
// Logged only at -v=level or higher.
void v(int level, const std::string& msg);

}  // namespace kproxy::log
