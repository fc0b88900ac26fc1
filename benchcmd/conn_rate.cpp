#include "benchcmd/conn_rate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>

namespace kproxy::benchcmd {

namespace {

using Clock = std::chrono::steady_clock;

void setTimeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void closeWithReset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// Reads until a newline; false on timeout, reset or close before it.
bool readLine(int fd) {
  char buf[64];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    if (std::memchr(buf, '\n', static_cast<size_t>(n))) return true;
  }
}

void serve(int listener, std::string name, const std::atomic<bool>& stopping) {
  std::string answer = name + "\n";
  while (!stopping) {
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    setTimeouts(c, 1000);
    if (readLine(c)) (void)!::write(c, answer.data(), answer.size());
    ::close(c);
  }
}

}  // namespace

Status PodServers::start(const NetnsLab& lab, uint16_t port) {
  stopping_ = false;
  for (int i = 1; i <= lab.pods(); ++i) {
    std::promise<Result<int>> ready;
    auto fut = ready.get_future();
    std::string ns = lab.ns("pod" + std::to_string(i)), name = "pod-" + std::to_string(i);
    threads_.emplace_back([this, ns, name, port, ready = std::move(ready)]() mutable {
      if (Status s = enterNetns(ns); !s) return ready.set_value(s);
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) {
        std::string e = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return ready.set_value(Status::error("server in " + ns + ": " + e));
      }
      ready.set_value(fd);
      serve(fd, name, stopping_);
    });
    auto r = fut.get();
    if (!r) {
      stop();
      return r.status();
    }
    listeners_.push_back(r.value());
  }
  return Status::ok();
}

void PodServers::stop() {
  stopping_ = true;
  for (int fd : listeners_) ::shutdown(fd, SHUT_RDWR);  // wakes accept()
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  for (int fd : listeners_) ::close(fd);
  threads_.clear();
  listeners_.clear();
}

Result<ConnStats> measureConnections(const std::string& clientNs, const std::string& ip, uint16_t port,
                                     double seconds, int parallel) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return Status::error("bad IPv4 address " + ip);

  std::mutex mu;
  ConnStats total;
  std::vector<double> latencies;
  Status failed;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < std::max(parallel, 1); ++t) {
    clients.emplace_back([&] {
      if (Status s = enterNetns(clientNs); !s) {
        std::lock_guard lock(mu);
        failed = s;
        return;
      }
      std::vector<double> mine;
      size_t ok = 0, bad = 0;
      static const char kRequest[] = "GET\n";
      while (Clock::now() < deadline) {
        auto t0 = Clock::now();
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
          ++bad;
          continue;
        }
        setTimeouts(fd, 1000);
        bool answered = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
                        ::write(fd, kRequest, sizeof kRequest - 1) == static_cast<ssize_t>(sizeof kRequest - 1) &&
                        readLine(fd);
        closeWithReset(fd);
        if (answered) {
          ++ok;
          mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        } else {
          ++bad;
        }
      }
      std::lock_guard lock(mu);
      total.connections += ok;
      total.failures += bad;
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& c : clients) c.join();
  if (!failed) return failed;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    auto at = [&](double p) { return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))]; };
    total.p50Us = at(0.50);
    total.p99Us = at(0.99);
  }
  return total;
}

}  // namespace kproxy::benchcmd
