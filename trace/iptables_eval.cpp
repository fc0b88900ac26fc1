#include "trace/iptables_eval.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace kproxy::trace {

namespace {

// iptables-save quotes with "..." and escapes \" inside.
std::vector<std::string> tokenize(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    std::string tok;
    if (line[i] == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        tok += line[i];
      }
      ++i;
    } else {
      while (i < line.size() && line[i] != ' ') tok += line[i++];
    }
    out.push_back(tok);
  }
  return out;
}

std::optional<net::Cidr> cidrOf(const std::string& s) {
  if (s.find('/') != std::string::npos) return net::parseCidr(s);
  auto ip = net::parseIP(s);
  if (!ip) return std::nullopt;
  return net::parseCidr(s + (ip->family == model::IPFamily::kIPv4 ? "/32" : "/128"));
}

std::optional<uint32_t> number(const std::string& s) {
  char* end = nullptr;
  unsigned long v = std::strtoul(s.c_str(), &end, 0);
  if (s.empty() || *end) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// "V" or "V/M"
bool valueMask(const std::string& s, uint32_t& v, uint32_t& m, uint32_t defaultMask) {
  auto slash = s.find('/');
  auto a = number(s.substr(0, slash));
  if (!a) return false;
  v = *a;
  m = defaultMask;
  if (slash != std::string::npos) {
    auto b = number(s.substr(slash + 1));
    if (!b) return false;
    m = *b;
  }
  return true;
}

// Parses the words after "-A CHAIN"; false with `why` when it cannot.
bool parseRule(const std::vector<std::string>& t, size_t i, IptRule& r, std::string& why) {
  bool neg = false;
  bool inTarget = false;
  bool recentCheck = false;  // -m recent --rcheck: matches a client seen before
  std::string recentName;
  auto next = [&](std::string& v) {
    if (i + 1 >= t.size()) return false;
    v = t[++i];
    return true;
  };
  for (; i < t.size(); ++i) {
    const std::string& w = t[i];
    std::string v;
    if (w == "!") {
      neg = true;
      continue;
    }
    if (w == "-j" || w == "--jump" || w == "-g" || w == "--goto") {
      if (!next(r.target)) return why = "no target", false;
      r.isGoto = w == "-g" || w == "--goto";
      inTarget = true;
    } else if (inTarget) {
      if (w == "--to-destination") {
        if (!next(r.toDestination)) return why = "--to-destination without a value", false;
      } else if (w == "--set-xmark" || w == "--set-mark" || w == "--or-mark" || w == "--xor-mark" || w == "--and-mark") {
        if (!next(v)) return why = w + " without a value", false;
        uint32_t val = 0, mask = 0;
        if (!valueMask(v, val, mask, 0xffffffff)) return why = "bad mark " + v, false;
        if (w == "--or-mark") r.setMark = val, r.setMask = val;
        else if (w == "--xor-mark") r.setMark = val, r.setMask = 0;
        else if (w == "--and-mark") r.setMark = 0, r.setMask = ~val;
        else if (w == "--set-mark") r.setMark = val, r.setMask = mask | val;  // (m & ~mask) | val
        else r.setMark = val, r.setMask = mask;
      } else if (w.rfind("--", 0) == 0 && i + 1 < t.size() && t[i + 1].rfind("-", 0) != 0) {
        ++i;  // a target option with a value we do not need (--reject-with, --to-ports, ...)
      }
      // flags such as --random-fully: nothing to do
    } else if (w == "-s" || w == "--source" || w == "-d" || w == "--destination") {
      if (!next(v)) return why = w + " without a value", false;
      auto c = cidrOf(v);
      if (!c) return why = "bad address " + v, false;
      (w == "-s" || w == "--source" ? r.src : r.dst) = c;
      (w == "-s" || w == "--source" ? r.srcNeg : r.dstNeg) = neg;
    } else if (w == "-i" || w == "--in-interface") {
      if (!next(v)) return why = "-i without a value", false;
      r.inInterface = v;
      r.inNeg = neg;
    } else if (w == "-p" || w == "--protocol") {
      if (!next(v)) return why = "-p without a value", false;
      if (neg) r.unsupported = "! -p";
      if (v == "tcp" || v == "6") r.proto = model::Protocol::kTCP;
      else if (v == "udp" || v == "17") r.proto = model::Protocol::kUDP;
      else if (v == "sctp" || v == "132") r.proto = model::Protocol::kSCTP;
      else r.unsupported = "-p " + v;
    } else if (w == "-m" || w == "--match") {
      if (!next(v)) return why = "-m without a module", false;
      static const char* kKnown[] = {"tcp", "udp", "sctp", "comment", "statistic", "mark", "addrtype", "conntrack", "recent",
                                     "nfacct"};
      if (std::find(std::begin(kKnown), std::end(kKnown), v) == std::end(kKnown)) r.unsupported = "-m " + v;
    } else if (w == "--dport" || w == "--destination-port") {
      if (!next(v)) return why = "--dport without a value", false;
      auto n = number(v);
      if (!n || neg || *n > 65535) r.unsupported = "--dport " + std::string(neg ? "! " : "") + v;
      else r.dport = static_cast<uint16_t>(*n);
    } else if (w == "--comment") {
      if (!next(r.comment)) return why = "--comment without a value", false;
    } else if (w == "--mode") {
      if (!next(v)) return why = "--mode without a value", false;
      if (v != "random") r.unsupported = "statistic --mode " + v;
    } else if (w == "--probability") {
      if (!next(v)) return why = "--probability without a value", false;
      r.probability = std::strtod(v.c_str(), nullptr);
    } else if (w == "--mark") {
      if (!next(v)) return why = "--mark without a value", false;
      uint32_t val = 0, mask = 0;
      if (!valueMask(v, val, mask, 0xffffffff)) return why = "bad mark " + v, false;
      r.markValue = val, r.markMask = mask, r.markNeg = neg;
    } else if (w == "--src-type" || w == "--dst-type") {
      if (!next(v)) return why = w + " without a value", false;
      if (v != "LOCAL") r.unsupported = w + " " + v;
      (w == "--src-type" ? r.srcLocal : r.dstLocal) = !neg;
    } else if (w == "--ctstate") {
      if (!next(v)) return why = "--ctstate without a value", false;
      std::stringstream in(v);
      for (std::string s; std::getline(in, s, ',');) r.ctstates.push_back(s);
      r.ctstateNeg = neg;
    } else if (w == "--rcheck" || w == "--update") {
      recentCheck = true;
    } else if (w == "--name") {
      if (!next(recentName)) return why = "--name without a value", false;
    } else if (w == "--set" || w == "--reap" || w == "--rsource" || w == "--rdest") {
      // recent's bookkeeping flags
    } else if (w == "--nfacct-name") {
      // accounting only: every packet matches
      if (!next(v)) return why = "--nfacct-name without a value", false;
    } else if (w == "--seconds" || w == "--mask" || w == "--hitcount") {
      if (!next(v)) return why = w + " without a value", false;
    } else {
      r.unsupported = w;
    }
    neg = false;
  }
  if (recentCheck) r.recentCheck = recentName.empty() ? "DEFAULT" : recentName;
  return true;
}

}  // namespace

