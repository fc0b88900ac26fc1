#include "bench/synthetic_cluster.h"

#include <cstdio>
#include <string>

#include "dataplane/ip.h"

namespace kproxy::bench {

SyntheticCluster makeCluster(int services, int endpointsPerService) {
  SyntheticCluster c;
  c.services.reserve(services);
  c.slices.reserve(services);
  const uint32_t svcBase = (10u << 24) | (96u << 16);
  const uint32_t epBase = (10u << 24) | (128u << 16);
  for (int i = 0; i < services; ++i) {
    model::Service s;
    s.meta.namespace_ = "bench";
    s.meta.name = "svc-" + std::to_string(i);
    s.clusterIP = net::ipv4String(svcBase + 1 + i);
    s.clusterIPs = {s.clusterIP};
    s.ports = {{"http", model::Protocol::kTCP, 80, "8080", 0}};
    c.services.push_back(std::move(s));

    model::EndpointSlice es;
    es.meta.namespace_ = "bench";
    es.meta.name = "svc-" + std::to_string(i) + "-abcde";
    es.serviceName = "svc-" + std::to_string(i);
    es.addressType = model::AddressType::kIPv4;
    es.ports = {{"http", model::Protocol::kTCP, 8080}};
    for (int j = 0; j < endpointsPerService; ++j) {
      model::Endpoint ep;
      ep.addresses = {net::ipv4String(epBase + static_cast<uint32_t>(i * endpointsPerService + j))};
      ep.conditions.ready = true;
      ep.nodeName = "node" + std::to_string((i + j) % 100);
      es.endpoints.push_back(std::move(ep));
    }
    c.slices.push_back(std::move(es));
  }
  return c;
}

}  // namespace kproxy::bench
