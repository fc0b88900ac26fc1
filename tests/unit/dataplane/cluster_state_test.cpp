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

}  // namespace
}  // namespace kproxy::dataplane
