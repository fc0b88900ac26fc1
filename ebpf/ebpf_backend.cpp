#include "ebpf/ebpf_backend.h"

#include <netinet/in.h>

#include <chrono>

#include "dataplane/log.h"

namespace kproxy::ebpf {

using dataplane::SyncReport;

namespace {

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void merge(MapEntries& into, MapEntries&& from) {
  into.services.merge(from.services);
  into.backends.merge(from.backends);
}

}  // namespace

EbpfBackend::EbpfBackend(dataplane::ProxyOptions options, MapClientPtr client, SocketTerminatorPtr terminator)
    : options_(std::move(options)),
      entryOptions_(entryOptionsFor(options_)),
      client_(std::move(client)),
      terminator_(std::move(terminator)) {}

SyncReport EbpfBackend::apply(const MapEntries& have, const MapEntries& want, const std::set<SvcKey>* touched,
                              bool affinityTouched, SyncReport report) {
  const auto start = std::chrono::steady_clock::now();
  const MapWrites w = diff(have, want);
  if (Status s = client_->apply(w); !s) {
    report.error = s.message();
    return report;
  }
  report.bytes = w.backendUpserts.size() * (sizeof(kproxy_be_key) + sizeof(kproxy_be_value)) +
                 w.serviceUpserts.size() * (sizeof(kproxy_svc_key) + sizeof(kproxy_svc_value)) +
                 w.serviceDeletes.size() * sizeof(kproxy_svc_key) + w.backendDeletes.size() * sizeof(kproxy_be_key);
  report.transactions = w.empty() ? 0 : 1;
  report.deleted = w.serviceDeletes.size();
  // A client stuck to an endpoint that is gone picks again (kube-proxy's affinity is to an
  // endpoint of the Service's current set).
  if (affinityTouched) {
    auto entries = client_->affinity();
    if (!entries) {
      report.error = entries.error();
      return report;
    }
    std::vector<AffinityEntry> stale;
    for (const auto& e : entries.value()) {
      if (touched && !touched->contains(e.svc)) continue;
      bool kept = false;
      if (auto it = want.services.find(e.svc); it != want.services.end() && it->second.affinitySecs)
        for (uint32_t slot = 0; slot < it->second.count && !kept; ++slot)
          kept = want.backends.at(BeKey{e.svc, slot}) == e.backend;
      if (!kept) stale.push_back(e);
    }
    if (Status s = client_->forget(stale); !s) {
      report.error = s.message();
      return report;
    }
  }
  // A connected UDP socket keeps its endpoint: one whose endpoint left its Service is aborted.
  if (terminator_) {
    std::set<GoneEndpoint> live, gone;
    for (const auto& [k, v] : want.backends)
      if (k.svc.proto == IPPROTO_UDP) live.insert({k.svc, v});
    for (const auto& [k, v] : have.backends)
      if (k.svc.proto == IPPROTO_UDP && !live.contains({k.svc, v})) gone.insert({k.svc, v});
    if (!gone.empty()) {
      auto n = terminator_->terminate({gone.begin(), gone.end()});
      if (!n) log::warning("UDP sockets to removed endpoints not terminated: " + n.error());
      else if (n.value()) log::info("terminated " + std::to_string(n.value()) + " UDP socket(s) connected to " +
                                    std::to_string(gone.size()) + " removed endpoint(s)");
    }
  }
  report.kernelSeconds = since(start);
  report.ok = true;
  return report;
}

SyncReport EbpfBackend::syncFull(std::shared_ptr<const dataplane::DesiredState> state) {
  const auto start = std::chrono::steady_clock::now();
  SyncReport report;
  report.full = true;
  MapEntries want = entriesOf(*state, entryOptions_);
  report.servicePortsWritten = state->ports.size();
  auto have = client_->dump();
  if (!have) {
    report.error = have.error();
    return report;
  }
  report.renderSeconds = since(start);
  report = apply(have.value(), want, nullptr, true, std::move(report));
  report.totalSeconds = since(start);
  if (report.ok) applied_ = std::move(state);
  return report;
}

SyncReport EbpfBackend::syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                    const std::set<model::NamespacedName>& changed) {
  if (!applied_) return syncFull(std::move(state));
  const auto start = std::chrono::steady_clock::now();
  SyncReport report;
  MapEntries have, want;
  for (const auto& svc : changed) {
    merge(have, entriesOf(*applied_, svc, entryOptions_));
    merge(want, entriesOf(*state, svc, entryOptions_));
    report.servicePortsWritten += state->portsOf(svc).size();
  }
  // Affinity entries are read only when a Service that had or has affinity changed.
  std::set<SvcKey> touched;
  bool affinity = false;
  for (const auto* entries : {&have, &want})
    for (const auto& [k, v] : entries->services) {
      touched.insert(k);
      affinity = affinity || v.affinitySecs;
    }
  report.renderSeconds = since(start);
  report = apply(have, want, &touched, affinity, std::move(report));
  report.totalSeconds = since(start);
  if (report.ok) applied_ = std::move(state);
  return report;
}

}  // namespace kproxy::ebpf
