#include "trace/ipvs_view.h"

#include <gtest/gtest.h>

namespace kproxy::trace {
namespace {

using ipvs::Destination;
using ipvs::ObservedService;
using ipvs::ServiceKey;

Target target(const std::string& text) {
  std::string why;
  auto t = parseTarget(text, why);
  EXPECT_TRUE(t) << why;
  return *t;
}

ObservedService server(const std::string& ip, uint16_t port, std::vector<Destination> dests, std::string sched = "rr") {
  ObservedService s;
  s.server.key = {model::IPFamily::kIPv4, model::Protocol::kTCP, ip, port};
  s.server.scheduler = std::move(sched);
  s.destinations = std::move(dests);
  return s;
}

// What kproxy plans for 10.96.0.80:80 with endpoints pod-1..3.
ipvs::Fragment plan() {
  ipvs::Fragment f;
  auto s = server("10.96.0.80", 80, {{"10.244.1.2", 8080}, {"10.244.2.2", 8080}, {"10.244.3.2", 8080}});
  f.servers[s.server.key] = s;
  f.addresses = {"10.96.0.80"};
  f.sets["KUBE-CLUSTER-IP"] = {"10.96.0.80,tcp:80"};
  f.sets["KUBE-IPVS-IPS"] = {"10.96.0.80"};
  return f;
}

IpvsView kernelAsPlanned() {
  IpvsView v;
  v.servers = {server("10.96.0.80", 80, {{"10.244.1.2", 8080}, {"10.244.2.2", 8080}, {"10.244.3.2", 8080}}),
               server("10.96.0.81", 80, {{"10.244.1.2", 8080}})};
  v.deviceExists = true;
  v.deviceAddresses = {"10.96.0.80", "10.96.0.81"};
  v.sets["KUBE-CLUSTER-IP"] = {"10.96.0.80,tcp:80", "10.96.0.81,tcp:80"};
  v.sets["KUBE-IPVS-IPS"] = {"10.96.0.80", "10.96.0.81"};
  return v;
}

TEST(IpvsViewTest, AsPlannedEachDestinationGetsItsShareAndNothingDiffers) {
  auto f = plan();
  auto ev = evaluateIpvs(kernelAsPlanned(), target("10.96.0.80:80"), &f);
  EXPECT_EQ(ev.server, "TCP 10.96.0.80:80 rr");
  ASSERT_EQ(ev.outcomes.size(), 3u);
  for (const auto& o : ev.outcomes) {
    EXPECT_EQ(o.fate, IpvsOutcome::Fate::kDnat);
    EXPECT_NEAR(o.probability, 1.0 / 3, 1e-9);
  }
  EXPECT_TRUE(ev.diff.empty()) << ev.diff[0];
  bool sets = false;
  for (const auto& n : ev.notes) sets = sets || n == "ipsets: KUBE-CLUSTER-IP 10.96.0.80,tcp:80, KUBE-IPVS-IPS 10.96.0.80";
  EXPECT_TRUE(sets);
}

TEST(IpvsViewTest, DrainingDestinationsAreNotedAndGetNoShare) {
  auto v = kernelAsPlanned();
  v.servers[0].destinations[2].weight = 0;
  v.servers[0].destinations[2].activeConns = 1;
  auto f = plan();
  f.servers.begin()->second.destinations.pop_back();  // pod-3 was removed
  auto ev = evaluateIpvs(v, target("10.96.0.80:80"), &f);
  ASSERT_EQ(ev.outcomes.size(), 2u);
  EXPECT_NEAR(ev.outcomes[0].probability, 0.5, 1e-9);
  EXPECT_TRUE(ev.diff.empty());
  EXPECT_NE(std::find(ev.notes.begin(), ev.notes.end(), "draining: 10.244.3.2:8080 (weight 0, 1 active, 0 inactive connections)"),
            ev.notes.end());
}

TEST(IpvsViewTest, EverythingMissingOrDifferentIsADiffLine) {
  auto v = kernelAsPlanned();
  v.servers[0].destinations.erase(v.servers[0].destinations.begin());                    // pod-1 deleted by hand
  v.servers[0].destinations.push_back({"10.244.9.9", 8080});                             // a stranger added
  v.servers[0].server.scheduler = "lc";
  v.deviceAddresses.erase("10.96.0.80");
  v.sets["KUBE-CLUSTER-IP"].erase("10.96.0.80,tcp:80");
  auto f = plan();
  auto ev = evaluateIpvs(v, target("10.96.0.80:80"), &f);
  EXPECT_EQ(ev.diff, (std::vector<std::string>{
                         "- virtual server TCP 10.96.0.80:80 rr (desired); kernel: TCP 10.96.0.80:80 lc",
                         "- destination 10.244.1.2:8080 (desired) not in the kernel",
                         "+ destination 10.244.9.9:8080 (kernel) not desired",
                         "- kube-ipvs0 address 10.96.0.80 (desired) missing: the kernel does not deliver it to IPVS",
                         "- ipset KUBE-CLUSTER-IP 10.96.0.80,tcp:80 (desired) missing"}));
}

TEST(IpvsViewTest, NoServerMeansTheAddressItselfAndNoDestinationsMeansRefused) {
  auto f = plan();
  IpvsView empty;
  auto ev = evaluateIpvs(empty, target("10.96.0.80:80"), &f);
  ASSERT_EQ(ev.outcomes.size(), 1u);
  EXPECT_EQ(ev.outcomes[0].fate, IpvsOutcome::Fate::kAccept);
  EXPECT_EQ(ev.diff.front(), "- virtual server TCP 10.96.0.80:80 rr (desired) not in the kernel");

  IpvsView v;
  v.servers = {server("10.96.0.82", 80, {})};
  ev = evaluateIpvs(v, target("10.96.0.82:80"), nullptr);
  ASSERT_EQ(ev.outcomes.size(), 1u);
  EXPECT_EQ(ev.outcomes[0].fate, IpvsOutcome::Fate::kReject);
  EXPECT_TRUE(ev.diff.empty()) << "nothing desired, nothing compared";
}

}  // namespace
}  // namespace kproxy::trace
