// Tiny servers for the netns tests and the demo: a "pod" that answers with its name.
//   kproxy-testserver NAME [--tcp PORT]... [--udp PORT]...
// TCP: an HTTP GET gets "200 OK" with body "NAME\n" and the connection closes; any other line
// is answered with "NAME\n" and the connection stays open (for long-lived connection tests).
// UDP: every datagram is answered with "NAME\n".
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace {

int listenOn(int type, int port) {
  int fd = ::socket(AF_INET, type, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("bind");
    std::exit(1);
  }
  if (type == SOCK_STREAM) ::listen(fd, 512);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s NAME [--tcp PORT]... [--udp PORT]...\n", argv[0]);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const std::string name = argv[1];
  const std::string line = name + "\n";
  const std::string http = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                           std::to_string(line.size()) + "\r\nConnection: close\r\n\r\n" + line;
  std::vector<int> tcp, udp;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tcp") == 0) tcp.push_back(listenOn(SOCK_STREAM, std::atoi(argv[i + 1])));
    else if (std::strcmp(argv[i], "--udp") == 0) udp.push_back(listenOn(SOCK_DGRAM, std::atoi(argv[i + 1])));
  }
  std::map<int, std::string> conns;  // fd -> bytes read so far
  while (true) {
    std::vector<pollfd> fds;
    for (int fd : tcp) fds.push_back({fd, POLLIN, 0});
    for (int fd : udp) fds.push_back({fd, POLLIN, 0});
    for (auto& [fd, buf] : conns) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    for (const auto& p : fds) {
      if (!p.revents) continue;
      bool isTcp = std::find(tcp.begin(), tcp.end(), p.fd) != tcp.end();
      bool isUdp = std::find(udp.begin(), udp.end(), p.fd) != udp.end();
      if (isTcp) {
        int c = ::accept(p.fd, nullptr, nullptr);
        if (c >= 0) conns[c];
      } else if (isUdp) {
        char buf[2048];
        sockaddr_in from{};
        socklen_t len = sizeof from;
        if (::recvfrom(p.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) >= 0)
          ::sendto(p.fd, line.data(), line.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      } else {
        char buf[2048];
        ssize_t n = ::read(p.fd, buf, sizeof buf);
        if (n <= 0) {
          ::close(p.fd);
          conns.erase(p.fd);
          continue;
        }
        std::string& acc = conns[p.fd];
        acc.append(buf, static_cast<size_t>(n));
        if (acc.rfind("GET ", 0) == 0) {
          if (acc.find("\r\n\r\n") != std::string::npos || acc.find("\n\n") != std::string::npos) {
            (void)!::write(p.fd, http.data(), http.size());
            ::close(p.fd);
            conns.erase(p.fd);
          }
          continue;
        }
        size_t nl;
        while ((nl = acc.find('\n')) != std::string::npos) {
          acc.erase(0, nl + 1);
          (void)!::write(p.fd, line.data(), line.size());
        }
      }
    }
  }
}
