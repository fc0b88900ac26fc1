#include "nftables/netlink_codec.h"

#include <net/if.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>

namespace kproxy::nftables {

namespace {

// nft's datatype ids (what `nft list` needs to print keys and data by type).
constexpr uint32_t kTypeInteger = 4, kTypeIPv4 = 7, kTypeIPv6 = 8, kTypeInetProto = 12, kTypeInetService = 13;
constexpr uint32_t concatType(uint32_t a, uint32_t b) { return (a << 6) | b; }

// Registers: fields sit in consecutive 32-bit slots; nft names slot k by the 128-bit register
// 1 + k/4 when k is a multiple of 4, else the 32-bit register 8 + k (the same storage).
uint32_t regOfSlot(uint32_t slot) { return slot % 4 == 0 ? NFT_REG_1 + slot / 4 : NFT_REG32_00 + slot; }
uint32_t slotsOf(uint32_t bytes) { return (bytes + 3) / 4; }

uint32_t addrLen(IPFamily f) { return f == IPFamily::kIPv4 ? 4 : 16; }
uint32_t addrType(IPFamily f) { return f == IPFamily::kIPv4 ? kTypeIPv4 : kTypeIPv6; }
uint8_t nfproto(IPFamily f) { return f == IPFamily::kIPv4 ? NFPROTO_IPV4 : NFPROTO_IPV6; }
uint32_t saddrOffset(IPFamily f) { return f == IPFamily::kIPv4 ? 12 : 8; }
uint32_t daddrOffset(IPFamily f) { return f == IPFamily::kIPv4 ? 16 : 24; }

uint8_t ipproto(Protocol p) {
  switch (p) {
    case Protocol::kTCP: return IPPROTO_TCP;
    case Protocol::kUDP: return IPPROTO_UDP;
    case Protocol::kSCTP: return IPPROTO_SCTP;
  }
  return IPPROTO_TCP;
}

using ExprPtr = nftnl_expr*;

ExprPtr expr(const char* name) { return nftnl_expr_alloc(name); }

void payload(nftnl_rule* r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
  ExprPtr e = expr("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
  nftnl_rule_add_expr(r, e);
}

void cmp(nftnl_rule* r, uint32_t sreg, uint32_t op, const void* data, uint32_t len) {
  ExprPtr e = expr("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  nftnl_rule_add_expr(r, e);
}

void cmpU32(nftnl_rule* r, uint32_t op, uint32_t hostValue) { cmp(r, NFT_REG_1, op, &hostValue, 4); }

void meta(nftnl_rule* r, uint32_t key, uint32_t dreg) {
  ExprPtr e = expr("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
  nftnl_rule_add_expr(r, e);
}

void metaSet(nftnl_rule* r, uint32_t key, uint32_t sreg) {
  ExprPtr e = expr("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
  nftnl_rule_add_expr(r, e);
}

void bitwise(nftnl_rule* r, uint32_t len, const void* mask, const void* xorv) {
  ExprPtr e = expr("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xorv, len);
  nftnl_rule_add_expr(r, e);
}

void bitwiseU32(nftnl_rule* r, uint32_t mask, uint32_t xorv) { bitwise(r, 4, &mask, &xorv); }

void ct(nftnl_rule* r, uint32_t key) {
  ExprPtr e = expr("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r, e);
}

void lookup(nftnl_rule* r, uint32_t sreg, const std::string& set, uint32_t setId, std::optional<uint32_t> dreg) {
  ExprPtr e = expr("lookup");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
  if (setId) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, setId);
  if (dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
  nftnl_rule_add_expr(r, e);
}

void verdict(nftnl_rule* r, const Verdict& v) {
  ExprPtr e = expr("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  int code = NF_ACCEPT;
  switch (v.kind) {
    case Verdict::Kind::kNone:
    case Verdict::Kind::kAccept: code = NF_ACCEPT; break;
    case Verdict::Kind::kDrop: code = NF_DROP; break;
    case Verdict::Kind::kReturn: code = NFT_RETURN; break;
    case Verdict::Kind::kJump: code = NFT_JUMP; break;
    case Verdict::Kind::kGoto: code = NFT_GOTO; break;
  }
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code));
  if (!v.chain.empty()) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, v.chain.c_str());
  nftnl_rule_add_expr(r, e);
}

void immediateData(nftnl_rule* r, uint32_t dreg, const void* data, uint32_t len) {
  ExprPtr e = expr("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
  nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
  nftnl_rule_add_expr(r, e);
}

void numgen(nftnl_rule* r, uint32_t modulus, uint32_t dreg = NFT_REG_1) {
  ExprPtr e = expr("numgen");
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, modulus);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
  nftnl_rule_add_expr(r, e);
}

void dnatExpr(nftnl_rule* r, IPFamily f, uint32_t addrReg, uint32_t protoReg, bool protoSpecified) {
  ExprPtr e = expr("nat");
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, nfproto(f));
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, addrReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, protoReg);
  if (protoSpecified) nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
  nftnl_rule_add_expr(r, e);
}

// Bytes of keys and data as the kernel stores them: each field of a concatenation padded to 4.
void putAddr(std::string& out, const net::IPAddress& ip) {
  out.append(reinterpret_cast<const char*>(ip.bytes.data()), ip.family == IPFamily::kIPv4 ? 4 : 16);
}
void putProto(std::string& out, Protocol p) { out += static_cast<char>(ipproto(p)), out.append(3, '\0'); }
void putPort(std::string& out, uint16_t port) {
  out += static_cast<char>(port >> 8), out += static_cast<char>(port & 0xff), out.append(2, '\0');
}

void putIndex(std::string& out, uint32_t i) { out.append(reinterpret_cast<const char*>(&i), 4); }  // numgen: host order

std::string keyBytes(const Set& s, const ElementKey& k) {
  std::string out;
  switch (s.key) {
    case KeyType::kAddr: putAddr(out, k.a); break;
    case KeyType::kAddrPair: putAddr(out, k.a), putAddr(out, k.b); break;
    case KeyType::kAddrProtoPort: putAddr(out, k.a), putProto(out, k.proto), putPort(out, k.port); break;
    case KeyType::kProtoPort: putProto(out, k.proto), putPort(out, k.port); break;
    case KeyType::kAddrProtoPortIndex:
      putAddr(out, k.a), putProto(out, k.proto), putPort(out, k.port), putIndex(out, k.index);
      break;
    case KeyType::kProtoPortIndex: putProto(out, k.proto), putPort(out, k.port), putIndex(out, k.index); break;
  }
  return out;
}

uint32_t keyLen(IPFamily f, KeyType k) {
  switch (k) {
    case KeyType::kAddr: return addrLen(f);
    case KeyType::kAddrPair: return 2 * addrLen(f);
    case KeyType::kAddrProtoPort: return addrLen(f) + 8;
    case KeyType::kProtoPort: return 8;
    case KeyType::kAddrProtoPortIndex: return addrLen(f) + 12;
    case KeyType::kProtoPortIndex: return 12;
  }
  return 0;
}

uint32_t keyTypeId(IPFamily f, KeyType k) {
  switch (k) {
    case KeyType::kAddr: return addrType(f);
    case KeyType::kAddrPair: return concatType(addrType(f), addrType(f));
    case KeyType::kAddrProtoPort: return concatType(concatType(addrType(f), kTypeInetProto), kTypeInetService);
    case KeyType::kProtoPort: return concatType(kTypeInetProto, kTypeInetService);
    case KeyType::kAddrProtoPortIndex:
      return concatType(concatType(concatType(addrType(f), kTypeInetProto), kTypeInetService), kTypeInteger);
    case KeyType::kProtoPortIndex: return concatType(concatType(kTypeInetProto, kTypeInetService), kTypeInteger);
  }
  return 0;
}

std::string fromHex(const char* hex) {
  std::string out;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) out += static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16));
  return out;
}

// nft's "typeof" description of the endpoint maps (which `nft list` needs to print them), as nft
// 1.0.6 writes it for `typeof [ip daddr .] meta l4proto . th dport . numgen random mod 1 :
// ip daddr . th dport`.
std::string endpointMapTypeof(IPFamily f, KeyType k) {
  static const std::string v4ByAddr = fromHex(
      "000400000000010400000000036000040d00000001580014000407000000010c00040c00000001040c000000010e0004090000000106"
      "0004100000000214000407000000010c00040b000000010402000000031a000417000000011200040100000001040100000002040000"
      "0000043400040d000000012c0014000407000000010c00040c00000001040c0000000114000407000000010c00040b00000001040200"
      "0000060400000000");
  static const std::string v6ByAddr = fromHex(
      "000400000000010400000000036000040d00000001580014000407000000010c00040d000000010409000000010e0004090000000106"
      "0004100000000214000407000000010c00040b000000010402000000031a000417000000011200040100000001040100000002040000"
      "0000043400040d000000012c0014000407000000010c00040d0000000104090000000114000407000000010c00040b00000001040200"
      "0000060400000000");
  static const std::string v4ByPort = fromHex(
      "000400000000010400000000034a00040d0000000142000e00040900000001060004100000000114000407000000010c00040b000000"
      "010402000000021a0004170000000112000401000000010401000000020400000000043400040d000000012c0014000407000000010c"
      "00040c00000001040c0000000114000407000000010c00040b000000010402000000060400000000");
  static const std::string v6ByPort = fromHex(
      "000400000000010400000000034a00040d0000000142000e00040900000001060004100000000114000407000000010c00040b000000"
      "010402000000021a0004170000000112000401000000010401000000020400000000043400040d000000012c0014000407000000010c"
      "00040d0000000104090000000114000407000000010c00040b000000010402000000060400000000");
  bool v4 = f == IPFamily::kIPv4;
  return k == KeyType::kProtoPortIndex ? (v4 ? v4ByPort : v6ByPort) : (v4 ? v4ByAddr : v6ByAddr);
}

// The user data nft attaches to each kind of set (byte orders, concatenation info, comment),
// copied from what nft 1.0.6 writes, so that `nft list` prints our sets as it prints its own.
std::string setUserData(IPFamily f, const Set& s) {
  static const std::string kKeyOrderNone("\x00\x04\x00\x00\x00\x00", 6);
  static const std::string kKeyOrderBig("\x00\x04\x02\x00\x00\x00", 6);
  static const std::string kDataOrderNone("\x01\x04\x00\x00\x00\x00", 6);
  static const std::string kConcat("\x03\x08\x00\x04\x0d\x00\x00\x00\x01\x00", 10);
  static const std::string kDataInterval("\x06\x04\x00\x00\x00\x00", 6);
  std::string u;
  if (s.endpointMap) {
    u = endpointMapTypeof(f, s.key);
  } else if (s.key == KeyType::kAddr) {
    u = kKeyOrderBig;
  } else {
    u = kKeyOrderNone;
    if (s.verdictMap) u += kDataOrderNone;
    u += kConcat;
    if (s.verdictMap) u += kDataInterval;
  }
  if (!s.comment.empty() && s.comment.size() < 250) {
    u += static_cast<char>(NFTNL_UDATA_SET_COMMENT);
    u += static_cast<char>(s.comment.size() + 1);
    u += s.comment;
    u += '\0';
  }
  return u;
}

void setCommentUdata(const std::string& comment, uint8_t type, const std::function<void(const void*, uint32_t)>& set) {
  if (comment.empty()) return;
  nftnl_udata_buf* buf = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
  nftnl_udata_put_strz(buf, type, comment.c_str());
  set(nftnl_udata_buf_data(buf), nftnl_udata_buf_len(buf));
  nftnl_udata_buf_free(buf);
}

// The hook numbers of base chain hooks.
uint32_t hookNum(const std::string& hook) {
  if (hook == "prerouting") return NF_INET_PRE_ROUTING;
  if (hook == "input") return NF_INET_LOCAL_IN;
  if (hook == "forward") return NF_INET_FORWARD;
  if (hook == "output") return NF_INET_LOCAL_OUT;
  return NF_INET_POST_ROUTING;
}

// Builds the messages one by one into a scratch buffer, appending each to the batch.
class Encoder {
 public:
  Encoder(const Transaction& tx, uint32_t firstSeq) : tx_(tx), seq_(firstSeq) {
    // Not zeroed: only the pages a message touches are ever faulted in (zeroing all 4 MiB cost a
    // one-endpoint change 10 ms at 50,000 Services here, where page faults are dear).
    scratch_ = std::make_unique_for_overwrite<char[]>(kScratchBytes);
    out_.beginSeq = seq_++;
    begin();
  }

