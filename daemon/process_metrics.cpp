#include "daemon/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kproxy::daemon {

void describeProcessMetrics(Metrics& m) {
  m.describe("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  m.describe("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  m.describe("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  m.describe("process_open_fds", "gauge", "Number of open file descriptors.");
  m.describe("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  m.describe("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
}

void updateProcessMetrics(Metrics& m) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  {
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15,
    // starttime 22 (1-based, proc(5)).
    std::ifstream f("/proc/self/stat");
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = all.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(all.substr(close + 2));
      std::string field;
      double utime = 0, stime = 0, start = 0;
      for (int i = 3; rest >> field; ++i) {
        if (i == 14) utime = std::stod(field);
        if (i == 15) stime = std::stod(field);
        if (i == 22) {
          start = std::stod(field);
          break;
        }
      }
      m.gaugeSet("process_cpu_seconds_total", (utime + stime) / ticks);
      std::ifstream stat("/proc/stat");
      std::string key;
      double btime = -1;
      while (stat >> key)
        if (key == "btime" && (stat >> btime)) break;
      if (btime >= 0) m.gaugeSet("process_start_time_seconds", btime + start / ticks);
    }
  }
  {
    std::ifstream f("/proc/self/statm");
    double size = 0, resident = 0;
    if (f >> size >> resident) {
      m.gaugeSet("process_virtual_memory_bytes", size * page);
      m.gaugeSet("process_resident_memory_bytes", resident * page);
    }
  }
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++fds;
  if (!ec) m.gaugeSet("process_open_fds", static_cast<double>(fds));
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) m.gaugeSet("process_max_fds", static_cast<double>(lim.rlim_cur));
}

}  // namespace kproxy::daemon
