// Every field of kube-proxy 1.37's KubeProxyConfiguration (v1alpha1) as data: upstream's default
// as `--write-config-to` writes it, the flag that also sets it, and what kproxy does with it.
// README's config table is generated from it; tests hold it to the decoder and the writer.
#pragma once

#include <string>
#include <vector>

#include "daemon/flag_table.h"

namespace kproxy::daemon {

struct ConfigFieldSpec {
  const char* path;             // "iptables.syncPeriod"
  const char* upstreamDefault;  // as upstream's --write-config-to writes it (YAML); Go's zero value where it omits the field
  Handling handling;
  // What kproxy does with it; "" for a field a flag also sets: that flag's help says it.
  const char* help;
};

const std::vector<ConfigFieldSpec>& configFieldTable();
// The flag whose config field `path` is, or nullptr.
const FlagSpec* flagForField(const std::string& path);
// README's config table.
std::string configTableMarkdown();

}  // namespace kproxy::daemon
