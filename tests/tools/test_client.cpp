// Client for the netns tests and the demo: counts which "pod" answers.
//   kproxy-testclient tcp IP PORT COUNT [--timeout-ms N]   short connections, one line each
//   kproxy-testclient udp IP PORT COUNT [--src-port P] [--timeout-ms N] [--sendto]
//   --sendto: an unconnected UDP socket (sendto/recvfrom) instead of a connected one
//   --peer: count, instead of the pod names, the address the socket shows as its peer:
//           "peer=IP:PORT" (TCP: getpeername) or "from=IP:PORT" (UDP: the reply's source)
//   kproxy-testclient udp-hold IP PORT SECONDS        one connected UDP socket asking every 100 ms;
//                                                           on an error (aborted) a new socket
//   kproxy-testclient hold IP PORT SECONDS [--rst]          one connection, a line every 100 ms;
//                                                           --rst closes it with a reset
// Prints "NAME COUNT" per answering pod, then "refused N", "timeout N" when nonzero, and for
// hold "held N" or "broken after N". Exit status 0 when every attempt got an answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace {

int timeoutMs = 1000;
bool showPeer = false;
bool sendTo = false;

std::string str(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

sockaddr_in addr(const char* ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    std::fprintf(stderr, "bad address %s\n", ip);
    std::exit(2);
  }
  return a;
}

bool waitFor(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, ms) == 1 && (p.revents & (events | POLLHUP | POLLERR));
}

// Reads one line; empty on timeout or close.
std::string readLine(int fd, int ms) {
  std::string out;
  char c;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (true) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0 || !waitFor(fd, POLLIN, left)) return {};
    if (::read(fd, &c, 1) != 1) return {};
    if (c == '\n') return out;
    out += c;
  }
}

// "name", or "refused" / "timeout".
std::string tcpOnce(const sockaddr_in& a) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  std::string result = "timeout";
  if (r != 0 && errno != EINPROGRESS) {
    result = errno == ECONNREFUSED ? "refused" : "error";
  } else if (waitFor(fd, POLLOUT, timeoutMs)) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH) result = "refused";
    else if (err != 0) result = "error";
    else if (::write(fd, "hello\n", 6) == 6) {
      std::string name = readLine(fd, timeoutMs);
      if (!name.empty()) result = name;
      sockaddr_in peer{};
      socklen_t plen = sizeof peer;
      if (!name.empty() && showPeer)
        result = ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0 ? "peer=" + str(peer) : "error";
    }
  }
  ::close(fd);
  return result;
}

std::string udpOnce(const sockaddr_in& a, int srcPort) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (srcPort) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_port = htons(static_cast<uint16_t>(srcPort));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ::close(fd);
      return "error";
    }
  }
  if (!sendTo) ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  std::string result = "timeout";
  const ssize_t sent = sendTo ? ::sendto(fd, "hello\n", 6, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a)
                              : ::send(fd, "hello\n", 6, 0);
  if (sent < 0 && errno == ECONNREFUSED) result = "refused";
  if (sent == 6 && waitFor(fd, POLLIN, timeoutMs)) {
    char buf[256];
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n > 0) result = showPeer ? "from=" + str(from) : std::string(buf, buf[n - 1] == '\n' ? n - 1 : n);
    else if (n < 0 && errno == ECONNREFUSED) result = "refused";
  }
  ::close(fd);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s tcp|udp|hold IP PORT COUNT|SECONDS [--src-port P] [--timeout-ms N]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  sockaddr_in a = addr(argv[2], std::atoi(argv[3]));
  int count = std::atoi(argv[4]);
  int srcPort = 0;
  bool rst = false;
  for (int i = 5; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rst") == 0) rst = true;
    else if (i + 1 < argc && std::strcmp(argv[i], "--src-port") == 0) srcPort = std::atoi(argv[++i]);
    else if (i + 1 < argc && std::strcmp(argv[i], "--timeout-ms") == 0) timeoutMs = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--peer") == 0) showPeer = true;
    else if (std::strcmp(argv[i], "--sendto") == 0) sendTo = true;
  }
  if (mode == "hold") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::printf("broken after 0\n");
      return 1;
    }
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(count);
    int held = 0;
    std::string first;
    while (std::chrono::steady_clock::now() < end) {
      std::string name;
      if (::write(fd, "ping\n", 5) == 5) name = readLine(fd, timeoutMs);
      if (name.empty() || (!first.empty() && name != first)) {
        std::printf("broken after %d\n", held);
        return 1;
      }
      first = name;
      ++held;
      ::usleep(100000);
    }
    std::printf("held %d %s\n", held, first.c_str());
    if (rst) {
      linger l{1, 0};  // close with RST: no TIME_WAIT anywhere on the path
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);
    return 0;
  }
  if (mode == "udp-hold") {
    // Counts the answering pods, and "new-socket N" for each socket after the first.
    std::map<std::string, int> seen;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(count);
    int fd = -1;
    while (std::chrono::steady_clock::now() < end) {
      if (fd < 0) {
        fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
          seen["refused"]++;
          ::close(fd);
          fd = -1;
          ::usleep(100000);
          continue;
        }
        if (!seen.empty()) seen["new-socket"]++;
      }
      char buf[256];
      bool broken = ::send(fd, "hello\n", 6, 0) != 6;
      if (!broken && waitFor(fd, POLLIN, 300)) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) seen[std::string(buf, buf[n - 1] == '\n' ? n - 1 : n)]++;
        broken = n < 0 && errno != EAGAIN;
      }
      if (broken) {  // aborted (or refused): the next round makes a new socket
        ::close(fd);
        fd = -1;
      }
      ::usleep(100000);
    }
    if (fd >= 0) ::close(fd);
    for (const auto& [name, n] : seen) std::printf("%s %d\n", name.c_str(), n);
    return 0;
  }
  std::map<std::string, int> counts;
  for (int i = 0; i < count; ++i) counts[mode == "udp" ? udpOnce(a, srcPort) : tcpOnce(a)]++;
  bool allAnswered = true;
  for (const auto& [name, n] : counts) {
    std::printf("%s %d\n", name.c_str(), n);
    if (name == "refused" || name == "timeout" || name == "error") allAnswered = false;
  }
  return allAnswered ? 0 : 1;
}
