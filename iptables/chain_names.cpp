#include "iptables/chain_names.h"

#include <openssl/sha.h>

namespace kproxy::iptables {

namespace {

// RFC 4648 base32 of the first 10 digest bytes: exactly the first 16 characters of the
// encoding of the whole digest, which is all kube-proxy keeps.
std::string hash16(std::string_view a, std::string_view b, std::string_view c) {
  // One-shot SHA256() (the streaming API is deprecated in OpenSSL 3); names are short.
  std::string input;
  input.reserve(a.size() + b.size() + c.size());
  input.append(a).append(b).append(c);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);

  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out(16, '\0');
  for (int group = 0; group < 2; ++group) {
    uint64_t bits = 0;
    for (int i = 0; i < 5; ++i) bits = (bits << 8) | digest[group * 5 + i];
    for (int i = 0; i < 8; ++i) out[group * 8 + i] = kAlphabet[(bits >> (35 - 5 * i)) & 31];
  }
  return out;
}

}  // namespace

std::string portProtoHash(std::string_view servicePortName, std::string_view protocol) {
  return hash16(servicePortName, protocol, {});
}

std::string endpointChainName(std::string_view servicePortName, std::string_view protocol,
                              std::string_view endpoint) {
  std::string name(kSepPrefix);
  name += hash16(servicePortName, protocol, endpoint);
  return name;
}

bool isServiceChainName(std::string_view chain) {
  for (auto prefix : {kSvcPrefix, kSvlPrefix, kExtPrefix, kFwPrefix, kSepPrefix})
    if (chain.substr(0, prefix.size()) == prefix) return true;
  return false;
}

}  // namespace kproxy::iptables
