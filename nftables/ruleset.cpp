#include "nftables/ruleset.h"

#include "nftables/transaction.h"

#include <cstdio>
#include <cstdlib>
#include <map>

namespace kproxy::nftables {

Stmt Stmt::addr(bool source, const net::Cidr& c, bool negate) {
  Stmt s = of(Kind::kAddr);
  s.source = source;
  s.cidr = c;
  s.negate = negate;
  return s;
}
Stmt Stmt::dport(Protocol p, uint16_t port) {
  Stmt s = of(Kind::kDport);
  s.proto = p;
  s.port = port;
  return s;
}
Stmt Stmt::l4proto(Protocol p) {
  Stmt s = of(Kind::kL4Proto);
  s.proto = p;
  return s;
}
Stmt Stmt::fibLocal(bool source) {
  Stmt s = of(Kind::kFibLocal);
  s.source = source;
  return s;
}
Stmt Stmt::iifname(std::string name, bool prefix, bool negate) {
  Stmt s = of(Kind::kIifname);
  s.name = std::move(name);
  s.prefix = prefix;
  s.negate = negate;
  return s;
}
Stmt Stmt::addrInSet(bool source, std::string set) {
  Stmt s = of(Kind::kAddrInSet);
  s.source = source;
  s.name = std::move(set);
  return s;
}
Stmt Stmt::addrPairInSet(std::string set) {
  Stmt s = of(Kind::kAddrPairInSet);
  s.name = std::move(set);
  return s;
}
Stmt Stmt::vmapAddrProtoPort(std::string map) {
  Stmt s = of(Kind::kVmapAddrProtoPort);
  s.name = std::move(map);
  return s;
}
Stmt Stmt::vmapProtoPort(std::string map) {
  Stmt s = of(Kind::kVmapProtoPort);
  s.name = std::move(map);
  return s;
}
Stmt Stmt::markOr(uint32_t m) {
  Stmt s = of(Kind::kMarkOr);
  s.mark = m;
  return s;
}
Stmt Stmt::markXor(uint32_t m) {
  Stmt s = of(Kind::kMarkXor);
  s.mark = m;
  return s;
}
Stmt Stmt::markClear(uint32_t m) {
  Stmt s = of(Kind::kMarkClear);
  s.mark = m;
  return s;
}
Stmt Stmt::dnat(DnatTarget t) {
  Stmt s = of(Kind::kDnat);
  s.targets = {t};
  return s;
}
Stmt Stmt::dnatKeyed(std::string map, uint32_t modulus, bool byPort) {
  Stmt s = of(Kind::kDnatKeyed);
  s.name = std::move(map);
  s.modulus = modulus;
  s.byPort = byPort;
  return s;
}
Stmt Stmt::vmapRandom(std::vector<std::string> chains) {
  Stmt s = of(Kind::kVmapRandom);
  s.chains = std::move(chains);
  return s;
}
Stmt Stmt::updateSaddr(std::string set) {
  Stmt s = of(Kind::kUpdateSaddr);
  s.name = std::move(set);
  return s;
}
Stmt Stmt::verdictOf(Verdict v) {
  Stmt s = of(Kind::kVerdict);
  s.verdict = std::move(v);
  return s;
}

const char* familyKeyword(IPFamily f) { return f == IPFamily::kIPv4 ? "ip" : "ip6"; }

namespace {

const char* addrType(IPFamily f) { return f == IPFamily::kIPv4 ? "ipv4_addr" : "ipv6_addr"; }

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

std::string cidrText(const net::Cidr& c) {
  int full = c.network.family == IPFamily::kIPv4 ? 32 : 128;
  return c.prefix == full ? c.network.str() : c.str();
}

std::string targetText(const DnatTarget& t, bool concat) {
  if (concat) return t.ip.str() + " . " + std::to_string(t.port);
  if (t.ip.family == IPFamily::kIPv6) return "[" + t.ip.str() + "]:" + std::to_string(t.port);
  return t.ip.str() + ":" + std::to_string(t.port);
}

}  // namespace

std::string verdictText(const Verdict& v) {
  switch (v.kind) {
    case Verdict::Kind::kNone: return "";
    case Verdict::Kind::kAccept: return "accept";
    case Verdict::Kind::kDrop: return "drop";
    case Verdict::Kind::kReturn: return "return";
    case Verdict::Kind::kJump: return "jump " + v.chain;
    case Verdict::Kind::kGoto: return "goto " + v.chain;
  }
  return "";
}

std::string ruleText(IPFamily f, const Rule& r) {
  const std::string ipx = familyKeyword(f);
  std::string out;
  auto add = [&](const std::string& s) {
    if (s.empty()) return;
    if (!out.empty()) out += ' ';
    out += s;
  };
  for (const auto& s : r.stmts) {
    using K = Stmt::Kind;
    switch (s.kind) {
      case K::kCtStateNew: add("ct state new"); break;
      case K::kCtStatusDnat: add("ct status dnat"); break;
      case K::kAddr:
        add(ipx + (s.source ? " saddr " : " daddr ") + (s.negate ? "!= " : "") + cidrText(s.cidr));
        break;
      case K::kDport: add(std::string(model::protocolLower(s.proto)) + " dport " + std::to_string(s.port)); break;
      case K::kL4Proto: add(std::string("meta l4proto ") + model::protocolLower(s.proto)); break;
      case K::kFibLocal: add(std::string("fib ") + (s.source ? "saddr" : "daddr") + " type local"); break;
      case K::kIifname: add(std::string("iifname ") + (s.negate ? "!= " : "") + "\"" + s.name + (s.prefix ? "*" : "") + "\""); break;
      case K::kAddrInSet: add(ipx + (s.source ? " saddr @" : " daddr @") + s.name); break;
      case K::kAddrPairInSet: add(ipx + " saddr . " + ipx + " daddr @" + s.name); break;
      case K::kVmapAddrProtoPort: add(ipx + " daddr . meta l4proto . th dport vmap @" + s.name); break;
      case K::kVmapProtoPort: add("meta l4proto . th dport vmap @" + s.name); break;
      case K::kMarkOr: add("meta mark set meta mark | " + hex32(s.mark)); break;
      case K::kMarkXor: add("meta mark set meta mark ^ " + hex32(s.mark)); break;
      case K::kMarkClear: add("meta mark & " + hex32(s.mark) + " == 0x0"); break;
      case K::kMasquerade: add("masquerade fully-random"); break;
      case K::kReject: add("reject"); break;
      case K::kDnat: add("dnat to " + targetText(s.targets.at(0), false)); break;
      case K::kDnatKeyed:
        add(std::string("dnat to ") + (s.byPort ? "" : ipx + " daddr . ") + "meta l4proto . th dport . numgen random mod " +
            std::to_string(s.modulus) + " map @" + s.name);
        break;
      case K::kVmapRandom: {
        std::string m = "numgen random mod " + std::to_string(s.chains.size()) + " vmap { ";
        for (size_t i = 0; i < s.chains.size(); ++i) m += (i ? ", " : "") + std::to_string(i) + " : goto " + s.chains[i];
        add(m + " }");
        break;
      }
      case K::kUpdateSaddr: add("update @" + s.name + " { " + ipx + " saddr }"); break;
      case K::kVerdict: add(verdictText(s.verdict)); break;
    }
  }
  if (!r.comment.empty()) add("comment \"" + r.comment + "\"");
  return out;
}

std::string keyText(const Set& set, const ElementKey& k) {
  switch (set.key) {
    case KeyType::kAddr: return k.a.str();
    case KeyType::kAddrPair: return k.a.str() + " . " + k.b.str();
    case KeyType::kAddrProtoPort:
      return k.a.str() + " . " + model::protocolLower(k.proto) + " . " + std::to_string(k.port);
    case KeyType::kProtoPort: return std::string(model::protocolLower(k.proto)) + " . " + std::to_string(k.port);
    case KeyType::kAddrProtoPortIndex:
      return k.a.str() + " . " + model::protocolLower(k.proto) + " . " + std::to_string(k.port) + " . " +
             std::to_string(k.index);
    case KeyType::kProtoPortIndex:
      return std::string(model::protocolLower(k.proto)) + " . " + std::to_string(k.port) + " . " + std::to_string(k.index);
  }
  return "";
}

std::string elementValueText(const Set& set, const Element& e) {
  if (set.verdictMap) return verdictText(e.value);
  if (set.endpointMap) return targetText(e.target, true);
  return "";
}

std::string setTypeText(IPFamily f, const Set& s) {
  // Keys with numgen's integer are declared by typeof: nft has no named type for them.
  const std::string ipx = familyKeyword(f);
  if (s.key == KeyType::kAddrProtoPortIndex)
    return "typeof " + ipx + " daddr . meta l4proto . th dport . numgen random mod 1 : " + ipx + " daddr . th dport";
  if (s.key == KeyType::kProtoPortIndex)
    return "typeof meta l4proto . th dport . numgen random mod 1 : " + ipx + " daddr . th dport";
  std::string t = "type ";
  switch (s.key) {
    case KeyType::kAddr: t += addrType(f); break;
    case KeyType::kAddrPair: t += std::string(addrType(f)) + " . " + addrType(f); break;
    case KeyType::kAddrProtoPort: t += std::string(addrType(f)) + " . inet_proto . inet_service"; break;
    case KeyType::kProtoPort: t += "inet_proto . inet_service"; break;
    default: break;
  }
  if (s.verdictMap) t += " : verdict";
  return t;
}

std::string toText(const Table& t) {
  const char* fam = familyKeyword(t.family);
  std::string out;
  // Declaring then deleting makes the file loadable whether or not the table exists.
  out += std::string("table ") + fam + " " + kTableName + "\n";
  out += std::string("delete table ") + fam + " " + kTableName + "\n";
  out += std::string("table ") + fam + " " + kTableName + " {\n";
  if (!t.comment.empty()) out += "\tcomment \"" + t.comment + "\"\n";
  for (const auto& s : t.sets) {
    out += std::string("\t") + (s.verdictMap || s.endpointMap ? "map " : "set ") + s.name + " {\n";
    out += "\t\t" + setTypeText(t.family, s) + "\n";
    if (s.timeout) out += "\t\tflags dynamic,timeout\n\t\ttimeout " + std::to_string(s.timeoutSeconds) + "s\n";
    if (!s.comment.empty()) out += "\t\tcomment \"" + s.comment + "\"\n";
    out += "\t}\n";
  }
  for (const auto& c : t.chains) {
    out += "\tchain " + c.name + " {\n";
    if (c.base) {
      // nft knows dstnat only on prerouting and srcnat only on postrouting: numbers elsewhere.
      auto named = [](const char* word, int offset) {
        return offset == 0 ? std::string(word)
                           : std::string(word) + (offset > 0 ? " + " : " - ") + std::to_string(std::abs(offset));
      };
      int p = c.base->priority;
      std::string prio = std::to_string(p);
      if (c.base->hook == "prerouting" && p >= -120 && p <= -80) prio = named("dstnat", p + 100);
      if (c.base->hook == "postrouting" && p >= 80 && p <= 120) prio = named("srcnat", p - 100);
      out += "\t\ttype " + c.base->type + " hook " + c.base->hook + " priority " + prio + "; policy accept;\n";
    }
    if (!c.comment.empty()) out += "\t\tcomment \"" + c.comment + "\"\n";
    for (const auto& r : c.rules) out += "\t\t" + ruleText(t.family, r) + "\n";
    out += "\t}\n";
  }
  out += "}\n";
  // Elements last, one statement per set: every chain a verdict names exists by then.
  std::map<std::string, std::vector<const Element*>> bySet;
  for (const auto& e : t.elements) bySet[e.set].push_back(&e);
  for (const auto& s : t.sets) {
    auto it = bySet.find(s.name);
    if (it == bySet.end()) continue;
    out += std::string("add element ") + fam + " " + kTableName + " " + s.name + " {";
    bool first = true;
    for (const Element* e : it->second) {
      out += first ? " " : ", ";
      first = false;
      out += keyText(s, e->key);
      if (!e->comment.empty()) out += " comment \"" + e->comment + "\"";
      if (s.verdictMap || s.endpointMap) out += " : " + elementValueText(s, *e);
    }
    out += " }\n";
  }
  return out;
}

std::string toScript(const Transaction& tx) {
  const std::string t = std::string(familyKeyword(tx.family)) + " " + kTableName;
  std::string out;
  for (const auto& op : tx.ops) {
    switch (op.kind) {
      case Op::Kind::kAddTable: out += "add table " + t + "\n"; break;
      case Op::Kind::kDeleteTable: out += "delete table " + t + "\n"; break;
      case Op::Kind::kAddChain:
        out += "add chain " + t + " " + op.name;
        if (op.chain && op.chain->base)
          out += " { type " + op.chain->base->type + " hook " + op.chain->base->hook + " priority " +
                 std::to_string(op.chain->base->priority) + "; policy accept; }";
        out += "\n";
        break;
      case Op::Kind::kFlushChain: out += "flush chain " + t + " " + op.name + "\n"; break;
      case Op::Kind::kDeleteChain: out += "delete chain " + t + " " + op.name + "\n"; break;
      case Op::Kind::kAddRule: out += "add rule " + t + " " + op.name + " " + ruleText(tx.family, *op.rule) + "\n"; break;
      case Op::Kind::kAddSet:
        out += std::string("add ") + (op.set->verdictMap || op.set->endpointMap ? "map " : "set ") + t + " " + op.name + " { " +
               setTypeText(tx.family, *op.set) + "; ";
        if (op.set->timeout) out += "flags dynamic,timeout; timeout " + std::to_string(op.set->timeoutSeconds) + "s; ";
        out += "}\n";
        break;
      case Op::Kind::kFlushSet:
        out += std::string("flush ") + (op.set && (op.set->verdictMap || op.set->endpointMap) ? "map " : "set ") + t + " " +
               op.name + "\n";
        break;
      case Op::Kind::kDeleteSet: out += "delete set " + t + " " + op.name + "\n"; break;
      case Op::Kind::kAddElements:
      case Op::Kind::kDeleteElements: {
        out += std::string(op.kind == Op::Kind::kAddElements ? "add" : "delete") + " element " + t + " " + op.name + " {";
        bool first = true;
        for (const Element* e : op.elements) {
          out += first ? " " : ", ";
          first = false;
          out += keyText(*op.set, e->key);
          if (op.kind == Op::Kind::kAddElements && (op.set->verdictMap || op.set->endpointMap))
            out += " : " + elementValueText(*op.set, *e);
        }
        out += " }\n";
        break;
      }
    }
  }
  return out;
}

}  // namespace kproxy::nftables
