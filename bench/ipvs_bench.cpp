// IPVS mode benchmark (root, a kernel with IPVS: run it in the VM with `make vm-bench`; not a
// test). For N services x 10 endpoints, each in a fresh network namespace: the same virtual
// servers and destinations programmed through kproxy's netlink client against
// `ipvsadm --restore`, kproxy's full sync (virtual servers, kube-ipvs0 addresses, ipsets, helper
// rules), and its partial sync after one endpoint change (median of --repeat).
//   build/ipvs_bench [--services 1000,10000] [--repeat 5]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/sync_bench_support.h"
#include "dataplane/desired_state.h"
#include "dataplane/log.h"
#include "iptables/restore_runner.h"
#include "ipvs/ipvs_backend.h"

using namespace kproxy;
using bench::Clock;
using bench::median;
using bench::since;

namespace {

void freshNetns() {
  bench::enterFreshNetns();
  std::system("ip link set lo up");
}

std::unique_ptr<ipvs::NetlinkIpvsClient> openClient() {
  auto c = ipvs::NetlinkIpvsClient::open();
  if (!c) {
    std::fprintf(stderr, "ipvs_bench: %s\n", c.error().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000};
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--services" && i + 1 < argc) sizes = bench::parseSizes(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::stoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: ipvs_bench [--services 1000,10000] [--repeat 5]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "ipvs_bench needs root (it creates network namespaces)\n");
    return 1;
  }
  log::setVerbosity(-1);
  std::printf("%6s %7s | %9s %9s %6s | %9s | %9s %9s\n", "svcs", "ops", "netlink", "restore", "ratio", "full sync",
              "partial", "netlink");
  std::printf("(netlink: kproxy's client programming N services x 10 destinations; restore: ipvsadm --restore of\n"
              " the same; full sync: kproxy's, with kube-ipvs0, ipsets and helper rules; partial: one endpoint\n"
              " changed, the whole sync and its netlink part, median of %d)\n", repeat);
  const std::string file = "/tmp/kproxy-ipvs-bench.restore";
  for (int n : sizes) {
    auto [before, after, changed] = bench::clusterWithOneChange(n, 10);
    ipvs::IpvsOptions opts;
    opts.proxy.clusterCIDRs = {*net::parseCidr("10.128.0.0/9")};

    // The same operations for both: every virtual server and destination, fresh.
    ipvs::Fragment all = ipvs::planState(*before, opts, {});
    auto ops = ipvs::planOperations(all.servers, {}, [](const ipvs::ServiceKey&, const ipvs::Destination&) { return true; });
    {
      std::ofstream out(file);
      for (const auto& op : ops) out << op.args() << "\n";
    }

    freshNetns();
    auto client = openClient();
    auto t0 = Clock::now();
    auto applied = client->apply(ops);
    double netlink = since(t0);
    auto listed = client->list();
    if (!applied.ok() || !listed || listed.value().size() != all.servers.size()) {
      std::printf("%6d | netlink programming failed: %s\n", n, applied.ok() ? "listing differs" : applied.errors[0].c_str());
      continue;
    }
    client.reset();

    freshNetns();
    t0 = Clock::now();
    int rc = std::system(("ipvsadm --restore < " + file).c_str());
    double restore = since(t0);
    if (rc != 0) {
      std::printf("%6d | ipvsadm --restore failed (%d)\n", n, rc);
      continue;
    }

    freshNetns();
    ipvs::IpvsBackend backend(opts, openClient(), std::make_unique<ipvs::NetlinkDummyLink>(),
                              std::make_unique<ipvs::LibIpsetClient>(),
                              std::make_unique<iptables::RestoreRunner>(iptables::XtablesBackend::kNft, model::IPFamily::kIPv4));
    t0 = Clock::now();
    auto full = backend.syncFull(before);
    double fullSync = since(t0);
    if (!full.ok) {
      std::printf("%6d | full sync failed: %s\n", n, full.error.c_str());
      continue;
    }
    std::vector<double> parts, kernel;
    std::string failure;
    for (int r = 0; r < repeat; ++r) {
      auto next = r % 2 ? before : after;
      t0 = Clock::now();
      auto part = backend.syncPartial(next, changed);
      parts.push_back(since(t0));
      kernel.push_back(part.kernelSeconds);
      if (!part.ok || part.full) failure = part.ok ? "partial sync fell back to a full sync" : part.error;
    }
    if (!failure.empty()) {
      std::printf("%6d | %s\n", n, failure.c_str());
      continue;
    }
    std::printf("%6d %7zu | %8.3fs %8.3fs %6.2f | %8.3fs | %7.2fms %7.2fms\n", n, ops.size(), netlink, restore,
                restore / netlink, fullSync, median(parts) * 1000, median(kernel) * 1000);
    std::fflush(stdout);
  }
  std::remove(file.c_str());
  return 0;
}
