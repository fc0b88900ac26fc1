// Unit tests of the daemon's pure pieces: flags, cleanup text, stale UDP flow matching.
#include <gtest/gtest.h>

#include "daemon/cleanup.h"
#include "daemon/conntrack_cleanup.h"
#include "daemon/flags.h"
#include "iptables/jump_rules.h"
#include "watch/decode.h"

namespace kproxy::daemon {
namespace {

TEST(Flags, KubeProxyNamesAndDurations) {
  auto f = parseDaemonFlags({"--proxy-mode=iptables", "--manifests", "/m", "--hostname-override", "n1",
                             "--cluster-cidr", "10.244.0.0/16", "--iptables-sync-period", "1m0s",
                             "--iptables-min-sync-period=250ms", "--iptables-backend", "legacy", "--masquerade-all",
                             "-v", "4", "--no-cleanup-other-modes"});
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f.value().config.iptables.syncPeriod, std::chrono::seconds(60));
  EXPECT_EQ(f.value().config.iptables.minSyncPeriod, std::chrono::milliseconds(250));
  EXPECT_EQ(f.value().backend, iptables::XtablesBackend::kLegacy);
  EXPECT_TRUE(f.value().config.iptables.masqueradeAll);
  EXPECT_FALSE(f.value().cleanupOtherModes);
  EXPECT_EQ(f.value().config.logging.verbosity, 4);
  auto bad = parseDaemonFlags({"--cluster-cidr", "10.0.0.0/99", "--iptables-sync-period", "soon", "--bogus"});
  ASSERT_FALSE(bad);
  for (const char* word : {"10.0.0.0/99", "soon", "--bogus"}) EXPECT_NE(bad.error().find(word), std::string::npos);
  EXPECT_EQ(parseDuration("1h2m3s"), std::chrono::milliseconds(3723000));
  EXPECT_EQ(parseDuration("0"), std::chrono::milliseconds(0));
  EXPECT_FALSE(parseDuration("5"));
}

TEST(Cleanup, DeletesOurChainsAndJumpsButNotForeignOnes) {
  const std::string save =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-ABC - [0:0]\n:MINE - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n"
      "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
      "-A PREROUTING -p tcp --dport 9 -j MINE\n-A KUBE-SERVICES -j KUBE-SVC-ABC\n-A MINE -j RETURN\nCOMMIT\n";
  size_t rules = 0, chains = 0;
  std::string text = cleanupRestoreText("nat", save, [](std::string_view c) { return iptables::isKproxyChain(c); },
                                        &rules, &chains);
  EXPECT_EQ(rules, 1u);
  EXPECT_EQ(chains, 3u);
  EXPECT_NE(text.find("-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"), std::string::npos);
  EXPECT_NE(text.find("-X KUBE-LOAD-BALANCER\n"), std::string::npos);
  EXPECT_EQ(text.find("MINE"), std::string::npos);
}

TEST(StaleUdp, MatchesOnlyServiceFlowsAnsweredByAGoneEndpoint) {
  auto o = watch::decodeManifestText(R"(kind: Service
metadata: {name: dns, namespace: ns}
spec: {type: NodePort, clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP, nodePort: 30053}]}
---
kind: EndpointSlice
metadata: {name: dns-1, namespace: ns, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.2]}]
ports: [{port: 5353, protocol: UDP}]
)", "t");
  ASSERT_TRUE(o.errors.empty());
  auto state = dataplane::buildDesiredState(o.services, o.slices, {"node1", {}}, model::IPFamily::kIPv4);
  StaleUdpMatcher m(state);
  EXPECT_FALSE(m.stale({"10.96.0.10", 53, "10.0.0.2", 5353}));   // live endpoint
  EXPECT_TRUE(m.stale({"10.96.0.10", 53, "10.0.0.1", 5353}));    // endpoint gone
  EXPECT_TRUE(m.stale({"10.96.0.10", 53, "10.96.0.10", 53}));    // not DNATed: held a REJECT
  EXPECT_FALSE(m.stale({"10.96.0.11", 53, "10.0.0.1", 5353}));   // not a service
  EXPECT_TRUE(m.stale({"10.200.0.1", 30053, "10.0.0.1", 5353})); // NodePort to a gone endpoint
  EXPECT_FALSE(m.stale({"10.200.0.1", 30053, "10.0.0.2", 5353}));
  EXPECT_FALSE(m.stale({"10.200.0.1", 9999, "10.0.0.1", 5353}));
}

