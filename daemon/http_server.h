// A minimal HTTP/1.1 server on the daemon's io_context (Boost.Beast) for /healthz, /livez and
// /metrics: one request per connection, GET only, bounded request size and time. It survives
// floods: at kMaxConnections the oldest connection is dropped for the new one, and when the
// process is out of file descriptors (EMFILE) it pauses accepting and tries again, so it answers
// again as soon as descriptors are free.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/status.h"

namespace kproxy::daemon {

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// One request as raw bytes -> the raw response the server sends for it, or "" when it would
// close without answering (incomplete, malformed, over the size limits). The server reads
// asynchronously with the same parser limits and answers through the same code; this is its
// synchronous face for tests and the fuzzer.
std::string answerRaw(std::string_view request, const std::function<HttpResponse(const std::string&)>& handler);

// Whether this network namespace can open IPv6 sockets.
bool hostHasIPv6();
// Go's listener on "0.0.0.0:PORT" (or ":PORT") is one dual-stack socket on "::": the same
// address in Go's meaning, "[::]:PORT", where IPv6 exists; any other address unchanged.
std::string goListenAddress(const std::string& address);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;
  // Connections held open at once (each is a request being read or answered, 5 s at most).
  static constexpr size_t kMaxConnections = 512;

  HttpServer(boost::asio::io_context& io, Handler handler);
  // "IP:PORT" (port 0 picks one; "[::]:PORT" is dual-stack unless `v6only`). Logs and returns
  // the error when the address cannot be bound.
  Status listen(const std::string& address, bool v6only = false);
  uint16_t port() const;
  void stop();

  // Observability and tests.
  uint64_t shed() const { return shed_; }
  uint64_t acceptErrors() const { return acceptErrors_; }

 private:
  void accept();
  void track(std::shared_ptr<void> session, std::function<void()> close);

  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  // Open sessions, oldest first: the weak handle and how to close it.
  std::deque<std::pair<std::weak_ptr<void>, std::function<void()>>> live_;
  uint64_t shed_ = 0;
  uint64_t acceptErrors_ = 0;
};

}  // namespace kproxy::daemon
