// The netlink codec without a kernel: encoded bytes parse back with libnftnl, and each rule shape
// holds exactly the expressions nft generates for the same text (as `nft --debug=netlink`
// prints them on this machine's nft 1.0.6).
#include "nftables/netlink_codec.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "nftables/netlink_answers.h"

namespace kproxy::nftables {
namespace {

net::Cidr cidr(const char* s) { return *net::parseCidr(s); }
DnatTarget target(const char* ip, uint16_t port) { return {*net::parseIP(ip), port}; }

struct Decoded {
  std::vector<std::string> types;  // per message: "batch-begin", "newrule", ...
  std::vector<uint32_t> seqs;
  std::vector<uint16_t> flags;
  std::vector<std::string> rules;  // each rule's expressions, one "[ ... ]" per line
  std::vector<std::string> sets;   // "name flags=0x.. keytype=.. keylen=.. datatype=.. datalen=.."
  uint32_t genid = 0;
};

Decoded decode(const std::string& bytes) {
  Decoded d;
  int len = static_cast<int>(bytes.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(bytes.data()); mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
    d.seqs.push_back(nlh->nlmsg_seq);
    d.flags.push_back(nlh->nlmsg_flags);
    uint16_t type = nlh->nlmsg_type;
    if (type == NFNL_MSG_BATCH_BEGIN) {
      d.types.push_back("batch-begin");
      mnl_attr_parse(
          nlh, sizeof(nfgenmsg),
          [](const nlattr* attr, void* data) -> int {
            if (mnl_attr_get_type(attr) == NFNL_BATCH_GENID) *static_cast<uint32_t*>(data) = ntohl(mnl_attr_get_u32(attr));
            return MNL_CB_OK;
          },
          &d.genid);
      continue;
    }
    if (type == NFNL_MSG_BATCH_END) {
      d.types.push_back("batch-end");
      continue;
    }
    switch (type & 0xff) {
      case NFT_MSG_NEWRULE: {
        d.types.push_back("newrule");
        nftnl_rule* r = nftnl_rule_alloc();
        EXPECT_EQ(nftnl_rule_nlmsg_parse(nlh, r), 0);
        char buf[8192];
        nftnl_rule_snprintf(buf, sizeof buf, r, NFTNL_OUTPUT_DEFAULT, 0);
        // Keep the expression lines only.
        std::istringstream in(buf);
        std::string line, exprs;
        while (std::getline(in, line))
          if (line.find("[ ") != std::string::npos) exprs += line.substr(line.find('[')) + "\n";
        d.rules.push_back(exprs);
        nftnl_rule_free(r);
        break;
      }
      case NFT_MSG_NEWSET: {
        d.types.push_back("newset");
        nftnl_set* s = nftnl_set_alloc();
        EXPECT_EQ(nftnl_set_nlmsg_parse(nlh, s), 0);
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s flags=0x%x keytype=%u keylen=%u datatype=0x%x datalen=%u",
                      nftnl_set_get_str(s, NFTNL_SET_NAME), nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
                      nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
                      nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE) ? nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE) : 0,
                      nftnl_set_is_set(s, NFTNL_SET_DATA_LEN) ? nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN) : 0);
        d.sets.push_back(buf);
        nftnl_set_free(s);
        break;
      }
      case NFT_MSG_NEWSETELEM: d.types.push_back("newsetelem"); break;
      case NFT_MSG_DELSETELEM: d.types.push_back("delsetelem"); break;
      case NFT_MSG_NEWCHAIN: d.types.push_back("newchain"); break;
      case NFT_MSG_DELRULE: d.types.push_back("delrule"); break;
      default: d.types.push_back("type " + std::to_string(type & 0xff));
    }
  }
  return d;
}

// Encodes one rule (with its anonymous maps) and returns its expressions as libnftnl prints them.
std::string exprsOf(IPFamily f, Rule r) {
  Transaction tx;
  tx.family = f;
  tx.addRule("c1", r);
  Decoded d = decode(encodeTransaction(tx, 100).contiguous());
  EXPECT_EQ(d.rules.size(), 1u);
  return d.rules.empty() ? "" : d.rules[0];
}