TEST(StaleUdp, ADumpIsNeededOnlyWhenAUdpPortLostEndpointsOrGainedItsFirst) {
  auto build = [](const std::string& dnsEndpoints, const std::string& webEndpoints) {
    std::string text = R"(kind: Service
metadata: {name: dns, namespace: ns}
spec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}
---
kind: Service
metadata: {name: web, namespace: ns}
spec: {clusterIP: 10.96.0.11, ports: [{port: 80}]}
---
kind: EndpointSlice
metadata: {name: dns-1, namespace: ns, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints: [)" + dnsEndpoints + R"(]
ports: [{port: 5353, protocol: UDP}]
---
kind: EndpointSlice
metadata: {name: web-1, namespace: ns, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [)" + webEndpoints + R"(]
ports: [{port: 8080}]
)";
    auto o = watch::decodeManifestText(text, "t");
    EXPECT_TRUE(o.errors.empty());
    return dataplane::buildDesiredState(o.services, o.slices, {"node1", {}}, model::IPFamily::kIPv4);
  };
  auto a = build("{addresses: [10.0.0.2]}", "{addresses: [10.0.1.2]}");
  EXPECT_TRUE(udpFlowsMayBeStale(nullptr, a)) << "first sync: flows from before the restart";
  EXPECT_FALSE(udpFlowsMayBeStale(&a, a)) << "nothing changed";
  auto webLost = build("{addresses: [10.0.0.2]}", "");
  EXPECT_FALSE(udpFlowsMayBeStale(&a, webLost)) << "a TCP service lost its endpoint";
  auto dnsGrew = build("{addresses: [10.0.0.2]}, {addresses: [10.0.0.3]}", "{addresses: [10.0.1.2]}");
  EXPECT_FALSE(udpFlowsMayBeStale(&a, dnsGrew)) << "an endpoint added strands no flow";
  EXPECT_TRUE(udpFlowsMayBeStale(&dnsGrew, a)) << "an endpoint removed";
  auto dnsNone = build("", "{addresses: [10.0.1.2]}");
  EXPECT_TRUE(udpFlowsMayBeStale(&a, dnsNone));
  EXPECT_TRUE(udpFlowsMayBeStale(&dnsNone, a)) << "first endpoints: flows that held a REJECT";
  dataplane::DesiredState empty;
  EXPECT_TRUE(udpFlowsMayBeStale(&empty, a)) << "a new UDP service with endpoints";
  EXPECT_TRUE(udpFlowsMayBeStale(&a, empty)) << "a deleted UDP service: its DNATed flows still reach the old pod";
  auto noDns = build("", "{addresses: [10.0.1.2]}");
  EXPECT_FALSE(udpFlowsMayBeStale(&noDns, empty)) << "a deleted UDP service without endpoints had no DNATed flow";
}

// Upstream's reconciler (1.37): a UDP flow answered by any serving endpoint stays, even one that
// is terminating or outside the node's topology; a deleted Service's DNATed flows go
// (kubernetes PR 141371), its un-DNATed ones (a local listener) stay.
TEST(StaleUdp, ServingEndpointsKeepTheirFlowsAndDeletedServicesLoseThem) {
  auto decode = [](const std::string& text) {
    auto o = watch::decodeManifestText(text, "t");
    EXPECT_TRUE(o.errors.empty());
    return dataplane::buildDesiredState(o.services, o.slices, {"node1", {}}, model::IPFamily::kIPv4);
  };
  const std::string dns = R"(kind: Service
metadata: {name: dns, namespace: ns}
spec: {type: NodePort, clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP, nodePort: 30053}]}
)";
  auto withEndpoints = decode(dns + R"(---
kind: EndpointSlice
metadata: {name: dns-1, namespace: ns, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.2]}
- {addresses: [10.0.0.3], conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [10.0.0.4], conditions: {ready: false, serving: false, terminating: true}}
ports: [{port: 5353, protocol: UDP}]
)");
  StaleUdpMatcher m(withEndpoints);
  EXPECT_FALSE(m.stale({"10.96.0.10", 53, "10.0.0.3", 5353})) << "serving, terminating: kept";
  EXPECT_TRUE(m.stale({"10.96.0.10", 53, "10.0.0.4", 5353})) << "not serving: goes";
  dataplane::DesiredState none;
  StaleUdpMatcher gone(none, &withEndpoints);
  EXPECT_FALSE(gone.empty());
  EXPECT_TRUE(gone.stale({"10.96.0.10", 53, "10.0.0.2", 5353})) << "deleted Service, DNATed flow";
  EXPECT_FALSE(gone.stale({"10.96.0.10", 53, "10.96.0.10", 53})) << "not DNATed";
  EXPECT_TRUE(gone.stale({"10.200.0.1", 30053, "10.0.0.2", 5353})) << "its NodePort";
  EXPECT_FALSE(gone.stale({"10.96.0.11", 53, "10.0.0.2", 5353})) << "another address";
}

}  // namespace
}  // namespace kproxy::daemon
