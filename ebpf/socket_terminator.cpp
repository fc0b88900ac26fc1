#include "ebpf/socket_terminator.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "sock_terminate.skel.h"

namespace kproxy::ebpf {

namespace {

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

// Runs the iterator once inside the network namespace at `path`, on a thread of its own (setns
// moves only the calling thread).
Status walk(int linkFd, const std::string& path) {
  Status result;
  std::thread t([&] {
    int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;  // the namespace went away meanwhile
    if (::setns(ns, CLONE_NEWNET) != 0) {
      result = Status::error("setns " + path + ": " + std::strerror(errno));
      ::close(ns);
      return;
    }
    ::close(ns);
    int it = bpf_iter_create(linkFd);
    if (it < 0) {
      result = Status::error("bpf_iter_create in " + path + ": " + std::strerror(errno));
      return;
    }
    char buf[4096];
    while (::read(it, buf, sizeof buf) > 0) {
    }
    ::close(it);
  });
  t.join();
  return result;
}

}  // namespace

std::vector<std::string> networkNamespaces() {
  std::vector<std::string> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto add = [&](const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && seen.insert({st.st_dev, st.st_ino}).second) out.push_back(path);
  };
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) add(e.path());
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) add(e.path().string() + "/ns/net");
  }
  return out;
}

Result<std::unique_ptr<UdpSocketTerminator>> UdpSocketTerminator::load(const std::string& pinDir) {
  std::unique_ptr<UdpSocketTerminator> self(new UdpSocketTerminator());
  libbpf_print_fn_t old = libbpf_set_print(quiet);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pinDir.c_str());
  self->skel_ = sock_terminate::open(&opts);
  int err = self->skel_ ? sock_terminate::load(self->skel_) : -errno;
  libbpf_set_print(old);
  if (!self->skel_ || err)
    return Status::error("the UDP socket iterator with bpf_sock_destroy did not load (kernel 6.5+): " +
                         std::string(std::strerror(-err)));
  self->link_ = bpf_program__attach_iter(self->skel_->progs.kproxy_terminate_udp, nullptr);
  if (!self->link_) return Status::error(std::string("cannot attach the UDP socket iterator: ") + std::strerror(errno));
  return self;
}

UdpSocketTerminator::~UdpSocketTerminator() {
  if (link_) bpf_link__destroy(link_);
  if (skel_) sock_terminate::destroy(skel_);
}

Result<size_t> UdpSocketTerminator::terminate(const std::vector<GoneEndpoint>& gone) {
  if (gone.empty()) return size_t{0};
  const int map = bpf_map__fd(skel_->maps.kproxy_gone);
  std::vector<kproxy_gone_key> keys;
  for (const auto& g : gone) {
    kproxy_gone_key k{};
    kproxy_svc_key svc = g.svc.raw();
    k.svc.addr = svc.addr;
    k.svc.port = svc.port;
    k.be = g.backend.raw();
    keys.push_back(k);
  }
  const uint64_t before = skel_->bss->terminated;
  Status result;
  // In batches the map holds; each batch walks every namespace.
  for (size_t i = 0; i < keys.size() && result; i += KPROXY_MAX_GONE) {
    size_t n = std::min<size_t>(KPROXY_MAX_GONE, keys.size() - i);
    uint8_t one = 1;
    for (size_t j = i; j < i + n && result; ++j)
      if (bpf_map_update_elem(map, &keys[j], &one, BPF_ANY) != 0)
        result = Status::error(std::string("bpf map kproxy_gone update: ") + std::strerror(errno));
    for (const auto& ns : networkNamespaces())
      if (result) result = walk(bpf_link__fd(link_), ns);
    for (size_t j = i; j < i + n; ++j) bpf_map_delete_elem(map, &keys[j]);
  }
  if (!result) return result;
  return static_cast<size_t>(skel_->bss->terminated - before);
}

}  // namespace kproxy::ebpf