  EncodedBatch finish() {
    // The last real message asks for an ACK: its answer tells that the batch went through.
    if (lastMessageOffset_ != std::string::npos) {
      auto* nlh = reinterpret_cast<nlmsghdr*>(out_.chunks[lastMessageChunk_].data() + lastMessageOffset_);
      nlh->nlmsg_flags |= NLM_F_ACK;
      out_.lastSeq = nlh->nlmsg_seq;
    }
    out_.endSeq = seq_;
    nlmsghdr* nlh = nftnl_batch_end(scratch_.get(), seq_++);
    append(nlh);
    return std::move(out_);
  }

  void op(uint32_t index) { op(tx_.ops[index], index); }

  // An op that is not in tx_.ops (a streamed transaction's); `index` is what opOfMessage records.
  void op(const Op& o, uint32_t index) {
    opIndex_ = index;
    switch (o.kind) {
      case Op::Kind::kAddTable: table(NFT_MSG_NEWTABLE, NLM_F_CREATE, o.comment); break;
      case Op::Kind::kDeleteTable: table(NFT_MSG_DELTABLE, 0, {}); break;
      case Op::Kind::kAddChain: chain(NFT_MSG_NEWCHAIN, NLM_F_CREATE, o.name, o.chain); break;
      case Op::Kind::kDeleteChain: chain(NFT_MSG_DELCHAIN, 0, o.name, nullptr); break;
      case Op::Kind::kFlushChain: flushChain(o.name); break;
      case Op::Kind::kAddRule: rule(o.name, *o.rule); break;
      case Op::Kind::kAddSet: set(*o.set, 0, 0); break;
      case Op::Kind::kFlushSet: elements(NFT_MSG_DELSETELEM, 0, o.name, nullptr, {}); break;
      case Op::Kind::kDeleteSet: deleteSet(o.name); break;
      case Op::Kind::kAddElements: elements(NFT_MSG_NEWSETELEM, NLM_F_CREATE, o.name, o.set, o.elements); break;
      case Op::Kind::kDeleteElements: elements(NFT_MSG_DELSETELEM, 0, o.name, o.set, o.elements); break;
    }
  }

