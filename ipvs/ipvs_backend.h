// IPVS mode for one IP family: virtual servers over netlink, Service IPs on kube-ipvs0, ipset
// members, the helper iptables rules; graceful termination of removed TCP/SCTP destinations.
// Only virtual servers it owns are ever changed: their address is on kube-ipvs0 (or in
// KUBE-IPVS-IPS), or they are a node address whose port is in one of our NodePort sets.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "dataplane/backend.h"
#include "iptables/restore_runner.h"
#include "ipvs/dummy_link.h"
#include "ipvs/ipset_client.h"
#include "ipvs/ipvs_client.h"
#include "ipvs/planner.h"

namespace kproxy::ipvs {

class IpvsBackend : public dataplane::Backend {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // How long a removed destination may drain before it is deleted with connections left.
  static constexpr std::chrono::minutes kDrainLimit{15};

  IpvsBackend(IpvsOptions opts, IpvsClientPtr ipvs, std::unique_ptr<DummyLink> link, IpsetClientPtr ipset,
              std::unique_ptr<iptables::RestoreClient> iptables, Clock now = std::chrono::steady_clock::now);

  const char* mode() const override { return "ipvs"; }
  const char* kernelStep() const override { return "netlink"; }
  dataplane::SyncReport syncFull(std::shared_ptr<const dataplane::DesiredState> state) override;
  dataplane::SyncReport syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                    const std::set<model::NamespacedName>& changed) override;
  bool canaryPresent() override;
  void setNodeInfo(const dataplane::NodeInfo& info) override { opts_.proxy.setNodeInfo(info); }

  // What we believe the kernel holds of ours (tests, trace).
  const std::map<ServiceKey, ObservedService>& appliedServers() const { return applied_servers_; }
  size_t drainingCount() const { return draining_.size(); }

 private:
  struct DrainKey {
    ServiceKey server;
    std::string destination;
    auto operator<=>(const DrainKey&) const = default;
  };

  // Deletes draining destinations that have no connections left (or waited too long).
  void finishDraining(dataplane::SyncReport& report);
  void applyOps(const std::vector<Operation>& ops, dataplane::SyncReport& report);
  void applySetChanges(const std::map<std::string, std::set<std::string>>& add,
                       const std::map<std::string, std::set<std::string>>& del, dataplane::SyncReport& report);
  bool owns(const ServiceKey& key, const std::set<std::string>& bound,
            const std::map<std::string, std::set<std::string>>& sets) const;

  IpvsOptions opts_;
  IpvsClientPtr ipvs_;
  std::unique_ptr<DummyLink> link_;
  IpsetClientPtr ipset_;
  std::unique_ptr<iptables::RestoreClient> iptables_;
  Clock now_;
  std::set<std::string> otherLocal_;
  std::map<model::NamespacedName, Fragment> fragments_;
  std::map<ServiceKey, ObservedService> applied_servers_;
  std::map<std::string, int> addressRefs_;
  std::map<ServiceKey, int> serverRefs_;  // Services claiming each virtual server
  std::map<std::string, std::map<std::string, int>> memberRefs_;
  std::map<DrainKey, std::chrono::steady_clock::time_point> draining_;
};

}  // namespace kproxy::ipvs
