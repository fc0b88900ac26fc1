#include "iptables/iptables_backend.h"

#include <gtest/gtest.h>

#include "iptables/jump_rules.h"
#include "tests/fakes/fake_restore.h"
#include "watch/decode.h"

namespace kproxy::iptables {
namespace {

std::shared_ptr<const dataplane::DesiredState> stateOf(const std::string& yaml) {
  auto o = watch::decodeManifestText(yaml, "test");
  EXPECT_TRUE(o.errors.empty()) << (o.errors.empty() ? "" : o.errors[0].str());
  return std::make_shared<const dataplane::DesiredState>(
      dataplane::buildDesiredState(o.services, o.slices, {"node1", {}}, model::IPFamily::kIPv4));
}

std::string svc(const std::string& name, const std::string& ip, const std::vector<std::string>& eps) {
  std::string y = "kind: Service\nmetadata: {name: " + name + ", namespace: ns}\nspec: {clusterIP: " + ip +
                  ", ports: [{port: 80}]}\n---\nkind: EndpointSlice\nmetadata: {name: " + name +
                  "-1, namespace: ns, labels: {kubernetes.io/service-name: " + name + "}}\naddressType: IPv4\nendpoints:\n";
  for (const auto& e : eps) y += "- addresses: [" + e + "]\n";
  if (eps.empty()) y += "  []\n";
  return y + "ports: [{port: 80}]\n---\n";
}

struct Fixture {
  testing::FakeRestore* fake = new testing::FakeRestore();
  IptablesBackend backend{RenderOptions{}, std::unique_ptr<RestoreClient>(fake)};
  size_t jumps(const std::string& table, const std::string& chain) {
    size_t n = 0;
    for (const auto& r : fake->tables[table][chain]) n += r.find(" -j KUBE-") != std::string::npos;
    return n;
  }
};

TEST(IptablesBackend, FullSyncInstallsJumpRulesOnceAndTheCanary) {
  Fixture f;
  auto s = stateOf(svc("a", "10.96.0.1", {"10.0.0.1"}));
  ASSERT_TRUE(f.backend.syncFull(s).ok);
  ASSERT_TRUE(f.backend.syncFull(s).ok);
  EXPECT_EQ(f.jumps("nat", "PREROUTING"), 1u);
  EXPECT_EQ(f.jumps("nat", "OUTPUT"), 1u);
  EXPECT_EQ(f.jumps("nat", "POSTROUTING"), 1u);
  EXPECT_EQ(f.jumps("filter", "FORWARD"), 4u);
  EXPECT_EQ(f.jumps("filter", "INPUT"), 4u);  // incl. KUBE-FIREWALL (IPv4, localhost NodePorts)
  EXPECT_TRUE(f.backend.canaryPresent());
  f.fake->tables["mangle"].erase("KUBE-PROXY-CANARY");
  EXPECT_FALSE(f.backend.canaryPresent());
}

TEST(IptablesBackend, PartialSyncTouchesOnlyChangedServicesAndDeletesTheirStaleChains) {
  Fixture f;
  ASSERT_TRUE(f.backend.syncFull(stateOf(svc("a", "10.96.0.1", {"10.0.0.1", "10.0.0.2"}) + svc("b", "10.96.0.2", {"10.0.1.1"}))).ok);
  size_t chainsBefore = f.fake->tables["nat"].size();
  auto after = stateOf(svc("a", "10.96.0.1", {"10.0.0.1"}) + svc("b", "10.96.0.2", {"10.0.1.1"}));
  auto r = f.backend.syncPartial(after, {{"ns", "a"}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.full);
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(f.fake->tables["nat"].size(), chainsBefore - 1);
  EXPECT_EQ(f.fake->lastInput.find("ns/b -> "), std::string::npos);  // b's chains were not rewritten
  EXPECT_EQ(f.backend.applied(), after);
}

TEST(IptablesBackend, PartialSyncWithNothingToChangeRunsNoRestore) {
  Fixture f;
  auto s = stateOf(svc("a", "10.96.0.1", {"10.0.0.1"}));
  ASSERT_TRUE(f.backend.syncFull(s).ok);
  int before = f.fake->restores;
  auto same = stateOf(svc("a", "10.96.0.1", {"10.0.0.1"}));
  EXPECT_TRUE(f.backend.syncPartial(same, {{"ns", "other"}}).ok);
  EXPECT_EQ(f.fake->restores, before);
  EXPECT_EQ(f.backend.applied(), same);
}

TEST(IptablesBackend, FailureKeepsTheKernelAndTheAppliedState) {
  Fixture f;
  auto first = stateOf(svc("a", "10.96.0.1", {"10.0.0.1"}));
  ASSERT_TRUE(f.backend.syncFull(first).ok);
  auto kernel = f.fake->tables;
  f.fake->failNext = 1;
  auto r = f.backend.syncPartial(stateOf(svc("a", "10.96.0.1", {"10.0.0.9"})), {{"ns", "a"}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "injected failure");
  EXPECT_EQ(f.fake->tables, kernel);
  EXPECT_EQ(f.backend.applied(), first);
}

TEST(IptablesBackend, KernelRejectionIsReportedAndNothingChanges) {
  Fixture f;
  auto first = stateOf(svc("a", "10.96.0.1", {"10.0.0.1"}));
  ASSERT_TRUE(f.backend.syncFull(first).ok);
  // Someone jumps into our endpoint chain: deleting it must fail, as in the kernel.
  std::string sep;
  for (const auto& [chain, rules] : f.fake->tables["nat"])
    if (chain.rfind("KUBE-SEP-", 0) == 0) sep = chain;
  f.fake->tables["nat"]["FOREIGN"] = {"-A FOREIGN -j " + sep};
  auto kernel = f.fake->tables;
  auto r = f.backend.syncPartial(stateOf(svc("a", "10.96.0.1", {"10.0.0.2"})), {{"ns", "a"}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("referenced"), std::string::npos) << r.error;
  EXPECT_EQ(f.fake->tables, kernel);
}

TEST(IptablesBackend, ChunkedFullSyncEndsInTheSameKernelStateAndDeletesOnlyStaleChains) {
  std::string before = svc("a", "10.96.0.1", {"10.0.0.1", "10.0.0.2"}) + svc("b", "10.96.0.2", {"10.0.1.1"}) +
                       svc("c", "10.96.0.3", {"10.0.2.1"});
  std::string after = svc("a", "10.96.0.1", {"10.0.0.1"}) + svc("b", "10.96.0.2", {"10.0.1.1"}) +
                      svc("d", "10.96.0.4", {"10.0.3.1", "10.0.3.2"});
  Fixture whole, chunked;
  chunked.fake->chunkPorts = 1;
  ASSERT_TRUE(whole.backend.syncFull(stateOf(before)).ok);
  ASSERT_TRUE(chunked.backend.syncFull(stateOf(before)).ok);
  EXPECT_EQ(chunked.fake->restores, 4);  // 3 services, then the top level
  EXPECT_EQ(whole.fake->tables, chunked.fake->tables);
  auto r1 = whole.backend.syncFull(stateOf(after));
  auto r2 = chunked.backend.syncFull(stateOf(after));
  ASSERT_TRUE(r1.ok && r2.ok) << r1.error << r2.error;
  EXPECT_EQ(r2.transactions, 4u);
  EXPECT_EQ(r1.deleted, r2.deleted);
  EXPECT_EQ(r2.deleted, 3u);  // a's SEP for 10.0.0.2, c's SVC and SEP; none of the live ones
  EXPECT_EQ(whole.fake->tables, chunked.fake->tables);
}

TEST(JumpRules, DetectsPresentRulesWhateverTheArgumentOrder) {
  auto rules = jumpRules(false);
  const auto& fwd = rules[3];  // filter FORWARD -> KUBE-SERVICES with conntrack NEW
  ASSERT_EQ(fwd.dstChain, "KUBE-SERVICES");
  EXPECT_TRUE(hasJumpRule("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n", fwd));
  EXPECT_FALSE(hasJumpRule("-A FORWARD -m comment --comment \"other\" -j KUBE-SERVICES\n", fwd));
  EXPECT_FALSE(hasJumpRule("-A INPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n", fwd));
  Renderer r{RenderOptions{}};
  FullSyncExtras extras;
  extras.missingJumps = {jumpRules(false)[10]};
  extras.canary = true;
  std::string text = r.renderFull(dataplane::DesiredState{}, {}, extras).text;
  EXPECT_EQ(text.rfind("*mangle\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n*filter\n", 0), 0u) << text;
  EXPECT_NE(text.find("-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\nCOMMIT\n"),
            std::string::npos) << text;
}

}  // namespace
}  // namespace kproxy::iptables
