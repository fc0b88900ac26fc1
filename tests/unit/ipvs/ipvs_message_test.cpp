#include "ipvs/ipvs_message.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <cstring>
#include <map>

namespace kproxy::ipvs {
namespace {

constexpr uint16_t kFamily = 0x2a;

// An independent reading of the bytes (no libnl): attribute type -> payload, one level.
std::map<int, std::vector<uint8_t>> attrs(const uint8_t* p, size_t len) {
  std::map<int, std::vector<uint8_t>> out;
  while (len >= 4) {
    uint16_t alen, type;
    std::memcpy(&alen, p, 2);
    std::memcpy(&type, p + 2, 2);
    if (alen < 4 || alen > len) break;
    out[type & NLA_TYPE_MASK].assign(p + 4, p + alen);
    size_t step = (alen + 3u) & ~3u;
    if (step >= len) break;
    p += step;
    len -= step;
  }
  return out;
}
std::map<int, std::vector<uint8_t>> top(const std::vector<uint8_t>& m) {
  return attrs(m.data() + NLMSG_HDRLEN + GENL_HDRLEN, m.size() - NLMSG_HDRLEN - GENL_HDRLEN);
}
uint16_t u16(const std::vector<uint8_t>& b) { uint16_t v; std::memcpy(&v, b.data(), 2); return v; }
uint32_t u32(const std::vector<uint8_t>& b) { uint32_t v; std::memcpy(&v, b.data(), 4); return v; }

Operation addService(IPFamily f, const std::string& ip, uint16_t port, bool persistent) {
  Operation op;
  op.kind = OpKind::kAddService;
  op.server.key = {f, Protocol::kTCP, ip, port};
  op.server.scheduler = "rr";
  if (persistent) {
    op.server.flags = kFlagPersistent;
    op.server.timeout = 10800;
  }
  return op;
}

TEST(IpvsMessageTest, AnAddServiceCarriesWhatIpvsadmSendsByteForByte) {
  auto m = encodeOperation(addService(IPFamily::kIPv4, "10.96.0.1", 80, true), kFamily, 7);
  nlmsghdr h;
  std::memcpy(&h, m.data(), sizeof h);
  EXPECT_EQ(h.nlmsg_len, m.size());
  EXPECT_EQ(h.nlmsg_type, kFamily);
  EXPECT_EQ(h.nlmsg_seq, 7u);
  EXPECT_EQ(h.nlmsg_flags & (NLM_F_REQUEST | NLM_F_ACK), NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(m[NLMSG_HDRLEN], IPVS_CMD_NEW_SERVICE);
  EXPECT_EQ(m[NLMSG_HDRLEN + 1], IPVS_GENL_VERSION);
  auto t = top(m);
  ASSERT_TRUE(t.count(IPVS_CMD_ATTR_SERVICE));
  auto s = attrs(t[IPVS_CMD_ATTR_SERVICE].data(), t[IPVS_CMD_ATTR_SERVICE].size());
  EXPECT_EQ(u16(s[IPVS_SVC_ATTR_AF]), AF_INET);
  EXPECT_EQ(u16(s[IPVS_SVC_ATTR_PROTOCOL]), IPPROTO_TCP);
  ASSERT_EQ(s[IPVS_SVC_ATTR_ADDR].size(), 16u) << "union nf_inet_addr";
  EXPECT_EQ(std::vector<uint8_t>(s[IPVS_SVC_ATTR_ADDR].begin(), s[IPVS_SVC_ATTR_ADDR].begin() + 4),
            (std::vector<uint8_t>{10, 96, 0, 1}));
  EXPECT_EQ(s[IPVS_SVC_ATTR_PORT], (std::vector<uint8_t>{0, 80})) << "network byte order";
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(s[IPVS_SVC_ATTR_SCHED_NAME].data())), "rr");
  ASSERT_EQ(s[IPVS_SVC_ATTR_FLAGS].size(), sizeof(ip_vs_flags));
  EXPECT_EQ(u32(s[IPVS_SVC_ATTR_FLAGS]), static_cast<uint32_t>(IP_VS_SVC_F_PERSISTENT));
  EXPECT_EQ(u32(s[IPVS_SVC_ATTR_TIMEOUT]), 10800u);
  EXPECT_EQ(u32(s[IPVS_SVC_ATTR_NETMASK]), 0xffffffffu);
}

TEST(IpvsMessageTest, DestinationsAreMasqueradedWithTheirWeight) {
  Operation op;
  op.kind = OpKind::kEditDestination;
  op.server.key = {IPFamily::kIPv6, Protocol::kUDP, "fd00::10", 53};
  op.destination = {"fd00:244::2", 5353, 0};
  auto m = encodeOperation(op, kFamily, 1);
  EXPECT_EQ(m[NLMSG_HDRLEN], IPVS_CMD_SET_DEST);
  auto t = top(m);
  auto d = attrs(t[IPVS_CMD_ATTR_DEST].data(), t[IPVS_CMD_ATTR_DEST].size());
  EXPECT_EQ(u32(d[IPVS_DEST_ATTR_FWD_METHOD]), static_cast<uint32_t>(IP_VS_CONN_F_MASQ));
  EXPECT_EQ(u32(d[IPVS_DEST_ATTR_WEIGHT]), 0u);
  EXPECT_EQ(d[IPVS_DEST_ATTR_PORT], (std::vector<uint8_t>{0x14, 0xe9}));
  EXPECT_EQ(u16(d[IPVS_DEST_ATTR_ADDR_FAMILY]), AF_INET6);
  // The service part of a destination message is the key alone.
  auto s = attrs(t[IPVS_CMD_ATTR_SERVICE].data(), t[IPVS_CMD_ATTR_SERVICE].size());
  EXPECT_FALSE(s.count(IPVS_SVC_ATTR_SCHED_NAME));
  EXPECT_EQ(u16(s[IPVS_SVC_ATTR_PROTOCOL]), IPPROTO_UDP);

  auto back = decodeDestination(m.data(), m.size(), IPFamily::kIPv4);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back.value().str(), "[fd00:244::2]:5353") << "the message's own family wins";
  EXPECT_EQ(back.value().weight, 0u);
}

