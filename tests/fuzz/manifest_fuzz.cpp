// Manifests as kproxy render and the manifests directory read them: JSON, YAML, Lists.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "watch/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kproxy::watch::Objects o = kproxy::watch::decodeManifestText(text, "fuzz.yaml");
  for (const auto& e : o.errors) (void)e.str();
  return 0;
}
