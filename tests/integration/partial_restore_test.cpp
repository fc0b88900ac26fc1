// Root test: a partial render applied on top of the previous full render must leave the kernel
// exactly as a full render of the new state would, on both iptables backends.
// IP plan: none; each case uses two fresh namespaces with only lo, and no packet is sent.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "dataplane/desired_state.h"
#include "iptables/renderer.h"
#include "watch/decode.h"

namespace kproxy {
namespace {

// table -> chain -> rules in order (chain order and counters do not matter).
using Saved = std::map<std::string, std::map<std::string, std::vector<std::string>>>;

struct CommandResult {
  int status;
  std::string output;
};

CommandResult run(const std::string& cmd) {
  CommandResult r{-1, {}};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  r.status = ::pclose(p);
  return r;
}

// A network namespace of our own, deleted on scope exit.
class Netns {
 public:
  Netns() {
    static int counter = 0;
    name_ = "kproxy-test-partial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    ok_ = run("ip netns add " + name_).status == 0;
  }
  ~Netns() {
    if (ok_) run("ip netns del " + name_);
  }
  bool ok() const { return ok_; }
  CommandResult restore(const std::string& tool, const std::string& text) {
    auto path = std::filesystem::temp_directory_path() / (name_ + ".rules");
    std::ofstream(path) << text;
    auto r = run("ip netns exec " + name_ + " " + tool + "-restore --noflush < " + path.string());
    std::filesystem::remove(path);
    return r;
  }
  Saved save(const std::string& tool) {
    Saved out;
    auto r = run("ip netns exec " + name_ + " " + tool + "-save");
    std::istringstream in(r.output);
    std::string line, table;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line[0] == '*') table = line.substr(1);
      else if (line[0] == ':') out[table][line.substr(1, line.find(' ') - 1)];
      else if (line.rfind("-A ", 0) == 0) {
        std::string chain = line.substr(3, line.find(' ', 3) - 3);
        out[table][chain].push_back(line);
      }
    }
    return out;
  }

 private:
  std::string name_;
  bool ok_ = false;
};

// Rule order matters inside per-service chains (probabilities) and for the last rule of
// KUBE-SERVICES (the NodePorts jump); elsewhere rules are disjoint matches and order is free.
Saved canonical(Saved s) {
  for (auto& [table, chains] : s)
    for (auto& [chain, rules] : chains) {
      bool ordered = chain.rfind("KUBE-SVC-", 0) == 0 || chain.rfind("KUBE-SVL-", 0) == 0 ||
                     chain.rfind("KUBE-SEP-", 0) == 0 || chain.rfind("KUBE-FW-", 0) == 0 ||
                     chain.rfind("KUBE-EXT-", 0) == 0 || chain == "KUBE-POSTROUTING" || chain == "KUBE-FORWARD";
      if (ordered) continue;
      std::string last = chain == "KUBE-SERVICES" && !rules.empty() ? rules.back() : "";
      if (!last.empty()) rules.pop_back();
      std::sort(rules.begin(), rules.end());
      if (!last.empty()) rules.push_back(last);
    }
  return s;
}

// A readable difference: chains present on one side only, and chains whose rules differ.
std::string diff(const Saved& got, const Saved& want) {
  std::string out;
  for (const auto& [table, chains] : want)
    for (const auto& [chain, rules] : chains) {
      auto t = got.find(table);
      if (t == got.end() || !t->second.count(chain)) out += "missing " + table + "/" + chain + "\n";
      else if (t->second.at(chain) != rules) out += "rules differ in " + table + "/" + chain + "\n";
    }
  for (const auto& [table, chains] : got)
    for (const auto& [chain, rules] : chains)
      if (!want.count(table) || !want.at(table).count(chain)) out += "extra " + table + "/" + chain + "\n";
  return out;
}

dataplane::DesiredState stateOf(const std::string& yaml) {
  auto o = watch::decodeManifestText(yaml, "test");
  EXPECT_TRUE(o.errors.empty()) << (o.errors.empty() ? "" : o.errors[0].str());
  return dataplane::buildDesiredState(o.services, o.slices, {"node1", {}}, model::IPFamily::kIPv4);
}

std::string service(const std::string& name, const std::string& ip, const std::vector<std::string>& eps,
                    const std::string& spec = "", const std::string& node = "node2") {
  std::string y = "kind: Service\nmetadata: {name: " + name + ", namespace: ns}\nspec:\n  clusterIP: " + ip + "\n" + spec;
  if (spec.find("ports:") == std::string::npos) y += "  ports: [{name: http, port: 80}]\n";
  y += "---\nkind: EndpointSlice\nmetadata: {name: " + name + "-x, namespace: ns, labels: {kubernetes.io/service-name: " +
       name + "}}\naddressType: IPv4\nendpoints:\n";
  for (const auto& e : eps) y += "- {addresses: [" + e + "], nodeName: " + node + "}\n";
  if (eps.empty()) y += "  []\n";
  y += "ports: [{name: http, port: 8080}]\n---\n";
  return y;
}

class PartialRestore : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    if (run("command -v " + GetParam() + "-restore").status != 0) GTEST_SKIP() << GetParam() << " not installed";
  }
};

