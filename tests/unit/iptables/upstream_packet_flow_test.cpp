// Upstream's iptables packet-flow tables (tests/support/upstream_packet_flows.h) against
// kproxy: the same Services rendered by kproxy's iptables renderer, each test packet walked
// through the result by `kproxy trace`'s iptables evaluator, the outcome written as upstream's
// tracer writes it.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "tests/support/with_jump_rules.h"
#include "iptables/renderer.h"
#include "tests/support/upstream_packet_flows.h"
#include "tests/unit/dataplane/upstream_cases.h"
#include "trace/iptables_eval.h"
#include "watch/decode.h"

namespace kproxy::iptables {
namespace {

using kproxy::testing::withJumpRules;

namespace up = testing::upstream;


// Upstream's tracer output: the DNAT destinations, or the REJECT/DROP/ACCEPT of one of kube-proxy's
// filter chains; "" when nothing of ours decided.
std::string upstreamOutput(const trace::Evaluation& ev) {
  std::set<std::string> dnat;
  for (const auto& o : ev.outcomes) {
    if (o.fate == trace::Outcome::Fate::kReject) return "REJECT";
    if (o.fate == trace::Outcome::Fate::kDrop) return "DROP";
    if (o.fate == trace::Outcome::Fate::kDnat) dnat.insert(o.dnatTo);
  }
  if (dnat.empty()) {
    for (const auto& o : ev.outcomes)
      for (const auto* r : o.rules)
        if (r->table == "filter" && r->target == "ACCEPT" &&
            (r->chain == "KUBE-NODEPORTS" || r->chain == "KUBE-SERVICES" || r->chain == "KUBE-EXTERNAL-SERVICES"))
          return "ACCEPT";
    return "";
  }
  std::vector<std::string> v(dnat.begin(), dnat.end());
  // Upstream sorts as the rules list them, which is by endpoint address; so do we (10.x.y.z:p).
  std::string out;
  for (const auto& d : v) out += (out.empty() ? "" : ", ") + d;
  return out;
}

TEST(UpstreamPacketFlows, IptablesMode) {
  size_t total = 0, held = 0;
  for (const auto& t : up::allFlowTests()) {
    SCOPED_TRACE(t.test + (t.variant.empty() ? "" : " / " + t.variant));
    watch::Objects objs = watch::decodeManifestText(t.manifests, t.test);
    ASSERT_TRUE(objs.errors.empty()) << objs.errors.front().str();
    RenderOptions opts;
    opts.family = model::IPFamily::kIPv4;
    if (t.localDetector) opts.clusterCIDRs = {*net::parseCidr(up::kPodCIDR)};
    opts.masqueradeAll = t.masqueradeAll;
    opts.nodeIPs = up::kNodeIPs;
    opts.primaryNodeIPs = {up::kNodeIP};
    opts.localhostNodePorts = true;
    dataplane::NodeContext node{up::kNodeName, {}};
    auto state = dataplane::buildDesiredState(objs.services, objs.slices, node, opts.family);
    Renderer renderer(opts);
    trace::IptDump dump = trace::parseIptablesSave(withJumpRules(renderer.renderFull(state).text));
    ASSERT_TRUE(dump.problems.empty()) << dump.problems.front();
    std::vector<net::IPAddress> local = {*net::parseIP("127.0.0.1")};
    for (const auto& ip : up::kNodeIPs) local.push_back(*net::parseIP(ip));
    for (const auto& f : t.flows) {
      SCOPED_TRACE(f.name);
      trace::Packet p;
      p.src = *net::parseIP(f.source);
      p.dst = *net::parseIP(f.dest);
      p.proto = f.protocol;
      p.dport = f.port;
      p.localAddresses = local;
      p.fromLocal = std::find(local.begin(), local.end(), p.src) != local.end();
      trace::Evaluation ev = trace::evaluate(dump, p);
      EXPECT_TRUE(ev.skipped.empty()) << ev.skipped.front()->text;
      const std::string got = upstreamOutput(ev);
      bool masq = false;
      for (const auto& o : ev.outcomes) masq = masq || o.masquerade;
      EXPECT_EQ(got, f.output);
      // Upstream's tracer reports masquerade only where something goes through (as here).
      EXPECT_EQ(masq, f.masq) << got;
      ++total;
      held += got == f.output && masq == f.masq;
    }
  }
  testing::reportUpstreamCases("packet flows, iptables mode", "pkg/proxy/iptables/proxier_test.go", up::kIptablesSource, held, total);
}

}  // namespace
}  // namespace kproxy::iptables
