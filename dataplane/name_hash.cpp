#include "dataplane/name_hash.h"

#include <openssl/sha.h>

#include <cstdint>

namespace kproxy::dataplane {

std::string sha256Base32(std::string_view input, size_t chars) {
  // One-shot SHA256() (the streaming API is deprecated in OpenSSL 3); names are short.
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  // Each 5 digest bytes are 8 base32 characters: 16 characters need the first 10 bytes only.
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  if (chars > 16) chars = 16;
  std::string out(16, '\0');
  for (int group = 0; group < 2; ++group) {
    uint64_t bits = 0;
    for (int i = 0; i < 5; ++i) bits = (bits << 8) | digest[group * 5 + i];
    for (int i = 0; i < 8; ++i) out[group * 8 + i] = kAlphabet[(bits >> (35 - 5 * i)) & 31];
  }
  out.resize(chars);
  return out;
}

}  // namespace kproxy::dataplane
