// IPVS generic-netlink answers (virtual servers and destinations) as IPVS mode's client reads them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ipvs/ipvs_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy;
  std::vector<uint64_t> aligned((size + 7) / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  const auto* msg = reinterpret_cast<const uint8_t*>(aligned.data());
  auto s = ipvs::decodeService(msg, size);
  if (!s) (void)s.error();
  for (auto f : {model::IPFamily::kIPv4, model::IPFamily::kIPv6}) {
    auto d = ipvs::decodeDestination(msg, size, f);
    if (!d) (void)d.error();
  }
  return 0;
}
