#include "ipvs/ipvs_message.h"

#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <netinet/in.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>

#include "dataplane/ip.h"

namespace kproxy::ipvs {
namespace {

struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgDeleter>;

uint8_t ipProto(Protocol p) {
  switch (p) {
    case Protocol::kTCP: return IPPROTO_TCP;
    case Protocol::kUDP: return IPPROTO_UDP;
    case Protocol::kSCTP: return IPPROTO_SCTP;
  }
  return IPPROTO_TCP;
}

// union nf_inet_addr: 16 bytes whatever the family, as ipvsadm sends it.
void putAddress(nl_msg* m, int attr, IPFamily family, const std::string& text) {
  unsigned char buf[16] = {};
  inet_pton(family == IPFamily::kIPv6 ? AF_INET6 : AF_INET, text.c_str(), buf);
  nla_put(m, attr, sizeof buf, buf);
}

Result<std::string> readAddress(nlattr* a, IPFamily family) {
  if (!a) return Status::error("no address");
  size_t need = family == IPFamily::kIPv6 ? 16 : 4;
  if (static_cast<size_t>(nla_len(a)) < need) return Status::error("short address");
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == IPFamily::kIPv6 ? AF_INET6 : AF_INET, nla_data(a), out, sizeof out);
  return std::string(out);
}

void putServiceKey(nl_msg* m, const ServiceKey& k) {
  nla_put_u16(m, IPVS_SVC_ATTR_AF, k.family == IPFamily::kIPv6 ? AF_INET6 : AF_INET);
  nla_put_u16(m, IPVS_SVC_ATTR_PROTOCOL, ipProto(k.protocol));
  putAddress(m, IPVS_SVC_ATTR_ADDR, k.family, k.address);
  nla_put_u16(m, IPVS_SVC_ATTR_PORT, htons(k.port));
}

void putService(nl_msg* m, const VirtualServer& s, bool full) {
  nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_SERVICE);
  putServiceKey(m, s.key);
  if (full) {
    nla_put_string(m, IPVS_SVC_ATTR_SCHED_NAME, s.scheduler.c_str());
    ip_vs_flags flags{s.flags, ~0u};
    nla_put(m, IPVS_SVC_ATTR_FLAGS, sizeof flags, &flags);
    nla_put_u32(m, IPVS_SVC_ATTR_TIMEOUT, s.timeout);
    nla_put_u32(m, IPVS_SVC_ATTR_NETMASK, s.key.family == IPFamily::kIPv6 ? 128 : 0xffffffff);
  }
  nla_nest_end(m, nest);
}

void putDestination(nl_msg* m, IPFamily family, const Destination& d, bool full) {
  nlattr* nest = nla_nest_start(m, IPVS_CMD_ATTR_DEST);
  putAddress(m, IPVS_DEST_ATTR_ADDR, family, d.address);
  nla_put_u16(m, IPVS_DEST_ATTR_PORT, htons(d.port));
  nla_put_u16(m, IPVS_DEST_ATTR_ADDR_FAMILY, family == IPFamily::kIPv6 ? AF_INET6 : AF_INET);
  if (full) {
    nla_put_u32(m, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ);
    nla_put_u32(m, IPVS_DEST_ATTR_WEIGHT, d.weight);
    nla_put_u32(m, IPVS_DEST_ATTR_U_THRESH, 0);
    nla_put_u32(m, IPVS_DEST_ATTR_L_THRESH, 0);
  }
  nla_nest_end(m, nest);
}

MsgPtr start(uint16_t familyId, uint32_t seq, uint8_t cmd, int flags) {
  MsgPtr m(nlmsg_alloc());
  genlmsg_put(m.get(), NL_AUTO_PORT, seq, familyId, 0, flags, cmd, IPVS_GENL_VERSION);
  nlmsg_hdr(m.get())->nlmsg_flags |= NLM_F_REQUEST;
  return m;
}

std::vector<uint8_t> bytes(nl_msg* m) {
  const nlmsghdr* h = nlmsg_hdr(m);
  const auto* p = reinterpret_cast<const uint8_t*>(h);
  return {p, p + h->nlmsg_len};
}

// The top-level attributes of a genl message, checked to lie within `len`.
bool parseTop(const uint8_t* msg, size_t len, nlattr** tb) {
  if (len < NLMSG_HDRLEN + GENL_HDRLEN) return false;
  auto* h = reinterpret_cast<nlmsghdr*>(const_cast<uint8_t*>(msg));
  if (h->nlmsg_len > len || h->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) return false;
  return genlmsg_parse(h, 0, tb, IPVS_CMD_ATTR_MAX, nullptr) == 0;
}

}  // namespace

std::vector<uint8_t> encodeOperation(const Operation& op, uint16_t familyId, uint32_t seq) {
  static constexpr uint8_t kCmd[] = {IPVS_CMD_NEW_SERVICE, IPVS_CMD_SET_SERVICE, IPVS_CMD_DEL_SERVICE,
                                     IPVS_CMD_NEW_DEST,    IPVS_CMD_SET_DEST,    IPVS_CMD_DEL_DEST};
  MsgPtr m = start(familyId, seq, kCmd[static_cast<int>(op.kind)], NLM_F_ACK);
  switch (op.kind) {
    case OpKind::kAddService:
    case OpKind::kEditService: putService(m.get(), op.server, true); break;
    case OpKind::kDeleteService: putService(m.get(), op.server, false); break;
    case OpKind::kAddDestination:
    case OpKind::kEditDestination:
      putService(m.get(), op.server, false);
      putDestination(m.get(), op.server.key.family, op.destination, true);
      break;
    case OpKind::kDeleteDestination:
      putService(m.get(), op.server, false);
      putDestination(m.get(), op.server.key.family, op.destination, false);
      break;
  }
  return bytes(m.get());
}

