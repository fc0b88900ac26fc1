#include "benchcmd/bench_report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "benchcmd/cluster_files.h"
#include "benchcmd/proxy_process.h"
#include "watch/decode.h"

namespace kproxy::benchcmd {
namespace {

BenchRow row(const std::string& mode, int services, double full, double partial, double rate, double podRate) {
  BenchRow r;
  r.mode = mode;
  r.services = services;
  r.endpoints = 10;
  r.fullSyncSeconds = full;
  r.partialSyncSeconds = partial;
  r.kernelObjects = services * 24;
  r.peakRssBytes = static_cast<uint64_t>(services) * 40000 + (20u << 20);
  r.clusterIP = {static_cast<size_t>(rate * 2), 0, 2, 80, 130};
  r.pod = {static_cast<size_t>(podRate * 2), 0, 2, 70, 120};
  return r;
}

std::vector<BenchRow> sample() {
  return {row("iptables-nft", 100, 0.05, 0.012, 12000, 14000), row("nftables", 100, 0.004, 0.0003, 12500, 14100),
          row("iptables-nft", 10000, 9.8, 0.31, 3000, 14200), row("nftables", 10000, 0.95, 0.0048, 12400, 14000)};
}

TEST(BenchReport, NiceTicksCoverTheRangeInRoundSteps) {
  EXPECT_EQ(niceTicks(0, 14000, 5), (std::vector<double>{0, 5000, 10000, 15000}));
  auto t = niceTicks(0, 1, 5);
  ASSERT_EQ(t.size(), 6u);
  EXPECT_DOUBLE_EQ(t[3], 0.6);
  EXPECT_EQ(niceTicks(0, 97, 4), (std::vector<double>{0, 50, 100}));
  EXPECT_EQ(niceTicks(0, 100, 5), (std::vector<double>{0, 20, 40, 60, 80, 100})) << "hi on a tick: no extra one";
}

TEST(BenchReport, DurationLabelsPickTheUnit) {
  EXPECT_EQ(durationLabel(0.0003), "300 us");
  EXPECT_EQ(durationLabel(0.0048), "4.8 ms");
  EXPECT_EQ(durationLabel(0.31), "310 ms");
  EXPECT_EQ(durationLabel(9.8), "9.8 s");
  EXPECT_EQ(durationLabel(42), "42 s");
  EXPECT_EQ(durationLabel(0.001), "1 ms");
  EXPECT_EQ(durationLabel(1), "1 s");
}

TEST(BenchReport, CsvHasAHeaderAndOneRowPerMeasurement) {
  std::istringstream in(formatCsv(sample()));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("mode,services,endpoints_per_service,full_sync_seconds,partial_sync_seconds,", 0), 0u);
  size_t columns = static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
  std::vector<std::string> rows;
  while (std::getline(in, line)) {
    EXPECT_EQ(static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1, columns) << line;
    rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[3].rfind("nftables,10000,10,0.950000,0.004800,240000,", 0), 0u) << rows[3];
  EXPECT_NE(rows[3].find(",12400.0,"), std::string::npos) << rows[3];
}

TEST(BenchReport, TableShowsTheRatioToThePodBaseline) {
  std::string t = formatTable(sample());
  EXPECT_NE(t.find("nftables            10000    10 |     950 ms     4.8 ms"), std::string::npos) << t;
  EXPECT_NE(t.find(" 0.21 "), std::string::npos) << "3000 / 14200" << t;
}

// Sync time per hour with one endpoint change per second: 10k Services on iptables-nft
// (9 s full, 0.2 s partial) spent 120 full syncs an hour before; spaced to 1% (every 900 s), 4.
TEST(BenchReport, SyncTimePerHourBeforeAndAfterTheFullSyncBudget) {
  EXPECT_DOUBLE_EQ(syncSecondsPerHour(9, 0.2, 30), 120 * 9 + 3480 * 0.2);
  EXPECT_DOUBLE_EQ(syncSecondsPerHour(9, 0.2, 900), 4 * 9 + 3596 * 0.2);
  auto budget = [](double full, double period) { return std::max(period, std::min(3600.0, full / 0.01)); };
  std::string t = formatSyncBudget({row("iptables-nft", 10000, 9, 0.2, 100, 200)}, 30, budget);
  EXPECT_NE(t.find("1776.0 s/h ( 49.3%)"), std::string::npos) << t;
  EXPECT_NE(t.find("755.2 s/h ( 21.0%,     900 s)"), std::string::npos) << t;
}

TEST(BenchReport, SvgHasBothPanelsAxesAndALegendEntryPerMode) {
  std::string svg = renderSvg(sample());
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  for (const char* s : {"Sync time", "New connections to a ClusterIP", "Services (x endpoints each)",
                        "connections per second", ">iptables-nft<", ">nftables<", "straight to a pod (no proxy)",
                        ">100 us<", ">10 s<", ">15000<", ">10000<"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  // Per mode: full sync, partial sync and connection-rate lines; plus the pod baseline.
  std::regex polyline("<polyline ");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), polyline), std::sregex_iterator()), 7);
  // Every point lies inside the 1000 x 470 canvas.
  std::regex circle(R"re(<circle cx="([0-9.]+)" cy="([0-9.]+)")re");
  int points = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), circle); it != std::sregex_iterator(); ++it, ++points) {
    double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    EXPECT_TRUE(x >= 0 && x <= 1000 && y >= 0 && y <= 470) << x << "," << y;
  }
  EXPECT_EQ(points, 2 * 2 * 3 + 2);
}

