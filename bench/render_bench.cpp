// Render benchmarks (not tests): full render of N services x 10 endpoints, and a partial render
// after one endpoint change. Prints peak RSS at the end; run one size alone to attribute it:
//   build/render_bench --benchmark_filter='FullRender/10000'
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>

#include "bench/synthetic_cluster.h"
#include "dataplane/desired_state.h"
#include "iptables/renderer.h"

namespace {

using kproxy::dataplane::DesiredState;
using kproxy::dataplane::NodeContext;
using kproxy::iptables::RenderOptions;
using kproxy::iptables::Renderer;

constexpr int kEndpoints = 10;

NodeContext node() { return NodeContext{"node0", {}}; }

RenderOptions options() {
  RenderOptions o;
  o.clusterCIDRs = {*kproxy::net::parseCidr("10.128.0.0/9")};
  return o;
}

DesiredState stateFor(int services) {
  auto c = kproxy::bench::makeCluster(services, kEndpoints);
  return kproxy::dataplane::buildDesiredState(c.services, c.slices, node(), kproxy::model::IPFamily::kIPv4);
}

void setCounters(benchmark::State& st, const kproxy::iptables::RenderResult& r) {
  st.counters["text_MB"] = static_cast<double>(r.text.size()) / 1e6;
  st.counters["nat_rules"] = static_cast<double>(r.natRules);
}

// Steady state: the renderer (and its chain-name cache) lives across syncs, as in the daemon.
void BM_FullRender(benchmark::State& st) {
  DesiredState state = stateFor(static_cast<int>(st.range(0)));
  Renderer r(options());
  kproxy::iptables::RenderResult res = r.renderFull(state);
  for (auto _ : st) {
    res = r.renderFull(state);
    benchmark::DoNotOptimize(res.text.data());
  }
  setCounters(st, res);
}
BENCHMARK(BM_FullRender)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// A daemon's full sync: the kernel's chain list is passed in so stale chains get deleted.
void BM_FullRenderWithKernelChains(benchmark::State& st) {
  DesiredState state = stateFor(static_cast<int>(st.range(0)));
  Renderer r(options());
  std::vector<std::string> kernel = {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "KUBE-SVC-STALESTALESTALE0"};
  kproxy::iptables::RenderResult res = r.renderFull(state, kernel);
  for (auto _ : st) {
    res = r.renderFull(state, kernel);
    benchmark::DoNotOptimize(res.text.data());
  }
  setCounters(st, res);
}
BENCHMARK(BM_FullRenderWithKernelChains)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// First sync after start: every chain name is hashed.
void BM_FullRenderCold(benchmark::State& st) {
  DesiredState state = stateFor(static_cast<int>(st.range(0)));
  kproxy::iptables::RenderResult res;
  for (auto _ : st) {
    Renderer r(options());
    res = r.renderFull(state);
    benchmark::DoNotOptimize(res.text.data());
  }
  setCounters(st, res);
}
BENCHMARK(BM_FullRenderCold)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// One endpoint of one service replaced: only that service's chains are rendered.
void BM_PartialRenderOneEndpoint(benchmark::State& st) {
  DesiredState before = stateFor(static_cast<int>(st.range(0)));
  DesiredState after = before;
  auto& port = after.ports.edit(after.ports.size() / 2);
  port.endpoints[3].ip = "10.255.0.1";
  port.endpoints[3].hostPort = "10.255.0.1:8080";
  kproxy::dataplane::categorizeEndpoints(port, node());
  std::set<kproxy::model::NamespacedName> changed{port.name.service};
  Renderer r(options());
  r.renderFull(before);
  kproxy::iptables::RenderResult res;
  for (auto _ : st) {
    res = r.renderPartial(after, before, changed);
    benchmark::DoNotOptimize(res.text.data());
  }
  setCounters(st, res);
  st.counters["deleted_chains"] = static_cast<double>(res.deletedChains.size());
  st.counters["ports_written"] = static_cast<double>(res.servicePortsWritten);
}
BENCHMARK(BM_PartialRenderOneEndpoint)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_BuildDesiredState(benchmark::State& st) {
  auto c = kproxy::bench::makeCluster(static_cast<int>(st.range(0)), kEndpoints);
  for (auto _ : st) {
    auto s = kproxy::dataplane::buildDesiredState(c.services, c.slices, node(), kproxy::model::IPFamily::kIPv4);
    benchmark::DoNotOptimize(s.ports.chunks().data());
  }
}
BENCHMARK(BM_BuildDesiredState)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS: %.1f MB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}
