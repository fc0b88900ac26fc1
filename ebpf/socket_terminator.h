// Aborts UDP sockets connected through a Service to an endpoint that went away, in every network
// namespace of the node (the pods' too), so the application's next socket picks a live endpoint:
// ebpf mode's counterpart of the stale UDP conntrack flush.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataplane/status.h"
#include "ebpf/map_layout.h"

struct sock_terminate;
struct bpf_link;

namespace kproxy::ebpf {

// A Service address and one of its endpoints, as a connected socket would hold them.
struct GoneEndpoint {
  SvcKey svc;
  BeValue backend;
  auto operator<=>(const GoneEndpoint&) const = default;
};

class SocketTerminator {
 public:
  virtual ~SocketTerminator() = default;
  // The number of sockets aborted.
  virtual Result<size_t> terminate(const std::vector<GoneEndpoint>& gone) = 0;
};
using SocketTerminatorPtr = std::unique_ptr<SocketTerminator>;

// With the UDP socket iterator and bpf_sock_destroy (kernel 6.5+): the iterator walks one network
// namespace, so it runs in each namespace found under /proc/*/ns/net and /run/netns (kproxy needs
// the host's /proc, or the runtime's /run/netns, to see the pods').
class UdpSocketTerminator : public SocketTerminator {
 public:
  // Loads the iterator, sharing the socket programs' pinned kproxy_reverse map under `pinDir`.
  static Result<std::unique_ptr<UdpSocketTerminator>> load(const std::string& pinDir);
  ~UdpSocketTerminator() override;
  Result<size_t> terminate(const std::vector<GoneEndpoint>& gone) override;

 private:
  UdpSocketTerminator() = default;
  sock_terminate* skel_ = nullptr;
  bpf_link* link_ = nullptr;
};

// The network namespaces to walk: one path per namespace (/run/netns names first).
std::vector<std::string> networkNamespaces();

}  // namespace kproxy::ebpf
