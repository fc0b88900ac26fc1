// The daemon's command line, with kube-proxy's flag names.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "dataplane/status.h"
#include "iptables/renderer.h"
#include "iptables/restore_runner.h"

namespace kproxy::daemon {

struct DaemonFlags {
  // What a KubeProxyConfiguration holds: the --config file's values (or upstream's defaults),
  // then every flag given on the command line on top, as kube-proxy does.
  ProxyConfig config;
  std::string configFile;     // --config
  std::string writeConfigTo;  // --write-config-to
  std::string manifests;      // directory
  std::string master;
  // Each watch asks for timeoutSeconds in [this, 2x) (client-go's minWatchTimeout, 5m).
  std::chrono::milliseconds watchTimeout{std::chrono::minutes(5)};
  std::optional<iptables::XtablesBackend> backend;  // --iptables-backend nft|legacy (default: detect)
  bool cleanup = false;
  bool cleanupOtherModes = true;
  bool help = false;
};

// Go-style durations as kube-proxy takes them: "30s", "1m0s", "500ms", "0".
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);

// Reads --config first (if given), then applies the flags. `readFile` is how the config file is
// read (injected for tests); every problem, in the file or the flags, is reported at once.
Result<DaemonFlags> parseDaemonFlags(const std::vector<std::string>& args,
                                     const std::function<Result<std::string>(const std::string&)>& readFile = {});

// "a,b,,c" -> {"a", "b", "c"}: list-valued flags as kube-proxy takes them.
std::vector<std::string> splitComma(const std::string& s);

extern const char* kDaemonUsage;

}  // namespace kproxy::daemon
