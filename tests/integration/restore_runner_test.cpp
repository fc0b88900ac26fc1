// Netns test (run inside a namespace by run_in_netns.sh): the restore runner against the real
// iptables-restore/-save of both backends. IP plan: none; only lo, no packets.
#include "iptables/restore_runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

namespace kproxy::iptables {
namespace {

class RestoreRunnerTest : public ::testing::TestWithParam<XtablesBackend> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!std::getenv("KPROXY_IN_TEST_NETNS")) GTEST_SKIP() << "must run inside a test namespace (run_in_netns.sh)";
  }
  void TearDown() override {
    // Leave the namespace's tables empty for the next case.
    RestoreRunner r(GetParam(), model::IPFamily::kIPv4);
    (void)r.restore("*nat\n:KUBE-TEST-A - [0:0]\n:KUBE-TEST-B - [0:0]\n-X KUBE-TEST-A\n-X KUBE-TEST-B\nCOMMIT\n");
  }
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_P(RestoreRunnerTest, LoadsListsAndKeepsTheLastGoodStateOnFailure) {
  RestoreRunner r(GetParam(), model::IPFamily::kIPv4);
  ASSERT_TRUE(r.restore("*nat\n:KUBE-TEST-A - [0:0]\n-A KUBE-TEST-A -j RETURN\nCOMMIT\n").isOk());
  auto chains = r.listChains("nat");
  ASSERT_TRUE(chains) << chains.error();
  EXPECT_TRUE(contains(chains.value(), "KUBE-TEST-A"));
  EXPECT_TRUE(contains(chains.value(), "PREROUTING"));

  // Line 4 jumps to a chain that does not exist: the whole table is rejected.
  Status bad = r.restore("*nat\n:KUBE-TEST-A - [0:0]\n:KUBE-TEST-B - [0:0]\n-A KUBE-TEST-A -j KUBE-NOWHERE\nCOMMIT\n");
  ASSERT_FALSE(bad.isOk());
  // legacy points at the rule (line 4); nft at the COMMIT (line 5), naming the chain in its words.
  EXPECT_NE(bad.message().find("KUBE-NOWHERE"), std::string::npos) << bad.message();
  if (GetParam() == XtablesBackend::kLegacy)
    EXPECT_NE(bad.message().find("at input line 4 \"-A KUBE-TEST-A -j KUBE-NOWHERE\""), std::string::npos) << bad.message();
  else
    EXPECT_NE(bad.message().find("at input line 5 \"COMMIT\""), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find(r.restoreProgram()), std::string::npos);

  auto after = r.save("nat");
  ASSERT_TRUE(after);
  EXPECT_NE(after.value().find("-A KUBE-TEST-A -j RETURN"), std::string::npos) << after.value();
  EXPECT_EQ(after.value().find("KUBE-TEST-B"), std::string::npos);
}

TEST_P(RestoreRunnerTest, DetectsTheBackendHoldingKubeRules) {
  RestoreRunner r(GetParam(), model::IPFamily::kIPv4);
  ASSERT_TRUE(r.restore("*nat\n:KUBE-TEST-A - [0:0]\n-A KUBE-TEST-A -j RETURN\nCOMMIT\n").isOk());
  EXPECT_EQ(detectBackend(model::IPFamily::kIPv4), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Backends, RestoreRunnerTest,
                         ::testing::Values(XtablesBackend::kNft, XtablesBackend::kLegacy),
                         [](const auto& info) { return std::string(backendName(info.param)); });

TEST(RestoreRunnerFailedLine, Parses) {
  EXPECT_EQ(RestoreRunner::failedLine("iptables-restore: line 3 failed\nError occurred at line: 17\nTry"), 17);
  EXPECT_EQ(RestoreRunner::failedLine("no marker"), 0);
}

}  // namespace
}  // namespace kproxy::iptables
