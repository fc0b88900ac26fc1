// The eBPF backend: the socket programs' maps hold, per Service address, its endpoint slots;
// a full sync reads the maps and writes the difference from the desired state, a partial sync
// writes only the changed Services' entries (planned from the applied and the new state).
#pragma once

#include <set>

#include "dataplane/backend.h"
#include "ebpf/map_client.h"
#include "ebpf/socket_terminator.h"

namespace kproxy::ebpf {

class EbpfBackend : public dataplane::Backend {
 public:
  // `terminator` (may be null) aborts UDP sockets connected to an endpoint that went away.
  EbpfBackend(dataplane::ProxyOptions options, MapClientPtr client, SocketTerminatorPtr terminator = nullptr);

  const char* mode() const override { return "ebpf"; }
  const char* kernelStep() const override { return "bpf map"; }
  dataplane::SyncReport syncFull(std::shared_ptr<const dataplane::DesiredState> state) override;
  dataplane::SyncReport syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                    const std::set<model::NamespacedName>& changed) override;
  // The maps are held by descriptor and cannot vanish under us.
  bool canaryPresent() override { return true; }
  void setNodeInfo(const dataplane::NodeInfo& info) override {
    options_.setNodeInfo(info);
    entryOptions_ = entryOptionsFor(options_);
  }

 private:
  // Writes the difference from `have` to `want`; then, when `affinityTouched`, drops the affinity
  // entries of Services in `touched` (every Service when null) to endpoints `want` no longer has
  // for them, and aborts UDP sockets connected to such endpoints.
  dataplane::SyncReport apply(const MapEntries& have, const MapEntries& want, const std::set<SvcKey>* touched,
                              bool affinityTouched, dataplane::SyncReport report);

  dataplane::ProxyOptions options_;
  EntryOptions entryOptions_;
  MapClientPtr client_;
  SocketTerminatorPtr terminator_;
};

}  // namespace kproxy::ebpf
