// The nftables objects kproxy programs, as typed values: statements, rules, chains, sets and maps
// and their elements. One model, two outputs: nft text (goldens, `kproxy render`) and netlink
// messages (netlink_codec.h), so both always describe the same ruleset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip.h"
#include "dataplane/model.h"

namespace kproxy::nftables {

using model::IPFamily;
using model::Protocol;

inline constexpr const char* kTableName = "kube-proxy";

struct Verdict {
  enum class Kind { kNone, kAccept, kDrop, kReturn, kJump, kGoto };
  Kind kind = Kind::kNone;
  std::string chain;  // jump and goto

  static Verdict jump(std::string c) { return {Kind::kJump, std::move(c)}; }
  static Verdict go(std::string c) { return {Kind::kGoto, std::move(c)}; }
  static Verdict drop() { return {Kind::kDrop, {}}; }
  static Verdict ret() { return {Kind::kReturn, {}}; }
  bool operator==(const Verdict&) const = default;
};

struct DnatTarget {
  net::IPAddress ip;
  uint16_t port = 0;
  bool operator==(const DnatTarget&) const = default;
};

// One statement of a rule. Only the shapes kproxy uses exist; each has a text and a bytecode
// form. Matches come first in a rule, then at most one action, then an optional verdict.
struct Stmt {
  enum class Kind {
    kCtStateNew,       // ct state new
    kCtStatusDnat,     // ct status dnat
    kAddr,             // ip saddr|daddr [!=] CIDR
    kDport,            // tcp|udp|sctp dport PORT
    kL4Proto,          // meta l4proto tcp|udp|sctp
    kFibLocal,         // fib saddr|daddr type local
    kIifname,          // iifname [!=] "NAME" (or "PREFIX*")
    kAddrInSet,        // ip saddr|daddr @set
    kAddrPairInSet,    // ip saddr . ip daddr @set
    kVmapAddrProtoPort,// ip daddr . meta l4proto . th dport vmap @map
    kVmapProtoPort,    // meta l4proto . th dport vmap @map
    kMarkOr,           // meta mark set meta mark | MARK
    kMarkXor,          // meta mark set meta mark ^ MARK
    kMarkClear,        // meta mark & MARK == 0
    kMasquerade,       // masquerade fully-random
    kReject,           // reject
    kDnat,             // dnat to IP:PORT           (after kL4Proto)
    kDnatKeyed,        // dnat to ip daddr . meta l4proto . th dport . numgen random mod N map @MAP
                       // (or, `byPort`, meta l4proto . th dport . numgen random mod N map @MAP)
    kVmapRandom,       // numgen random mod N vmap { i : goto CHAIN }
    kUpdateSaddr,      // update @set { ip saddr }
    kVerdict,          // accept | drop | return | jump CHAIN | goto CHAIN
  };
  Kind kind = Kind::kVerdict;
  bool source = false;  // kAddr, kFibLocal, kAddrInSet: saddr (else daddr)
  bool negate = false;  // kAddr, kIifname
  bool prefix = false;  // kIifname: `name` is an interface name prefix
  net::Cidr cidr;       // kAddr
  Protocol proto = Protocol::kTCP;
  uint16_t port = 0;    // kDport
  uint32_t mark = 0;
  std::string name;     // set or map; kIifname: the interface
  uint32_t modulus = 0;  // kDnatKeyed
  bool byPort = false;   // kDnatKeyed: keyed by protocol and port only (NodePorts)
  std::vector<DnatTarget> targets;   // kDnat (one)
  std::vector<std::string> chains;   // kVmapRandom (goto each)
  Verdict verdict;

  bool operator==(const Stmt&) const = default;

