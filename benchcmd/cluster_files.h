// The synthetic cluster `kproxy bench` feeds the proxy, as manifests in a directory:
//   cluster-*.json  N Services bench/svc-<i> x M endpoints at addresses nothing answers on
//   target.json   zz-bench/target, ClusterIP kTargetIP:80 -> the lab's pods on 8080: the Service
//                 connections are measured against. Its name sorts last, so in iptables mode its
//                 KUBE-SERVICES rule is the last one a new connection meets (the worst case).
//   change.json   bench/changing, M endpoints; each change moves one of them (a partial sync)
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/status.h"

namespace kproxy::benchcmd {

inline constexpr const char* kTargetIP = "10.95.0.10";
inline constexpr uint16_t kTargetPort = 80;
inline constexpr uint16_t kPodPort = 8080;

Status writeCluster(const std::string& dir, int services, int endpoints, int pods);
// Version `generation` of change.json; every version differs from the one before in one endpoint.
Status writeChange(const std::string& dir, int endpoints, int generation);

}  // namespace kproxy::benchcmd
