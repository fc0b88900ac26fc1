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
  // What cannot be read says nothing is ours.
  auto listed = ipset.list("KUBE-");
  const auto sets = listed ? listed.value() : std::map<std::string, std::set<std::string>>{};
  std::vector<Operation> ops;
  for (auto family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    auto boundOr = link.addresses(family);
    auto otherOr = link.otherLocalAddresses(family);
    const auto bound = boundOr ? boundOr.value() : std::set<std::string>{};
    const auto other = otherOr ? otherOr.value() : std::set<std::string>{};
    for (const auto& s : servers.value()) {
      if (s.server.key.family != family || !isOurs(s.server.key, bound, other, sets)) continue;
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
