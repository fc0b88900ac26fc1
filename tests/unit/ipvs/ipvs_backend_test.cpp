#include "ipvs/ipvs_backend.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/fakes/fake_ipvs.h"
#include "tests/fakes/fake_restore.h"

namespace kproxy::ipvs {
namespace {

using dataplane::DesiredState;
using testing::FakeDummyLink;
using testing::FakeIpset;
using testing::FakeIpsetState;
using testing::FakeIpvsClient;
using testing::FakeIpvsKernel;
using testing::FakeLinkState;
using testing::FakeRestore;

const char* kNodeIP = "192.0.2.10";

struct Svc {
  Svc(std::string n, int i, std::vector<int> e, uint16_t np = 0, std::string ext = "", bool u = false, bool aff = false)
      : name(std::move(n)), ip(i), eps(std::move(e)), nodePort(np), externalIP(std::move(ext)), udp(u), affinity(aff) {}
  std::string name;
  int ip = 1;             // ClusterIP 10.96.0.<ip>
  std::vector<int> eps;   // endpoint 10.128.0.<ep>, odd ones on this node
  uint16_t nodePort = 0;
  std::string externalIP;
  bool udp = false;
  bool affinity = false;
};

DesiredState build(const std::vector<Svc>& svcs) {
  std::vector<model::Service> services;
  std::vector<model::EndpointSlice> slices;
  for (const auto& s : svcs) {
    const auto proto = s.udp ? model::Protocol::kUDP : model::Protocol::kTCP;
    model::Service m;
    m.meta.name = s.name;
    m.meta.namespace_ = "ns";
    m.clusterIP = "10.96.0." + std::to_string(s.ip);
    m.clusterIPs = {m.clusterIP};
    m.type = s.nodePort ? model::ServiceType::kNodePort : model::ServiceType::kClusterIP;
    m.ports = {{"p", proto, 80, "8080", s.nodePort}};
    if (!s.externalIP.empty()) m.externalIPs = {s.externalIP};
    m.sessionAffinityClientIP = s.affinity;
    services.push_back(m);
    model::EndpointSlice es;
    es.meta.name = s.name + "-1";
    es.meta.namespace_ = "ns";
    es.serviceName = s.name;
    es.ports = {{"p", proto, 8080}};
    for (int ep : s.eps) {
      model::Endpoint e;
      e.addresses = {"10.128.0." + std::to_string(ep)};
      e.conditions.ready = true;
      e.nodeName = ep % 2 ? "node1" : "node2";
      es.endpoints.push_back(e);
    }
    slices.push_back(es);
  }
  dataplane::NodeContext node;
  node.nodeName = "node1";
  return dataplane::buildDesiredState(services, slices, node, IPFamily::kIPv4);
}

IpvsOptions options() {
  IpvsOptions o;
  o.proxy.clusterCIDRs = {*net::parseCidr("10.128.0.0/16")};
  o.proxy.nodeIPs = {kNodeIP};
  return o;
}

ServiceKey tcp(const std::string& ip, uint16_t port = 80) { return {IPFamily::kIPv4, Protocol::kTCP, ip, port}; }
ServiceKey udp(const std::string& ip, uint16_t port = 80) { return {IPFamily::kIPv4, Protocol::kUDP, ip, port}; }

// The fake kernel, the backend that programs it, and the state they were last synced to.
struct Node {
  FakeIpvsKernel ipvs;
  FakeLinkState link;
  FakeIpsetState sets;
  FakeRestore* iptables = new FakeRestore;
  std::chrono::steady_clock::time_point now{};
  IpvsBackend backend;
  std::vector<Svc> current;

