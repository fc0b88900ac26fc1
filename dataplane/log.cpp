#include "dataplane/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace kproxy::log {

namespace {
std::atomic<int> gVerbosity{0};
std::atomic<Format> gFormat{Format::kText};
std::mutex gMutex;

// JSON string escaping; bytes >= 0x80 pass through (messages are UTF-8 or ASCII).
void appendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void emit(char level, int v, const std::string& msg) {
  std::string line = formatLine(level, v, msg);
  std::lock_guard<std::mutex> lock(gMutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}
}  // namespace

std::string formatLine(char level, int v, const std::string& msg) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  std::string line;
  if (gFormat == Format::kJson) {
    char ts[48];
    std::snprintf(ts, sizeof ts, "{\"ts\":%ld.%06ld,", static_cast<long>(tv.tv_sec), static_cast<long>(tv.tv_usec));
    line = ts;
    if (level == 'W') line += "\"level\":\"warning\",";
    else if (level == 'E') line += "\"level\":\"error\",";
    else line += "\"v\":" + std::to_string(v) + ",";
    line += "\"msg\":";
    appendJsonString(line, msg);
    line += "}\n";
    return line;
  }
  tm t{};
  ::localtime_r(&tv.tv_sec, &t);
  char head[64];
  std::snprintf(head, sizeof head, "%c%02d%02d %02d:%02d:%02d.%06ld %7d] ", level, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                t.tm_min, t.tm_sec, static_cast<long>(tv.tv_usec), static_cast<int>(::getpid()));
  line = head;
  line += msg;
  line += '\n';
  return line;
}

void setVerbosity(int v) { gVerbosity = v; }
int verbosity() { return gVerbosity; }
void setFormat(Format f) { gFormat = f; }
void info(const std::string& msg) { emit('I', 0, msg); }
void warning(const std::string& msg) { emit('W', 0, msg); }
void error(const std::string& msg) { emit('E', 0, msg); }
void v(int level, const std::string& msg) {
  if (gVerbosity >= level) emit('I', level, msg);
}

}  // namespace kproxy::log
