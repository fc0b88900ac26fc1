#include "dataplane/cluster_state.h"

#include <gtest/gtest.h>

#include <random>

namespace kproxy::dataplane {
namespace {

model::Service svc(const std::string& name, const std::string& ip) {
  model::Service s;
  s.meta = {name, "ns", "", {}, {}};
  s.clusterIP = ip;
  s.clusterIPs = {ip};
  s.ports = {{"", model::Protocol::kTCP, 80, "", 0}};
  return s;
}

model::EndpointSlice slice(const std::string& name, const std::string& service, const std::string& ip) {
  model::EndpointSlice s;
  s.meta = {name, "ns", "", {}, {}};
  s.serviceName = service;
  model::Endpoint e;
  e.addresses = {ip};
  s.endpoints = {e};
  s.ports = {{"", model::Protocol::kTCP, 8080}};
  return s;
}

TEST(ClusterState, TracksChangedServicesAndIgnoresResends) {
  ClusterState st("node1");
  EXPECT_TRUE(st.upsertService(svc("a", "10.96.0.1")));
  EXPECT_TRUE(st.upsertSlice(slice("a-1", "a", "10.0.0.1")));
  EXPECT_EQ(st.takeChanges().services, (std::set<model::NamespacedName>{{"ns", "a"}}));
  EXPECT_FALSE(st.upsertService(svc("a", "10.96.0.1")));  // same object again
  EXPECT_FALSE(st.hasChanges());
  EXPECT_TRUE(st.upsertSlice(slice("a-1", "b", "10.0.0.1")));  // relabelled to another service
  EXPECT_EQ(st.takeChanges().services, (std::set<model::NamespacedName>{{"ns", "a"}, {"ns", "b"}}));
  EXPECT_TRUE(st.deleteSlice({"ns", "a-1"}));
  EXPECT_FALSE(st.deleteSlice({"ns", "a-1"}));
  EXPECT_EQ(st.takeChanges().services, (std::set<model::NamespacedName>{{"ns", "b"}}));
  auto d = st.desired(model::IPFamily::kIPv4);
  ASSERT_EQ(d->ports.size(), 1u);
  EXPECT_TRUE(d->ports[0].endpoints.empty());
}

TEST(ClusterState, NodeLabelAndAddressChangesForceAFullSyncOtherNodesAreIgnored) {
  ClusterState st("node1");
  model::Node other;
  other.meta.name = "node2";
  EXPECT_FALSE(st.upsertNode(other));
  model::Node me;
  me.meta.name = "node1";
  me.meta.labels = {{model::kLabelTopologyZone, "a"}};
  EXPECT_TRUE(st.upsertNode(me));
  EXPECT_TRUE(st.takeChanges().needFull);
  // Addresses decide the primary node IP: a full sync, without rebuilding the services.
  me.addresses = {{"InternalIP", "10.0.0.1"}};
  EXPECT_TRUE(st.upsertNode(me));
  EXPECT_TRUE(st.takeChanges().needFull);
  EXPECT_FALSE(st.upsertNode(me));  // the same again: nothing
  EXPECT_FALSE(st.takeChanges().needFull);
  EXPECT_EQ(st.nodeContext().nodeLabels.at(model::kLabelTopologyZone), "a");
}

TEST(ClusterState, CollectsTriggerTimesAfterItsStartAndCountsEndpointChanges) {
  auto start = *parseRFC3339("2026-11-25T10:00:00Z");
  ClusterState st("node1", start);
  auto before = slice("s1", "a", "10.0.0.1");
  before.meta.annotations[kAnnotationTriggerTime] = "2026-11-25T09:59:59.5Z";  // older than the proxy
  auto after = slice("s2", "a", "10.0.0.2");
  after.meta.annotations[kAnnotationTriggerTime] = "2026-11-25T10:00:01.250Z";
  auto junk = slice("s3", "a", "10.0.0.3");
  junk.meta.annotations[kAnnotationTriggerTime] = "yesterday";
  EXPECT_TRUE(st.upsertSlice(before));
  EXPECT_TRUE(st.upsertSlice(after));
  EXPECT_TRUE(st.upsertSlice(junk));
  EXPECT_FALSE(st.upsertSlice(junk)) << "a resend is no change";
  EXPECT_TRUE(st.deleteSlice({"ns", "s1"}));
  EXPECT_EQ(st.pendingEndpointChanges(), 4u);
  auto c = st.takeChanges();
  ASSERT_EQ(c.triggerTimes.size(), 1u);
  EXPECT_EQ(c.triggerTimes[0] - start, std::chrono::milliseconds(1250));
  EXPECT_EQ(c.endpointChanges, 4u);
  EXPECT_EQ(st.pendingEndpointChanges(), 0u);
  EXPECT_TRUE(st.takeChanges().triggerTimes.empty());
}

TEST(ClusterState, ServiceCIDRsAreTheUnionOfEveryObjectsRanges) {
  ClusterState st("node1");
  auto cidr = [](const std::string& name, std::vector<std::string> cidrs) {
    model::ServiceCIDR c;
    c.meta.name = name;
    c.cidrs = std::move(cidrs);
    return c;
  };
  EXPECT_TRUE(st.serviceCIDRs().empty());
  EXPECT_TRUE(st.upsertServiceCIDR(cidr("kubernetes", {"10.96.0.0/16", "fd00:10:96::/112"})));
  EXPECT_FALSE(st.upsertServiceCIDR(cidr("kubernetes", {"10.96.0.0/16", "fd00:10:96::/112"}))) << "a resend changes nothing";
  // A second object naming the same range, as while one replaces another: deleting either keeps it.
  EXPECT_FALSE(st.upsertServiceCIDR(cidr("replacement", {"10.96.0.0/16"})));
  EXPECT_TRUE(st.upsertServiceCIDR(cidr("more", {"10.100.0.0/24"})));
  EXPECT_EQ(st.serviceCIDRs(), (std::vector<std::string>{"10.100.0.0/24", "10.96.0.0/16", "fd00:10:96::/112"}));
  EXPECT_TRUE(st.deleteServiceCIDR("kubernetes")) << "its IPv6 range goes";
  EXPECT_EQ(st.serviceCIDRs(), (std::vector<std::string>{"10.100.0.0/24", "10.96.0.0/16"}));
  EXPECT_FALSE(st.deleteServiceCIDR("unknown"));
  EXPECT_TRUE(st.deleteServiceCIDR("replacement"));
  EXPECT_EQ(st.serviceCIDRs(), std::vector<std::string>{"10.100.0.0/24"});
}

TEST(ParseRFC3339, ApiTimesWithFractionsAndOffsets) {
  auto base = parseRFC3339("2026-11-25T09:13:16Z");
  ASSERT_TRUE(base);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*base), 1795597996);
  EXPECT_EQ(*parseRFC3339("2026-11-25T09:13:16.123456789Z") - *base, std::chrono::nanoseconds(123456789));
  EXPECT_EQ(*parseRFC3339("2026-11-25T10:13:16+01:00"), *base);
  EXPECT_EQ(*parseRFC3339("2026-11-25T08:43:16-00:30"), *base);
  for (const char* bad : {"", "2026-11-25", "2026-11-25T09:13:16", "2026-13-25T09:13:16Z", "2026-11-25T09:13:16.Z",
                          "2026-11-25T09:13:16Zjunk", "2026-11-25 09:13:16Z"})
    EXPECT_FALSE(parseRFC3339(bad)) << bad;
}

