// The rule path a packet takes through an iptables ruleset, evaluated from `iptables-save -c`
// text (nat and filter): what `kproxy trace --kernel` shows in iptables mode. It knows the
// matches and targets kube-proxy's rules use; a rule with anything else is skipped and reported.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip.h"
#include "dataplane/model.h"

namespace kproxy::trace {

struct IptRule {
  std::string table, chain;
  size_t index = 0;  // 1-based position in its chain, as `iptables -L --line-numbers`
  uint64_t packets = 0, bytes = 0;
  std::string text;  // the line without its counters

  // Matches (unset: any).
  std::optional<net::Cidr> src, dst;
  bool srcNeg = false, dstNeg = false;
  std::optional<std::string> inInterface;  // -i NAME, or "NAME+" for a prefix (detect-local)
  bool inNeg = false;
  std::optional<model::Protocol> proto;
  std::optional<uint16_t> dport;
  std::optional<double> probability;  // -m statistic --mode random
  std::optional<uint32_t> markValue, markMask;
  bool markNeg = false;
  std::optional<bool> srcLocal, dstLocal;  // -m addrtype --src-type/--dst-type LOCAL (value: wanted)
  std::vector<std::string> ctstates;       // -m conntrack --ctstate
  bool ctstateNeg = false;
  std::string recentCheck;  // -m recent --rcheck --name X (session affinity)
  std::string comment;
  std::string unsupported;  // a match this evaluator does not know

  // Target.
  std::string target;  // a chain, or ACCEPT DROP REJECT RETURN DNAT MARK MASQUERADE SNAT ...
  bool isGoto = false;
  std::string toDestination;          // DNAT
  uint32_t setMark = 0, setMask = 0;  // MARK, as --set-xmark value/mask
};

struct IptDump {
  // table -> chain -> rules
  std::map<std::string, std::map<std::string, std::vector<IptRule>>> tables;
  std::vector<std::string> problems;  // lines that did not parse
  const std::vector<IptRule>* chain(const std::string& table, const std::string& name) const;
};

// What a rule does, independent of how the tool printed it (match order, /32, comments,
// --or-mark vs --set-xmark): for comparing the kernel's rules with rendered ones.
std::string ruleKey(const IptRule& r);

// Parses `iptables-save` output, with or without -c counters, one or several tables.
IptDump parseIptablesSave(const std::string& text);

struct Packet {
  net::IPAddress src, dst;
  model::Protocol proto = model::Protocol::kTCP;
  uint16_t dport = 0;
  bool fromLocal = true;  // sent by the node itself (OUTPUT) rather than arriving (PREROUTING)
  std::vector<net::IPAddress> localAddresses;  // for -m addrtype LOCAL
  std::string inInterface = {};  // the interface it arrived on; none for the node's own packets
};

// One way the packet can go (statistic rules fork the path).
struct Outcome {
  double probability = 1;
  std::vector<const IptRule*> rules;  // every rule that matched, in order
  enum class Fate { kAccept, kDnat, kReject, kDrop } fate = Fate::kAccept;
  std::string dnatTo;        // "ip:port" for kDnat
  const IptRule* decisive = nullptr;  // the DNAT, REJECT or DROP rule
  bool masquerade = false;   // the mark was set for KUBE-POSTROUTING's MASQUERADE
  bool affinityNote = false; // passed a session-affinity check (a returning client may differ)
};

struct Evaluation {
  std::vector<Outcome> outcomes;
  std::vector<const IptRule*> skipped;  // rules with unsupported matches, taken as not matching
  bool truncated = false;
};

// Walks nat (PREROUTING or OUTPUT), then filter (INPUT, FORWARD or OUTPUT, by whether the
// destination is local after DNAT), then nat POSTROUTING, as the kernel would for a new
// connection's first packet.
Evaluation evaluate(const IptDump& dump, const Packet& p);

}  // namespace kproxy::trace
