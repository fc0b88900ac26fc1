#include "daemon/http_server.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "dataplane/log.h"

namespace kproxy::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Requests are small: anything larger is refused by the parser.
void limit(http::request_parser<http::string_body>& parser) {
  parser.body_limit(8192);
  parser.header_limit(8192);
}

Response makeResponse(const Request& req, const HttpServer::Handler& handler) {
  HttpResponse r;
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    r = {405, "text/plain; charset=utf-8", "method not allowed\n", {}};
  } else {
    std::string target(req.target());
    r = handler(target.substr(0, target.find('?')));
  }
  Response res;
  res.result(static_cast<unsigned>(r.status));
  res.version(req.version());
  res.set(http::field::content_type, r.contentType);
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(false);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

// One connection: read one request (up to 8 KiB, 5 s), answer, close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler)
      : stream_(std::move(socket)), handler_(handler) {}

  // Ends the connection now (shed for a newer one); the pending read completes with an error.
  void close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  void start() {
    limit(parser_);
    stream_.expires_after(std::chrono::seconds(5));
    http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->respond();
    });
  }

 private:
  void respond() {
    res_ = makeResponse(parser_.get(), handler_);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  HttpServer::Handler handler_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  Response res_;
};

}  // namespace

std::string answerRaw(std::string_view request, const HttpServer::Handler& handler) {
  http::request_parser<http::string_body> parser;
  limit(parser);
  parser.eager(true);
  beast::error_code ec;
  size_t used = 0;
  while (!ec && used < request.size() && !parser.is_done()) {
    size_t n = parser.put(boost::asio::buffer(request.data() + used, request.size() - used), ec);
    if (n == 0 && !ec) break;  // needs more than there is
    used += n;
  }
  if (ec || !parser.is_done()) return "";
  std::ostringstream out;
  out << makeResponse(parser.get(), handler);
  return out.str();
}

HttpServer::HttpServer(boost::asio::io_context& io, Handler handler)
    : handler_(std::move(handler)), acceptor_(io), retry_(io) {}

bool hostHasIPv6() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::string goListenAddress(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return address;
  std::string host = address.substr(0, colon);
  if ((host == "0.0.0.0" || host.empty()) && hostHasIPv6()) return "[::]" + address.substr(colon);
  return address;
}

Status HttpServer::listen(const std::string& address, bool v6only) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return Status::error("\"" + address + "\" is not IP:PORT");
  std::string host = address.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return Status::error("\"" + address + "\": bad address: " + ec.message());
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status::error("\"" + address + "\": bad port");
  tcp::endpoint ep(ip, static_cast<uint16_t>(port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  // Go listens on "::" for both families; Linux's default (bindv6only) may be changed.
  if (!ec && ip.is_v6() && ip.is_unspecified()) acceptor_.set_option(boost::asio::ip::v6_only(v6only), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);  // floods wait, not fail
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Status::error("listen on " + address + ": " + ec.message());
  }
  accept();
  return Status::ok();
}

uint16_t HttpServer::port() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
}

void HttpServer::track(std::shared_ptr<void> session, std::function<void()> close) {
  // Finished sessions are gone (their weak handle expired); drop them from the front first.
  while (!live_.empty() && live_.front().first.expired()) live_.pop_front();
  if (live_.size() >= kMaxConnections) {
    // Shed the oldest: a flood of idle connections must not lock out the kubelet's probe.
    for (auto& [weak, closer] : live_) {
      if (weak.expired()) continue;
      closer();
      ++shed_;
      break;
    }
    while (!live_.empty() && (live_.front().first.expired() || live_.size() >= kMaxConnections)) live_.pop_front();
  }
  live_.emplace_back(session, std::move(close));
}

void HttpServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
    if (ec) {
      // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending connection
      // stays queued; try again shortly rather than spin or give up. Anything else (a connection
      // reset before it was accepted) is the client's problem: accept the next one.
      ++acceptErrors_;
      bool exhausted = ec == boost::asio::error::no_descriptors || ec.value() == ENFILE ||
                       ec == boost::asio::error::no_buffer_space || ec == boost::asio::error::no_memory;
      if (!exhausted) return accept();
      if (acceptErrors_ == 1 || acceptErrors_ % 100 == 0)
        log::warning("HTTP server: accept failed (" + ec.message() + ", " + std::to_string(acceptErrors_) +
                     " times so far); retrying in 100ms");
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](boost::system::error_code e) {
        if (!e) accept();
      });
      return;
    }
    auto session = std::make_shared<Session>(std::move(socket), handler_);
    std::weak_ptr<Session> weak = session;
    track(session, [weak] {
      if (auto s = weak.lock()) s->close();
    });
    session->start();
    accept();
  });
}

}  // namespace kproxy::daemon
