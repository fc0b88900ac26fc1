// Upstream's endpoint selection cases, ported as facts: every case of TestCategorizeEndpoints in
// kubernetes/kubernetes pkg/proxy/topology_test.go (commit 6c039d9), by upstream's name, run
// against kproxy's categorizeEndpoints. "nil" upstream (the policy does not use that kind of
// endpoint) is usesClusterEndpoints()/usesLocalEndpoints() false here. Cases for node hints
// (PreferSameNode, from upstream's topology.go), which that commit's table predates, follow as
// kproxy's own and are not counted as upstream's.
#include <gtest/gtest.h>

#include <iostream>
#include <optional>
#include <set>

#include "dataplane/desired_state.h"
#include "tests/unit/dataplane/upstream_cases.h"

using kproxy::testing::reportUpstreamCases;

namespace kproxy::dataplane {
namespace {

using Set = std::optional<std::set<std::string>>;
const Set kNil = std::nullopt;

struct Ep {
  const char* hostPort;
  std::vector<std::string> zoneHints;
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  bool local = false;
  std::vector<std::string> nodeHints = {};
};

struct Svc {
  bool internalLocal = false;
  bool externalLocal = false;
  uint16_t nodePort = 0;
};

struct Case {
  const char* name;
  std::map<std::string, std::string> nodeLabels;
  Svc svc;
  std::vector<Ep> endpoints;
  Set cluster;
  Set local;
  Set all;  // upstream leaves it unset when one of the two is nil: then it is the other one
  bool onlyRemote = false;
};

const std::map<std::string, std::string> kZoneA = {{model::kLabelTopologyZone, "zone-a"}};
std::set<std::string> S(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }

// Ready, with zone hints (upstream's `ready: true` without serving).
Ep R(const char* hp, std::vector<std::string> zones = {}, bool local = false) { return {hp, std::move(zones), true, false, false, local}; }
Ep U(const char* hp, std::vector<std::string> zones = {}, bool local = false) { return {hp, std::move(zones), false, false, false, local}; }
Ep T(const char* hp, bool local) { return {hp, {}, false, true, true, local}; }  // serving, terminating

const std::vector<Case>& upstreamCases() {
  static const std::vector<Case> cases = {
      {"should use topology since all endpoints have hints, node has a zone label and and there are endpoints for the node's zone",
       kZoneA, {}, {R("10.1.2.3:80", {"zone-a"}), R("10.1.2.4:80", {"zone-b"}), R("10.1.2.5:80", {"zone-c"}), R("10.1.2.6:80", {"zone-a"})},
       S({"10.1.2.3:80", "10.1.2.6:80"}), kNil, kNil},
      {"externalTrafficPolicy: Local, topology ignored for Local endpoints", kZoneA, {false, true, 8080},
       {R("10.1.2.3:80", {"zone-a"}, true), R("10.1.2.4:80", {"zone-b"}, true), R("10.1.2.5:80", {"zone-c"}), R("10.1.2.6:80", {"zone-a"})},
       S({"10.1.2.3:80", "10.1.2.6:80"}), S({"10.1.2.3:80", "10.1.2.4:80"}), S({"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"})},
      {"internalTrafficPolicy: Local, topology ignored for Local endpoints", kZoneA, {true, false, 8080},
       {R("10.1.2.3:80", {"zone-a"}, true), R("10.1.2.4:80", {"zone-b"}, true), R("10.1.2.5:80", {"zone-c"}), R("10.1.2.6:80", {"zone-a"})},
       S({"10.1.2.3:80", "10.1.2.6:80"}), S({"10.1.2.3:80", "10.1.2.4:80"}), S({"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"})},
      {"empty node labels", {}, {}, {R("10.1.2.3:80", {"zone-a"})}, S({"10.1.2.3:80"}), kNil, kNil},
      {"empty zone label", {{model::kLabelTopologyZone, ""}}, {}, {R("10.1.2.3:80", {"zone-a"})}, S({"10.1.2.3:80"}), kNil, kNil},
      {"node in different zone, no endpoint filtering", {{model::kLabelTopologyZone, "zone-b"}}, {}, {R("10.1.2.3:80", {"zone-a"})},
       S({"10.1.2.3:80"}), kNil, kNil},
      {"unready endpoint", kZoneA, {},
       {R("10.1.2.3:80", {"zone-a"}), R("10.1.2.4:80", {"zone-b"}), R("10.1.2.5:80", {"zone-c"}), U("10.1.2.6:80", {"zone-a"})},
       S({"10.1.2.3:80"}), kNil, kNil},
      {"only unready endpoints in same zone (should not filter)", kZoneA, {},
       {U("10.1.2.3:80", {"zone-a"}), R("10.1.2.4:80", {"zone-b"}), R("10.1.2.5:80", {"zone-c"}), U("10.1.2.6:80", {"zone-a"})},
       S({"10.1.2.4:80", "10.1.2.5:80"}), kNil, kNil},
      {"missing hints, no filtering applied", kZoneA, {},
       {R("10.1.2.3:80", {"zone-a"}), R("10.1.2.4:80", {"zone-b"}), R("10.1.2.5:80"), R("10.1.2.6:80", {"zone-a"})},
       S({"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}), kNil, kNil},
      {"multiple hints per endpoint, filtering includes any endpoint with zone included", {{model::kLabelTopologyZone, "zone-c"}}, {},
       {R("10.1.2.3:80", {"zone-a", "zone-b", "zone-c"}), R("10.1.2.4:80", {"zone-b", "zone-c"}), R("10.1.2.5:80", {"zone-b", "zone-d"}),
        R("10.1.2.6:80", {"zone-c"})},
       S({"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}), kNil, kNil},
      {"conflicting topology and localness require merging allEndpoints", kZoneA, {false, true, 8080},
       {R("10.0.0.0:80", {"zone-a"}, true), R("10.0.0.1:80", {"zone-b"}, true), R("10.0.0.2:80", {"zone-a"}), R("10.0.0.3:80", {"zone-b"})},
       S({"10.0.0.0:80", "10.0.0.2:80"}), S({"10.0.0.0:80", "10.0.0.1:80"}), S({"10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80"})},
      {"internalTrafficPolicy: Local, with empty endpoints", {}, {true}, {}, kNil, S({}), kNil},
      {"internalTrafficPolicy: Local, but all endpoints are remote", {}, {true}, {R("10.0.0.0:80"), R("10.0.0.1:80")}, kNil, S({}), kNil,
       true},
      {"internalTrafficPolicy: Local, all endpoints are local", {}, {true}, {R("10.0.0.0:80", {}, true), R("10.0.0.1:80", {}, true)},
       kNil, S({"10.0.0.0:80", "10.0.0.1:80"}), kNil},
      {"internalTrafficPolicy: Local, some endpoints are local", {}, {true}, {R("10.0.0.0:80", {}, true), R("10.0.0.1:80")}, kNil,
       S({"10.0.0.0:80"}), kNil},
      {"Cluster traffic policy, endpoints not Ready", {}, {}, {U("10.0.0.0:80"), U("10.0.0.1:80")}, S({}), kNil, kNil},
      {"Cluster traffic policy, some endpoints are Ready", {}, {}, {U("10.0.0.0:80"), R("10.0.0.1:80")}, S({"10.0.0.1:80"}), kNil, kNil},
      {"Cluster traffic policy, all endpoints are terminating", {}, {}, {T("10.0.0.0:80", true), T("10.0.0.1:80", false)},
       S({"10.0.0.0:80", "10.0.0.1:80"}), kNil, kNil},
      {"iTP: Local, eTP: Cluster, some endpoints local", {}, {true, false, 8080}, {R("10.0.0.0:80", {}, true), R("10.0.0.1:80")},
       S({"10.0.0.0:80", "10.0.0.1:80"}), S({"10.0.0.0:80"}), S({"10.0.0.0:80", "10.0.0.1:80"})},
      {"iTP: Cluster, eTP: Local, some endpoints local", {}, {false, true, 8080}, {R("10.0.0.0:80", {}, true), R("10.0.0.1:80")},
       S({"10.0.0.0:80", "10.0.0.1:80"}), S({"10.0.0.0:80"}), S({"10.0.0.0:80", "10.0.0.1:80"})},
      {"iTP: Local, eTP: Local, some endpoints local", {}, {true, true, 8080}, {R("10.0.0.0:80", {}, true), R("10.0.0.1:80")},
       S({"10.0.0.0:80", "10.0.0.1:80"}), S({"10.0.0.0:80"}), S({"10.0.0.0:80", "10.0.0.1:80"})},
      {"iTP: Local, eTP: Local, all endpoints remote", {}, {true, true, 8080}, {R("10.0.0.0:80"), R("10.0.0.1:80")},
       S({"10.0.0.0:80", "10.0.0.1:80"}), S({}), S({"10.0.0.0:80", "10.0.0.1:80"})},
      {"iTP: Local, eTP: Local, all endpoints remote and terminating", {}, {true, true, 8080},
       {T("10.0.0.0:80", false), T("10.0.0.1:80", false)}, S({"10.0.0.0:80", "10.0.0.1:80"}), S({}), S({"10.0.0.0:80", "10.0.0.1:80"}),
       true},
      {"iTP: Cluster, eTP: Local, with terminating endpoints", {}, {false, true, 8080},
       {R("10.0.0.0:80"), U("10.0.0.1:80", {}, true), T("10.0.0.2:80", true), T("10.0.0.3:80", false)}, S({"10.0.0.0:80"}),
       S({"10.0.0.2:80"}), S({"10.0.0.0:80", "10.0.0.2:80"})},
      {"externalTrafficPolicy ignored if not externally accessible", {}, {false, true, 0}, {R("10.0.0.0:80"), R("10.0.0.1:80", {}, true)},
       S({"10.0.0.0:80", "10.0.0.1:80"}), kNil, S({"10.0.0.0:80", "10.0.0.1:80"})},
      {"no cluster endpoints for iTP:Local internal-only service", {}, {true}, {R("10.0.0.0:80"), R("10.0.0.1:80", {}, true)}, kNil,
       S({"10.0.0.1:80"}), S({"10.0.0.1:80"})},
  };
  return cases;
}

// kproxy's: forNodes hints (PreferSameNode), taken before zone hints, each only when every ready
// endpoint carries one and one names this node (upstream topology.go's topologyModeFromHints).
const std::vector<Case>& nodeHintCases() {
  static const std::vector<Case> cases = {
      {"node hints for this node win over zone hints", kZoneA, {},
       {{"10.0.0.1:80", {"zone-a"}, true, true, false, true, {"node1"}}, {"10.0.0.2:80", {"zone-a"}, true, true, false, false, {"node2"}}},
       S({"10.0.0.1:80"}), kNil, kNil},
      {"an endpoint without a node hint: zone hints decide", kZoneA, {},
       {{"10.0.0.1:80", {"zone-a"}, true, true, false, true, {"node1"}}, {"10.0.0.2:80", {"zone-a"}, true, true, false, false, {}},
        {"10.0.0.3:80", {"zone-b"}, true, true, false, false, {"node3"}}},
       S({"10.0.0.1:80", "10.0.0.2:80"}), kNil, kNil},
      {"node hints for other nodes only: no node filtering", {}, {},
       {{"10.0.0.1:80", {}, true, true, false, false, {"node2"}}, {"10.0.0.2:80", {}, true, true, false, false, {"node3"}}},
       S({"10.0.0.1:80", "10.0.0.2:80"}), kNil, kNil},
      {"an unready endpoint's node hint for this node does not filter", {}, {},
       {{"10.0.0.1:80", {}, false, false, false, true, {"node1"}}, {"10.0.0.2:80", {}, true, true, false, false, {"node2"}}},
       S({"10.0.0.2:80"}), kNil, kNil},
  };
  return cases;
}

EndpointInfo endpointOf(const Ep& e) {
  EndpointInfo ep;
  std::string hp = e.hostPort;
  ep.hostPort = hp;
  ep.ip = hp.substr(0, hp.rfind(':'));
  ep.port = static_cast<uint16_t>(std::stoi(hp.substr(hp.rfind(':') + 1)));
  ep.ready = e.ready;
  ep.serving = e.serving || e.ready;
  ep.terminating = e.terminating;
  ep.local = e.local;
  ep.zoneHints = e.zoneHints;
  ep.nodeHints = e.nodeHints;
  return ep;
}

// Runs one case; returns whether it held (failures are reported under its name).
bool runCase(const Case& c) {
  SCOPED_TRACE(c.name);
  ServicePortInfo p;
  p.internalPolicyLocal = c.svc.internalLocal;
  p.externalPolicyLocal = c.svc.externalLocal;
  p.nodePort = c.svc.nodePort;
  for (const auto& e : c.endpoints) p.endpoints.push_back(endpointOf(e));
  NodeContext node;
  node.nodeName = "node1";
  node.nodeLabels = c.nodeLabels;
  categorizeEndpoints(p, node);
  auto names = [&](const std::vector<size_t>& idx) {
    std::set<std::string> out;
    for (size_t i : idx) out.insert(p.endpoints[i].hostPort);
    return out;
  };
  const int failuresBefore = ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
  EXPECT_EQ(p.usesClusterEndpoints(), c.cluster.has_value());
  if (c.cluster) EXPECT_EQ(names(p.clusterEndpoints), *c.cluster);
  else EXPECT_TRUE(p.clusterEndpoints.empty());
  EXPECT_EQ(p.usesLocalEndpoints(), c.local.has_value());
  if (c.local) EXPECT_EQ(names(p.localEndpoints), *c.local);
  else EXPECT_TRUE(p.localEndpoints.empty());
  const std::set<std::string> all = c.cluster && !c.local ? *c.cluster : c.local && !c.cluster ? *c.local : c.all.value_or(std::set<std::string>{});
  EXPECT_EQ(names(p.reachableEndpoints), all);
  EXPECT_EQ(p.hasAnyEndpoints, !all.empty() || c.onlyRemote);
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count() == failuresBefore;
}

TEST(UpstreamTopology, TestCategorizeEndpoints) {
  size_t passed = 0;
  for (const auto& c : upstreamCases()) passed += runCase(c);
  reportUpstreamCases("TestCategorizeEndpoints", "pkg/proxy/topology_test.go", "6c039d9", passed, upstreamCases().size());
  EXPECT_EQ(upstreamCases().size(), 26u) << "every case of upstream's table";
}

TEST(UpstreamTopology, NodeHintsKproxysOwnCases) {
  for (const auto& c : nodeHintCases()) runCase(c);
}

}  // namespace
}  // namespace kproxy::dataplane
