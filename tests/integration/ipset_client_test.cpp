// libipset against the kernel, inside a network namespace of its own (run_in_netns.sh): the
// ipset client IPVS mode uses creates sets, adds and deletes members and reads them back.
#include <gtest/gtest.h>

#include <cstdlib>

#include "ipvs/ipset_client.h"
#include "tests/support/run_command.h"

namespace kproxy::ipvs {
namespace {

using testing::runCommand;

class IpsetClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("KPROXY_IN_TEST_NETNS")) GTEST_SKIP() << "run through run_in_netns.sh";
  }
  void TearDown() override { runCommand("ipset destroy 2>/dev/null"); }
};

TEST_F(IpsetClientTest, RestoreAddsAndDeletesMembersOfEveryTypeAndListReadsThemBack) {
  LibIpsetClient client;
  ASSERT_TRUE(client.restore("create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 -exist\n"
                             "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 -exist\n"
                             "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 -exist\n"
                             "create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536 -exist\n"
                             "create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536 -exist\n")
                  .isOk());
  Status s = client.restore("add KUBE-CLUSTER-IP 10.96.0.80,tcp:80 -exist\n"
                            "add KUBE-CLUSTER-IP 10.96.0.10,udp:53 -exist\n"
                            "add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2 -exist\n"
                            "add KUBE-NODE-PORT-TCP 30080 -exist\n"
                            "add KUBE-IPVS-IPS 10.96.0.80 -exist\n"
                            "add KUBE-6-CLUSTER-IP fd00:96::85,tcp:80 -exist\n");
  ASSERT_TRUE(s.isOk()) << s.message();
  // What the kernel holds, as the ipset tool shows it.
  std::string saved = runCommand("ipset save");
  EXPECT_NE(saved.find("add KUBE-CLUSTER-IP 10.96.0.80,tcp:80"), std::string::npos) << saved;
  EXPECT_NE(saved.find("add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2"), std::string::npos) << saved;

  auto listed = client.list("KUBE-");
  ASSERT_TRUE(listed.isOk()) << listed.error();
  const auto& sets = listed.value();
  EXPECT_EQ(sets.at("KUBE-CLUSTER-IP"), (std::set<std::string>{"10.96.0.10,udp:53", "10.96.0.80,tcp:80"}));
  EXPECT_EQ(sets.at("KUBE-LOOP-BACK"), (std::set<std::string>{"10.244.1.2,tcp:8080,10.244.1.2"}));
  EXPECT_EQ(sets.at("KUBE-NODE-PORT-TCP"), (std::set<std::string>{"30080"}));
  EXPECT_EQ(sets.at("KUBE-IPVS-IPS"), (std::set<std::string>{"10.96.0.80"}));
  EXPECT_EQ(sets.at("KUBE-6-CLUSTER-IP"), (std::set<std::string>{"fd00:96::85,tcp:80"}));

  ASSERT_TRUE(client.restore("del KUBE-CLUSTER-IP 10.96.0.10,udp:53 -exist\ndel KUBE-CLUSTER-IP 10.96.0.99,udp:53 -exist\n").isOk());
  EXPECT_EQ(client.list("KUBE-").value().at("KUBE-CLUSTER-IP"), (std::set<std::string>{"10.96.0.80,tcp:80"}));
}

TEST_F(IpsetClientTest, ABadLineFailsNamingItAndTheKernelsWords) {
  LibIpsetClient client;
  ASSERT_TRUE(client.restore("create KUBE-CLUSTER-IP hash:ip,port family inet -exist\n").isOk());
  Status s = client.restore("add KUBE-CLUSTER-IP 10.96.0.80,tcp:80 -exist\nadd KUBE-MISSING 10.0.0.1 -exist\n");
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("KUBE-MISSING"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kproxy::ipvs
