#include "ipvs/ipset_client.h"

extern "C" {
#include <libipset/ipset.h>
#include <libipset/session.h>
}

#include <cstdarg>
#include <cstdio>
#include <sstream>
#include <vector>

namespace kproxy::ipvs {
namespace {

int printOut(struct ipset_session*, void* p, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int printOut(struct ipset_session*, void* p, const char* fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) static_cast<LibIpsetClient*>(p)->output_.append(buf, std::min<size_t>(n, sizeof buf - 1));
  return n;
}

int customError(struct ipset*, void* p, int, const char* fmt, ...) __attribute__((format(printf, 4, 5)));
int customError(struct ipset*, void* p, int, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  static_cast<LibIpsetClient*>(p)->error_ = buf;
  return -1;
}

int standardError(struct ipset* s, void* p) {
  auto* self = static_cast<LibIpsetClient*>(p);
  struct ipset_session* session = ipset_session(s);
  if (const char* msg = ipset_session_report_msg(session); msg && *msg) self->error_ = msg;
  ipset_session_report_reset(session);
  return -1;
}

}  // namespace

LibIpsetClient::LibIpsetClient() { ipset_load_types(); }
LibIpsetClient::~LibIpsetClient() {
  if (ipset_) ipset_fini(ipset_);
}

// A fresh handle per call: libipset keeps parser state between lines.
Status LibIpsetClient::reset() {
  if (ipset_) ipset_fini(ipset_);
  ipset_ = ipset_init();
  if (!ipset_) return Status::error("ipset: cannot initialize libipset");
  ipset_custom_printf(ipset_, customError, standardError, printOut, this);
  output_.clear();
  error_.clear();
  return Status::ok();
}

Result<std::map<std::string, std::set<std::string>>> LibIpsetClient::list(const std::string& prefix) {
  if (auto s = reset(); !s) return s;
  std::string cmd = "save";
  if (ipset_parse_line(ipset_, cmd.data()) != 0)
    return Status::error("ipset save: " + (error_.empty() ? std::string("failed") : error_));
  std::map<std::string, std::set<std::string>> out;
  std::istringstream in(output_);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string verb, name, member;
    words >> verb >> name >> member;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (verb == "create") out[name];
    else if (verb == "add") out[name].insert(member);
  }
  return out;
}

Status LibIpsetClient::restore(const std::string& lines) {
  if (auto s = reset(); !s) return s;
  std::istringstream in(lines);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    std::vector<char> buf(line.begin(), line.end());
    buf.push_back('\0');
    if (ipset_parse_line(ipset_, buf.data()) != 0)
      return Status::error("ipset: \"" + line + "\": " + (error_.empty() ? std::string("failed") : error_));
  }
  // libipset batches consecutive adds/dels of one set into one message: send the last batch.
  struct ipset_session* session = ipset_session(ipset_);
  if (ipset_commit(session) < 0 || !error_.empty()) {
    if (error_.empty())
      if (const char* msg = ipset_session_report_msg(session); msg && *msg) error_ = msg;
    return Status::error("ipset: " + (error_.empty() ? std::string("commit failed") : error_) +
                         " (in the batch that ends with \"" + last + "\")");
  }
  return Status::ok();
}

}  // namespace kproxy::ipvs