  Node()
      : backend(options(), std::make_unique<FakeIpvsClient>(ipvs), std::make_unique<FakeDummyLink>(link),
                std::make_unique<FakeIpset>(sets), std::unique_ptr<iptables::RestoreClient>(iptables),
                [this] { return now; }) {
    link.otherLocal = {kNodeIP, "127.0.0.1"};
  }
  dataplane::SyncReport full(const std::vector<Svc>& s) {
    current = s;
    return backend.syncFull(std::make_shared<const DesiredState>(build(s)));
  }
  dataplane::SyncReport partial(const std::vector<Svc>& s) {
    std::set<model::NamespacedName> changed;
    for (const auto& x : current) changed.insert(model::NamespacedName{"ns", x.name});
    for (const auto& x : s) changed.insert(model::NamespacedName{"ns", x.name});
    current = s;
    return backend.syncPartial(std::make_shared<const DesiredState>(build(s)), changed);
  }
  // Everything of the kernel a sync decides: servers with destinations, addresses, set members.
  std::string dump() const {
    std::string out = formatServers(ipvs.servers) + "addresses:";
    for (const auto& a : link.addresses) out += " " + a;
    out += "\n";
    for (const auto& [name, members] : sets.sets) {
      if (members.empty()) continue;
      out += name + ":";
      for (const auto& m : members) out += " " + m;
      out += "\n";
    }
    return out;
  }
};

std::string freshDump(const std::vector<Svc>& s) {
  Node n;
  EXPECT_TRUE(n.full(s).ok);
  return n.dump();
}

TEST(IpvsBackendTest, FullSyncProgramsServersAddressesSetsAndHelperRules) {
  Node n;
  auto r = n.full({{"web", 1, {1, 2}, 30080}, {"dns", 2, {3}, 0, "", true}, {"sticky", 3, {1}, 0, "", false, true}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.full);
  ASSERT_TRUE(n.ipvs.servers.count(tcp("10.96.0.1")));
  EXPECT_EQ(n.ipvs.servers.at(tcp("10.96.0.1")).destinations.size(), 2u);
  EXPECT_EQ(n.ipvs.servers.at(tcp("10.96.0.1")).server.scheduler, "rr");
  ASSERT_TRUE(n.ipvs.servers.count(tcp(kNodeIP, 30080))) << "NodePort on the node IP";
  EXPECT_FALSE(n.ipvs.servers.count(tcp("127.0.0.1", 30080))) << "no IPVS NodePort on loopback";
  ASSERT_TRUE(n.ipvs.servers.count(udp("10.96.0.2")));
  const auto& sticky = n.ipvs.servers.at(tcp("10.96.0.3")).server;
  EXPECT_TRUE(sticky.persistent());
  EXPECT_EQ(sticky.timeout, 10800u);
  EXPECT_EQ(n.link.addresses, (std::set<std::string>{"10.96.0.1", "10.96.0.2", "10.96.0.3"}));
  EXPECT_TRUE(n.link.exists);
  EXPECT_TRUE(n.sets.sets.at("KUBE-CLUSTER-IP").count("10.96.0.1,tcp:80"));
  EXPECT_TRUE(n.sets.sets.at("KUBE-CLUSTER-IP").count("10.96.0.2,udp:80"));
  EXPECT_EQ(n.sets.sets.at("KUBE-NODE-PORT-TCP"), (std::set<std::string>{"30080"}));
  EXPECT_TRUE(n.sets.sets.at("KUBE-LOOP-BACK").count("10.128.0.1,tcp:8080,10.128.0.1")) << "local endpoint hairpin";
  EXPECT_FALSE(n.sets.sets.at("KUBE-LOOP-BACK").count("10.128.0.2,tcp:8080,10.128.0.2")) << "remote endpoint";
  EXPECT_EQ(n.sets.sets.size(), ipsetInfo().size()) << "every upstream set exists";
  const auto& nat = n.iptables->tables.at("nat");
  ASSERT_TRUE(nat.count("KUBE-SERVICES"));
  bool clusterRule = false;
  for (const auto& rule : nat.at("KUBE-SERVICES")) clusterRule = clusterRule || rule.find("--match-set KUBE-CLUSTER-IP dst,dst ! -s 10.128.0.0/16 -j KUBE-MARK-MASQ") != std::string::npos;
  EXPECT_TRUE(clusterRule) << ::testing::PrintToString(nat.at("KUBE-SERVICES"));
  EXPECT_FALSE(nat.at("PREROUTING").empty()) << "jump into KUBE-SERVICES";

  // A second full sync of the same state changes nothing.
  const size_t ops = n.ipvs.applied.size();
  const std::string before = n.dump();
  ASSERT_TRUE(n.full(n.current).ok);
  EXPECT_EQ(n.ipvs.applied.size(), ops);
  EXPECT_EQ(n.dump(), before);
}

TEST(IpvsBackendTest, ForeignServersAreLeftAloneAndStaleOnesOfOursRemoved) {
  Node n;
  // Foreign: an address kproxy never bound, and a node-IP port not in our NodePort sets.
  n.ipvs.servers[tcp("10.50.0.1")].server.key = tcp("10.50.0.1");
  n.ipvs.servers[tcp(kNodeIP, 9999)].server.key = tcp(kNodeIP, 9999);
  // Ours from before a restart: its address is on kube-ipvs0 and in KUBE-IPVS-IPS.
  n.link.exists = true;
  n.link.addresses = {"10.96.0.9"};
  n.ipvs.servers[tcp("10.96.0.9")].server.key = tcp("10.96.0.9");
  n.ipvs.servers[tcp("10.96.0.9")].destinations.push_back({"10.128.0.9", 8080});
  n.sets.sets["KUBE-IPVS-IPS"] = {"10.96.0.9"};
  n.sets.sets["KUBE-CLUSTER-IP"] = {"10.96.0.9,tcp:80"};
  // An old NodePort of ours: the node IP is not ours, but the port is in KUBE-NODE-PORT-TCP.
  n.ipvs.servers[tcp(kNodeIP, 30099)].server.key = tcp(kNodeIP, 30099);
  n.sets.sets["KUBE-NODE-PORT-TCP"] = {"30099"};

  ASSERT_TRUE(n.full({{"web", 1, {1}}}).ok);
  EXPECT_TRUE(n.ipvs.servers.count(tcp("10.50.0.1")));
  EXPECT_TRUE(n.ipvs.servers.count(tcp(kNodeIP, 9999)));
  EXPECT_FALSE(n.ipvs.servers.count(tcp("10.96.0.9")));
  EXPECT_FALSE(n.ipvs.servers.count(tcp(kNodeIP, 30099)));
  EXPECT_EQ(n.link.addresses, (std::set<std::string>{"10.96.0.1"}));
  EXPECT_EQ(n.sets.sets.at("KUBE-CLUSTER-IP"), (std::set<std::string>{"10.96.0.1,tcp:80"}));
  EXPECT_TRUE(n.sets.sets.at("KUBE-NODE-PORT-TCP").empty());
}

TEST(IpvsBackendTest, ExcludedRangesAreNeverRemovedAsStale) {
  FakeIpvsKernel k;
  FakeLinkState link;
  FakeIpsetState sets;
  IpvsOptions o = options();
  o.excludeCIDRs = {*net::parseCidr("10.96.9.0/24")};
  IpvsBackend b(o, std::make_unique<FakeIpvsClient>(k), std::make_unique<FakeDummyLink>(link),
                std::make_unique<FakeIpset>(sets), std::make_unique<FakeRestore>());
  link.exists = true;
  link.addresses = {"10.96.9.1", "10.96.0.9"};  // both look like ours
  k.servers[tcp("10.96.9.1")].server.key = tcp("10.96.9.1");
  k.servers[tcp("10.96.0.9")].server.key = tcp("10.96.0.9");
  ASSERT_TRUE(b.syncFull(std::make_shared<const DesiredState>(build({{"web", 1, {1}}}))).ok);
  EXPECT_TRUE(k.servers.count(tcp("10.96.9.1")));
  EXPECT_FALSE(k.servers.count(tcp("10.96.0.9")));
}

TEST(IpvsBackendTest, ARemovedTcpDestinationDrainsUntilItsConnectionsEnd) {
  Node n;
  ASSERT_TRUE(n.full({{"web", 1, {1, 2, 3}}}).ok);
  n.ipvs.setConns(tcp("10.96.0.1"), "10.128.0.2:8080", 1, 0);
  ASSERT_TRUE(n.partial({{"web", 1, {1, 3}}}).ok);
  const Destination* d = n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080");
  ASSERT_NE(d, nullptr) << "kept while it has a connection";
  EXPECT_EQ(d->weight, 0u) << "new connections avoid it";
  EXPECT_EQ(n.backend.drainingCount(), 1u);
  // Full and partial syncs keep it while connections remain (a full sync must not restore weight 1).
  ASSERT_TRUE(n.full(n.current).ok);
  ASSERT_TRUE(n.partial({{"web", 1, {1, 3}}, {"other", 2, {5}}}).ok);
  ASSERT_NE(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080"), nullptr);
  EXPECT_EQ(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080")->weight, 0u);
  // Closed (inactive connections count too, as upstream): gone at the next sync.
  n.ipvs.setConns(tcp("10.96.0.1"), "10.128.0.2:8080", 0, 1);
  ASSERT_TRUE(n.partial({{"web", 1, {1, 3}}, {"other", 2, {5, 7}}}).ok);
  EXPECT_NE(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080"), nullptr);
  n.ipvs.setConns(tcp("10.96.0.1"), "10.128.0.2:8080", 0, 0);
  ASSERT_TRUE(n.partial({{"web", 1, {1, 3}}, {"other", 2, {5}}}).ok);
  EXPECT_EQ(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080"), nullptr);
  EXPECT_EQ(n.backend.drainingCount(), 0u);
  EXPECT_EQ(n.dump(), freshDump(n.current));
}

TEST(IpvsBackendTest, ADrainingDestinationThatComesBackGetsItsWeightBack) {
  Node n;
  ASSERT_TRUE(n.full({{"web", 1, {1, 2}}}).ok);
  n.ipvs.setConns(tcp("10.96.0.1"), "10.128.0.2:8080", 3, 0);
  ASSERT_TRUE(n.partial({{"web", 1, {1}}}).ok);
  ASSERT_EQ(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080")->weight, 0u);
  ASSERT_TRUE(n.partial({{"web", 1, {1, 2}}}).ok);
  EXPECT_EQ(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080")->weight, 1u);
  EXPECT_EQ(n.backend.drainingCount(), 0u);
}

TEST(IpvsBackendTest, DrainingEndsAfterTheLimitEvenWithConnections) {
  Node n;
  ASSERT_TRUE(n.full({{"web", 1, {1, 2}}}).ok);
  n.ipvs.setConns(tcp("10.96.0.1"), "10.128.0.2:8080", 1, 0);
  ASSERT_TRUE(n.partial({{"web", 1, {1}}}).ok);
  n.now += IpvsBackend::kDrainLimit - std::chrono::seconds(1);
  ASSERT_TRUE(n.full(n.current).ok);
  EXPECT_NE(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080"), nullptr);
  n.now += std::chrono::seconds(2);
  ASSERT_TRUE(n.full(n.current).ok);
  EXPECT_EQ(n.ipvs.find(tcp("10.96.0.1"), "10.128.0.2:8080"), nullptr);
}

TEST(IpvsBackendTest, UdpDestinationsAreRemovedAtOnce) {
  Node n;
  ASSERT_TRUE(n.full({{"dns", 1, {1, 2}, 0, "", true}}).ok);
  n.ipvs.setConns(udp("10.96.0.1"), "10.128.0.2:8080", 0, 5);
  ASSERT_TRUE(n.partial({{"dns", 1, {1}, 0, "", true}}).ok);
  EXPECT_EQ(n.ipvs.find(udp("10.96.0.1"), "10.128.0.2:8080"), nullptr);
  EXPECT_EQ(n.backend.drainingCount(), 0u);
}

TEST(IpvsBackendTest, SharedAddressesAndMembersStayWhileAnyServiceNeedsThem) {
  Node n;
  ASSERT_TRUE(n.full({{"a", 1, {1}, 0, "203.0.113.7"}, {"b", 2, {3}, 0, "203.0.113.7"}}).ok);
  EXPECT_TRUE(n.link.addresses.count("203.0.113.7"));
  // b is deleted: the external IP is still a's (its virtual server 203.0.113.7:80 is a's too,
  // both claim the same key and the first one wins).
  ASSERT_TRUE(n.partial({{"a", 1, {1}, 0, "203.0.113.7"}}).ok);
  EXPECT_TRUE(n.link.addresses.count("203.0.113.7"));
  EXPECT_TRUE(n.sets.sets.at("KUBE-EXTERNAL-IP").count("203.0.113.7,tcp:80"));
  EXPECT_FALSE(n.link.addresses.count("10.96.0.2"));
  ASSERT_TRUE(n.partial({}).ok);
  EXPECT_TRUE(n.link.addresses.empty());
  EXPECT_TRUE(n.sets.sets.at("KUBE-EXTERNAL-IP").empty());
  EXPECT_TRUE(n.ipvs.servers.empty());
}

TEST(IpvsBackendTest, PartialSyncsLeaveWhatAFreshFullSyncWould) {
  std::mt19937 rng(7);
  Node n;
  std::vector<Svc> c;
  for (int i = 0; i < 30; ++i)
    c.push_back({"s" + std::to_string(i), i + 1, {1 + i % 9, 2 + i % 9}, static_cast<uint16_t>(i % 3 ? 0 : 30000 + i),
                 i % 7 ? "" : "203.0.113." + std::to_string(i % 2), i % 5 == 0, i % 4 == 0});
  ASSERT_TRUE(n.full(c).ok);
  for (int step = 0; step < 60; ++step) {
    auto next = n.current;
    switch (rng() % 4) {
      case 0: next.erase(next.begin() + rng() % next.size()); break;
      case 1: next.push_back({"new" + std::to_string(step), 100 + step, {int(rng() % 9) + 1}, 0, step % 3 ? "" : "203.0.113.1"}); break;
      case 2: next[rng() % next.size()].eps.push_back(20 + int(rng() % 5)); break;
      case 3: next[rng() % next.size()].eps.clear(); break;
    }
    auto r = n.partial(next);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(n.dump(), freshDump(next)) << "after step " << step;
  }
}

TEST(IpvsBackendTest, AKernelFailureIsReportedAndTheNextFullSyncRepairs) {
  Node n;
  ASSERT_TRUE(n.full({{"web", 1, {1}}}).ok);
  n.ipvs.failNext = 1;
  auto r = n.partial({{"web", 1, {1}}, {"new", 2, {3}}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("ipvsadm -A -t 10.96.0.2:80 -s rr: Cannot allocate memory"), std::string::npos) << r.error;
  EXPECT_TRUE(n.ipvs.servers.count(tcp("10.96.0.1"))) << "other services untouched";
  r = n.full(n.current);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(n.dump(), freshDump(n.current));
}

TEST(IpvsBackendTest, AnIpsetFailureFailsTheSync) {
  Node n;
  ASSERT_TRUE(n.full({{"web", 1, {1}}}).ok);
  n.sets.sets.erase("KUBE-CLUSTER-IP");  // someone destroyed it
  auto r = n.partial({{"web", 1, {1}}, {"new", 2, {3}}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("does not exist"), std::string::npos) << r.error;
  ASSERT_TRUE(n.full(n.current).ok) << "the full sync recreates the set";
  EXPECT_EQ(n.dump(), freshDump(n.current));
}

}  // namespace
}  // namespace kproxy::ipvs
