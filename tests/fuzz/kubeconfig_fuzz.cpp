// The kubeconfig and the KubeProxyConfiguration file: YAML from the node's disk or a ConfigMap.
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/config.h"
#include "watch/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto k = kproxy::watch::parseKubeconfig(text, "/nonexistent-kproxy-fuzz");
  if (!k) (void)k.error();
  auto c = kproxy::daemon::parseProxyConfig(text);
  if (!c) (void)c.error();
  return 0;
}
