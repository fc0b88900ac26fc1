#include "tests/golden/golden_support.h"

#include "dataplane/ip.h"
#include "watch/decode.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace kproxy::testing {

std::vector<std::string> splitRuleWords(const std::string& line) {
  std::vector<std::string> words;
  std::string cur;
  bool inQuote = false, have = false;
  for (char c : line) {
    if (c == '"') {
      inQuote = !inQuote;
      cur += c;
      have = true;
    } else if (c == ' ' && !inQuote) {
      if (have) words.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) words.push_back(cur);
  return words;
}

std::string RestoreRule::option(const std::string& flag) const {
  for (size_t i = 0; i + 1 < words.size(); ++i)
    if (words[i] == flag) return words[i + 1];
  return {};
}
std::string RestoreRule::target() const { return option("-j"); }
bool RestoreRule::has(const std::string& word) const {
  for (const auto& w : words)
    if (w == word) return true;
  return false;
}

std::map<std::string, RestoreTable> parseRestore(const std::string& text) {
  std::map<std::string, RestoreTable> tables;
  RestoreTable* cur = nullptr;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      cur = &tables[line.substr(1)];
    } else if (line == "COMMIT") {
      cur = nullptr;
    } else if (cur && line[0] == ':') {
      cur->chains.push_back(line.substr(1, line.find(' ') - 1));
    } else if (cur && line.rfind("-X ", 0) == 0) {
      cur->deleted.push_back(line.substr(3));
    } else if (cur && line.rfind("-A ", 0) == 0) {
      auto words = splitRuleWords(line);
      RestoreRule r;
      r.chain = words.size() > 1 ? words[1] : "";
      r.words.assign(words.begin() + std::min<size_t>(2, words.size()), words.end());
      cur->rules.push_back(std::move(r));
    }
  }
  return tables;
}

std::vector<std::string> checkInvariants(const std::string& text) {
  static const std::set<std::string> kTargets = {"ACCEPT", "DROP", "RETURN", "REJECT", "DNAT",
                                                 "SNAT",   "MASQUERADE", "MARK"};
  static const std::set<std::string> kBuiltinChains = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
  std::vector<std::string> bad;
  auto tables = parseRestore(text);
  if (!tables.count("filter") || !tables.count("nat")) bad.push_back("missing *filter or *nat table");

  for (const auto& [tname, table] : tables) {
    std::set<std::string> declared(table.chains.begin(), table.chains.end());
    for (const auto& c : table.chains)
      if (c.size() > 28) bad.push_back(tname + ": chain name longer than 28: " + c);
    std::set<std::string> deleted(table.deleted.begin(), table.deleted.end());
    std::map<std::string, bool> sepHasDnat;
    for (const auto& c : table.chains)
      if (c.rfind("KUBE-SEP-", 0) == 0 && !deleted.count(c)) sepHasDnat[c] = false;

    std::map<std::string, std::vector<const RestoreRule*>> byChain;
    for (const auto& r : table.rules) {
      if (!declared.count(r.chain) && !kBuiltinChains.count(r.chain))
        bad.push_back(tname + ": rule in undeclared chain " + r.chain);
      if (deleted.count(r.chain)) bad.push_back(tname + ": rule in deleted chain " + r.chain);
      std::string t = r.target();
      if (!t.empty() && !kTargets.count(t) && (!declared.count(t) || deleted.count(t)))
        bad.push_back(tname + ": " + r.chain + " jumps to undefined chain " + t);
      if (t == "DNAT" && sepHasDnat.count(r.chain)) sepHasDnat[r.chain] = true;
      byChain[r.chain].push_back(&r);
    }
    for (const auto& [sep, ok] : sepHasDnat)
      if (!ok) bad.push_back(tname + ": " + sep + " has no DNAT rule");

    for (const auto& [chain, rules] : byChain) {
      if (chain.rfind("KUBE-SVC-", 0) != 0 && chain.rfind("KUBE-SVL-", 0) != 0) continue;
      // Walk the random-balancing rules: each is reached with what the earlier ones left over.
      double remaining = 1.0;
      std::vector<std::pair<std::string, double>> shares;
      for (const auto* r : rules) {
        std::string t = r->target();
        if (t.rfind("KUBE-SEP-", 0) != 0 || r->has("--rcheck")) continue;
        std::string p = r->option("--probability");
        double prob = p.empty() ? 1.0 : std::stod(p);
        shares.emplace_back(t, remaining * prob);
        remaining -= remaining * prob;
      }
      if (shares.empty()) continue;
      if (std::fabs(remaining) > 1e-9) bad.push_back(chain + ": " + std::to_string(remaining) + " of traffic selects no endpoint");
      double want = 1.0 / static_cast<double>(shares.size());
      for (const auto& [sep, share] : shares)
        if (std::fabs(share - want) > 1e-6)
          bad.push_back(chain + ": " + sep + " gets " + std::to_string(share) + ", want " + std::to_string(want));
    }
  }
  return bad;
}

