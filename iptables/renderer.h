// Pure renderer: DesiredState -> iptables-restore input for the filter and nat tables, laid out
// as upstream kube-proxy's iptables mode does, with a partial (changed services only) variant.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/ip.h"
#include "dataplane/proxy_options.h"
#include "iptables/jump_rules.h"

namespace kproxy::iptables {

using RenderOptions = dataplane::ProxyOptions;

struct RenderResult {
  std::string text;                        // iptables-restore input (--noflush)
  std::vector<std::string> deletedChains;  // nat chains flushed and deleted by `text`, sorted
  size_t filterChains = 0, filterRules = 0, natChains = 0, natRules = 0;
  size_t servicePortsWritten = 0;          // service ports whose own chains are in `text`
};

// What a daemon's full sync adds to the rules: jump rules from built-in chains that the kernel
// lacks (inserted in the same table transaction as the chains they target) and the canary chain
// KUBE-PROXY-CANARY in mangle, nat and filter, as upstream.
struct FullSyncExtras {
  std::vector<JumpRule> missingJumps;
  bool canary = false;
};

// Above this many endpoints in total, per-endpoint comments are dropped (kube-proxy's
// "large cluster mode": the ruleset shrinks by ~40% and restores faster).
inline constexpr size_t kLargeClusterEndpointsThreshold = 1000;

class Renderer {
 public:
  explicit Renderer(RenderOptions options);

  // Every chain. Service chains in `existingNatChains` (from iptables-save) that are no longer
  // used are deleted.
  RenderResult renderFull(const dataplane::DesiredState& state,
                          const std::vector<std::string>& existingNatChains = {},
                          const FullSyncExtras& extras = {});

  // The same rules as renderFull, as a sequence of restores to load in order: first the chains
  // of `portsPerChunk` service ports at a time, then the top-level chains, jump rules, canary
  // and stale-chain deletions. Each restore is atomic and every intermediate state is
  // consistent (chains exist before anything jumps to them). For iptables-nft, whose --noflush
  // restore time grows super-linearly with the size of one input (1k services: 5.3 s in one
  // piece, 0.9 s in 10), while legacy rewrites the whole table per restore and wants one.
  std::vector<std::string> renderFullChunked(const dataplane::DesiredState& state,
                                             const std::vector<std::string>& existingNatChains,
                                             const FullSyncExtras& extras, size_t portsPerChunk,
                                             RenderResult* summary);

  // Only what `changed` services changed since `previous` (what the kernel holds): their old
  // rules in the top-level chains are deleted and their new ones added (top-level chains are
  // not flushed), their own chains rewritten, and the chains they no longer use deleted. The
  // input is proportional to the change, not to the cluster.
  RenderResult renderPartial(const dataplane::DesiredState& current, const dataplane::DesiredState& previous,
                             const std::set<model::NamespacedName>& changed);

  // The nat chains this service port owns under the current rules (SVC, SVL, EXT, FW, SEPs).
  std::vector<std::string> natChainsOf(const dataplane::ServicePortInfo& port);

  const RenderOptions& options() const { return options_; }
  void setNodeInfo(const dataplane::NodeInfo& info) { options_.setNodeInfo(info); }
  // NodePorts on 127.0.0.1 (and so the KUBE-FIREWALL localnet rule) apply to this ruleset.
  bool localhostNodePortsEnabled() const;

 private:
  struct ServiceChains {
    std::string svc, svl, ext, fw;
  };
  const ServiceChains& chainsFor(const dataplane::ServicePortInfo& port);

  RenderOptions options_;
  std::string markHex_;  // "0x4000"
  std::vector<std::string> probabilities_;
  // Service chain names cost a SHA-256 each; a partial render must not pay that for every
  // service. One map per protocol, looked up by the port name without building a key.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, ServiceChains, NameHash, std::equal_to<>> names_[3];

  friend class RenderPass;
};

// Probability kube-proxy gives the i-th of n remaining endpoints: 1/n with 10 decimals.
std::string probabilityString(size_t n);

}  // namespace kproxy::iptables
