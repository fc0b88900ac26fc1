#include "daemon/flags.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "daemon/flag_table.h"
#include "dataplane/ip.h"

namespace kproxy::daemon {

std::string daemonUsage() {
  return R"(Usage: kproxy [flags]

Runs the proxy until SIGTERM/SIGINT; rules stay in place on exit so a restart does not
interrupt traffic. Every flag of kube-proxy 1.37 is accepted with its spelling, type and
default (bool flags as --flag or --flag=false, '_' read as '-'); with --config, as upstream,
only the flags marked so still apply and kproxy warns about the others.

Flags:
)" + flagUsage() + "  -h, --help\n        This text.\n";
}

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  if (text == "0") return std::chrono::milliseconds(0);
  double totalMs = 0;
  size_t i = 0;
  if (text.empty()) return std::nullopt;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + j, v);
    if (ec != std::errc() || p != text.data() + j) return std::nullopt;
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    std::string unit = text.substr(j, k - j);
    double scale;
    if (unit == "h") scale = 3600e3;
    else if (unit == "m") scale = 60e3;
    else if (unit == "s") scale = 1e3;
    else if (unit == "ms") scale = 1;
    else if (unit == "us" || unit == "µs") scale = 1e-3;
    else if (unit == "ns") scale = 1e-6;
    else return std::nullopt;
    totalMs += v * scale;
    // Go's time.ParseDuration refuses what overflows int64 nanoseconds (about 292 years); the
    // conversion below would be undefined past it.
    if (!(totalMs <= 9223372036854.0)) return std::nullopt;
    i = k;
  }
  return std::chrono::milliseconds(static_cast<long long>(totalMs));
}

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

