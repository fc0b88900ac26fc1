#include "iptables/nfacct.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_acct.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <endian.h>
#include <vector>

namespace kproxy::iptables {
namespace {

struct Socket {
  mnl_socket* nl = nullptr;
  ~Socket() {
    if (nl) mnl_socket_close(nl);
  }
};

// One request (NEW or GET of `name`), its answers handed to `cb`; the kernel's error as text and
// its errno in `err`.
Status request(uint16_t type, uint16_t flags, const std::string& name, mnl_cb_t cb, void* data, int* err = nullptr) {
  if (name.empty() || name.size() >= NFACCT_NAME_MAX) return Status::error("nfacct name \"" + name + "\" is not 1-31 bytes");
  Socket s;
  s.nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!s.nl || mnl_socket_bind(s.nl, 0, MNL_SOCKET_AUTOPID) < 0)
    return Status::error(std::string("nfacct: netlink socket: ") + std::strerror(errno));
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = (NFNL_SUBSYS_ACCT << 8) | type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  const uint32_t seq = 1;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  mnl_attr_put_strz(nlh, NFACCT_NAME, name.c_str());
  if (mnl_socket_sendto(s.nl, nlh, nlh->nlmsg_len) < 0) return Status::error(std::string("nfacct: send: ") + std::strerror(errno));
  const unsigned portid = mnl_socket_get_portid(s.nl);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(s.nl, buf.data(), buf.size());
    if (n < 0) return Status::error(std::string("nfacct: receive: ") + std::strerror(errno));
    int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, cb, data);
    if (r < 0) {
      if (err) *err = errno;
      return Status::error("nfacct " + name + ": " + std::strerror(errno));
    }
    if (r == MNL_CB_STOP) return Status::ok();
  }
}

int readPackets(const nlmsghdr* nlh, void* data) {
  const auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
  const char* end = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (; mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr))); attr = mnl_attr_next(attr))
    if (mnl_attr_get_type(attr) == NFACCT_PKTS && mnl_attr_get_payload_len(attr) == sizeof(uint64_t))
      *static_cast<uint64_t*>(data) = be64toh(mnl_attr_get_u64(attr));
  return MNL_CB_OK;
}

class NetlinkNfacct : public NfacctClient {
 public:
  Status ensure(const std::string& name) override {
    int err = 0;
    Status st = request(NFNL_MSG_ACCT_NEW, NLM_F_CREATE | NLM_F_EXCL, name, nullptr, nullptr, &err);
    if (!st && err == EEXIST) return Status::ok();
    return st;
  }
  Result<uint64_t> packets(const std::string& name) override {
    uint64_t count = UINT64_MAX;
    if (Status st = request(NFNL_MSG_ACCT_GET, 0, name, readPackets, &count); !st) return st;
    if (count == UINT64_MAX) return Status::error("nfacct " + name + ": no packet count in the answer");
    return count;
  }
};

}  // namespace

std::unique_ptr<NfacctClient> makeNetlinkNfacctClient() { return std::make_unique<NetlinkNfacct>(); }

}  // namespace kproxy::iptables
