#include "daemon/config_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dataplane/log.h"

namespace kproxy::daemon {

ConfigFileWatch::ConfigFileWatch(boost::asio::io_context& io, std::string path, std::string loaded,
                                 std::function<void()> onChange)
    : path_(std::move(path)), loaded_(std::move(loaded)), onChange_(std::move(onChange)), stream_(io), debounce_(io) {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log::warning(std::string("inotify_init1: ") + std::strerror(errno) + "; changes of " + path_ + " go unnoticed");
    return;
  }
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  const uint32_t mask = IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB;
  // The file's own directory, and the directory of what it resolves to (a ConfigMap's ..data).
  int watches = 0;
  for (const auto& d : {dir, std::filesystem::path(path_).has_parent_path()
                                 ? std::filesystem::weakly_canonical(path_).parent_path()
                                 : std::filesystem::path(".")})
    if (::inotify_add_watch(fd, d.c_str(), mask) >= 0) ++watches;
  if (watches == 0) {
    log::warning("inotify watch on " + dir.string() + ": " + std::strerror(errno) + "; changes of " + path_ + " go unnoticed");
    ::close(fd);
    return;
  }
  stream_.assign(fd);
  armRead();
}

ConfigFileWatch::~ConfigFileWatch() {
  debounce_.cancel();
  boost::system::error_code ec;
  if (stream_.is_open()) stream_.close(ec);
}

void ConfigFileWatch::armRead() {
  stream_.async_read_some(boost::asio::buffer(buf_), [this](const boost::system::error_code& ec, size_t) {
    if (ec) return;
    // A write or a symlink swap is a burst of events: compare once after it.
    debounce_.expires_after(std::chrono::milliseconds(200));
    debounce_.async_wait([this](const boost::system::error_code& e) {
      if (!e) check();
    });
    armRead();
  });
}

void ConfigFileWatch::check() {
  if (fired_) return;
  std::ifstream in(path_);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str() == loaded_) return;
  fired_ = true;
  onChange_();
}

}  // namespace kproxy::daemon