// The incremental desired state must equal a from-scratch build after any history of events,
// and must share (not rebuild) the ports of every service the events did not touch.
TEST(ClusterState, IncrementalDesiredStateEqualsAFullBuildAfterRandomHistories) {
  using model::IPFamily;
  for (unsigned seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    ClusterState st("node1");
    auto randomService = [&](int i) {
      auto s = svc("s" + std::to_string(i), "10.96.0." + std::to_string(i + 1));
      if (pick(3) == 0) {  // dual stack
        s.clusterIPs.push_back("fd00::" + std::to_string(i + 1));
        s.ipFamilies = {IPFamily::kIPv4, IPFamily::kIPv6};
      }
      if (pick(2)) s.ports = {{"a", model::Protocol::kTCP, 80, "", 30000}, {"b", model::Protocol::kUDP, 53, "", 0}};
      if (pick(3) == 0) s.type = model::ServiceType::kNodePort;
      if (pick(4) == 0) s.externalTrafficPolicy = model::TrafficPolicy::kLocal;
      if (pick(4) == 0) s.internalTrafficPolicy = model::TrafficPolicy::kLocal;
      if (pick(6) == 0) s.clusterIP = "None", s.clusterIPs.clear();  // headless
      if (pick(8) == 0) s.meta.labels[model::kLabelServiceProxyName] = "other";
      return s;
    };
    auto randomSlice = [&](int i) {
      bool v6 = pick(4) == 0;
      auto s = slice("e" + std::to_string(i), "s" + std::to_string(pick(8)), "");
      s.addressType = v6 ? model::AddressType::kIPv6 : model::AddressType::kIPv4;
      s.ports = {{pick(2) ? "" : "a", model::Protocol::kTCP, 8080}, {"b", model::Protocol::kUDP, 5353}};
      s.endpoints.clear();
      for (int n = pick(4); n > 0; --n) {
        model::Endpoint e;
        int host = pick(6) + 1;  // overlapping addresses across slices: first slice wins
        e.addresses = {v6 ? "fd01::" + std::to_string(host) : "10.0.0." + std::to_string(host)};
        if (pick(3) == 0) e.conditions.ready = false;
        if (pick(4) == 0) e.conditions.serving = true, e.conditions.terminating = true;
        e.nodeName = pick(2) ? "node1" : "node2";
        if (pick(2)) e.hintsForZones = {pick(2) ? "a" : "b"};
        s.endpoints.push_back(e);
      }
      return s;
    };
    for (int step = 0; step < 300; ++step) {
      switch (pick(9)) {
        case 0: case 1: st.upsertService(randomService(pick(8))); break;
        case 2: st.deleteService({"ns", "s" + std::to_string(pick(8))}); break;
        case 3: case 4: case 5: st.upsertSlice(randomSlice(pick(12))); break;
        case 6: st.deleteSlice({"ns", "e" + std::to_string(pick(12))}); break;
        case 7: {
          model::Node me;
          me.meta.name = "node1";
          me.meta.labels = {{model::kLabelTopologyZone, pick(2) ? "a" : "b"}};
          st.upsertNode(me);
          break;
        }
        default: {
          IPFamily family = pick(2) ? IPFamily::kIPv4 : IPFamily::kIPv6;
          auto before = st.desired(family);
          auto again = st.desired(family);
          EXPECT_EQ(before, again) << "no change, same state object";
          ASSERT_EQ(*before, st.buildDesired(family)) << "seed " << seed << " step " << step;
          break;
        }
      }
    }
    for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6})
      ASSERT_EQ(*st.desired(family), st.buildDesired(family)) << "seed " << seed;
  }
}

