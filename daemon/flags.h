// The daemon's command line, with kube-proxy's flag names.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "dataplane/status.h"
#include "iptables/renderer.h"
#include "iptables/restore_runner.h"

namespace kproxy::daemon {

struct DaemonFlags {
  // What a KubeProxyConfiguration holds: the --config file's values, or upstream's defaults with
  // the command line's flags on top. With --config, as upstream, only the flags marked so in the
  // flag table still apply (logging, --hostname-override, --master, ...); the others are warned.
  ProxyConfig config;
  std::string configFile;     // --config
  std::string configText;     // its content as read (a change of it ends the process)
  std::string writeConfigTo;  // --write-config-to
  std::string manifests;      // directory
  std::string master;
  std::string version;        // --version: "" (not asked), "true" or "raw"
  // Each watch asks for timeoutSeconds in [this, 2x) (client-go's minWatchTimeout, 5m).
  std::chrono::milliseconds watchTimeout{std::chrono::minutes(5)};
  std::optional<iptables::XtablesBackend> backend;  // --iptables-backend nft|legacy (default: detect)
  bool cleanup = false;
  bool initOnly = false;
  bool cleanupOtherModes = true;
  // eBPF mode: the bpf filesystem whose kproxy/ directory holds the pins, and the cgroup v2
  // directory the socket programs attach to ("": the cgroup2 mount).
  std::string ebpfBpffs = "/sys/fs/bpf";
  std::string ebpfCgroupPath;
  bool help = false;
  // --help-markdown: the flag table as README shows it ("flags"); --help-markdown=config: the
  // config field table.
  std::string helpMarkdown;
  // Deprecated --healthz-port/--metrics-port, folded into the bind addresses as upstream does.
  std::optional<int> healthzPort, metricsPort;
  std::string hostnameOverrideFlag;
  std::set<std::string> given;        // the flags on the command line (names without dashes)
  std::vector<std::string> warnings;  // to log once logging is set up
};

// Go-style durations as kube-proxy takes them: "30s", "1m0s", "500ms", "0".
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);

// Reads --config first (if given), then applies the flags. `readFile` is how the config file is
// read (injected for tests); every problem, in the file or the flags, is reported at once.
Result<DaemonFlags> parseDaemonFlags(const std::vector<std::string>& args,
                                     const std::function<Result<std::string>(const std::string&)>& readFile = {});

// "a,b,,c" -> {"a", "b", "c"}: list-valued flags as kube-proxy takes them.
std::vector<std::string> splitComma(const std::string& s);

// kproxy --help: the flag table with upstream's spelling and defaults.
std::string daemonUsage();

}  // namespace kproxy::daemon
