// The kernel's nf_tables answers, read apart from the socket (so they can be tested and fuzzed
// on bytes): a batch's acks and errors, and the parts of GETGEN/GETCHAIN/GETSET dumps we use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "nftables/netlink_codec.h"

struct nlmsghdr;

namespace kproxy::nftables {

// Whether every message header of a received buffer lies within it, the last one ending at its
// end. libmnl's own check casts the length to int, so a length over 2 GiB passes it and the walk
// jumps out of the buffer: check with this before handing a buffer to libmnl.
bool wellFormed(const void* buf, size_t len);

// What the kernel said about a batch so far; fed one received buffer at a time.
struct BatchAnswer {
  bool done = false;               // the last message's ack, or an error on BATCH_BEGIN, arrived
  bool generationChanged = false;  // ERESTART on BATCH_BEGIN: the generation check failed
  std::string error;               // the first error: the op it belongs to and the kernel's words
};
void readBatchAnswer(const void* buf, size_t len, const EncodedBatch& batch, const Transaction& tx,
                     BatchAnswer& answer);
// The same with the op of a message told by `describe(seq)` (a streamed transaction's).
void readBatchAnswer(const void* buf, size_t len, const EncodedBatch& batch,
                     const std::function<std::string(uint32_t seq)>& describe, BatchAnswer& answer);

// One message of a dump: the generation id; the name of a chain, or of a named (not anonymous)
// set or map, of table kube-proxy. nullopt for anything else, malformed messages included.
std::optional<uint32_t> generationOf(const nlmsghdr* m);
std::optional<std::string> listedChain(const nlmsghdr* m);
std::optional<std::string> listedSet(const nlmsghdr* m);

}  // namespace kproxy::nftables
