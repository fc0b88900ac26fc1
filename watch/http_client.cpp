#include "watch/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <mutex>

#include "dataplane/log.h"

namespace kproxy::watch {

namespace {
// setRequestObserver's observer (set before any client runs).
std::function<void(const RequestRecord&)>& requestObserver() {
  static std::function<void(const RequestRecord&)> observer;
  return observer;
}
}  // namespace

void LineSplitter::tooLong(std::string_view head) {
  onOverlong_(head.substr(0, 256));
  partial_.clear();
  partial_.shrink_to_fit();
  overlong_ = true;
}

bool LineSplitter::feedFrames(std::string_view bytes) {
  partial_.append(bytes);
  size_t at = 0;
  while (partial_.size() - at >= 4) {
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(partial_[at + i])); };
    uint32_t len = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
    if (len > kMaxLineBytes) {
      std::string head = partial_.substr(at, 256);
      tooLong(head);
      return false;
    }
    if (partial_.size() - at - 4 < len) break;
    if (len > 0) onLine_(std::string_view(partial_).substr(at + 4, len));
    at += 4 + len;
  }
  partial_.erase(0, at);
  return true;
}

bool isProtobufContentType(std::string_view contentType) {
  std::string_view t = contentType.substr(0, contentType.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t == kProtobufContentType;
}

bool LineSplitter::feed(std::string_view bytes) {
  if (framed_) return !overlong_ && feedFrames(bytes);
  while (!bytes.empty() && !overlong_) {
    size_t nl = bytes.find('\n');
    std::string_view piece = bytes.substr(0, nl);
    if (partial_.size() + piece.size() > kMaxLineBytes) {
      partial_.append(piece.substr(0, std::min<size_t>(piece.size(), 256)));
      std::string head = partial_.substr(0, 256);
      tooLong(head);
      return false;
    }
    partial_.append(piece);
    if (nl == std::string_view::npos) return true;
    std::string_view line = partial_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) onLine_(line);
    partial_.clear();
    bytes.remove_prefix(nl + 1);
  }
  return !overlong_;
}

void LineSplitter::finish() {
  if (!framed_ && !overlong_ && !partial_.empty()) onLine_(partial_);
  partial_.clear();
}