std::vector<uint8_t> encodeSetTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp, uint16_t familyId, uint32_t seq) {
  MsgPtr m = start(familyId, seq, IPVS_CMD_SET_CONFIG, NLM_F_ACK);
  nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_TCP, tcp);
  nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcpFin);
  nla_put_u32(m.get(), IPVS_CMD_ATTR_TIMEOUT_UDP, udp);
  return bytes(m.get());
}

std::vector<uint8_t> encodeListServices(uint16_t familyId, uint32_t seq) {
  return bytes(start(familyId, seq, IPVS_CMD_GET_SERVICE, NLM_F_DUMP).get());
}

std::vector<uint8_t> encodeListDestinations(const ServiceKey& key, uint16_t familyId, uint32_t seq) {
  MsgPtr m = start(familyId, seq, IPVS_CMD_GET_DEST, NLM_F_DUMP);
  VirtualServer s;
  s.key = key;
  putService(m.get(), s, false);
  return bytes(m.get());
}

Result<VirtualServer> decodeService(const uint8_t* msg, size_t len) {
  nlattr* tb[IPVS_CMD_ATTR_MAX + 1] = {};
  if (!parseTop(msg, len, tb) || !tb[IPVS_CMD_ATTR_SERVICE]) return Status::error("no service in message");
  nlattr* a[IPVS_SVC_ATTR_MAX + 1] = {};
  if (nla_parse_nested(a, IPVS_SVC_ATTR_MAX, tb[IPVS_CMD_ATTR_SERVICE], nullptr) != 0)
    return Status::error("malformed service attributes");
  if (a[IPVS_SVC_ATTR_FWMARK] && nla_get_u32(a[IPVS_SVC_ATTR_FWMARK]) != 0) return Status::error("fwmark service");
  if (!a[IPVS_SVC_ATTR_AF] || !a[IPVS_SVC_ATTR_PROTOCOL] || !a[IPVS_SVC_ATTR_PORT])
    return Status::error("service without family, protocol or port");
  VirtualServer s;
  uint16_t af = nla_get_u16(a[IPVS_SVC_ATTR_AF]);
  if (af != AF_INET && af != AF_INET6) return Status::error("family " + std::to_string(af));
  s.key.family = af == AF_INET6 ? IPFamily::kIPv6 : IPFamily::kIPv4;
  switch (nla_get_u16(a[IPVS_SVC_ATTR_PROTOCOL])) {
    case IPPROTO_TCP: s.key.protocol = Protocol::kTCP; break;
    case IPPROTO_UDP: s.key.protocol = Protocol::kUDP; break;
    case IPPROTO_SCTP: s.key.protocol = Protocol::kSCTP; break;
    default: return Status::error("protocol " + std::to_string(nla_get_u16(a[IPVS_SVC_ATTR_PROTOCOL])));
  }
  auto addr = readAddress(a[IPVS_SVC_ATTR_ADDR], s.key.family);
  if (!addr) return addr.status();
  s.key.address = addr.value();
  s.key.port = ntohs(nla_get_u16(a[IPVS_SVC_ATTR_PORT]));
  if (a[IPVS_SVC_ATTR_SCHED_NAME]) s.scheduler = nla_get_string(a[IPVS_SVC_ATTR_SCHED_NAME]);
  if (a[IPVS_SVC_ATTR_FLAGS] && nla_len(a[IPVS_SVC_ATTR_FLAGS]) >= static_cast<int>(sizeof(ip_vs_flags))) {
    ip_vs_flags f;
    std::memcpy(&f, nla_data(a[IPVS_SVC_ATTR_FLAGS]), sizeof f);
    s.flags = f.flags;
  }
  if (a[IPVS_SVC_ATTR_TIMEOUT]) s.timeout = nla_get_u32(a[IPVS_SVC_ATTR_TIMEOUT]);
  return s;
}

Result<Destination> decodeDestination(const uint8_t* msg, size_t len, IPFamily family) {
  nlattr* tb[IPVS_CMD_ATTR_MAX + 1] = {};
  if (!parseTop(msg, len, tb) || !tb[IPVS_CMD_ATTR_DEST]) return Status::error("no destination in message");
  nlattr* a[IPVS_DEST_ATTR_MAX + 1] = {};
  if (nla_parse_nested(a, IPVS_DEST_ATTR_MAX, tb[IPVS_CMD_ATTR_DEST], nullptr) != 0)
    return Status::error("malformed destination attributes");
  if (a[IPVS_DEST_ATTR_ADDR_FAMILY]) {
    uint16_t af = nla_get_u16(a[IPVS_DEST_ATTR_ADDR_FAMILY]);
    family = af == AF_INET6 ? IPFamily::kIPv6 : IPFamily::kIPv4;
  }
  if (!a[IPVS_DEST_ATTR_PORT]) return Status::error("destination without port");
  Destination d;
  auto addr = readAddress(a[IPVS_DEST_ATTR_ADDR], family);
  if (!addr) return addr.status();
  d.address = addr.value();
  d.port = ntohs(nla_get_u16(a[IPVS_DEST_ATTR_PORT]));
  if (a[IPVS_DEST_ATTR_WEIGHT]) d.weight = nla_get_u32(a[IPVS_DEST_ATTR_WEIGHT]);
  if (a[IPVS_DEST_ATTR_ACTIVE_CONNS]) d.activeConns = nla_get_u32(a[IPVS_DEST_ATTR_ACTIVE_CONNS]);
  if (a[IPVS_DEST_ATTR_INACT_CONNS]) d.inactiveConns = nla_get_u32(a[IPVS_DEST_ATTR_INACT_CONNS]);
  return d;
}

}  // namespace kproxy::ipvs
