// Upstream's conntrack reconciler table, ported as facts: TestCleanStaleEntries of
// kubernetes/kubernetes pkg/proxy/conntrack/cleanup_test.go (commit 5ce2290), its 69 flows and
// which of them go, run against kproxy's StaleUdpMatcher behind the UDP-only dump that
// cleanStaleUdpConntrack makes. Two deliberate details: a flow's reply carries the endpoint's
// port (8000, as the kernel records it; kproxy also checks the port, so a flow pinned to a port
// the endpoint no longer serves goes too), and upstream's TestServiceWithoutEndpoints at that
// commit (flows of a Service without endpoints kept) is not ported: 1.37 clears them
// (kubernetes PR 139629), as kproxy does (StaleUdp.ServingEndpointsKeepTheirFlowsAndDeletedServicesLoseThem).
#include <gtest/gtest.h>

#include "daemon/conntrack_cleanup.h"
#include "tests/unit/dataplane/upstream_cases.h"
#include "watch/decode.h"

namespace kproxy::daemon {
namespace {

constexpr const char* kManifests = R"(kind: Service
metadata: {name: cleanup-test, namespace: test}
spec:
  type: LoadBalancer
  clusterIP: 172.30.1.1
  externalIPs: [192.168.99.100]
  ports:
  - {name: test-tcp, port: 8000, protocol: TCP, nodePort: 32001}
  - {name: test-udp, port: 8000, protocol: UDP, nodePort: 32000}
  - {name: test-sctp, port: 8000, protocol: SCTP, nodePort: 32000}
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
---
kind: EndpointSlice
metadata: {name: cleanup-test-0, namespace: test, labels: {kubernetes.io/service-name: cleanup-test}}
addressType: IPv4
endpoints:
- {addresses: [10.240.0.4], conditions: {serving: true}}
- {addresses: [10.240.1.5], conditions: {serving: false}}
ports:
- {name: test-tcp, port: 8000, protocol: TCP}
- {name: test-udp, port: 8000, protocol: UDP}
- {name: test-sctp, port: 8000, protocol: SCTP}
)";

enum Proto { kTCP, kUDP, kSCTP };

struct Flow {
  Proto proto;
  FlowKey key;
  bool expectGone;
};

TEST(UpstreamConntrack, TestCleanStaleEntries) {
  auto objs = watch::decodeManifestText(kManifests, "cleanup-test");
  ASSERT_TRUE(objs.errors.empty()) << objs.errors.front().str();
  auto state = dataplane::buildDesiredState(objs.services, objs.slices, {"test-worker", {}}, model::IPFamily::kIPv4);
  ASSERT_EQ(state.ports.size(), 3u);
  StaleUdpMatcher matcher(state);

  const char* serving = "10.240.0.4";
  std::vector<Flow> flows;
  for (const char* dnatDest : {serving, "10.240.1.5", "10.240.2.6"})
    for (Proto proto : {kTCP, kUDP, kSCTP}) {
      for (const char* origDest : {"172.30.1.1", "1.2.3.4", "192.168.99.100"})
        for (uint16_t port : {uint16_t{8000}, uint16_t{3000}})
          flows.push_back({proto, {origDest, port, dnatDest, 8000},
                           proto == kUDP && port == 8000 && std::string(dnatDest) != serving});
      // NodePort flows (upstream leaves the original destination unset; any node address).
      flows.push_back({proto, {"192.0.2.1", 32000, dnatDest, 8000}, proto == kUDP && std::string(dnatDest) != serving});
    }
  // Not DNATed (the Service had no rules yet): reply from the destination itself.
  for (const char* ip : {"172.30.1.1", "1.2.3.4", "192.168.99.100"})
    for (uint16_t port : {uint16_t{8000}, uint16_t{3000}}) flows.push_back({kUDP, {ip, port, ip, port}, port == 8000});
  ASSERT_EQ(flows.size(), 69u);

  size_t held = 0, gone = 0;
  for (const auto& f : flows) {
    // cleanStaleUdpConntrack offers the matcher UDP entries only.
    const bool deleted = f.proto == kUDP && matcher.stale(f.key);
    SCOPED_TRACE(std::to_string(f.proto) + " " + f.key.origDst + ":" + std::to_string(f.key.origDstPort) + " <- " + f.key.replySrc);
    EXPECT_EQ(deleted, f.expectGone);
    held += deleted == f.expectGone;
    gone += deleted;
  }
  EXPECT_EQ(gone, 11u) << "upstream: 69 entries before cleanup, 58 after";
  testing::reportUpstreamCases("TestCleanStaleEntries (flows)", "pkg/proxy/conntrack/cleanup_test.go", "5ce2290", held, flows.size());
}

}  // namespace
}  // namespace kproxy::daemon