TEST(NetlinkCodec, RuleShapesHoldTheExpressionsNftGeneratesIPv4) {
  const IPFamily v4 = IPFamily::kIPv4;
  EXPECT_EQ(exprsOf(v4, {{Stmt::vmapAddrProtoPort("service-ips")}, ""}),
            "[ payload load 4b @ network header + 16 => reg 1 ]\n"
            "[ meta load l4proto => reg 9 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 10 ]\n"
            "[ lookup reg 1 set service-ips dreg 0 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::fibLocal(false), Stmt::addr(false, cidr("127.0.0.0/8"), true),
                          Stmt::vmapProtoPort("service-nodeports")}, ""}),
            "[ fib daddr type => reg 1 ]\n"
            "[ cmp eq reg 1 0x00000002 ]\n"
            "[ payload load 1b @ network header + 16 => reg 1 ]\n"
            "[ cmp neq reg 1 0x0000007f ]\n"
            "[ meta load l4proto => reg 1 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 9 ]\n"
            "[ lookup reg 1 set service-nodeports dreg 0 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::ctStateNew(), Stmt::verdictOf(Verdict::jump("c2"))}, ""}),
            "[ ct load state => reg 1 ]\n"
            "[ bitwise reg 1 = ( reg 1 & 0x00000008 ) ^ 0x00000000 ]\n"
            "[ cmp neq reg 1 0x00000000 ]\n"
            "[ immediate reg 0 jump -> c2 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::addrInSet(false, "cluster-ips"), Stmt::reject()}, ""}),
            "[ payload load 4b @ network header + 16 => reg 1 ]\n"
            "[ lookup reg 1 set cluster-ips ]\n"
            "[ reject type 0 code 3 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::addr(false, cidr("10.96.0.1/32")), Stmt::dport(Protocol::kTCP, 80),
                          Stmt::addr(true, cidr("10.244.0.0/16"), true), Stmt::verdictOf(Verdict::jump("c2"))}, ""}),
            "[ payload load 4b @ network header + 16 => reg 1 ]\n"
            "[ cmp eq reg 1 0x0100600a ]\n"
            "[ meta load l4proto => reg 1 ]\n"
            "[ cmp eq reg 1 0x00000006 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 1 ]\n"
            "[ cmp eq reg 1 0x00005000 ]\n"
            "[ payload load 2b @ network header + 12 => reg 1 ]\n"
            "[ cmp neq reg 1 0x0000f40a ]\n"
            "[ immediate reg 0 jump -> c2 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::dnatKeyed("cluster-endpoints", 3, false)}, ""}),
            "[ payload load 4b @ network header + 16 => reg 1 ]\n"
            "[ meta load l4proto => reg 9 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 10 ]\n"
            "[ numgen reg 11 = random mod 3 ]\n"
            "[ lookup reg 1 set cluster-endpoints dreg 1 ]\n"
            "[ nat dnat ip addr_min reg 1 proto_min reg 9 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::dnatKeyed("nodeport-cluster-endpoints", 3, true)}, ""}),
            "[ meta load l4proto => reg 1 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 9 ]\n"
            "[ numgen reg 10 = random mod 3 ]\n"
            "[ lookup reg 1 set nodeport-cluster-endpoints dreg 1 ]\n"
            "[ nat dnat ip addr_min reg 1 proto_min reg 9 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::markOr(0x4000)}, ""}),
            "[ meta load mark => reg 1 ]\n"
            "[ bitwise reg 1 = ( reg 1 & 0xffffbfff ) ^ 0x00004000 ]\n"
            "[ meta set mark with reg 1 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::ctStatusDnat(), Stmt::addrPairInSet("hp"), Stmt::masquerade()}, ""}),
            "[ ct load status => reg 1 ]\n"
            "[ bitwise reg 1 = ( reg 1 & 0x00000020 ) ^ 0x00000000 ]\n"
            "[ cmp neq reg 1 0x00000000 ]\n"
            "[ payload load 4b @ network header + 12 => reg 1 ]\n"
            "[ payload load 4b @ network header + 16 => reg 9 ]\n"
            "[ lookup reg 1 set hp ]\n"
            "[ masq flags 0x10 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::markClear(0x4000), Stmt::verdictOf(Verdict::ret())}, ""}),
            "[ meta load mark => reg 1 ]\n"
            "[ bitwise reg 1 = ( reg 1 & 0x00004000 ) ^ 0x00000000 ]\n"
            "[ cmp eq reg 1 0x00000000 ]\n"
            "[ immediate reg 0 return ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::markXor(0x4000)}, ""}),
            "[ meta load mark => reg 1 ]\n"
            "[ bitwise reg 1 = ( reg 1 & 0xffffffff ) ^ 0x00004000 ]\n"
            "[ meta set mark with reg 1 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::fibLocal(true), Stmt::verdictOf(Verdict::go("c1"))}, ""}),
            "[ fib saddr type => reg 1 ]\n"
            "[ cmp eq reg 1 0x00000002 ]\n"
            "[ immediate reg 0 goto -> c1 ]\n");
  EXPECT_EQ(exprsOf(v4, {{Stmt::l4proto(Protocol::kUDP), Stmt::dnat(target("10.0.1.1", 53))}, ""}),
            "[ meta load l4proto => reg 1 ]\n"
            "[ cmp eq reg 1 0x00000011 ]\n"
            "[ immediate reg 1 0x0101000a ]\n"
            "[ immediate reg 2 0x00003500 ]\n"
            "[ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2 ]\n");
}

