// kproxy's IPVS and kube-ipvs0 clients against a real kernel (in the VM guest, inside a network
// namespace ipvs_client.sh makes): what they write is what ipvsadm and ip read back, errors
// carry the operation and the kernel's words, foreign objects are listed but never decoded
// as ours.
#include <gtest/gtest.h>

#include <cstdlib>

#include "ipvs/dummy_link.h"
#include "ipvs/ipvs_cleanup.h"
#include "ipvs/ipvs_client.h"
#include "tests/support/run_command.h"

namespace kproxy::ipvs {
namespace {

using ::kproxy::testing::runCommand;

ServiceKey key(const std::string& ip, uint16_t port, Protocol p = Protocol::kTCP) {
  return {ip.find(':') != std::string::npos ? IPFamily::kIPv6 : IPFamily::kIPv4, p, ip, port};
}
Operation addService(const ServiceKey& k, const std::string& sched = "rr", uint32_t persistence = 0) {
  Operation op;
  op.kind = OpKind::kAddService;
  op.server.key = k;
  op.server.scheduler = sched;
  if (persistence) {
    op.server.flags = kFlagPersistent;
    op.server.timeout = persistence;
  }
  return op;
}
Operation deleteService(const ServiceKey& k) {
  Operation op;
  op.kind = OpKind::kDeleteService;
  op.server.key = k;
  return op;
}
Operation destOp(OpKind kind, const ServiceKey& k, const std::string& ip, uint16_t port, uint32_t weight = 1) {
  Operation op;
  op.kind = kind;
  op.server.key = k;
  op.destination = {ip, port, weight};
  return op;
}

class IpvsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("KPROXY_IN_TEST_NETNS")) GTEST_SKIP() << "run through tests/vm/ipvs_client.sh";
    auto c = NetlinkIpvsClient::open();
    ASSERT_TRUE(c) << c.error();
    client_ = std::move(c).value();
  }
  void TearDown() override {
    runCommand("ipvsadm -C");
    runCommand("ip link del kube-ipvs0 2>/dev/null");
  }
  std::unique_ptr<NetlinkIpvsClient> client_;
};

TEST_F(IpvsClientTest, WhatItWritesIpvsadmReadsBackAndItListsTheSame) {
  const auto web = key("10.96.0.1", 80), dns = key("10.96.0.10", 53, Protocol::kUDP), v6 = key("fd00:96::1", 80),
             sctp = key("10.96.0.20", 9999, Protocol::kSCTP);
  auto r = client_->apply({addService(web), destOp(OpKind::kAddDestination, web, "10.244.1.2", 8080),
                           destOp(OpKind::kAddDestination, web, "10.244.2.2", 8080, 0), addService(dns, "wrr", 10800),
                           destOp(OpKind::kAddDestination, dns, "10.244.1.2", 5353), addService(v6),
                           destOp(OpKind::kAddDestination, v6, "fd00:244::2", 8080), addService(sctp, "sh")});
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.batches, 1u);
  std::string v = runCommand("ipvsadm -Ln");
  for (const char* want : {"TCP  10.96.0.1:80 rr", "10.244.1.2:8080              Masq    1", "10.244.2.2:8080              Masq    0",
                           "UDP  10.96.0.10:53 wrr persistent 10800", "TCP  [fd00:96::1]:80 rr", "[fd00:244::2]:8080",
                           "SCTP 10.96.0.20:9999 sh"})
    EXPECT_NE(v.find(want), std::string::npos) << want << " in\n" << v;

  auto listed = client_->list();
  ASSERT_TRUE(listed) << listed.error();
  std::map<ServiceKey, ObservedService> byKey;
  for (const auto& s : listed.value()) byKey[s.server.key] = s;
  ASSERT_EQ(byKey.size(), 4u);
  EXPECT_TRUE(byKey.at(dns).server.persistent());
  EXPECT_EQ(byKey.at(dns).server.timeout, 10800u);
  EXPECT_EQ(byKey.at(dns).server.scheduler, "wrr");
  ASSERT_EQ(byKey.at(web).destinations.size(), 2u);
  EXPECT_EQ(byKey.at(v6).destinations.at(0).str(), "[fd00:244::2]:8080");
  auto dests = client_->destinations(web);
  ASSERT_TRUE(dests) << dests.error();
  EXPECT_EQ(dests.value().size(), 2u);
}

