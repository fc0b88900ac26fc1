#include "iptables/chain_names.h"

#include "dataplane/name_hash.h"

namespace kproxy::iptables {

namespace {

std::string hash16(std::string_view a, std::string_view b, std::string_view c) {
  std::string input;
  input.reserve(a.size() + b.size() + c.size());
  input.append(a).append(b).append(c);
  return dataplane::sha256Base32(input, 16);
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