std::string ruleKey(const IptRule& r) {
  std::ostringstream o;
  auto neg = [](bool n) { return n ? "!" : ""; };
  if (r.src) o << " s=" << neg(r.srcNeg) << r.src->str();
  if (r.dst) o << " d=" << neg(r.dstNeg) << r.dst->str();
  if (r.proto) o << " p=" << model::protocolName(*r.proto);
  if (r.dport) o << " dport=" << *r.dport;
  if (r.probability) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", *r.probability);
    o << " prob=" << buf;
  }
  if (r.markValue) o << " mark=" << neg(r.markNeg) << *r.markValue << "/" << *r.markMask;
  if (r.srcLocal) o << " srctype=" << neg(!*r.srcLocal) << "LOCAL";
  if (r.dstLocal) o << " dsttype=" << neg(!*r.dstLocal) << "LOCAL";
  if (!r.ctstates.empty()) {
    auto states = r.ctstates;
    std::sort(states.begin(), states.end());
    o << " ct=" << neg(r.ctstateNeg);
    for (const auto& s : states) o << s << ",";
  }
  if (!r.recentCheck.empty()) o << " recent=" << r.recentCheck;
  if (!r.unsupported.empty()) o << " other=" << r.unsupported;
  o << (r.isGoto ? " -g " : " -j ") << r.target;
  if (!r.toDestination.empty()) o << " to=" << r.toDestination;
  if (r.target == "MARK") o << " xmark=" << r.setMark << "/" << r.setMask;
  return o.str();
}

const std::vector<IptRule>* IptDump::chain(const std::string& table, const std::string& name) const {
  auto t = tables.find(table);
  if (t == tables.end()) return nullptr;
  auto c = t->second.find(name);
  return c == t->second.end() ? nullptr : &c->second;
}

