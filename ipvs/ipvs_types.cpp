#include "ipvs/ipvs_types.h"

#include "dataplane/ip.h"

namespace kproxy::ipvs {
namespace {

const char* protocolFlag(Protocol p) {
  switch (p) {
    case Protocol::kTCP: return "-t";
    case Protocol::kUDP: return "-u";
    case Protocol::kSCTP: return "--sctp-service";
  }
  return "-t";
}

}  // namespace

std::string ServiceKey::str() const {
  return std::string(model::protocolName(protocol)) + " " + net::joinHostPort(address, family, port);
}

std::string Destination::str() const {
  return net::joinHostPort(address, address.find(':') != std::string::npos ? IPFamily::kIPv6 : IPFamily::kIPv4, port);
}

bool hasTarget(const std::vector<Destination>& ds, const Destination& d) {
  for (const auto& x : ds)
    if (x.sameTarget(d)) return true;
  return false;
}

std::string Operation::args() const {
  const ServiceKey& k = server.key;
  std::string svc = std::string(protocolFlag(k.protocol)) + " " + net::joinHostPort(k.address, k.family, k.port);
  auto settings = [&] {
    std::string s = " -s " + server.scheduler;
    if (server.persistent()) s += " -p " + std::to_string(server.timeout);
    return s;
  };
  switch (kind) {
    case OpKind::kAddService: return "-A " + svc + settings();
    case OpKind::kEditService: return "-E " + svc + settings();
    case OpKind::kDeleteService: return "-D " + svc;
    case OpKind::kAddDestination:
      return "-a " + svc + " -r " + destination.str() + " -m -w " + std::to_string(destination.weight);
    case OpKind::kEditDestination:
      return "-e " + svc + " -r " + destination.str() + " -m -w " + std::to_string(destination.weight);
    case OpKind::kDeleteDestination: return "-d " + svc + " -r " + destination.str();
  }
  return "?";
}

}  // namespace kproxy::ipvs
