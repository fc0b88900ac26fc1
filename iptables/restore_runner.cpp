#include "iptables/restore_runner.h"

#include <charconv>
#include <sstream>

#include "iptables/subprocess.h"

namespace kproxy::iptables {

const char* backendName(XtablesBackend b) { return b == XtablesBackend::kNft ? "nft" : "legacy"; }

RestoreRunner::RestoreRunner(XtablesBackend backend, model::IPFamily family) : backend_(backend) {
  std::string base = family == model::IPFamily::kIPv6 ? "ip6tables-" : "iptables-";
  base += backendName(backend);
  restore_ = base + "-restore";
  save_ = base + "-save";
  tool_ = base;
}

Result<bool> RestoreClient::chainExists(std::string_view table, std::string_view chain) {
  auto text = save(table);
  if (!text) return text.status();
  for (const auto& c : chainsInSave(text.value()))
    if (c == chain) return true;
  return false;
}

Result<bool> RestoreRunner::chainExists(std::string_view table, std::string_view chain) {
  auto res = runProcess({tool_, "-w", std::to_string(lockWaitSeconds_), "-t", std::string(table), "-S", std::string(chain)}, {});
  if (!res) return res.status();
  if (res.value().exitCode == 0) return true;
  // "No chain/target/match by that name" (exit 1); anything else is the tool failing.
  if (res.value().exitCode == 1) return false;
  return Status::error(tool_ + " -t " + std::string(table) + " -S " + std::string(chain) + " exited " +
                       std::to_string(res.value().exitCode) + ": " + res.value().err);
}

int RestoreRunner::failedLine(std::string_view out) {
  static constexpr std::string_view kMarker = "Error occurred at line: ";
  auto pos = out.find(kMarker);
  if (pos == std::string_view::npos) return 0;
  int line = 0;
  const char* begin = out.data() + pos + kMarker.size();
  std::from_chars(begin, out.data() + out.size(), line);
  return line;
}

Status RestoreRunner::restore(std::string_view input) {
  auto res = runProcess({restore_, "--noflush", "--counters", "-w", std::to_string(lockWaitSeconds_)}, input);
  if (!res) return res.status();
  if (res.value().exitCode == 0) return Status::ok();
  std::string said = res.value().err;
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  int line = failedLine(said);
  std::string msg = restore_ + " exited " + std::to_string(res.value().exitCode);
  if (line > 0) {
    std::string_view rest = input;
    for (int i = 1; i < line && !rest.empty(); ++i) {
      auto nl = rest.find('\n');
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
    msg += " at input line " + std::to_string(line) + " \"" + std::string(rest.substr(0, rest.find('\n'))) + "\"";
  }
  if (!said.empty()) msg += ": " + said;
  return Status::error(msg);
}

Result<std::string> RestoreRunner::save(std::string_view table) {
  auto res = runProcess({save_, "-t", std::string(table)}, {});
  if (!res) return res.status();
  if (res.value().exitCode != 0)
    return Status::error(save_ + " -t " + std::string(table) + " exited " + std::to_string(res.value().exitCode) +
                         ": " + res.value().err);
  return std::move(res.value().out);
}

std::vector<std::string> chainsInSave(std::string_view saveText) {
  std::vector<std::string> chains;
  size_t pos = 0;
  while (pos < saveText.size()) {
    size_t end = saveText.find('\n', pos);
    if (end == std::string_view::npos) end = saveText.size();
    if (saveText[pos] == ':') {
      std::string_view line = saveText.substr(pos + 1, end - pos - 1);
      chains.emplace_back(line.substr(0, line.find(' ')));
    }
    pos = end + 1;
  }
  return chains;
}

Result<std::vector<std::string>> RestoreRunner::listChains(std::string_view table) {
  auto text = save(table);
  if (!text) return text.status();
  return chainsInSave(text.value());
}

XtablesBackend detectBackend(model::IPFamily family) {
  auto count = [&](XtablesBackend b, size_t& kube) -> size_t {
    RestoreRunner r(b, family);
    size_t rules = 0;
    kube = 0;
    for (const char* table : {"nat", "filter", "mangle"}) {
      auto text = r.save(table);
      if (!text) continue;
      std::istringstream in(text.value());
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("-A ", 0) == 0) ++rules;
        if (line.find("KUBE-") != std::string::npos) ++kube;
      }
    }
    return rules;
  };
  size_t kubeLegacy = 0, kubeNft = 0;
  size_t legacy = count(XtablesBackend::kLegacy, kubeLegacy);
  size_t nft = count(XtablesBackend::kNft, kubeNft);
  if (kubeLegacy != kubeNft) return kubeLegacy > kubeNft ? XtablesBackend::kLegacy : XtablesBackend::kNft;
  return legacy > nft ? XtablesBackend::kLegacy : XtablesBackend::kNft;
}

}  // namespace kproxy::iptables
