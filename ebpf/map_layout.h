// The eBPF mode's maps as value types and the pure plan `desired state -> map entries -> writes`
// (the BPF side's layout is bpf/lb_maps.h; these convert to it).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"
#include "ebpf/bpf/lb_maps.h"

namespace kproxy::ebpf {

// A Service address:port/protocol, host byte order.
struct SvcKey {
  uint32_t addr = 0;
  uint16_t port = 0;
  uint8_t proto = 0;  // IPPROTO_*
  auto operator<=>(const SvcKey&) const = default;
  kproxy_svc_key raw() const;
  static SvcKey from(const kproxy_svc_key& k);
  std::string str() const;  // "10.96.0.10:53/udp"
};

struct SvcValue {
  uint32_t count = 0;  // 0: connections are refused
  uint32_t affinitySecs = 0;
  bool operator==(const SvcValue&) const = default;
  kproxy_svc_value raw() const { return {count, affinitySecs}; }
};

struct BeKey {
  SvcKey svc;
  uint32_t slot = 0;
  auto operator<=>(const BeKey&) const = default;
  kproxy_be_key raw() const { return {svc.raw(), slot}; }
  static BeKey from(const kproxy_be_key& k) { return {SvcKey::from(k.svc), k.slot}; }
};

// An endpoint, host byte order.
struct BeValue {
  uint32_t addr = 0;
  uint16_t port = 0;
  auto operator<=>(const BeValue&) const = default;
  kproxy_be_value raw() const;
  static BeValue from(const kproxy_be_value& v);
  std::string str() const;  // "10.244.1.2:8080"
};

// What the services and backends maps hold (for a state, or some of its Services).
struct MapEntries {
  std::map<SvcKey, SvcValue> services;
  std::map<BeKey, BeValue> backends;
  bool operator==(const MapEntries&) const = default;
};

// What the entries depend on besides the Services: the node addresses NodePorts answer on.
struct EntryOptions {
  std::vector<std::string> nodePortIPs;  // IPv4, loopback excluded
};
// The node's addresses that nodePortAddresses selects (all of them when it is empty).
EntryOptions entryOptionsFor(const dataplane::ProxyOptions& options);

// The entries one IPv4 service port needs: its ClusterIP leads to the endpoints its internal
// traffic policy selects; its external IPs and load-balancer IPs (without source ranges), reached
// from this node, short-circuit to the Cluster endpoints as upstream's rules do; so does its
// NodePort on each node address (every policy: traffic from this node). No endpoint to
// go to: the entry says so (count 0) and connections are refused.
void addEntries(const dataplane::ServicePortInfo& port, const EntryOptions& options, MapEntries& out);
MapEntries entriesOf(const dataplane::DesiredState& state, const EntryOptions& options);
// The entries of one Service's ports in `state` (none when it has none).
MapEntries entriesOf(const dataplane::DesiredState& state, const model::NamespacedName& svc, const EntryOptions& options);

// Writes that take the maps from `have` to `want`, in an order under which a connection never
// reads a slot that is not there yet: new and changed slots, then Service entries (a grown count
// after its slots, a shrunk one before the slots beyond it go), then deletions.
struct MapWrites {
  std::vector<std::pair<BeKey, BeValue>> backendUpserts;
  std::vector<std::pair<SvcKey, SvcValue>> serviceUpserts;
  std::vector<SvcKey> serviceDeletes;
  std::vector<BeKey> backendDeletes;
  size_t size() const {
    return backendUpserts.size() + serviceUpserts.size() + serviceDeletes.size() + backendDeletes.size();
  }
  bool empty() const { return size() == 0; }
};
MapWrites diff(const MapEntries& have, const MapEntries& want);

// `kproxy render --proxy-mode ebpf`: the entries as text, one per line, sorted.
std::string renderText(const MapEntries& entries);

}  // namespace kproxy::ebpf
