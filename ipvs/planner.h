// The pure half of IPVS mode: what the kernel must hold for a set of Service ports (virtual
// servers, destinations, kube-ipvs0 addresses, ipset members), and the ordered operations that
// turn what it holds into that, draining removed TCP/SCTP destinations instead of cutting them.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dataplane/desired_state.h"
#include "dataplane/proxy_options.h"
#include "dataplane/status.h"
#include "ipvs/ipvs_types.h"

namespace kproxy::ipvs {

struct IpvsOptions {
  dataplane::ProxyOptions proxy;
  std::string scheduler = "rr";
  // Virtual servers on these addresses are never deleted as stale (--ipvs-exclude-cidrs).
  std::vector<net::Cidr> excludeCIDRs;
};

// Whether `name` can name an IPVS scheduler (--ipvs-scheduler): 1-15 of [a-z0-9_], as the
// kernel's IP_VS_SCHEDNAME_MAXLEN. Which ones exist is the kernel's to say (probeScheduler).
bool isSchedulerName(const std::string& name);
// The schedulers of mainline Linux, for messages.
inline constexpr const char* kSchedulerNames = "rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, fo, ovf, mh, twos";

class IpvsClient;
// Whether the kernel has `scheduler`, asked as upstream's CanUseIPVSProxier does: a virtual
// server using it (198.51.100.1:20000/tcp, documentation space) is created and deleted again.
Status probeScheduler(IpvsClient& client, const std::string& scheduler);

// net/ipv4/vs/conn_reuse_mode, as upstream decides it from the kernel release: before 4.1 the
// sysctl does not exist; from 5.9 the kernel's default (1) no longer stalls reused ports
// (kubernetes issue 93297) and is left as it is; in between it is set to 0.
enum class ConnReuse { kUnsupported, kLeave, kSetZero };
ConnReuse connReuseModeFor(const std::string& kernelRelease);

// Upstream's ipset names, for one family ("KUBE-6-..." for IPv6).
struct SetInfo {
  const char* name;  // IPv4 name
  const char* type;
  const char* comment;
};
const std::vector<SetInfo>& ipsetInfo();
std::string setName(const char* ipv4Name, IPFamily family);

// The options a node plans with: NodePorts only on the node addresses that are local here
// (`local`, normalized), never on loopback ones (IPVS does not serve them).
IpvsOptions withLocalNodeIPs(const IpvsOptions& opts, const std::set<std::string>& local);

// Whether a virtual server is kproxy's: its address is on kube-ipvs0 (`bound`) or in
// KUBE-IPVS-IPS, or it is a local address (`otherLocal`) whose port is in one of our NodePort
// sets. `sets`: the kernel's KUBE-* sets and members. (--ipvs-exclude-cidrs is the backend's.)
bool isOurs(const ServiceKey& key, const std::set<std::string>& bound, const std::set<std::string>& otherLocal,
            const std::map<std::string, std::set<std::string>>& sets);

// What some Service ports need from the kernel.
struct Fragment {
  std::map<ServiceKey, ObservedService> servers;        // destinations at weight 1
  std::set<std::string> addresses;                      // for kube-ipvs0
  std::map<std::string, std::set<std::string>> sets;    // set name -> members (ipset save text)
  // LB IP:ports whose loadBalancerSourceRanges leave the node out, as KUBE-IPVS-OUT-FILTER's
  // matches ("-s IP -m ipvs --vaddr IP --vproto tcp --vport 80"): IPVS takes the node's own
  // connections in OUTPUT, before the INPUT firewall could see them (upstream issue 119656).
  std::set<std::string> nodeDenied;
  bool operator==(const Fragment&) const;
  void merge(const Fragment& o);
};

// `otherLocal`: addresses already on other devices (not bound to kube-ipvs0 again).
Fragment planPorts(dataplane::PortList::Range ports, const IpvsOptions& opts, const std::set<std::string>& otherLocal);

// Every Service of a state, planned one by one (each Service's fragment into `perService` when
// given) and merged: a virtual server two Services claim goes to the first by name.
Fragment planState(const dataplane::DesiredState& state, const IpvsOptions& opts, const std::set<std::string>& otherLocal,
                   std::map<model::NamespacedName, Fragment>* perService = nullptr);

// `ipset restore` lines creating every set of one family (-exist: harmless when they exist).
std::string setCreateLines(IPFamily family);

// Operations that turn `current` (ours only) into `desired`. A destination that is no longer
// wanted: UDP at once; TCP/SCTP first to weight 0 (new connections avoid it), then deleted when
// it has no connections left or `drainExpired` says it waited long enough.
template <typename F>
std::vector<Operation> planOperations(const std::map<ServiceKey, ObservedService>& desired,
                                      const std::map<ServiceKey, ObservedService>& current, F drainExpired);

// Text of virtual servers sorted like `ipvsadm -Ln` (goldens, trace, logs).
std::string formatServers(const std::map<ServiceKey, ObservedService>& servers);

// --- implementation of the template ---
namespace detail {
void planServer(const ObservedService* want, const ObservedService* have, std::vector<Operation>& ops,
                const std::function<bool(const ServiceKey&, const Destination&)>& drainExpired);
}

template <typename F>
std::vector<Operation> planOperations(const std::map<ServiceKey, ObservedService>& desired,
                                      const std::map<ServiceKey, ObservedService>& current, F drainExpired) {
  std::vector<Operation> ops;
  std::function<bool(const ServiceKey&, const Destination&)> expired = drainExpired;
  for (const auto& [key, want] : desired) {
    auto it = current.find(key);
    detail::planServer(&want, it == current.end() ? nullptr : &it->second, ops, expired);
  }
  for (const auto& [key, have] : current)
    if (!desired.count(key)) detail::planServer(nullptr, &have, ops, expired);
  return ops;
}

}  // namespace kproxy::ipvs
