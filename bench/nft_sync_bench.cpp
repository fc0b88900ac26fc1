// nftables mode sync benchmark (root; not a test). For N services x 10 endpoints, in fresh
// network namespaces (unshare(CLONE_NEWNET), as sync_bench): kproxy's full sync (render + list
// + one netlink transaction) against `nft -f` of the same ruleset file (what `kproxy render
// --proxy-mode nftables` prints), and the partial sync after one endpoint change (render of the
// changed service + diff + transaction + generation read) against `nft -f` of the same
// operations as a script. Medians over --repeat runs.
//   build/nft_sync_bench [--services 1000,10000] [--repeat 3]
#include <malloc.h>
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
#include "dataplane/log.h"
#include "nftables/nftables_backend.h"

using namespace kproxy;
using bench::Clock;
using bench::median;
using bench::since;

namespace {

// The real client, keeping each committed transaction as an nft script.
class Recording : public nftables::NftClient {
 public:
  nftables::CommitResult commit(const nftables::Transaction& tx) override {
    scripts.push_back(nftables::toScript(tx));
    return real_.commit(tx);
  }
  Result<nftables::TableListing> list(model::IPFamily f) override { return real_.list(f); }
  Result<uint32_t> generation() override { return real_.generation(); }
  std::vector<std::string> scripts;

 private:
  nftables::NetlinkNftClient real_;
};

// Seconds `nft -f FILE` takes, or -1 when it fails.
double timeNft(const std::string& file) {
  auto t0 = Clock::now();
  int rc = std::system(("nft -f " + file + " 2>/tmp/kproxy-nft-bench.err").c_str());
  double s = since(t0);
  return rc == 0 ? s : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000};
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--services" && i + 1 < argc) sizes = bench::parseSizes(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::stoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: nft_sync_bench [--services 1000,10000] [--repeat 3]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "nft_sync_bench needs root (it creates network namespaces)\n");
    return 1;
  }
  log::setVerbosity(-1);
  std::printf("%7s | %9s %9s %6s | %8s %11s %9s %9s %6s\n", "svcs", "full e2e", "nft -f", "ratio", "partial",
              "partial e2e", "commit", "nft -f", "ratio");
  std::printf("(full: kproxy's full sync vs nft -f of the ruleset file; partial: one endpoint changed, vs nft -f of\n"
              " the same operations as a script; commit: kproxy's netlink transaction alone)\n");
  const std::string fullFile = "/tmp/kproxy-nft-bench-full.nft", partFile = "/tmp/kproxy-nft-bench-part.nft";
  for (int n : sizes) {
    auto [before, after, changed] = bench::clusterWithOneChange(n, 10);
    dataplane::ProxyOptions opts;
    opts.clusterCIDRs = {*net::parseCidr("10.128.0.0/9")};
    std::ofstream(fullFile) << nftables::toText(nftables::Renderer(opts).renderFull(*before));

    std::vector<double> fulls, parts, commits, bareFulls, bareParts;
    size_t partBytes = 0;
    std::string failure;
    for (int rep = 0; rep < repeat && failure.empty(); ++rep) {
      bench::enterFreshNetns();
      {
        auto* rec = new Recording;
        nftables::NftablesBackend b(opts, nftables::NftClientPtr(rec));
        auto t0 = Clock::now();
        auto full = b.syncFull(before);
        double fullE2e = since(t0);
        ::malloc_trim(0);  // as the daemon does after a full sync (see proxy_daemon.cpp)
        t0 = Clock::now();
        auto part = b.syncPartial(after, changed);
        double partE2e = since(t0);
        if (!full.ok || !part.ok || part.full) {
          failure = "sync failed: " + full.error + part.error;
          break;
        }
        fulls.push_back(fullE2e);
        parts.push_back(partE2e);
        commits.push_back(part.kernelSeconds);
        partBytes = part.bytes;
        std::ofstream(partFile) << rec->scripts.back();
      }
      bench::enterFreshNetns();
      double bareFull = timeNft(fullFile);
      double barePart = timeNft(partFile);
      if (bareFull < 0 || barePart < 0) {
        std::ifstream err("/tmp/kproxy-nft-bench.err");
        std::stringstream ss;
        ss << err.rdbuf();
        failure = "nft -f failed: " + ss.str().substr(0, 300);
        break;
      }
      bareFulls.push_back(bareFull);
      bareParts.push_back(barePart);
    }
    if (!failure.empty()) {
      std::printf("%7d | %s\n", n, failure.c_str());
      continue;
    }
    double f = median(fulls), bf = median(bareFulls), p = median(parts), c = median(commits), bp = median(bareParts);
    std::printf("%7d | %8.3fs %8.3fs %6.2f | %7.1fK %9.2fms %7.2fms %7.2fms %6.2f\n", n, f, bf, f / bf,
                static_cast<double>(partBytes) / 1024, p * 1000, c * 1000, bp * 1000, p / bp);
    std::fflush(stdout);
  }
  std::remove(fullFile.c_str());
  std::remove(partFile.c_str());
  return 0;
}
