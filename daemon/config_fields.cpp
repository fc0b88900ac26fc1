#include "daemon/config_fields.h"

#include <sstream>

namespace kproxy::daemon {

using H = Handling;

const std::vector<ConfigFieldSpec>& configFieldTable() {
  static const std::vector<ConfigFieldSpec> table = {
      {"featureGates", "{}", H::kSupported, ""},
      {"clientConnection.kubeconfig", "\"\"", H::kSupported, ""},
      {"clientConnection.acceptContentTypes", "\"\"", H::kSupported, "The Accept header of lists and watches, as given; empty: protobuf then JSON when contentType is protobuf, else JSON. kproxy reads those two."},
      {"clientConnection.contentType", "application/vnd.kubernetes.protobuf", H::kSupported, ""},
      {"clientConnection.qps", "5", H::kSupported, ""},
      {"clientConnection.burst", "10", H::kSupported, ""},
      {"logging.format", "text", H::kSupported, ""},
      {"logging.flushFrequency", "5s", H::kNoEffect, ""},
      {"logging.verbosity", "0", H::kSupported, ""},
      {"logging.vmodule", "null", H::kNoEffect, ""},
      {"logging.options.text.splitStream", "false", H::kNoEffect, ""},
      {"logging.options.text.infoBufferSize", "\"0\"", H::kNoEffect, ""},
      {"logging.options.json.splitStream", "false", H::kNoEffect, ""},
      {"logging.options.json.infoBufferSize", "\"0\"", H::kNoEffect, ""},
      {"hostnameOverride", "\"\"", H::kSupported, ""},
      {"bindAddress", "\"0.0.0.0\"", H::kSupported, ""},
      {"healthzBindAddress", "\"0.0.0.0:10256\"", H::kSupported, ""},
      {"metricsBindAddress", "\"127.0.0.1:10249\"", H::kSupported, ""},
      {"bindAddressHardFail", "false", H::kSupported, ""},
      {"enableProfiling", "false", H::kSupported, ""},
      {"showHiddenMetricsForVersion", "\"\"", H::kNoEffect, ""},
      {"mode", "iptables", H::kSupported, ""},
      {"iptables.masqueradeBit", "14", H::kSupported, ""},
      {"iptables.masqueradeAll", "false", H::kSupported, ""},
      {"iptables.localhostNodePorts", "true", H::kSupported, ""},
      {"iptables.syncPeriod", "30s", H::kSupported, ""},
      {"iptables.minSyncPeriod", "1s", H::kSupported, ""},
      {"ipvs.syncPeriod", "30s", H::kSupported, ""},
      {"ipvs.minSyncPeriod", "0s", H::kSupported, ""},
      {"ipvs.scheduler", "\"\"", H::kSupported, ""},
      {"ipvs.excludeCIDRs", "null", H::kSupported, ""},
      {"ipvs.strictARP", "false", H::kSupported, ""},
      {"ipvs.tcpTimeout", "0s", H::kSupported, ""},
      {"ipvs.tcpFinTimeout", "0s", H::kSupported, ""},
      {"ipvs.udpTimeout", "0s", H::kSupported, ""},
      {"nftables.masqueradeBit", "14", H::kSupported, "The fwmark bit for packets to masquerade in nftables mode, 0-31."},
      {"nftables.masqueradeAll", "false", H::kSupported, "Masquerade all traffic sent to Service cluster IPs, in nftables mode."},
      {"nftables.syncPeriod", "30s", H::kSupported, "How often a resync runs in nftables mode (and the health timeout: twice it)."},
      {"nftables.minSyncPeriod", "1s", H::kSupported, "The least time between syncs in nftables mode."},
      {"winkernel.networkName", "\"\"", H::kNoEffect, ""},
      {"winkernel.sourceVip", "\"\"", H::kNoEffect, ""},
      {"winkernel.enableDSR", "false", H::kNoEffect, ""},
      {"winkernel.rootHnsEndpointName", "\"\"", H::kNoEffect, ""},
      {"winkernel.forwardHealthCheckVip", "false", H::kNoEffect, ""},
      {"detectLocalMode", "ClusterCIDR", H::kSupported, ""},
      {"detectLocal.bridgeInterface", "\"\"", H::kSupported, ""},
      {"detectLocal.interfaceNamePrefix", "\"\"", H::kSupported, ""},
      {"clusterCIDR", "\"\"", H::kSupported, ""},
      {"nodePortAddresses", "null", H::kSupported, ""},
      {"oomScoreAdj", "-999", H::kSupported, ""},
      {"conntrack.maxPerCore", "32768", H::kSupported, ""},
      {"conntrack.min", "131072", H::kSupported, ""},
      {"conntrack.tcpEstablishedTimeout", "24h0m0s", H::kSupported, ""},
      {"conntrack.tcpCloseWaitTimeout", "1h0m0s", H::kSupported, ""},
      {"conntrack.tcpBeLiberal", "false", H::kSupported, ""},
      {"conntrack.udpTimeout", "0s", H::kSupported, ""},
      {"conntrack.udpStreamTimeout", "0s", H::kSupported, ""},
      {"configSyncPeriod", "15m0s", H::kSupported, ""},
      {"portRange", "\"\"", H::kNoEffect, "Deprecated upstream and without effect there since the userspace proxy went; accepted."},
      {"windowsRunAsService", "false", H::kNoEffect, ""},
  };
  return table;
}

const FlagSpec* flagForField(const std::string& path) {
  for (const auto& f : flagTable())
    if (path == f.configField) return &f;
  return nullptr;
}

std::string configTableMarkdown() {
  std::ostringstream o;
  o << "| config field | upstream default | flag | kproxy |\n| --- | --- | --- | --- |\n";
  for (const auto& c : configFieldTable()) {
    const FlagSpec* flag = flagForField(c.path);
    std::string help = *c.help ? c.help : flag ? flag->help : "";
    for (size_t i = 0; (i = help.find('|', i)) != std::string::npos; i += 2) help.replace(i, 1, "\\|");
    const char* handling = c.handling == H::kSupported ? "as upstream" : "accepted: no effect";
    o << "| `" << c.path << "` | " << (*c.upstreamDefault ? std::string("`") + c.upstreamDefault + "`" : "") << " | "
      << (flag ? std::string("`--") + flag->name + "`" : "") << " | " << handling << ": " << help << " |\n";
  }
  return o.str();
}

}  // namespace kproxy::daemon
