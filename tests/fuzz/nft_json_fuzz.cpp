// `nft -j list table` output as kproxy trace reads it, then a packet followed through it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "trace/nft_view.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy;
  trace::NftView view;
  std::string error;
  if (!trace::parseNftJson(std::string(reinterpret_cast<const char*>(data), size), view, error)) return 0;
  trace::Target target{*net::parseIP("10.96.0.10"), 80, model::Protocol::kTCP};
  for (bool local : {true, false}) (void)trace::evaluateNft(view, target, {*net::parseIP("10.244.1.2"), local}, local);
  return 0;
}
