#include "daemon/conntrack_cleanup.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/ip.h"
#include "dataplane/log.h"

namespace kproxy::daemon {

namespace {
std::string hostPort(const std::string& ip, uint16_t port) { return ip + "|" + std::to_string(port); }
}  // namespace

StaleUdpMatcher::StaleUdpMatcher(const dataplane::DesiredState& state) {
  for (const auto& p : state.ports) {
    if (p.protocol != model::Protocol::kUDP) continue;
    std::set<std::string> allowed;
    for (size_t i : p.reachableEndpoints) allowed.insert(hostPort(p.endpoints[i].ip, p.endpoints[i].port));
    auto add = [&](const std::string& ip) { servicePorts_[hostPort(ip, p.port)].insert(allowed.begin(), allowed.end()); };
    add(p.clusterIP);
    for (const auto& ip : p.externalIPs) add(ip);
    for (const auto& ip : p.loadBalancerVIPs) add(ip);
    if (p.nodePort) nodePorts_[p.nodePort].insert(allowed.begin(), allowed.end());
  }
}

bool StaleUdpMatcher::stale(const FlowKey& f) const {
  std::string reply = hostPort(f.replySrc, f.replySrcPort);
  auto it = servicePorts_.find(hostPort(f.origDst, f.origDstPort));
  if (it != servicePorts_.end()) return !it->second.count(reply);
  auto np = nodePorts_.find(f.origDstPort);
  // A NodePort flow is one whose reply does not come back from the address it was sent to.
  if (np != nodePorts_.end() && !(f.replySrc == f.origDst && f.replySrcPort == f.origDstPort))
    return !np->second.count(reply);
  if (np != nodePorts_.end()) return true;  // un-DNATed flow to a NodePort: held a REJECT
  return false;
}

namespace {

std::set<std::string> reachable(const dataplane::ServicePortInfo& p) {
  std::set<std::string> out;
  for (size_t i : p.reachableEndpoints) out.insert(p.endpoints[i].hostPort);
  return out;
}

bool portLeavesStaleFlows(const dataplane::ServicePortInfo* before, const dataplane::ServicePortInfo& now) {
  if (!before) return !now.reachableEndpoints.empty();
  if (before->clusterIP != now.clusterIP || before->nodePort != now.nodePort || before->port != now.port ||
      before->externalIPs != now.externalIPs || before->loadBalancerVIPs != now.loadBalancerVIPs)
    return true;
  auto was = reachable(*before), is = reachable(now);
  if (was.empty()) return !is.empty();
  return !std::includes(is.begin(), is.end(), was.begin(), was.end());
}

}  // namespace

bool udpFlowsMayBeStale(const dataplane::DesiredState* before, const dataplane::DesiredState& now) {
  const auto& cur = now.ports.pointers();
  if (!before) {
    return std::any_of(cur.begin(), cur.end(), [](const auto& p) { return p->protocol == model::Protocol::kUDP; });
  }
  // Both lists are sorted by name: walk them together.
  const auto& old = before->ports.pointers();
  auto o = old.begin();
  for (const auto& p : cur) {
    while (o != old.end() && (*o)->name < p->name) ++o;
    if (o != old.end() && *o == p) continue;  // shared: unchanged
    if (p->protocol != model::Protocol::kUDP) continue;
    const dataplane::ServicePortInfo* prev = (o != old.end() && (*o)->name == p->name) ? o->get() : nullptr;
    if (portLeavesStaleFlows(prev, *p)) return true;
  }
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
  StaleUdpMatcher matcher(now);
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
