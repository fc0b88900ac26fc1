#include "nftables/netlink_answers.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "nftables/ruleset.h"

namespace kproxy::nftables {

namespace {

// The kernel's extended-ack message of an error, if any.
std::string extackMessage(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  std::string msg;
  // With NETLINK_CAP_ACK the error carries the original header only, then the TLVs.
  mnl_attr_parse(
      nlh, sizeof(nlmsgerr),
      [](const nlattr* attr, void* data) -> int {
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
          *static_cast<std::string*>(data) = mnl_attr_get_str(attr);
        return MNL_CB_OK;
      },
      &msg);
  return msg;
}

// The attributes of an nf_tables message of `type`, by attribute type (up to `max`), each
// checked by libmnl to lie within the message. Our own walk rather than libnftnl's object
// parsers: those call exit() on an attribute of unexpected size ("ABI breakage").
template <size_t N>
bool attributes(const nlmsghdr* m, uint16_t type, const nlattr* (&out)[N]) {
  if (m->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | type)) return false;
  if (m->nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) return false;
  std::fill(std::begin(out), std::end(out), nullptr);
  int rc = mnl_attr_parse(
      m, sizeof(nfgenmsg),
      [](const nlattr* attr, void* data) -> int {
        auto* slots = static_cast<const nlattr**>(data);
        uint16_t t = mnl_attr_get_type(attr);
        if (t < N) slots[t] = attr;
        return MNL_CB_OK;
      },
      out);
  return rc >= 0;
}

std::optional<std::string> string(const nlattr* a) {
  if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) return std::nullopt;
  return std::string(mnl_attr_get_str(a));
}

std::optional<uint32_t> u32(const nlattr* a) {
  if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0) return std::nullopt;
  return ntohl(mnl_attr_get_u32(a));
}

}  // namespace

bool wellFormed(const void* buf, size_t len) {
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t at = 0;
  while (at < len) {
    if (len - at < sizeof(nlmsghdr)) return false;
    nlmsghdr h;
    std::memcpy(&h, p + at, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - at) return false;
    at += std::min<size_t>(MNL_ALIGN(h.nlmsg_len), len - at);
  }
  return true;
}

void readBatchAnswer(const void* buf, size_t len, const EncodedBatch& batch, const Transaction& tx,
                     BatchAnswer& answer) {
  readBatchAnswer(buf, len, batch, [&](uint32_t seq) { return batch.describe(tx, seq); }, answer);
}

void readBatchAnswer(const void* buf, size_t len, const EncodedBatch& batch,
                     const std::function<std::string(uint32_t seq)>& describe, BatchAnswer& answer) {
  if (!wellFormed(buf, len)) {
    if (answer.error.empty()) answer.error = "a malformed netlink answer (" + std::to_string(len) + " bytes)";
    answer.done = true;
    return;
  }
  int left = static_cast<int>(std::min<size_t>(len, INT_MAX));
  for (auto* nlh = static_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
    if (nlh->nlmsg_type != NLMSG_ERROR) continue;
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) continue;  // too short to be an ack
    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    uint32_t seq = err->msg.nlmsg_seq;
    if (err->error != 0 && answer.error.empty()) {
      int code = err->error == INT_MIN ? EINVAL : -err->error;
      if (seq == batch.beginSeq && code == ERESTART) {
        answer.generationChanged = true;
        answer.error = "the ruleset changed since it was last read (generation mismatch)";
      } else {
        std::string ext = extackMessage(nlh);
        answer.error = describe(seq) + ": " + std::strerror(code) + (ext.empty() ? "" : " (" + ext + ")");
      }
    }
    if (seq == batch.lastSeq || (seq == batch.beginSeq && err->error != 0)) answer.done = true;
  }
}

std::optional<uint32_t> generationOf(const nlmsghdr* m) {
  const nlattr* a[NFTA_GEN_MAX + 1];
  if (!attributes(m, NFT_MSG_NEWGEN, a)) return std::nullopt;
  return u32(a[NFTA_GEN_ID]);
}

std::optional<std::string> listedChain(const nlmsghdr* m) {
  const nlattr* a[NFTA_CHAIN_MAX + 1];
  if (!attributes(m, NFT_MSG_NEWCHAIN, a) || string(a[NFTA_CHAIN_TABLE]) != kTableName) return std::nullopt;
  auto name = string(a[NFTA_CHAIN_NAME]);
  if (!name || name->empty()) return std::nullopt;
  return name;
}

std::optional<std::string> listedSet(const nlmsghdr* m) {
  const nlattr* a[NFTA_SET_MAX + 1];
  if (!attributes(m, NFT_MSG_NEWSET, a) || string(a[NFTA_SET_TABLE]) != kTableName) return std::nullopt;
  if (u32(a[NFTA_SET_FLAGS]).value_or(0) & NFT_SET_ANONYMOUS) return std::nullopt;
  auto name = string(a[NFTA_SET_NAME]);
  if (!name || name->empty()) return std::nullopt;
  return name;
}

}  // namespace kproxy::nftables
