#include "ipvs/dummy_link.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include <cerrno>
#include <cstring>

namespace kproxy::ipvs {
namespace {

int af(model::IPFamily f) { return f == model::IPFamily::kIPv6 ? AF_INET6 : AF_INET; }

std::string text(nl_addr* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(nl_addr_get_family(a), nl_addr_get_binary_addr(a), buf, sizeof buf);
  return buf;
}

}  // namespace

NetlinkDummyLink::NetlinkDummyLink() = default;
NetlinkDummyLink::~NetlinkDummyLink() {
  if (sock_) nl_socket_free(sock_);
}

Status NetlinkDummyLink::connect() {
  if (sock_) return Status::ok();
  sock_ = nl_socket_alloc();
  if (!sock_) return Status::error("rtnetlink: cannot allocate a socket");
  int err = nl_connect(sock_, NETLINK_ROUTE);
  if (err < 0) {
    nl_socket_free(sock_);
    sock_ = nullptr;
    return Status::error(std::string("rtnetlink: ") + nl_geterror(err));
  }
  return Status::ok();
}

int NetlinkDummyLink::ifindex() { return static_cast<int>(if_nametoindex(kDummyDevice)); }

Status NetlinkDummyLink::ensure() {
  if (ifindex() > 0) return Status::ok();
  if (auto s = connect(); !s) return s;
  rtnl_link* link = rtnl_link_alloc();
  rtnl_link_set_name(link, kDummyDevice);
  int err = rtnl_link_set_type(link, "dummy");
  if (err >= 0) err = rtnl_link_add(sock_, link, NLM_F_CREATE);
  rtnl_link_put(link);
  if (err < 0 && err != -NLE_EXIST)
    return Status::error(std::string("creating ") + kDummyDevice + " (type dummy): " + nl_geterror(err));
  return Status::ok();
}

Result<std::set<std::string>> NetlinkDummyLink::list(model::IPFamily family, bool onDevice) {
  if (auto s = connect(); !s) return s;
  nl_cache* cache = nullptr;
  int err = rtnl_addr_alloc_cache(sock_, &cache);
  if (err < 0) return Status::error(std::string("listing addresses: ") + nl_geterror(err));
  const int index = ifindex();
  std::set<std::string> out;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_family(a) != af(family)) continue;
    if ((rtnl_addr_get_ifindex(a) == index) != onDevice) continue;
    if (nl_addr* local = rtnl_addr_get_local(a)) out.insert(text(local));
  }
  nl_cache_free(cache);
  return out;
}

Result<std::set<std::string>> NetlinkDummyLink::addresses(model::IPFamily family) {
  if (ifindex() <= 0) return std::set<std::string>{};
  return list(family, true);
}

Result<std::set<std::string>> NetlinkDummyLink::otherLocalAddresses(model::IPFamily family) {
  return list(family, false);
}

Status NetlinkDummyLink::change(model::IPFamily family, const std::string& ip, bool add) {
  if (auto s = connect(); !s) return s;
  const int index = ifindex();
  if (index <= 0) return Status::error(std::string(kDummyDevice) + " does not exist");
  nl_addr* local = nullptr;
  std::string spec = ip + (family == model::IPFamily::kIPv6 ? "/128" : "/32");
  int err = nl_addr_parse(spec.c_str(), af(family), &local);
  if (err < 0) return Status::error("address " + ip + ": " + nl_geterror(err));
  rtnl_addr* a = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(a, index);
  rtnl_addr_set_local(a, local);
  rtnl_addr_set_family(a, af(family));
  err = add ? rtnl_addr_add(sock_, a, NLM_F_CREATE | NLM_F_REPLACE) : rtnl_addr_delete(sock_, a, 0);
  rtnl_addr_put(a);
  nl_addr_put(local);
  if (err < 0 && !(add && err == -NLE_EXIST) && !(!add && (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND)))
    return Status::error(std::string(add ? "binding " : "unbinding ") + ip + (add ? " to " : " from ") +
                         kDummyDevice + ": " + nl_geterror(err));
  return Status::ok();
}

Status NetlinkDummyLink::add(model::IPFamily family, const std::string& ip) { return change(family, ip, true); }
Status NetlinkDummyLink::remove(model::IPFamily family, const std::string& ip) { return change(family, ip, false); }

Status deleteDummyDevice() {
  if (if_nametoindex(kDummyDevice) == 0) return Status::ok();
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Status::error("rtnetlink: cannot allocate a socket");
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err >= 0) {
    rtnl_link* link = rtnl_link_alloc();
    rtnl_link_set_name(link, kDummyDevice);
    err = rtnl_link_delete(sock, link);
    rtnl_link_put(link);
  }
  nl_socket_free(sock);
  if (err < 0) return Status::error(std::string("deleting ") + kDummyDevice + ": " + nl_geterror(err));
  return Status::ok();
}

}  // namespace kproxy::ipvs