bool isHeaderSafe(std::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

namespace {

constexpr size_t kMaxErrorBody = 64u << 10;  // a Status object

std::once_flag gCurlInit;

class CurlHttpClient : public HttpClient {
 public:
  explicit CurlHttpClient(ClientConfig config) : config_(std::move(config)) {
    std::call_once(gCurlInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    log::redact(config_.token);
  }
  ~CurlHttpClient() override {
    if (curl_) curl_easy_cleanup(curl_);
  }

  HttpReply get(const std::string& target, std::chrono::seconds idleTimeout) override {
    Transfer t;
    t.limit = kMaxBodyBytes;
    return perform(target, idleTimeout, t);
  }

  HttpReply stream(const std::string& target, std::chrono::seconds idleTimeout, const LineFn& onLine) override {
    Transfer t;
    t.limit = kMaxErrorBody;
    LineSplitter splitter(onLine, [&](std::string_view head) {
      log::error("watch " + target + ": an event is longer than " + std::to_string(kMaxLineBytes) +
                 " bytes; ending the stream (starting " + std::string(head.substr(0, 80)) + ")");
    });
    t.splitter = &splitter;
    HttpReply r = perform(target, idleTimeout, t);
    if (r.status == 200) splitter.finish();
    return r;
  }

  HttpReply post(const std::string& target, const std::string& body, std::chrono::seconds timeout) override {
    Transfer t;
    t.limit = kMaxErrorBody;
    t.postBody = &body;
    return perform(target, timeout, t);
  }

  void cancel() override { cancelled_ = true; }

 private:
  struct Transfer {
    CURL* curl = nullptr;
    std::string body;
    size_t limit = 0;
    LineSplitter* splitter = nullptr;
    bool typed = false;  // the splitter knows the stream's framing
    bool truncated = false;
    const std::atomic<bool>* cancelled = nullptr;
    const std::string* postBody = nullptr;  // a POST of this JSON, else a GET
  };

  static size_t onData(char* ptr, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t bytes = size * n;
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    if (t->splitter && code == 200) {
      if (!t->typed) {
        char* type = nullptr;
        curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &type);
        if (type && isProtobufContentType(type)) t->splitter->lengthPrefixed();
        t->typed = true;
      }
      if (t->splitter->feed(std::string_view(ptr, bytes))) return bytes;
      t->truncated = true;
      return 0;  // aborts the transfer: the rest is not inflated
    }
    if (t->body.size() + bytes > t->limit) {
      t->truncated = true;
      return 0;  // aborts the transfer: CURLE_WRITE_ERROR
    }
    t->body.append(ptr, bytes);
    return bytes;
  }

  static int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(user);
    return t->cancelled->load() ? 1 : 0;
  }

  // The bearer token, from the file each time when there is one (rotation).
  std::string token() const {
    if (config_.tokenFile.empty()) return config_.token;
    // Service-account tokens are 1-2 KB; read no more than 64 KiB of whatever the file holds.
    std::ifstream in(config_.tokenFile, std::ios::binary);
    std::string t(64 << 10, '\0');
    in.read(t.data(), static_cast<std::streamsize>(t.size()));
    t.resize(static_cast<size_t>(in.gcount()));
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.empty()) t = config_.token;
    log::redact(t);
    return t;
  }

  HttpReply perform(const std::string& target, std::chrono::seconds idleTimeout, Transfer& t) {
    HttpReply reply;
    if (cancelled_) {
      reply.error = "cancelled";
      return reply;
    }
    if (!curl_) {
      reply.error = "curl_easy_init failed";
      return reply;
    }
    CURL* c = curl_;
    curl_easy_reset(c);
    t.curl = c;
    t.cancelled = &cancelled_;
    char errbuf[CURL_ERROR_SIZE] = "";
    std::string url = config_.server;
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += target;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    // "Idle": fewer than 1 byte per second over the whole window.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<long>(1, idleTimeout.count())));
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CurlHttpClient::onData);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &CurlHttpClient::onProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kproxy/0.1");

    // TLS: verification on unless the kubeconfig turns it off; PEM data in memory, or files.
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, config_.insecureSkipTLSVerify ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, config_.insecureSkipTLSVerify ? 0L : 2L);
    curl_blob ca{}, cert{}, key{};
    if (!config_.caData.empty()) {
      ca = {const_cast<char*>(config_.caData.data()), config_.caData.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    } else if (!config_.caFile.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, config_.caFile.c_str());
    }
    if (!config_.certData.empty()) {
      cert = {const_cast<char*>(config_.certData.data()), config_.certData.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (!config_.certFile.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, config_.certFile.c_str());
    }
    if (!config_.keyData.empty()) {
      key = {const_cast<char*>(config_.keyData.data()), config_.keyData.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!config_.keyFile.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLKEY, config_.keyFile.c_str());
    }

    std::string bearer = token();
    if (!isHeaderSafe(bearer)) {
      // A CR or LF would end the header and start one of the file's choosing.
      reply.error = "the bearer token" + (config_.tokenFile.empty() ? std::string() : " in " + config_.tokenFile) +
                    " holds control characters; not sending it";
      return reply;
    }
    // Events are POSTed as JSON and their answers read as such; lists and watches ask for what
    // the configuration says (protobuf, then JSON for a server without it).
    std::string accept = "Accept: " + (t.postBody ? std::string("application/json") : config_.accept);
    curl_slist* headers = curl_slist_append(nullptr, accept.c_str());
    if (t.postBody) {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, t.postBody->data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.postBody->size()));
      headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    std::string auth = "Authorization: Bearer " + bearer;
    if (!bearer.empty()) headers = curl_slist_append(headers, auth.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    if (char* type = nullptr; curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) reply.contentType = type;
    if (const auto& observe = requestObserver()) {
      // client-go times a watch until its response arrives, a list or a POST to its end.
      curl_off_t micros = 0;
      curl_easy_getinfo(c, t.splitter && reply.status ? CURLINFO_STARTTRANSFER_TIME_T : CURLINFO_TOTAL_TIME_T, &micros);
      observe({t.postBody ? "POST" : "GET", urlHost(config_.server), reply.status ? std::to_string(reply.status) : "<error>",
               static_cast<double>(micros) / 1e6});
    }
    curl_slist_free_all(headers);
    std::fill(auth.begin(), auth.end(), '\0');
    // The header list is freed; keep no pointer to it in the reused handle.
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);

    if (rc != CURLE_OK) {
      if (cancelled_) reply.error = "cancelled";
      else if (t.truncated && t.splitter) reply.error = "a line longer than " + std::to_string(kMaxLineBytes) + " bytes";
      else if (t.truncated) reply.error = "response larger than " + std::to_string(t.limit) + " bytes";
      else if (rc == CURLE_OPERATION_TIMEDOUT && reply.status == 200)
        reply.error = "nothing received for " + std::to_string(idleTimeout.count()) + "s";
      else reply.error = std::string(curl_easy_strerror(rc)) + (errbuf[0] ? std::string(": ") + errbuf : "");
    }
    reply.tooLarge = t.truncated;
    reply.body = std::move(t.body);
    return reply;
  }

  ClientConfig config_;
  CURL* curl_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

void setRequestObserver(std::function<void(const RequestRecord&)> observer) { requestObserver() = std::move(observer); }

std::string urlHost(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);  // never credentials in a label
  return host;
}

HttpClientPtr makeCurlHttpClient(const ClientConfig& config) { return std::make_unique<CurlHttpClient>(config); }

}  // namespace kproxy::watch