 private:
  void begin() {
    nlmsghdr* nlh = mnl_nlmsg_put_header(scratch_.get());
    nlh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = out_.beginSeq;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
    if (tx_.generation) mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(*tx_.generation));
    append(nlh);
  }

  // The message at the end of the last piece, or of a new one when it does not fit.
  void append(const nlmsghdr* nlh) {
    if (out_.chunks.empty() || out_.chunks.back().size() + nlh->nlmsg_len > kBatchChunkBytes) {
      out_.chunks.emplace_back();
      out_.chunks.back().reserve(std::max<size_t>(kBatchChunkBytes, nlh->nlmsg_len));
    }
    lastMessageChunk_ = out_.chunks.size() - 1;
    lastMessageOffset_ = out_.chunks.back().size();
    out_.chunks.back().append(reinterpret_cast<const char*>(nlh), nlh->nlmsg_len);
  }

  nlmsghdr* header(uint16_t type, uint16_t flags) {
    return nftnl_nlmsg_build_hdr(scratch_.get(), type, nfproto(tx_.family), flags, seq_++);
  }

  void emit(nlmsghdr* nlh) {
    append(nlh);
    out_.opOfMessage.push_back(opIndex_);
    ++out_.messages;
  }

  void table(uint16_t type, uint16_t flags, const std::string& comment) {
    nftnl_table* t = nftnl_table_alloc();
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, kTableName);
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, nfproto(tx_.family));
    setCommentUdata(comment, NFTNL_UDATA_TABLE_COMMENT,
                    [&](const void* d, uint32_t n) { nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, d, n); });
    nlmsghdr* nlh = header(type, flags);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    emit(nlh);
  }

  void chain(uint16_t type, uint16_t flags, const std::string& name, const Chain* c) {
    nftnl_chain* ch = nftnl_chain_alloc();
    nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, kTableName);
    nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name.c_str());
    nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, nfproto(tx_.family));
    if (c && c->base) {
      nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, hookNum(c->base->hook));
      nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->base->priority);
      nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, c->base->type.c_str());
      nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    if (c)
      setCommentUdata(c->comment, NFTNL_UDATA_CHAIN_COMMENT,
                      [&](const void* d, uint32_t n) { nftnl_chain_set_data(ch, NFTNL_CHAIN_USERDATA, d, n); });
    nlmsghdr* nlh = header(type, flags);
    nftnl_chain_nlmsg_build_payload(nlh, ch);
    nftnl_chain_free(ch);
    emit(nlh);
  }

  void flushChain(const std::string& name) {
    nftnl_rule* r = nftnl_rule_alloc();
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, kTableName);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name.c_str());
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, nfproto(tx_.family));
    nlmsghdr* nlh = header(NFT_MSG_DELRULE, 0);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    nftnl_rule_free(r);
    emit(nlh);
  }

  void deleteSet(const std::string& name) {
    nftnl_set* s = nftnl_set_alloc();
    nftnl_set_set_str(s, NFTNL_SET_TABLE, kTableName);
    nftnl_set_set_str(s, NFTNL_SET_NAME, name.c_str());
    nftnl_set_set_u32(s, NFTNL_SET_FAMILY, nfproto(tx_.family));
    nlmsghdr* nlh = header(NFT_MSG_DELSET, 0);
    nftnl_set_nlmsg_build_payload(nlh, s);
    nftnl_set_free(s);
    emit(nlh);
  }

  // A named set (id 0) or the anonymous verdict map of a rule (id > 0, constant, `size` elements).
  void set(const Set& s, uint32_t anonId, uint32_t size) {
    nftnl_set* ns = nftnl_set_alloc();
    nftnl_set_set_str(ns, NFTNL_SET_TABLE, kTableName);
    nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, nfproto(tx_.family));
    std::string udata;
    if (anonId) {
      nftnl_set_set_str(ns, NFTNL_SET_NAME, "__map%d");
      nftnl_set_set_u32(ns, NFTNL_SET_ID, anonId);
      nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP);
      nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, kTypeInteger);
      nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, 4);
      nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
      nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 16);
      nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, size);
      // Key in host byte order (numgen's output); nft's typeof note for verdict data.
      udata = std::string("\x00\x04\x01\x00\x00\x00\x01\x04\x00\x00\x00\x00", 12);
      udata += std::string("\x04\x08\x00\x04\x01\x00\x00\x00\x01\x00", 10);
      udata += std::string("\x06\x04\x00\x00\x00\x00", 6);
    } else {
      nftnl_set_set_str(ns, NFTNL_SET_NAME, s.name.c_str());
      nftnl_set_set_u32(ns, NFTNL_SET_ID, ++setIds_);
      uint32_t flags = 0;
      if (s.timeout) flags |= NFT_SET_TIMEOUT | NFT_SET_EVAL;
      nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, keyTypeId(tx_.family, s.key));
      nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, keyLen(tx_.family, s.key));
      if (s.verdictMap || s.endpointMap) flags |= NFT_SET_MAP;
      nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
      if (s.verdictMap) {
        nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 16);
      }
      if (s.endpointMap) {
        nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, concatType(addrType(tx_.family), kTypeInetService));
        nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, addrLen(tx_.family) + 4);
      }
      if (s.timeout) nftnl_set_set_u64(ns, NFTNL_SET_TIMEOUT, uint64_t{s.timeoutSeconds} * 1000);
      udata = setUserData(tx_.family, s);
    }
    nftnl_set_set_data(ns, NFTNL_SET_USERDATA, udata.data(), static_cast<uint32_t>(udata.size()));
    nlmsghdr* nlh = header(NFT_MSG_NEWSET, NLM_F_CREATE);
    nftnl_set_nlmsg_build_payload(nlh, ns);
    nftnl_set_free(ns);
    emit(nlh);
  }

  // NEWSETELEM / DELSETELEM of `es` in messages of kElementsPerMessage; none: a flush.
  void elements(uint16_t type, uint16_t flags, const std::string& setName, const Set* s,
                const std::vector<const Element*>& es) {
    size_t i = 0;
    do {
      nftnl_set* ns = nftnl_set_alloc();
      nftnl_set_set_str(ns, NFTNL_SET_TABLE, kTableName);
      nftnl_set_set_str(ns, NFTNL_SET_NAME, setName.c_str());
      nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, nfproto(tx_.family));
      for (size_t n = 0; n < kElementsPerMessage && i < es.size(); ++n, ++i) {
        const Element& e = *es[i];
        nftnl_set_elem* el = nftnl_set_elem_alloc();
        std::string key = keyBytes(*s, e.key);
        nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key.data(), static_cast<uint32_t>(key.size()));
        if (s->verdictMap && type == NFT_MSG_NEWSETELEM) {
          int code = e.value.kind == Verdict::Kind::kGoto   ? NFT_GOTO
                     : e.value.kind == Verdict::Kind::kJump ? NFT_JUMP
                     : e.value.kind == Verdict::Kind::kDrop ? NF_DROP
                                                            : NF_ACCEPT;
          nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(code));
          if (!e.value.chain.empty()) nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, e.value.chain.c_str());
        }
        if (s->endpointMap && type == NFT_MSG_NEWSETELEM) {
          std::string data;
          putAddr(data, e.target.ip);
          putPort(data, e.target.port);
          nftnl_set_elem_set(el, NFTNL_SET_ELEM_DATA, data.data(), static_cast<uint32_t>(data.size()));
        }
        if (type == NFT_MSG_NEWSETELEM)
          setCommentUdata(e.comment, NFTNL_UDATA_SET_ELEM_COMMENT, [&](const void* d, uint32_t len) {
            nftnl_set_elem_set(el, NFTNL_SET_ELEM_USERDATA, d, len);
          });
        nftnl_set_elem_add(ns, el);
      }
      nlmsghdr* nlh = header(type, flags);
      nftnl_set_elems_nlmsg_build_payload(nlh, ns);
      nftnl_set_free(ns);
      emit(nlh);
    } while (i < es.size());
  }

  // The anonymous map of a random vmap (affinity services): NEWSET then its elements; its id.
  uint32_t anonymousMap(const Stmt& s) {
    uint32_t id = ++setIds_;
    const uint32_t n = static_cast<uint32_t>(s.chains.size());
    const IPFamily f = tx_.family;
    Set dummy;
    set(dummy, id, n);
    nftnl_set* ns = nftnl_set_alloc();
    nftnl_set_set_str(ns, NFTNL_SET_TABLE, kTableName);
    nftnl_set_set_str(ns, NFTNL_SET_NAME, "__map%d");
    nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
    nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, nfproto(f));
    for (uint32_t i = 0; i < n; ++i) {
      nftnl_set_elem* el = nftnl_set_elem_alloc();
      nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &i, 4);  // host byte order, as numgen writes it
      nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(NFT_GOTO));
      nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, s.chains[i].c_str());
      nftnl_set_elem_add(ns, el);
    }
    nlmsghdr* nlh = header(NFT_MSG_NEWSETELEM, NLM_F_CREATE);
    nftnl_set_elems_nlmsg_build_payload(nlh, ns);
    nftnl_set_free(ns);
    emit(nlh);
    return id;
  }

  void rule(const std::string& chainName, const Rule& r) {
    const IPFamily f = tx_.family;
    // Anonymous maps go first: the rule refers to them by id.
    std::vector<uint32_t> anonIds;
    for (const auto& s : r.stmts)
      if (s.kind == Stmt::Kind::kVmapRandom) anonIds.push_back(anonymousMap(s));
    size_t anon = 0;

    nftnl_rule* nr = nftnl_rule_alloc();
    nftnl_rule_set_str(nr, NFTNL_RULE_TABLE, kTableName);
    nftnl_rule_set_str(nr, NFTNL_RULE_CHAIN, chainName.c_str());
    nftnl_rule_set_u32(nr, NFTNL_RULE_FAMILY, nfproto(f));
    const uint32_t alen = addrLen(f);
    for (const auto& s : r.stmts) {
      switch (s.kind) {
        case Stmt::Kind::kCtStateNew:
          ct(nr, NFT_CT_STATE), bitwiseU32(nr, 0x8, 0), cmpU32(nr, NFT_CMP_NEQ, 0);
          break;
        case Stmt::Kind::kCtStatusDnat:
          ct(nr, NFT_CT_STATUS), bitwiseU32(nr, 0x20, 0), cmpU32(nr, NFT_CMP_NEQ, 0);
          break;
        case Stmt::Kind::kAddr: {
          uint32_t off = s.source ? saddrOffset(f) : daddrOffset(f);
          uint32_t op = s.negate ? NFT_CMP_NEQ : NFT_CMP_EQ;
          const auto& net = s.cidr.network.bytes;
          if (s.cidr.prefix > 0 && s.cidr.prefix % 8 == 0) {
            uint32_t len = static_cast<uint32_t>(s.cidr.prefix / 8);
            payload(nr, NFT_PAYLOAD_NETWORK_HEADER, off, len, NFT_REG_1);
            cmp(nr, NFT_REG_1, op, net.data(), len);
          } else {
            unsigned char mask[16] = {}, zero[16] = {};
            for (int b = 0; b < s.cidr.prefix; ++b) mask[b / 8] |= static_cast<unsigned char>(0x80 >> (b % 8));
            payload(nr, NFT_PAYLOAD_NETWORK_HEADER, off, alen, NFT_REG_1);
            bitwise(nr, alen, mask, zero);
            cmp(nr, NFT_REG_1, op, net.data(), alen);
          }
          break;
        }
        case Stmt::Kind::kDport: {
          uint8_t p = ipproto(s.proto);
          meta(nr, NFT_META_L4PROTO, NFT_REG_1);
          cmp(nr, NFT_REG_1, NFT_CMP_EQ, &p, 1);
          uint16_t port = htons(s.port);
          payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
          cmp(nr, NFT_REG_1, NFT_CMP_EQ, &port, 2);
          break;
        }
        case Stmt::Kind::kL4Proto: {
          uint8_t p = ipproto(s.proto);
          meta(nr, NFT_META_L4PROTO, NFT_REG_1);
          cmp(nr, NFT_REG_1, NFT_CMP_EQ, &p, 1);
          break;
        }
        case Stmt::Kind::kFibLocal: {
          ExprPtr e = expr("fib");
          nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, s.source ? NFTA_FIB_F_SADDR : NFTA_FIB_F_DADDR);
          nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
          nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
          nftnl_rule_add_expr(nr, e);
          cmpU32(nr, NFT_CMP_EQ, 2 /* RTN_LOCAL */);
          break;
        }
        case Stmt::Kind::kIifname: {
          // As nft encodes it: the whole IFNAMSIZ buffer (NUL padded) for a name, only the
          // prefix's bytes for "prefix*".
          char buf[IFNAMSIZ] = {};
          const size_t n = std::min(s.name.size(), sizeof buf - 1);
          std::memcpy(buf, s.name.data(), n);
          meta(nr, NFT_META_IIFNAME, NFT_REG_1);
          cmp(nr, NFT_REG_1, s.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, buf, static_cast<uint32_t>(s.prefix ? n : sizeof buf));
          break;
        }
        case Stmt::Kind::kAddrInSet:
          payload(nr, NFT_PAYLOAD_NETWORK_HEADER, s.source ? saddrOffset(f) : daddrOffset(f), alen, NFT_REG_1);
          lookup(nr, NFT_REG_1, s.name, 0, std::nullopt);
          break;
        case Stmt::Kind::kAddrPairInSet:
          payload(nr, NFT_PAYLOAD_NETWORK_HEADER, saddrOffset(f), alen, regOfSlot(0));
          payload(nr, NFT_PAYLOAD_NETWORK_HEADER, daddrOffset(f), alen, regOfSlot(slotsOf(alen)));
          lookup(nr, NFT_REG_1, s.name, 0, std::nullopt);
          break;
        case Stmt::Kind::kVmapAddrProtoPort: {
          uint32_t slot = slotsOf(alen);
          payload(nr, NFT_PAYLOAD_NETWORK_HEADER, daddrOffset(f), alen, regOfSlot(0));
          meta(nr, NFT_META_L4PROTO, regOfSlot(slot));
          payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, regOfSlot(slot + 1));
          lookup(nr, NFT_REG_1, s.name, 0, NFT_REG_VERDICT);
          break;
        }
        case Stmt::Kind::kVmapProtoPort:
          meta(nr, NFT_META_L4PROTO, regOfSlot(0));
          payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, regOfSlot(1));
          lookup(nr, NFT_REG_1, s.name, 0, NFT_REG_VERDICT);
          break;
        case Stmt::Kind::kMarkOr:
          meta(nr, NFT_META_MARK, NFT_REG_1), bitwiseU32(nr, ~s.mark, s.mark), metaSet(nr, NFT_META_MARK, NFT_REG_1);
          break;
        case Stmt::Kind::kMarkXor:
          meta(nr, NFT_META_MARK, NFT_REG_1), bitwiseU32(nr, 0xffffffffu, s.mark),
              metaSet(nr, NFT_META_MARK, NFT_REG_1);
          break;
        case Stmt::Kind::kMarkClear:
          meta(nr, NFT_META_MARK, NFT_REG_1), bitwiseU32(nr, s.mark, 0), cmpU32(nr, NFT_CMP_EQ, 0);
          break;
        case Stmt::Kind::kMasquerade: {
          ExprPtr e = expr("masq");
          nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
          nftnl_rule_add_expr(nr, e);
          break;
        }
        case Stmt::Kind::kReject: {
          ExprPtr e = expr("reject");
          nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
          nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, f == IPFamily::kIPv4 ? 3 : 4);  // port unreachable
          nftnl_rule_add_expr(nr, e);
          break;
        }
        case Stmt::Kind::kDnat: {
          const DnatTarget& t = s.targets.at(0);
          uint32_t port = htons(t.port);
          immediateData(nr, NFT_REG_1, t.ip.bytes.data(), alen);
          immediateData(nr, NFT_REG_2, &port, 2);
          dnatExpr(nr, f, NFT_REG_1, NFT_REG_2, true);
          break;
        }
        case Stmt::Kind::kDnatKeyed: {
          // The key: [daddr .] l4proto . dport . numgen, in consecutive slots; the endpoint's
          // address and port come back in the first slots.
          uint32_t slot = 0;
          if (!s.byPort) {
            payload(nr, NFT_PAYLOAD_NETWORK_HEADER, daddrOffset(f), alen, regOfSlot(0));
            slot = slotsOf(alen);
          }
          meta(nr, NFT_META_L4PROTO, regOfSlot(slot));
          payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, regOfSlot(slot + 1));
          numgen(nr, s.modulus, regOfSlot(slot + 2));
          lookup(nr, NFT_REG_1, s.name, 0, NFT_REG_1);
          dnatExpr(nr, f, NFT_REG_1, regOfSlot(slotsOf(alen)), false);
          break;
        }
        case Stmt::Kind::kVmapRandom: {
          uint32_t id = anonIds.at(anon++);
          numgen(nr, static_cast<uint32_t>(s.chains.size()));
          lookup(nr, NFT_REG_1, "__map%d", id, NFT_REG_VERDICT);
          break;
        }
        case Stmt::Kind::kUpdateSaddr: {
          payload(nr, NFT_PAYLOAD_NETWORK_HEADER, saddrOffset(f), alen, NFT_REG_1);
          ExprPtr e = expr("dynset");
          nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
          nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
          nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, s.name.c_str());
          nftnl_rule_add_expr(nr, e);
          break;
        }
        case Stmt::Kind::kVerdict: verdict(nr, s.verdict); break;
      }
    }
    setCommentUdata(r.comment, NFTNL_UDATA_RULE_COMMENT,
                    [&](const void* d, uint32_t n) { nftnl_rule_set_data(nr, NFTNL_RULE_USERDATA, d, n); });
    nlmsghdr* nlh = header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
    nftnl_rule_nlmsg_build_payload(nlh, nr);
    nftnl_rule_free(nr);
    emit(nlh);
  }

  const Transaction& tx_;
  uint32_t seq_;
  uint32_t opIndex_ = 0;
  uint32_t setIds_ = 0;
  static constexpr size_t kScratchBytes = 4u << 20;  // one message at a time
  std::unique_ptr<char[]> scratch_;
  size_t lastMessageChunk_ = 0;
  size_t lastMessageOffset_ = std::string::npos;
  EncodedBatch out_;
};

}  // namespace

