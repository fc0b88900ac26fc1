// A minimal HTTP/1.1 server on the daemon's io_context (Boost.Beast) for /healthz, /livez and
// /metrics: one request per connection, GET only, bounded request size.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
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

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;

  HttpServer(boost::asio::io_context& io, Handler handler);
  // "IP:PORT" (port 0 picks one). Logs and returns the error when the address cannot be bound.
  Status listen(const std::string& address);
  uint16_t port() const;
  void stop();

 private:
  void accept();

  boost::asio::io_context& io_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace kproxy::daemon