TEST(BenchReport, AnEmptyRunStillDrawsAValidPlot) {
  std::string svg = renderSvg({});
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(BenchSyncTimes, TheDaemonsSyncLinesAreParsed) {
  std::string log =
      "I1125 10:54:04.989375    1679] full sync (IPv4) done: 1002 service ports written, 0 stale objects deleted, "
      "1504328 bytes in 1 netlink(s), 83.4ms (desired state 3.1ms, render 23.0ms, netlink 53.4ms)\n"
      "I1125 10:54:04.989407    1679] full sync (IPv6) done: 0 service ports written, 0 stale objects deleted, 9624 "
      "bytes in 1 netlink(s), 0.9ms (desired state 3.1ms, render 0.1ms, netlink 0.9ms)\n"
      "I1125 10:54:06.473939    1679] partial sync (IPv4) done: 1 service ports written, 0 stale objects deleted, "
      "1586 bytes in 1 restore(s), 0.5ms (desired state 0.1ms, render 0.2ms, restore 0.2ms)\n";
  auto t = parseSyncTimes(log);
  ASSERT_EQ(t.full.size(), 1u);
  EXPECT_NEAR(t.full[0], 0.0865, 1e-9);
  ASSERT_EQ(t.partial.size(), 1u);
  EXPECT_NEAR(t.partial[0], 0.0006, 1e-9);
  EXPECT_TRUE(t.failure.empty());
  t = parseSyncTimes(log + "E1125 10:54:07.0 1679] partial sync (IPv4) failed, previous rules stay in place\n");
  EXPECT_NE(t.failure.find("failed"), std::string::npos);
}

TEST(BenchClusterFiles, TheManifestsDecodeToTheClusterAndEachChangeMovesOneEndpoint) {
  auto dir = std::filesystem::temp_directory_path() / ("kproxy-bench-files-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(writeCluster(dir.string(), 1203, 4, 3));
  auto o = watch::loadManifests({dir.string()});
  EXPECT_TRUE(o.errors.empty());
  EXPECT_EQ(o.services.size(), 1203u + 2);  // + the target and the changing Service
  EXPECT_EQ(o.slices.size(), 1203u + 2);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.path().filename().string()[0] != '.';
  EXPECT_EQ(files, 3u + 2) << "500 Services per file, then target.json and change.json";
  const model::Service* target = nullptr;
  for (const auto& s : o.services)
    if (s.meta.namespace_ == "zz-bench") target = &s;
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->clusterIP, kTargetIP);
  auto endpointsOf = [&](const std::string& name) {
    std::set<std::string> ips;
    for (const auto& sl : watch::loadManifests({(dir / "change.json").string()}).slices)
      if (sl.serviceName == name)
        for (const auto& ep : sl.endpoints) ips.insert(ep.addresses.at(0));
    return ips;
  };
  auto before = endpointsOf("changing");
  ASSERT_TRUE(writeChange(dir.string(), 4, 1));
  auto after = endpointsOf("changing");
  ASSERT_EQ(before.size(), 4u);
  ASSERT_EQ(after.size(), 4u);
  std::vector<std::string> gone;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(gone));
  EXPECT_EQ(gone.size(), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kproxy::benchcmd
