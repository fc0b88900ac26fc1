#include "daemon/cleanup.h"

#include "ipvs/helper_rules.h"
#include "ipvs/ipvs_cleanup.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "ebpf/loader.h"
#include "iptables/chain_names.h"
#include "iptables/jump_rules.h"
#include "iptables/subprocess.h"

namespace kproxy::daemon {

using iptables::XtablesBackend;

namespace {

const std::set<std::string> kBuiltin = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
const std::set<std::string_view> kIpvsChains = {"KUBE-LOAD-BALANCER", "KUBE-NODE-PORT", "KUBE-FIRE-WALL",
                                                "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER",
                                                "KUBE-SOURCE-RANGES-FIREWALL", "KUBE-MARK-DROP"};

bool anyKubeChain(std::string_view c) { return iptables::isKproxyChain(c) || c == "KUBE-FIREWALL"; }
bool ipvsOnlyChain(std::string_view c) { return kIpvsChains.count(c) > 0; }

std::string targetOf(const std::string& line) {
  auto pos = line.find(" -j ");
  if (pos == std::string::npos) return {};
  std::string rest = line.substr(pos + 4);
  return rest.substr(0, rest.find(' '));
}

void cleanupIptables(XtablesBackend backend, model::IPFamily family, bool (*doomed)(std::string_view),
                     CleanupReport& report) {
  iptables::RestoreRunner runner(backend, family);
  std::string where = std::string(iptables::backendName(backend)) + "/" + model::familyName(family);
  for (const char* table : {"nat", "filter", "mangle"}) {
    auto saved = runner.save(table);
    if (!saved) continue;  // that backend or table is not there: nothing of ours either
    size_t rules = 0, chains = 0;
    std::string text = cleanupRestoreText(table, saved.value(), doomed, &rules, &chains);
    if (rules == 0 && chains == 0) continue;
    Status st = runner.restore(text);
    if (!st) {
      report.errors.push_back(where + " " + table + ": " + st.message());
      continue;
    }
    report.removed.push_back(where + " " + table + ": " + std::to_string(rules) + " jump rules, " +
                             std::to_string(chains) + " chains");
  }
}

bool run(const std::vector<std::string>& argv, std::string* out = nullptr) {
  auto r = iptables::runProcess(argv, {});
  if (!r) return false;
  if (out) *out = r.value().out;
  return r.value().exitCode == 0;
}

void cleanupIpsets(CleanupReport& report) {
  std::string names;
  if (!run({"ipset", "list", "-n"}, &names)) return;
  std::istringstream in(names);
  std::string name;
  std::vector<std::string> removed;
  while (std::getline(in, name)) {
    if (name.rfind("KUBE-", 0) != 0) continue;
    if (run({"ipset", "destroy", name})) removed.push_back(name);
    else report.errors.push_back("ipset destroy " + name + " failed (still referenced?)");
  }
  if (!removed.empty()) report.removed.push_back("ipsets: " + std::to_string(removed.size()));
}

void cleanupIpvsServers(CleanupReport& report) {
  auto removed = ipvs::removeOwnVirtualServers();
  if (!removed) report.errors.push_back("IPVS: " + removed.error());
  else if (removed.value() > 0) report.removed.push_back("IPVS virtual servers: " + std::to_string(removed.value()));
}

// Chains only iptables mode makes (their presence says iptables mode ran here).
bool iptablesOnlyChain(std::string_view c) { return anyKubeChain(c) && !ipvs::isIpvsModeChain(c) && c != "KUBE-FIREWALL"; }

// Whether the other kube mode ran last on this backend and family: one of its own chains in nat
// or filter, or (`marker`) a rule text only it writes.
bool otherModeLeft(XtablesBackend backend, model::IPFamily family, bool (*ownChain)(std::string_view),
                   std::string_view marker = {}) {
  iptables::RestoreRunner runner(backend, family);
  for (const char* table : {"nat", "filter"}) {
    auto saved = runner.save(table);
    if (!saved) continue;
    if (!marker.empty() && saved.value().find(marker) != std::string::npos) return true;
    for (const auto& c : iptables::chainsInSave(saved.value()))
      if (ownChain(c)) return true;
  }
  return false;
}

void cleanupIpvsDevice(CleanupReport& report) {
  if (!std::filesystem::exists("/sys/class/net/kube-ipvs0")) return;
  if (run({"ip", "link", "del", "kube-ipvs0"})) report.removed.push_back("device kube-ipvs0");
  else report.errors.push_back("ip link del kube-ipvs0 failed");
}

void cleanupNftables(CleanupReport& report) {
  std::string tables;
  if (!run({"nft", "list", "tables"}, &tables)) return;
  for (const char* family : {"ip", "ip6"}) {
    if (tables.find(std::string("table ") + family + " kube-proxy\n") == std::string::npos) continue;
    if (run({"nft", "delete", "table", family, "kube-proxy"})) report.removed.push_back(std::string("nftables table ") + family + " kube-proxy");
    else report.errors.push_back(std::string("nft delete table ") + family + " kube-proxy failed");
  }
}

// eBPF mode's programs (detached through their pinned links) and maps.
void cleanupEbpf(const std::string& pinDir, CleanupReport& report) {
  std::vector<std::string> removed;
  Status s = ebpf::removePinned(pinDir, removed);
  if (!removed.empty()) report.removed.push_back(std::to_string(removed.size()) + " eBPF pins under " + pinDir);
  if (!s) report.errors.push_back(s.message());
}

}  // namespace

std::string cleanupRestoreText(const std::string& table, const std::string& saveText, bool (*doomed)(std::string_view),
                               size_t* rules, size_t* chains) {
  std::vector<std::string> dels, doomedChains;
  std::istringstream in(saveText);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == ':') {
      std::string c = line.substr(1, line.find(' ') - 1);
      if (doomed(c)) doomedChains.push_back(c);
    } else if (line.rfind("-A ", 0) == 0) {
      std::string chain = line.substr(3, line.find(' ', 3) - 3);
      if (kBuiltin.count(chain) && doomed(targetOf(line))) dels.push_back("-D" + line.substr(2));
    }
  }
  *rules = dels.size();
  *chains = doomedChains.size();
  std::string text = "*" + table + "\n";
  for (const auto& d : dels) text += d + "\n";
  for (const auto& c : doomedChains) text += ":" + c + " - [0:0]\n";  // flushes it
  for (const auto& c : doomedChains) text += "-X " + c + "\n";
  text += "COMMIT\n";
  return text;
}

