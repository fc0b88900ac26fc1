// Netns test (run inside a namespace by run_in_netns.sh): the nftables backend over real
// netlink. What kproxy programs must list (`nft list table`) exactly as `nft -f` of the text
// form of the same objects lists, after full syncs and after any sequence of partial syncs.
// References are computed in a child process in a fresh network namespace of its own.
// IP plan: none; only lo, no packets.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nftables/names.h"
#include "nftables/netlink_client.h"
#include "nftables/nftables_backend.h"
#include "tests/golden/golden_support.h"
#include "tests/support/run_command.h"

namespace kproxy::nftables {
namespace {

namespace fs = std::filesystem;
using dataplane::DesiredState;

std::string run(const std::string& cmd) { return testing::runCommand(cmd); }

std::string family(IPFamily f) { return f == IPFamily::kIPv4 ? "ip" : "ip6"; }

std::string listTable(IPFamily f) { return run("nft list table " + family(f) + " kube-proxy 2>&1"); }

// `nft list table` after `nft -f` of `text` in a brand-new network namespace.
std::string referenceListing(const std::string& text, IPFamily f) {
  std::string path = "/tmp/kproxy-nft-ref-" + std::to_string(::getpid()) + ".nft";
  std::ofstream(path) << text;
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    if (::unshare(CLONE_NEWNET) != 0) _exit(2);
    std::string out = run("nft -f " + path + " 2>&1 && nft list table " + family(f) + " kube-proxy 2>&1");
    (void)!::write(fds[1], out.data(), out.size());
    _exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ::waitpid(child, nullptr, 0);
  fs::remove(path);
  return out;
}

// A listing as a sorted set of blocks (sets, maps, chains), each map's elements sorted, empty
// chains left out: what it holds, whatever the order objects were created in.
std::string canonical(const std::string& listing) {
  std::istringstream in(listing);
  std::string line, header;
  std::vector<std::string> body;
  std::vector<std::string> blocks;
  bool inElements = false;
  std::string elements;
  auto flush = [&] {
    if (header.empty()) return;
    bool chain = header.rfind("\tchain ", 0) == 0;
    if (!(chain && body.empty())) {
      std::string b = header + "\n";
      for (const auto& l : body) b += l + "\n";
      blocks.push_back(b);
    }
    header.clear();
    body.clear();
  };
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("table ", 0) == 0 || line == "}") continue;
    if (line.rfind("\t\telements = { ", 0) == 0) {
      inElements = true;
      elements = line.substr(std::string("\t\telements = { ").size());
    } else if (inElements) {
      elements += " " + line.substr(line.find_first_not_of("\t "));
    }
    if (inElements) {
      if (elements.size() >= 2 && elements.substr(elements.size() - 2) == " }") {
        inElements = false;
        elements.resize(elements.size() - 2);
        std::vector<std::string> items;
        std::stringstream ss(elements);
        std::string item;
        while (std::getline(ss, item, ',')) items.push_back(item.substr(item.find_first_not_of(' ')));
        std::sort(items.begin(), items.end());
        std::string joined = "elements:";
        for (const auto& i : items) joined += " [" + i + "]";
        body.push_back(joined);
      }
      continue;
    }
    if (line.rfind("\t", 0) == 0 && line.rfind("\t\t", 0) != 0) {
      if (line == "\t}") {
        flush();
        continue;
      }
      header = line;
      continue;
    }
    body.push_back(line);
  }
  flush();
  std::sort(blocks.begin(), blocks.end());
  std::string out;
  for (const auto& b : blocks) out += b;
  return out;
}

std::set<model::NamespacedName> servicesOf(const DesiredState& a, const DesiredState& b) {
  std::set<model::NamespacedName> out;
  for (const auto* st : {&a, &b})
    for (const auto& p : st->ports) out.insert(p.name.service);
  return out;
}

class NftNetlink : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!std::getenv("KPROXY_IN_TEST_NETNS")) GTEST_SKIP() << "must run inside a test namespace (run_in_netns.sh)";
    run("nft delete table ip kube-proxy 2>/dev/null; nft delete table ip6 kube-proxy 2>/dev/null");
  }
  void TearDown() override { run("nft delete table ip kube-proxy 2>/dev/null; nft delete table ip6 kube-proxy 2>/dev/null"); }
};

