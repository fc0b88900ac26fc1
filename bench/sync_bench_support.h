// What the sync benchmarks share: timing, a size list, medians, a fresh network namespace, and
// the synthetic cluster before and after one endpoint change.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/desired_state.h"

namespace kproxy::bench {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t);
// "1000,10000" -> {1000, 10000}
std::vector<int> parseSizes(const std::string& s);
double median(std::vector<double> v);
// Moves this process into a new, empty network namespace (exits when it cannot); the previous
// one is freed once nothing uses it. In-process: a forked child's copy-on-write faults would be
// charged to what is measured.
void enterFreshNetns();

// makeCluster(services, endpoints) as node0 sees it (IPv4), and again with one endpoint of the
// middle Service replaced.
struct OneChange {
  std::shared_ptr<const dataplane::DesiredState> before, after;
  std::set<model::NamespacedName> changed;
};
OneChange clusterWithOneChange(int services, int endpointsPerService);

}  // namespace kproxy::bench
