// One API object as a list page or watch event carries it, in JSON (parsed with kproxy's limits)
// or protobuf ("k8s\0" + envelope), then decoded as each kind the API source reads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "watch/protobuf.h"
#include "watch/decode.h"
#include "watch/reflector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy::watch;
  ParsedJson p = decodeBody(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const auto& problem : p.problems) (void)problem.str();
  if (!p.ok()) return 0;
  std::string why;
  (void)objectKey(p.value, &why);
  auto show = [](auto&& d) {
    if (auto* e = std::get_if<DecodeError>(&d)) (void)e->str();
  };
  show(decodeService(p.value));
  show(decodeEndpointSlice(p.value));
  show(decodeNode(p.value));
  show(decodeEndpoints(p.value));
  show(decodeServiceCIDR(p.value));
  (void)p.value.dump();  // whatever came in, the JSON it became can be printed
  return 0;
}
