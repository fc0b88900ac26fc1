#include "trace/iptables_eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/support/with_jump_rules.h"
#include "tests/golden/golden_support.h"

namespace kproxy::trace {
namespace {

using kproxy::testing::withJumpRules;

namespace fs = std::filesystem;


std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// For every service port of every golden: a new connection from outside the cluster to its
// ClusterIP reaches exactly the endpoints the desired state says, each with probability 1/N,
// and is masqueraded; or meets the REJECT (no endpoints) or DROP (Local policy, none here).
TEST(IptablesEval, EveryGoldensClusterIPsLeadWhereTheDesiredStateSays) {
  size_t ports = 0, cases = 0;
  for (const auto& dir : fs::directory_iterator(fs::path(KPROXY_SOURCE_DIR) / "tests/golden")) {
    if (!fs::exists(dir.path() / "iptables.golden")) continue;
    ++cases;
    auto c = testing::loadGoldenCase(dir.path().string());
    IptDump dump = parseIptablesSave(withJumpRules(read(dir.path() / "iptables.golden")));
    ASSERT_TRUE(dump.problems.empty()) << dir.path() << ": " << dump.problems.front();
    bool v6 = c.opts.family == model::IPFamily::kIPv6;
    for (const auto& p : c.state.ports) {
      SCOPED_TRACE(dir.path().filename().string() + " " + p.nameString);
      Packet pkt;
      pkt.src = *net::parseIP(v6 ? "2001:db8::9" : "203.0.113.9");
      pkt.dst = *net::parseIP(p.clusterIP);
      pkt.proto = p.protocol;
      pkt.dport = p.port;
      pkt.fromLocal = false;
      Evaluation ev = evaluate(dump, pkt);
      EXPECT_TRUE(ev.skipped.empty()) << ev.skipped.front()->text;
      ASSERT_FALSE(ev.outcomes.empty());
      double total = 0;
      for (const auto& o : ev.outcomes) total += o.probability;
      EXPECT_NEAR(total, 1.0, 1e-6);
      auto plan = dataplane::planPort(p);
      using F = dataplane::PortPlan::Filter;
      if (plan.internalFilter != F::kNone) {
        auto want = plan.internalFilter == F::kReject ? Outcome::Fate::kReject : Outcome::Fate::kDrop;
        for (const auto& o : ev.outcomes) {
          EXPECT_EQ(o.fate, want);
          ASSERT_NE(o.decisive, nullptr);
        }
        ++ports;
        continue;
      }
      const auto& idx = p.internalPolicyLocal ? p.localEndpoints : p.clusterEndpoints;
      std::set<std::string> want, got;
      for (size_t i : idx) want.insert(p.endpoints[i].hostPort);
      for (const auto& o : ev.outcomes) {
        ASSERT_EQ(o.fate, Outcome::Fate::kDnat) << (o.decisive ? o.decisive->text : "no decisive rule");
        got.insert(o.dnatTo);
        EXPECT_NEAR(o.probability, 1.0 / static_cast<double>(idx.size()), 1e-6) << o.dnatTo;
        if (!c.opts.clusterCIDRs.empty() || c.opts.masqueradeAll) {
          EXPECT_TRUE(o.masquerade) << o.dnatTo;
        }
        EXPECT_EQ(o.affinityNote, p.affinityClientIP);
      }
      EXPECT_EQ(got, want);
      ++ports;
    }
  }
  EXPECT_GE(cases, 18u);
  EXPECT_GE(ports, 30u);
}

// The same through NodePorts on a node address: external traffic policy decides the endpoints.
TEST(IptablesEval, EveryGoldensNodePortsLeadWhereTheDesiredStateSays) {
  size_t ports = 0;
  for (const auto& dir : fs::directory_iterator(fs::path(KPROXY_SOURCE_DIR) / "tests/golden")) {
    if (!fs::exists(dir.path() / "iptables.golden")) continue;
    auto c = testing::loadGoldenCase(dir.path().string());
    IptDump dump = parseIptablesSave(withJumpRules(read(dir.path() / "iptables.golden")));
    bool v6 = c.opts.family == model::IPFamily::kIPv6;
    auto node = net::parseIP(!c.opts.nodeIPs.empty() ? c.opts.nodeIPs.front() : (v6 ? "2001:db8::100" : "192.0.2.100"));
    ASSERT_TRUE(node);
    if (node->family != c.opts.family) continue;
    bool served = c.opts.nodePortAddresses.empty();
    for (const auto& cidr : c.opts.nodePortAddresses) served = served || cidr.contains(*node);
    if (!served) continue;
    for (const auto& p : c.state.ports) {
      if (!p.nodePort) continue;
      SCOPED_TRACE(dir.path().filename().string() + " " + p.nameString + " NodePort " + std::to_string(p.nodePort));
      Packet pkt{*net::parseIP(v6 ? "2001:db8::9" : "203.0.113.9"), *node, p.protocol, p.nodePort, false, {*node}};
      Evaluation ev = evaluate(dump, pkt);
      ASSERT_FALSE(ev.outcomes.empty());
      auto plan = dataplane::planPort(p);
      using F = dataplane::PortPlan::Filter;
      if (plan.externalFilter != F::kNone) {
        auto want = plan.externalFilter == F::kReject ? Outcome::Fate::kReject : Outcome::Fate::kDrop;
        for (const auto& o : ev.outcomes) EXPECT_EQ(o.fate, want);
        ++ports;
        continue;
      }
      const auto& idx = p.externalPolicyLocal ? p.localEndpoints : p.clusterEndpoints;
      std::set<std::string> want, got;
      for (size_t i : idx) want.insert(p.endpoints[i].hostPort);
      for (const auto& o : ev.outcomes) {
        ASSERT_EQ(o.fate, Outcome::Fate::kDnat);
        got.insert(o.dnatTo);
        // Policy Cluster masquerades external traffic; Local keeps the client's address.
        EXPECT_EQ(o.masquerade, !p.externalPolicyLocal) << o.dnatTo;
      }
      EXPECT_EQ(got, want);
      ++ports;
    }
  }
  EXPECT_GE(ports, 5u);
}

TEST(IptablesEval, ParsesTheKernelsCanonicalFormWithCounters) {
  std::string save = R"(# Generated by iptables-nft-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
[7:420] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[0:0] -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[0:0] -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
[0:0] -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
[0:0] -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
[0:0] -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
[5:300] -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "ns/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-X
[0:0] -A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "ns/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
[3:180] -A KUBE-SVC-X -m comment --comment "ns/web:http -> 10.244.1.2:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
[2:120] -A KUBE-SVC-X -m comment --comment "ns/web:http -> 10.244.2.2:8080" -j KUBE-SEP-B
[0:0] -A KUBE-SEP-A -s 10.244.1.2/32 -m comment --comment "ns/web:http" -j KUBE-MARK-MASQ
[3:180] -A KUBE-SEP-A -p tcp -m comment --comment "ns/web:http" -m tcp -j DNAT --to-destination 10.244.1.2:8080
[0:0] -A KUBE-SEP-B -s 10.244.2.2/32 -m comment --comment "ns/web:http" -j KUBE-MARK-MASQ
[2:120] -A KUBE-SEP-B -p tcp -m comment --comment "ns/web:http" -m tcp -j DNAT --to-destination 10.244.2.2:8080
COMMIT
)";
  IptDump d = parseIptablesSave(save);
  ASSERT_TRUE(d.problems.empty()) << d.problems.front();
  const auto* svc = d.chain("nat", "KUBE-SVC-X");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ((*svc)[1].packets, 3u);
  EXPECT_EQ((*svc)[1].comment, "ns/web:http -> 10.244.1.2:8080");
  EXPECT_DOUBLE_EQ(*(*svc)[1].probability, 0.5);

