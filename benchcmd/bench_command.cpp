#include "benchcmd/bench_command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "benchcmd/bench_report.h"
#include "daemon/sync_scheduler.h"
#include "ebpf/loader.h"
#include "benchcmd/cluster_files.h"
#include "benchcmd/conn_rate.h"
#include "benchcmd/ebpf_lab.h"
#include "benchcmd/netns_lab.h"
#include "benchcmd/proxy_process.h"

namespace kproxy::benchcmd {

namespace {

constexpr const char* kUsage = R"(Usage: kproxy bench [options]   (as root)

Measures each proxy mode against the number of Services, in network namespaces it creates and
removes (a client, a node running kproxy, three pods): kproxy's full sync time, its sync time
after one endpoint changes, the rules or objects in the kernel, kproxy's peak RSS, and the rate
and latency of short TCP connections (connect, one request, close) to a ClusterIP, against the
same connections straight to a pod before kproxy started (the no-proxy limit).

Options:
  --services LIST    Service counts to sweep (default 100,1000,5000,10000)
  --endpoints N      endpoints per Service (default 10)
  --modes LIST       iptables, iptables-nft, iptables-legacy, ipvs, nftables, ebpf
                     (default iptables,ipvs,nftables; iptables means both backends; a mode this
                     kernel or build lacks is reported and skipped)
  --duration SECS    each connection measurement (default 2)
  --repeat N         connection measurements per row, the median is kept (default 3)
  --changes N        endpoint changes per row, the median sync is kept (default 5)
  --clients N        parallel connecting clients (default 1)
  --csv FILE         write the rows as CSV
  --svg FILE         plot sync time and connection rate against the Service count
)";

std::atomic<bool> gInterrupted{false};
void onSignal(int) { gInterrupted = true; }

struct Options {
  std::vector<int> services{100, 1000, 5000, 10000};
  int endpoints = 10;
  std::vector<std::string> modes{"iptables", "ipvs", "nftables"};
  double duration = 2;
  int repeat = 3;
  int changes = 5;
  int clients = 1;
  std::string csv, svg;
};

std::vector<std::string> splitList(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool parseInt(const std::string& s, int lo, int hi, int& out) {
  try {
    size_t n;
    long v = std::stol(s, &n);
    if (n != s.size() || v < lo || v > hi) return false;
    out = static_cast<int>(v);
    return true;
  } catch (...) {
    return false;
  }
}

// Empty on success, else the problem.
std::string parse(const std::vector<std::string>& args, Options& o) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    const std::string* v = nullptr;
    if (a == "--services" || a == "--endpoints" || a == "--modes" || a == "--duration" || a == "--repeat" ||
        a == "--changes" || a == "--clients" || a == "--csv" || a == "--svg") {
      v = value();
      if (!v) return a + " needs a value";
    }
    if (a == "--services") {
      o.services.clear();
      for (const auto& s : splitList(*v)) {
        int n;
        if (!parseInt(s, 0, 200000, n)) return "--services: \"" + s + "\" is not a count from 0 to 200000";
        o.services.push_back(n);
      }
      if (o.services.empty()) return "--services: empty list";
    } else if (a == "--endpoints") {
      if (!parseInt(*v, 1, 1000, o.endpoints)) return "--endpoints: a count from 1 to 1000";
    } else if (a == "--modes") {
      o.modes = splitList(*v);
      for (const auto& m : o.modes)
        if (m != "iptables" && m != "iptables-nft" && m != "iptables-legacy" && m != "ipvs" && m != "nftables" && m != "ebpf")
          return "--modes: unknown mode \"" + m + "\"";
    } else if (a == "--duration") {
      char* end = nullptr;
      o.duration = std::strtod(v->c_str(), &end);
      if (*end || !(o.duration > 0 && o.duration <= 600)) return "--duration: seconds, more than 0, at most 600";
    } else if (a == "--repeat") {
      if (!parseInt(*v, 1, 100, o.repeat)) return "--repeat: a count from 1 to 100";
    } else if (a == "--changes") {
      if (!parseInt(*v, 1, 1000, o.changes)) return "--changes: a count from 1 to 1000";
    } else if (a == "--clients") {
      if (!parseInt(*v, 1, 64, o.clients)) return "--clients: a count from 1 to 64";
    } else if (a == "--csv") {
      o.csv = *v;
    } else if (a == "--svg") {
      o.svg = *v;
    } else {
      return "unknown option " + a;
    }
  }
  return {};
}

