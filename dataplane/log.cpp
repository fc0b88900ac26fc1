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
std::mutex gMutex;

void emit(char level, const std::string& msg) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  tm t{};
  ::localtime_r(&tv.tv_sec, &t);
  char head[64];
  std::snprintf(head, sizeof head, "%c%02d%02d %02d:%02d:%02d.%06ld %7d] ", level, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                t.tm_min, t.tm_sec, static_cast<long>(tv.tv_usec), static_cast<int>(::getpid()));
  std::lock_guard<std::mutex> lock(gMutex);
  std::fputs(head, stderr);
  std::fputs(msg.c_str(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}
}  // namespace

void setVerbosity(int v) { gVerbosity = v; }
int verbosity() { return gVerbosity; }
void info(const std::string& msg) { emit('I', msg); }
void warning(const std::string& msg) { emit('W', msg); }
void error(const std::string& msg) { emit('E', msg); }
void v(int level, const std::string& msg) {
  if (gVerbosity >= level) emit('I', msg);
}

}  // namespace kproxy::log