TEST(NetlinkCodec, RuleShapesHoldTheExpressionsNftGeneratesIPv6) {
  const IPFamily v6 = IPFamily::kIPv6;
  EXPECT_EQ(exprsOf(v6, {{Stmt::vmapAddrProtoPort("service-ips")}, ""}),
            "[ payload load 16b @ network header + 24 => reg 1 ]\n"
            "[ meta load l4proto => reg 2 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 13 ]\n"
            "[ lookup reg 1 set service-ips dreg 0 ]\n");
  EXPECT_EQ(exprsOf(v6, {{Stmt::dnatKeyed("cluster-endpoints", 3, false)}, ""}),
            "[ payload load 16b @ network header + 24 => reg 1 ]\n"
            "[ meta load l4proto => reg 2 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 13 ]\n"
            "[ numgen reg 14 = random mod 3 ]\n"
            "[ lookup reg 1 set cluster-endpoints dreg 1 ]\n"
            "[ nat dnat ip6 addr_min reg 1 proto_min reg 2 ]\n");
  EXPECT_EQ(exprsOf(v6, {{Stmt::dnatKeyed("nodeport-cluster-endpoints", 3, true)}, ""}),
            "[ meta load l4proto => reg 1 ]\n"
            "[ payload load 2b @ transport header + 2 => reg 9 ]\n"
            "[ numgen reg 10 = random mod 3 ]\n"
            "[ lookup reg 1 set nodeport-cluster-endpoints dreg 1 ]\n"
            "[ nat dnat ip6 addr_min reg 1 proto_min reg 2 ]\n");
  EXPECT_EQ(exprsOf(v6, {{Stmt::reject()}, ""}), "[ reject type 0 code 4 ]\n");
  EXPECT_EQ(exprsOf(v6, {{Stmt::addr(true, cidr("fd00:1::/48")), Stmt::verdictOf(Verdict::ret())}, ""}),
            "[ payload load 6b @ network header + 8 => reg 1 ]\n"
            "[ cmp eq reg 1 0x010000fd 0x00000000 ]\n"
            "[ immediate reg 0 return ]\n");
  EXPECT_EQ(exprsOf(v6, {{Stmt::addr(true, cidr("fd00:1::/52"), true), Stmt::verdictOf(Verdict::ret())}, ""}),
            "[ payload load 16b @ network header + 8 => reg 1 ]\n"
            "[ bitwise reg 1 = ( reg 1 & 0xffffffff 0x00f0ffff 0x00000000 0x00000000 ) ^ 0x00000000 0x00000000 0x00000000 0x00000000 ]\n"
            "[ cmp neq reg 1 0x010000fd 0x00000000 0x00000000 0x00000000 ]\n"
            "[ immediate reg 0 return ]\n");
  EXPECT_EQ(exprsOf(v6, {{Stmt::updateSaddr("aff")}, ""}),
            "[ payload load 16b @ network header + 8 => reg 1 ]\n"
            "[ dynset update reg_key 1 set aff ]\n");
}

