// One nf_tables transaction as a list of operations on kproxy's objects: what the backend
// decides, before anything is encoded or sent. The kernel applies it all or nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nftables/ruleset.h"

namespace kproxy::nftables {

struct Op {
  enum class Kind {
    kAddTable,        // create the table if missing (comment)
    kDeleteTable,
    kAddChain,        // create the chain if missing (hook from chain->base)
    kFlushChain,      // delete every rule of `name`
    kDeleteChain,     // `name`, which must be empty and unreferenced
    kAddRule,         // append rule to `name`
    kAddSet,          // create the set or map if missing
    kFlushSet,        // delete every element of `name`
    kDeleteSet,       // `name`
    kAddElements,     // add `elements` to `set`
    kDeleteElements,  // delete `elements` (by key) from `set`
  };
  Kind kind;
  std::string name;  // chain or set the op is about
  // The objects the op uses. Not owned: they must outlive the commit of the transaction.
  const Chain* chain = nullptr;
  const Rule* rule = nullptr;
  const Set* set = nullptr;
  std::vector<const Element*> elements;
  std::string comment;  // kAddTable
};

struct Transaction {
  IPFamily family = IPFamily::kIPv4;
  // When set, the kernel refuses the whole transaction if the ruleset's generation differs:
  // someone else changed nf_tables since we last looked.
  std::optional<uint32_t> generation;
  std::vector<Op> ops;

  bool empty() const { return ops.empty(); }
  void addTable(std::string comment) { ops.push_back({Op::Kind::kAddTable, kTableName, {}, {}, {}, {}, std::move(comment)}); }
  void deleteTable() { ops.push_back({Op::Kind::kDeleteTable, kTableName, {}, {}, {}, {}, {}}); }
  void addChain(const Chain& c) { ops.push_back({Op::Kind::kAddChain, c.name, &c, {}, {}, {}, {}}); }
  void flushChain(std::string n) { ops.push_back({Op::Kind::kFlushChain, std::move(n), {}, {}, {}, {}, {}}); }
  void deleteChain(std::string n) { ops.push_back({Op::Kind::kDeleteChain, std::move(n), {}, {}, {}, {}, {}}); }
  void addRule(const std::string& chain, const Rule& r) { ops.push_back({Op::Kind::kAddRule, chain, {}, &r, {}, {}, {}}); }
  void addSet(const Set& s) { ops.push_back({Op::Kind::kAddSet, s.name, {}, {}, &s, {}, {}}); }
  void flushSet(const Set& s) { ops.push_back({Op::Kind::kFlushSet, s.name, {}, {}, &s, {}, {}}); }
  void deleteSet(std::string n) { ops.push_back({Op::Kind::kDeleteSet, std::move(n), {}, {}, {}, {}, {}}); }
  void addElements(const Set& s, std::vector<const Element*> es) {
    if (!es.empty()) ops.push_back({Op::Kind::kAddElements, s.name, {}, {}, &s, std::move(es), {}});
  }
  void deleteElements(const Set& s, std::vector<const Element*> es) {
    if (!es.empty()) ops.push_back({Op::Kind::kDeleteElements, s.name, {}, {}, &s, std::move(es), {}});
  }
};

// The same operations as an `nft -f` script (one command per op; elements grouped per op):
// what the nft tool would be given to do this transaction. For benchmarks and debugging.
std::string toScript(const Transaction& tx);

// What the kernel holds of our table, as a dump lists it.
struct TableListing {
  bool exists = false;
  std::vector<std::string> chains;
  std::vector<std::string> sets;  // named sets and maps (anonymous ones are the kernel's)
  uint32_t generation = 0;        // of the ruleset when listed
};

}  // namespace kproxy::nftables
