#include "tests/fakes/fake_nft.h"

#include <sstream>

#include "nftables/netlink_codec.h"

namespace kproxy::fakes {

using namespace nftables;

std::string FakeNft::apply(Table& t, IPFamily f, const Op& op) {
  auto chainUsers = [&](const std::string& name) {
    size_t n = 0;
    for (const auto& [cn, c] : t.chains) n += c.usesChains.count(name);
    for (const auto& [sn, s] : t.sets)
      for (const auto& [k, v] : s.elements)
        if (v == "goto " + name || v == "jump " + name) ++n;
    return n;
  };
  switch (op.kind) {
    case Op::Kind::kAddTable: t.exists = true; return "";
    case Op::Kind::kDeleteTable:
      if (!t.exists) return "No such file or directory";
      t = Table{};
      return "";
    default: break;
  }
  if (!t.exists) return "No such file or directory (no table)";
  switch (op.kind) {
    case Op::Kind::kAddChain: t.chains[op.name].base = op.chain && op.chain->base.has_value(); return "";
    case Op::Kind::kFlushChain: {
      auto it = t.chains.find(op.name);
      if (it == t.chains.end()) return "No such file or directory";
      it->second.rules.clear();
      it->second.usesChains.clear();
      it->second.usesSets.clear();
      return "";
    }
    case Op::Kind::kDeleteChain: {
      auto it = t.chains.find(op.name);
      if (it == t.chains.end()) return "No such file or directory";
      if (!it->second.rules.empty() || chainUsers(op.name)) return "Device or resource busy";
      t.chains.erase(it);
      return "";
    }
    case Op::Kind::kAddRule: {
      auto it = t.chains.find(op.name);
      if (it == t.chains.end()) return "No such file or directory (chain)";
      FakeChain added;
      for (const auto& s : op.rule->stmts) {
        if (s.kind == Stmt::Kind::kVerdict && !s.verdict.chain.empty()) added.usesChains.insert(s.verdict.chain);
        for (const auto& c : s.chains) added.usesChains.insert(c);
        if (!s.name.empty()) added.usesSets.insert(s.name);
      }
      for (const auto& c : added.usesChains) {
        auto target = t.chains.find(c);
        if (target == t.chains.end()) return "No such file or directory (target chain " + c + ")";
        if (target->second.base) return "Operation not supported (jump to a base chain)";
      }
      for (const auto& s : added.usesSets)
        if (!t.sets.count(s)) return "No such file or directory (set " + s + ")";
      it->second.rules.push_back(ruleText(f, *op.rule));
      it->second.usesChains.insert(added.usesChains.begin(), added.usesChains.end());
      it->second.usesSets.insert(added.usesSets.begin(), added.usesSets.end());
      return "";
    }
    case Op::Kind::kAddSet: {
      auto it = t.sets.find(op.name);
      if (it != t.sets.end()) {
        const Set& have = it->second.def;
        if (have.key != op.set->key || have.verdictMap != op.set->verdictMap || have.timeout != op.set->timeout)
          return "File exists (a set of another type)";
        return "";
      }
      t.sets[op.name].def = *op.set;
      return "";
    }
    case Op::Kind::kFlushSet: {
      auto it = t.sets.find(op.name);
      if (it == t.sets.end()) return "No such file or directory";
      it->second.elements.clear();
      return "";
    }
    case Op::Kind::kDeleteSet: {
      auto it = t.sets.find(op.name);
      if (it == t.sets.end()) return "No such file or directory";
      for (const auto& [cn, c] : t.chains)
        if (c.usesSets.count(op.name)) return "Device or resource busy";
      t.sets.erase(it);
      return "";
    }
    case Op::Kind::kAddElements:
    case Op::Kind::kDeleteElements: {
      auto it = t.sets.find(op.name);
      if (it == t.sets.end()) return "No such file or directory (set)";
      for (const Element* e : op.elements) {
        std::string key = keyText(it->second.def, e->key);
        if (op.kind == Op::Kind::kDeleteElements) {
          if (!it->second.elements.erase(key)) return "No such file or directory (element " + key + ")";
          continue;
        }
        std::string value = elementValueText(it->second.def, *e);
        if (!e->value.chain.empty()) {
          auto target = t.chains.find(e->value.chain);
          if (target == t.chains.end()) return "No such file or directory (verdict chain " + e->value.chain + ")";
          if (target->second.base) return "Operation not supported";
        }
        auto [el, fresh] = it->second.elements.emplace(key, value);
        if (!fresh && el->second != value) return "File exists (element " + key + ")";
      }
      return "";
    }
    default: return "";
  }
}

CommitResult FakeNft::commit(const Transaction& tx) {
  CommitResult r;
  if (tx.empty()) {
    r.ok = true;
    return r;
  }
  ++commits;
  lastOps = tx.ops.size();
  lastKinds.clear();
  for (const auto& op : tx.ops) lastKinds.push_back({op.kind, op.name});
  if (tx.generation && *tx.generation != generation_) {
    r.generationChanged = true;
    r.error = "generation mismatch";
    return r;
  }
  if (!failNext_.empty()) {
    r.error = failNext_;
    failNext_.clear();
    return r;
  }
  Table copy = tables_[tx.family];
  for (const auto& op : tx.ops) {
    std::string err = apply(copy, tx.family, op);
    if (!err.empty()) {
      r.error = describeOp(tx.family, op) + ": " + err;
      return r;
    }
  }
  tables_[tx.family] = std::move(copy);
  ++generation_;
  r.ok = true;
  return r;
}

Result<TableListing> FakeNft::list(IPFamily family) {
  TableListing l;
  l.generation = generation_;
  auto it = tables_.find(family);
  if (it == tables_.end() || !it->second.exists) return l;
  l.exists = true;
  for (const auto& [n, c] : it->second.chains) l.chains.push_back(n);
  for (const auto& [n, s] : it->second.sets) l.sets.push_back(n);
  return l;
}

std::string FakeNft::dump(IPFamily family, bool skipEmptyChains) const {
  auto it = tables_.find(family);
  if (it == tables_.end() || !it->second.exists) return "(no table)\n";
  std::ostringstream out;
  for (const auto& [n, c] : it->second.chains) {
    if (skipEmptyChains && !c.base && c.rules.empty()) continue;
    out << "chain " << n << (c.base ? " (base)" : "") << "\n";
    for (const auto& r : c.rules) out << "  " << r << "\n";
  }
  for (const auto& [n, s] : it->second.sets) {
    out << (s.def.verdictMap || s.def.endpointMap ? "map " : "set ") << n << "\n";
    for (const auto& [k, v] : s.elements) out << "  " << k << (v.empty() ? "" : " : " + v) << "\n";
  }
  return out.str();
}

}  // namespace kproxy::fakes
