// IPVS objects as kproxy sees them: virtual servers, their destinations, and the operations
// that change them (each printable as the ipvsadm command that would do the same).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/model.h"

namespace kproxy::ipvs {

using model::IPFamily;
using model::Protocol;

// What identifies a virtual server: family, protocol, address, port.
struct ServiceKey {
  IPFamily family = IPFamily::kIPv4;
  Protocol protocol = Protocol::kTCP;
  std::string address;  // normalized
  uint16_t port = 0;
  auto operator<=>(const ServiceKey&) const = default;
  // "TCP 10.96.0.1:80", as ipvsadm -Ln prints it.
  std::string str() const;
};

inline constexpr uint32_t kFlagPersistent = 0x0001;  // IP_VS_SVC_F_PERSISTENT
inline constexpr uint32_t kFlagHashed = 0x0002;      // IP_VS_SVC_F_HASHED, set by the kernel

struct VirtualServer {
  ServiceKey key;
  std::string scheduler = "rr";
  uint32_t flags = 0;    // kFlagPersistent for sessionAffinity ClientIP
  uint32_t timeout = 0;  // persistence, seconds
  bool persistent() const { return flags & kFlagPersistent; }
  // Equal as far as kproxy sets them (the kernel's own flags aside).
  bool sameSettings(const VirtualServer& o) const {
    return scheduler == o.scheduler && (flags & kFlagPersistent) == (o.flags & kFlagPersistent) &&
           (!persistent() || timeout == o.timeout);
  }
};

struct Destination {
  std::string address;  // normalized, the service's family
  uint16_t port = 0;
  uint32_t weight = 1;
  uint32_t activeConns = 0, inactiveConns = 0;  // read from the kernel, never written
  // "10.244.1.2:8080" or "[fd00::1]:8080"
  std::string str() const;
  bool sameTarget(const Destination& o) const { return address == o.address && port == o.port; }
};

// Whether `ds` holds a destination at d's address and port (whatever its weight).
bool hasTarget(const std::vector<Destination>& ds, const Destination& d);

struct ObservedService {
  VirtualServer server;
  std::vector<Destination> destinations;
};

enum class OpKind { kAddService, kEditService, kDeleteService, kAddDestination, kEditDestination, kDeleteDestination };

struct Operation {
  OpKind kind = OpKind::kAddService;
  VirtualServer server;     // the service (only its key for deletions)
  Destination destination;  // for destination operations
  // The equivalent ipvsadm command: "ipvsadm -a -t 10.96.0.1:80 -r 10.244.1.2:8080 -m -w 1".
  std::string str() const { return "ipvsadm " + args(); }
  // Its arguments alone, as `ipvsadm --restore` reads them: "-a -t 10.96.0.1:80 -r ...".
  std::string args() const;
};

}  // namespace kproxy::ipvs
