#include "tests/fakes/fake_bpf_maps.h"

#include <algorithm>

namespace kproxy::ebpf {

namespace {

void checkGaps(const MapEntries& e, const SvcKey& k, std::vector<std::string>& gaps) {
  auto it = e.services.find(k);
  if (it == e.services.end()) return;
  for (uint32_t s = 0; s < it->second.count; ++s)
    if (!e.backends.contains(BeKey{k, s})) gaps.push_back(k.str() + " slot " + std::to_string(s));
}

}  // namespace

Status FakeBpfMaps::apply(const MapWrites& w) {
  for (const auto& [k, v] : w.backendUpserts) {
    entries.backends[k] = v;
    ++writes;
  }
  for (const auto& [k, v] : w.serviceUpserts) {
    if (k.str() == failOn) return Status::error("bpf map kproxy_services update " + k.str() + ": Invalid argument");
    if (!entries.services.contains(k) && entries.services.size() >= maxServices)
      return Status::error("bpf map kproxy_services update " + k.str() + ": Argument list too long");
    entries.services[k] = v;
    ++writes;
    checkGaps(entries, k, gaps);
  }
  for (const auto& k : w.serviceDeletes) entries.services.erase(k), ++writes;
  for (const auto& k : w.backendDeletes) {
    entries.backends.erase(k);
    ++writes;
    checkGaps(entries, k.svc, gaps);
  }
  return Status::ok();
}

Result<MapEntries> FakeBpfMaps::dump() { return entries; }

Status FakeBpfMaps::forget(const std::vector<AffinityEntry>& gone) {
  std::erase_if(affinity_, [&](const AffinityEntry& e) { return std::find(gone.begin(), gone.end(), e) != gone.end(); });
  return Status::ok();
}

}  // namespace kproxy::ebpf
