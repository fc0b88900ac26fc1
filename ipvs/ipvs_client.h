// The IPVS kernel client over generic netlink (libnl-genl): lists virtual servers with their
// destinations and applies operations in batches. No planning; the seam the backend's fake replaces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/status.h"
#include "ipvs/ipvs_types.h"

struct nl_sock;

namespace kproxy::ipvs {

struct ApplyResult {
  // One entry per failed operation: its ipvsadm form and the kernel's words. EEXIST on an add
  // and ENOENT/ESRCH on a delete count as done.
  std::vector<std::string> errors;
  std::vector<size_t> failed;  // indices into the operations
  size_t bytes = 0, messages = 0, batches = 0;
  bool ok() const { return errors.empty(); }
};

class IpvsClient {
 public:
  virtual ~IpvsClient() = default;
  // Every virtual server (TCP/UDP/SCTP, IPv4/IPv6, not fwmark) with its destinations.
  virtual Result<std::vector<ObservedService>> list() = 0;
  // The destinations of one virtual server, with their connection counts.
  virtual Result<std::vector<Destination>> destinations(const ServiceKey& key) = 0;
  // In order; each one independent of the others' failures (IPVS has no transactions).
  virtual ApplyResult apply(const std::vector<Operation>& ops) = 0;
  // Connection timeouts in seconds (0 leaves one unchanged), for the whole network namespace.
  virtual Status setTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp) = 0;
};
using IpvsClientPtr = std::unique_ptr<IpvsClient>;

class NetlinkIpvsClient : public IpvsClient {
 public:
  // Fails when this kernel has no IPVS (the ip_vs module is not loaded).
  static Result<std::unique_ptr<NetlinkIpvsClient>> open();
  ~NetlinkIpvsClient() override;
  Result<std::vector<ObservedService>> list() override;
  Result<std::vector<Destination>> destinations(const ServiceKey& key) override;
  ApplyResult apply(const std::vector<Operation>& ops) override;
  Status setTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp) override;

 private:
  NetlinkIpvsClient(nl_sock* sock, uint16_t family) : sock_(sock), family_(family) {}
  // Sends one request and collects the messages of its answer (raw; none for an acknowledged
  // request), or the kernel's error, named by `what`.
  Result<std::vector<std::vector<uint8_t>>> exchange(const std::vector<uint8_t>& request, const std::string& what);

  nl_sock* sock_;
  uint16_t family_;
  uint32_t seq_ = 1;
};

}  // namespace kproxy::ipvs
