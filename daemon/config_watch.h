// Ends the process when the --config file's content changes, as kube-proxy does, so that the
// DaemonSet restarts it with the new file (a ConfigMap edit reaches every node this way).
#pragma once

#include <array>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace kproxy::daemon {

class ConfigFileWatch {
 public:
  // `loaded` is the text the proxy runs with; `onChange` runs (once) when the file's text
  // differs from it. The directory is watched, not only the file: a mounted ConfigMap is
  // updated by swapping a symlink, which no watch on the old file would see. A file that
  // vanishes is not a change (the swap removes it for a moment); its next content is.
  ConfigFileWatch(boost::asio::io_context& io, std::string path, std::string loaded, std::function<void()> onChange);
  ~ConfigFileWatch();
  ConfigFileWatch(const ConfigFileWatch&) = delete;
  ConfigFileWatch& operator=(const ConfigFileWatch&) = delete;

  // Compares the file with the loaded text now (also what each inotify event leads to).
  void check();

 private:
  void armRead();
  std::string path_, loaded_;
  std::function<void()> onChange_;
  boost::asio::posix::stream_descriptor stream_;
  boost::asio::steady_timer debounce_;
  std::array<char, 4096> buf_{};
  bool fired_ = false;
};

}  // namespace kproxy::daemon
