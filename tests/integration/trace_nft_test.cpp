// kproxy trace's nftables evaluator against the kernel's own listing: every golden is loaded
// with `nft -f` (in the network namespace run_in_netns.sh made for this binary), listed with
// `nft -j`, and each ClusterIP and NodePort must lead exactly where the desired state says.
#include <gtest/gtest.h>

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "nftables/renderer.h"
#include "tests/golden/golden_support.h"
#include "tests/support/upstream_packet_flows.h"
#include "tests/unit/dataplane/upstream_cases.h"
#include "watch/decode.h"
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

TEST(TraceNft, UnallocatedAddressesOfServiceCIDRsAreDropped) {
  auto dir = fs::path(KPROXY_SOURCE_DIR) / "tests/golden/clusterip-basic";
  auto c = testing::loadGoldenCase(dir.string());
  ASSERT_EQ(c.opts.serviceCIDRs.size(), 1u) << "the golden's input holds a ServiceCIDR";
  run("nft flush ruleset");
  std::string err = run("nft -f " + (dir / "nftables.golden").string() + " 2>&1");
  ASSERT_TRUE(err.empty()) << err;
  NftView view;
  std::string why;
  ASSERT_TRUE(parseNftJson(run("nft -j list table ip kube-proxy"), view, why)) << why;
  NftSource pod{*net::parseIP("10.0.5.5"), false};
  const auto& p = *c.state.ports.begin();
  auto fate = [&](const std::string& ip, uint16_t port) {
    auto outs = evaluateNft(view, Target{*net::parseIP(ip), port, model::Protocol::kTCP}, pod, false);
    EXPECT_FALSE(outs.empty()) << ip;
    for (const auto& o : outs) EXPECT_EQ(o.fate, outs.front().fate) << ip << ": one fate for every branch";
    return outs.empty() ? NftOutcome::Fate::kAccept : outs.front().fate;
  };
  ASSERT_TRUE(c.opts.serviceCIDRs[0].contains(*net::parseIP(p.clusterIP)));
  EXPECT_EQ(fate(p.clusterIP, p.port), NftOutcome::Fate::kDnat);
  EXPECT_EQ(fate(p.clusterIP, static_cast<uint16_t>(p.port + 1)), NftOutcome::Fate::kReject) << "a ClusterIP's other port";
  EXPECT_EQ(fate("172.30.200.1", 80), NftOutcome::Fate::kDrop) << "in the ServiceCIDR, no Service's";
  EXPECT_EQ(fate("172.31.0.1", 80), NftOutcome::Fate::kAccept) << "outside every ServiceCIDR: not kproxy's";
}

// Upstream's nftables packet-flow tables (tests/support/upstream_packet_flows.h): the same
// Services rendered by kproxy's nftables renderer, loaded into the kernel, listed, and each test
// packet followed by trace's nftables evaluator; outcomes as upstream's tracer writes them.
TEST(TraceNft, UpstreamPacketFlows) {
  namespace up = testing::upstream;
  size_t total = 0, held = 0;
  for (const auto& t : up::allFlowTests()) {
    if (!t.inNftables) continue;
    SCOPED_TRACE(t.test + (t.variant.empty() ? "" : " / " + t.variant));
    watch::Objects objs = watch::decodeManifestText(t.manifests, t.test);
    ASSERT_TRUE(objs.errors.empty()) << objs.errors.front().str();
    dataplane::ProxyOptions opts;
    opts.family = model::IPFamily::kIPv4;
    if (t.localDetector) opts.clusterCIDRs = {*net::parseCidr(up::kPodCIDR)};
    opts.masqueradeAll = t.masqueradeAll;
    opts.nodeIPs = up::kNodeIPs;
    opts.primaryNodeIPs = {up::kNodeIP};
    opts.setNodePortAddresses({std::string(up::kNodeIP) + "/32"});  // upstream's nftables fake proxier
    opts.serviceCIDRs = {*net::parseCidr(up::kServiceCIDR)};
    dataplane::NodeContext node{up::kNodeName, {}};
    auto state = dataplane::buildDesiredState(objs.services, objs.slices, node, opts.family);
    const std::string file = ::testing::TempDir() + "/upstream-flows.nft";
    std::ofstream(file) << nftables::toText(nftables::Renderer(opts).renderFull(state));
    run("nft flush ruleset");
    std::string err = run("nft -f " + file + " 2>&1");
    ASSERT_TRUE(err.empty()) << err;
    NftView view;
    std::string why;
    ASSERT_TRUE(parseNftJson(run("nft -j list table ip kube-proxy"), view, why)) << why;
    std::vector<std::string> local = up::kNodeIPs;
    local.push_back("127.0.0.1");
    auto isLocal = [&](const std::string& ip) { return std::find(local.begin(), local.end(), ip) != local.end(); };
    std::vector<up::Flow> flows = t.flows;
    flows.insert(flows.end(), t.nftablesOnly.begin(), t.nftablesOnly.end());
    for (const auto& f : flows) {
      std::string want = f.output;
      for (const auto& [name, out] : t.nftablesOutput)
        if (name == f.name) want = out;
      if (want == up::kNotInNftables) continue;
      SCOPED_TRACE(f.name);
      NftSource src{*net::parseIP(f.source), isLocal(f.source)};
      auto outs = evaluateNft(view, Target{*net::parseIP(f.dest), f.port, f.protocol}, src, isLocal(f.dest));
      std::set<std::string> dnat;
      std::string got;
      bool masq = false;
      for (const auto& o : outs) {
        if (o.fate == NftOutcome::Fate::kReject) got = "REJECT";
        if (o.fate == NftOutcome::Fate::kDrop) got = "DROP";
        if (o.fate == NftOutcome::Fate::kDnat) dnat.insert(o.dnatTo);
        masq = masq || o.masquerade;
      }
      if (got.empty())
        for (const auto& d : dnat) got += (got.empty() ? "" : ", ") + d;
      EXPECT_EQ(got, want);
      EXPECT_EQ(masq, f.masq && want == f.output) << got;
      ++total;
      held += got == want && masq == (f.masq && want == f.output);
    }
  }
  testing::reportUpstreamCases("packet flows, nftables mode", "pkg/proxy/nftables/proxier_test.go", up::kNftablesSource, held, total);
}

}  // namespace
}  // namespace kproxy::trace