bool onPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  // The sbin directories too: a sudo or cron PATH may lack them, and `ip netns exec` finds them.
  for (const auto& dir : splitList(std::string(path ? path : "") + ":/usr/sbin:/sbin:/usr/bin:/bin", ':'))
    if (::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

// The modes to run, each with the flags that select it; skipped ones reported on `err`.
struct Mode {
  std::string name;
  std::vector<std::string> flags;
};
std::vector<Mode> expandModes(const std::vector<std::string>& wanted, std::ostream& err) {
  std::vector<Mode> out;
  auto add = [&](const Mode& m) {
    if (std::none_of(out.begin(), out.end(), [&](const Mode& x) { return x.name == m.name; })) out.push_back(m);
  };
  for (const auto& w : wanted) {
    for (const char* backend : {"nft", "legacy"}) {
      std::string name = std::string("iptables-") + backend;
      if (w != "iptables" && w != name) continue;
      if (!onPath(name + "-restore")) {
        err << "kproxy bench: skipping " << name << ": " << name << "-restore is not installed\n";
        continue;
      }
      add({name, {"--proxy-mode", "iptables", "--iptables-backend", backend}});
    }
    if (w == "nftables") add({"nftables", {"--proxy-mode", "nftables"}});
    if (w == "ebpf") add({"ebpf", {"--proxy-mode", "ebpf"}});  // the lab's paths are added per row
    if (w == "ipvs") {
      if (::access("/proc/net/ip_vs", F_OK) != 0)
        err << "kproxy bench: skipping ipvs: this kernel has no IPVS (no /proc/net/ip_vs)\n";
      else
        add({"ipvs", {"--proxy-mode", "ipvs"}});
    }
  }
  return out;
}

int64_t countKernelObjects(const NetnsLab& lab, const EbpfLab& ebpfLab, const std::string& mode) {
  if (mode.rfind("iptables-", 0) == 0) {
    auto r = lab.exec("node", {mode + "-save"});
    if (!r || r.value().exitCode != 0) return -1;
    int64_t n = 0;
    std::istringstream in(r.value().out);
    std::string line;
    while (std::getline(in, line)) n += line.rfind("-A ", 0) == 0;
    return n;
  }
  if (mode == "nftables") {
    auto r = lab.exec("node", {"nft", "-j", "list", "table", "ip", "kube-proxy"});
    if (!r || r.value().exitCode != 0) return -1;
    auto j = nlohmann::json::parse(r.value().out, nullptr, false);
    if (j.is_discarded() || !j.contains("nftables")) return -1;
    int64_t n = 0;
    for (const auto& item : j["nftables"]) {
      if (item.contains("rule")) ++n;
      for (const char* kind : {"set", "map"})
        if (item.contains(kind) && item[kind].contains("elem")) n += static_cast<int64_t>(item[kind]["elem"].size());
    }
    return n;
  }
  if (mode == "ebpf") {  // Service addresses and endpoint slots
    auto maps = ebpf::readPinned(ebpf::pinDirUnder(ebpfLab.bpffs()));
    return maps ? static_cast<int64_t>(maps.value().services.size() + maps.value().backends.size()) : -1;
  }
  if (mode == "ipvs") {  // virtual servers, destinations and ipset members
    auto servers = lab.exec("node", {"ipvsadm", "-Sn"});
    auto sets = lab.exec("node", {"ipset", "save"});
    if (!servers || servers.value().exitCode != 0 || !sets || sets.value().exitCode != 0) return -1;
    int64_t n = 0;
    std::string line;
    std::istringstream a(servers.value().out), b(sets.value().out);
    while (std::getline(a, line)) n += line.rfind("-A ", 0) == 0 || line.rfind("-a ", 0) == 0;
    while (std::getline(b, line)) n += line.rfind("add KUBE-", 0) == 0;
    return n;
  }
  return -1;
}

ConnStats median(std::vector<ConnStats> runs) {
  if (runs.empty()) return {};
  std::sort(runs.begin(), runs.end(), [](const ConnStats& a, const ConnStats& b) { return a.rate() < b.rate(); });
  ConnStats m = runs[runs.size() / 2];
  for (const auto& r : runs)
    if (&r != &runs[runs.size() / 2]) m.failures += r.failures;
  return m;
}

class Progress {
 public:
  explicit Progress(std::ostream& err) : err_(err), tty_(::isatty(2)) {}
  void operator()(const std::string& what) {
    if (tty_) err_ << "\r\033[K" << what << std::flush;
    else err_ << what << "\n";
  }
  void done() {
    if (tty_) err_ << "\r\033[K" << std::flush;
  }

 private:
  std::ostream& err_;
  bool tty_;
};

struct RowError {
  std::string message;
};

BenchRow measureRow(const Options& o, const Mode& mode, int services, const std::string& exe,
                    const std::string& work, const std::string& tag, Progress& progress) {
  auto check = [](const Status& s) {
    if (!s) throw RowError{s.message()};
  };
  auto take = [](auto result) {
    if (!result) throw RowError{result.error()};
    return std::move(result).value();
  };
  auto interrupted = [] {
    if (gInterrupted) throw RowError{"interrupted"};
  };
  BenchRow row;
  row.mode = mode.name;
  row.services = services;
  row.endpoints = o.endpoints;

  NetnsLab lab("kproxy-bench-" + std::to_string(::getpid()), 3);
  check(lab.up());
  PodServers servers;
  check(servers.start(lab, kPodPort));
  std::string dir = work + "/manifests";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  progress(tag + ": writing " + std::to_string(services) + " Services");
  check(writeCluster(dir, services, o.endpoints, lab.pods()));

  std::vector<ConnStats> pod, vip;
  const bool ebpfMode = mode.name == "ebpf";
  // ebpf mode's programs see every connect() of the node, a pod's too: its direct rate is
  // measured with them, below, interleaved with the ClusterIP's.
  for (int i = 0; i < o.repeat && !ebpfMode; ++i) {
    interrupted();
    progress(tag + ": connections straight to a pod (" + std::to_string(i + 1) + "/" + std::to_string(o.repeat) + ")");
    pod.push_back(take(measureConnections(lab.ns("client"), NetnsLab::podIP(1), kPodPort, o.duration, o.clients)));
  }

  progress(tag + ": kproxy full sync");
  ProxyProcess proxy;
  proxy.setCancel(&gInterrupted);
  std::vector<std::string> args{"--manifests", dir, "--hostname-override", "node1", "--cluster-cidr",
                                NetnsLab::kClusterCIDR, "--iptables-min-sync-period", "0",
                                // no periodic full sync in the middle of a measurement
                                "--iptables-sync-period", "1h", "--healthz-bind-address", "",
                                "--metrics-bind-address", ""};
  args.insert(args.end(), mode.flags.begin(), mode.flags.end());
  // ebpf mode: its programs on a cgroup of the bench's own, its pins on a bpffs of its own.
  EbpfLab ebpfLab(work + "/ebpf");
  if (ebpfMode) {
    check(ebpfLab.up());
    args.insert(args.end(), {"--ebpf-bpffs-path", ebpfLab.bpffs(), "--ebpf-cgroup-path", ebpfLab.cgroup()});
  }
  check(proxy.start(lab.ns("node"), exe, args, work + "/kproxy-" + mode.name + "-" + std::to_string(services) + ".log"));
  row.fullSyncSeconds = take(proxy.waitForSync(true, 1, 1800));
  row.kernelObjects = countKernelObjects(lab, ebpfLab, mode.name);
  if (ebpfMode) row.mapMemlockBytes = ebpfLab.mapMemlockBytes();

  for (int i = 0; i < o.repeat; ++i) {
    interrupted();
    progress(tag + ": connections to the ClusterIP (" + std::to_string(i + 1) + "/" + std::to_string(o.repeat) + ")");
    // ebpf mode balances the connections of processes in its cgroup: the bench's, meanwhile.
    if (ebpfMode) check(ebpfLab.enter());
    auto rate = measureConnections(lab.ns("client"), kTargetIP, kTargetPort, o.duration, o.clients);
    auto direct = ebpfMode ? measureConnections(lab.ns("client"), NetnsLab::podIP(1), kPodPort, o.duration, o.clients)
                           : Result<ConnStats>(ConnStats{});
    if (ebpfMode) ebpfLab.leave();
    vip.push_back(take(std::move(rate)));
    if (ebpfMode) pod.push_back(take(std::move(direct)));
  }
  row.clusterIP = median(vip);
  row.pod = median(pod);

  std::vector<double> partial;
  for (int g = 1; g <= o.changes; ++g) {
    interrupted();
    progress(tag + ": endpoint change " + std::to_string(g) + "/" + std::to_string(o.changes));
    check(writeChange(dir, o.endpoints, g));
    partial.push_back(take(proxy.waitForSync(false, static_cast<size_t>(g), 120)));
  }
  std::sort(partial.begin(), partial.end());
  row.partialSyncSeconds = partial[partial.size() / 2];
  row.peakRssBytes = proxy.peakRssBytes();
  proxy.stop();
  servers.stop();
  ebpfLab.down();
  return row;
}

}  // namespace

