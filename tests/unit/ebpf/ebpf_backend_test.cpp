#include "ebpf/ebpf_backend.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_bpf_maps.h"

namespace kproxy::ebpf {
namespace {

using dataplane::DesiredState;
using dataplane::ServicePortInfo;
using model::IPFamily;
using model::Protocol;

// Service `name` at 10.96.0.<n>:80 with `endpoints` endpoints 10.244.<n>.1..
ServicePortInfo port(const std::string& name, int n, int endpoints, bool affinity = false) {
  ServicePortInfo p;
  p.name = {{"ns", name}, "http", Protocol::kTCP};
  p.nameString = p.name.str();
  p.clusterIP = "10.96.0." + std::to_string(n);
  p.port = 80;
  p.affinityClientIP = affinity;
  for (int i = 1; i <= endpoints; ++i) {
    dataplane::EndpointInfo e;
    e.ip = "10.244." + std::to_string(n) + "." + std::to_string(i);
    e.port = 8080;
    e.ready = e.serving = true;
    p.endpoints.push_back(e);
    p.clusterEndpoints.push_back(static_cast<size_t>(i - 1));
  }
  p.hasAnyEndpoints = endpoints > 0;
  return p;
}

std::shared_ptr<const DesiredState> state(std::vector<ServicePortInfo> ports) {
  auto s = std::make_shared<DesiredState>();
  for (auto& p : ports) s->ports.push_back(std::move(p));
  s->ports.sortByName();
  return s;
}

struct Fixture {
  FakeBpfMaps* maps;
  EbpfBackend backend;
  Fixture() : Fixture(std::make_unique<FakeBpfMaps>()) {}
  explicit Fixture(std::unique_ptr<FakeBpfMaps> m) : maps(m.get()), backend(dataplane::ProxyOptions{}, std::move(m)) {}
};

TEST(EbpfBackendTest, FullSyncWritesTheStateAndRemovesWhatIsNotInIt) {
  Fixture f;
  // Left by an earlier run: a Service that is gone and a stale slot of one that stays.
  f.maps->entries.services[{0x0a600063, 80, 6}] = {1, 0};
  f.maps->entries.backends[{{0x0a600063, 80, 6}, 0}] = {0x0af40101, 8080};
  f.maps->entries.backends[{{0x0a600001, 80, 6}, 7}] = {0x0af40101, 8080};
  auto s = state({port("a", 1, 3), port("b", 2, 0)});
  auto r = f.backend.syncFull(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.full);
  EXPECT_EQ(f.maps->entries, entriesOf(*s, {}));
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_TRUE(f.maps->gaps.empty()) << f.maps->gaps.front();
  EXPECT_EQ(f.backend.applied(), s);
  // Nothing changed: nothing written.
  size_t before = f.maps->writes;
  ASSERT_TRUE(f.backend.syncFull(s).ok);
  EXPECT_EQ(f.maps->writes, before);
}

TEST(EbpfBackendTest, PartialSyncWritesOnlyTheChangedServicesEntries) {
  Fixture f;
  ASSERT_TRUE(f.backend.syncFull(state({port("a", 1, 3), port("b", 2, 2), port("c", 3, 1)})).ok);
  // Someone else's entry in the maps: a partial sync does not look at it (a full one would).
  f.maps->entries.services[{0x0a600063, 80, 6}] = {0, 0};
  size_t before = f.maps->writes;
  auto next = state({port("a", 1, 3), port("b", 2, 4), port("c", 3, 1)});
  auto r = f.backend.syncPartial(next, {{"ns", "b"}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.full);
  EXPECT_EQ(f.maps->writes - before, 3u) << "two new slots, then b's count";
  EXPECT_TRUE(f.maps->gaps.empty()) << f.maps->gaps.front();
  EXPECT_EQ(f.maps->entries.services.at({0x0a600002, 80, 6}).count, 4u);
  // b loses every endpoint, c goes away.
  before = f.maps->writes;
  r = f.backend.syncPartial(state({port("a", 1, 3), port("b", 2, 0)}), {{"ns", "b"}, {"ns", "c"}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(f.maps->writes - before, 1u + 4u + 1u + 1u) << "b's count, b's 4 slots, c's entry and slot";
  EXPECT_EQ(f.maps->entries.services.at({0x0a600002, 80, 6}).count, 0u);
  EXPECT_FALSE(f.maps->entries.services.contains({0x0a600003, 80, 6}));
  EXPECT_TRUE(f.maps->gaps.empty()) << f.maps->gaps.front();
  EXPECT_TRUE(f.maps->entries.services.contains({0x0a600063, 80, 6}));
  ASSERT_TRUE(f.backend.syncFull(f.backend.applied()).ok);
  EXPECT_FALSE(f.maps->entries.services.contains({0x0a600063, 80, 6})) << "the full sync removes it";
}

TEST(EbpfBackendTest, AffinityToAnEndpointThatWentAwayIsForgotten) {
  Fixture f;
  ASSERT_TRUE(f.backend.syncFull(state({port("s", 1, 3, true), port("t", 2, 2, true)})).ok);
  const SvcKey s{0x0a600001, 80, 6}, t{0x0a600002, 80, 6};
  f.maps->affinity_ = {{1, s, {0x0af40101, 8080}}, {2, s, {0x0af40103, 8080}}, {1, t, {0x0af40202, 8080}}};
  // s loses its third endpoint (10.244.1.3): the client stuck to it picks again; t is unchanged.
  auto r = f.backend.syncPartial(state({port("s", 1, 2, true), port("t", 2, 2, true)}), {{"ns", "s"}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(f.maps->affinity_, (std::vector<AffinityEntry>{{1, s, {0x0af40101, 8080}}, {1, t, {0x0af40202, 8080}}}));
  // s drops affinity altogether: its entries go too.
  ASSERT_TRUE(f.backend.syncPartial(state({port("s", 1, 2), port("t", 2, 2, true)}), {{"ns", "s"}}).ok);
  EXPECT_EQ(f.maps->affinity_, (std::vector<AffinityEntry>{{1, t, {0x0af40202, 8080}}}));
}

struct RecordingTerminator : SocketTerminator {
  std::vector<std::vector<GoneEndpoint>> calls;
  Result<size_t> terminate(const std::vector<GoneEndpoint>& gone) override {
    calls.push_back(gone);
    return gone.size();
  }
};

TEST(EbpfBackendTest, UdpSocketsToAnEndpointThatLeftItsServiceAreTerminated) {
  auto terminator = std::make_unique<RecordingTerminator>();
  auto* calls = &terminator->calls;
  auto maps = std::make_unique<FakeBpfMaps>();
  EbpfBackend backend(dataplane::ProxyOptions{}, std::move(maps), std::move(terminator));
  auto udp = [](int endpoints, int first = 1) {
    auto p = port("dns", 10, 0);
    p.protocol = p.name.protocol = Protocol::kUDP;
    for (int i = first; i < first + endpoints; ++i) {
      dataplane::EndpointInfo e;
      e.ip = "10.244.10." + std::to_string(i);
      e.port = 5353;
      e.ready = e.serving = true;
      p.clusterEndpoints.push_back(p.endpoints.size());
      p.endpoints.push_back(e);
    }
    return p;
  };
  ASSERT_TRUE(backend.syncFull(state({udp(2), port("web", 1, 2)})).ok);
  EXPECT_TRUE(calls->empty()) << "nothing went away";
  // 10.244.10.1 leaves dns (10.244.10.2 moves to slot 0 and stays); web (TCP) loses one too.
  ASSERT_TRUE(backend.syncPartial(state({udp(1, 2), port("web", 1, 1)}), {{"ns", "dns"}, {"ns", "web"}}).ok);
  ASSERT_EQ(calls->size(), 1u);
  ASSERT_EQ(calls->front().size(), 1u);
  EXPECT_EQ(calls->front()[0].svc.str(), "10.96.0.10:80/udp");
  EXPECT_EQ(calls->front()[0].backend.str(), "10.244.10.1:5353");
  // The Service goes: its sockets to its last endpoint too (a full sync finds it in the maps).
  ASSERT_TRUE(backend.syncFull(state({port("web", 1, 1)})).ok);
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ(calls->back()[0].backend.str(), "10.244.10.2:5353");
}

TEST(EbpfBackendTest, AKernelErrorKeepsTheAppliedState) {
  Fixture f;
  auto first = state({port("a", 1, 1)});
  ASSERT_TRUE(f.backend.syncFull(first).ok);
  f.maps->failOn = "10.96.0.2:80/tcp";
  auto r = f.backend.syncPartial(state({port("a", 1, 1), port("b", 2, 1)}), {{"ns", "b"}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("10.96.0.2:80/tcp"), std::string::npos) << r.error;
  EXPECT_EQ(f.backend.applied(), first);
  f.maps->failOn.clear();
  f.maps->maxServices = 1;
  r = f.backend.syncFull(state({port("a", 1, 1), port("b", 2, 1)}));
  EXPECT_FALSE(r.ok) << "the map is full";
  EXPECT_NE(r.error.find("too long"), std::string::npos) << r.error;
  EXPECT_EQ(f.backend.applied(), first);
}

}  // namespace
}  // namespace kproxy::ebpf