IptDump parseIptablesSave(const std::string& text) {
  IptDump d;
  std::string table;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      table = line.substr(1);
      d.tables[table];
      continue;
    }
    if (line == "COMMIT") continue;
    if (line[0] == ':') {
      auto sp = line.find(' ');
      d.tables[table][line.substr(1, sp == std::string::npos ? std::string::npos : sp - 1)];
      continue;
    }
    IptRule r;
    r.table = table;
    std::string body = line;
    if (body[0] == '[') {
      auto close = body.find(']');
      if (close == std::string::npos) {
        d.problems.push_back(line);
        continue;
      }
      std::string counters = body.substr(1, close - 1);
      auto colon = counters.find(':');
      r.packets = std::strtoull(counters.substr(0, colon).c_str(), nullptr, 10);
      if (colon != std::string::npos) r.bytes = std::strtoull(counters.substr(colon + 1).c_str(), nullptr, 10);
      body = body.substr(close + 1);
      while (!body.empty() && body[0] == ' ') body.erase(0, 1);
    }
    auto t = tokenize(body);
    if (t.size() < 2 || t[0] != "-A") {
      d.problems.push_back(line);
      continue;
    }
    r.chain = t[1];
    r.text = body;
    std::string why;
    if (!parseRule(t, 2, r, why)) {
      d.problems.push_back(line + " (" + why + ")");
      continue;
    }
    auto& rules = d.tables[table][r.chain];
    r.index = rules.size() + 1;
    rules.push_back(std::move(r));
  }
  return d;
}

namespace {

enum class Flow { kContinue, kAccept, kDrop, kReject };

struct State {
  Packet p;
  uint32_t mark = 0;
  double prob = 1;
  std::vector<const IptRule*> rules;
  bool dnat = false;
  std::string dnatTo;
  const IptRule* decisive = nullptr;
  bool masquerade = false;
  bool affinity = false;
};

bool isLocal(const Packet& p, const net::IPAddress& ip) {
  return std::find(p.localAddresses.begin(), p.localAddresses.end(), ip) != p.localAddresses.end();
}

class Walker {
 public:
  Walker(const IptDump& d, Evaluation& ev) : d_(d), ev_(ev) {}

  void runChain(const std::string& table, const std::string& chain, State s, int depth,
                std::vector<std::pair<State, Flow>>& out) {
    const auto* rules = d_.chain(table, chain);
    if (!rules || depth > 64) {
      out.push_back({std::move(s), Flow::kContinue});
      return;
    }
    runFrom(table, *rules, 0, std::move(s), depth, out);
  }

 private:
  bool matches(const IptRule& r, State& s) {
    const Packet& p = s.p;
    if (r.src && (r.src->contains(p.src) == r.srcNeg)) return false;
    if (r.dst && (r.dst->contains(p.dst) == r.dstNeg)) return false;
    if (r.inInterface) {
      // iptables' -i: "name+" matches by prefix; a packet of the node's own has no input interface.
      const std::string& want = *r.inInterface;
      const bool prefix = !want.empty() && want.back() == '+';
      const bool is = !p.inInterface.empty() &&
                      (prefix ? p.inInterface.rfind(want.substr(0, want.size() - 1), 0) == 0 : p.inInterface == want);
      if (is == r.inNeg) return false;
    }
    if (r.proto && *r.proto != p.proto) return false;
    if (r.dport && *r.dport != p.dport) return false;
    if (r.markValue && (((s.mark & *r.markMask) == *r.markValue) == r.markNeg)) return false;
    if (r.srcLocal && (p.fromLocal || isLocal(p, p.src)) != *r.srcLocal) return false;
    if (r.dstLocal && isLocal(p, p.dst) != *r.dstLocal) return false;
    if (!r.ctstates.empty()) {
      bool any = false;
      for (const auto& st : r.ctstates) any = any || st == "NEW" || (st == "DNAT" && s.dnat);
      if (any == r.ctstateNeg) return false;
    }
    if (!r.recentCheck.empty()) {
      s.affinity = true;  // a first-time client: no recent entry yet
      return false;
    }
    return true;
  }