namespace {
Result<std::string> readWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Result<DaemonFlags> parseDaemonFlags(const std::vector<std::string>& args,
                                     const std::function<Result<std::string>(const std::string&)>& readFile) {
  DaemonFlags f;
  std::vector<std::string> problems;
  // Each flag as given, in order: (spec, value). Values are applied after --config is known.
  std::vector<std::pair<const FlagSpec*, std::string>> given;
  bool onlyPositional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (onlyPositional || a.empty() || a[0] != '-' || a == "-") {
      if (!a.empty()) problems.push_back("kproxy takes no arguments, got \"" + a + "\"");
      continue;
    }
    if (a == "--") {
      onlyPositional = true;
      continue;
    }
    std::string name, value;
    bool hasValue = false;
    if (a.rfind("--", 0) == 0) {
      name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        hasValue = true;
      }
    } else {
      // Shorthands, as pflag: -h, and -v N / -v=N / -vN.
      std::string rest = a.substr(1);
      if (rest == "h" || rest == "help") {
        f.help = true;
        continue;
      }
      if (rest.empty() || rest[0] != 'v') {
        problems.push_back("unknown shorthand flag \"" + a + "\"");
        continue;
      }
      name = "v";
      if (rest.size() > 1) {
        value = rest.substr(rest[1] == '=' ? 2 : 1);
        hasValue = true;
      }
    }
    if (name == "help") {
      f.help = true;
      continue;
    }
    if (name == "help-markdown") {  // README's tables
      f.helpMarkdown = hasValue ? value : "flags";
      if (f.helpMarkdown != "flags" && f.helpMarkdown != "config")
        problems.push_back("--help-markdown: \"" + f.helpMarkdown + "\" is not flags or config");
      continue;
    }
    const FlagSpec* spec = findFlag(name);
    if (!spec) {
      problems.push_back("unknown flag \"--" + name + "\"");
      continue;
    }
    const bool optionalValue = spec->type == FlagType::kBool || std::string(spec->name) == "version";
    if (!hasValue) {
      if (optionalValue) value = "true";
      else if (i + 1 >= args.size()) {
        problems.push_back("--" + std::string(spec->name) + " needs a value");
        continue;
      } else value = args[++i];
    }
    f.given.insert(spec->name);
    given.emplace_back(spec, value);
  }

  // --config: the file is the configuration; only flags marked withConfig still apply.
  for (const auto& [spec, value] : given)
    if (std::string(spec->name) == "config") f.configFile = value;
  std::vector<std::string> ignored;
  if (!f.configFile.empty()) {
    auto text = readFile ? readFile(f.configFile) : readWholeFile(f.configFile);
    if (!text) return Status::error("--config: " + text.error());
    std::vector<std::string> unknown;
    auto cfg = parseProxyConfig(text.value(), &unknown);
    if (!cfg) return Status::error("--config " + f.configFile + ": " + cfg.error());
    f.config = cfg.value();
    f.configText = text.value();
    for (const auto& u : unknown) f.warnings.push_back("--config " + f.configFile + ": " + u + " (as kube-proxy's lenient decoding)");
  }
  for (const auto& [spec, value] : given) {
    if (!f.configFile.empty() && !spec->withConfig) {
      ignored.push_back("--" + std::string(spec->name));
      continue;
    }
    FlagContext ctx{f, spec->name, problems};
    spec->apply(ctx, value);
    if (spec->handling == Handling::kNoEffect)
      f.warnings.push_back("--" + std::string(spec->name) + " is accepted for compatibility and has no effect on kproxy: " + spec->help);
  }
  if (!ignored.empty()) {
    std::string list;
    for (const auto& n : ignored) list += (list.empty() ? "" : ", ") + n;
    f.warnings.push_back("ignored because --config is given, as kube-proxy does (set them in the file): " + list);
  }
  ProxyConfig& c = f.config;
  // Upstream's deprecated ports, without a config file: 0 turns the server off; a port is added
  // to an address given without one.
  auto fold = [](std::string& addr, std::optional<int> port) {
    if (!port) return;
    if (*port == 0) {
      addr.clear();
      return;
    }
    // "ip:port" and "[ip6]:port" have one; "ip" and a bare IPv6 address do not.
    const bool hasPort = addr.empty() ? false : addr[0] == '[' ? addr.find("]:") != std::string::npos
                                                               : std::count(addr.begin(), addr.end(), ':') == 1;
    if (!hasPort) addr = (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + std::to_string(*port);
  };
  if (f.configFile.empty() && f.writeConfigTo.empty()) {
    fold(c.healthzBindAddress, f.healthzPort);
    fold(c.metricsBindAddress, f.metricsPort);
  }
  // An address given without a port takes the default port, as upstream's IPPortVar.
  for (auto [addr, port] : {std::pair{&c.healthzBindAddress, "10256"}, std::pair{&c.metricsBindAddress, "10249"}})
    if (net::parseIP(*addr)) *addr = (addr->find(':') != std::string::npos ? "[" + *addr + "]" : *addr) + ":" + port;
  // As upstream: an empty value is no override (a DaemonSet's $(NODE_NAME) that expanded to
  // nothing), one of blanks only is an error.
  if (!f.hostnameOverrideFlag.empty()) {
    std::string h = f.hostnameOverrideFlag;
    h.erase(0, h.find_first_not_of(" \t\n"));
    h.erase(h.find_last_not_of(" \t\n") + 1);
    if (h.empty()) problems.push_back("--hostname-override: empty hostname-override is invalid");
    for (auto& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    c.hostnameOverride = h;
  }
  if (c.mode.empty()) c.mode = "iptables";
  if (c.detectLocalMode.empty()) c.detectLocalMode = "ClusterCIDR";
  for (const auto& [gate, value] : c.featureGates)
    if (!knownFeatureGates().count(gate))
      f.warnings.push_back("feature gate " + gate + "=" + (value ? "true" : "false") +
                           " is not one kproxy acts on; ignored");
  for (auto& e : validateProxyConfig(c)) problems.push_back(std::move(e));
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
    return Status::error(msg);
  }
  return f;
}

}  // namespace kproxy::daemon
