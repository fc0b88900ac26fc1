// Loads the eBPF mode's programs (the kernel's check of what they need), keeps their maps and
// links pinned so a restart takes them over without a gap, and removes them (cleanup).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataplane/status.h"
#include "ebpf/map_layout.h"

struct sock_lb;
struct bpf_link;

namespace kproxy::ebpf {

inline constexpr const char* kDefaultBpffs = "/sys/fs/bpf";

struct LoaderPaths {
  std::string pinDir;  // <bpffs>/kproxy: the maps by name, links/<program>
  std::string cgroup;  // the cgroup v2 directory the socket programs attach to
};

// <bpffs>/kproxy.
std::string pinDirUnder(const std::string& bpffs);
// The first cgroup2 mount of this mount namespace ("" when there is none).
std::string cgroup2Mount();

class LoadedPrograms {
 public:
  // Loads the programs, reusing pinned maps; attaches each to the cgroup, or moves a pinned link
  // of an earlier run onto the new program (atomic: no connection goes untranslated). The error
  // names what the kernel refused.
  static Result<std::unique_ptr<LoadedPrograms>> load(const LoaderPaths& paths);
  ~LoadedPrograms();  // the links stay attached through their pins
  LoadedPrograms(const LoadedPrograms&) = delete;
  LoadedPrograms& operator=(const LoadedPrograms&) = delete;

  int servicesFd() const;
  int backendsFd() const;
  int affinityFd() const;
  int reverseFd() const;
  // "attached" or "took over" per program, for the start-up log.
  const std::vector<std::string>& report() const { return report_; }

 private:
  LoadedPrograms() = default;
  sock_lb* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<std::string> report_;
};

// The services and backends maps as pinned under `pinDir` (`kproxy ebpf-maps`, tests).
Result<MapEntries> readPinned(const std::string& pinDir);

// Detaches the pinned links and removes every pin under `pinDir`; a line per removed object
// in `removed`. Nothing there: nothing to do.
Status removePinned(const std::string& pinDir, std::vector<std::string>& removed);

}  // namespace kproxy::ebpf