  Packet p{*net::parseIP("10.244.1.2"), *net::parseIP("10.96.0.10"), model::Protocol::kTCP, 80, false, {}};
  Evaluation ev = evaluate(d, p);
  ASSERT_EQ(ev.outcomes.size(), 2u);
  EXPECT_EQ(ev.outcomes[0].dnatTo, "10.244.2.2:8080");  // the fall-through path comes out first
  EXPECT_FALSE(ev.outcomes[0].masquerade) << "a pod reaching another pod keeps its address";
  EXPECT_EQ(ev.outcomes[1].dnatTo, "10.244.1.2:8080");
  EXPECT_TRUE(ev.outcomes[1].masquerade) << "hairpin: the pod reaches itself";
  // A port nothing handles goes through untouched.
  p.dport = 81;
  ev = evaluate(d, p);
  ASSERT_EQ(ev.outcomes.size(), 1u);
  EXPECT_EQ(ev.outcomes[0].fate, Outcome::Fate::kAccept);
  // A rule with a match the evaluator does not know is skipped and reported, not guessed; -i
  // is known (detect-local by interface) and this packet did not come in on eth9.
  d = parseIptablesSave("*nat\n-A PREROUTING -i eth9 -j DROP\n-A PREROUTING -m owner --uid-owner 0 -j DROP\nCOMMIT\n");
  ev = evaluate(d, p);
  EXPECT_EQ(ev.skipped.size(), 1u);
  EXPECT_EQ(ev.outcomes.at(0).fate, Outcome::Fate::kAccept);
  p.inInterface = "eth9";
  ev = evaluate(d, p);
  EXPECT_EQ(ev.outcomes.at(0).fate, Outcome::Fate::kDrop);
}

}  // namespace
}  // namespace kproxy::trace
