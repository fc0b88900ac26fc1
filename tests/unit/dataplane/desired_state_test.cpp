#include "dataplane/desired_state.h"

#include <gtest/gtest.h>

namespace kproxy::dataplane {
namespace {

using model::EndpointSlice;
using model::Service;

Service svc(const std::string& name, const std::string& ip, std::vector<model::ServicePort> ports = {{"", Protocol::kTCP, 80, "8080", 0}}) {
  Service s;
  s.meta.name = name;
  s.meta.namespace_ = "ns";
  s.clusterIP = ip;
  s.clusterIPs = {ip};
  s.ports = std::move(ports);
  return s;
}

struct Ep {
  std::string ip;
  std::optional<bool> ready = true, serving = std::nullopt, terminating = std::nullopt;
  std::string node = "node2";
  std::vector<std::string> hints = {};
  std::vector<std::string> nodeHints = {};
};

EndpointSlice slice(const std::string& service, const std::string& name, std::vector<Ep> eps,
                    std::vector<model::EndpointPort> ports = {{"", Protocol::kTCP, 8080}},
                    model::AddressType at = model::AddressType::kIPv4) {
  EndpointSlice s;
  s.meta.name = name;
  s.meta.namespace_ = "ns";
  s.serviceName = service;
  s.addressType = at;
  for (const auto& e : eps) {
    model::Endpoint ep;
    ep.addresses = {e.ip};
    ep.conditions = {e.ready, e.serving, e.terminating};
    ep.nodeName = e.node;
    ep.hintsForZones = e.hints;
    ep.hintsForNodes = e.nodeHints;
    s.endpoints.push_back(ep);
  }
  s.ports = std::move(ports);
  return s;
}

std::vector<std::string> ips(const ServicePortInfo& p, const std::vector<size_t>& idx) {
  std::vector<std::string> out;
  for (size_t i : idx) out.push_back(p.endpoints[i].hostPort);
  return out;
}

NodeContext node1() {
  NodeContext n;
  n.nodeName = "node1";
  return n;
}

TEST(DesiredState, UsesReadyEndpointsSortedAndDeduplicated) {
  auto state = buildDesiredState({svc("web", "10.96.0.10")},
                                 {slice("web", "web-b", {{"10.0.0.3"}, {"10.0.0.1"}}),
                                  slice("web", "web-a", {{"10.0.0.2"}, {"10.0.0.1"}, {"10.0.0.9", false}})},
                                 node1(), IPFamily::kIPv4);
  ASSERT_EQ(state.ports.size(), 1u);
  const auto& p = state.ports[0];
  EXPECT_EQ(p.nameString, "ns/web");
  EXPECT_EQ(p.clusterIP, "10.96.0.10");
  EXPECT_EQ(ips(p, p.clusterEndpoints), (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}));
  EXPECT_EQ(p.endpoints.size(), 4u);  // the not-ready one is known, just not used
  EXPECT_TRUE(p.hasAnyEndpoints);
}

TEST(DesiredState, ReadyMissingMeansReady) {
  auto state = buildDesiredState({svc("web", "10.96.0.10")}, {slice("web", "s", {{"10.0.0.1", std::nullopt}})},
                                 node1(), IPFamily::kIPv4);
  EXPECT_EQ(state.ports[0].clusterEndpoints.size(), 1u);
}

// Upstream's endpointslicecache: serving unset is true (not "as ready"), so a not-ready,
// terminating endpoint with serving unset still carries traffic when nothing is ready.
TEST(DesiredState, ServingMissingMeansServing) {
  auto state = buildDesiredState({svc("web", "10.96.0.10")},
                                 {slice("web", "s", {{"10.0.0.1", false, std::nullopt, true}})}, node1(), IPFamily::kIPv4);
  const auto& p = state.ports[0];
  ASSERT_EQ(p.endpoints.size(), 1u);
  EXPECT_TRUE(p.endpoints[0].serving);
  EXPECT_EQ(ips(p, p.clusterEndpoints), (std::vector<std::string>{"10.0.0.1:8080"})) << "serving-terminating fallback";
}

// The same IP:port in two slices (a new pod reusing a terminating pod's IP): the
// non-terminating one wins whichever slice comes first, as upstream's cache prefers it.
TEST(DesiredState, DuplicateEndpointsPreferTheNonTerminatingOne) {
  for (bool terminatingFirst : {true, false}) {
    Ep old{"10.0.0.1", false, true, true, "node2"}, fresh{"10.0.0.1", true, true, false, "node1"};
    auto state = buildDesiredState({svc("web", "10.96.0.10")},
                                   {slice("web", "web-a", {terminatingFirst ? old : fresh}),
                                    slice("web", "web-b", {terminatingFirst ? fresh : old})},
                                   node1(), IPFamily::kIPv4);
    const auto& p = state.ports[0];
    ASSERT_EQ(p.endpoints.size(), 1u);
    EXPECT_FALSE(p.endpoints[0].terminating) << "terminating first: " << terminatingFirst;
    EXPECT_TRUE(p.endpoints[0].ready);
    EXPECT_TRUE(p.endpoints[0].local) << "the running pod's node";
  }
}

TEST(DesiredState, FallsBackToServingTerminatingOnlyWhenNothingIsReady) {
  auto withReady = buildDesiredState(
      {svc("web", "10.96.0.10")},
      {slice("web", "s", {{"10.0.0.1", false, true, true}, {"10.0.0.2", true}})}, node1(), IPFamily::kIPv4);
  EXPECT_EQ(ips(withReady.ports[0], withReady.ports[0].clusterEndpoints), (std::vector<std::string>{"10.0.0.2:8080"}));

  auto noReady = buildDesiredState(
      {svc("web", "10.96.0.10")},
      {slice("web", "s", {{"10.0.0.1", false, true, true}, {"10.0.0.3", false, false, true}})}, node1(),
      IPFamily::kIPv4);
  EXPECT_EQ(ips(noReady.ports[0], noReady.ports[0].clusterEndpoints), (std::vector<std::string>{"10.0.0.1:8080"}));
  EXPECT_TRUE(noReady.ports[0].hasAnyEndpoints);

  auto none = buildDesiredState({svc("web", "10.96.0.10")}, {slice("web", "s", {{"10.0.0.3", false, false, true}})},
                                node1(), IPFamily::kIPv4);
  EXPECT_TRUE(none.ports[0].clusterEndpoints.empty());
  EXPECT_FALSE(none.ports[0].hasAnyEndpoints);
}

TEST(DesiredState, ExternalTrafficPolicyLocalUsesThisNodesEndpoints) {
  auto s = svc("web", "10.96.0.10", {{"", Protocol::kTCP, 80, "", 30080}});
  s.type = model::ServiceType::kNodePort;
  s.externalTrafficPolicy = model::TrafficPolicy::kLocal;
  auto state = buildDesiredState({s}, {slice("web", "s", {{"10.0.0.1", true, {}, {}, "node1"}, {"10.0.0.2"}})},
                                 node1(), IPFamily::kIPv4);
  const auto& p = state.ports[0];
  EXPECT_TRUE(p.externalPolicyLocal);
  EXPECT_EQ(ips(p, p.localEndpoints), (std::vector<std::string>{"10.0.0.1:8080"}));
  EXPECT_EQ(ips(p, p.clusterEndpoints), (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
  EXPECT_EQ(p.reachableEndpoints.size(), 2u);
}

TEST(DesiredState, ExternalPolicyIgnoredForClusterIPWithoutExternalIPs) {
  auto s = svc("web", "10.96.0.10");
  s.externalTrafficPolicy = model::TrafficPolicy::kLocal;
  auto state = buildDesiredState({s}, {slice("web", "s", {{"10.0.0.2"}})}, node1(), IPFamily::kIPv4);
  EXPECT_FALSE(state.ports[0].externalPolicyLocal);
  EXPECT_TRUE(state.ports[0].localEndpoints.empty());
}

TEST(DesiredState, InternalTrafficPolicyLocalWithoutLocalEndpoints) {
  auto s = svc("web", "10.96.0.10");
  s.internalTrafficPolicy = model::TrafficPolicy::kLocal;
  auto state = buildDesiredState({s}, {slice("web", "s", {{"10.0.0.2"}})}, node1(), IPFamily::kIPv4);
  const auto& p = state.ports[0];
  EXPECT_FALSE(p.usesClusterEndpoints());
  EXPECT_TRUE(p.localEndpoints.empty());
  EXPECT_TRUE(p.reachableEndpoints.empty());
  EXPECT_TRUE(p.hasAnyEndpoints);  // endpoints exist elsewhere: DROP, not REJECT
}

TEST(DesiredState, TopologyHintsOnlyWhenEveryEndpointHasThem) {
  NodeContext n = node1();
  n.nodeLabels[model::kLabelTopologyZone] = "zone-a";
  auto hinted = buildDesiredState({svc("web", "10.96.0.10")},
                                  {slice("web", "s",
                                         {{"10.0.0.1", true, {}, {}, "node2", {"zone-a"}},
                                          {"10.0.0.2", true, {}, {}, "node3", {"zone-b"}}})},
                                  n, IPFamily::kIPv4);
  EXPECT_EQ(ips(hinted.ports[0], hinted.ports[0].clusterEndpoints), (std::vector<std::string>{"10.0.0.1:8080"}));

  auto partial = buildDesiredState({svc("web", "10.96.0.10")},
                                   {slice("web", "s", {{"10.0.0.1", true, {}, {}, "node2", {"zone-a"}}, {"10.0.0.2"}})},
                                   n, IPFamily::kIPv4);
  EXPECT_EQ(partial.ports[0].clusterEndpoints.size(), 2u);

  auto otherZone = buildDesiredState({svc("web", "10.96.0.10")},
                                     {slice("web", "s", {{"10.0.0.2", true, {}, {}, "node3", {"zone-b"}}})}, n,
                                     IPFamily::kIPv4);
  EXPECT_EQ(otherZone.ports[0].clusterEndpoints.size(), 1u);  // no hint for our zone: hints ignored
}

// upstream topology_test.go's PreferSameNode cases: node hints win over zone hints when every
// ready endpoint has one and one is for this node; otherwise zone hints, otherwise none.
TEST(DesiredState, PreferSameNodeHintsPickThisNodesEndpoints) {
  NodeContext n = node1();
  n.nodeLabels[model::kLabelTopologyZone] = "zone-a";
  auto build = [&](std::vector<Ep> eps) {
    auto st = buildDesiredState({svc("web", "10.96.0.10")}, {slice("web", "s", std::move(eps))}, n, IPFamily::kIPv4);
    return ips(st.ports[0], st.ports[0].clusterEndpoints);
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(build({{"10.0.0.1", true, {}, {}, "node1", {"zone-a"}, {"node1"}},
                   {"10.0.0.2", true, {}, {}, "node2", {"zone-a"}, {"node2"}},
                   {"10.0.0.3", true, {}, {}, "node3", {"zone-b"}, {"node3"}}}),
            V{"10.0.0.1:8080"}) << "same node";
  EXPECT_EQ(build({{"10.0.0.2", true, {}, {}, "node2", {"zone-a"}, {"node2"}},
                   {"10.0.0.3", true, {}, {}, "node3", {"zone-b"}, {"node3"}}}),
            V{"10.0.0.2:8080"}) << "no endpoint for this node: the zone's";
  EXPECT_EQ(build({{"10.0.0.1", true, {}, {}, "node1", {"zone-a"}, {"node1"}},
                   {"10.0.0.2", true, {}, {}, "node2", {"zone-a"}, {}},
                   {"10.0.0.3", true, {}, {}, "node3", {"zone-b"}, {"node3"}}}),
            (V{"10.0.0.1:8080", "10.0.0.2:8080"})) << "one without a node hint: zone hints";
  EXPECT_EQ(build({{"10.0.0.1", true, {}, {}, "node1", {}, {"node1"}}, {"10.0.0.2", true, {}, {}, "node2", {}, {}}}),
            (V{"10.0.0.1:8080", "10.0.0.2:8080"})) << "incomplete hints of both kinds: every endpoint";
  EXPECT_EQ(build({{"10.0.0.1", false, true, true, "node1", {}, {"node1"}}, {"10.0.0.2", true, {}, {}, "node2", {}, {"node2"}}}),
            V{"10.0.0.2:8080"}) << "the local one is not ready: only ready endpoints count, no hint for node1 among them";
}

TEST(DesiredState, MatchesSlicePortsByNameAndProtocol) {
  auto s = svc("dns", "10.96.0.10", {{"dns", Protocol::kUDP, 53, "", 0}, {"dns-tcp", Protocol::kTCP, 53, "", 0}});
  auto state = buildDesiredState(
      {s}, {slice("dns", "s", {{"10.0.0.1"}}, {{"dns", Protocol::kUDP, 5353}, {"dns-tcp", Protocol::kTCP, 5354}})},
      node1(), IPFamily::kIPv4);
  ASSERT_EQ(state.ports.size(), 2u);
  EXPECT_EQ(state.ports[0].nameString, "ns/dns:dns");
  EXPECT_EQ(state.ports[0].endpoints[0].hostPort, "10.0.0.1:5353");
  EXPECT_EQ(state.ports[1].nameString, "ns/dns:dns-tcp");
  EXPECT_EQ(state.ports[1].endpoints[0].hostPort, "10.0.0.1:5354");
}

TEST(DesiredState, SplitsDualStackByFamily) {
  auto s = svc("web", "10.96.0.10");
  s.clusterIPs = {"10.96.0.10", "fd00::10"};
  std::vector<EndpointSlice> slices = {slice("web", "v4", {{"10.0.0.1"}}),
                                       slice("web", "v6", {{"fd01::1"}}, {{"", Protocol::kTCP, 8080}},
                                             model::AddressType::kIPv6)};
  auto v4 = buildDesiredState({s}, slices, node1(), IPFamily::kIPv4);
  auto v6 = buildDesiredState({s}, slices, node1(), IPFamily::kIPv6);
  EXPECT_EQ(v4.ports[0].clusterIP, "10.96.0.10");
  EXPECT_EQ(v4.ports[0].endpoints[0].hostPort, "10.0.0.1:8080");
  EXPECT_EQ(v6.ports[0].clusterIP, "fd00::10");
  EXPECT_EQ(v6.ports[0].endpoints[0].hostPort, "[fd01::1]:8080");
  auto v4only = buildDesiredState({svc("a", "10.96.0.11")}, {}, node1(), IPFamily::kIPv6);
  EXPECT_TRUE(v4only.ports.empty());
}

TEST(DesiredState, SkipsHeadlessExternalNameAndOtherProxies) {
  auto headless = svc("headless", "None");
  headless.clusterIPs.clear();
  auto ext = svc("ext", "");
  ext.type = model::ServiceType::kExternalName;
  auto other = svc("other", "10.96.0.12");
  other.meta.labels[model::kLabelServiceProxyName] = "someone-else";
  auto labelled = svc("labelled", "10.96.0.13");
  labelled.meta.labels[model::kLabelHeadless] = "";
  auto state = buildDesiredState({headless, ext, other, labelled, svc("ok", "10.96.0.14")}, {}, node1(),
                                 IPFamily::kIPv4);
  ASSERT_EQ(state.ports.size(), 1u);
  EXPECT_EQ(state.ports[0].nameString, "ns/ok");
}

TEST(DesiredState, PortsOfFindsAServicesPorts) {
  auto state = buildDesiredState({svc("a", "10.96.0.1"), svc("b", "10.96.0.2", {{"x", Protocol::kTCP, 1, "", 0}, {"y", Protocol::kTCP, 2, "", 0}})},
                                 {}, node1(), IPFamily::kIPv4);
  auto ports = state.portsOf({"ns", "b"});
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports.begin()->name.port, "x");
  EXPECT_EQ((ports.begin() + 1)->name.port, "y");
  EXPECT_TRUE(state.portsOf({"ns", "zz"}).empty());
  EXPECT_TRUE(state.portsOf({"ns", "a0"}).empty());
}

}  // namespace
}  // namespace kproxy::dataplane

namespace kproxy::dataplane {
namespace {

ServicePortInfo portNamed(const std::string& svc, const std::string& port) {
  ServicePortInfo p;
  p.name = {{"ns", svc}, port, Protocol::kTCP};
  return p;
}

// A list in chunks iterates, indexes and searches as one sequence; building methods make it one
// chunk of its own without touching the chunks other lists share.
TEST(PortList, ChunksReadAsOneSequenceAndStayShared) {
  auto chunk = [](std::vector<std::pair<std::string, std::string>> names) {
    auto v = std::make_shared<PortList::Vec>();
    for (const auto& [s, p] : names) v->push_back(std::make_shared<const ServicePortInfo>(portNamed(s, p)));
    return PortList::Chunk(v);
  };
  PortList::Chunk a = chunk({{"a", ""}, {"b", "x"}}), empty = chunk({}), b = chunk({{"b", "y"}, {"c", ""}, {"d", ""}});
  DesiredState st;
  st.ports = PortList({a, empty, b});
  ASSERT_EQ(st.ports.size(), 5u);
  std::vector<std::string> seen;
  for (const auto& p : st.ports) seen.push_back(p.name.str());
  EXPECT_EQ(seen, (std::vector<std::string>{"ns/a", "ns/b:x", "ns/b:y", "ns/c", "ns/d"}));
  std::vector<std::string> backwards;
  for (auto it = st.ports.end(); it != st.ports.begin();) backwards.push_back((--it)->name.str());
  EXPECT_EQ(backwards.front(), "ns/d");
  EXPECT_EQ(backwards.back(), "ns/a");
  EXPECT_EQ(st.ports[3].name.str(), "ns/c");
  EXPECT_EQ((st.ports.begin() + 4)->name.str(), "ns/d");
  EXPECT_EQ((st.ports.end() - 3)->name.str(), "ns/b:y");
  EXPECT_EQ(st.ports.end() - st.ports.begin(), 5);
  EXPECT_THROW((void)st.ports.at(5), std::out_of_range);
  auto range = st.portsOf({"ns", "b"});  // across the chunk boundary
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range.begin()->name.port, "x");
  EXPECT_EQ((range.end() - 1)->name.port, "y");
  EXPECT_TRUE(st.portsOf({"ns", "bb"}).empty());

  PortList copy = st.ports;
  copy.edit(2).clusterIP = "10.96.0.9";
  EXPECT_EQ(copy[2].clusterIP, "10.96.0.9");
  EXPECT_EQ(st.ports[2].clusterIP, "") << "the shared chunk is untouched";
  EXPECT_EQ(st.ports.chunks()[1], b);
  copy.push_back(portNamed("e", ""));
  EXPECT_EQ(copy.size(), 6u);
  EXPECT_EQ(copy.back().name.str(), "ns/e");
  EXPECT_EQ(st.ports.size(), 5u);
}

}  // namespace
}  // namespace kproxy::dataplane
