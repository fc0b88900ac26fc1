// Golden tests: tests/golden/<case>/input.json -> iptables.golden, plus the ruleset invariants.
// KPROXY_UPDATE_GOLDEN=1 rewrites the golden files; review the diff.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dataplane/desired_state.h"
#include "iptables/renderer.h"
#include "ipvs/planner.h"
#include "nftables/renderer.h"
#include "tests/golden/golden_support.h"
#include "watch/decode.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kGoldenDir = fs::path(KPROXY_SOURCE_DIR) / "tests" / "golden";

std::vector<std::string> listCases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kGoldenDir))
    if (e.is_directory() && fs::exists(e.path() / "input.json")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using Case = kproxy::testing::GoldenCase;
Case loadCase(const std::string& name) {
  Case c = kproxy::testing::loadGoldenCase((kGoldenDir / name).string());
  for (const auto& e : c.decodeErrors) ADD_FAILURE() << "decode error in " << name << ": " << e;
  return c;
}

std::string renderCase(const std::string& name) {
  Case c = loadCase(name);
  kproxy::iptables::Renderer renderer(c.opts);
  return renderer.renderFull(c.state).text;
}

// Compares with (or with KPROXY_UPDATE_GOLDEN=1 rewrites) tests/golden/<name>/<file>.
void checkGolden(const std::string& name, const std::string& file, const std::string& got) {
  fs::path golden = kGoldenDir / name / file;
  if (std::getenv("KPROXY_UPDATE_GOLDEN")) std::ofstream(golden) << got;
  ASSERT_TRUE(fs::exists(golden)) << golden << " missing; run with KPROXY_UPDATE_GOLDEN=1";
  EXPECT_EQ(readFile(golden), got) << "render of " << name << " differs from " << golden;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, RendersAsRecordedAndHoldsInvariants) {
  const std::string name = GetParam();
  std::string got = renderCase(name);
  checkGolden(name, "iptables.golden", got);
  for (const auto& v : kproxy::testing::checkInvariants(got)) ADD_FAILURE() << name << ": " << v;
}

TEST_P(GoldenTest, NftablesRendersAsRecordedAndHoldsInvariants) {
  const std::string name = GetParam();
  Case c = loadCase(name);
  kproxy::nftables::Table table = kproxy::nftables::Renderer(c.opts).renderFull(c.state);
  std::string got = kproxy::nftables::toText(table);
  checkGolden(name, "nftables.golden", got);
  for (const auto& v : kproxy::testing::checkNftInvariants(table)) ADD_FAILURE() << name << ": " << v;
}

// IPVS mode: the virtual servers, kube-ipvs0 addresses and set members of the case, planned
// Service by Service and merged as the backend does (the node IPs count as local addresses).
TEST_P(GoldenTest, IpvsPlansAsRecorded) {
  const std::string name = GetParam();
  Case c = loadCase(name);
  kproxy::ipvs::IpvsOptions opts;
  opts.proxy = c.opts;
  const std::set<std::string> local(c.opts.nodeIPs.begin(), c.opts.nodeIPs.end());
  kproxy::ipvs::Fragment all = kproxy::ipvs::planState(c.state, opts, local);
  std::string got = kproxy::ipvs::formatServers(all.servers) + "addresses:";
  for (const auto& a : all.addresses) got += " " + a;
  got += "\n";
  for (const auto& [set, members] : all.sets) {
    got += set + ":";
    for (const auto& m : members) got += " " + m;
    got += "\n";
  }
  checkGolden(name, "ipvs.golden", got);
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(listCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(GoldenSuite, CoversEnoughCases) { EXPECT_GE(listCases().size(), 12u); }

// The checker itself must catch what it claims to catch.
TEST(GoldenSupport, FlagsUndefinedTargetsLongNamesAndUnequalShares) {
  const std::string bad =
      "*filter\nCOMMIT\n*nat\n"
      ":KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n"
      ":KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]\n"
      ":KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]\n"
      ":KUBE-THIS-NAME-IS-FAR-TOO-LONG-FOR-IPTABLES - [0:0]\n"
      "-A KUBE-SVC-AAAAAAAAAAAAAAAA -m statistic --mode random --probability 0.2500000000 -j KUBE-SEP-AAAAAAAAAAAAAAAA\n"
      "-A KUBE-SVC-AAAAAAAAAAAAAAAA -j KUBE-SEP-BBBBBBBBBBBBBBBB\n"
      "-A KUBE-SEP-AAAAAAAAAAAAAAAA -j DNAT --to-destination 10.0.0.1:80\n"
      "-A KUBE-SEP-BBBBBBBBBBBBBBBB -j KUBE-MISSING\n"
      "COMMIT\n";
  auto v = kproxy::testing::checkInvariants(bad);
  auto has = [&](const std::string& needle) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(has("longer than 28"));
  EXPECT_TRUE(has("undefined chain KUBE-MISSING"));
  EXPECT_TRUE(has("KUBE-SEP-BBBBBBBBBBBBBBBB has no DNAT"));
  EXPECT_TRUE(has("gets 0.25"));
}

}  // namespace
