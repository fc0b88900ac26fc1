// `kproxy bench` results: one row per mode and cluster size, shown as a terminal table, CSV and
// an SVG plot (sync time and connection rate against the number of Services).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "benchcmd/conn_rate.h"

namespace kproxy::benchcmd {

struct BenchRow {
  std::string mode;  // iptables-nft, iptables-legacy, nftables, ipvs
  int services = 0;  // besides the measured one and the changing one
  int endpoints = 0;  // per Service
  double fullSyncSeconds = 0;
  double partialSyncSeconds = 0;  // median over the endpoint changes
  int64_t mapMemlockBytes = -1;   // ebpf: the kernel's charge for kproxy's maps
  int64_t kernelObjects = -1;     // iptables: rules; nftables: rules + set and map elements; -1 unknown
  uint64_t peakRssBytes = 0;      // the kproxy daemon's VmHWM
  ConnStats clusterIP;            // to the target Service's ClusterIP
  ConnStats pod;                  // straight to a pod, before kproxy started: the no-proxy limit
};

std::string formatTable(const std::vector<BenchRow>& rows);
// Seconds per hour spent syncing with one endpoint change per second: a full sync every
// `fullInterval` seconds, a partial one every other second.
double syncSecondsPerHour(double fullSeconds, double partialSeconds, double fullIntervalSeconds);
// Per row: that cost with a full sync every sync period (kproxy before 0.17) and with full syncs
// spaced by `fullInterval(full sync seconds)` (the scheduler's budget).
std::string formatSyncBudget(const std::vector<BenchRow>& rows, double syncPeriodSeconds,
                             double (*fullInterval)(double fullSeconds, double syncPeriodSeconds));
std::string formatCsv(const std::vector<BenchRow>& rows);
std::string renderSvg(const std::vector<BenchRow>& rows);

// Axis helpers, exposed for tests: "nice" linear ticks covering [lo, hi] (1, 2, 5 x 10^k steps),
// and a duration label ("500 us", "20 ms", "1.5 s").
std::vector<double> niceTicks(double lo, double hi, int wanted);
std::string durationLabel(double seconds);

}  // namespace kproxy::benchcmd
