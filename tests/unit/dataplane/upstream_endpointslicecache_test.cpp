// Upstream's endpoint slice cache cases, ported as facts: TestEndpointsMapFromESC,
// TestEndpointInfoByServicePort and TestEsDataChanged of kubernetes/kubernetes
// pkg/proxy/endpointslicecache_test.go (commit 05e1479), by upstream's names, run against
// kproxy's ClusterState (slices keyed by namespace/name, as upstream's cache: a slice of the same
// name replaces the earlier one) and its desired state. The slices are made as upstream's
// generateEndpointSliceWithOffset makes them.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "dataplane/cluster_state.h"
#include "tests/unit/dataplane/upstream_cases.h"

namespace kproxy::dataplane {
namespace {

using testing::reportUpstreamCases;

// Upstream's generator: endpoints 10.0.<offset>.<i> for i in 1..n; i % unreadyMod == 0 is not
// ready (nor serving); i % terminatingMod == 0 is terminating (serving if otherwise ready, not
// ready); node hosts[i % hosts] when hosts are given; ports "port-<i>", TCP.
model::EndpointSlice gen(const std::string& svc, const std::string& ns, int sliceNum, int offset, int n, int unreadyMod,
                         int terminatingMod, std::vector<std::string> hosts, std::vector<std::optional<uint16_t>> ports) {
  model::EndpointSlice s;
  s.meta.name = svc + "-" + std::to_string(sliceNum);
  s.meta.namespace_ = ns;
  s.meta.labels[model::kLabelServiceName] = svc;
  s.serviceName = svc;
  for (size_t i = 0; i < ports.size(); ++i) s.ports.push_back({"port-" + std::to_string(i), model::Protocol::kTCP, ports[i]});
  for (int i = 1; i <= n; ++i) {
    const bool readyCond = i % unreadyMod != 0, terminating = i % terminatingMod == 0;
    model::Endpoint e;
    e.addresses = {"10.0." + std::to_string(offset) + "." + std::to_string(i)};
    e.conditions = {readyCond && !terminating, readyCond, terminating};
    if (!hosts.empty()) e.nodeName = hosts[static_cast<size_t>(i) % hosts.size()];
    s.endpoints.push_back(e);
  }
  return s;
}
model::EndpointSlice gen(const std::string& svc, const std::string& ns, int sliceNum, int n, int unreadyMod, int terminatingMod,
                         std::vector<std::string> hosts, std::vector<std::optional<uint16_t>> ports) {
  return gen(svc, ns, sliceNum, sliceNum, n, unreadyMod, terminatingMod, std::move(hosts), std::move(ports));
}

// A Service whose ports are named as the generator names the slices' ports.
model::Service service(const std::string& name, const std::string& ns, size_t ports) {
  model::Service s;
  s.meta.name = name;
  s.meta.namespace_ = ns;
  s.clusterIP = "172.30.0.1";
  s.clusterIPs = {s.clusterIP};
  s.ipFamilies = {model::IPFamily::kIPv4};
  for (size_t i = 0; i < ports; ++i)
    s.ports.push_back({"port-" + std::to_string(i), model::Protocol::kTCP, static_cast<uint16_t>(80 + i), "", 0});
  return s;
}

// hostPort, local, ready, serving, terminating
using Ep = std::tuple<std::string, bool, bool, bool, bool>;
Ep ep(const std::string& hp, bool local = false, bool ready = true, bool serving = true, bool terminating = false) {
  return {hp, local, ready, serving, terminating};
}

struct MapCase {
  const char* name;
  std::string hostname;
  std::vector<model::EndpointSlice> slices;
  std::map<std::string, std::set<Ep>> expected;  // port name -> endpoints (svc1 in ns1)
};

std::map<std::string, std::set<Ep>> endpointsOf(const std::vector<model::EndpointSlice>& slices, const std::string& hostname) {
  ClusterState st(hostname.empty() ? "no-such-node" : hostname);
  st.upsertService(service("svc1", "ns1", 2));
  st.upsertService(service("svc2", "ns1", 1));
  st.upsertService(service("svc1", "ns2", 1));
  for (const auto& s : slices) st.upsertSlice(s);
  std::map<std::string, std::set<Ep>> out;
  DesiredState d = st.buildDesired(model::IPFamily::kIPv4);
  for (const auto& p : d.portsOf({"ns1", "svc1"}))
    for (const auto& e : p.endpoints) out[p.name.port].insert({e.hostPort, e.local, e.ready, e.serving, e.terminating});
  return out;
}

std::vector<MapCase> mapCases() {
  const std::vector<std::string> h12 = {"host1", "host2"};
  auto range = [](int offset, int n, std::function<Ep(int, const std::string&)> f) {
    std::set<Ep> out;
    for (int i = 1; i <= n; ++i) out.insert(f(i, "10.0." + std::to_string(offset) + "." + std::to_string(i) + ":80"));
    return out;
  };
  auto plain = [&](int offset, int n) { return range(offset, n, [](int, const std::string& hp) { return ep(hp); }); };
  std::set<Ep> twoSlices = plain(1, 3);
  twoSlices.merge(plain(2, 3));
  return {
      {"1 slice, 2 hosts, ports 80,443", "host1", {gen("svc1", "ns1", 1, 3, 999, 999, h12, {80, 443})},
       {{"port-0", {ep("10.0.1.1:80"), ep("10.0.1.2:80", true), ep("10.0.1.3:80")}},
        {"port-1", {ep("10.0.1.1:443"), ep("10.0.1.2:443", true), ep("10.0.1.3:443")}}}},
      {"2 slices, same port", "", {gen("svc1", "ns1", 1, 3, 999, 999, {}, {80}), gen("svc1", "ns1", 2, 3, 999, 999, {}, {80})},
       {{"port-0", twoSlices}}},
      {"2 overlapping slices, same port", "", {gen("svc1", "ns1", 1, 3, 999, 999, {}, {80}), gen("svc1", "ns1", 1, 4, 999, 999, {}, {80})},
       {{"port-0", plain(1, 4)}}},
      {"2 slices, overlapping endpoints, some endpoints unready in 1 or both", "",
       {gen("svc1", "ns1", 1, 10, 3, 999, {}, {80}), gen("svc1", "ns1", 1, 10, 6, 999, {}, {80})},
       {{"port-0", range(1, 10, [](int i, const std::string& hp) { return i == 6 ? ep(hp, false, false, false) : ep(hp); })}}},
      {"2 slices, overlapping endpoints, some endpoints unready and some endpoints terminating", "",
       {gen("svc1", "ns1", 1, 10, 3, 5, {}, {80}), gen("svc1", "ns1", 1, 10, 6, 5, {}, {80})},
       {{"port-0", range(1, 10, [](int i, const std::string& hp) {
           if (i == 5 || i == 10) return ep(hp, false, false, true, true);
           return i == 6 ? ep(hp, false, false, false) : ep(hp);
         })}}},
      {"2 slices, overlapping endpoints, all unready", "",
       {gen("svc1", "ns1", 1, 10, 1, 999, {}, {80}), gen("svc1", "ns1", 1, 10, 1, 999, {}, {80})},
       {{"port-0", range(1, 10, [](int, const std::string& hp) { return ep(hp, false, false, false); })}}},
      {"3 slices with different services and namespaces", "",
       {gen("svc1", "ns1", 1, 3, 999, 999, {}, {80}), gen("svc2", "ns1", 2, 3, 999, 999, {}, {80}),
        gen("svc1", "ns2", 3, 3, 999, 999, {}, {80})},
       {{"port-0", plain(1, 3)}}},
      {"Nil port should not break anything", "host1", {gen("svc1", "ns1", 1, 3, 999, 999, h12, {std::nullopt})}, {}},
      {"Different endpoints with duplicate IPs should not be filtered", "host1",
       {gen("svc1", "ns1", 1, 1, 2, 999, 999, h12, {80}), gen("svc1", "ns1", 2, 1, 2, 999, 999, h12, {8080})},
       {{"port-0", {ep("10.0.1.1:80"), ep("10.0.1.1:8080"), ep("10.0.1.2:80", true), ep("10.0.1.2:8080", true)}}}},
  };
}

std::vector<MapCase> byServicePortCases() {
  const std::vector<std::string> h12 = {"host1", "host2"};
  return {
      {"simple use case with 3 endpoints", "host1", {gen("svc1", "ns1", 1, 3, 999, 999, h12, {80})},
       {{"port-0", {ep("10.0.1.1:80"), ep("10.0.1.2:80", true), ep("10.0.1.3:80")}}}},
      {"4 different slices with duplicate IPs", "host1",
       {gen("svc1", "ns1", 1, 1, 2, 999, 999, h12, {80}), gen("svc1", "ns1", 2, 1, 2, 999, 999, h12, {8080})},
       {{"port-0", {ep("10.0.1.1:80"), ep("10.0.1.2:80", true), ep("10.0.1.1:8080"), ep("10.0.1.2:8080", true)}}}},
  };
}

size_t runMapCases(const std::vector<MapCase>& cases) {
  size_t held = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto got = endpointsOf(c.slices, c.hostname);
    EXPECT_EQ(got, c.expected);
    held += got == c.expected;
  }
  return held;
}

TEST(UpstreamEndpointSliceCache, TestEndpointsMapFromESC) {
  auto cases = mapCases();
  size_t held = runMapCases(cases);
  reportUpstreamCases("TestEndpointsMapFromESC", "pkg/proxy/endpointslicecache_test.go", "05e1479", held, cases.size());
  EXPECT_EQ(cases.size(), 9u);
}

TEST(UpstreamEndpointSliceCache, TestEndpointInfoByServicePort) {
  auto cases = byServicePortCases();
  size_t held = runMapCases(cases);
  reportUpstreamCases("TestEndpointInfoByServicePort", "pkg/proxy/endpointslicecache_test.go", "05e1479", held, cases.size());
  EXPECT_EQ(cases.size(), 2u);
}

// Whether an update of a slice counts as a change (ClusterState::upsertSlice): order matters, as
// upstream compares the objects, not their sets.
TEST(UpstreamEndpointSliceCache, TestEsDataChanged) {
  auto slice = [](std::vector<uint16_t> ports, std::vector<std::string> eps) {
    model::EndpointSlice s;
    s.meta = {"foo", "bar", "", {{model::kLabelServiceName, "svc1"}}, {}};
    s.serviceName = "svc1";
    for (auto p : ports) s.ports.push_back({p == 80 ? "http" : "https", model::Protocol::kTCP, p});
    for (const auto& a : eps) {
      model::Endpoint e;
      e.addresses = {a};
      s.endpoints.push_back(e);
    }
    return s;
  };
  struct Case {
    const char* name;
    model::EndpointSlice initial, updated;
    bool changed;
  };
  const std::string e1 = "10.0.1.0", e2 = "10.0.1.1";
  std::vector<Case> cases = {
      {"identical slices, ports only", slice({80}, {}), slice({80}, {}), false},
      {"identical slices, ports out of order", slice({443, 80}, {}), slice({80, 443}, {}), true},
      {"port removed", slice({443, 80}, {}), slice({443}, {}), true},
      {"port added", slice({443}, {}), slice({443, 80}, {}), true},
      {"identical with endpoints", slice({443}, {e1, e2}), slice({443}, {e1, e2}), false},
      {"identical with endpoints out of order", slice({443}, {e1, e2}), slice({443}, {e2, e1}), true},
      {"identical with endpoint added", slice({443}, {e1}), slice({443}, {e2, e1}), true},
  };
  size_t held = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ClusterState st("node1");
    st.upsertSlice(c.initial);
    st.takeChanges();
    bool changed = st.upsertSlice(c.updated);
    EXPECT_EQ(changed, c.changed);
    held += changed == c.changed;
  }
  reportUpstreamCases("TestEsDataChanged", "pkg/proxy/endpointslicecache_test.go", "05e1479", held, cases.size());
}

}  // namespace
}  // namespace kproxy::dataplane
