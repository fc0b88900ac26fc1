#include "trace/service_lookup.h"

#include <gtest/gtest.h>

#include "watch/decode.h"

namespace kproxy::trace {
namespace {

dataplane::DesiredState stateOf(const std::string& yaml) {
  auto o = watch::decodeManifestText(yaml, "t");
  EXPECT_TRUE(o.errors.empty()) << o.errors.front().str();
  return dataplane::buildDesiredState(o.services, o.slices, {"node1", {}}, model::IPFamily::kIPv4);
}

std::string svc(const std::string& name, const std::string& ip, const std::string& extra = "") {
  return "kind: Service\nmetadata: {name: " + name + ", namespace: ns}\nspec: {clusterIP: " + ip +
         ", ports: [{port: 80, protocol: TCP}]" + extra + "}\n---\n";
}
std::string slice(const std::string& svcName, const std::string& endpoints) {
  return "kind: EndpointSlice\nmetadata: {name: " + svcName + "-1, namespace: ns, labels: {kubernetes.io/service-name: " +
         svcName + "}}\naddressType: IPv4\nendpoints: [" + endpoints + "]\nports: [{port: 8080, protocol: TCP}]\n---\n";
}
const char* kReady = "{addresses: [10.244.1.2], nodeName: node1}, {addresses: [10.244.2.2], nodeName: node2}, "
                     "{addresses: [10.244.3.2], nodeName: node2}";

Finding find(const dataplane::DesiredState& st, const std::string& target, std::vector<std::string> nodeIPs = {}) {
  std::string why;
  auto t = parseTarget(target, why);
  EXPECT_TRUE(t) << why;
  std::vector<net::IPAddress> addrs;
  for (const auto& s : nodeIPs) addrs.push_back(*net::parseIP(s));
  return lookup(st, *t, {"node1", {}}, addrs);
}

TEST(TraceLookup, ParsesTargets) {
  std::string why;
  auto t = parseTarget("10.96.0.10:53/udp", why);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->str(), "10.96.0.10:53/UDP");
  t = parseTarget("[fd00::a]:443", why);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->str(), "[fd00::a]:443/TCP");
  for (const char* bad : {"10.96.0.10", "10.96.0.10:0", "10.96.0.10:70000", "10.96.0.10:80/icmp", "fd00::a:80", "web:80"}) {
    EXPECT_FALSE(parseTarget(bad, why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

TEST(TraceLookup, AReadyServiceIsReachableThroughEveryEndpoint) {
  auto st = stateOf(svc("web", "10.96.0.80") + slice("web", kReady));
  auto f = find(st, "10.96.0.80:80");
  ASSERT_NE(f.port, nullptr);
  EXPECT_EQ(f.kind, AddressKind::kClusterIP);
  EXPECT_TRUE(f.reachable);
  EXPECT_EQ(f.verdict, "reachable: 3 endpoints (3 ready)");
  EXPECT_EQ(f.usedHostPorts, (std::vector<std::string>{"10.244.1.2:8080", "10.244.2.2:8080", "10.244.3.2:8080"}));
}

TEST(TraceLookup, NoReadyEndpointsSaysWhatTheyAre) {
  auto st = stateOf(svc("web", "10.96.0.80") +
                    slice("web", "{addresses: [10.244.1.2], conditions: {ready: false, serving: false, terminating: true}},"
                                 "{addresses: [10.244.2.2], conditions: {ready: false, serving: false, terminating: true}},"
                                 "{addresses: [10.244.3.2], conditions: {ready: false}}"));
  auto f = find(st, "10.96.0.80:80/tcp");
  EXPECT_FALSE(f.reachable);
  EXPECT_EQ(f.verdict, "unreachable: no ready endpoints (2 terminating, not serving, 1 not ready)");
  EXPECT_EQ(f.endpoints.at(0).whyNot, "terminating and not serving");
  EXPECT_EQ(f.endpoints.at(2).whyNot, "not ready");
}

TEST(TraceLookup, TerminatingButServingEndpointsCarryTrafficWhenNoneIsReady) {
  auto st = stateOf(svc("web", "10.96.0.80") +
                    slice("web", "{addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}}"));
  auto f = find(st, "10.96.0.80:80");
  EXPECT_EQ(f.verdict, "reachable: 1 endpoint (0 ready, 1 terminating)");
}

TEST(TraceLookup, LocalPolicyWithoutALocalEndpoint) {
  auto st = stateOf(svc("web", "10.96.0.80", ", internalTrafficPolicy: Local") +
                    slice("web", "{addresses: [10.244.2.2], nodeName: node2}"));
  auto f = find(st, "10.96.0.80:80");
  EXPECT_EQ(f.verdict, "unreachable: internalTrafficPolicy Local and no endpoint on node1");
  EXPECT_EQ(f.endpoints.at(0).whyNot, "on node2, not node1 (internalTrafficPolicy Local)");
}

TEST(TraceLookup, NodePortsFollowTheExternalPolicy) {
  auto st = stateOf(svc("np", "10.96.0.81", ", type: NodePort, externalTrafficPolicy: Local, ports: [{port: 80, nodePort: 30080}]") +
                    slice("np", kReady));
  auto f = find(st, "10.200.0.1:30080", {"10.200.0.1"});
  ASSERT_NE(f.port, nullptr);
  EXPECT_EQ(f.kind, AddressKind::kNodePort);
  EXPECT_EQ(f.verdict, "reachable: 1 endpoint (1 ready)");
  EXPECT_EQ(f.usedHostPorts, (std::vector<std::string>{"10.244.1.2:8080"}));
  EXPECT_EQ(find(st, "10.96.0.81:80").verdict, "reachable: 3 endpoints (3 ready)") << "the ClusterIP is policy Cluster";
  EXPECT_EQ(find(st, "10.200.0.9:30080", {"10.200.0.1"}).port, nullptr) << "not a node address";
}

TEST(TraceLookup, NoServiceNamesTheOtherPortsOfThatAddress) {
  auto st = stateOf(svc("web", "10.96.0.80") + slice("web", kReady) + svc("empty", "10.96.0.82"));
  auto f = find(st, "10.96.0.80:81");
  EXPECT_EQ(f.port, nullptr);
  EXPECT_EQ(f.verdict, "unreachable: no Service has 10.96.0.80:81/TCP");
  EXPECT_EQ(f.nearMisses, (std::vector<std::string>{"ns/web (ClusterIP port 80/TCP)"}));
  EXPECT_EQ(find(st, "10.96.0.82:80").verdict, "unreachable: ns/empty has no endpoints");
}

}  // namespace
}  // namespace kproxy::trace
