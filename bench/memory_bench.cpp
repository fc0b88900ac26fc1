// Where kproxy's memory goes at N Services x M endpoints (not a test; no root): the daemon's own
// structures built one after the other on one thread, each measured as the heap it adds
// (mallinfo2) and the peak RSS while it is built (VmHWM, reset before each step through
// /proc/self/clear_refs): the cluster cache (ClusterState), the IPv4 desired state, then each
// mode's full sync and a one-endpoint partial sync against a kernel that only takes the bytes
// (restore input and netlink batches are rendered and encoded as for the kernel, then dropped),
// with what the backend keeps afterwards (its applied state). The cache here holds model objects
// as the synthetic cluster makes them; watch_bench measures the cache as the API fills it.
//   build/memory_bench [--services 10000] [--endpoints 10]
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "bench/synthetic_cluster.h"
#include "dataplane/cluster_state.h"
#include "dataplane/log.h"
#include "iptables/iptables_backend.h"
#include "nftables/netlink_codec.h"
#include "nftables/nftables_backend.h"

using namespace kproxy;

namespace {

double heapMB() {
  struct mallinfo2 mi = ::mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd) / 1e6;
}

double statusMB(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / 1024;
  return 0;
}

void resetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// One step: its heap kept afterwards and the peak RSS above the RSS before it.
void step(const char* what, const std::function<void()>& fn) {
  ::malloc_trim(0);
  double heap0 = heapMB(), rss0 = statusMB("VmRSS:");
  resetPeak();
  auto t0 = std::chrono::steady_clock::now();
  fn();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double peak = statusMB("VmHWM:");
  ::malloc_trim(0);
  std::printf("  %-44s %+9.1f MB kept %9.1f MB transient peak (RSS %6.1f -> peak %6.1f -> %6.1f) %7.3f s\n", what,
              heapMB() - heap0, std::max(0.0, peak - statusMB("VmRSS:")), rss0, peak, statusMB("VmRSS:"), seconds);
}

// iptables-restore that takes the input and forgets it.
class DropRestore : public iptables::RestoreClient {
 public:
  Status restore(std::string_view input) override {
    bytes += input.size();
    return Status::ok();
  }
  Result<std::string> save(std::string_view) override { return std::string("*nat\nCOMMIT\n"); }
  std::string describe() const override { return "memory_bench"; }
  size_t bytes = 0;
};

// nf_tables that takes the encoded batch and forgets it.
class DropNft : public nftables::NftClient {
 public:
  nftables::CommitResult commit(const nftables::Transaction& tx) override {
    nftables::EncodedBatch b = nftables::encodeTransaction(tx, 1);
    nftables::CommitResult r;
    r.ok = true;
    r.bytes = b.size();
    r.messages = b.messages;
    generation_++;
    return r;
  }
  // A full sync's stream: encoded op by op as the kernel client does, then dropped.
  std::unique_ptr<nftables::TxStream> begin(nftables::IPFamily family, std::optional<uint32_t> generation) override {
    struct Stream : nftables::TxStream {
      Stream(nftables::IPFamily f, std::optional<uint32_t> g) : writer(f, g, 1) {}
      void add(const nftables::Op& op) override { writer.add(op); }
      nftables::CommitResult commit() override {
        nftables::EncodedBatch b = writer.finish();
        nftables::CommitResult r;
        r.ok = true;
        r.bytes = b.size();
        r.messages = b.messages;
        return r;
      }
      nftables::BatchWriter writer;
    };
    ++generation_;
    return std::make_unique<Stream>(family, generation);
  }
  Result<nftables::TableListing> list(nftables::IPFamily) override {
    nftables::TableListing l;
    l.generation = generation_;
    return l;
  }
  Result<uint32_t> generation() override { return generation_; }

 private:
  uint32_t generation_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  int services = 10000, endpoints = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--services" && i + 1 < argc) services = std::stoi(argv[++i]);
    else if (a == "--endpoints" && i + 1 < argc) endpoints = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: memory_bench [--services N] [--endpoints M]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  log::setVerbosity(-1);
  std::printf("memory by structure, %d services x %d endpoints (heap: mallinfo2; RSS: /proc/self/status)\n", services,
              endpoints);
  std::printf("  %-44s %9s\n", "process at start", "");
  std::printf("  %-44s %9.1f MB heap, RSS %.1f MB\n", "", heapMB(), statusMB("VmRSS:"));

  dataplane::ClusterState cache("node1");
  step("cluster cache (services + slices)", [&] {
    auto c = bench::makeCluster(services, endpoints);
    for (auto& s : c.services) cache.upsertService(std::move(s));
    for (auto& s : c.slices) cache.upsertSlice(std::move(s));
    (void)cache.takeChanges();  // the initial listing: what the first (full) sync takes
  });
  std::shared_ptr<const dataplane::DesiredState> desired;
  step("IPv4 desired state", [&] { desired = cache.desired(model::IPFamily::kIPv4); });

  dataplane::ProxyOptions opts;
  opts.clusterCIDRs = {*net::parseCidr("10.128.0.0/9")};
  opts.nodeIPs = {"10.200.0.1"};
  // A one-endpoint change for each mode's partial sync: the first Service's slice loses its last
  // endpoint, then its last two.
  int changes = 0;
  auto change = [&]() {
    model::EndpointSlice s = bench::makeCluster(1, endpoints).slices.front();  // svc-0's slice, as cached
    for (int i = 0; i <= changes && !s.endpoints.empty(); ++i) s.endpoints.pop_back();
    ++changes;
    cache.upsertSlice(std::move(s));
    auto changes = cache.takeChanges();
    return std::make_pair(cache.desired(model::IPFamily::kIPv4), changes.services);
  };

  for (const char* mode : {"iptables", "nftables"}) {
    std::printf("%s mode:\n", mode);
    dataplane::BackendPtr backend;
    step("backend created", [&] {
      if (std::string(mode) == "iptables")
        backend = std::make_unique<iptables::IptablesBackend>(opts, std::make_unique<DropRestore>());
      else
        backend = std::make_unique<nftables::NftablesBackend>(opts, std::make_unique<DropNft>());
    });
    dataplane::SyncReport full;
    step("full sync (render + encode; applied state kept)", [&] { full = backend->syncFull(desired); });
    std::printf("  %-44s %9.1f MB to the kernel in %.3f s, ok %d\n", "", static_cast<double>(full.bytes) / 1e6,
                full.totalSeconds, full.ok);
    auto t0 = std::chrono::steady_clock::now();
    auto [next, changed] = change();
    std::printf("  %-44s %9.2f ms\n", "desired state after one change",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3);
    dataplane::SyncReport partial;
    step("partial sync, one endpoint", [&] { partial = backend->syncPartial(next, changed); });
    std::printf("  %-44s %9.3f MB to the kernel in %.2f ms, ok %d, full %d\n", "",
                static_cast<double>(partial.bytes) / 1e6, partial.totalSeconds * 1e3, partial.ok, partial.full);
    desired = next;
    step("backend destroyed", [&] { backend.reset(); });
  }
  return 0;
}
