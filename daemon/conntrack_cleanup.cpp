#include "daemon/conntrack_cleanup.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "dataplane/ip.h"
#include "dataplane/log.h"

namespace kproxy::daemon {

namespace {
std::string hostPort(const std::string& ip, uint16_t port) { return ip + "|" + std::to_string(port); }
}  // namespace

namespace {

// Who may answer a UDP flow to this port: every serving endpoint (upstream's reconciler), and
// whatever the rules send to (ready ones; nothing else is ever chosen).
std::set<std::string> allowedRepliers(const dataplane::ServicePortInfo& p, bool hostPortForm) {
  std::set<std::string> out;
  auto add = [&](const dataplane::EndpointInfo& e) { out.insert(hostPortForm ? e.hostPort : hostPort(e.ip, e.port)); };
  // Serving ones only, as upstream's reconciler: even one the rules use (ready, but explicitly
  // not serving, which the API's controllers never write) loses its flows (TestCleanStaleEntries).
  for (const auto& e : p.endpoints)
    if (e.serving) add(e);
  return out;
}

template <typename Fn>
void forEachAddress(const dataplane::ServicePortInfo& p, Fn fn) {
  fn(p.clusterIP);
  for (const auto& ip : p.externalIPs) fn(ip);
  for (const auto& ip : p.loadBalancerVIPs) fn(ip);
}

}  // namespace

StaleUdpMatcher::StaleUdpMatcher(const dataplane::DesiredState& state, const dataplane::DesiredState* before) {
  for (const auto& p : state.ports) {
    if (p.protocol != model::Protocol::kUDP) continue;
    const auto allowed = allowedRepliers(p, false);
    forEachAddress(p, [&](const std::string& ip) { servicePorts_[hostPort(ip, p.port)].insert(allowed.begin(), allowed.end()); });
    if (p.nodePort) nodePorts_[p.nodePort].insert(allowed.begin(), allowed.end());
  }
  if (!before) return;
  for (const auto& p : before->ports) {
    if (p.protocol != model::Protocol::kUDP) continue;
    forEachAddress(p, [&](const std::string& ip) {
      if (!servicePorts_.count(hostPort(ip, p.port))) goneServices_.insert(hostPort(ip, p.port));
    });
    if (p.nodePort && !nodePorts_.count(p.nodePort)) goneNodePorts_.insert(p.nodePort);
  }
}

bool StaleUdpMatcher::stale(const FlowKey& f) const {
  std::string reply = hostPort(f.replySrc, f.replySrcPort);
  const bool translated = !(f.replySrc == f.origDst && f.replySrcPort == f.origDstPort);
  auto it = servicePorts_.find(hostPort(f.origDst, f.origDstPort));
  if (it != servicePorts_.end()) return !it->second.count(reply);
  // A deleted Service's address: its DNATed flows would reach the old pods until they idle out.
  if (goneServices_.count(hostPort(f.origDst, f.origDstPort))) return translated;
  auto np = nodePorts_.find(f.origDstPort);
  // A NodePort flow is one whose reply does not come back from the address it was sent to.
  if (np != nodePorts_.end() && translated) return !np->second.count(reply);
  if (np != nodePorts_.end()) return true;  // un-DNATed flow to a NodePort: held a REJECT
  if (goneNodePorts_.count(f.origDstPort)) return translated;
  return false;
}

namespace {

bool portLeavesStaleFlows(const dataplane::ServicePortInfo* before, const dataplane::ServicePortInfo& now) {
  if (!before) return !now.reachableEndpoints.empty();
  if (before->clusterIP != now.clusterIP || before->nodePort != now.nodePort || before->port != now.port ||
      before->externalIPs != now.externalIPs || before->loadBalancerVIPs != now.loadBalancerVIPs)
    return true;
  auto was = allowedRepliers(*before, true), is = allowedRepliers(now, true);
  if (was.empty()) return !is.empty();
  return !std::includes(is.begin(), is.end(), was.begin(), was.end());
}

}  // namespace

bool udpFlowsMayBeStale(const dataplane::DesiredState* before, const dataplane::DesiredState& now) {
  const auto& cur = now.ports;
  if (!before) {
    return std::any_of(cur.begin(), cur.end(), [](const auto& p) { return p.protocol == model::Protocol::kUDP; });
  }
  // Both lists are sorted by name: walk them together; a chunk both share holds no change.
  const auto& old = before->ports;
  auto o = old.begin();
  auto deletedUdp = [](const dataplane::ServicePortInfo& p) {
    return p.protocol == model::Protocol::kUDP && !p.endpoints.empty();  // flows may be DNATed to its pods
  };
  std::set<const dataplane::PortList::Vec*> shared;
  for (const auto& c : old.chunks()) shared.insert(c.get());
  size_t at = 0;
  for (const auto& chunk : cur.chunks()) {
    auto p = cur.begin() + static_cast<std::ptrdiff_t>(at);
    at += chunk->size();
    if (shared.count(chunk.get())) {
      // The same ports in both: skip them in `before` too (deleted ones before them still count).
      for (; o != old.end() && o->name < chunk->front()->name; ++o)
        if (deletedUdp(*o)) return true;
      if (o != old.end() && o.ptr() == chunk->front()) {
        o += static_cast<std::ptrdiff_t>(chunk->size());
        continue;
      }
    }
    for (auto end = cur.begin() + static_cast<std::ptrdiff_t>(at); p != end; ++p) {
      for (; o != old.end() && o->name < p->name; ++o)  // in `before` only: deleted
        if (deletedUdp(*o)) return true;
      const dataplane::ServicePortInfo* prev = nullptr;
      if (o != old.end() && o->name == p->name) {
        prev = &*o;
        ++o;
        if (prev == &*p) continue;  // shared: unchanged
      }
      if (p->protocol != model::Protocol::kUDP) continue;
      if (portLeavesStaleFlows(prev, *p)) return true;
    }
  }
  for (; o != old.end(); ++o)
    if (deletedUdp(*o)) return true;
  return false;
}

namespace {

struct DumpContext {
  const StaleUdpMatcher* matcher;
  int family;
  std::vector<nf_conntrack*> doomed;
};

std::string addrOf(const nf_conntrack* ct, int family, bool orig) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    uint32_t a = nfct_get_attr_u32(ct, orig ? ATTR_ORIG_IPV4_DST : ATTR_REPL_IPV4_SRC);
    inet_ntop(AF_INET, &a, buf, sizeof buf);
  } else {
    const void* a = nfct_get_attr(ct, orig ? ATTR_ORIG_IPV6_DST : ATTR_REPL_IPV6_SRC);
    if (a) inet_ntop(AF_INET6, a, buf, sizeof buf);
  }
  return buf;
}

