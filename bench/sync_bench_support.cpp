#include "bench/sync_bench_support.h"

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "bench/synthetic_cluster.h"

namespace kproxy::bench {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<int> parseSizes(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void enterFreshNetns() {
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET)");
    std::exit(1);
  }
}

OneChange clusterWithOneChange(int services, int endpointsPerService) {
  auto cluster = makeCluster(services, endpointsPerService);
  dataplane::NodeContext node{"node0", {}};
  OneChange c;
  c.before = std::make_shared<const dataplane::DesiredState>(
      dataplane::buildDesiredState(cluster.services, cluster.slices, node, model::IPFamily::kIPv4));
  auto& slice = cluster.slices[services / 2];
  slice.endpoints[std::min<size_t>(3, slice.endpoints.size() - 1)].addresses = {"10.255.0.1"};
  c.after = std::make_shared<const dataplane::DesiredState>(
      dataplane::buildDesiredState(cluster.services, cluster.slices, node, model::IPFamily::kIPv4));
  c.changed = {slice.serviceKey()};
  return c;
}

}  // namespace kproxy::bench
