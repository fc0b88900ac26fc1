// kube-proxy 1.37's command line as data: every upstream flag (and kproxy's own), its type,
// upstream's default, the config field it sets and what kproxy does with it. The parser, --help
// and README's flag table are all read from this one table.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace kproxy::daemon {

struct DaemonFlags;

enum class FlagType { kBool, kString, kInt, kFloat, kDuration, kStrings, kGates, kIP, kIPPort, kLevel, kQuantity, kVModule };

enum class Handling {
  kSupported,  // means what upstream's flag means
  kNoEffect,   // accepted and checked as upstream does, with one warning: nothing to do on kproxy
  kKproxy,     // kproxy's own
};

// The parser's view while one flag is applied: where problems and warnings go.
struct FlagContext {
  DaemonFlags& flags;
  std::string name;  // "--iptables-sync-period", for messages
  std::vector<std::string>& problems;

  bool boolean(const std::string& value, bool& into);
  bool integer(const std::string& value, int& into, long lo, long hi);
  bool duration(const std::string& value, std::chrono::milliseconds& into);
  void fail(const std::string& value, const std::string& what);
};

struct FlagSpec {
  const char* name;         // without the dashes
  FlagType type;
  const char* upstreamDefault;  // as kube-proxy --help prints it; "" when it prints none
  const char* configField;  // the KubeProxyConfiguration field it stands for; "" for none
  // Still applies when --config is given. Upstream then takes everything else from the file
  // (its --help says "ignored if a config file is specified"); kproxy warns about each such flag.
  bool withConfig;
  Handling handling;
  const char* help;
  void (*apply)(FlagContext&, const std::string& value);
};

const std::vector<FlagSpec>& flagTable();
const FlagSpec* findFlag(const std::string& name);  // name without dashes, '_' read as '-'

// The flags of kube-proxy 1.37 on Linux (cmd/kube-proxy/app/options.go, component-base's logging
// flags, --version, and cadvisor's two Go flags), in upstream's order: kept beside the table so a
// test can prove every one of them is in it.
const std::vector<std::string>& upstreamFlagNames();

// `kproxy --help`'s flag section and README's flag table, generated from the table.
std::string flagUsage();
std::string flagTableMarkdown();

}  // namespace kproxy::daemon