int runBench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options o;
  if (std::find(args.begin(), args.end(), "--help") != args.end() || std::find(args.begin(), args.end(), "-h") != args.end()) {
    out << kUsage;
    return 0;
  }
  if (std::string problem = parse(args, o); !problem.empty()) {
    err << "kproxy bench: " << problem << "\n" << kUsage;
    return 2;
  }
  if (::geteuid() != 0) {
    err << "kproxy bench: needs root (it creates network namespaces)\n";
    return 2;
  }
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  auto modes = expandModes(o.modes, err);
  if (modes.empty()) {
    err << "kproxy bench: no mode to measure\n";
    return 1;
  }
  char tmpl[] = "/tmp/kproxy-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    err << "kproxy bench: cannot create a work directory in /tmp\n";
    return 1;
  }
  std::string work = tmpl;

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  struct sigaction oldInt {}, oldTerm {};
  ::sigaction(SIGINT, &sa, &oldInt);
  ::sigaction(SIGTERM, &sa, &oldTerm);

  std::vector<BenchRow> rows;
  bool failed = false;
  Progress progress(err);
  size_t total = modes.size() * o.services.size(), n = 0;
  for (int services : o.services) {
    for (const auto& mode : modes) {
      if (gInterrupted) break;
      std::string tag = "[" + std::to_string(++n) + "/" + std::to_string(total) + "] " + mode.name + " " +
                        std::to_string(services);
      try {
        rows.push_back(measureRow(o, mode, services, exe, work, tag, progress));
      } catch (const RowError& e) {
        progress.done();
        err << "kproxy bench: " << mode.name << " with " << services << " Services: " << e.message << "\n";
        failed = true;
      }
    }
  }
  progress.done();
  ::sigaction(SIGINT, &oldInt, nullptr);
  ::sigaction(SIGTERM, &oldTerm, nullptr);
  std::error_code ec;
  std::filesystem::remove_all(work, ec);

  out << formatTable(rows);
  out << "(sync: kproxy's own account, desired state + render + kernel; partial: median of " << o.changes
      << " one-endpoint changes;\n ClusterIP/s, pod IP/s: short TCP connections per second, median of " << o.repeat
      << " x " << o.duration << " s; ratio = ClusterIP / pod; p50/p99: ClusterIP connection latency)\n";
  for (const auto& r : rows)
    if (r.mapMemlockBytes >= 0)
      out << "ebpf maps at " << r.services << " Services: " << r.mapMemlockBytes / (1024 * 1024) << " MiB locked (memlock)\n";
  out << "\n";
  out << formatSyncBudget(rows, 30, [](double full, double period) {
    daemon::SyncScheduler::Options opts;
    opts.syncPeriod = std::chrono::duration_cast<daemon::SyncScheduler::Duration>(std::chrono::duration<double>(period));
    auto interval = daemon::SyncScheduler::fullSyncInterval(
        std::chrono::duration_cast<daemon::SyncScheduler::Duration>(std::chrono::duration<double>(full)), opts);
    return std::chrono::duration<double>(interval).count();
  });
  auto writeFile = [&](const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) {
      err << "kproxy bench: cannot write " << path << "\n";
      failed = true;
    }
  };
  if (!o.csv.empty()) writeFile(o.csv, formatCsv(rows));
  if (!o.svg.empty()) writeFile(o.svg, renderSvg(rows));
  if (gInterrupted) return 130;
  return failed ? 1 : 0;
}

}  // namespace kproxy::benchcmd
