// KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1): the file kube-proxy takes with
// --config, with upstream's defaults, strict decoding (unknown fields are errors) and validation
// that reports every bad field at once.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "dataplane/status.h"

namespace kproxy::daemon {

using Millis = std::chrono::milliseconds;

struct ProxyConfig {
  std::string kubeconfig;  // clientConnection.kubeconfig
  std::string hostnameOverride;
  std::string bindAddress = "0.0.0.0";
  std::string healthzBindAddress = "0.0.0.0:10256";
  std::string metricsBindAddress = "127.0.0.1:10249";
  std::string mode = "iptables";
  std::string clusterCIDR;  // comma-separated, one per family
  std::string detectLocalMode = "ClusterCIDR";
  std::vector<std::string> nodePortAddresses;
  int oomScoreAdj = -999;
  struct {
    std::string format = "text";  // text (klog) or json
    int verbosity = 0;
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
    int maxPerCore = 32768;
    int min = 131072;
    Millis tcpEstablishedTimeout{24 * 3600 * 1000};
    Millis tcpCloseWaitTimeout{3600 * 1000};
    Millis udpTimeout{0}, udpStreamTimeout{0};
    bool tcpBeLiberal = false;
  } conntrack;
};

// Parses YAML or JSON text over upstream's defaults. Every problem is reported, each with its
// field path: "iptables.syncPeriod: \"soon\" is not a duration; unknownField: unknown field".
Result<ProxyConfig> parseProxyConfig(const std::string& text);

// Semantic checks on a parsed or flag-merged configuration; empty when valid.
std::vector<std::string> validateProxyConfig(const ProxyConfig& c);

// The defaults as a KubeProxyConfiguration YAML document (kproxy --write-config-to FILE).
std::string defaultConfigYaml();

}  // namespace kproxy::daemon
