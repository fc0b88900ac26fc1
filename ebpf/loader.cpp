#include "ebpf/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dataplane/log.h"
#include "ebpf/map_client.h"
#include "sock_lb.skel.h"

namespace kproxy::ebpf {

namespace {

// libbpf's messages of the current load, so an error can say what the verifier or loader said.
std::string libbpfMessages;

int collect(enum libbpf_print_level level, const char* fmt, va_list args) {
  char line[1024];
  std::vsnprintf(line, sizeof line, fmt, args);
  if (level != LIBBPF_DEBUG && libbpfMessages.size() < 16384) libbpfMessages += line;
  return 0;
}

// The lines of libbpf's messages that say why, without the verifier's instruction dump.
std::string why() {
  std::istringstream in(libbpfMessages);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("libbpf:", 0) == 0 && out.size() < 600) out += (out.empty() ? "" : "; ") + line.substr(8);
  return out;
}

struct Program {
  bpf_program* prog;
  const char* name;  // its pin under links/
};

uint64_t cgroupId(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

}  // namespace

std::string pinDirUnder(const std::string& bpffs) { return bpffs + "/kproxy"; }

std::string cgroup2Mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  return "";
}

Result<std::unique_ptr<LoadedPrograms>> LoadedPrograms::load(const LoaderPaths& paths) {
  const std::string bpffs = std::filesystem::path(paths.pinDir).parent_path();
  struct statfs fs {};
  if (::statfs(bpffs.c_str(), &fs) != 0 || fs.f_type != BPF_FS_MAGIC)
    return Status::error(bpffs + " is not a bpf filesystem (mount -t bpf bpf " + bpffs + ")");
  std::error_code ec;
  std::filesystem::create_directories(paths.pinDir + "/links", ec);
  if (ec) return Status::error("cannot create " + paths.pinDir + "/links: " + ec.message());
  int cg = ::open(paths.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) return Status::error("cgroup " + paths.cgroup + ": " + std::strerror(errno));
  struct statfs cgfs {};
  if (::fstatfs(cg, &cgfs) != 0 || cgfs.f_type != CGROUP2_SUPER_MAGIC) {
    ::close(cg);
    return Status::error(paths.cgroup + " is not a cgroup v2 directory");
  }

  std::unique_ptr<LoadedPrograms> self(new LoadedPrograms());
  libbpfMessages.clear();
  libbpf_print_fn_t old = libbpf_set_print(collect);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = paths.pinDir.c_str());
  self->skel_ = sock_lb::open(&opts);
  int err = self->skel_ ? sock_lb::load(self->skel_) : -errno;
  libbpf_set_print(old);
  if (!self->skel_ || err) {
    ::close(cg);
    return Status::error("the kernel refused the socket load-balancing programs (cgroup/connect4, sendmsg4, "
                         "recvmsg4, getpeername4 and bpf_set_retval need kernel 5.18+ with BPF and cgroup v2): " +
                         std::string(std::strerror(-err)) + (why().empty() ? "" : ": " + why()));
  }

  const Program programs[] = {{self->skel_->progs.kproxy_connect4, "connect4"},
                              {self->skel_->progs.kproxy_sendmsg4, "sendmsg4"},
                              {self->skel_->progs.kproxy_recvmsg4, "recvmsg4"},
                              {self->skel_->progs.kproxy_getpeername4, "getpeername4"}};
  const uint64_t ourCgroup = cgroupId(cg);
  for (const auto& p : programs) {
    const std::string pin = paths.pinDir + "/links/" + p.name;
    bpf_link* old = ::access(pin.c_str(), F_OK) == 0 ? bpf_link__open(pin.c_str()) : nullptr;
    if (old) {
      bpf_link_info info{};
      uint32_t len = sizeof info;
      bool same = bpf_obj_get_info_by_fd(bpf_link__fd(old), &info, &len) == 0 && info.cgroup.cgroup_id == ourCgroup;
      if (same && bpf_link__update_program(old, p.prog) == 0) {
        self->links_.push_back(old);
        self->report_.push_back(std::string(p.name) + ": took over the pinned link");
        continue;
      }
      // Another cgroup (--ebpf-cgroup-path changed), or the kernel would not replace it.
      bpf_link__detach(old);
      bpf_link__unpin(old);
      bpf_link__destroy(old);
      ::unlink(pin.c_str());
    }
    bpf_link* link = bpf_program__attach_cgroup(p.prog, cg);
    if (!link) {
      int e = errno;
      ::close(cg);
      return Status::error(std::string("cannot attach ") + p.name + " to cgroup " + paths.cgroup + ": " + std::strerror(e));
    }
    if (int e = bpf_link__pin(link, pin.c_str()); e != 0) {
      bpf_link__destroy(link);
      ::close(cg);
      return Status::error("cannot pin " + pin + ": " + std::strerror(-e));
    }
    self->links_.push_back(link);
    self->report_.push_back(std::string(p.name) + ": attached to " + paths.cgroup);
  }
  ::close(cg);
  return self;
}

LoadedPrograms::~LoadedPrograms() {
  // Closing our descriptors leaves the pinned links attached: traffic keeps its translation.
  for (bpf_link* l : links_) {
    bpf_link__disconnect(l);
    bpf_link__destroy(l);
  }
  if (skel_) sock_lb::destroy(skel_);
}

int LoadedPrograms::servicesFd() const { return bpf_map__fd(skel_->maps.kproxy_services); }
int LoadedPrograms::backendsFd() const { return bpf_map__fd(skel_->maps.kproxy_backends); }
int LoadedPrograms::affinityFd() const { return bpf_map__fd(skel_->maps.kproxy_affinity); }
int LoadedPrograms::reverseFd() const { return bpf_map__fd(skel_->maps.kproxy_reverse); }

Result<MapEntries> readPinned(const std::string& pinDir) {
  int fds[3];
  const char* names[3] = {"kproxy_services", "kproxy_backends", "kproxy_affinity"};
  for (int i = 0; i < 3; ++i) {
    fds[i] = bpf_obj_get((pinDir + "/" + names[i]).c_str());
    if (fds[i] < 0) {
      int e = errno;
      for (int j = 0; j < i; ++j) ::close(fds[j]);
      return Status::error(pinDir + "/" + names[i] + ": " + std::strerror(e));
    }
  }
  auto out = BpfMapClient(fds[0], fds[1], fds[2]).dump();
  for (int fd : fds) ::close(fd);
  return out;
}

Status removePinned(const std::string& pinDir, std::vector<std::string>& removed) {
  std::error_code ec;
  if (!std::filesystem::is_directory(pinDir, ec)) return Status::ok();
  std::string errors;
  for (const auto& e : std::filesystem::directory_iterator(pinDir + "/links", ec)) {
    const std::string path = e.path();
    if (bpf_link* l = bpf_link__open(path.c_str())) {
      if (bpf_link__detach(l) != 0) errors += "cannot detach " + path + ": " + std::strerror(errno) + "; ";
      bpf_link__destroy(l);
    }
    if (::unlink(path.c_str()) == 0) removed.push_back("eBPF program link " + path);
  }
  std::filesystem::remove(pinDir + "/links", ec);
  for (const auto& e : std::filesystem::directory_iterator(pinDir, ec)) {
    const std::string path = e.path();
    if (::unlink(path.c_str()) == 0) removed.push_back("eBPF map " + path);
    else errors += "cannot remove " + path + ": " + std::strerror(errno) + "; ";
  }
  std::filesystem::remove(pinDir, ec);
  if (!errors.empty()) return Status::error(errors.substr(0, errors.size() - 2));
  return Status::ok();
}

}  // namespace kproxy::ebpf
