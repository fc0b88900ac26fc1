// kproxy's debug endpoint (`--profiling` / enableProfiling, where upstream serves Go's pprof):
// /debug/kproxy/ on the metrics port shows what the proxy last programmed, per family and per
// Service, as JSON, to answer "what does kproxy think this Service is" without kernel tools.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/http_server.h"
#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"

namespace kproxy::daemon {

struct DebugView {
  std::string version, mode, node;
  std::vector<std::shared_ptr<const dataplane::DesiredState>> applied;  // each family's last applied state
  dataplane::NodeInfo nodeInfo;
  std::vector<uint16_t> healthCheckPorts;  // listening
};

// `path` under /debug/kproxy: "/" (index), "/state" (summary), "/services" (every Service port
// and its endpoints), "/services/NAMESPACE/NAME" (one Service); 404 otherwise.
HttpResponse debugResponse(const std::string& path, const DebugView& view);

}  // namespace kproxy::daemon
