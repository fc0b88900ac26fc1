// KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1): the file kube-proxy takes with
// --config, with upstream's defaults, upstream's lenient decoding (unknown fields are warnings)
// and validation that reports every bad field at once.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "dataplane/status.h"

namespace kproxy::daemon {

using Millis = std::chrono::milliseconds;

struct ProxyConfig {
  std::string kubeconfig;  // clientConnection.kubeconfig
  struct {
    std::string contentType = "application/vnd.kubernetes.protobuf";
    std::string acceptContentTypes;
    double qps = 5;
    int burst = 10;
  } clientConnection;
  std::map<std::string, bool> featureGates;
  std::string hostnameOverride;
  // The node's primary IP when set to a specific address (upstream's meaning since 1.29; the
  // name is historical). An IPv6 address moves the default bind addresses to [::] and [::1].
  std::string bindAddress = "0.0.0.0";
  std::string healthzBindAddress = "0.0.0.0:10256";
  std::string metricsBindAddress = "127.0.0.1:10249";
  bool bindAddressHardFail = false;
  bool enableProfiling = false;
  std::string showHiddenMetricsForVersion;
  std::string mode = "iptables";
  std::string clusterCIDR;  // comma-separated, one per family
  std::string detectLocalMode = "ClusterCIDR";
  struct {
    std::string bridgeInterface;
    std::string interfaceNamePrefix;
  } detectLocal;
  // CIDRs, or one keyword: "primary" (the Node's primary IPs; nftables mode's default).
  std::vector<std::string> nodePortAddresses;
  int oomScoreAdj = -999;
  Millis configSyncPeriod{15 * 60 * 1000};
  std::string portRange;
  struct {
    std::string format = "text";  // text (klog) or json
    int verbosity = 0;
    std::vector<std::string> vmodule;  // pattern=N, accepted (kproxy's verbosity is global)
    Millis flushFrequency{5000};
  } logging;
  struct {
    int masqueradeBit = 14;
    bool masqueradeAll = false;
    bool localhostNodePorts = true;
    Millis syncPeriod{30000};
    Millis minSyncPeriod{1000};
  } iptables;
  struct {
    std::string scheduler;
    Millis syncPeriod{30000};
    Millis minSyncPeriod{0};
    std::vector<std::string> excludeCIDRs;
    bool strictARP = false;
    Millis tcpTimeout{0}, tcpFinTimeout{0}, udpTimeout{0};
  } ipvs;
  struct {
    int masqueradeBit = 14;
    bool masqueradeAll = false;
    Millis syncPeriod{30000};
    Millis minSyncPeriod{1000};
  } nftables;
  struct {
    int maxPerCore = 32768;
    int min = 131072;
    Millis tcpEstablishedTimeout{24 * 3600 * 1000};
    Millis tcpCloseWaitTimeout{3600 * 1000};
    Millis udpTimeout{0}, udpStreamTimeout{0};
    bool tcpBeLiberal = false;
  } conntrack;

  // What the active mode uses, as upstream's conversion to its internal configuration picks it:
  // each mode's own section (iptables' for iptables mode), IPVS taking iptables' masquerade bit.
  Millis syncPeriod() const;
  Millis minSyncPeriod() const;
  bool masqueradeAll() const;
  int masqueradeBit() const;
  // nodePortAddresses with upstream's mode default applied: nftables mode's empty list means
  // "primary".
  std::vector<std::string> effectiveNodePortAddresses() const;
};

// A feature gate's value as kube-proxy 1.37 would have it: the configured value, else the
// gate's default. Unknown gates read as false.
bool featureEnabled(const ProxyConfig& c, const std::string& gate);
// The gates kube-proxy 1.37 knows that change what kproxy does, with their defaults.
const std::map<std::string, bool>& knownFeatureGates();

// Parses YAML or JSON text over upstream's defaults. Every problem is reported, each with its
// field path: "iptables.syncPeriod: \"soon\" is not a duration". Unknown fields (another
// version's, a typo) do not fail the file, as upstream's lenient retry: each is added to
// `warnings` ("iptables.masqueradeAl: unknown field, ignored").
Result<ProxyConfig> parseProxyConfig(const std::string& text, std::vector<std::string>* warnings = nullptr);

// Semantic checks on a parsed or flag-merged configuration; empty when valid.
std::vector<std::string> validateProxyConfig(const ProxyConfig& c);

// A configuration as a KubeProxyConfiguration YAML document with every section upstream writes
// (kproxy --write-config-to FILE writes the defaults with the command line's flags applied).
std::string configYaml(const ProxyConfig& c);
std::string defaultConfigYaml();

// Go's time.Duration.String(): "30s", "1m0s", "24h0m0s", "500ms", "0s".
std::string formatDuration(Millis d);

}  // namespace kproxy::daemon
