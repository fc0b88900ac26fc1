#include "benchcmd/proxy_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace kproxy::benchcmd {

SyncTimes parseSyncTimes(const std::string& log) {
  static const std::regex kDone(R"((full|partial) sync \(IPv4\) done: .*, ([0-9.]+)ms \(desired state ([0-9.]+)ms)");
  SyncTimes out;
  std::istringstream in(log);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, kDone)) {
      double seconds = (std::stod(m[2]) + std::stod(m[3])) / 1000;
      (m[1] == "full" ? out.full : out.partial).push_back(seconds);
    } else if (out.failure.empty() && line.find("sync (IPv4) failed") != std::string::npos) {
      out.failure = line;
    }
  }
  return out;
}

Status ProxyProcess::start(const std::string& ns, const std::string& exe, const std::vector<std::string>& args,
                           const std::string& logPath) {
  log_ = logPath;
  std::vector<std::string> argv{"ip", "netns", "exec", ns, exe};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int r = posix_spawnp(&pid_, "ip", &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0) {
    pid_ = -1;
    return Status::error(std::string("starting kproxy: ") + std::strerror(r));
  }
  return Status::ok();
}

bool ProxyProcess::running() {
  if (pid_ < 0) return false;
  int status;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

Result<double> ProxyProcess::waitForSync(bool full, size_t count, double timeoutSeconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
  while (true) {
    std::ifstream f(log_);
    std::stringstream text;
    text << f.rdbuf();
    SyncTimes t = parseSyncTimes(text.str());
    const auto& times = full ? t.full : t.partial;
    if (times.size() >= count) return times[count - 1];
    if (!t.failure.empty()) return Status::error("kproxy: " + t.failure);
    if (cancel_ && *cancel_) return Status::error("interrupted");
    if (!running()) return Status::error("kproxy exited: " + logTail(3));
    if (std::chrono::steady_clock::now() > deadline)
      return Status::error(std::string("no ") + (full ? "full" : "partial") + " sync within " +
                           std::to_string(static_cast<int>(timeoutSeconds)) + " s: " + logTail(3));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

uint64_t ProxyProcess::peakRssBytes() const {
  if (pid_ < 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  return 0;
}

void ProxyProcess::stop() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {  // 10 s for a clean exit
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string ProxyProcess::logTail(size_t lines) const {
  std::ifstream f(log_);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(f, line)) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += (out.empty() ? "" : " | ") + all[i];
  return out;
}

}  // namespace kproxy::benchcmd
