// Named netfilter accounting objects (nfnetlink_acct), the counters kube-proxy's iptables mode
// counts packets into with `-m nfacct`: created at start, read at each /metrics scrape.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/status.h"

namespace kproxy::iptables {

// nfacct names and the metrics upstream exposes them as.
inline constexpr const char* kCtStateInvalidDroppedCounter = "ct_state_invalid_dropped_pkts";
inline constexpr const char* kLocalhostNodePortsAcceptedCounter = "localhost_nps_accepted_pkts";

class NfacctClient {
 public:
  virtual ~NfacctClient() = default;
  // Creates the object unless it exists (an existing one keeps its count).
  virtual Status ensure(const std::string& name) = 0;
  // Its packet count.
  virtual Result<uint64_t> packets(const std::string& name) = 0;
};

// Over netlink in the calling thread's network namespace; one socket per call (rare calls).
std::unique_ptr<NfacctClient> makeNetlinkNfacctClient();

}  // namespace kproxy::iptables