size_t EncodedBatch::size() const {
  size_t n = 0;
  for (const auto& c : chunks) n += c.size();
  return n;
}

std::string EncodedBatch::contiguous() const {
  std::string s;
  s.reserve(size());
  for (const auto& c : chunks) s += c;
  return s;
}

struct BatchWriter::Impl {
  Transaction header;  // family and generation; no ops
  std::optional<Encoder> enc;
  std::vector<Note> notes;
  std::vector<std::string> names;    // distinct consecutive names of the notes
  std::vector<std::string> details;  // set and element ops' descriptions
};

BatchWriter::BatchWriter(IPFamily family, std::optional<uint32_t> generation, uint32_t firstSeq)
    : impl_(std::make_unique<Impl>()) {
  impl_->header.family = family;
  impl_->header.generation = generation;
  impl_->enc.emplace(impl_->header, firstSeq);
}

BatchWriter::~BatchWriter() = default;

void BatchWriter::add(const Op& op) {
  auto index = static_cast<uint32_t>(impl_->notes.size());
  impl_->enc->op(op, index);
  auto& names = impl_->names;
  if (names.empty() || names.back() != op.name) names.push_back(op.name);
  Note n{op.kind, static_cast<uint32_t>(names.size() - 1), 0, UINT32_MAX};
  if (op.set) {
    n.detail = static_cast<uint32_t>(impl_->details.size());
    impl_->details.push_back(describeOp(impl_->header.family, op));
  }
  if (op.kind == Op::Kind::kAddRule && !impl_->notes.empty() && impl_->notes.back().kind == Op::Kind::kAddRule &&
      impl_->notes.back().name == n.name)
    n.position = impl_->notes.back().position + 1;
  impl_->notes.push_back(n);
}

