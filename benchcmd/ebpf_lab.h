// What `kproxy bench` needs for ebpf mode: a bpffs and a cgroup2 of its own (mounted in its work
// directory, a child cgroup holding only the bench's process while it measures), removed again.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/status.h"

namespace kproxy::benchcmd {

class EbpfLab {
 public:
  explicit EbpfLab(std::string work) : work_(std::move(work)) {}
  ~EbpfLab() { down(); }
  EbpfLab(const EbpfLab&) = delete;
  EbpfLab& operator=(const EbpfLab&) = delete;

  // Mounts bpffs and cgroup2 under the work directory and makes the child cgroup.
  Status up();
  // Detaches kproxy's programs, removes its pins, the child cgroup and both mounts.
  void down();
  // kproxy's flags for this lab.
  std::string bpffs() const { return work_ + "/bpffs"; }
  std::string cgroup() const { return work_ + "/cg2/kproxy-bench"; }
  // Moves this process into the lab's cgroup (its connections are then load-balanced by the
  // socket programs) and back into the cgroup it came from.
  Status enter();
  void leave();
  // Bytes the kernel charges for kproxy's pinned maps (memlock, as /proc/PID/fdinfo shows).
  int64_t mapMemlockBytes() const;

 private:
  std::string work_;
  std::string home_;  // the cgroup this process came from, under our cgroup2 mount
  bool bpffsMounted_ = false, cgroupMounted_ = false, made_ = false;
};

}  // namespace kproxy::benchcmd
