#include "ebpf/map_layout.h"

#include <gtest/gtest.h>

namespace kproxy::ebpf {
namespace {

using dataplane::ServicePortInfo;
using model::IPFamily;
using model::Protocol;

// web 10.96.0.1:80/TCP with endpoints 10.244.0.1-3:8080; 1 and 2 on this node.
ServicePortInfo port(const std::string& clusterIP = "10.96.0.1") {
  ServicePortInfo p;
  p.name = {{"ns", "web"}, "http", Protocol::kTCP};
  p.clusterIP = clusterIP;
  p.port = 80;
  for (int i = 1; i <= 3; ++i) {
    dataplane::EndpointInfo e;
    e.ip = "10.244.0." + std::to_string(i);
    e.port = 8080;
    e.ready = e.serving = true;
    e.local = i != 3;
    p.endpoints.push_back(e);
    p.clusterEndpoints.push_back(i - 1);
    if (e.local) p.localEndpoints.push_back(i - 1);
  }
  p.hasAnyEndpoints = true;
  return p;
}

SvcKey key(const std::string& text) {
  // "a.b.c.d:port/proto"
  auto colon = text.find(':'), slash = text.find('/');
  unsigned a, b, c, d;
  std::sscanf(text.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d);
  uint8_t proto = text.substr(slash + 1) == "udp" ? 17 : text.substr(slash + 1) == "sctp" ? 132 : 6;
  return {(a << 24) | (b << 16) | (c << 8) | d, static_cast<uint16_t>(std::stoi(text.substr(colon + 1, slash - colon - 1))), proto};
}

MapEntries entries(std::vector<ServicePortInfo> ports, const EntryOptions& o = {}) {
  MapEntries out;
  for (const auto& p : ports) addEntries(p, o, out);
  return out;
}

TEST(EbpfMapLayoutTest, ClusterIPLeadsToItsClusterEndpointsInOrder) {
  auto e = entries({port()});
  ASSERT_EQ(e.services.size(), 1u);
  EXPECT_EQ(e.services.at(key("10.96.0.1:80/tcp")), (SvcValue{3, 0}));
  EXPECT_EQ(renderText(e),
            "service 10.96.0.1:80/tcp count 3\n"
            "  slot 0 10.244.0.1:8080\n  slot 1 10.244.0.2:8080\n  slot 2 10.244.0.3:8080\n");
  // The raw keys are in network byte order, as the BPF programs read a socket's address.
  kproxy_svc_key raw = key("10.96.0.1:80/tcp").raw();
  const auto* bytes = reinterpret_cast<const uint8_t*>(&raw.addr);
  EXPECT_EQ(bytes[0], 10);
  EXPECT_EQ(bytes[3], 1);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(&raw.port)[1], 80);
  EXPECT_EQ(SvcKey::from(raw), key("10.96.0.1:80/tcp"));
}

TEST(EbpfMapLayoutTest, InternalTrafficPolicyLocalUsesLocalEndpointsAndRefusesWithoutThem) {
  auto p = port();
  p.internalPolicyLocal = true;
  EXPECT_EQ(entries({p}).services.at(key("10.96.0.1:80/tcp")).count, 2u);
  p.localEndpoints.clear();
  auto e = entries({p});
  EXPECT_EQ(e.services.at(key("10.96.0.1:80/tcp")).count, 0u) << "an entry that refuses, not a missing one";
  EXPECT_TRUE(e.backends.empty());
  EXPECT_NE(renderText(e).find("count 0 (refused)"), std::string::npos);
}

TEST(EbpfMapLayoutTest, NoEndpointsRefuses) {
  auto p = port();
  p.endpoints.clear();
  p.clusterEndpoints.clear();
  p.localEndpoints.clear();
  p.hasAnyEndpoints = false;
  EXPECT_EQ(entries({p}).services.at(key("10.96.0.1:80/tcp")), (SvcValue{0, 0}));
}

TEST(EbpfMapLayoutTest, ExternalAddressesShortCircuitToClusterEndpoints) {
  auto p = port();
  p.externalPolicyLocal = true;  // from this node, upstream sends them to all endpoints anyway
  p.externalIPs = {"192.0.2.10"};
  p.loadBalancerVIPs = {"203.0.113.5"};
  p.nodePort = 30080;
  EntryOptions o;
  o.nodePortIPs = {"10.200.0.1"};
  auto e = entries({p}, o);
  for (const char* k : {"192.0.2.10:80/tcp", "203.0.113.5:80/tcp", "10.200.0.1:30080/tcp"})
    EXPECT_EQ(e.services.at(key(k)).count, 3u) << k;
  // With source ranges the LB IP is left to the packet path.
  p.loadBalancerSourceRanges = {"198.51.100.0/24"};
  EXPECT_FALSE(entries({p}, o).services.contains(key("203.0.113.5:80/tcp")));
}

TEST(EbpfMapLayoutTest, NodePortAddressesSelectTheNodeIPs) {
  dataplane::ProxyOptions o;
  o.nodeIPs = {"127.0.0.1", "10.200.0.1", "192.0.2.7", "2001:db8::1"};
  EXPECT_EQ(entryOptionsFor(o).nodePortIPs, (std::vector<std::string>{"10.200.0.1", "192.0.2.7"}))
      << "every IPv4 address but loopback";
  o.nodePortAddresses = {*net::parseCidr("192.0.2.0/24")};
  EXPECT_EQ(entryOptionsFor(o).nodePortIPs, (std::vector<std::string>{"192.0.2.7"}));
}

TEST(EbpfMapLayoutTest, AffinityProtocolsAndFamilies) {
  auto p = port();
  p.affinityClientIP = true;
  p.stickySeconds = 600;
  p.protocol = p.name.protocol = Protocol::kUDP;
  auto e = entries({p});
  EXPECT_EQ(e.services.at(key("10.96.0.1:80/udp")), (SvcValue{3, 600}));
  auto v6 = port("fd00::1");
  v6.family = IPFamily::kIPv6;
  EXPECT_TRUE(entries({v6}).services.empty()) << "IPv6 is not served by the IPv4 programs";
}

TEST(EbpfMapLayoutTest, TwoServicesOnOneAddressTheFirstKeepsIt) {
  auto a = port(), b = port("10.96.0.2");
  b.name.service.name = "zzz";
  b.externalIPs = {"10.96.0.1"};  // claims a's ClusterIP:port
  b.clusterEndpoints = {2};
  auto e = entries({a, b});
  EXPECT_EQ(e.services.at(key("10.96.0.1:80/tcp")).count, 3u);
  EXPECT_EQ(e.backends.at(BeKey{key("10.96.0.1:80/tcp"), 0}).str(), "10.244.0.1:8080");
}

TEST(EbpfMapLayoutTest, DiffWritesOnlyTheDifferenceGrowingSlotsFirstShrinkingThemLast) {
  auto p = port();
  MapEntries three = entries({p});
  EXPECT_TRUE(diff(three, three).empty());
  p.endpoints.pop_back();
  p.clusterEndpoints.pop_back();
  MapEntries two = entries({p});
  MapWrites shrink = diff(three, two);
  EXPECT_TRUE(shrink.backendUpserts.empty());
  ASSERT_EQ(shrink.serviceUpserts.size(), 1u);
  EXPECT_EQ(shrink.serviceUpserts[0].second.count, 2u);
  ASSERT_EQ(shrink.backendDeletes.size(), 1u);
  EXPECT_EQ(shrink.backendDeletes[0].slot, 2u);
  MapWrites grow = diff(two, three);
  EXPECT_EQ(grow.backendUpserts.size(), 1u);
  EXPECT_EQ(grow.serviceUpserts.size(), 1u);
  EXPECT_TRUE(grow.backendDeletes.empty());
  MapWrites gone = diff(three, {});
  EXPECT_EQ(gone.serviceDeletes.size(), 1u);
  EXPECT_EQ(gone.backendDeletes.size(), 3u);
  EXPECT_EQ(gone.size(), 4u);
}

}  // namespace
}  // namespace kproxy::ebpf