  static Stmt of(Kind k) {
    Stmt s;
    s.kind = k;
    return s;
  }
  static Stmt ctStateNew() { return of(Kind::kCtStateNew); }
  static Stmt ctStatusDnat() { return of(Kind::kCtStatusDnat); }
  static Stmt addr(bool source, const net::Cidr& c, bool negate = false);
  static Stmt dport(Protocol p, uint16_t port);
  static Stmt l4proto(Protocol p);
  static Stmt fibLocal(bool source);
  static Stmt iifname(std::string name, bool prefix, bool negate);
  static Stmt addrInSet(bool source, std::string set);
  static Stmt addrPairInSet(std::string set);
  static Stmt vmapAddrProtoPort(std::string map);
  static Stmt vmapProtoPort(std::string map);
  static Stmt markOr(uint32_t m);
  static Stmt markXor(uint32_t m);
  static Stmt markClear(uint32_t m);
  static Stmt masquerade() { return of(Kind::kMasquerade); }
  static Stmt reject() { return of(Kind::kReject); }
  static Stmt dnat(DnatTarget t);
  static Stmt dnatKeyed(std::string map, uint32_t modulus, bool byPort);
  static Stmt vmapRandom(std::vector<std::string> chains);
  static Stmt updateSaddr(std::string set);
  static Stmt verdictOf(Verdict v);
};

struct Rule {
  std::vector<Stmt> stmts;
  std::string comment;
  bool operator==(const Rule&) const = default;
};

// The hook a base chain hangs on: "type filter hook prerouting priority dstnat - 10".
struct BaseHook {
  std::string type;  // filter, nat
  std::string hook;  // prerouting, input, forward, output, postrouting
  int priority = 0;  // kernel value: dstnat -100, srcnat 100, filter 0
  bool operator==(const BaseHook&) const = default;
};

struct Chain {
  std::string name;
  std::optional<BaseHook> base;
  std::vector<Rule> rules;
  std::string comment;
  bool operator==(const Chain&) const = default;
};

// The key shapes of kproxy's sets and maps.
enum class KeyType {
  kAddr,                // ipv4_addr / ipv6_addr
  kAddrPair,            // addr . addr
  kAddrProtoPort,       // addr . inet_proto . inet_service
  kProtoPort,           // inet_proto . inet_service
  kAddrProtoPortIndex,  // ip daddr . meta l4proto . th dport . numgen (an endpoint's index)
  kProtoPortIndex,      // meta l4proto . th dport . numgen
};

struct Set {
  std::string name;
  KeyType key = KeyType::kAddr;
  bool verdictMap = false;  // a vmap (key : verdict)
  bool timeout = false;     // flags dynamic,timeout with `timeoutSeconds`
  uint32_t timeoutSeconds = 0;
  std::string comment;
  bool endpointMap = false;  // key : ip daddr . th dport (an endpoint to DNAT to); neither: a set
  bool operator==(const Set&) const = default;
};

struct ElementKey {
  net::IPAddress a, b;  // kAddr: a; kAddrPair: a . b; kAddrProtoPort: a . proto . port
  Protocol proto = Protocol::kTCP;
  uint16_t port = 0;
  uint32_t index = 0;  // the Index key types
  auto operator<=>(const ElementKey&) const = default;
};

struct Element {
  std::string set;
  ElementKey key;
  Verdict value;      // verdict maps
  DnatTarget target;  // endpoint maps
  std::string comment;
  bool operator==(const Element&) const = default;
};

// Everything in one table, in creation order: sets before the rules that use them, chains
// before the rules and elements that jump to them.
struct Table {
  IPFamily family = IPFamily::kIPv4;
  std::string comment;
  std::vector<Set> sets;
  std::vector<Chain> chains;
  std::vector<Element> elements;
};

// "ip" or "ip6".
const char* familyKeyword(IPFamily f);
// nft text of one rule's statements ("ip daddr 10.96.0.1 tcp dport 80 jump mark-for-masquerade").
std::string ruleText(IPFamily f, const Rule& r);
// An element's key as nft writes it ("10.96.0.1 . tcp . 80").
std::string keyText(const Set& set, const ElementKey& k);
// "type ipv4_addr . inet_proto . inet_service : verdict".
std::string setTypeText(IPFamily f, const Set& s);
std::string verdictText(const Verdict& v);
// What an element maps to: its verdict or its endpoint ("10.244.1.2 . 8080"); "" in a set.
std::string elementValueText(const Set& set, const Element& e);

// `nft -f` input that (re)creates the whole table: it first deletes any table of that name, so
// it can be loaded again and again.
std::string toText(const Table& t);

}  // namespace kproxy::nftables
