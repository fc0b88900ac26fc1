// The kernel's view in nftables mode: `nft -j list table ip|ip6 kube-proxy` parsed, and the way
// a new connection to one address goes through kproxy's layout (service-ips / service-nodeports
// verdict maps, service chains, dnat-N chains and the endpoint maps, affinity chains), for
// `kproxy trace --kernel`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/ip.h"
#include "trace/service_lookup.h"

namespace kproxy::trace {

struct NftElement {
  std::vector<std::string> key;  // concatenation parts as text: "10.96.0.10", "tcp", "80", "2"
  std::string verdict;           // verdict maps: "goto CHAIN", "jump CHAIN", "drop", "accept", ...
  std::vector<std::string> data; // data maps: "10.244.1.2", "8080"
};

struct NftView {
  bool exists = false;
  std::map<std::string, std::vector<NftElement>> sets;  // sets and maps by name
  std::map<std::string, std::vector<nlohmann::json>> chains;  // chain -> each rule's "expr"
};

// Parses `nft -j list table ...` output; false with `error` when it is not that.
bool parseNftJson(const std::string& text, NftView& view, std::string& error);

struct NftOutcome {
  double probability = 1;
  enum class Fate { kAccept, kDnat, kReject, kDrop } fate = Fate::kAccept;
  std::string dnatTo;              // "ip:port"
  std::vector<std::string> steps;  // "service-ips: 10.96.0.10 . tcp . 80 : goto service-...", ...
  bool masquerade = false;
  bool affinityNote = false;
};

struct NftSource {
  net::IPAddress ip;
  bool local = true;  // the node itself
  std::string inInterface = {};  // the interface it arrived on; none for the node's own packets
};

// Follows the packet from the nat and filter lookups of kproxy's table.
std::vector<NftOutcome> evaluateNft(const NftView& view, const Target& target, const NftSource& source,
                                    bool destinationLocal);

}  // namespace kproxy::trace
