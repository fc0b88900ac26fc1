// NetnsLab: `kproxy bench`'s own one-node cluster in network namespaces (a client, the node,
// pods), built with iproute2 and deleted again; nothing of it touches the root namespace.
#pragma once

#include <string>
#include <vector>

#include "dataplane/status.h"
#include "iptables/subprocess.h"

namespace kproxy::benchcmd {

// Moves the calling thread (only it) into the network namespace /run/netns/NAME.
Status enterNetns(const std::string& name);

// IP plan, inside the lab only:
//   client  eth0 10.200.0.2/24, default via the node
//   node    c0 10.200.0.1/24 (default via the client), p<i> 10.244.<i>.1/24
//   pod<i>  eth0 10.244.<i>.2/24, default via the node
class NetnsLab {
 public:
  NetnsLab(std::string prefix, int pods);
  ~NetnsLab();  // deletes every namespace it made
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  Status up();
  void down();

  // "PREFIX-node", "PREFIX-client", "PREFIX-pod1", ...
  std::string ns(const std::string& role) const { return prefix_ + "-" + role; }
  int pods() const { return pods_; }
  static std::string podIP(int i) { return "10.244." + std::to_string(i) + ".2"; }
  static constexpr const char* kNodeIP = "10.200.0.1";
  static constexpr const char* kClusterCIDR = "10.244.0.0/16";

  // Runs argv inside a namespace of the lab (ip netns exec).
  Result<iptables::ProcessResult> exec(const std::string& role, const std::vector<std::string>& argv) const;

 private:
  Status must(const std::vector<std::string>& argv);
  std::string prefix_;
  int pods_;
  std::vector<std::string> made_;
};

}  // namespace kproxy::benchcmd
