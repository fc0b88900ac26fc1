// The nf_tables kernel client: commits a transaction as one netlink batch, lists our table,
// reads the ruleset generation. No diff logic; the seam the backend's fake replaces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "dataplane/status.h"
#include "nftables/transaction.h"

namespace kproxy::nftables {
struct EncodedBatch;
}

struct mnl_socket;

namespace kproxy::nftables {

struct CommitResult {
  bool ok = false;
  // The kernel refused the batch because the ruleset's generation was not tx.generation:
  // another program changed nf_tables since we last looked. Nothing was applied.
  bool generationChanged = false;
  std::string error;  // the first failing message, the object it changes and the kernel's words
  size_t bytes = 0, messages = 0;
};

// One transaction given an op at a time (a full sync, too large to hold as objects): each op's
// objects need only live until add() returns. commit() applies all of it or nothing.
class TxStream {
 public:
  virtual ~TxStream() = default;
  virtual void add(const Op& op) = 0;
  virtual CommitResult commit() = 0;
};

class NftClient {
 public:
  virtual ~NftClient() = default;
  // All of `tx` or nothing. Safe to call with an empty transaction (does nothing).
  virtual CommitResult commit(const Transaction& tx) = 0;
  // A transaction streamed op by op. This one keeps copies of the ops' objects and commits them
  // as one Transaction (fakes and tools); the kernel client encodes each op as it comes.
  virtual std::unique_ptr<TxStream> begin(IPFamily family, std::optional<uint32_t> generation);
  // Our table in `family` (exists=false when it does not), with the generation it was read at.
  virtual Result<TableListing> list(IPFamily family) = 0;
  virtual Result<uint32_t> generation() = 0;
};
using NftClientPtr = std::unique_ptr<NftClient>;

class NetlinkNftClient : public NftClient {
 public:
  NetlinkNftClient();
  ~NetlinkNftClient() override;
  CommitResult commit(const Transaction& tx) override;
  std::unique_ptr<TxStream> begin(IPFamily family, std::optional<uint32_t> generation) override;
  Result<TableListing> list(IPFamily family) override;
  Result<uint32_t> generation() override;

 private:
  Status open();
  // Sends an encoded batch and reads the kernel's answers; `describe` names a failing message.
  CommitResult send(EncodedBatch& batch, const std::function<std::string(uint32_t seq)>& describe);
  uint32_t nextSeq(uint32_t count) {
    uint32_t s = seq_;
    seq_ += count;
    return s;
  }

  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 1;
  size_t sndbuf_ = 0;
};

}  // namespace kproxy::nftables
