// Logging to stderr with -v levels, as kube-proxy logs: klog text
// ("I1124 05:14:18.123456   12345] message") or, with --logging-format json, one JSON object
// per line as component-base writes them ({"ts":1795597996.123456,"v":0,"msg":"..."}), plus a
// "level" key for warnings and errors.
#pragma once

#include <string>
#include <string_view>

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

// `s` safe for one log line: control bytes and DEL as \n, \r, \t or \xNN, invalid UTF-8 bytes as
// \xNN; everything else unchanged (a backslash too, so escaping twice changes nothing). Every
// line the log writes goes through it, so a hostile name cannot forge lines or send escapes to a
// terminal.
std::string escape(std::string_view s);

// From now on, `secret` (a bearer token) is written as "[redacted]" wherever it appears in a log
// line, whichever server or file echoed it. Secrets shorter than 8 bytes are not registered.
void redact(const std::string& secret);

}  // namespace kproxy::log
