// A request to /healthz, /metrics or a health-check node port, as the health servers parse it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy::daemon;
  auto handler = [](const std::string& path) -> HttpResponse {
    return {path == "/healthz" ? 200 : 404, "application/json", "{\"path\": \"" + path.substr(0, 64) + "\"}", {}};
  };
  (void)answerRaw(std::string_view(reinterpret_cast<const char*>(data), size), handler);
  return 0;
}
