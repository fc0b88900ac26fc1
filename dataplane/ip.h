// IP address and CIDR parsing, normalization and matching (inet_pton based, no kernel access).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/model.h"

namespace kproxy::net {

struct IPAddress {
  model::IPFamily family = model::IPFamily::kIPv4;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  std::string str() const;
  bool isLoopback() const;
  bool isUnspecified() const;  // 0.0.0.0 or ::
  auto operator<=>(const IPAddress&) const = default;
};

// Strict: no leading zeros, no IPv4-mapped IPv6, no zone suffix.
std::optional<IPAddress> parseIP(std::string_view text);

struct Cidr {
  IPAddress network;  // masked
  int prefix = 0;

  std::string str() const;
  bool contains(const IPAddress& ip) const;
  auto operator<=>(const Cidr&) const = default;
};

std::optional<Cidr> parseCidr(std::string_view text);
// As Kubernetes reads addresses the API may still hold (netutils.ParseIPSloppy): IPv4 octets
// with leading zeros are decimal ("172.30.0.041" is 172.30.0.41), never octal.
std::optional<IPAddress> parseIPSloppy(std::string_view text);
std::optional<Cidr> parseCidrSloppy(std::string_view text);

// Dotted quad of a host-order IPv4 address (synthetic clusters count addresses as integers).
std::string ipv4String(uint32_t hostOrder);

// "ip:port", or "[ip]:port" for IPv6, as kube-proxy prints endpoints.
std::string joinHostPort(const std::string& ip, model::IPFamily family, uint16_t port);

}  // namespace kproxy::net
