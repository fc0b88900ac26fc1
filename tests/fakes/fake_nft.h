// A stateful in-memory nf_tables for the nftables backend's unit tests: applies a
// transaction's ops to a model of our table, all or nothing, and refuses what the kernel refuses
// (rules, elements or verdicts naming missing chains or sets, conflicting element values,
// deleting a chain or set still in use), with a generation counter that another program can bump.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "nftables/netlink_client.h"

namespace kproxy::fakes {

class FakeNft : public nftables::NftClient {
 public:
  nftables::CommitResult commit(const nftables::Transaction& tx) override;
  Result<nftables::TableListing> list(nftables::IPFamily family) override;
  Result<uint32_t> generation() override { return generation_; }

  void bumpGeneration() { ++generation_; }  // another program wrote to nf_tables
  void failNextCommit(std::string why) { failNext_ = std::move(why); }
  // Every chain (with its rules) and set (with its elements) of the family's table, sorted;
  // empty non-base chains left out when `skipEmptyChains`.
  std::string dump(nftables::IPFamily family, bool skipEmptyChains = false) const;

  size_t commits = 0;
  size_t lastOps = 0;                          // ops in the last commit
  std::vector<std::pair<nftables::Op::Kind, std::string>> lastKinds;  // their kinds and names

 private:
  struct FakeChain {
    bool base = false;
    std::vector<std::string> rules;          // rule text
    std::multiset<std::string> usesChains;   // chains its rules jump or go to
    std::multiset<std::string> usesSets;
  };
  struct FakeSet {
    nftables::Set def;
    std::map<std::string, std::string> elements;  // key text -> verdict text
  };
  struct Table {
    bool exists = false;
    std::map<std::string, FakeChain> chains;
    std::map<std::string, FakeSet> sets;
  };
  // Applies one op; an errno-style message when the kernel would refuse it.
  std::string apply(Table& t, nftables::IPFamily f, const nftables::Op& op);

  std::map<nftables::IPFamily, Table> tables_;
  uint32_t generation_ = 1;
  std::string failNext_;
};

}  // namespace kproxy::fakes
