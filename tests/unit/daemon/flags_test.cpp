// The command line against kube-proxy 1.37's: every upstream flag accepted with its forms,
// upstream's --config precedence, deprecated ports, feature gates, installers' command lines,
// and README's flag table generated from the same table.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "daemon/flag_table.h"
#include "daemon/flags.h"
#include "tests/unit/daemon/readme_section.h"

namespace kproxy::daemon {
namespace {

// A value of the flag's type that upstream accepts.
std::string sampleValue(const FlagSpec& f) {
  switch (f.type) {
    case FlagType::kBool: return "true";
    case FlagType::kInt: return std::string(f.name) == "iptables-masquerade-bit" ? "15" : "7";
    case FlagType::kFloat: return "2.5";
    case FlagType::kDuration: return "15s";
    case FlagType::kStrings: return "10.0.0.0/8";
    case FlagType::kGates: return "AllowServiceExternalIPs=true";
    case FlagType::kIP: return "10.1.2.3";
    case FlagType::kIPPort: return "0.0.0.0:12345";
    case FlagType::kLevel: return "2";
    case FlagType::kQuantity: return "2Ki";
    case FlagType::kVModule: return "proxier*=4";
    case FlagType::kString: break;
  }
  const std::string n = f.name;
  if (n == "proxy-mode") return "ipvs";
  if (n == "logging-format") return "json";
  if (n == "iptables-backend") return "legacy";
  if (n == "detect-local-mode") return "ClusterCIDR";
  if (n == "cluster-cidr") return "10.244.0.0/16";
  if (n == "ipvs-scheduler") return "wrr";
  if (n == "version") return "false";
  if (n == "config" || n == "write-config-to" || n == "manifests") return "";  // not sampled
  return "x";
}

TEST(FlagTable, EveryUpstreamFlagIsInTheTableOnceAndNoneIsUnknown) {
  std::set<std::string> seen;
  for (const auto& f : flagTable()) EXPECT_TRUE(seen.insert(f.name).second) << "twice: " << f.name;
  EXPECT_EQ(upstreamFlagNames().size(), 58u);
  for (const auto& name : upstreamFlagNames()) EXPECT_TRUE(seen.count(name)) << "--" << name << " missing";
  // Each one parses with a value of its type, alone (config files and one-shot actions aside).
  for (const auto& f : flagTable()) {
    const std::string n = f.name, v = sampleValue(f);
    if (n == "config" || n == "write-config-to" || n == "manifests") continue;
    auto r = parseDaemonFlags({"--" + n + "=" + v});
    EXPECT_TRUE(r) << "--" << n << "=" << v << ": " << (r ? "" : r.error());
  }
}

TEST(FlagTable, BoolFlagsTakeGoFormsAndNeverTheNextArgument) {
  for (const char* yes : {"--masquerade-all", "--masquerade-all=true", "--masquerade-all=1", "--masquerade-all=T", "--masquerade_all"}) {
    auto r = parseDaemonFlags({yes});
    ASSERT_TRUE(r) << yes << ": " << r.error();
    EXPECT_TRUE(r.value().config.iptables.masqueradeAll) << yes;
    EXPECT_TRUE(r.value().config.nftables.masqueradeAll) << yes;  // upstream's one Linux.MasqueradeAll
  }
  for (const char* no : {"--masquerade-all=false", "--masquerade-all=0", "--masquerade-all=F", "--masquerade-all=FALSE"}) {
    auto r = parseDaemonFlags({no});
    ASSERT_TRUE(r) << no << ": " << r.error();
    EXPECT_FALSE(r.value().config.iptables.masqueradeAll) << no;
  }
  // pflag: a bool flag does not take the next word; "false" is then an argument kube-proxy refuses.
  auto positional = parseDaemonFlags({"--masquerade-all", "false"});
  ASSERT_FALSE(positional);
  EXPECT_NE(positional.error().find("takes no arguments"), std::string::npos) << positional.error();
  EXPECT_FALSE(parseDaemonFlags({"--masquerade-all=maybe"}));
  auto local = parseDaemonFlags({"--iptables-localhost-nodeports=false"});
  ASSERT_TRUE(local) << local.error();
  EXPECT_FALSE(local.value().config.iptables.localhostNodePorts);
}

TEST(FlagTable, VerbosityFormsIntegersAndUnknownFlags) {
  for (auto args : std::vector<std::vector<std::string>>{{"-v", "4"}, {"-v=4"}, {"-v4"}, {"--v=4"}, {"--v", "4"}}) {
    auto r = parseDaemonFlags(args);
    ASSERT_TRUE(r) << args[0] << ": " << r.error();
    EXPECT_EQ(r.value().config.logging.verbosity, 4) << args[0];
  }
  auto hex = parseDaemonFlags({"--iptables-masquerade-bit=0xf", "--oom-score-adj=-998"});
  ASSERT_TRUE(hex) << hex.error();
  EXPECT_EQ(hex.value().config.iptables.masqueradeBit, 15);
  EXPECT_EQ(hex.value().config.nftables.masqueradeBit, 14);  // the flag is iptables' and IPVS', as upstream
  EXPECT_EQ(hex.value().config.oomScoreAdj, -998);
  auto bad = parseDaemonFlags({"--oom-score-adj=-2000", "--kube-api-qps=fast", "--bogus", "-x", "--conntrack-min"});
  ASSERT_FALSE(bad);
  for (const char* want : {"oomScoreAdj: -2000 is not in -1000..1000", "--kube-api-qps: \"fast\" is not a number",
                           "unknown flag \"--bogus\"", "unknown shorthand flag \"-x\"", "--conntrack-min needs a value"})
    EXPECT_NE(bad.error().find(want), std::string::npos) << want << " not in " << bad.error();
}

TEST(FlagTable, FeatureGatesParseAsUpstreamAndUnknownOnesAreWarned) {
  auto r = parseDaemonFlags({"--feature-gates=AllowServiceExternalIPs=false, SomeFutureGate=true"});
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(featureEnabled(r.value().config, "AllowServiceExternalIPs"));
  ASSERT_EQ(r.value().warnings.size(), 1u);
  EXPECT_EQ(r.value().warnings[0], "feature gate SomeFutureGate=true is not one kproxy acts on; ignored");
  EXPECT_TRUE(featureEnabled(parseDaemonFlags({}).value().config, "AllowServiceExternalIPs"));  // 1.37's default
  auto bad = parseDaemonFlags({"--feature-gates=NoValue,X=maybe"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("\"NoValue\" is not key=value"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("\"X=maybe\" has no true or false value"), std::string::npos) << bad.error();
}

TEST(FlagTable, DeprecatedPortsFoldIntoTheBindAddressesWithoutAConfigFile) {
  auto off = parseDaemonFlags({"--healthz-port=0", "--metrics-port=0"});
  ASSERT_TRUE(off) << off.error();
  EXPECT_EQ(off.value().config.healthzBindAddress, "");
  EXPECT_EQ(off.value().config.metricsBindAddress, "");
  // An address with a port keeps it (upstream's AppendPortIfNeeded); one without takes it.
  auto kept = parseDaemonFlags({"--healthz-port=12345"});
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_EQ(kept.value().config.healthzBindAddress, "0.0.0.0:10256");
  auto joined = parseDaemonFlags({"--healthz-bind-address=127.0.0.1", "--healthz-port=12345", "--metrics-bind-address=::1"});
  ASSERT_TRUE(joined) << joined.error();
  EXPECT_EQ(joined.value().config.healthzBindAddress, "127.0.0.1:12345");
  EXPECT_EQ(joined.value().config.metricsBindAddress, "[::1]:10249");
}

TEST(FlagTable, FlagsWithoutMeaningHereAreAcceptedWithOneWarningEach) {
  auto r = parseDaemonFlags({"--boot-id-file=/x", "--log-flush-frequency=10s", "--windows-service", "--source-vip=10.0.0.9"});
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r.value().warnings.size(), 4u);
  for (const auto& w : r.value().warnings) EXPECT_NE(w.find("has no effect on kproxy"), std::string::npos) << w;
  auto version = parseDaemonFlags({"--version"});
  ASSERT_TRUE(version);
  EXPECT_EQ(version.value().version, "true");
  EXPECT_EQ(parseDaemonFlags({"--version=raw"}).value().version, "raw");
  EXPECT_TRUE(parseDaemonFlags({"--init-only"}).value().initOnly);
}

// Command lines as installers write them (their public manifests), with kproxy's test source
// appended where the installer points at a real API server.
TEST(FlagTable, InstallersCommandLinesParse) {
  // GCE/GKE's kube-proxy manifest (cluster/gce/gci/configure-helper.sh).
  std::vector<std::string> gke = {"--master=https://10.0.0.2", "--kubeconfig=/var/lib/kube-proxy/kubeconfig",
                                  "--cluster-cidr=10.64.0.0/14", "--oom-score-adj=-998", "--v=2",
                                  "--iptables-sync-period=1m", "--iptables-min-sync-period=10s",
                                  "--ipvs-sync-period=1m", "--ipvs-min-sync-period=10s",
                                  "--feature-gates=AllowServiceExternalIPs=true", "--detect-local-mode=NodeCIDR"};
  // kops' kube-proxy manifest (nodeup), under go-runner.
  std::vector<std::string> kops = {"--cluster-cidr=100.96.0.0/11", "--conntrack-max-per-core=131072",
                                   "--hostname-override=ip-172-20-1-1.ec2.internal", "--kubeconfig=/var/lib/kube-proxy/kubeconfig",
                                   "--master=https://api.internal.example.k8s.local", "--oom-score-adj=-998", "--v=2"};
  // EKS' DaemonSet: a config file and the node name.
  std::vector<std::string> eks = {"--v=2", "--config=/var/lib/kube-proxy-config/config", "--hostname-override=ip-10-0-1-5.ec2.internal"};
  // EKS' kube-proxy-config ConfigMap, as the live test (root.dropin) also uses it.
  auto eksConfig = [](const std::string&) -> Result<std::string> {
    std::ifstream in(std::string(KPROXY_SOURCE_DIR) + "/tests/integration/fixtures/eks-kube-proxy-config.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto g = parseDaemonFlags(gke);
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ(g.value().config.iptables.syncPeriod, std::chrono::minutes(1));
  EXPECT_EQ(g.value().config.detectLocalMode, "NodeCIDR");
  auto k = parseDaemonFlags(kops);
  ASSERT_TRUE(k) << k.error();
  EXPECT_EQ(k.value().config.conntrack.maxPerCore, 131072);
  EXPECT_EQ(k.value().config.hostnameOverride, "ip-172-20-1-1.ec2.internal");
  auto e = parseDaemonFlags(eks, eksConfig);
  ASSERT_TRUE(e) << e.error();
  EXPECT_EQ(e.value().config.metricsBindAddress, "0.0.0.0:10249");
  EXPECT_EQ(e.value().config.hostnameOverride, "ip-10-0-1-5.ec2.internal");
  ASSERT_EQ(e.value().warnings.size(), 1u);  // udpIdleTimeout: a field older releases had
  EXPECT_NE(e.value().warnings[0].find("udpIdleTimeout: unknown field, ignored"), std::string::npos);
}

TEST(FlagTable, ReadmeFlagTableIsTheGeneratedOne) {
  auto table = readmeSection("flag-table");
  ASSERT_TRUE(table) << "README has no flag table markers";
  EXPECT_EQ(*table, flagTableMarkdown()) << "README's flag table is stale: replace it with the output of `kproxy --help-markdown`";
}

}  // namespace
}  // namespace kproxy::daemon
