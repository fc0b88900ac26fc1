// Synthetic clusters for benchmarks: N ClusterIP services x M ready endpoints, as model objects.
#pragma once

#include <vector>

#include "dataplane/model.h"

namespace kproxy::bench {

struct SyntheticCluster {
  std::vector<model::Service> services;
  std::vector<model::EndpointSlice> slices;
};

// Service i is bench/svc-i (ClusterIP 10.96.0.0 + i, port 80/TCP "http"); its endpoints are
// consecutive addresses from 10.128.0.0, port 8080, spread over nodes node0..node99.
SyntheticCluster makeCluster(int services, int endpointsPerService);

}  // namespace kproxy::bench
