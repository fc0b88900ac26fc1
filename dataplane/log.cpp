#include "dataplane/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <vector>

namespace kproxy::log {

namespace {
std::atomic<int> gVerbosity{0};
std::atomic<Format> gFormat{Format::kText};
std::mutex gMutex;

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong, surrogate, > U+10FFFF, truncated).
size_t utf8Length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (n == 0 || c > 0xf4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (c == 0xe0 && c1 < 0xa0) return 0;   // overlong
  if (c == 0xed && c1 >= 0xa0) return 0;  // surrogates
  if (c == 0xf0 && c1 < 0x90) return 0;   // overlong
  if (c == 0xf4 && c1 >= 0x90) return 0;  // beyond U+10FFFF
  return n;
}

// JSON string escaping; bytes >= 0x80 pass through (messages are UTF-8 or ASCII).
void appendJsonString(std::string& out, const std::string& raw) {
  // Invalid UTF-8 would make the line invalid JSON: those bytes become \xNN text first.
  std::string s;
  for (size_t i = 0; i < raw.size();) {
    auto c = static_cast<unsigned char>(raw[i]);
    size_t n = c < 0x80 ? 1 : utf8Length(raw, i);
    if (n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
      ++i;
    } else {
      s.append(raw, i, n);
      i += n;
    }
  }
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

std::mutex gSecretsMutex;
std::vector<std::string> gSecrets;

std::string redacted(const std::string& msg) {
  std::lock_guard<std::mutex> lock(gSecretsMutex);
  if (gSecrets.empty()) return msg;
  std::string out = msg;
  for (const auto& secret : gSecrets)
    for (size_t pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos + 10))
      out.replace(pos, secret.size(), "[redacted]");
  return out;
}

void emit(char level, int v, const std::string& msg) {
  std::string line = formatLine(level, v, msg);
  std::lock_guard<std::mutex> lock(gMutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}
}  // namespace

std::string formatLine(char level, int v, const std::string& raw) {
  const std::string msg = redacted(raw);
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
  line += escape(msg);
  line += '\n';
  return line;
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t n = c >= 0x80 ? utf8Length(s, i) : 0;
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
    ++i;
  }
  return out;
}

void redact(const std::string& secret) {
  if (secret.size() < 8) return;
  std::lock_guard<std::mutex> lock(gSecretsMutex);
  if (std::find(gSecrets.begin(), gSecrets.end(), secret) != gSecrets.end()) return;
  // Rotated tokens stay valid for a while; keep the newest few.
  if (gSecrets.size() >= 16) gSecrets.erase(gSecrets.begin());
  gSecrets.push_back(secret);
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
