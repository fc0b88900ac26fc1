// End-to-end iptables sync benchmark (root; not a test). For N services x 10 endpoints and each
// backend, in fresh network namespaces (unshare(CLONE_NEWNET); the process never returns to the
// namespace it started in, and each namespace is freed when the next one replaces it): kproxy's full sync (list + render + restore) against bare iptables-restore of the same
// text, and the partial sync after one endpoint change against bare restore of that input.
//   build/sync_bench [--services 1000,10000] [--backends legacy,nft] [--nft-max N] [--repeat 3]
// Times are medians over --repeat runs.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/sync_bench_support.h"
#include "dataplane/desired_state.h"
#include "iptables/iptables_backend.h"

using namespace kproxy;
using bench::Clock;
using bench::since;

namespace {

// Records what the backend loads, so bare iptables-restore can be timed on the same text.
class Recording : public iptables::RestoreClient {
 public:
  explicit Recording(iptables::XtablesBackend b) : real_(b, model::IPFamily::kIPv4) {}
  Status restore(std::string_view input) override {
    inputs.emplace_back(input);
    return real_.restore(input);
  }
  Result<std::string> save(std::string_view table) override { return real_.save(table); }
  std::string describe() const override { return real_.describe(); }
  size_t fullSyncChunkPorts() const override { return real_.fullSyncChunkPorts(); }
  std::vector<std::string> inputs;

 private:
  iptables::RestoreRunner real_;
};

// Moves this process into a new, empty network namespace and runs fn there; the previous
// namespace (and everything loaded into it) is freed once nothing uses it. In-process rather
// than in a forked child: a child's copy-on-write faults would be charged to the render.
template <typename Fn>
std::string inFreshNetns(Fn fn) {
  bench::enterFreshNetns();
  return fn();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000};
  std::vector<std::string> backends = {"legacy", "nft"};
  int nftMax = 100000;  // a cap for the nft rows, should a slower iptables-nft come along
  int repeat = 3;     // medians: restore times vary by +-30% run to run on this machine
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool hasValue = i + 1 < argc;
    if (a == "--services" && hasValue) sizes = bench::parseSizes(argv[++i]);
    else if (a == "--backends" && hasValue) {
      backends.clear();
      std::stringstream ss(argv[++i]);
      std::string b;
      while (std::getline(ss, b, ',')) backends.push_back(b);
    } else if (a == "--nft-max" && hasValue) nftMax = std::stoi(argv[++i]);
    else if (a == "--repeat" && hasValue) repeat = std::max(1, std::stoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: sync_bench [--services 1000,10000] [--backends legacy,nft] [--nft-max N] [--repeat 3]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "sync_bench needs root (it creates network namespaces)\n");
    return 1;
  }
  std::printf("%-7s %7s | %10s %10s %6s | %9s %10s %10s %6s\n", "backend", "svcs", "full e2e", "bare", "ratio",
              "partial B", "partial e2e", "bare", "ratio");
  std::printf("(bare: iptables-restore alone on the same input, in the same pieces; nft full syncs are chunked)\n");
  for (const auto& bname : backends) {
    auto backend = bname == "nft" ? iptables::XtablesBackend::kNft : iptables::XtablesBackend::kLegacy;
    for (int n : sizes) {
      if (backend == iptables::XtablesBackend::kNft && n > nftMax) {
        std::printf("%-7s %7d | skipped (--nft-max)\n", bname.c_str(), n);
        continue;
      }
      auto [before, after, changed] = bench::clusterWithOneChange(n, 10);
      std::string fullFile = "/tmp/kproxy-sync-bench-full.rules", partialFile = "/tmp/kproxy-sync-bench-partial.rules";

      std::vector<double> fullE2es, partE2es, bareFulls, bareParts;
      size_t partBytes = 0;
      std::string failure;
      for (int rep = 0; rep < repeat && failure.empty(); ++rep) {
        std::string measured = inFreshNetns([&] {
          iptables::RenderOptions opts;
          opts.clusterCIDRs = {*net::parseCidr("10.128.0.0/9")};
          auto* rec = new Recording(backend);
          iptables::IptablesBackend b(opts, std::unique_ptr<iptables::RestoreClient>(rec));
          auto t0 = Clock::now();
          auto full = b.syncFull(before);
          double fullE2e = since(t0);
          t0 = Clock::now();
          auto part = b.syncPartial(after, changed);
          double partE2e = since(t0);
          if (!full.ok || !part.ok || rec->inputs.size() < 2) return std::string("error ") + full.error + part.error;
          {
            std::ofstream f(fullFile);  // the full sync's pieces, separated by a marker line
            for (size_t k = 0; k + 1 < rec->inputs.size(); ++k) f << rec->inputs[k] << "#PIECE\n";
          }
          std::ofstream(partialFile) << rec->inputs.back();
          if (std::getenv("KPROXY_BENCH_DEBUG"))
            std::fprintf(stderr, "full: render+list %.3fs restore %.3fs; partial: render %.4fs restore %.3fs\n",
                         full.renderSeconds, full.kernelSeconds, part.renderSeconds, part.kernelSeconds);
          return std::to_string(fullE2e) + " " + std::to_string(partE2e) + " " + std::to_string(rec->inputs.back().size());
        });
        double fullE2e = 0, partE2e = 0;
        if (std::sscanf(measured.c_str(), "%lf %lf %zu", &fullE2e, &partE2e, &partBytes) != 3) {
          failure = measured;
          break;
        }
        std::string bare = inFreshNetns([&] {
          iptables::RestoreRunner r(backend, model::IPFamily::kIPv4);
          std::ifstream f1(fullFile), f2(partialFile);
          std::stringstream s1, s2;
          s1 << f1.rdbuf();
          s2 << f2.rdbuf();
          std::vector<std::string> pieces;
          std::string all = s1.str();
          for (size_t pos = 0, next; (next = all.find("#PIECE\n", pos)) != std::string::npos; pos = next + 7)
            pieces.push_back(all.substr(pos, next - pos));
          auto t0 = Clock::now();
          bool ok1 = true;
          for (const auto& p : pieces) ok1 = ok1 && r.restore(p).isOk();
          double bareFull = since(t0);
          t0 = Clock::now();
          bool ok2 = r.restore(s2.str()).isOk();
          double barePart = since(t0);
          if (!ok1 || !ok2) return std::string("error");
          return std::to_string(bareFull) + " " + std::to_string(barePart);
        });
        double bareFull = 0, barePart = 0;
        if (std::sscanf(bare.c_str(), "%lf %lf", &bareFull, &barePart) != 2) {
          failure = "bare restore failed";
          break;
        }

        fullE2es.push_back(fullE2e);
        partE2es.push_back(partE2e);
        bareFulls.push_back(bareFull);
        bareParts.push_back(barePart);
      }
      if (!failure.empty()) {
        std::printf("%-7s %7d | failed: %s\n", bname.c_str(), n, failure.c_str());
        continue;
      }
      double fullE2e = bench::median(fullE2es), partE2e = bench::median(partE2es), bareFull = bench::median(bareFulls),
             barePart = bench::median(bareParts);
      std::printf("%-7s %7d | %9.3fs %9.3fs %6.3f | %8.1fK %9.3fs %9.3fs %6.3f\n", bname.c_str(), n, fullE2e, bareFull,
                  fullE2e / bareFull, static_cast<double>(partBytes) / 1024, partE2e, barePart, partE2e / barePart);
      std::fflush(stdout);
      std::remove(fullFile.c_str());
      std::remove(partialFile.c_str());
    }
  }
  return 0;
}
