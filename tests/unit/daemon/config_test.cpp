#include "daemon/config.h"

#include <gtest/gtest.h>

#include "daemon/flags.h"

namespace kproxy::daemon {
namespace {

// As `kubeadm config print init-defaults --component-configs KubeProxyConfiguration` writes it:
// zero values everywhere, which upstream defaults.
const char* kKubeadm = R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: ""
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
)";

TEST(ProxyConfig, KubeadmsFileWorksUnchangedWithUpstreamDefaults) {
  auto c = parseProxyConfig(kKubeadm);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c.value().kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
  EXPECT_EQ(c.value().clusterCIDR, "10.244.0.0/16");
  EXPECT_EQ(c.value().mode, "iptables");
  EXPECT_EQ(c.value().healthzBindAddress, "0.0.0.0:10256");
  EXPECT_EQ(c.value().metricsBindAddress, "127.0.0.1:10249");
  EXPECT_EQ(c.value().iptables.syncPeriod, std::chrono::seconds(30));
  EXPECT_EQ(c.value().iptables.minSyncPeriod, std::chrono::seconds(1));
  EXPECT_EQ(c.value().iptables.masqueradeBit, 14);
  EXPECT_TRUE(c.value().iptables.localhostNodePorts);
  EXPECT_EQ(c.value().oomScoreAdj, -999);
  EXPECT_EQ(c.value().conntrack.maxPerCore, 32768);
  EXPECT_EQ(c.value().conntrack.tcpEstablishedTimeout, std::chrono::hours(24));
}

TEST(ProxyConfig, ReportsEveryBadFieldWithItsPath) {
  auto c = parseProxyConfig(R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: userspace
clusterCIDR: 10.244.0.0/33
healthzBindAddress: nowhere
iptables:
  syncPeriod: soon
  masqueradeBit: 40
  masqueradeAl: true
nodePortAddresses: [10.0.0.0/8, "bogus"]
oomScoreAdj: lots
)");
  ASSERT_FALSE(c);
  for (const char* want : {"mode: \"userspace\"", "clusterCIDR: \"10.244.0.0/33\"", "healthzBindAddress: \"nowhere\"",
                           "iptables.syncPeriod: \"soon\" is not a duration", "iptables.masqueradeBit: 40",
                           "iptables.masqueradeAl: unknown field", "nodePortAddresses[1]: \"bogus\"",
                           "oomScoreAdj: expected an integer"})
    EXPECT_NE(c.error().find(want), std::string::npos) << want << " not in: " << c.error();
}

TEST(ProxyConfig, RejectsOtherKindsAndMalformedText) {
  EXPECT_FALSE(parseProxyConfig("apiVersion: v1\nkind: ConfigMap\n"));
  EXPECT_FALSE(parseProxyConfig("kind: [unclosed\n"));
  auto json = parseProxyConfig(R"({"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
                                   "iptables": {"masqueradeAll": true}})");
  ASSERT_TRUE(json) << json.error();
  EXPECT_TRUE(json.value().iptables.masqueradeAll);
}

TEST(ProxyConfig, WrittenDefaultsReadBackAsDefaults) {
  auto c = parseProxyConfig(defaultConfigYaml());
  ASSERT_TRUE(c) << c.error();
  ProxyConfig d;
  EXPECT_EQ(c.value().iptables.syncPeriod, d.iptables.syncPeriod);
  EXPECT_EQ(c.value().healthzBindAddress, d.healthzBindAddress);
  EXPECT_EQ(c.value().conntrack.min, d.conntrack.min);
}

TEST(ProxyConfig, FlagsOverrideTheFileAndOnlyWhatTheySet) {
  auto read = [](const std::string&) -> Result<std::string> {
    return std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                       "clusterCIDR: 10.244.0.0/16\niptables: {syncPeriod: 10s, masqueradeAll: true}\n");
  };
  auto f = parseDaemonFlags({"--config", "/etc/kproxy.yaml", "--iptables-sync-period", "20s", "--manifests", "/m"}, read);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f.value().config.iptables.syncPeriod, std::chrono::seconds(20));  // flag wins
  EXPECT_TRUE(f.value().config.iptables.masqueradeAll);                       // file kept
  EXPECT_EQ(f.value().config.clusterCIDR, "10.244.0.0/16");
  auto bad = parseDaemonFlags({"--config", "x"}, [](const std::string&) -> Result<std::string> {
    return std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nbogus: 1\n");
  });
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("bogus: unknown field"), std::string::npos);
}

TEST(ProxyConfig, LoggingFormatAndVerbosityFromTheFileAndFlags) {
  auto read = [](const std::string&) -> Result<std::string> {
    return std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                       "logging: {format: json, verbosity: 2, flushFrequency: 5s, options: {json: {infoBufferSize: \"0\"}}}\n");
  };
  auto f = parseDaemonFlags({"--config", "c"}, read);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f.value().config.logging.format, "json");
  EXPECT_EQ(f.value().config.logging.verbosity, 2);
  auto g = parseDaemonFlags({"--config", "c", "--logging-format", "text", "-v", "5"}, read);
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ(g.value().config.logging.format, "text");
  EXPECT_EQ(g.value().config.logging.verbosity, 5);
  auto bad = parseDaemonFlags({"--logging-format", "xml"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("logging.format: \"xml\" is not text or json"), std::string::npos) << bad.error();
}

TEST(ProxyConfig, IpvsFlagsAndFile) {
  auto read = [](const std::string&) -> Result<std::string> {
    return std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
                       "ipvs: {scheduler: wrr, strictARP: true, excludeCIDRs: [10.50.0.0/16], udpTimeout: 30s}\n");
  };
  auto f = parseDaemonFlags({"--config", "c", "--ipvs-scheduler", "lc", "--ipvs-tcp-timeout", "15m", "--ipvs-sync-period", "5s"}, read);
  ASSERT_TRUE(f) << f.error();
  const auto& ipvs = f.value().config.ipvs;
  EXPECT_EQ(f.value().config.mode, "ipvs");
  EXPECT_EQ(ipvs.scheduler, "lc");
  EXPECT_TRUE(ipvs.strictARP);
  EXPECT_EQ(ipvs.excludeCIDRs, (std::vector<std::string>{"10.50.0.0/16"}));
  EXPECT_EQ(ipvs.tcpTimeout, std::chrono::minutes(15));
  EXPECT_EQ(ipvs.udpTimeout, std::chrono::seconds(30));
  EXPECT_EQ(ipvs.syncPeriod, std::chrono::seconds(5));
  auto g = parseDaemonFlags({"--proxy-mode", "ipvs", "--ipvs-strict-arp", "--ipvs-exclude-cidrs", "10.1.0.0/16,fd00::/8"});
  ASSERT_TRUE(g) << g.error();
  EXPECT_TRUE(g.value().config.ipvs.strictARP);
  EXPECT_EQ(g.value().config.ipvs.excludeCIDRs.size(), 2u);
  auto bad = parseDaemonFlags({"--ipvs-scheduler", "fastest", "--ipvs-exclude-cidrs", "10.1.0.0/99", "--ipvs-udp-timeout", "soon"});
  ASSERT_FALSE(bad);
  for (const char* want : {"ipvs.scheduler: \"fastest\" is not an IPVS scheduler", "ipvs.excludeCIDRs[0]: \"10.1.0.0/99\"",
                           "--ipvs-udp-timeout: \"soon\" is not a duration"})
    EXPECT_NE(bad.error().find(want), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace kproxy::daemon
