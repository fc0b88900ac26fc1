#include "daemon/config.h"

#include <gtest/gtest.h>

#include "daemon/flags.h"
#include "dataplane/proxy_options.h"

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
                           "nodePortAddresses[1]: \"bogus\"", "oomScoreAdj: expected an integer"})
    EXPECT_NE(c.error().find(want), std::string::npos) << want << " not in: " << c.error();
  // An unknown field is no error (upstream retries leniently): it is a warning.
  EXPECT_EQ(c.error().find("masqueradeAl"), std::string::npos) << c.error();
}

TEST(ProxyConfig, UnknownFieldsAreWarnedAndIgnoredAsUpstreamsLenientDecoding) {
  std::vector<std::string> warnings;
  auto c = parseProxyConfig(R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
futureField: 1
iptables: {masqueradeAl: true, syncPeriod: 10s}
conntrack: {maxPerCore: 0, newKnob: x}
)", &warnings);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c.value().iptables.syncPeriod, std::chrono::seconds(10));
  EXPECT_FALSE(c.value().iptables.masqueradeAll);
  EXPECT_EQ(c.value().conntrack.maxPerCore, 0);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(warnings[0], "futureField: unknown field, ignored");
  EXPECT_EQ(warnings[1], "iptables.masqueradeAl: unknown field, ignored");
  EXPECT_EQ(warnings[2], "conntrack.newKnob: unknown field, ignored");
  // A known field of the wrong type still fails the file, as upstream's decoder.
  EXPECT_FALSE(parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                                "iptables: {syncPeriod: [1]}\n"));
}

TEST(ProxyConfig, NftablesSectionDrivesNftablesMode) {
  auto c = parseProxyConfig(R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
iptables: {masqueradeAll: false, masqueradeBit: 14, syncPeriod: 30s, minSyncPeriod: 1s}
nftables: {masqueradeAll: true, masqueradeBit: 9, syncPeriod: 45s, minSyncPeriod: 2s}
)");
  ASSERT_TRUE(c) << c.error();
  EXPECT_TRUE(c.value().masqueradeAll());
  EXPECT_EQ(c.value().masqueradeBit(), 9);
  EXPECT_EQ(c.value().syncPeriod(), std::chrono::seconds(45));
  EXPECT_EQ(c.value().minSyncPeriod(), std::chrono::seconds(2));
  // nftables mode's nodePortAddresses default is "primary" (upstream's platformApplyDefaults).
  EXPECT_EQ(c.value().effectiveNodePortAddresses(), std::vector<std::string>{"primary"});
  // Zero values take upstream's defaults; the other modes read their own sections.
  auto d = parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
                            "nftables: {syncPeriod: 0s}\nipvs: {syncPeriod: 5s}\niptables: {masqueradeBit: 3}\n");
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d.value().nftables.syncPeriod, std::chrono::seconds(30));
  EXPECT_EQ(d.value().nftables.minSyncPeriod, std::chrono::seconds(1));
  EXPECT_EQ(d.value().syncPeriod(), std::chrono::seconds(5));
  EXPECT_EQ(d.value().masqueradeBit(), 3);  // IPVS mode uses iptables' bit, as upstream
  EXPECT_TRUE(d.value().effectiveNodePortAddresses().empty());
  // Each mode's section is validated when that mode runs.
  auto bad = parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n"
                              "nftables: {syncPeriod: 1s, minSyncPeriod: 5s, masqueradeBit: 32}\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("nftables.minSyncPeriod: must not exceed nftables.syncPeriod"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("nftables.masqueradeBit: 32 is not in 0-31"), std::string::npos) << bad.error();
}

TEST(ProxyConfig, BindAddressIsThePrimaryIPAndIPv6MovesTheDefaultServers) {
  auto c = parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                            "bindAddress: fd00::5\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c.value().healthzBindAddress, "[::]:10256");
  EXPECT_EQ(c.value().metricsBindAddress, "[::1]:10249");
  auto v4 = parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                             "bindAddress: 192.168.5.5\nhealthzBindAddress: 10.1.1.1\n");
  ASSERT_TRUE(v4) << v4.error();
  EXPECT_EQ(v4.value().healthzBindAddress, "10.1.1.1:10256");
  EXPECT_EQ(v4.value().metricsBindAddress, "127.0.0.1:10249");
  EXPECT_FALSE(parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                                "bindAddress: node-a\n"));
}

