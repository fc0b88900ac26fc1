// `kproxy trace --probe` and the conntrack part of `--kernel`: a real connection to the address,
// which endpoint answered (the conntrack entry's reply source), and the entries for an address.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "trace/service_lookup.h"

namespace kproxy::trace {

struct ProbeResult {
  bool answered = false;     // TCP: connected; UDP: a reply came back
  std::string error;         // "connection refused", "timed out", ...
  double seconds = 0;        // to the connection (TCP) or the reply (UDP)
  std::string local;         // our ip:port
  std::string endpoint;      // who answered, from conntrack; empty if unknown
};

// Connects (TCP, SCTP unsupported) or sends one datagram and waits for a reply (UDP), from this
// network namespace, optionally from `source` (one of this node's addresses).
ProbeResult probe(const Target& target, const std::optional<net::IPAddress>& source, int timeoutMs);

struct Flow {
  std::string proto;                 // "tcp", "udp", ...
  std::string origSrc, origDst;      // ip:port
  std::string replySrc;              // ip:port: the endpoint when DNATed
  std::string state;                 // TCP state, or "" for others
};

// Conntrack entries whose original destination is the target; `total` gets how many there are.
std::vector<Flow> flowsTo(const Target& target, size_t limit, size_t* total, std::string* error);

}  // namespace kproxy::trace