TEST_F(IpvsClientTest, RepeatsAreSuccessAndRealErrorsNameTheOperation) {
  const auto web = key("10.96.0.1", 80);
  ASSERT_TRUE(client_->apply({addService(web), destOp(OpKind::kAddDestination, web, "10.244.1.2", 8080)}).ok());
  // Adding again (EEXIST) and deleting what is gone (ENOENT/ESRCH) count as done.
  auto again = client_->apply({addService(web), destOp(OpKind::kAddDestination, web, "10.244.1.2", 8080),
                               destOp(OpKind::kDeleteDestination, web, "10.244.9.9", 8080),
                               deleteService(key("10.96.0.99", 80))});
  EXPECT_TRUE(again.ok()) << again.errors[0];
  // A destination of a virtual server that does not exist, an unknown scheduler: failures, each
  // named, and the operations around them still applied.
  const auto missing = key("10.96.0.2", 80);
  auto bad = client_->apply({destOp(OpKind::kAddDestination, missing, "10.244.1.2", 8080),
                             addService(key("10.96.0.3", 80), "nosuchsched"),
                             destOp(OpKind::kEditDestination, web, "10.244.1.2", 8080, 0)});
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_EQ(bad.failed, (std::vector<size_t>{0, 1}));
  EXPECT_NE(bad.errors[0].find("ipvsadm -a -t 10.96.0.2:80 -r 10.244.1.2:8080 -m -w 1: No such process"), std::string::npos)
      << bad.errors[0];
  EXPECT_NE(bad.errors[1].find("ipvsadm -A -t 10.96.0.3:80 -s nosuchsched: "), std::string::npos) << bad.errors[1];
  EXPECT_NE(runCommand("ipvsadm -Ln").find("10.244.1.2:8080              Masq    0"), std::string::npos);
}

TEST_F(IpvsClientTest, ThousandsOfOperationsGoInBatchesAndAllArrive) {
  std::vector<Operation> ops;
  for (int i = 0; i < 300; ++i) {
    auto k = key("10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 80);
    ops.push_back(addService(k));
    for (int d = 1; d <= 10; ++d) ops.push_back(destOp(OpKind::kAddDestination, k, "10.244.0." + std::to_string(d), 8080));
  }
  auto r = client_->apply(ops);
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.batches, (ops.size() + 127) / 128);
  auto listed = client_->list();
  ASSERT_TRUE(listed);
  size_t dests = 0;
  for (const auto& s : listed.value()) dests += s.destinations.size();
  EXPECT_EQ(listed.value().size(), 300u);
  EXPECT_EQ(dests, 3000u);
}

TEST_F(IpvsClientTest, FirewallMarkServicesAreSkippedAndTimeoutsSet) {
  runCommand("ipvsadm -A -f 7 -s rr");
  ASSERT_TRUE(client_->apply({addService(key("10.96.0.1", 80))}).ok());
  auto listed = client_->list();
  ASSERT_TRUE(listed) << listed.error();
  ASSERT_EQ(listed.value().size(), 1u) << "the fwmark service is not ours to read";
  ASSERT_TRUE(client_->setTimeouts(900, 0, 30).isOk());
  EXPECT_NE(runCommand("ipvsadm -L --timeout").find("900 120 30"), std::string::npos) << runCommand("ipvsadm -L --timeout");
}

TEST_F(IpvsClientTest, KubeIpvs0IsCreatedDownAndHoldsHostAddresses) {
  NetlinkDummyLink link;
  EXPECT_FALSE(link.exists());
  ASSERT_TRUE(link.ensure().isOk());
  ASSERT_TRUE(link.ensure().isOk()) << "idempotent";
  EXPECT_TRUE(link.exists());
  ASSERT_TRUE(link.add(IPFamily::kIPv4, "10.96.0.1").isOk());
  ASSERT_TRUE(link.add(IPFamily::kIPv4, "10.96.0.1").isOk()) << "already there is fine";
  ASSERT_TRUE(link.add(IPFamily::kIPv6, "fd00:96::1").isOk());
  std::string shown = runCommand("ip addr show dev kube-ipvs0");
  EXPECT_NE(shown.find("inet 10.96.0.1/32"), std::string::npos) << shown;
  EXPECT_NE(shown.find("inet6 fd00:96::1/128"), std::string::npos) << shown;
  EXPECT_EQ(runCommand("ip link show kube-ipvs0").find(",UP"), std::string::npos) << "kept down";
  EXPECT_EQ(link.addresses(IPFamily::kIPv4).value(), (std::set<std::string>{"10.96.0.1"}));
  runCommand("ip addr add 192.0.2.10/24 dev lo");
  auto other = link.otherLocalAddresses(IPFamily::kIPv4);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other.value().count("192.0.2.10"));
  EXPECT_FALSE(other.value().count("10.96.0.1")) << "kube-ipvs0's own are not 'other'";
  ASSERT_TRUE(link.remove(IPFamily::kIPv4, "10.96.0.1").isOk());
  EXPECT_TRUE(link.addresses(IPFamily::kIPv4).value().empty());
  ASSERT_TRUE(deleteDummyDevice().isOk());
  EXPECT_FALSE(link.exists());
}

TEST_F(IpvsClientTest, CleanupRemovesOnlyOurs) {
  NetlinkDummyLink link;
  ASSERT_TRUE(link.ensure().isOk());
  ASSERT_TRUE(link.add(IPFamily::kIPv4, "10.96.0.1").isOk());
  ASSERT_TRUE(client_->apply({addService(key("10.96.0.1", 80)), addService(key("10.50.0.1", 80))}).ok());
  auto removed = removeOwnVirtualServers();
  ASSERT_TRUE(removed) << removed.error();
  EXPECT_EQ(removed.value(), 1u);
  std::string v = runCommand("ipvsadm -Ln");
  EXPECT_EQ(v.find("10.96.0.1:80"), std::string::npos) << v;
  EXPECT_NE(v.find("10.50.0.1:80"), std::string::npos) << v;
}

}  // namespace
}  // namespace kproxy::ipvs
