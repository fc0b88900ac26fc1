// The HTTP seam of the API source: a blocking GET client, one per list/watch loop (each on its
// own thread). libcurl behind it in production; a scripted one in unit tests.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "watch/kubeconfig.h"

namespace kproxy::watch {

struct HttpReply {
  long status = 0;    // HTTP status; 0 when no response arrived
  std::string body;   // get(): the body; stream(): the body when the status is not 200
  std::string error;  // transport failure (refused, TLS, timeout, cancelled); empty otherwise
  // get(): the body passed kMaxBodyBytes (decompressed) and the transfer was cut there.
  // stream(): a line passed kMaxLineBytes and the stream was cut there.
  bool tooLarge = false;
  std::string contentType{};  // the response's Content-Type, when one came

  bool transportFailed() const { return !error.empty(); }
};

class HttpClient {
 public:
  // Called for each record of a streamed 200 response (one watch event each): a line of a JSON
  // stream, or a frame of a protobuf one (Content-Type application/vnd.kubernetes.protobuf;
  // stream=watch: a 4-byte big-endian length, then the bytes).
  using LineFn = std::function<void(std::string_view line)>;

  virtual ~HttpClient() = default;
  // GET `target` ("/api/v1/services?limit=500"), whole body. Gives up when nothing arrives for
  // `idleTimeout`. Never throws.
  virtual HttpReply get(const std::string& target, std::chrono::seconds idleTimeout) = 0;
  // GET of a line stream (a watch). Returns when the server ends it, on a transport error, when
  // nothing arrives for `idleTimeout`, or after cancel(). Empty lines are skipped; a record longer
  // than kMaxLineBytes ends the stream (tooLarge): an event was lost, the stream is not to be
  // trusted, and a gzip bomb must not be inflated to its end.
  virtual HttpReply stream(const std::string& target, std::chrono::seconds idleTimeout, const LineFn& onLine) = 0;
  // POST of a JSON `body` (an Event); the reply's body is kept. Clients that only read answer
  // with an error.
  virtual HttpReply post(const std::string& target, const std::string& body, std::chrono::seconds timeout) {
    (void)target, (void)body, (void)timeout;
    HttpReply r;
    r.error = "POST is not supported by this client";
    return r;
  }
  // From any thread: the call in progress and every later one return promptly with an error.
  virtual void cancel() = 0;
};
using HttpClientPtr = std::unique_ptr<HttpClient>;

// Largest watch event line accepted: etcd's object limit is 1.5 MB, its JSON a little more.
inline constexpr size_t kMaxLineBytes = 16u << 20;
// Largest list page accepted (decompressed); a larger one is asked for again in smaller pages.
inline constexpr size_t kMaxBodyBytes = 32u << 20;

// True when `token` can be sent in an Authorization header: printable ASCII, no CR, LF or other
// control byte that would end the header and start another.
bool isHeaderSafe(std::string_view token);

// Splits a byte stream into records for HttpClient::stream implementations: lines, or after
// lengthPrefixed() the frames of a protobuf watch stream. An over-long record is reported to
// `onOverlong` (with its first bytes), and feed() returns false from then on.
class LineSplitter {
 public:
  LineSplitter(const HttpClient::LineFn& onLine, std::function<void(std::string_view head)> onOverlong)
      : onLine_(onLine), onOverlong_(std::move(onOverlong)) {}
  // Before the first feed(): the stream is length-prefixed frames, not lines.
  void lengthPrefixed() { framed_ = true; }
  bool feed(std::string_view bytes);
  bool overlong() const { return overlong_; }
  // The bytes after the last newline (an unterminated last line) as a final line, if any; an
  // incomplete last frame is dropped.
  void finish();

 private:
  bool feedFrames(std::string_view bytes);
  void tooLong(std::string_view head);

  const HttpClient::LineFn& onLine_;
  std::function<void(std::string_view)> onOverlong_;
  std::string partial_;
  bool overlong_ = false;
  bool framed_ = false;
};

inline constexpr std::string_view kProtobufContentType = "application/vnd.kubernetes.protobuf";

// Whether a Content-Type is Kubernetes' protobuf (with or without parameters such as
// ";stream=watch").
bool isProtobufContentType(std::string_view contentType);

// libcurl: HTTPS with CA verification, client certificates, bearer tokens (token files re-read on
// every request, so rotated service-account tokens are picked up), gzip, HTTP/1.1 keep-alive.
HttpClientPtr makeCurlHttpClient(const ClientConfig& config);

// One request to the API server as client-go's metrics see it: rest_client_requests_total's
// labels and rest_client_request_duration_seconds' observation (until the response's first byte
// for a watch, the whole exchange otherwise).
struct RequestRecord {
  std::string method;  // "GET", "POST"
  std::string host;    // the server's host:port, as in its URL
  std::string code;    // the HTTP status, or "<error>" when no response arrived
  double seconds = 0;
};
// Told of every request of every curl client, from their threads; set before any client runs
// and outliving them. The host label of a server URL: "https://10.0.0.1:6443/x" -> "10.0.0.1:6443".
void setRequestObserver(std::function<void(const RequestRecord&)> observer);
std::string urlHost(const std::string& url);

}  // namespace kproxy::watch