TEST(ProxyConfig, DetectLocalModesNeedTheirInterfaceAndKeywordsAreChecked) {
  auto yaml = [](const std::string& body) {
    return parseProxyConfig("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" + body);
  };
  auto bridge = yaml("detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: cbr0}\n");
  ASSERT_TRUE(bridge) << bridge.error();
  EXPECT_EQ(bridge.value().detectLocal.bridgeInterface, "cbr0");
  auto prefix = yaml("detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: veth}\n");
  ASSERT_TRUE(prefix) << prefix.error();
  EXPECT_EQ(prefix.value().detectLocal.interfaceNamePrefix, "veth");
  auto missing = yaml("detectLocalMode: BridgeInterface\n");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("detectLocal.bridgeInterface: \"\" is not an interface name"), std::string::npos);
  EXPECT_FALSE(yaml("detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: \"a/b\"}\n"));
  EXPECT_FALSE(yaml("detectLocalMode: Everything\n"));
  EXPECT_TRUE(yaml("nodePortAddresses: [primary]\n"));
  // kube-proxy 1.37: the keywords primary, localhost and all combine with CIDRs.
  EXPECT_TRUE(yaml("nodePortAddresses: [primary, localhost, 10.0.0.0/8]\n"));
  EXPECT_TRUE(yaml("nodePortAddresses: [all]\n"));
  auto bad = yaml("nodePortAddresses: [10.0.0.0/8, loopback]\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("nodePortAddresses[1]: \"loopback\" is not a valid CIDR or one of the keywords primary, localhost, all"),
            std::string::npos) << bad.error();
  EXPECT_FALSE(yaml("portRange: 300-2\n"));
  EXPECT_TRUE(yaml("portRange: 300-2000\n"));
  auto gates = yaml("featureGates: {AllowServiceExternalIPs: false, SomethingElse: true}\n");
  ASSERT_TRUE(gates) << gates.error();
  EXPECT_FALSE(featureEnabled(gates.value(), "AllowServiceExternalIPs"));
  EXPECT_TRUE(featureEnabled(yaml("").value(), "AllowServiceExternalIPs"));
  // KubeProxyIPVS (deprecated in 1.37, default on): off, ipvs mode is refused.
  EXPECT_TRUE(yaml("mode: ipvs\n"));
  auto noIpvs = yaml("mode: ipvs\nfeatureGates: {KubeProxyIPVS: false}\n");
  ASSERT_FALSE(noIpvs);
  EXPECT_NE(noIpvs.error().find("KubeProxyIPVS=false"), std::string::npos) << noIpvs.error();
  EXPECT_TRUE(yaml("mode: nftables\nfeatureGates: {KubeProxyIPVS: false}\n"));
}