std::vector<std::string> checkNftInvariants(const nftables::Table& t) {
  using nftables::Stmt;
  using nftables::Verdict;
  std::vector<std::string> out;
  std::map<std::string, const nftables::Chain*> chains;
  std::map<std::string, const nftables::Set*> sets;
  for (const auto& c : t.chains) {
    if (!chains.emplace(c.name, &c).second) out.push_back("chain " + c.name + " defined twice");
    if (c.name.size() > 256) out.push_back("chain name longer than 256: " + c.name);
  }
  for (const auto& s : t.sets) {
    if (!sets.emplace(s.name, &s).second) out.push_back("set " + s.name + " defined twice");
    if (s.name.size() > 256) out.push_back("set name longer than 256: " + s.name);
  }
  auto target = [&](const std::string& where, const Verdict& v) {
    if ((v.kind == Verdict::Kind::kJump || v.kind == Verdict::Kind::kGoto) && !chains.count(v.chain))
      out.push_back(where + " targets undefined chain " + v.chain);
  };
  enum class Want { kSet, kVerdictMap, kEndpointMap };
  auto set = [&](const std::string& where, const std::string& name, Want want) {
    auto it = sets.find(name);
    if (it == sets.end()) {
      out.push_back(where + " uses undefined set @" + name);
      return;
    }
    Want is = it->second->verdictMap ? Want::kVerdictMap : it->second->endpointMap ? Want::kEndpointMap : Want::kSet;
    if (is != want) out.push_back(where + " uses @" + name + " as the wrong kind");
  };
  for (const auto& c : t.chains)
    for (const auto& r : c.rules) {
      std::string where = "rule in " + c.name;
      for (const auto& s : r.stmts) {
        switch (s.kind) {
          case Stmt::Kind::kVerdict: target(where, s.verdict); break;
          case Stmt::Kind::kVmapRandom:
            for (const auto& ch : s.chains) target(where, Verdict::go(ch));
            break;
          case Stmt::Kind::kAddrInSet:
          case Stmt::Kind::kAddrPairInSet:
          case Stmt::Kind::kUpdateSaddr: set(where, s.name, Want::kSet); break;
          case Stmt::Kind::kVmapAddrProtoPort:
          case Stmt::Kind::kVmapProtoPort: set(where, s.name, Want::kVerdictMap); break;
          case Stmt::Kind::kDnatKeyed: {
            set(where, s.name, Want::kEndpointMap);
            if (c.name.substr(c.name.rfind('-') + 1) != std::to_string(s.modulus))
              out.push_back(where + ": picks among " + std::to_string(s.modulus) + " but is named " + c.name);
            break;
          }
          default: break;
        }
      }
    }
  std::set<std::pair<std::string, std::string>> keys;
  // Endpoint maps: each destination's indices are 0..N-1, each once, to distinct endpoints, and
  // N is the count of a dnat-N chain that exists (so every index is equally likely).
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<uint32_t, std::string>>> picks;
  for (const auto& e : t.elements) {
    auto it = sets.find(e.set);
    if (it == sets.end() || !it->second->endpointMap) continue;
    nftables::ElementKey dest = e.key;
    dest.index = 0;
    picks[{e.set, nftables::keyText(*it->second, dest)}].push_back({e.key.index, e.target.ip.str() + ":" + std::to_string(e.target.port)});
  }
  for (auto& [dest, list] : picks) {
    std::sort(list.begin(), list.end());
    std::set<std::string> targets;
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].first != i) out.push_back(dest.first + " " + dest.second + ": indices are not 0.." + std::to_string(list.size() - 1));
      targets.insert(list[i].second);
    }
    if (targets.size() != list.size()) out.push_back(dest.first + " " + dest.second + ": an endpoint appears twice");
    bool local = dest.first.find("local") != std::string::npos;
    if (!chains.count(std::string(local ? "dnat-local-" : "dnat-") + std::to_string(list.size())))
      out.push_back(dest.first + " " + dest.second + ": no dnat chain picks among " + std::to_string(list.size()));
  }
  for (const auto& e : t.elements) {
    auto it = sets.find(e.set);
    if (it == sets.end()) {
      out.push_back("element of undefined set " + e.set);
      continue;
    }
    std::string key = nftables::keyText(*it->second, e.key);
    if (!keys.insert({e.set, key}).second) out.push_back("element " + key + " twice in " + e.set);
    if (it->second->verdictMap) {
      target("element " + key + " of " + e.set, e.value);
      auto c = chains.find(e.value.chain);
      if (c != chains.end() && c->second->rules.empty()) out.push_back("element " + key + " leads to empty chain " + e.value.chain);
    }
  }
  return out;
}

GoldenCase loadGoldenCase(const std::string& dir) {
  std::ifstream in(dir + "/input.json");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json input = nlohmann::json::parse(ss.str());
  const nlohmann::json& o = input.at("options");
  GoldenCase c;
  c.opts.family = o.value("family", 4) == 6 ? model::IPFamily::kIPv6 : model::IPFamily::kIPv4;
  for (const auto& s : o.value("clusterCIDRs", std::vector<std::string>{})) c.opts.clusterCIDRs.push_back(*net::parseCidr(s));
  for (const auto& s : o.value("nodePortAddresses", std::vector<std::string>{}))
    c.opts.nodePortAddresses.push_back(*net::parseCidr(s));
  c.opts.nodeIPs = o.value("nodeIPs", std::vector<std::string>{});
  c.opts.masqueradeAll = o.value("masqueradeAll", false);
  c.opts.localhostNodePorts = o.value("localhostNodePorts", true);
  watch::Objects objects;
  for (const auto& item : input.at("items")) watch::decodeObject(item, dir, objects);
  for (const auto& e : objects.errors) c.decodeErrors.push_back(e.str());
  for (const auto& sc : objects.serviceCIDRs)
    for (const auto& text : sc.cidrs)
      if (auto cidr = net::parseCidr(text); cidr && cidr->network.family == c.opts.family) c.opts.serviceCIDRs.push_back(*cidr);
  dataplane::NodeContext node;
  node.nodeName = o.value("node", "node1");
  for (const auto& n : objects.nodes)
    if (n.meta.name == node.nodeName) node.nodeLabels = n.meta.labels;
  c.state = dataplane::buildDesiredState(objects.services, objects.slices, node, c.opts.family);
  return c;
}

}  // namespace kproxy::testing