TEST_P(PartialRestore, EqualsAFullRenderOfTheNewState) {
  const std::string tool = GetParam();
  const std::string lb = "  type: LoadBalancer\n  ports: [{name: http, port: 80, nodePort: 30081}]\n"
                         "  loadBalancerSourceRanges: [203.0.113.0/24]\nstatus: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}\n";
  auto before = stateOf(service("a", "172.30.0.1", {"10.0.1.1", "10.0.1.2", "10.0.1.3"}) +
                        service("b", "172.30.0.2", {"10.0.2.1", "10.0.2.2"},
                                "  type: NodePort\n  ports: [{name: http, port: 80, nodePort: 30080}]\n") +
                        service("c", "172.30.0.3", {"10.0.3.1"}, lb) + service("e", "172.30.0.5", {}));
  auto after = stateOf(service("a", "172.30.0.1", {"10.0.1.1", "10.0.1.4"}) +
                       service("b", "172.30.0.2", {"10.0.2.1", "10.0.2.2"},
                               "  type: NodePort\n  ports: [{name: http, port: 80, nodePort: 30080}]\n") +
                       service("d", "172.30.0.4", {"10.0.4.1", "10.0.4.2"},
                               "  type: NodePort\n  externalTrafficPolicy: Local\n  ports: [{name: http, port: 80, nodePort: 30082}]\n",
                               "node1") +
                       service("e", "172.30.0.5", {"10.0.5.1"}));
  std::set<model::NamespacedName> changed{{"ns", "a"}, {"ns", "c"}, {"ns", "d"}, {"ns", "e"}};

  iptables::RenderOptions opts;
  opts.clusterCIDRs = {*net::parseCidr("10.0.0.0/8")};
  iptables::Renderer renderer(opts);

  Netns incremental, fresh;
  ASSERT_TRUE(incremental.ok() && fresh.ok());
  auto r1 = incremental.restore(tool, renderer.renderFull(before).text);
  ASSERT_EQ(r1.status, 0) << r1.output;
  auto partial = renderer.renderPartial(after, before, changed);
  EXPECT_FALSE(partial.deletedChains.empty());
  auto r2 = incremental.restore(tool, partial.text);
  ASSERT_EQ(r2.status, 0) << r2.output << "\n" << partial.text;
  auto r3 = fresh.restore(tool, renderer.renderFull(after).text);
  ASSERT_EQ(r3.status, 0) << r3.output;

  auto got = canonical(incremental.save(tool));
  auto want = canonical(fresh.save(tool));
  ASSERT_FALSE(want["nat"].empty());
  EXPECT_EQ(diff(got, want), "");
  for (const auto& chain : partial.deletedChains) EXPECT_EQ(got["nat"].count(chain), 0u) << chain;

  // An idle partial sync (nothing changed) leaves the kernel as it was.
  auto r4 = incremental.restore(tool, renderer.renderPartial(after, after, {}).text);
  ASSERT_EQ(r4.status, 0) << r4.output;
  EXPECT_EQ(diff(canonical(incremental.save(tool)), want), "");
}

// A full sync loaded in chunks (as on the nft backend) over an older state ends where a single
// full restore of the new state does.
TEST_P(PartialRestore, ChunkedFullSyncEqualsOneRestore) {
  const std::string tool = GetParam();
  auto before = stateOf(service("a", "172.30.0.1", {"10.0.1.1", "10.0.1.2", "10.0.1.3"}) +
                        service("c", "172.30.0.3", {"10.0.3.1"}));
  auto after = stateOf(service("a", "172.30.0.1", {"10.0.1.1", "10.0.1.4"}) +
                       service("b", "172.30.0.2", {"10.0.2.1", "10.0.2.2"},
                               "  type: NodePort\n  ports: [{name: http, port: 80, nodePort: 30080}]\n") +
                       service("d", "172.30.0.4", {"10.0.4.1"}));
  iptables::RenderOptions opts;
  opts.clusterCIDRs = {*net::parseCidr("10.0.0.0/8")};
  iptables::Renderer renderer(opts);
  Netns chunked, whole;
  ASSERT_TRUE(chunked.ok() && whole.ok());
  ASSERT_EQ(chunked.restore(tool, renderer.renderFull(before).text).status, 0);
  auto saved = chunked.save(tool);
  std::vector<std::string> existing;
  for (const auto& [chain, rules] : saved["nat"]) existing.push_back(chain);
  iptables::RenderResult summary;
  auto texts = renderer.renderFullChunked(after, existing, {}, 1, &summary);
  ASSERT_EQ(texts.size(), 4u);
  for (const auto& t : texts) {
    auto r = chunked.restore(tool, t);
    ASSERT_EQ(r.status, 0) << r.output << "\n" << t;
  }
  ASSERT_EQ(whole.restore(tool, renderer.renderFull(after).text).status, 0);
  EXPECT_FALSE(summary.deletedChains.empty());
  EXPECT_EQ(diff(canonical(chunked.save(tool)), canonical(whole.save(tool))), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, PartialRestore, ::testing::Values("iptables-nft", "iptables-legacy"),
                         [](const auto& info) { return info.param == "iptables-nft" ? std::string("nft") : std::string("legacy"); });

}  // namespace
}  // namespace kproxy