TEST(ClusterState, AnEndpointChangeRebuildsOnlyItsService) {
  ClusterState st("node1");
  for (int i = 0; i < 20; ++i) {
    st.upsertService(svc("s" + std::to_string(i), "10.96.0." + std::to_string(i + 1)));
    st.upsertSlice(slice("s" + std::to_string(i) + "-1", "s" + std::to_string(i), "10.0.0." + std::to_string(i + 1)));
  }
  auto before = st.desired(model::IPFamily::kIPv4);
  st.upsertSlice(slice("s7-1", "s7", "10.0.1.7"));
  auto after = st.desired(model::IPFamily::kIPv4);
  ASSERT_EQ(after->ports.size(), 20u);
  size_t shared = 0;
  for (size_t i = 0; i < 20; ++i) shared += before->ports.pointers()[i] == after->ports.pointers()[i];
  EXPECT_EQ(shared, 19u);
  EXPECT_EQ(after->portsOf({"ns", "s7"}).begin()->endpoints.at(0).ip, "10.0.1.7");
  EXPECT_EQ(before->portsOf({"ns", "s7"}).begin()->endpoints.at(0).ip, "10.0.0.8") << "the old state is untouched";
  // A full sync's rebuild shares nothing but equals the incremental state.
  auto rebuilt = st.desired(model::IPFamily::kIPv4, true);
  EXPECT_NE(rebuilt->ports.pointers()[0], after->ports.pointers()[0]);
  EXPECT_EQ(*rebuilt, *after);
}

}  // namespace
}  // namespace kproxy::dataplane
