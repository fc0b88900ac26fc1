#include "ipvs/planner.h"

#include <gtest/gtest.h>

#include "ipvs/helper_rules.h"
#include "tests/fakes/fake_ipvs.h"

namespace kproxy::ipvs {
namespace {

using dataplane::ServicePortInfo;

ServicePortInfo port(const std::string& clusterIP, uint16_t nodePort = 0) {
  ServicePortInfo p;
  p.name = {{"ns", "web"}, "http", Protocol::kTCP};
  p.clusterIP = clusterIP;
  p.port = 80;
  p.nodePort = nodePort;
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

Fragment plan(std::vector<ServicePortInfo> ports, IpvsOptions opts = {}, std::set<std::string> otherLocal = {}) {
  dataplane::PortList list;
  for (auto& p : ports) list.push_back(std::move(p));
  return planPorts({list.begin(), list.end()}, opts, otherLocal);
}

TEST(IpvsPlannerTest, SetNamesAreUpstreamsAndFitIpset) {
  EXPECT_EQ(setName("KUBE-CLUSTER-IP", IPFamily::kIPv4), "KUBE-CLUSTER-IP");
  EXPECT_EQ(setName("KUBE-CLUSTER-IP", IPFamily::kIPv6), "KUBE-6-CLUSTER-IP");
  EXPECT_EQ(setName("KUBE-LOAD-BALANCER-SOURCE-CIDR", IPFamily::kIPv6), "KUBE-6-LOAD-BALANCER-SOURCE-CID");
  for (const auto& s : ipsetInfo()) EXPECT_LE(setName(s.name, IPFamily::kIPv6).size(), 31u) << s.name;
}

TEST(IpvsPlannerTest, ExternalTrafficPolicyLocalNodePortsUseLocalEndpointsOnly) {
  IpvsOptions o;
  o.proxy.nodeIPs = {"192.0.2.10", "198.51.100.1", "2001:db8::1"};
  o.proxy.nodePortAddresses = {*net::parseCidr("192.0.2.0/24")};
  auto p = port("10.96.0.1", 30080);
  p.externalPolicyLocal = true;
  p.healthCheckNodePort = 32000;
  Fragment f = plan({p}, o, {"192.0.2.10"});
  ASSERT_EQ(f.servers.size(), 2u) << formatServers(f.servers) << "only the allowed IPv4 node address";
  const auto& np = f.servers.at({IPFamily::kIPv4, Protocol::kTCP, "192.0.2.10", 30080});
  EXPECT_EQ(np.destinations.size(), 2u) << "local endpoints";
  EXPECT_EQ(f.servers.at({IPFamily::kIPv4, Protocol::kTCP, "10.96.0.1", 80}).destinations.size(), 3u);
  EXPECT_EQ(f.addresses, (std::set<std::string>{"10.96.0.1"})) << "node IPs are never bound to kube-ipvs0";
  EXPECT_EQ(f.sets.at("KUBE-NODE-PORT-LOCAL-TCP"), (std::set<std::string>{"30080"}));
  EXPECT_EQ(f.sets.at("KUBE-HEALTH-CHECK-NODE-PORT"), (std::set<std::string>{"32000"}));
  EXPECT_EQ(f.sets.at("KUBE-LOOP-BACK").size(), 2u);
}

TEST(IpvsPlannerTest, LoadBalancerSourceRangesAndLocalExternalIPs) {
  auto p = port("10.96.0.1");
  p.loadBalancerVIPs = {"203.0.113.5"};
  p.loadBalancerSourceRanges = {"198.51.100.0/24"};
  p.externalIPs = {"192.0.2.10"};  // already a local address: served, not bound again
  IpvsOptions o;
  o.proxy.nodeIPs = {"198.51.100.20"};  // inside the source range: the node may reach the LB IP
  Fragment f = plan({p}, o, {"192.0.2.10"});
  EXPECT_TRUE(f.servers.count({IPFamily::kIPv4, Protocol::kTCP, "203.0.113.5", 80}));
  EXPECT_TRUE(f.servers.count({IPFamily::kIPv4, Protocol::kTCP, "192.0.2.10", 80}));
  EXPECT_EQ(f.addresses, (std::set<std::string>{"10.96.0.1", "203.0.113.5"}));
  EXPECT_EQ(f.sets.at("KUBE-LOAD-BALANCER-FW"), (std::set<std::string>{"203.0.113.5,tcp:80"}));
  EXPECT_EQ(f.sets.at("KUBE-LOAD-BALANCER-SOURCE-CIDR"), (std::set<std::string>{"203.0.113.5,tcp:80,198.51.100.0/24"}));
  EXPECT_EQ(f.sets.at("KUBE-LOAD-BALANCER-SOURCE-IP"), (std::set<std::string>{"203.0.113.5,tcp:80,203.0.113.5"}));
  EXPECT_EQ(f.sets.at("KUBE-EXTERNAL-IP"), (std::set<std::string>{"192.0.2.10,tcp:80"}));
  EXPECT_TRUE(f.nodeDenied.empty());
  o.proxy.nodeIPs = {"192.0.2.99"};
  Fragment denied = plan({p}, o, {"192.0.2.10"});
  EXPECT_FALSE(denied.sets.count("KUBE-LOAD-BALANCER-SOURCE-IP")) << "node outside the ranges";
  // Upstream's KUBE-IPVS-OUT-FILTER rule: the node's own connections, which IPVS takes in OUTPUT.
  EXPECT_EQ(denied.nodeDenied, std::set<std::string>{"-s 203.0.113.5 -m ipvs --vaddr 203.0.113.5 --vproto tcp --vport 80"});
  std::string rules = renderHelperRules(o, denied.nodeDenied);
  EXPECT_NE(rules.find("\n-A KUBE-IPVS-OUT-FILTER -s 203.0.113.5 -m ipvs --vaddr 203.0.113.5 --vproto tcp --vport 80 -j DROP\n"),
            std::string::npos) << rules;
  EXPECT_LT(rules.find(":KUBE-IPVS-OUT-FILTER - [0:0]"), rules.find("-A KUBE-IPVS-OUT-FILTER")) << "declared (flushed) first";
  EXPECT_EQ(renderHelperRules(o).find("-A KUBE-IPVS-OUT-FILTER"), std::string::npos);
}

TEST(IpvsPlannerTest, AnySchedulerTheKernelHasAsUpstreamProbesIt) {
  for (const char* ok : {"rr", "mh", "fo", "twos", "my_sched2"}) EXPECT_TRUE(isSchedulerName(ok)) << ok;
  for (const char* bad : {"", "RR", "round robin", "a/b", "sixteen_letters_"}) EXPECT_FALSE(isSchedulerName(bad)) << bad;
  testing::FakeIpvsKernel k;
  testing::FakeIpvsClient c(k);
  EXPECT_TRUE(probeScheduler(c, "fo"));
  EXPECT_TRUE(k.servers.empty()) << "the probe's virtual server is deleted again";
  ASSERT_EQ(k.applied.size(), 2u);
  EXPECT_NE(k.applied[0].find("-A -t 198.51.100.1:20000 -s fo"), std::string::npos) << k.applied[0];
  k.failNext = 1;
  Status s = probeScheduler(c, "nosuch");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("the kernel has no IPVS scheduler \"nosuch\" (load its module, ip_vs_nosuch"), std::string::npos) << s.message();
}

TEST(IpvsPlannerTest, ConnReuseModeByKernelReleaseAsUpstream) {
  EXPECT_EQ(connReuseModeFor("3.10.0-1160.el7.x86_64"), ConnReuse::kUnsupported);
  EXPECT_EQ(connReuseModeFor("4.0.9"), ConnReuse::kUnsupported);
  EXPECT_EQ(connReuseModeFor("4.1.0"), ConnReuse::kSetZero);
  EXPECT_EQ(connReuseModeFor("4.19.0-26-amd64"), ConnReuse::kSetZero);
  EXPECT_EQ(connReuseModeFor("5.8.18"), ConnReuse::kSetZero);
  EXPECT_EQ(connReuseModeFor("5.9.0"), ConnReuse::kLeave);
  EXPECT_EQ(connReuseModeFor("6.1.0-28-amd64"), ConnReuse::kLeave);
  EXPECT_EQ(connReuseModeFor("garbage"), ConnReuse::kLeave) << "unknown: the kernel's default stays";
}

TEST(IpvsPlannerTest, OperationsDrainTcpAndDeleteUdp) {
  auto observed = [](Protocol proto, std::vector<std::string> dests, std::string sched = "rr") {
    ObservedService s;
    s.server.key = {IPFamily::kIPv4, proto, "10.96.0.1", 80};
    s.server.scheduler = sched;
    for (const auto& d : dests) s.destinations.push_back({d, 8080});
    return std::map<ServiceKey, ObservedService>{{s.server.key, s}};
  };
  auto strs = [](const std::vector<Operation>& ops) {
    std::vector<std::string> out;
    for (const auto& o : ops) out.push_back(o.str());
    return out;
  };
  auto keep = [](const ServiceKey&, const Destination&) { return false; };
  auto gone = [](const ServiceKey&, const Destination&) { return true; };
  auto want = observed(Protocol::kTCP, {"10.0.0.1", "10.0.0.3"});
  auto have = observed(Protocol::kTCP, {"10.0.0.1", "10.0.0.2"}, "wrr");
  EXPECT_EQ(strs(planOperations(want, have, keep)),
            (std::vector<std::string>{"ipvsadm -E -t 10.96.0.1:80 -s rr", "ipvsadm -a -t 10.96.0.1:80 -r 10.0.0.3:8080 -m -w 1",
                                      "ipvsadm -e -t 10.96.0.1:80 -r 10.0.0.2:8080 -m -w 0"}));
  EXPECT_EQ(strs(planOperations(want, have, gone)).back(), "ipvsadm -d -t 10.96.0.1:80 -r 10.0.0.2:8080");
  // Already at weight 0 and still busy: nothing to do.
  have.begin()->second.destinations[1].weight = 0;
  have.begin()->second.server.scheduler = "rr";
  EXPECT_EQ(strs(planOperations(want, have, keep)), (std::vector<std::string>{"ipvsadm -a -t 10.96.0.1:80 -r 10.0.0.3:8080 -m -w 1"}));
  EXPECT_EQ(strs(planOperations(observed(Protocol::kUDP, {"10.0.0.1"}), observed(Protocol::kUDP, {"10.0.0.1", "10.0.0.2"}), keep)),
            (std::vector<std::string>{"ipvsadm -d -u 10.96.0.1:80 -r 10.0.0.2:8080"}));
  EXPECT_EQ(strs(planOperations({}, have, keep)), (std::vector<std::string>{"ipvsadm -D -t 10.96.0.1:80"}));
}

}  // namespace
}  // namespace kproxy::ipvs
