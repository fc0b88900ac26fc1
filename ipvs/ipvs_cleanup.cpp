#include "ipvs/ipvs_cleanup.h"

#include "ipvs/dummy_link.h"
#include "ipvs/ipset_client.h"
#include "ipvs/ipvs_client.h"
#include "ipvs/planner.h"

namespace kproxy::ipvs {

Result<size_t> removeOwnVirtualServers() {
  auto client = NetlinkIpvsClient::open();
  if (!client) return size_t{0};
  auto servers = client.value()->list();
  if (!servers) return servers.status();
  NetlinkDummyLink link;
  LibIpsetClient ipset;
  auto sets = ipset.list("KUBE-");
  std::vector<Operation> ops;
  for (auto family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    auto bound = link.addresses(family);
    auto other = link.otherLocalAddresses(family);
    auto member = [&](const char* set, const std::string& m) {
      if (!sets) return false;
      auto it = sets.value().find(setName(set, family));
      return it != sets.value().end() && it->second.count(m) > 0;
    };
    for (const auto& s : servers.value()) {
      const ServiceKey& k = s.server.key;
      if (k.family != family) continue;
      bool ours = (bound && bound.value().count(k.address)) || member("KUBE-IPVS-IPS", k.address);
      if (!ours && other && other.value().count(k.address)) {
        const std::string port = std::to_string(k.port);
        ours = (k.protocol == Protocol::kTCP && member("KUBE-NODE-PORT-TCP", port)) ||
               (k.protocol == Protocol::kUDP && member("KUBE-NODE-PORT-UDP", port)) ||
               (k.protocol == Protocol::kSCTP && member("KUBE-NODE-PORT-SCTP-HASH", k.address + ",sctp:" + port));
      }
      if (!ours) continue;
      Operation op;
      op.kind = OpKind::kDeleteService;
      op.server = s.server;
      ops.push_back(op);
    }
  }
  ApplyResult r = client.value()->apply(ops);
  if (!r.ok()) return Status::error(r.errors.front());
  return ops.size();
}

}  // namespace kproxy::ipvs
