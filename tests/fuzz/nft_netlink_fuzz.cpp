// What the kernel answers on the nf_tables socket: batch acks and errors, generation, chain and
// set dumps, as nftables mode's client reads them.
#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "nftables/netlink_answers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy::nftables;
  // Netlink buffers are aligned; the socket's are.
  std::vector<uint64_t> aligned((size + 7) / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  const void* buf = aligned.data();

  static const Transaction tx = [] {
    Transaction t;
    t.family = IPFamily::kIPv4;
    t.addTable("fuzz");
    t.deleteTable();
    return t;
  }();
  static const EncodedBatch batch = encodeTransaction(tx, 100);
  BatchAnswer answer;
  readBatchAnswer(buf, size, batch, tx, answer);

  if (!wellFormed(buf, size)) return 0;  // as the client does before walking a buffer
  int left = static_cast<int>(size);
  for (auto* m = static_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
    (void)generationOf(m);
    (void)listedChain(m);
    (void)listedSet(m);
  }
  return 0;
}
