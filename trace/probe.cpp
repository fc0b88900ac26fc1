#include "trace/probe.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>

namespace kproxy::trace {

namespace {

using Clock = std::chrono::steady_clock;

std::string hostPort(int family, const void* addr, uint16_t portNet) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr, buf, sizeof buf);
  std::string host = family == AF_INET6 ? std::string("[") + buf + "]" : buf;
  return host + ":" + std::to_string(ntohs(portNet));
}

socklen_t sockaddrOf(const net::IPAddress& ip, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (ip.family == model::IPFamily::kIPv4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, ip.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  std::memcpy(&a->sin6_addr, ip.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::string sockName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    return hostPort(AF_INET, &a->sin_addr, a->sin_port);
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  return hostPort(AF_INET6, &a->sin6_addr, a->sin6_port);
}

const char* tcpState(uint8_t s) {
  static const char* names[] = {"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
                                "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"};
  return s < sizeof names / sizeof *names ? names[s] : "?";
}

// Calls `each` for every conntrack entry of the family.
std::string dump(int family, const std::function<void(const Flow&)>& each) {
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (!h) return std::string("conntrack netlink: ") + std::strerror(errno);
  struct Ctx {
    int family;
    const std::function<void(const Flow&)>* each;
  } ctx{family, &each};
  nfct_callback_register(
      h, NFCT_T_ALL,
      [](enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) -> int {
        auto* c = static_cast<Ctx*>(data);
        Flow f;
        uint8_t proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
        f.proto = proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : proto == IPPROTO_SCTP ? "sctp" : std::to_string(proto);
        bool v4 = c->family == AF_INET;
        f.origSrc = hostPort(c->family, nfct_get_attr(ct, v4 ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC),
                             nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
        f.origDst = hostPort(c->family, nfct_get_attr(ct, v4 ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST),
                             nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
        f.replySrc = hostPort(c->family, nfct_get_attr(ct, v4 ? ATTR_REPL_IPV4_SRC : ATTR_REPL_IPV6_SRC),
                              nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
        if (proto == IPPROTO_TCP) f.state = tcpState(nfct_get_attr_u8(ct, ATTR_TCP_STATE));
        (*c->each)(f);
        return NFCT_CB_CONTINUE;
      },
      &ctx);
  uint32_t fam = static_cast<uint32_t>(family);
  std::string err;
  if (nfct_query(h, NFCT_Q_DUMP, &fam) < 0) err = std::string("conntrack dump: ") + std::strerror(errno);
  nfct_close(h);
  return err;
}

std::string protoLower(model::Protocol p) {
  return p == model::Protocol::kTCP ? "tcp" : p == model::Protocol::kUDP ? "udp" : "sctp";
}

std::string answeredBy(const Target& t, const std::string& local) {
  std::string who;
  std::string dst = t.ip.family == model::IPFamily::kIPv6 ? "[" + t.ip.str() + "]:" + std::to_string(t.port)
                                                          : t.ip.str() + ":" + std::to_string(t.port);
  dump(t.ip.family == model::IPFamily::kIPv4 ? AF_INET : AF_INET6, [&](const Flow& f) {
    if (f.origSrc == local && f.origDst == dst && f.proto == protoLower(t.proto)) who = f.replySrc;
  });
  return who;
}

}  // namespace

ProbeResult probe(const Target& t, const std::optional<net::IPAddress>& source, int timeoutMs) {
  ProbeResult r;
  if (t.proto == model::Protocol::kSCTP) {
    r.error = "SCTP probes are not supported";
    return r;
  }
  int family = t.ip.family == model::IPFamily::kIPv4 ? AF_INET : AF_INET6;
  bool tcp = t.proto == model::Protocol::kTCP;
  int fd = ::socket(family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    return r;
  }
  if (source) {
    sockaddr_storage ss;
    socklen_t len = sockaddrOf(*source, 0, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      r.error = "bind to " + source->str() + ": " + std::strerror(errno);
      ::close(fd);
      return r;
    }
  }
  sockaddr_storage dst;
  socklen_t dlen = sockaddrOf(t.ip, t.port, dst);
  auto start = Clock::now();
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&dst), dlen);
  if (rc != 0 && errno != EINPROGRESS) {
    r.error = std::strerror(errno);
    ::close(fd);
    return r;
  }
  if (!tcp) {
    static const char kMsg[] = "kproxy trace probe\n";
    if (::send(fd, kMsg, sizeof kMsg - 1, 0) < 0) r.error = std::string("send: ") + std::strerror(errno);
  }
  pollfd p{fd, static_cast<short>(tcp ? POLLOUT : POLLIN), 0};
  int n = r.error.empty() ? ::poll(&p, 1, timeoutMs) : -1;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.local = sockName(fd);
  if (n == 0) {
    r.error = "timed out after " + std::to_string(timeoutMs) + " ms";
  } else if (n > 0) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr) {
      r.error = std::strerror(soerr);
    } else if (tcp) {
      r.answered = true;
    } else {
      char buf[512];
      ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got >= 0) r.answered = true;
      else r.error = std::strerror(errno);  // ECONNREFUSED: an ICMP port unreachable came back
    }
  }
  if (r.answered || !r.error.empty()) r.endpoint = answeredBy(t, r.local);
  ::close(fd);
  return r;
}

std::vector<Flow> flowsTo(const Target& t, size_t limit, size_t* total, std::string* error) {
  std::vector<Flow> out;
  size_t n = 0;
  std::string dst = t.ip.family == model::IPFamily::kIPv6 ? "[" + t.ip.str() + "]:" + std::to_string(t.port)
                                                          : t.ip.str() + ":" + std::to_string(t.port);
  std::string proto = protoLower(t.proto);
  std::string err = dump(t.ip.family == model::IPFamily::kIPv4 ? AF_INET : AF_INET6, [&](const Flow& f) {
    if (f.origDst != dst || f.proto != proto) return;
    ++n;
    if (out.size() < limit) out.push_back(f);
  });
  if (total) *total = n;
  if (error) *error = err;
  return out;
}

}  // namespace kproxy::trace
