// kproxy: Kubernetes service dataplane daemon and its tools (entry point and subcommand dispatch).
#include <iostream>
#include <string>
#include <vector>

#include "benchcmd/bench_command.h"
#include "daemon/render_command.h"
#include "daemon/run_daemon.h"
#include "ebpf/loader.h"
#include "trace/trace_command.h"

namespace {

constexpr const char* kUsage = R"(kproxy: a drop-in replacement for kube-proxy

Usage:
  kproxy [flags]                                run the proxy (see kproxy --help)
  kproxy render --manifests PATH... [options]   print the rules for a set of manifests
  kproxy cleanup [--ebpf-bpffs-path DIR]        remove every rule any mode created, here
  kproxy ebpf-maps [BPFFS]                      print eBPF mode's pinned maps (default /sys/fs/bpf)
  kproxy trace IP:PORT[/proto] [options]        why a Service address answers, or not
  kproxy bench [options]                        compare the modes: sync times, connection rates
  kproxy help                                   this text

Run "kproxy render --help", "kproxy trace --help" or "kproxy bench --help" for their options.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (!args.empty() && args[0] == "render")
    return kproxy::daemon::runRender({args.begin() + 1, args.end()}, std::cout, std::cerr);
  if (!args.empty() && args[0] == "ebpf-maps") {
    std::string bpffs = args.size() > 1 ? args[1] : kproxy::ebpf::kDefaultBpffs;
    auto maps = kproxy::ebpf::readPinned(kproxy::ebpf::pinDirUnder(bpffs));
    if (!maps) {
      std::cerr << "kproxy ebpf-maps: " << maps.error() << "\n";
      return 1;
    }
    std::cout << kproxy::ebpf::renderText(maps.value());
    return 0;
  }
  if (!args.empty() && args[0] == "cleanup") {
    std::string bpffs = kproxy::ebpf::kDefaultBpffs;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i].rfind("--ebpf-bpffs-path=", 0) == 0) bpffs = args[i].substr(18);
      else if (args[i] == "--ebpf-bpffs-path" && i + 1 < args.size()) bpffs = args[++i];
      else {
        std::cerr << "kproxy cleanup: unknown argument " << args[i] << " (takes --ebpf-bpffs-path DIR)\n";
        return 2;
      }
    }
    return kproxy::daemon::runCleanup(bpffs);
  }
  if (!args.empty() && args[0] == "trace")
    return kproxy::trace::runTrace({args.begin() + 1, args.end()}, std::cout, std::cerr);
  if (!args.empty() && args[0] == "bench")
    return kproxy::benchcmd::runBench({args.begin() + 1, args.end()}, std::cout, std::cerr);
  if (!args.empty() && args[0].rfind("-", 0) != 0) {
    std::cerr << "kproxy: unknown command \"" << args[0] << "\"; see \"kproxy help\"\n";
    return 2;
  }
  return kproxy::daemon::runDaemon(args);
}
