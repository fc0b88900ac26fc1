#include "dataplane/ip.h"

#include <algorithm>

#include <cstdio>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace kproxy::net {

using model::IPFamily;

std::string IPAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  int af = family == IPFamily::kIPv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buf, sizeof buf) == nullptr) return {};
  return buf;
}

bool IPAddress::isLoopback() const {
  if (family == IPFamily::kIPv4) return bytes[0] == 127;
  static const std::array<uint8_t, 16> kLoop6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kLoop6;
}

bool IPAddress::isUnspecified() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

std::optional<IPAddress> parseIP(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IPAddress ip;
  if (text.find(':') == std::string_view::npos) {
    ip.family = IPFamily::kIPv4;
    if (inet_pton(AF_INET, buf, ip.bytes.data()) != 1) return std::nullopt;
    return ip;
  }
  ip.family = IPFamily::kIPv6;
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) return std::nullopt;
  // ::ffff:a.b.c.d would let one address belong to both families; Kubernetes rejects it too.
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, 12) == 0) return std::nullopt;
  return ip;
}

std::optional<IPAddress> parseIPSloppy(std::string_view text) {
  if (auto ip = parseIP(text)) return ip;
  if (text.find(':') != std::string_view::npos || text.size() > 63) return std::nullopt;
  // a.b.c.d, each 1-255 decimal digits' worth of value at most 255, leading zeros allowed.
  std::string canonical;
  int octets = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t dot = text.find('.', i);
    std::string_view part = text.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    if (part.empty() || part.size() > 10 || part.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    unsigned value = 0;
    for (char c : part) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 255) return std::nullopt;
    canonical += (octets ? "." : "") + std::to_string(value);
    ++octets;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  if (octets != 4) return std::nullopt;
  return parseIP(canonical);
}

std::optional<Cidr> parseCidrSloppy(std::string_view text) {
  if (auto c = parseCidr(text)) return c;
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = parseIPSloppy(text.substr(0, slash));
  if (!ip) return std::nullopt;
  return parseCidr(ip->str() + std::string(text.substr(slash)));
}

std::string Cidr::str() const { return network.str() + "/" + std::to_string(prefix); }

static void maskTo(std::array<uint8_t, 16>& bytes, int prefix, int totalBits) {
  for (int bit = prefix; bit < totalBits; ++bit) bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
}

bool Cidr::contains(const IPAddress& ip) const {
  if (ip.family != network.family) return false;
  std::array<uint8_t, 16> masked = ip.bytes;
  maskTo(masked, prefix, network.family == IPFamily::kIPv4 ? 32 : 128);
  return masked == network.bytes;
}

std::optional<Cidr> parseCidr(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = parseIP(text.substr(0, slash));
  if (!ip) return std::nullopt;
  std::string_view bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || (bits.size() > 1 && bits[0] == '0')) return std::nullopt;
  int prefix = -1;
  auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  if (ec != std::errc() || p != bits.data() + bits.size()) return std::nullopt;
  int total = ip->family == IPFamily::kIPv4 ? 32 : 128;
  if (prefix < 0 || prefix > total) return std::nullopt;
  Cidr c;
  c.network = *ip;
  c.prefix = prefix;
  maskTo(c.network.bytes, prefix, total);
  return c;
}

std::string joinHostPort(const std::string& ip, IPFamily family, uint16_t port) {
  std::string out;
  out.reserve(ip.size() + 8);
  if (family == IPFamily::kIPv6) {
    out += '[';
    out += ip;
    out += ']';
  } else {
    out += ip;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string ipv4String(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
  return buf;
}

}  // namespace kproxy::net
