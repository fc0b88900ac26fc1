// kube-proxy's name hashes: the first characters of base32(sha256(input)), which both its
// iptables chain names (16 characters) and its nftables chain names (8) are made of.
#pragma once

#include <string>
#include <string_view>

namespace kproxy::dataplane {

// The first `chars` (at most 16) characters of the RFC 4648 base32 encoding of SHA-256(input).
std::string sha256Base32(std::string_view input, size_t chars);

}  // namespace kproxy::dataplane
