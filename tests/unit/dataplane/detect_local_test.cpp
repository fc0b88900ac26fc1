// kube-proxy's detect-local modes in every mode's rules (upstream's LocalTrafficDetector:
// "-s CIDR", "-i BRIDGE", "-i PREFIX+" and their nft forms), and the trace evaluators reading
// them for a packet from a pod's interface and from elsewhere.
#include <gtest/gtest.h>

#include <sstream>
#include <tuple>

#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"
#include "iptables/jump_rules.h"
#include "iptables/renderer.h"
#include "ipvs/helper_rules.h"
#include "nftables/renderer.h"
#include "tests/support/with_jump_rules.h"
#include "nftables/ruleset.h"
#include "trace/iptables_eval.h"

namespace kproxy::dataplane {
namespace {

model::Service lbService() {
  model::Service s;
  s.meta.name = "web";
  s.meta.namespace_ = "t";
  s.clusterIP = "10.96.0.80";
  s.clusterIPs = {"10.96.0.80"};
  s.type = model::ServiceType::kLoadBalancer;
  s.externalTrafficPolicy = model::TrafficPolicy::kLocal;
  s.loadBalancerIngress = {{"5.5.5.5", "", ""}};
  model::ServicePort p;
  p.name = "http";
  p.port = 80;
  p.nodePort = 30080;
  s.ports = {p};
  return s;
}

model::EndpointSlice slice() {
  model::EndpointSlice es;
  es.meta.name = "web-1";
  es.meta.namespace_ = "t";
  es.meta.labels = {{model::kLabelServiceName, "web"}};
  es.serviceName = "web";
  es.addressType = model::AddressType::kIPv4;
  model::Endpoint e;
  e.addresses = {"10.244.1.2"};
  e.nodeName = "n1";
  es.endpoints = {e};
  model::EndpointPort port;
  port.name = "http";
  port.port = 8080;
  es.ports = {port};
  return es;
}

DesiredState state() {
  NodeContext ctx;
  ctx.nodeName = "n1";
  return buildDesiredState({lbService()}, {slice()}, ctx, model::IPFamily::kIPv4);
}

ProxyOptions options(LocalMode mode, std::string iface = "") {
  ProxyOptions o;
  o.clusterCIDRs = {*net::parseCidr("10.244.0.0/16"), *net::parseCidr("fd00:10::/64")};
  o.localMode = mode;
  o.localInterface = std::move(iface);
  return o;
}

TEST(DetectLocal, EachModeGivesUpstreamsMatch) {
  EXPECT_EQ(options(LocalMode::kClusterCIDR).localMatch().iptables(true), "! -s 10.244.0.0/16");
  EXPECT_EQ(options(LocalMode::kBridgeInterface, "cbr0").localMatch().iptables(false), "-i cbr0");
  EXPECT_EQ(options(LocalMode::kInterfaceNamePrefix, "veth").localMatch().iptables(true), "! -i veth+");
  // NodeCIDR: nothing until the Node's pod CIDRs are known, then the first of the family.
  ProxyOptions node = options(LocalMode::kNodeCIDR);
  EXPECT_FALSE(node.localMatch());
  node.setNodeInfo({{"10.200.0.1"}, {"fd00:1::/64", "10.244.7.0/24"}, {}});
  EXPECT_EQ(node.localMatch().iptables(false), "-s 10.244.7.0/24");
  node.family = model::IPFamily::kIPv6;
  EXPECT_EQ(node.localMatch().iptables(false), "-s fd00:1::/64");
  EXPECT_FALSE(options(LocalMode::kBridgeInterface).localMatch());
}

TEST(DetectLocal, IptablesAndIpvsRulesUseTheMatch) {
  for (auto [mode, iface, notLocal, local] :
       {std::tuple{LocalMode::kClusterCIDR, "", "! -s 10.244.0.0/16", "-s 10.244.0.0/16"},
        std::tuple{LocalMode::kBridgeInterface, "cbr0", "! -i cbr0", "-i cbr0"},
        std::tuple{LocalMode::kInterfaceNamePrefix, "veth", "! -i veth+", "-i veth+"}}) {
    SCOPED_TRACE(notLocal);
    iptables::Renderer r(options(mode, iface));
    const std::string text = r.renderFull(state()).text;
    EXPECT_NE(text.find("--dport 80 " + std::string(notLocal) + " -j KUBE-MARK-MASQ"), std::string::npos) << text;
    EXPECT_NE(text.find("external destinations\" " + std::string(local) + " -j KUBE-SVC-"), std::string::npos) << text;
    ipvs::IpvsOptions io;
    io.proxy = options(mode, iface);
    const std::string helpers = ipvs::renderHelperRules(io);
    EXPECT_NE(helpers.find("KUBE-CLUSTER-IP dst,dst " + std::string(notLocal) + " -j KUBE-MARK-MASQ"), std::string::npos) << helpers;
  }
}

TEST(DetectLocal, NftablesRulesUseIifnameOrSaddr) {
  auto text = [](ProxyOptions o) { return nftables::toText(nftables::Renderer(std::move(o)).renderFull(state())); };
  const std::string bridge = text(options(LocalMode::kBridgeInterface, "cbr0"));
  EXPECT_NE(bridge.find("tcp dport 80 iifname != \"cbr0\" jump mark-for-masquerade"), std::string::npos) << bridge;
  EXPECT_NE(bridge.find("iifname \"cbr0\" goto service-"), std::string::npos) << bridge;
  const std::string prefix = text(options(LocalMode::kInterfaceNamePrefix, "veth"));
  EXPECT_NE(prefix.find("iifname != \"veth*\" jump mark-for-masquerade"), std::string::npos) << prefix;
  const std::string cidr = text(options(LocalMode::kClusterCIDR));
  EXPECT_NE(cidr.find("ip saddr != 10.244.0.0/16 jump mark-for-masquerade"), std::string::npos) << cidr;
}

// The trace's iptables evaluator on those rules: a new connection to the ClusterIP from a pod's
// interface is not masqueraded; from another interface it is; the node's own is too (no -i).
TEST(DetectLocal, TraceEvaluatesInterfaceMatches) {
  iptables::Renderer r(options(LocalMode::kInterfaceNamePrefix, "veth"));
  trace::IptDump dump = trace::parseIptablesSave(testing::withJumpRules(r.renderFull(state()).text));
  ASSERT_TRUE(dump.problems.empty()) << dump.problems.front();
  auto masqueraded = [&](const std::string& iface, bool fromLocal) {
    trace::Packet p;
    p.src = *net::parseIP("10.244.2.9");  // another pod (the endpoint itself would hairpin)
    p.dst = *net::parseIP("10.96.0.80");
    p.dport = 80;
    p.fromLocal = fromLocal;
    p.inInterface = iface;
    trace::Evaluation ev = trace::evaluate(dump, p);
    EXPECT_TRUE(ev.skipped.empty());
    EXPECT_EQ(ev.outcomes.size(), 1u);
    return !ev.outcomes.empty() && ev.outcomes[0].masquerade;
  };
  EXPECT_FALSE(masqueraded("veth1a2b", false));
  EXPECT_TRUE(masqueraded("eth0", false));
  EXPECT_TRUE(masqueraded("", true));
}

}  // namespace
}  // namespace kproxy::dataplane