TEST(NetlinkCodec, EndpointMapsAreCreatedAsNftCreatesTheirTypeofDeclaration) {
  Set m{"cluster-endpoints", KeyType::kAddrProtoPortIndex, false, false, 0, ""};
  m.endpointMap = true;
  Set np{"nodeport-cluster-endpoints", KeyType::kProtoPortIndex, false, false, 0, ""};
  np.endpointMap = true;
  for (auto f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    Transaction tx;
    tx.family = f;
    tx.addSet(m);
    tx.addSet(np);
    Decoded d = decode(encodeTransaction(tx, 1).contiguous());
    ASSERT_EQ(d.sets.size(), 2u);
    // What the kernel lists for maps nft created from the same typeof declarations.
    if (f == IPFamily::kIPv4) {
      EXPECT_EQ(d.sets[0], "cluster-endpoints flags=0x8 keytype=1884996 keylen=16 datatype=0x1cd datalen=8");
      EXPECT_EQ(d.sets[1], "nodeport-cluster-endpoints flags=0x8 keytype=49988 keylen=12 datatype=0x1cd datalen=8");
    } else {
      EXPECT_EQ(d.sets[0], "cluster-endpoints flags=0x8 keytype=2147140 keylen=28 datatype=0x20d datalen=20");
      EXPECT_EQ(d.sets[1], "nodeport-cluster-endpoints flags=0x8 keytype=49988 keylen=12 datatype=0x20d datalen=20");
    }
  }
}

TEST(NetlinkCodec, BatchFramingSequenceGenerationAndAck) {
  Set map{"service-ips", KeyType::kAddrProtoPort, true, false, 0, "c"};
  Chain chain{"service-x", std::nullopt, {}, {}};
  Rule rule{{Stmt::vmapRandom({"endpoint-a", "endpoint-b"})}, ""};
  std::vector<Element> elements;
  for (int i = 0; i < 1000; ++i) {
    Element e;
    e.set = "service-ips";
    e.key.a = *net::parseIP("10.96.0." + std::to_string(i % 250 + 1));
    e.key.port = static_cast<uint16_t>(1000 + i);
    e.value = Verdict::go("service-x");
    elements.push_back(e);
  }
  std::vector<const Element*> ptrs;
  for (const auto& e : elements) ptrs.push_back(&e);
  Transaction tx;
  tx.generation = 4242;
  tx.addSet(map);
  tx.addChain(chain);
  tx.addRule(chain.name, rule);
  tx.addElements(map, ptrs);
  EncodedBatch b = encodeTransaction(tx, 500);
  Decoded d = decode(b.contiguous());
  // begin, newset, newchain, (anonymous newset + newsetelem), newrule, 2 element messages, end.
  std::vector<std::string> want = {"batch-begin", "newset", "newchain", "newset", "newsetelem", "newrule",
                                   "newsetelem", "newsetelem", "batch-end"};
  EXPECT_EQ(d.types, want);
  EXPECT_EQ(d.genid, 4242u);
  for (size_t i = 0; i < d.seqs.size(); ++i) EXPECT_EQ(d.seqs[i], 500 + i);
  EXPECT_EQ(b.beginSeq, 500u);
  EXPECT_EQ(b.lastSeq, 507u);
  EXPECT_EQ(b.endSeq, 508u);
  EXPECT_EQ(b.messages, 7u);
  for (size_t i = 1; i + 1 < d.flags.size(); ++i)
    EXPECT_EQ((d.flags[i] & NLM_F_ACK) != 0, i == d.flags.size() - 2) << "only the last message asks for an ACK";
  ASSERT_EQ(d.sets.size(), 2u);
  EXPECT_EQ(d.sets[0], "service-ips flags=0x8 keytype=29453 keylen=12 datatype=0xffffff00 datalen=16");
  EXPECT_EQ(d.sets[1], "__map%d flags=0xb keytype=4 keylen=4 datatype=0xffffff00 datalen=16");
  // Errors name the object the failing message changes.
  EXPECT_EQ(b.describe(tx, 505), "add rule to chain service-x: numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b }");
  EXPECT_EQ(b.describe(tx, 503), b.describe(tx, 505)) << "an anonymous map belongs to its rule";
  EXPECT_EQ(b.describe(tx, 507), "add 1000 element(s) of service-ips (10.96.0.1 . tcp . 1000 : goto service-x, ...)");
  EXPECT_EQ(b.describe(tx, 500), "batch begin (generation check)");

  // The same ops streamed one by one (a full sync's way): the same bytes, and errors named by
  // what each op kept (kind, chain or set, a rule's position).
  BatchWriter w(tx.family, tx.generation, 500);
  for (const auto& op : tx.ops) w.add(op);
  Transaction more;
  more.addRule(chain.name, rule);
  w.add(more.ops.back());
  EncodedBatch s = w.finish();
  Decoded ds = decode(s.contiguous());
  std::vector<std::string> wantStreamed(want.begin(), want.end() - 1);
  for (const char* t : {"newset", "newsetelem", "newrule", "batch-end"}) wantStreamed.push_back(t);
  EXPECT_EQ(ds.types, wantStreamed);
  EXPECT_EQ(std::vector<std::string>(ds.sets.begin(), ds.sets.end() - 1), d.sets) << "encoded alike";
  EXPECT_EQ(s.lastSeq, 510u);
  EXPECT_EQ(w.describe(s, 505), "add rule 1 of chain service-x");
  EXPECT_EQ(w.describe(s, 510), "add rule 1 of chain service-x") << "positions count a chain's consecutive rules";
  EXPECT_EQ(w.describe(s, 507), b.describe(tx, 507)) << "element ops are described in full";
  EXPECT_EQ(w.describe(s, 501), "add map service-ips");
  EXPECT_EQ(w.describe(s, 502), "add chain service-x");
  EXPECT_EQ(w.describe(s, 500), "batch begin (generation check)");
}