EncodedBatch BatchWriter::finish() {
  EncodedBatch b = impl_->enc->finish();
  impl_->enc.reset();
  return b;
}

std::string BatchWriter::describe(const EncodedBatch& batch, uint32_t seq) const {
  if (seq == batch.beginSeq) return "batch begin (generation check)";
  if (seq <= batch.beginSeq || seq - batch.beginSeq - 1 >= batch.opOfMessage.size()) return "message " + std::to_string(seq);
  const Note& n = impl_->notes.at(batch.opOfMessage[seq - batch.beginSeq - 1]);
  const std::string& name = impl_->names.at(n.name);
  switch (n.kind) {
    case Op::Kind::kAddRule: return "add rule " + std::to_string(n.position + 1) + " of chain " + name;
    case Op::Kind::kAddSet:
    case Op::Kind::kFlushSet:
    case Op::Kind::kAddElements:
    case Op::Kind::kDeleteElements:
      if (n.detail < impl_->details.size()) return impl_->details[n.detail];
      [[fallthrough]];
    default: {
      Op op{n.kind, name, {}, {}, {}, {}, {}};
      return describeOp(impl_->header.family, op);
    }
  }
}

EncodedBatch encodeTransaction(const Transaction& tx, uint32_t firstSeq) {
  Encoder enc(tx, firstSeq);
  for (uint32_t i = 0; i < tx.ops.size(); ++i) enc.op(i);
  return enc.finish();
}

