// The thin client of the eBPF mode's maps: applies writes in order and reads the maps back. No
// diff logic here (map_layout.h plans the writes).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/status.h"
#include "ebpf/map_layout.h"

namespace kproxy::ebpf {

// One ClientIP-affinity entry: a client (network namespace) stuck to an endpoint of a Service.
struct AffinityEntry {
  uint64_t client = 0;
  SvcKey svc;
  BeValue backend;
  bool operator==(const AffinityEntry&) const = default;
};

class MapClient {
 public:
  virtual ~MapClient() = default;
  // Applies `w` in MapWrites' order; a delete of a missing key is success. Stops at the first
  // error (the maps then hold the writes before it).
  virtual Status apply(const MapWrites& w) = 0;
  // The services and backends maps' whole contents.
  virtual Result<MapEntries> dump() = 0;
  virtual Result<std::vector<AffinityEntry>> affinity() = 0;
  // Deletes these affinity entries (missing ones are fine).
  virtual Status forget(const std::vector<AffinityEntry>& entries) = 0;
};
using MapClientPtr = std::unique_ptr<MapClient>;

// The maps by their file descriptors (owned by the caller's loader, which must outlive it).
class BpfMapClient : public MapClient {
 public:
  BpfMapClient(int services, int backends, int affinity) : services_(services), backends_(backends), affinity_(affinity) {}
  Status apply(const MapWrites& w) override;
  Result<MapEntries> dump() override;
  Result<std::vector<AffinityEntry>> affinity() override;
  Status forget(const std::vector<AffinityEntry>& entries) override;

 private:
  int services_, backends_, affinity_;
};

}  // namespace kproxy::ebpf
