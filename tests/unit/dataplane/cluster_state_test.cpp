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

// States are made of runs of services shared between states: one change rebuilds one run, and
// however services come and go (before the first run, across run ends, whole runs emptied) the
// state equals a full build.
TEST(ClusterState, RunsOfServicesAreSharedAndStayExactAcrossChurn) {
  ClusterState st("node1");
  auto name = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "s%04d", i);
    return std::string(buf);
  };
  auto ip = [](int i) { return "10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1); };
  for (int i = 100; i < 1100; ++i) {
    st.upsertService(svc(name(i), ip(i)));
    st.upsertSlice(slice(name(i) + "-1", name(i), "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)));
  }
  auto before = st.desired(IPFamily::kIPv4);
  ASSERT_EQ(before->ports.size(), 1000u);
  EXPECT_GE(before->ports.chunks().size(), 5u) << "the ports come in runs";
  st.upsertSlice(slice(name(500) + "-1", name(500), "10.1.0.1"));
  auto after = st.desired(IPFamily::kIPv4);
  std::set<const PortList::Vec*> old;
  for (const auto& c : before->ports.chunks()) old.insert(c.get());
  size_t fresh = 0;
  for (const auto& c : after->ports.chunks()) fresh += !old.count(c.get());
  EXPECT_EQ(fresh, 1u) << "one change, one run rebuilt";
  ASSERT_EQ(*after, st.buildDesired(IPFamily::kIPv4));

  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int round = 0; round < 40; ++round) {
    for (int k = pick(60); k > 0; --k) {
      int i = pick(1300);  // before the first run, inside, and after the last
      switch (pick(4)) {
        case 0: st.deleteService({"ns", name(i)}); break;
        case 1: st.deleteSlice({"ns", name(i) + "-1"}); break;
        default:
          st.upsertService(svc(name(i), ip(i)));
          st.upsertSlice(slice(name(i) + "-1", name(i), "10.2." + std::to_string(i / 250) + "." + std::to_string(pick(250) + 1)));
      }
    }
    if (round == 20)  // a whole stretch of services goes at once
      for (int i = 300; i < 700; ++i) st.deleteService({"ns", name(i)});
    ASSERT_EQ(*st.desired(IPFamily::kIPv4), st.buildDesired(IPFamily::kIPv4)) << "round " << round;
  }
  EXPECT_LE(st.desired(IPFamily::kIPv4)->ports.chunks().size(), st.desired(IPFamily::kIPv4)->ports.size() / 32 + 2)
      << "runs that shrink merge, so they stay few";
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
  auto ptr = [](const auto& s, size_t i) { return (s->ports.begin() + static_cast<std::ptrdiff_t>(i)).ptr(); };
  for (size_t i = 0; i < 20; ++i) shared += ptr(before, i) == ptr(after, i);
  EXPECT_EQ(shared, 19u);
  EXPECT_EQ(after->portsOf({"ns", "s7"}).begin()->endpoints.at(0).ip, "10.0.1.7");
  EXPECT_EQ(before->portsOf({"ns", "s7"}).begin()->endpoints.at(0).ip, "10.0.0.8") << "the old state is untouched";
  // A full sync's rebuild shares nothing but equals the incremental state.
  auto rebuilt = st.desired(model::IPFamily::kIPv4, true);
  EXPECT_NE(ptr(rebuilt, 0), ptr(after, 0));
  EXPECT_EQ(*rebuilt, *after);
}

}  // namespace
}  // namespace kproxy::dataplane
