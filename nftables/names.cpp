#include "nftables/names.h"

#include <algorithm>

#include "dataplane/name_hash.h"

namespace kproxy::nftables {

namespace {
// Prefixes are at most 16 characters, so bases may use the rest.
constexpr size_t kBaseLengthMax = kNameLengthMax - 16;

std::string hashAndTruncate(const std::string& name) {
  std::string out = dataplane::sha256Base32(name, 8) + "-" + name;
  if (out.size() > kBaseLengthMax) out = out.substr(0, kBaseLengthMax - 3) + "...";
  return out;
}
}  // namespace

std::string servicePortNameBase(const dataplane::ServicePortName& n) {
  return hashAndTruncate(n.service.namespace_ + "/" + n.service.name + "/" + model::protocolLower(n.protocol) + "/" +
                         n.port);
}

std::string endpointNameBase(const dataplane::ServicePortName& n, const std::string& ip, uint16_t port) {
  std::string addr = ip;
  std::replace(addr.begin(), addr.end(), ':', '.');
  return hashAndTruncate(n.service.namespace_ + "/" + n.service.name + "/" + model::protocolLower(n.protocol) + "/" +
                         n.port + "__" + addr + "/" + std::to_string(port));
}

}  // namespace kproxy::nftables