// Found by the netlink fuzzer: libmnl's walk takes a length over 2 GiB for a negative int and
// jumps out of the buffer; libnftnl's parsers exit() on an attribute of unexpected size.
TEST(NetlinkAnswers, MalformedAnswersAreErrorsNotCrashes) {
  Transaction tx;
  tx.family = IPFamily::kIPv4;
  tx.addTable("t");
  EncodedBatch batch = encodeTransaction(tx, 10);
  struct {
    nlmsghdr h;
    nlmsgerr e;
  } ack{};
  ack.h.nlmsg_len = sizeof ack;
  ack.h.nlmsg_type = NLMSG_ERROR;
  ack.e.error = -EEXIST;
  ack.e.msg.nlmsg_seq = batch.lastSeq;
  EXPECT_TRUE(wellFormed(&ack, sizeof ack));
  BatchAnswer good;
  readBatchAnswer(&ack, sizeof ack, batch, tx, good);
  EXPECT_TRUE(good.done);
  EXPECT_NE(good.error.find("File exists"), std::string::npos) << good.error;

  ack.h.nlmsg_len = 0x80000010u;
  EXPECT_FALSE(wellFormed(&ack, sizeof ack));
  BatchAnswer bad;
  readBatchAnswer(&ack, sizeof ack, batch, tx, bad);
  EXPECT_TRUE(bad.done);
  EXPECT_EQ(bad.error, "a malformed netlink answer (36 bytes)");

  // A generation message whose id attribute is 2 bytes instead of 4: skipped, not exit().
  alignas(4) uint8_t gen[] = {28, 0, 0, 0, 0x0f, 0x0a, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,  // NEWGEN
                              2, 0, 0, 0,                                             // nfgenmsg
                              6, 0, 1, 0, 0, 42, 0, 0};                               // NFTA_GEN_ID, 2 bytes
  ASSERT_TRUE(wellFormed(gen, sizeof gen));
  EXPECT_FALSE(generationOf(reinterpret_cast<const nlmsghdr*>(gen)));
  gen[20] = 8;
  gen[0] = 28;
  uint32_t id = htonl(42);
  std::memcpy(gen + 24, &id, 4);
  auto g = generationOf(reinterpret_cast<const nlmsghdr*>(gen));
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, 42u);
}

}  // namespace
}  // namespace kproxy::nftables
