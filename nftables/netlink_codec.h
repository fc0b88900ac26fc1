// Encodes a Transaction as nf_tables netlink messages (libnftnl), apart from sending them: one
// batch, BATCH_BEGIN (with the generation id when the transaction has one), the messages, and
// BATCH_END. Expressions are laid out as nft lays them out for the same text, so `nft list`
// shows objects kproxy created exactly as if nft had loaded the text form.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nftables/transaction.h"

namespace kproxy::nftables {

struct EncodedBatch {
  // The messages in order, in pieces of at most kBatchChunkBytes (a message never spans two; one
  // larger than that is a piece of its own). Sent as one sendmsg with a piece per iovec: the
  // whole batch is never copied into one growing buffer (at 10,000 Services that buffer's
  // doublings cost 30 MB of peak memory above the batch's 16 MB).
  std::vector<std::string> chunks;
  size_t size() const;
  std::string contiguous() const;  // the pieces joined (tests and tools)
  uint32_t beginSeq = 0;  // BATCH_BEGIN (a generation mismatch is reported against it)
  uint32_t lastSeq = 0;   // the last message before BATCH_END; it asks for an ACK
  uint32_t endSeq = 0;    // BATCH_END
  size_t messages = 0;    // between begin and end
  // Which op (index in the transaction) each message belongs to, by seq - beginSeq - 1.
  std::vector<uint32_t> opOfMessage;

  // "add rule to chain service-X: meta l4proto tcp dnat to 10.0.0.1:80" for the message `seq`.
  std::string describe(const Transaction& tx, uint32_t seq) const;
};

inline constexpr size_t kBatchChunkBytes = 1u << 20;

// Elements per NEWSETELEM/DELSETELEM message.
inline constexpr size_t kElementsPerMessage = 512;

EncodedBatch encodeTransaction(const Transaction& tx, uint32_t firstSeq);

// The same, for a transaction too large to hold as objects (a full sync): each op is encoded as it
// is added, so the objects it points to need only live until add() returns. What an error is
// reported against is kept per op: the whole description for set and element ops (they are
// few), compactly for the others: kind, chain name, a rule's position among the chain's rules
// added one after the other ("add rule 2 of chain service-X").
class BatchWriter {
 public:
  BatchWriter(IPFamily family, std::optional<uint32_t> generation, uint32_t firstSeq);
  ~BatchWriter();
  void add(const Op& op);
  EncodedBatch finish();
  // The op of message `seq` of the finished `batch`, for the kernel's error.
  std::string describe(const EncodedBatch& batch, uint32_t seq) const;

 private:
  struct Note {
    Op::Kind kind;
    uint32_t name;      // index into the names
    uint32_t position;  // rules: which of its chain's, from 0
    uint32_t detail;    // set and element ops: index of their description
  };
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Text of one op for logs and errors.
std::string describeOp(IPFamily family, const Op& op);

}  // namespace kproxy::nftables
