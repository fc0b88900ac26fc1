#include "iptables/renderer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "iptables/chain_names.h"
#include "tests/golden/golden_support.h"
#include "watch/decode.h"

namespace kproxy::iptables {
namespace {

using dataplane::DesiredState;

std::string serviceYaml(const std::string& name, const std::string& ip, const std::vector<std::string>& eps,
                        const std::string& extraSpec = "") {
  std::string y = "kind: Service\nmetadata: {name: " + name + ", namespace: ns1}\nspec:\n  clusterIP: " + ip +
                  "\n  ports: [{port: 80}]\n" + extraSpec + "---\n";
  y += "kind: EndpointSlice\nmetadata: {name: " + name + "-1, namespace: ns1, labels: {kubernetes.io/service-name: " +
       name + "}}\naddressType: IPv4\nendpoints:\n";
  for (const auto& e : eps) y += "- addresses: [" + e + "]\n";
  y += "ports: [{port: 80}]\n---\n";
  return y;
}

DesiredState stateOf(const std::string& yaml) {
  auto o = watch::decodeManifestText(yaml, "test");
  EXPECT_TRUE(o.errors.empty()) << (o.errors.empty() ? "" : o.errors[0].str());
  dataplane::NodeContext n;
  n.nodeName = "node1";
  return dataplane::buildDesiredState(o.services, o.slices, n, model::IPFamily::kIPv4);
}

RenderOptions opts() {
  RenderOptions o;
  o.clusterCIDRs = {*net::parseCidr("10.0.0.0/16")};
  return o;
}

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Probability, TenDecimals) {
  EXPECT_EQ(probabilityString(3), "0.3333333333");
  EXPECT_EQ(probabilityString(2), "0.5000000000");
  EXPECT_EQ(probabilityString(1), "1.0000000000");
}

TEST(Renderer, ClusterIPBalancesOverEndpointsLikeUpstream) {
  Renderer r(opts());
  auto text = r.renderFull(stateOf(serviceYaml("svc1", "172.30.0.41", {"10.0.1.1", "10.0.1.2", "10.0.1.3"}))).text;
  const std::string svc = "KUBE-SVC-AQI2S6QIMU7PVVRP";
  const std::string sep1 = "KUBE-SEP-3JOIVZTXZZRGORX4";
  EXPECT_TRUE(hasLine(text, "-A KUBE-SERVICES -m comment --comment \"ns1/svc1 cluster IP\" -m tcp -p tcp -d "
                            "172.30.0.41 --dport 80 -j " + svc)) << text;
  EXPECT_TRUE(hasLine(text, "-A " + svc + " -m comment --comment \"ns1/svc1 cluster IP\" -m tcp -p tcp -d "
                            "172.30.0.41 --dport 80 ! -s 10.0.0.0/16 -j KUBE-MARK-MASQ")) << text;
  EXPECT_TRUE(hasLine(text, "-A " + svc + " -m comment --comment \"ns1/svc1 -> 10.0.1.1:80\" -m statistic --mode "
                            "random --probability 0.3333333333 -j " + sep1)) << text;
  EXPECT_TRUE(hasLine(text, "-A " + sep1 + " -m comment --comment ns1/svc1 -s 10.0.1.1 -j KUBE-MARK-MASQ")) << text;
  EXPECT_TRUE(hasLine(text, "-A " + sep1 + " -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination "
                            "10.0.1.1:80")) << text;
  EXPECT_TRUE(hasLine(text, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"));
  EXPECT_TRUE(hasLine(text, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must "
                            "be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"));
  EXPECT_EQ(kproxy::testing::checkInvariants(text), std::vector<std::string>{});
}

// Upstream's nfacct forms where the counters exist: the INVALID drop counts what it drops, and a
// NodePort to 127.0.0.0/8 has a counting rule of its own ahead of the general one (IPv4 only).
TEST(Renderer, NfacctFormsOnlyWhereTheCountersExist) {
  const std::string yaml = serviceYaml("svc1", "172.30.0.41", {"10.0.1.1"}, "  type: NodePort\n") ;
  std::string withNodePort = yaml;
  withNodePort.replace(withNodePort.find("ports: [{port: 80}]"), 19, "ports: [{port: 80, nodePort: 30080}]");
  const std::string invalid = "-A KUBE-FORWARD -m conntrack --ctstate INVALID";
  const std::string ext = "KUBE-EXT-AQI2S6QIMU7PVVRP";
  const std::string localhost = "-A KUBE-NODEPORTS -m comment --comment ns1/svc1 -m tcp -p tcp -d 127.0.0.0/8 --dport "
                                "30080 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j " + ext;
  const std::string general = "-A KUBE-NODEPORTS -m comment --comment ns1/svc1 -m tcp -p tcp --dport 30080 -j " + ext;
  auto plain = Renderer(opts()).renderFull(stateOf(withNodePort)).text;
  EXPECT_TRUE(hasLine(plain, invalid + " -j DROP")) << plain;
  EXPECT_TRUE(hasLine(plain, general)) << plain;
  EXPECT_EQ(plain.find("nfacct"), std::string::npos);
  auto o = opts();
  o.nfacctInvalidDropped = o.nfacctLocalhostNodePorts = true;
  auto counted = Renderer(o).renderFull(stateOf(withNodePort)).text;
  EXPECT_TRUE(hasLine(counted, invalid + " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP")) << counted;
  ASSERT_TRUE(hasLine(counted, localhost)) << counted;
  EXPECT_LT(counted.find(localhost), counted.find(general)) << "the counting rule goes first";
  o.localhostNodePorts = false;  // no localhost NodePorts: nothing to count
  auto off = Renderer(o).renderFull(stateOf(withNodePort)).text;
  EXPECT_FALSE(hasLine(off, localhost)) << off;
  EXPECT_TRUE(hasLine(off, general)) << off;
  EXPECT_EQ(kproxy::testing::checkInvariants(counted), std::vector<std::string>{});
}

TEST(Renderer, NoEndpointsRejectsInFilterAndWritesNoNatChains) {
  Renderer r(opts());
  auto text = r.renderFull(stateOf(serviceYaml("svc1", "172.30.0.41", {}))).text;
  EXPECT_TRUE(hasLine(text, "-A KUBE-SERVICES -m comment --comment \"ns1/svc1 has no endpoints\" -m tcp -p tcp -d "
                            "172.30.0.41 --dport 80 -j REJECT")) << text;
  EXPECT_EQ(text.find("KUBE-SVC-"), std::string::npos);
}

TEST(Renderer, LargeClusterDropsPerEndpointComments) {
  std::string yaml;
  std::vector<std::string> eps;
  for (int i = 0; i < 100; ++i) eps.push_back("10.0.1." + std::to_string(i + 1));
  for (int s = 0; s < 11; ++s) yaml += serviceYaml("s" + std::to_string(s), "172.30.0." + std::to_string(s + 1), eps);
  Renderer r(opts());
  auto state = stateOf(yaml);
  ASSERT_GT(state.endpointCount(), kLargeClusterEndpointsThreshold);
  auto text = r.renderFull(state).text;
  EXPECT_EQ(text.find(" -> 10.0.1.1:80"), std::string::npos);
  EXPECT_NE(text.find("-s 10.0.1.1 -j KUBE-MARK-MASQ"), std::string::npos);
  EXPECT_NE(text.find("\"ns1/s0 cluster IP\""), std::string::npos);  // service-level comments stay
  EXPECT_EQ(kproxy::testing::checkInvariants(text), std::vector<std::string>{});
}

TEST(Renderer, PartialWritesOnlyChangedServiceChainsAndDeletesWhatTheyDropped) {
  Renderer r(opts());
  auto before = stateOf(serviceYaml("a", "172.30.0.1", {"10.0.1.1", "10.0.1.2"}) +
                        serviceYaml("b", "172.30.0.2", {"10.0.2.1"}) + serviceYaml("c", "172.30.0.3", {"10.0.3.1"}));
  auto after = stateOf(serviceYaml("a", "172.30.0.1", {"10.0.1.1"}) + serviceYaml("b", "172.30.0.2", {"10.0.2.1"}));
  auto res = r.renderPartial(after, before, {{"ns1", "a"}, {"ns1", "c"}});

  std::string sepA2 = endpointChainName("ns1/a", "tcp", "10.0.1.2:80");
  std::string svcB = std::string(kSvcPrefix) + portProtoHash("ns1/b", "tcp");
  std::string svcC = std::string(kSvcPrefix) + portProtoHash("ns1/c", "tcp");
  std::string sepC = endpointChainName("ns1/c", "tcp", "10.0.3.1:80");
  std::vector<std::string> wantDeleted{sepA2, svcC, sepC};
  std::sort(wantDeleted.begin(), wantDeleted.end());
  EXPECT_EQ(res.deletedChains, wantDeleted);
  EXPECT_TRUE(hasLine(res.text, "-X " + sepA2));
  EXPECT_TRUE(hasLine(res.text, "-X " + svcC));
  EXPECT_EQ(res.servicePortsWritten, 1u);
  // b is unchanged: nothing of it is in the input, its rules stay as the kernel holds them.
  EXPECT_EQ(res.text.find(svcB), std::string::npos);
  EXPECT_EQ(res.text.find("ns1/b"), std::string::npos);
  // The top-level chains are edited, not flushed: c's jump is deleted, a's is unchanged.
  EXPECT_EQ(res.text.find(":KUBE-SERVICES"), std::string::npos);
  EXPECT_TRUE(hasLine(res.text, "-D KUBE-SERVICES -m comment --comment \"ns1/c cluster IP\" -m tcp -p tcp -d "
                                "172.30.0.3 --dport 80 -j " + svcC)) << res.text;
  EXPECT_EQ(res.text.find("-I KUBE-SERVICES"), std::string::npos) << res.text;
  EXPECT_NE(res.text.find(":" + std::string(kSvcPrefix) + portProtoHash("ns1/a", "tcp")), std::string::npos);

  // A new service's jump goes in front, so the NodePorts jump stays last.
  auto added = r.renderPartial(before, after, {{"ns1", "c"}});
  EXPECT_NE(added.text.find("\n-I KUBE-SERVICES 1 -m comment --comment \"ns1/c cluster IP\""), std::string::npos)
      << added.text;

  // Nothing changed: the input is empty tables.
  auto idle = r.renderPartial(after, after, {});
  EXPECT_EQ(idle.servicePortsWritten, 0u);
  EXPECT_TRUE(idle.deletedChains.empty());
  EXPECT_EQ(idle.text, "*filter\nCOMMIT\n*nat\nCOMMIT\n");
}

TEST(Renderer, FullDeletesStaleServiceChainsButNotForeignOnes) {
  Renderer r(opts());
  auto state = stateOf(serviceYaml("a", "172.30.0.1", {"10.0.1.1"}));
  std::string live = std::string(kSvcPrefix) + portProtoHash("ns1/a", "tcp");
  auto res = r.renderFull(state, {live, "KUBE-SVC-OLDOLDOLDOLDOLD0", "KUBE-SEP-OLDOLDOLDOLDOLD0", "MY-CHAIN",
                                  "KUBE-SERVICES", "KUBE-MARK-MASQ"});
  EXPECT_EQ(res.deletedChains, (std::vector<std::string>{"KUBE-SEP-OLDOLDOLDOLDOLD0", "KUBE-SVC-OLDOLDOLDOLDOLD0"}));
  EXPECT_EQ(kproxy::testing::checkInvariants(res.text), std::vector<std::string>{});
}

TEST(Renderer, NatChainsOfListsEverythingAServiceOwns) {
  Renderer r(opts());
  auto state = stateOf(serviceYaml("a", "172.30.0.1", {"10.0.1.1", "10.0.1.2"}, "  externalIPs: [192.0.2.1]\n"));
  ASSERT_EQ(state.ports.size(), 1u);
  auto chains = r.natChainsOf(state.ports[0]);
  std::string hash = portProtoHash("ns1/a", "tcp");
  EXPECT_EQ(chains, (std::vector<std::string>{"KUBE-EXT-" + hash, "KUBE-SVC-" + hash,
                                              endpointChainName("ns1/a", "tcp", "10.0.1.1:80"),
                                              endpointChainName("ns1/a", "tcp", "10.0.1.2:80")}));
}

}  // namespace
}  // namespace kproxy::iptables
