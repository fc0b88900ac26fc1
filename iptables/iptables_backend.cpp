#include "iptables/iptables_backend.h"

#include <chrono>

#include "iptables/chain_names.h"
#include "iptables/jump_rules.h"

namespace kproxy::iptables {

namespace {
double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

namespace {
// A list of one restore text, moved in (a braced list would copy it: 33 MB at 10,000 Services).
std::vector<std::string> one(std::string text) {
  std::vector<std::string> v;
  v.push_back(std::move(text));
  return v;
}
}  // namespace

IptablesBackend::IptablesBackend(RenderOptions options, std::unique_ptr<RestoreClient> client)
    : renderer_(std::move(options)), client_(std::move(client)) {}

SyncReport IptablesBackend::syncFull(std::shared_ptr<const dataplane::DesiredState> state) {
  auto start = std::chrono::steady_clock::now();
  SyncReport report;
  report.full = true;
  auto nat = client_->save("nat");
  auto filter = client_->save("filter");
  if (!nat || !filter) {
    report.error = "listing current rules: " + (nat ? filter.error() : nat.error());
    return report;
  }
  // Which jump rules the kernel lacks decides nothing else, so it is known before rendering;
  // KUBE-FIREWALL exists only in IPv4 rulesets with localhost NodePorts.
  bool kubeletFirewall = renderer_.localhostNodePortsEnabled();
  FullSyncExtras extras;
  extras.canary = true;
  for (auto& j : jumpRules(kubeletFirewall))
    if (!hasJumpRule(j.table == "nat" ? nat.value() : filter.value(), j)) extras.missingJumps.push_back(std::move(j));
  size_t chunk = client_->fullSyncChunkPorts();
  if (chunk == 0) {
    RenderResult r = renderer_.renderFull(*state, chainsInSave(nat.value()), extras);
    return load(one(std::move(r.text)), r, true, std::move(state), secondsSince(start));
  }
  RenderResult summary;
  auto texts = renderer_.renderFullChunked(*state, chainsInSave(nat.value()), extras, chunk, &summary);
  return load(std::move(texts), summary, true, std::move(state), secondsSince(start));
}

SyncReport IptablesBackend::syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                        const std::set<model::NamespacedName>& changed) {
  if (!applied_) return syncFull(std::move(state));
  auto start = std::chrono::steady_clock::now();
  RenderResult r = renderer_.renderPartial(*state, *applied_, changed);
  double renderSeconds = secondsSince(start);
  if (r.natRules == 0 && r.filterRules == 0 && r.natChains == 0) {
    // Nothing of this family changed (the other family's Services did): no restore at all.
    SyncReport report;
    report.ok = true;
    report.renderSeconds = report.totalSeconds = renderSeconds;
    applied_ = std::move(state);
    return report;
  }
  return load(one(std::move(r.text)), r, false, std::move(state), renderSeconds);
}

SyncReport IptablesBackend::load(std::vector<std::string> texts, const RenderResult& r, bool full,
                                 std::shared_ptr<const dataplane::DesiredState> state, double renderSeconds) {
  SyncReport report;
  report.full = full;
  report.renderSeconds = renderSeconds;
  for (const auto& t : texts) report.bytes += t.size();
  report.transactions = texts.size();
  report.deleted = r.deletedChains.size();
  report.servicePortsWritten = r.servicePortsWritten;
  if (full) report.ruleCounts = {{"filter", r.filterRules}, {"nat", r.natRules}};
  report.rulesWritten = {{"filter", r.filterRules}, {"nat", r.natRules}};
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < texts.size(); ++i) {
    Status st = client_->restore(texts[i]);
    if (!st) {
      report.kernelSeconds = secondsSince(start);
      report.totalSeconds = report.renderSeconds + report.kernelSeconds;
      // Earlier pieces are in; each left the kernel consistent, and the retry is a full sync.
      report.error = texts.size() > 1 ? "restore " + std::to_string(i + 1) + " of " + std::to_string(texts.size()) +
                                            ": " + st.message()
                                      : st.message();
      return report;
    }
  }
  report.kernelSeconds = secondsSince(start);
  report.totalSeconds = report.renderSeconds + report.kernelSeconds;
  report.ok = true;
  applied_ = std::move(state);
  return report;
}

bool IptablesBackend::canaryPresent() {
  // As upstream: a canary in each table we program, so a flush of any of them is noticed.
  for (const char* table : {"mangle", "nat", "filter"}) {
    auto present = client_->chainExists(table, kCanaryChain);
    if (!present || !present.value()) return false;
  }
  return true;
}

}  // namespace kproxy::iptables