int onEntry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* ctx = static_cast<DumpContext*>(data);
  if (nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_UDP) return NFCT_CB_CONTINUE;
  FlowKey f;
  f.origDst = addrOf(ct, ctx->family, true);
  f.origDstPort = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  f.replySrc = addrOf(ct, ctx->family, false);
  f.replySrcPort = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
  if (ctx->matcher->stale(f)) ctx->doomed.push_back(nfct_clone(ct));
  return NFCT_CB_CONTINUE;
}

}  // namespace

size_t cleanStaleUdpConntrack(const dataplane::DesiredState* before, const dataplane::DesiredState& now) {
  if (!udpFlowsMayBeStale(before, now)) return 0;
  StaleUdpMatcher matcher(now, before);
  if (matcher.empty()) return 0;
  int family = now.family == model::IPFamily::kIPv4 ? AF_INET : AF_INET6;
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (!h) {
    log::error(std::string("conntrack: cannot open netlink: ") + std::strerror(errno));
    return 0;
  }
  DumpContext ctx{&matcher, family, {}};
  nfct_callback_register(h, NFCT_T_ALL, onEntry, &ctx);
  uint32_t fam = static_cast<uint32_t>(family);
  if (nfct_query(h, NFCT_Q_DUMP, &fam) < 0)
    log::error(std::string("conntrack: dump failed: ") + std::strerror(errno));
  size_t deleted = 0;
  for (nf_conntrack* ct : ctx.doomed) {
    // ENOENT: the entry expired meanwhile, which is what we wanted anyway.
    if (nfct_query(h, NFCT_Q_DESTROY, ct) == 0 || errno == ENOENT) ++deleted;
    else log::warning(std::string("conntrack: delete failed: ") + std::strerror(errno));
    nfct_destroy(ct);
  }
  nfct_close(h);
  if (deleted) log::info("conntrack: deleted " + std::to_string(deleted) + " stale UDP flows");
  return deleted;
}

}  // namespace kproxy::daemon
