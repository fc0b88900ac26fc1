// KubeProxyConfiguration's fields against kube-proxy 1.37's: the table names every upstream
// field, the decoder takes each without a warning, the writer writes upstream's defaults, and
// README's config table is the generated one.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "daemon/config.h"
#include "daemon/config_fields.h"
#include "tests/unit/daemon/readme_section.h"
#include "watch/yaml_json.h"

namespace kproxy::daemon {
namespace {

// KubeProxyConfiguration v1alpha1 of kube-proxy 1.37 (k8s.io/kube-proxy/config/v1alpha1
// types.go, with component-base's ClientConnectionConfiguration and LoggingConfiguration), leaf
// fields in JSON names; TypeMeta's apiVersion and kind aside.
const std::set<std::string> kUpstreamFields = {
    "featureGates", "clientConnection.kubeconfig", "clientConnection.acceptContentTypes",
    "clientConnection.contentType", "clientConnection.qps", "clientConnection.burst", "logging.format",
    "logging.flushFrequency", "logging.verbosity", "logging.vmodule", "logging.options.text.splitStream",
    "logging.options.text.infoBufferSize", "logging.options.json.splitStream", "logging.options.json.infoBufferSize",
    "hostnameOverride", "bindAddress", "healthzBindAddress", "metricsBindAddress", "bindAddressHardFail",
    "enableProfiling", "showHiddenMetricsForVersion", "mode", "iptables.masqueradeBit", "iptables.masqueradeAll",
    "iptables.localhostNodePorts", "iptables.syncPeriod", "iptables.minSyncPeriod", "ipvs.syncPeriod",
    "ipvs.minSyncPeriod", "ipvs.scheduler", "ipvs.excludeCIDRs", "ipvs.strictARP", "ipvs.tcpTimeout",
    "ipvs.tcpFinTimeout", "ipvs.udpTimeout", "nftables.masqueradeBit", "nftables.masqueradeAll",
    "nftables.syncPeriod", "nftables.minSyncPeriod", "winkernel.networkName", "winkernel.sourceVip",
    "winkernel.enableDSR", "winkernel.rootHnsEndpointName", "winkernel.forwardHealthCheckVip", "detectLocalMode",
    "detectLocal.bridgeInterface", "detectLocal.interfaceNamePrefix", "clusterCIDR", "nodePortAddresses",
    "oomScoreAdj", "conntrack.maxPerCore", "conntrack.min", "conntrack.tcpEstablishedTimeout",
    "conntrack.tcpCloseWaitTimeout", "conntrack.tcpBeLiberal", "conntrack.udpTimeout", "conntrack.udpStreamTimeout",
    "configSyncPeriod", "portRange", "windowsRunAsService"};

// Fields upstream's writer leaves out at their zero value (omitempty, or absent from its output).
const std::set<std::string> kOmittedByWriter = {"featureGates", "logging.vmodule", "logging.options.text.splitStream",
                                                "logging.options.json.splitStream", "windowsRunAsService"};

const std::string kHeader = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

// "a.b.c" with VALUE as nested YAML.
std::string nested(const std::string& path, const std::string& value) {
  std::string out, indent;
  size_t start = 0;
  for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    out += indent + path.substr(start, dot - start) + ":\n";
    indent += "  ";
  }
  return out + indent + path.substr(start) + ": " + value + "\n";
}

void leaves(const nlohmann::json& j, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) leaves(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = j;
}

TEST(ConfigFields, TheTableHoldsEveryUpstreamFieldOnce) {
  std::set<std::string> table;
  for (const auto& c : configFieldTable()) EXPECT_TRUE(table.insert(c.path).second) << c.path << " twice";
  EXPECT_EQ(table, kUpstreamFields);
}

TEST(ConfigFields, EveryFlagsFieldIsInTheTable) {
  std::set<std::string> table;
  for (const auto& c : configFieldTable()) table.insert(c.path);
  for (const auto& f : flagTable())
    if (*f.configField) {
      EXPECT_TRUE(table.count(f.configField)) << "--" << f.name << " sets " << f.configField;
    }
}

TEST(ConfigFields, EachFieldAtItsDefaultIsReadWithoutWarning) {
  for (const auto& c : configFieldTable()) {
    std::vector<std::string> warnings;
    const std::string text = kHeader + nested(c.path, c.upstreamDefault);
    auto parsed = parseProxyConfig(text, &warnings);
    ASSERT_TRUE(static_cast<bool>(parsed)) << c.path << ": " << parsed.error() << "\n" << text;
    EXPECT_TRUE(warnings.empty()) << c.path << ": " << (warnings.empty() ? "" : warnings.front());
  }
}

TEST(ConfigFields, TheWriterWritesUpstreamsDefaults) {
  auto defaults = parseProxyConfig(kHeader);
  ASSERT_TRUE(static_cast<bool>(defaults)) << defaults.error();
  auto written = watch::parseYaml(configYaml(defaults.value()));
  ASSERT_TRUE(written.ok() && written.documents.size() == 1) << written.error;
  std::map<std::string, nlohmann::json> got;
  leaves(written.documents.front(), "", got);
  got.erase("apiVersion");
  got.erase("kind");
  for (const auto& c : configFieldTable()) {
    auto want = watch::parseYaml(std::string("v: ") + c.upstreamDefault + "\n");
    ASSERT_TRUE(want.ok()) << c.path;
    auto it = got.find(c.path);
    if (kOmittedByWriter.count(c.path)) {
      EXPECT_EQ(it, got.end()) << c.path << " is written; upstream omits it";
      continue;
    }
    ASSERT_NE(it, got.end()) << c.path << " is not written";
    EXPECT_EQ(it->second, want.documents.front()["v"]) << c.path;
    got.erase(it);
  }
  for (const auto& [path, v] : got) ADD_FAILURE() << "the writer writes " << path << ", which is no upstream field";
}

TEST(ConfigFields, ReadmeConfigTableIsTheGeneratedOne) {
  auto table = readmeSection("config-table");
  ASSERT_TRUE(table) << "README has no config table markers";
  EXPECT_EQ(*table, configTableMarkdown())
      << "README's config table is stale: replace it with the output of `kproxy --help-markdown=config`";
}

}  // namespace
}  // namespace kproxy::daemon
