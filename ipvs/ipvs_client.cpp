#include "ipvs/ipvs_client.h"

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "ipvs/ipvs_message.h"

namespace kproxy::ipvs {
namespace {

// Operations per sendmsg: their acknowledgements must fit the socket's receive buffer.
constexpr size_t kBatch = 128;

bool isAdd(OpKind k) { return k == OpKind::kAddService || k == OpKind::kAddDestination; }
bool isDelete(OpKind k) { return k == OpKind::kDeleteService || k == OpKind::kDeleteDestination; }

std::string errnoText(int err) { return std::strerror(err); }

}  // namespace

Result<std::unique_ptr<NetlinkIpvsClient>> NetlinkIpvsClient::open() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Status::error("ipvs: cannot allocate a netlink socket");
  int err = genl_connect(sock);
  if (err < 0) {
    nl_socket_free(sock);
    return Status::error(std::string("ipvs: generic netlink: ") + nl_geterror(err));
  }
  int family = genl_ctrl_resolve(sock, "IPVS");
  if (family < 0) {
    nl_socket_free(sock);
    return Status::error(std::string("ipvs: this kernel has no IPVS (load the ip_vs module): ") + nl_geterror(family));
  }
  nl_socket_set_buffer_size(sock, 1 << 20, 1 << 20);
  nl_socket_enable_msg_peek(sock);
  return std::unique_ptr<NetlinkIpvsClient>(new NetlinkIpvsClient(sock, static_cast<uint16_t>(family)));
}

NetlinkIpvsClient::~NetlinkIpvsClient() { nl_socket_free(sock_); }

Result<std::vector<std::vector<uint8_t>>> NetlinkIpvsClient::exchange(const std::vector<uint8_t>& request,
                                                                      const std::string& what) {
  if (nl_sendto(sock_, const_cast<uint8_t*>(request.data()), request.size()) < 0)
    return Status::error("ipvs: " + what + ": send: " + errnoText(errno));
  std::vector<std::vector<uint8_t>> out;
  for (;;) {
    sockaddr_nl peer{};
    unsigned char* buf = nullptr;
    int n = nl_recv(sock_, &peer, &buf, nullptr);
    if (n <= 0) return Status::error("ipvs: " + what + ": receive: " + nl_geterror(n));
    int len = n;
    bool done = false;
    std::string error;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); nlmsg_ok(h, len); h = nlmsg_next(h, &len)) {
      if (h->nlmsg_type == NLMSG_DONE) { done = true; break; }
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(nlmsg_data(h));
        if (e->error != 0) error = errnoText(-e->error);
        done = true;
        break;
      }
      const auto* p = reinterpret_cast<const uint8_t*>(h);
      out.emplace_back(p, p + h->nlmsg_len);
    }
    std::free(buf);
    if (!error.empty()) return Status::error("ipvs: " + what + ": " + error);
    if (done) return out;
  }
}

Result<std::vector<ObservedService>> NetlinkIpvsClient::list() {
  auto services = exchange(encodeListServices(family_, seq_++), "listing");
  if (!services) return services.status();
  std::vector<ObservedService> out;
  for (const auto& m : services.value()) {
    auto s = decodeService(m.data(), m.size());
    if (!s) continue;  // fwmark or foreign protocol: never ours
    ObservedService o{s.value(), {}};
    auto dests = exchange(encodeListDestinations(o.server.key, family_, seq_++), "listing");
    if (!dests) {
      // Deleted between the two dumps: it is gone, which is what a listing should say.
      if (dests.error().find(errnoText(ESRCH)) != std::string::npos) continue;
      return Status::error(dests.error() + " (destinations of " + o.server.key.str() + ")");
    }
    for (const auto& dm : dests.value()) {
      auto d = decodeDestination(dm.data(), dm.size(), o.server.key.family);
      if (d) o.destinations.push_back(d.value());
    }
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::vector<Destination>> NetlinkIpvsClient::destinations(const ServiceKey& key) {
  auto dests = exchange(encodeListDestinations(key, family_, seq_++), "listing");
  if (!dests) return Status::error(dests.error() + " (destinations of " + key.str() + ")");
  std::vector<Destination> out;
  for (const auto& dm : dests.value()) {
    auto d = decodeDestination(dm.data(), dm.size(), key.family);
    if (d) out.push_back(d.value());
  }
  return out;
}

Status NetlinkIpvsClient::setTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp) {
  auto r = exchange(encodeSetTimeouts(tcp, tcpFin, udp, family_, seq_++),
                    "ipvsadm --set " + std::to_string(tcp) + " " + std::to_string(tcpFin) + " " + std::to_string(udp));
  return r ? Status::ok() : r.status();
}

ApplyResult NetlinkIpvsClient::apply(const std::vector<Operation>& ops) {
  ApplyResult r;
  for (size_t first = 0; first < ops.size(); first += kBatch) {
    size_t last = std::min(ops.size(), first + kBatch);
    std::vector<uint8_t> batch;
    std::map<uint32_t, size_t> bySeq;
    for (size_t i = first; i < last; ++i) {
      uint32_t seq = seq_++;
      auto m = encodeOperation(ops[i], family_, seq);
      batch.insert(batch.end(), m.begin(), m.end());
      bySeq[seq] = i;
    }
    r.bytes += batch.size();
    r.messages += last - first;
    ++r.batches;
    auto fail = [&](size_t i, const std::string& why) {
      r.failed.push_back(i);
      r.errors.push_back(ops[i].str() + ": " + why);
    };
    // One sendmsg carries the whole batch; the kernel handles its messages in order.
    if (nl_sendto(sock_, batch.data(), batch.size()) < 0) {
      std::string why = "send: " + errnoText(errno);
      for (size_t i = first; i < last; ++i) fail(i, why);
      continue;
    }
    while (!bySeq.empty()) {
      sockaddr_nl peer{};
      unsigned char* buf = nullptr;
      int n = nl_recv(sock_, &peer, &buf, nullptr);
      if (n <= 0) {
        std::string why = std::string("no acknowledgement: ") + nl_geterror(n);
        for (const auto& [seq, i] : bySeq) fail(i, why);
        break;
      }
      int len = n;
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); nlmsg_ok(h, len); h = nlmsg_next(h, &len)) {
        if (h->nlmsg_type != NLMSG_ERROR) continue;
        auto it = bySeq.find(h->nlmsg_seq);
        if (it == bySeq.end()) continue;
        int err = -static_cast<nlmsgerr*>(nlmsg_data(h))->error;
        size_t i = it->second;
        bySeq.erase(it);
        if (err == 0) continue;
        if (err == EEXIST && isAdd(ops[i].kind)) continue;
        if ((err == ENOENT || err == ESRCH) && isDelete(ops[i].kind)) continue;
        fail(i, errnoText(err));
      }
      std::free(buf);
    }
  }
  return r;
}

}  // namespace kproxy::ipvs