std::string describeOp(IPFamily family, const Op& op) {
  switch (op.kind) {
    case Op::Kind::kAddTable: return std::string("add table ") + familyKeyword(family) + " " + kTableName;
    case Op::Kind::kDeleteTable: return std::string("delete table ") + familyKeyword(family) + " " + kTableName;
    case Op::Kind::kAddChain: return "add chain " + op.name;
    case Op::Kind::kFlushChain: return "flush chain " + op.name;
    case Op::Kind::kDeleteChain: return "delete chain " + op.name;
    case Op::Kind::kAddRule: return "add rule to chain " + op.name + ": " + ruleText(family, *op.rule);
    case Op::Kind::kAddSet: return std::string("add ") + (op.set->verdictMap ? "map " : "set ") + op.name;
    case Op::Kind::kFlushSet: return "flush set " + op.name;
    case Op::Kind::kDeleteSet: return "delete set " + op.name;
    case Op::Kind::kAddElements:
    case Op::Kind::kDeleteElements: {
      std::string s = std::string(op.kind == Op::Kind::kAddElements ? "add " : "delete ") +
                      std::to_string(op.elements.size()) + " element(s) of " + op.name;
      if (!op.elements.empty()) {
        const Element& first = *op.elements.front();
        s += " (" + keyText(*op.set, first.key);
        if (op.set->verdictMap && op.kind == Op::Kind::kAddElements) s += " : " + verdictText(first.value);
        s += std::string(op.elements.size() > 1 ? ", ..." : "") + ")";
      }
      return s;
    }
  }
  return "?";
}

std::string EncodedBatch::describe(const Transaction& tx, uint32_t seq) const {
  if (seq == beginSeq) return "batch begin (generation check)";
  if (seq <= beginSeq || seq - beginSeq - 1 >= opOfMessage.size()) return "message " + std::to_string(seq);
  return describeOp(tx.family, tx.ops[opOfMessage[seq - beginSeq - 1]]);
}

}  // namespace kproxy::nftables