// nodePortAddresses' keywords as kube-proxy 1.37 expands them, per family; a family without
// CIDRs of its own, or with a /0, matches all of its addresses (empty).
TEST(ProxyConfig, NodePortAddressKeywordsExpandPerFamily) {
  using model::IPFamily;
  auto str = [](const std::vector<net::Cidr>& cidrs) {
    std::string out;
    for (const auto& c : cidrs) out += (out.empty() ? "" : ",") + c.str();
    return out;
  };
  const std::vector<std::string> primary = {"10.200.0.1", "fd00::1"};
  EXPECT_EQ(str(dataplane::nodePortCidrs({"primary"}, IPFamily::kIPv4, primary)), "10.200.0.1/32");
  EXPECT_EQ(str(dataplane::nodePortCidrs({"primary"}, IPFamily::kIPv6, primary)), "fd00::1/128");
  EXPECT_EQ(str(dataplane::nodePortCidrs({"primary"}, IPFamily::kIPv4, {})), "") << "no primary IP known: all";
  EXPECT_EQ(str(dataplane::nodePortCidrs({"primary", "localhost"}, IPFamily::kIPv4, primary)), "10.200.0.1/32,127.0.0.0/8");
  EXPECT_EQ(str(dataplane::nodePortCidrs({"primary", "localhost"}, IPFamily::kIPv6, primary)), "fd00::1/128,::1/128");
  EXPECT_EQ(str(dataplane::nodePortCidrs({"localhost", "10.0.0.0/8"}, IPFamily::kIPv4, primary)), "127.0.0.0/8,10.0.0.0/8");
  EXPECT_EQ(str(dataplane::nodePortCidrs({"10.0.0.0/8"}, IPFamily::kIPv6, primary)), "") << "no IPv6 CIDR: all of IPv6";
  EXPECT_EQ(str(dataplane::nodePortCidrs({"all", "10.0.0.0/8"}, IPFamily::kIPv4, primary)), "") << "all wins";
  // route_localnet (CVE-2020-8558) only where NodePorts may answer on 127.0.0.1.
  EXPECT_TRUE(dataplane::nodePortsIncludeIPv4Loopback({}));
  EXPECT_TRUE(dataplane::nodePortsIncludeIPv4Loopback({"127.0.0.0/8"}));
  EXPECT_TRUE(dataplane::nodePortsIncludeIPv4Loopback({"primary", "localhost"}));
  EXPECT_TRUE(dataplane::nodePortsIncludeIPv4Loopback({"fd00::/64"})) << "IPv4 unrestricted";
  EXPECT_FALSE(dataplane::nodePortsIncludeIPv4Loopback({"primary"}));
  EXPECT_FALSE(dataplane::nodePortsIncludeIPv4Loopback({"10.0.0.0/8", "::/0"}));
  dataplane::ProxyOptions o;
  o.setNodePortAddresses({"primary", "localhost"});
  EXPECT_TRUE(o.nodePortPrimary);
  EXPECT_EQ(str(o.nodePortAddresses), "127.0.0.0/8") << "before the Node is known";
  o.setNodeInfo({{"10.200.0.9"}, {}, {}});
  EXPECT_EQ(str(o.nodePortAddresses), "10.200.0.9/32,127.0.0.0/8") << "the Node's primary IP joins";
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

TEST(ProxyConfig, WithAConfigFileOnlyTheFlagsUpstreamHonoursApplyTheRestAreWarned) {
  auto read = [](const std::string&) -> Result<std::string> {
    return std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                       "clusterCIDR: 10.244.0.0/16\niptables: {syncPeriod: 10s, masqueradeAll: true}\n"
                       "hostnameOverride: from-file\n");
  };
  auto f = parseDaemonFlags({"--config", "/etc/kproxy.yaml", "--iptables-sync-period", "20s", "--proxy-mode=ipvs",
                             "--manifests", "/m", "--hostname-override", " Node-A ", "--v=3", "--master", "http://x"},
                            read);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f.value().config.iptables.syncPeriod, std::chrono::seconds(10));  // the file wins
  EXPECT_EQ(f.value().config.mode, "iptables");
  EXPECT_TRUE(f.value().config.iptables.masqueradeAll);
  EXPECT_EQ(f.value().config.clusterCIDR, "10.244.0.0/16");
  EXPECT_EQ(f.value().config.hostnameOverride, "node-a");  // the flag wins, trimmed and lower-cased
  EXPECT_EQ(f.value().config.logging.verbosity, 3);        // logging flags win
  EXPECT_EQ(f.value().master, "http://x");
  EXPECT_EQ(f.value().manifests, "/m");  // kproxy's own flags always apply
  bool warned = false;
  for (const auto& w : f.value().warnings)
    warned = warned || w == "ignored because --config is given, as kube-proxy does (set them in the file): "
                            "--iptables-sync-period, --proxy-mode";
  EXPECT_TRUE(warned);
  // Without a file the same flags apply.
  auto g = parseDaemonFlags({"--iptables-sync-period", "20s", "--proxy-mode=nftables"});
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ(g.value().config.syncPeriod(), std::chrono::seconds(20));  // nftables mode too, as upstream
  EXPECT_TRUE(g.value().warnings.empty());
  // Unknown fields in the file are warnings; a bad value is still an error.
  auto lenient = parseDaemonFlags({"--config", "x"}, [](const std::string&) -> Result<std::string> {
    return std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nbogus: 1\n");
  });
  ASSERT_TRUE(lenient) << lenient.error();
  ASSERT_EQ(lenient.value().warnings.size(), 1u);
  EXPECT_NE(lenient.value().warnings[0].find("bogus: unknown field, ignored"), std::string::npos);
  EXPECT_EQ(lenient.value().configText, "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nbogus: 1\n");
  EXPECT_FALSE(parseDaemonFlags({"--config", "x", "--hostname-override", "  "}, read));
  auto empty = parseDaemonFlags({"--config", "x", "--hostname-override="}, read);
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_EQ(empty.value().config.hostnameOverride, "from-file");  // empty: no override, as upstream
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
  auto f = parseDaemonFlags({"--config", "c"}, read);
  ASSERT_TRUE(f) << f.error();
  const auto& ipvs = f.value().config.ipvs;
  EXPECT_EQ(f.value().config.mode, "ipvs");
  EXPECT_EQ(ipvs.scheduler, "wrr");
  EXPECT_TRUE(ipvs.strictARP);
  EXPECT_EQ(ipvs.excludeCIDRs, (std::vector<std::string>{"10.50.0.0/16"}));
  EXPECT_EQ(ipvs.udpTimeout, std::chrono::seconds(30));
  auto g = parseDaemonFlags({"--proxy-mode", "ipvs", "--ipvs-strict-arp", "--ipvs-exclude-cidrs", "10.1.0.0/16,fd00::/8",
                             "--ipvs-scheduler", "lc", "--ipvs-tcp-timeout", "15m", "--ipvs-sync-period", "5s"});
  ASSERT_TRUE(g) << g.error();
  EXPECT_TRUE(g.value().config.ipvs.strictARP);
  EXPECT_EQ(g.value().config.ipvs.excludeCIDRs.size(), 2u);
  EXPECT_EQ(g.value().config.ipvs.scheduler, "lc");
  EXPECT_EQ(g.value().config.ipvs.tcpTimeout, std::chrono::minutes(15));
  EXPECT_EQ(g.value().config.syncPeriod(), std::chrono::seconds(5));
  auto bad = parseDaemonFlags({"--ipvs-scheduler", "Fast-est", "--ipvs-exclude-cidrs", "10.1.0.0/99", "--ipvs-udp-timeout", "soon"});
  ASSERT_FALSE(bad);
  for (const char* want : {"ipvs.scheduler: \"Fast-est\" is not an IPVS scheduler name", "ipvs.excludeCIDRs[0]: \"10.1.0.0/99\"",
                           "--ipvs-udp-timeout: \"soon\" is not a duration"})
    EXPECT_NE(bad.error().find(want), std::string::npos) << bad.error();
}

