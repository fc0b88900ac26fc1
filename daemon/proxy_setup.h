// What the daemon and the tools that must see the node as it does (kproxy trace) derive from a
// configuration: this node's name and addresses, and each family's render options.
#pragma once

#include <string>
#include <vector>

#include "daemon/config.h"
#include "dataplane/proxy_options.h"

namespace kproxy::daemon {

// --hostname-override, else the host name; trimmed and lower-cased as kube-proxy matches it.
std::string nodeNameFrom(const ProxyConfig& cfg);

// The addresses of this network namespace's interfaces (kube-proxy's NodePort addresses).
std::vector<std::string> localAddresses(model::IPFamily family);

// The options every mode's renderer takes, for one family.
dataplane::ProxyOptions proxyOptionsFor(const ProxyConfig& cfg, model::IPFamily family);

}  // namespace kproxy::daemon
