// kproxy trace's nftables evaluator against the kernel's own listing: every golden is loaded
// with `nft -f` (in the network namespace run_in_netns.sh made for this binary), listed with
// `nft -j`, and each ClusterIP and NodePort must lead exactly where the desired state says.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "tests/golden/golden_support.h"
#include "tests/support/run_command.h"
#include "trace/nft_view.h"

namespace kproxy::trace {
namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd) { return testing::runCommand(cmd); }

TEST(TraceNft, EveryGoldensAddressesLeadWhereTheDesiredStateSays) {
  size_t checked = 0;
  for (const auto& dir : fs::directory_iterator(fs::path(KPROXY_SOURCE_DIR) / "tests/golden")) {
    if (!fs::exists(dir.path() / "nftables.golden")) continue;
    auto c = testing::loadGoldenCase(dir.path().string());
    bool v6 = c.opts.family == model::IPFamily::kIPv6;
    std::string fam = v6 ? "ip6" : "ip";
    run("nft flush ruleset");
    std::string err = run("nft -f " + (dir.path() / "nftables.golden").string() + " 2>&1");
    ASSERT_TRUE(err.empty()) << dir.path() << ": " << err;
    NftView view;
    std::string why;
    ASSERT_TRUE(parseNftJson(run("nft -j list table " + fam + " kube-proxy"), view, why)) << why;
    ASSERT_TRUE(view.exists);
    auto node = *net::parseIP(!c.opts.nodeIPs.empty() ? c.opts.nodeIPs.front() : (v6 ? "2001:db8::100" : "192.0.2.100"));
    NftSource outside{*net::parseIP(v6 ? "2001:db8::9" : "203.0.113.9"), false};
    for (const auto& p : c.state.ports) {
      auto plan = dataplane::planPort(p);
      using F = dataplane::PortPlan::Filter;
      struct Case {
        net::IPAddress ip;
        uint16_t port;
        bool local;
        F filter;
        const std::vector<size_t>* eps;
      };
      std::vector<Case> cases = {{*net::parseIP(p.clusterIP), p.port, false, plan.internalFilter,
                                  p.internalPolicyLocal ? &p.localEndpoints : &p.clusterEndpoints}};
      bool npServed = c.opts.nodePortAddresses.empty();
      for (const auto& cidr : c.opts.nodePortAddresses) npServed = npServed || cidr.contains(node);
      if (p.nodePort && node.family == c.opts.family && npServed)
        cases.push_back({node, p.nodePort, true, plan.externalFilter, p.externalPolicyLocal ? &p.localEndpoints : &p.clusterEndpoints});
      for (const auto& k : cases) {
        Target t{k.ip, k.port, p.protocol};
        SCOPED_TRACE(dir.path().filename().string() + " " + p.nameString + " " + t.str());
        auto outs = evaluateNft(view, t, outside, k.local);
        ASSERT_FALSE(outs.empty());
        double total = 0;
        for (const auto& o : outs) total += o.probability;
        EXPECT_NEAR(total, 1.0, 1e-6);
        if (k.filter != F::kNone) {
          auto want = k.filter == F::kReject ? NftOutcome::Fate::kReject : NftOutcome::Fate::kDrop;
          for (const auto& o : outs) EXPECT_EQ(o.fate, want);
        } else {
          std::set<std::string> want, got;
          for (size_t i : *k.eps) want.insert(p.endpoints[i].hostPort);
          for (const auto& o : outs) {
            EXPECT_EQ(o.fate, NftOutcome::Fate::kDnat);
            EXPECT_NEAR(o.probability, 1.0 / static_cast<double>(k.eps->size()), 1e-6);
            got.insert(o.dnatTo);
            EXPECT_EQ(o.affinityNote, p.affinityClientIP);
          }
          EXPECT_EQ(got, want);
        }
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 35u);
}

}  // namespace
}  // namespace kproxy::trace