CleanupReport cleanupAll(const std::string& ebpfPinDir) {
  CleanupReport report;
  cleanupEbpf(ebpfPinDir, report);
  for (auto backend : {XtablesBackend::kNft, XtablesBackend::kLegacy})
    for (auto family : {model::IPFamily::kIPv4, model::IPFamily::kIPv6}) cleanupIptables(backend, family, anyKubeChain, report);
  cleanupIpvsServers(report);  // before the device and sets that say which are ours
  cleanupIpsets(report);
  cleanupIpvsDevice(report);
  cleanupNftables(report);
  return report;
}

CleanupReport cleanupOtherModes(const std::string& mode, XtablesBackend active, const std::string& ebpfPinDir) {
  CleanupReport report;
  if (mode != "ebpf") cleanupEbpf(ebpfPinDir, report);
  XtablesBackend other = active == XtablesBackend::kNft ? XtablesBackend::kLegacy : XtablesBackend::kNft;
  if (mode == "ipvs") {
    for (auto family : {model::IPFamily::kIPv4, model::IPFamily::kIPv6}) {
      cleanupIptables(other, family, anyKubeChain, report);
      // iptables mode ran last: its KUBE-SERVICES jumps into the per-service chains, so every
      // kube chain goes (the first IPVS sync makes its own); our own restart keeps them.
      if (otherModeLeft(active, family, iptablesOnlyChain)) cleanupIptables(active, family, anyKubeChain, report);
    }
    cleanupNftables(report);
    return report;
  }
  cleanupIpvsServers(report);
  for (auto family : {model::IPFamily::kIPv4, model::IPFamily::kIPv6}) {
    if (mode == "nftables" || mode == "ebpf") {
      for (auto b : {XtablesBackend::kNft, XtablesBackend::kLegacy}) cleanupIptables(b, family, anyKubeChain, report);
    } else {
      cleanupIptables(other, family, anyKubeChain, report);
      // IPVS mode ran last: its rules in the shared chains (KUBE-SERVICES, KUBE-POSTROUTING)
      // match its ipsets, which cannot be destroyed while referenced, so every kube chain goes
      // (the first sync writes its own); our own restart keeps them.
      const bool ipvsModeLeft = otherModeLeft(active, family, ipvsOnlyChain, "--match-set KUBE-");
      cleanupIptables(active, family, ipvsModeLeft ? anyKubeChain : ipvsOnlyChain, report);
    }
  }
  cleanupIpsets(report);
  cleanupIpvsDevice(report);
  if (mode != "nftables") cleanupNftables(report);
  return report;
}

}  // namespace kproxy::daemon
