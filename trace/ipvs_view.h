// The kernel's view in IPVS mode, for `kproxy trace --kernel`: the virtual server for one
// address (scheduler, destinations with weights and connection counts), kube-ipvs0 and the ipset
// memberships, each against what kproxy would program for that Service port.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ipvs/planner.h"
#include "trace/service_lookup.h"

namespace kproxy::trace {

// What the kernel holds (read by the command through kproxy's own clients).
struct IpvsView {
  std::vector<ipvs::ObservedService> servers;
  bool deviceExists = false;
  std::set<std::string> deviceAddresses;              // on kube-ipvs0
  std::map<std::string, std::set<std::string>> sets;  // KUBE-* ipsets and their members
};

struct IpvsOutcome {
  double probability = 1;
  enum class Fate { kDnat, kReject, kAccept } fate = Fate::kAccept;
  std::string dnatTo;  // "ip:port"
  std::string detail;  // "weight 1, 2 active, 0 inactive" or why
};

struct IpvsEvaluation {
  std::string server;  // "TCP 10.96.0.80:80 rr persistent 10800"; empty: none
  std::vector<IpvsOutcome> outcomes;
  std::vector<std::string> notes;  // draining destinations, set memberships, ...
  std::vector<std::string> diff;   // "- ... (desired)" / "+ ... (kernel)"
};

// `desired`: what kproxy plans for the Service port owning the address (null: none owns it).
IpvsEvaluation evaluateIpvs(const IpvsView& view, const Target& target, const ipvs::Fragment* desired);

}  // namespace kproxy::trace
