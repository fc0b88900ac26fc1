// kproxy: Kubernetes service dataplane daemon and its tools (entry point and subcommand dispatch).
#include <iostream>
#include <string>
#include <vector>

#include "daemon/render_command.h"

namespace {

constexpr const char* kUsage = R"(kproxy: a drop-in replacement for kube-proxy

Usage:
  kproxy render --manifests PATH... [options]   print the rules for a set of manifests
  kproxy help                                   this text

Run "kproxy render --help" for the render options.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "render") {
    return kproxy::daemon::runRender({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  std::cerr << "kproxy: unknown command \"" << args[0]
            << "\"; the daemon (sync loop) is not built yet, see \"kproxy help\"\n";
  return 2;
}
