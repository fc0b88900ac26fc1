// A stateful fake of the eBPF mode's maps: applies writes one by one as the kernel would, and
// after each checks what a connection could read at that moment (every Service entry's slots
// present), so a write order that lets a connect() read a missing slot is caught.
#pragma once

#include <string>
#include <vector>

#include "ebpf/map_client.h"

namespace kproxy::ebpf {

class FakeBpfMaps : public MapClient {
 public:
  Status apply(const MapWrites& w) override;
  Result<MapEntries> dump() override;
  Result<std::vector<AffinityEntry>> affinity() override { return affinity_; }
  Status forget(const std::vector<AffinityEntry>& entries) override;

  MapEntries entries;
  std::vector<AffinityEntry> affinity_;
  // Moments a Service entry had a slot below its count missing ("10.96.0.1:80/tcp slot 2").
  std::vector<std::string> gaps;
  size_t writes = 0;         // single-element writes applied
  size_t maxServices = 1 << 20;  // the kernel's max_entries: an insert beyond fails (E2BIG)
  std::string failOn;        // a Service key (str()) whose upsert fails, as a kernel error would
};

}  // namespace kproxy::ebpf
