// IPVS generic-netlink messages, built and read apart from any socket: the bytes of a request
// for an Operation or a listing, and the virtual server or destination a message carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/status.h"
#include "ipvs/ipvs_types.h"

namespace kproxy::ipvs {

// A whole netlink message (header included) asking for an acknowledgement.
std::vector<uint8_t> encodeOperation(const Operation& op, uint16_t familyId, uint32_t seq);
// IPVS's connection timeouts in seconds, as `ipvsadm --set TCP TCPFIN UDP` (0 leaves one as is).
std::vector<uint8_t> encodeSetTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp, uint16_t familyId, uint32_t seq);
// Dump requests: every virtual server; the destinations of one.
std::vector<uint8_t> encodeListServices(uint16_t familyId, uint32_t seq);
std::vector<uint8_t> encodeListDestinations(const ServiceKey& key, uint16_t familyId, uint32_t seq);

// The virtual server / destination in one message (a dump reply, or a request we encoded).
// Virtual servers of a protocol or family kproxy does not program (or fwmark services) are
// errors: callers skip them, and never touch them.
Result<VirtualServer> decodeService(const uint8_t* msg, size_t len);
Result<Destination> decodeDestination(const uint8_t* msg, size_t len, IPFamily family);

}  // namespace kproxy::ipvs