TEST(ProxyConfig, WriteConfigToWritesEverySectionAndReadsBackTheSame) {
  auto f = parseDaemonFlags({"--proxy-mode=nftables", "--masquerade-all", "--cluster-cidr=10.244.0.0/16,fd00:10::/64",
                             "--feature-gates=AllowServiceExternalIPs=false", "--ipvs-exclude-cidrs=10.9.0.0/16",
                             "--conntrack-tcp-timeout-close-wait=90s", "--iptables-min-sync-period=250ms", "--v=2",
                             "--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=cali",
                             "--nodeport-addresses=primary", "--kube-api-qps=7.5", "--write-config-to=/tmp/x"});
  ASSERT_TRUE(f) << f.error();
  const std::string yaml = configYaml(f.value().config);
  for (const char* section : {"clientConnection:", "conntrack:", "detectLocal:", "iptables:", "ipvs:", "nftables:",
                              "logging:", "winkernel:", "featureGates:", "configSyncPeriod: 15m0s", "portRange:",
                              "showHiddenMetricsForVersion:", "bindAddressHardFail:", "enableProfiling:"})
    EXPECT_NE(yaml.find(section), std::string::npos) << section << " missing from:\n" << yaml;
  std::vector<std::string> warnings;
  auto back = parseProxyConfig(yaml, &warnings);
  ASSERT_TRUE(back) << back.error() << "\n" << yaml;
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_EQ(configYaml(back.value()), yaml);
  EXPECT_EQ(back.value().mode, "nftables");
  EXPECT_TRUE(back.value().masqueradeAll());
  EXPECT_EQ(back.value().nftables.minSyncPeriod, std::chrono::milliseconds(250));
  EXPECT_EQ(back.value().conntrack.tcpCloseWaitTimeout, std::chrono::seconds(90));
  EXPECT_EQ(back.value().clientConnection.qps, 7.5);
  EXPECT_FALSE(featureEnabled(back.value(), "AllowServiceExternalIPs"));
  EXPECT_EQ(back.value().detectLocal.interfaceNamePrefix, "cali");
  EXPECT_EQ(formatDuration(std::chrono::milliseconds(1500)), "1.5s");
  EXPECT_EQ(formatDuration(std::chrono::hours(24)), "24h0m0s");
  EXPECT_EQ(formatDuration(std::chrono::minutes(90)), "1h30m0s");
  EXPECT_EQ(formatDuration(std::chrono::milliseconds(250)), "250ms");
}

}  // namespace
}  // namespace kproxy::daemon
