#include "benchcmd/ebpf_lab.h"

#include <bpf/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ebpf/loader.h"

namespace kproxy::benchcmd {

namespace {

Status writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f.flush()) return Status::error("cannot write " + path);
  return Status::ok();
}

}  // namespace

Status EbpfLab::up() {
  std::error_code ec;
  std::filesystem::create_directories(bpffs(), ec);
  std::filesystem::create_directories(work_ + "/cg2", ec);
  if (::mount("bpf", bpffs().c_str(), "bpf", 0, nullptr) != 0)
    return Status::error("mount bpffs at " + bpffs() + ": " + std::strerror(errno));
  bpffsMounted_ = true;
  if (::mount("none", (work_ + "/cg2").c_str(), "cgroup2", 0, nullptr) != 0)
    return Status::error("mount cgroup2 at " + work_ + "/cg2: " + std::strerror(errno));
  cgroupMounted_ = true;
  if (::mkdir(cgroup().c_str(), 0755) != 0 && errno != EEXIST)
    return Status::error("mkdir " + cgroup() + ": " + std::strerror(errno));
  made_ = true;
  return Status::ok();
}

Status EbpfLab::enter() {
  // "0::/path" is this process's cgroup v2 membership.
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  while (std::getline(self, line))
    if (line.rfind("0::", 0) == 0) home_ = work_ + "/cg2" + line.substr(3);
  if (home_.empty()) return Status::error("this process is in no cgroup v2");
  return writeFile(cgroup() + "/cgroup.procs", std::to_string(::getpid()));
}

void EbpfLab::leave() {
  if (!home_.empty()) (void)writeFile(home_ + "/cgroup.procs", std::to_string(::getpid()));
  home_.clear();
}

int64_t EbpfLab::mapMemlockBytes() const {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(ebpf::pinDirUnder(bpffs()), ec)) {
    if (e.is_directory()) continue;
    int fd = bpf_obj_get(e.path().c_str());
    if (fd < 0) continue;
    std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
    std::string key;
    int64_t value;
    while (info >> key)
      if (key == "memlock:" && info >> value) total += value;
    ::close(fd);
  }
  return total;
}

void EbpfLab::down() {
  leave();
  std::vector<std::string> removed;
  if (bpffsMounted_) (void)ebpf::removePinned(ebpf::pinDirUnder(bpffs()), removed);
  if (made_) ::rmdir(cgroup().c_str());
  if (cgroupMounted_) ::umount((work_ + "/cg2").c_str());
  if (bpffsMounted_) ::umount(bpffs().c_str());
  bpffsMounted_ = cgroupMounted_ = made_ = false;
}

}  // namespace kproxy::benchcmd
