// Removing what kube-proxy modes leave in the kernel: iptables chains and jump rules (both
// backends, both families), ipsets, kube-ipvs0 and the nftables kube-proxy tables. Foreign
// rules and chains are never touched.
#pragma once

#include <string>
#include <vector>

#include "iptables/restore_runner.h"

namespace kproxy::daemon {

struct CleanupReport {
  std::vector<std::string> removed;  // one line per table/object kind, human readable
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
};

// `kproxy cleanup` / `--cleanup`: everything any mode creates. Idempotent.
// `ebpfPinDir`: eBPF mode's pins (<bpffs>/kproxy).
CleanupReport cleanupAll(const std::string& ebpfPinDir);

// At start-up, what modes other than `mode` left. iptables mode on `active`: the other backend's
// kube chains, IPVS-mode chains, ipsets, kube-ipvs0 and the nftables tables (our own live chains
// stay). nftables mode: every kube chain of both iptables backends, ipsets and kube-ipvs0 (our
// table stays).
// Every mode but eBPF's removes its pinned programs and maps under `ebpfPinDir`; eBPF mode removes
// the other modes' objects, as nftables mode does.
CleanupReport cleanupOtherModes(const std::string& mode, iptables::XtablesBackend active, const std::string& ebpfPinDir);

// The restore text that deletes the chains `doomed` selects from one table's iptables-save
// output, and the jump rules into them from built-in chains (pure, for tests).
std::string cleanupRestoreText(const std::string& table, const std::string& saveText, bool (*doomed)(std::string_view),
                               size_t* rules, size_t* chains);

}  // namespace kproxy::daemon