TEST(IpvsMessageTest, ServicesRoundTrip) {
  for (auto [f, ip] : {std::pair{IPFamily::kIPv4, "192.0.2.1"}, std::pair{IPFamily::kIPv6, "2001:db8::1"}}) {
    auto op = addService(f, ip, 30080, f == IPFamily::kIPv6);
    op.kind = OpKind::kEditService;
    op.server.scheduler = "wrr";
    auto m = encodeOperation(op, kFamily, 3);
    EXPECT_EQ(m[NLMSG_HDRLEN], IPVS_CMD_SET_SERVICE);
    auto s = decodeService(m.data(), m.size());
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s.value().key, op.server.key);
    EXPECT_TRUE(s.value().sameSettings(op.server));
  }
}

TEST(IpvsMessageTest, ListingsAreDumps) {
  auto m = encodeListServices(kFamily, 9);
  nlmsghdr h;
  std::memcpy(&h, m.data(), sizeof h);
  EXPECT_EQ(h.nlmsg_flags & NLM_F_DUMP, NLM_F_DUMP);
  EXPECT_EQ(m[NLMSG_HDRLEN], IPVS_CMD_GET_SERVICE);
  ServiceKey k{IPFamily::kIPv4, Protocol::kSCTP, "10.0.0.1", 9};
  m = encodeListDestinations(k, kFamily, 10);
  EXPECT_EQ(m[NLMSG_HDRLEN], IPVS_CMD_GET_DEST);
  auto s = decodeService(m.data(), m.size());
  ASSERT_TRUE(s);
  EXPECT_EQ(s.value().key, k);
}

TEST(IpvsMessageTest, TimeoutsAreOneSetConfig) {
  auto m = encodeSetTimeouts(900, 120, 30, kFamily, 4);
  EXPECT_EQ(m[NLMSG_HDRLEN], IPVS_CMD_SET_CONFIG);
  auto t = top(m);
  EXPECT_EQ(u32(t[IPVS_CMD_ATTR_TIMEOUT_TCP]), 900u);
  EXPECT_EQ(u32(t[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]), 120u);
  EXPECT_EQ(u32(t[IPVS_CMD_ATTR_TIMEOUT_UDP]), 30u);
}

TEST(IpvsMessageTest, TruncatedAndForeignMessagesAreErrorsNotCrashes) {
  auto m = encodeOperation(addService(IPFamily::kIPv4, "10.96.0.1", 80, false), kFamily, 1);
  for (size_t len = 0; len < m.size(); ++len) EXPECT_FALSE(decodeService(m.data(), len)) << len;
  EXPECT_FALSE(decodeDestination(m.data(), m.size(), IPFamily::kIPv4)) << "no destination in it";

  // A firewall-mark virtual server (not ours to program) is refused.
  nl_msg* msg = nlmsg_alloc();
  genlmsg_put(msg, NL_AUTO_PORT, 1, kFamily, 0, 0, IPVS_CMD_NEW_SERVICE, IPVS_GENL_VERSION);
  nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
  nla_put_u16(msg, IPVS_SVC_ATTR_AF, AF_INET);
  nla_put_u32(msg, IPVS_SVC_ATTR_FWMARK, 7);
  nla_nest_end(msg, nest);
  const nlmsghdr* h = nlmsg_hdr(msg);
  auto r = decodeService(reinterpret_cast<const uint8_t*>(h), h->nlmsg_len);
  nlmsg_free(msg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "fwmark service");
}

}  // namespace
}  // namespace kproxy::ipvs