std::vector<std::string> goldenCases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(KPROXY_SOURCE_DIR) / "tests" / "golden"))
    if (fs::exists(e.path() / "input.json")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(NftNetlink, EveryGoldenProgrammedOverNetlinkListsAsNftLoadsItsText) {
  size_t n = 0;
  for (const auto& dir : goldenCases()) {
    SCOPED_TRACE(dir);
    testing::GoldenCase c = testing::loadGoldenCase(dir);
    auto state = std::make_shared<const DesiredState>(c.state);
    std::string text = toText(Renderer(c.opts).renderFull(*state));
    std::string want = referenceListing(text, c.opts.family);
    ASSERT_EQ(want.find("Error"), std::string::npos) << want;
    NftablesBackend backend(c.opts, std::make_unique<NetlinkNftClient>());
    auto r = backend.syncFull(state);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(listTable(c.opts.family), want);
    // A second full sync over what is there changes nothing.
    auto again = backend.syncFull(state);
    ASSERT_TRUE(again.ok) << again.error;
    EXPECT_EQ(listTable(c.opts.family), want);
    run("nft delete table " + family(c.opts.family) + " kube-proxy");
    ++n;
  }
  EXPECT_GE(n, 12u);
}

// A cluster that changes in every way a sync must follow.
std::vector<DesiredState> history() {
  std::vector<DesiredState> out;
  std::string dir = std::string(KPROXY_SOURCE_DIR) + "/tests/golden/";
  for (const char* name : {"clusterip-basic", "session-affinity", "etp-local", "loadbalancer-source-ranges",
                           "no-endpoints-reject", "named-ports-tcp-udp", "external-ips", "clusterip-basic"})
    out.push_back(testing::loadGoldenCase(dir + name).state);
  return out;
}

TEST_F(NftNetlink, PartialSyncsEndWhereAFreshLoadOfTheStateWould) {
  dataplane::ProxyOptions opts;
  opts.clusterCIDRs = {*net::parseCidr("10.0.0.0/8")};
  opts.nodeIPs = {"192.168.0.10"};
  NftablesBackend backend(opts, std::make_unique<NetlinkNftClient>());
  std::shared_ptr<const DesiredState> prev;
  int step = 0;
  for (auto& s : history()) {
    SCOPED_TRACE("step " + std::to_string(step++));
    auto state = std::make_shared<const DesiredState>(std::move(s));
    dataplane::SyncReport r;
    if (!prev) {
      r = backend.syncFull(state);
    } else {
      r = backend.syncPartial(state, servicesOf(*prev, *state));
      EXPECT_FALSE(r.full) << "a partial sync turned into a full one";
    }
    ASSERT_TRUE(r.ok) << r.error;
    std::string got = listTable(IPFamily::kIPv4);
    // Chains flushed as stale stay (empty) until the next sync, and objects list in creation
    // order: compare as sets.
    std::string want = referenceListing(toText(Renderer(opts).renderFull(*state)), IPFamily::kIPv4);
    EXPECT_EQ(canonical(got), canonical(want));
    prev = state;
  }
}

TEST_F(NftNetlink, AnotherProgramChangingNftablesTurnsThePartialSyncIntoAFullOne) {
  testing::GoldenCase c = testing::loadGoldenCase(std::string(KPROXY_SOURCE_DIR) + "/tests/golden/clusterip-basic");
  auto state = std::make_shared<const DesiredState>(c.state);
  NftablesBackend backend(c.opts, std::make_unique<NetlinkNftClient>());
  ASSERT_TRUE(backend.syncFull(state).ok);
  auto quiet = backend.syncPartial(state, {{"ns1", "svc1"}});
  EXPECT_TRUE(quiet.ok);
  EXPECT_FALSE(quiet.full);
  run("nft add table ip someone-else");
  // The next change is refused by the generation check and applied by a full sync instead.
  auto next = std::make_shared<const DesiredState>(
      testing::loadGoldenCase(std::string(KPROXY_SOURCE_DIR) + "/tests/golden/no-endpoints-reject").state);
  auto noisy = backend.syncPartial(next, servicesOf(*state, *next));
  EXPECT_TRUE(noisy.ok) << noisy.error;
  EXPECT_TRUE(noisy.full);
  run("nft delete table ip someone-else");
}

TEST_F(NftNetlink, AForeignElementInOurMapIsCaughtByTheGenerationAndReplaced) {
  testing::GoldenCase c = testing::loadGoldenCase(std::string(KPROXY_SOURCE_DIR) + "/tests/golden/clusterip-basic");
  NftablesBackend backend(c.opts, std::make_unique<NetlinkNftClient>());
  ASSERT_TRUE(backend.syncFull(std::make_shared<const DesiredState>()).ok);
  // Someone else claims the ClusterIP's key with another verdict. Adding ours would be refused
  // (EEXIST), but their write moved the generation: the partial sync becomes a full one, which
  // rewrites our maps.
  run("nft add element ip kube-proxy service-ips '{ 172.30.0.41 . tcp . 80 : drop }'");
  auto r = backend.syncPartial(std::make_shared<const DesiredState>(c.state), {{"ns1", "svc1"}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.full);
  EXPECT_EQ(listTable(IPFamily::kIPv4), referenceListing(toText(Renderer(c.opts).renderFull(c.state)), IPFamily::kIPv4));
}

TEST_F(NftNetlink, ARefusedTransactionChangesNothingAndNamesWhatFailed) {
  testing::GoldenCase c = testing::loadGoldenCase(std::string(KPROXY_SOURCE_DIR) + "/tests/golden/clusterip-basic");
  NftablesBackend backend(c.opts, std::make_unique<NetlinkNftClient>());
  ASSERT_TRUE(backend.syncFull(std::make_shared<const DesiredState>()).ok);
  // A filter base chain squats the name of the chain svc1 will need: its DNAT rule is refused.
  std::string chain = "service-" + servicePortNameBase(c.state.ports.at(0).name);
  run("nft add chain ip kube-proxy '" + chain + "' '{ type filter hook input priority 0; }'");
  std::string before = listTable(IPFamily::kIPv4);
  auto r = backend.syncPartial(std::make_shared<const DesiredState>(c.state), {{"ns1", "svc1"}});
  ASSERT_FALSE(r.ok);
  // The first message the kernel refuses: the map element whose verdict goes to that base chain.
  EXPECT_NE(r.error.find("service-ips (172.30.0.41 . tcp . 80 : goto " + chain), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("Operation not supported"), std::string::npos) << r.error;
  EXPECT_EQ(listTable(IPFamily::kIPv4), before) << "a refused transaction must change nothing";
  // Once the squatter is gone, the retry (a full sync) programs the service.
  run("nft delete chain ip kube-proxy '" + chain + "'");
  auto retry = backend.syncFull(std::make_shared<const DesiredState>(c.state));
  ASSERT_TRUE(retry.ok) << retry.error;
  EXPECT_EQ(listTable(IPFamily::kIPv4), referenceListing(toText(Renderer(c.opts).renderFull(c.state)), IPFamily::kIPv4));
}

}  // namespace
}  // namespace kproxy::nftables
