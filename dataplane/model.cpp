#include "dataplane/model.h"

namespace kproxy::model {

const char* protocolLower(Protocol p) {
  switch (p) {
    case Protocol::kTCP: return "tcp";
    case Protocol::kUDP: return "udp";
    case Protocol::kSCTP: return "sctp";
  }
  return "tcp";
}

const char* protocolName(Protocol p) {
  switch (p) {
    case Protocol::kTCP: return "TCP";
    case Protocol::kUDP: return "UDP";
    case Protocol::kSCTP: return "SCTP";
  }
  return "TCP";
}

const char* familyName(IPFamily f) { return f == IPFamily::kIPv4 ? "IPv4" : "IPv6"; }

bool Service::isProxied() const {
  if (type == ServiceType::kExternalName) return false;
  if (clusterIP.empty() || clusterIP == "None") return false;
  return true;
}

bool ignoredByProxyLabels(const ObjectMeta& meta) {
  return meta.labels.count(kLabelServiceProxyName) > 0 || meta.labels.count(kLabelHeadless) > 0;
}

}  // namespace kproxy::model
