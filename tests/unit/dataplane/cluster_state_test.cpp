#include "dataplane/cluster_state.h"

#include <gtest/gtest.h>

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
  ASSERT_EQ(d.ports.size(), 1u);
  EXPECT_TRUE(d.ports[0].endpoints.empty());
}

TEST(ClusterState, NodeLabelChangesForceAFullSyncOtherNodesAreIgnored) {
  ClusterState st("node1");
  model::Node other;
  other.meta.name = "node2";
  EXPECT_FALSE(st.upsertNode(other));
  model::Node me;
  me.meta.name = "node1";
  me.meta.labels = {{model::kLabelTopologyZone, "a"}};
  EXPECT_TRUE(st.upsertNode(me));
  EXPECT_TRUE(st.takeChanges().needFull);
  me.addresses = {{"InternalIP", "10.0.0.1"}};
  EXPECT_FALSE(st.upsertNode(me));  // addresses only: no full sync
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

}  // namespace
}  // namespace kproxy::dataplane
