// The daemon's command line, with kube-proxy's flag names.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/status.h"
#include "iptables/renderer.h"
#include "iptables/restore_runner.h"

namespace kproxy::daemon {

struct DaemonFlags {
  std::string proxyMode = "iptables";
  std::string manifests;  // directory
  std::string master, kubeconfig;
  std::string hostnameOverride;
  std::vector<std::string> clusterCIDRs;
  bool masqueradeAll = false;
  std::vector<std::string> nodePortAddresses;
  int masqueradeBit = 14;
  bool localhostNodePorts = true;
  std::chrono::milliseconds syncPeriod{30000};
  std::chrono::milliseconds minSyncPeriod{1000};
  std::optional<iptables::XtablesBackend> backend;  // --iptables-backend nft|legacy (default: detect)
  bool cleanup = false;
  bool cleanupOtherModes = true;
  int verbosity = 0;
  std::string healthzBindAddress = "0.0.0.0:10256";  // empty: off
  std::string metricsBindAddress = "127.0.0.1:10249";
  bool help = false;
};

// Go-style durations as kube-proxy takes them: "30s", "1m0s", "500ms", "0".
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);

Result<DaemonFlags> parseDaemonFlags(const std::vector<std::string>& args);

// "a,b,,c" -> {"a", "b", "c"}: list-valued flags as kube-proxy takes them.
std::vector<std::string> splitComma(const std::string& s);

extern const char* kDaemonUsage;

}  // namespace kproxy::daemon