  void runFrom(const std::string& table, const std::vector<IptRule>& rules, size_t i, State s, int depth,
               std::vector<std::pair<State, Flow>>& out) {
    for (; i < rules.size(); ++i) {
      if (++steps_ > 200000) {
        ev_.truncated = true;
        return;
      }
      const IptRule& r = rules[i];
      if (!r.unsupported.empty()) {
        if (std::find(ev_.skipped.begin(), ev_.skipped.end(), &r) == ev_.skipped.end()) ev_.skipped.push_back(&r);
        continue;
      }
      if (!matches(r, s)) continue;
      if (r.probability) {
        double p = std::clamp(*r.probability, 0.0, 1.0);
        if (p < 1) {
          State other = s;
          other.prob *= 1 - p;
          runFrom(table, rules, i + 1, std::move(other), depth, out);
        }
        s.prob *= p;
        if (s.prob <= 0) return;
      }
      s.rules.push_back(&r);
      const std::string& t = r.target;
      if (t == "ACCEPT") return out.push_back({std::move(s), Flow::kAccept});
      if (t == "DROP" || t == "REJECT") {
        s.decisive = &r;
        return out.push_back({std::move(s), t == "DROP" ? Flow::kDrop : Flow::kReject});
      }
      if (t == "RETURN") return out.push_back({std::move(s), Flow::kContinue});
      if (t == "DNAT") {
        std::string to = r.toDestination;
        std::string host = to, port;
        if (!to.empty() && to[0] == '[') {
          auto close = to.find(']');
          host = to.substr(1, close - 1);
          if (close + 1 < to.size() && to[close + 1] == ':') port = to.substr(close + 2);
        } else if (auto colon = to.rfind(':'); colon != std::string::npos && to.find(':') == colon) {
          host = to.substr(0, colon);
          port = to.substr(colon + 1);
        }
        if (auto ip = net::parseIP(host)) s.p.dst = *ip;
        if (auto n = number(port)) s.p.dport = static_cast<uint16_t>(*n);
        s.dnat = true;
        s.dnatTo = to;
        s.decisive = &r;
        return out.push_back({std::move(s), Flow::kAccept});
      }
      if (t == "MASQUERADE" || t == "SNAT") {
        s.masquerade = true;
        return out.push_back({std::move(s), Flow::kAccept});
      }
      if (t == "MARK") {
        s.mark = (s.mark & ~r.setMask) ^ r.setMark;
        continue;
      }
      if (!d_.chain(table, t)) continue;  // LOG, CT, ... : non-terminating
      std::vector<std::pair<State, Flow>> sub;
      runChain(table, t, std::move(s), depth + 1, sub);
      for (auto& [st, flow] : sub) {
        if (flow != Flow::kContinue || r.isGoto) out.push_back({std::move(st), flow});
        else runFrom(table, rules, i + 1, std::move(st), depth, out);
      }
      return;
    }
    out.push_back({std::move(s), Flow::kContinue});
  }

  const IptDump& d_;
  Evaluation& ev_;
  size_t steps_ = 0;
};

}  // namespace

Evaluation evaluate(const IptDump& dump, const Packet& packet) {
  Evaluation ev;
  Walker w(dump, ev);
  State start;
  start.p = packet;
  std::vector<std::pair<State, Flow>> afterNat;
  w.runChain("nat", packet.fromLocal ? "OUTPUT" : "PREROUTING", start, 0, afterNat);
  for (auto& [s, flow] : afterNat) {
    std::vector<std::pair<State, Flow>> afterFilter;
    if (flow == Flow::kDrop || flow == Flow::kReject) {
      afterFilter.push_back({s, flow});
    } else {
      const char* chain = packet.fromLocal ? "OUTPUT" : (isLocal(s.p, s.p.dst) ? "INPUT" : "FORWARD");
      w.runChain("filter", chain, s, 0, afterFilter);
      // The node's own packet to one of its addresses comes back in through lo: filter INPUT
      // sees it too (health-check node ports' ACCEPT, a firewall's DROP).
      if (packet.fromLocal) {
        std::vector<std::pair<State, Flow>> looped;
        for (auto& [f, fflow] : afterFilter) {
          if (fflow == Flow::kDrop || fflow == Flow::kReject || !isLocal(f.p, f.p.dst)) looped.push_back({f, fflow});
          else w.runChain("filter", "INPUT", f, 0, looped);
        }
        afterFilter = std::move(looped);
      }
    }
    for (auto& [f, fflow] : afterFilter) {
      Outcome o;
      if (fflow == Flow::kDrop || fflow == Flow::kReject) {
        o.fate = fflow == Flow::kDrop ? Outcome::Fate::kDrop : Outcome::Fate::kReject;
        o.probability = f.prob;
        o.rules = f.rules;
        o.decisive = f.decisive;
        o.dnatTo = f.dnatTo;
        o.affinityNote = f.affinity;
        ev.outcomes.push_back(std::move(o));
        continue;
      }
      std::vector<std::pair<State, Flow>> post;
      w.runChain("nat", "POSTROUTING", f, 0, post);
      for (auto& [q, qflow] : post) {
        Outcome out;
        out.probability = q.prob;
        out.rules = q.rules;
        out.fate = q.dnat ? Outcome::Fate::kDnat : Outcome::Fate::kAccept;
        out.dnatTo = q.dnatTo;
        out.decisive = q.dnat ? f.decisive : nullptr;
        out.masquerade = q.masquerade;
        out.affinityNote = q.affinity;
        ev.outcomes.push_back(std::move(out));
      }
    }
  }
  return ev;
}

}  // namespace kproxy::trace
