#include "ipvs/ipvs_backend.h"

#include "dataplane/ip.h"
#include "dataplane/log.h"
#include "ipvs/helper_rules.h"

namespace kproxy::ipvs {
namespace {

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void fail(dataplane::SyncReport& r, const std::string& what) {
  if (!r.error.empty()) r.error += "; ";
  r.error += what;
}

// Members of `a` missing from `b`, per set.
std::map<std::string, std::set<std::string>> minus(const std::map<std::string, std::set<std::string>>& a,
                                                   const std::map<std::string, std::set<std::string>>& b) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [name, members] : a) {
    auto it = b.find(name);
    for (const auto& m : members)
      if (it == b.end() || !it->second.count(m)) out[name].insert(m);
  }
  return out;
}

}  // namespace

IpvsBackend::IpvsBackend(IpvsOptions opts, IpvsClientPtr ipvs, std::unique_ptr<DummyLink> link, IpsetClientPtr ipset,
                         std::unique_ptr<iptables::RestoreClient> iptables, Clock now)
    : opts_(std::move(opts)), ipvs_(std::move(ipvs)), link_(std::move(link)), ipset_(std::move(ipset)),
      iptables_(std::move(iptables)), now_(std::move(now)) {}

bool IpvsBackend::canaryPresent() { return link_->exists(); }

bool IpvsBackend::owns(const ServiceKey& key, const std::set<std::string>& bound,
                       const std::map<std::string, std::set<std::string>>& sets) const {
  if (auto ip = net::parseIP(key.address))
    for (const auto& c : opts_.excludeCIDRs)
      if (c.contains(*ip)) return false;
  return isOurs(key, bound, otherLocal_, sets);
}

void IpvsBackend::applyOps(const std::vector<Operation>& ops, dataplane::SyncReport& report) {
  if (ops.empty()) return;
  ApplyResult r = ipvs_->apply(ops);
  report.bytes += r.bytes;
  report.transactions += r.batches;
  for (const auto& op : ops)
    if (op.kind == OpKind::kDeleteService || op.kind == OpKind::kDeleteDestination) ++report.deleted;
  for (size_t i = 0; i < r.errors.size() && i < 3; ++i) fail(report, r.errors[i]);
  if (r.errors.size() > 3) fail(report, "and " + std::to_string(r.errors.size() - 3) + " more IPVS operations failed");
}

void IpvsBackend::applySetChanges(const std::map<std::string, std::set<std::string>>& add,
                                  const std::map<std::string, std::set<std::string>>& del,
                                  dataplane::SyncReport& report) {
  std::string lines;
  for (const auto& [name, members] : add)
    for (const auto& m : members) lines += "add " + name + " " + m + " -exist\n";
  for (const auto& [name, members] : del)
    for (const auto& m : members) lines += "del " + name + " " + m + " -exist\n";
  if (lines.empty()) return;
  report.bytes += lines.size();
  if (Status s = ipset_->restore(lines); !s) fail(report, s.message());
}

void IpvsBackend::finishDraining(dataplane::SyncReport& report) {
  if (draining_.empty()) return;
  std::vector<Operation> ops;
  std::set<ServiceKey> servers;
  for (const auto& [k, since] : draining_) servers.insert(k.server);
  const auto now = now_();
  for (const auto& key : servers) {
    auto dests = ipvs_->destinations(key);
    if (!dests) continue;  // the server is gone: the entries go below
    auto applied = applied_servers_.find(key);
    for (auto it = draining_.lower_bound(DrainKey{key, ""}); it != draining_.end() && it->first.server == key;) {
      const Destination* d = nullptr;
      for (const auto& x : dests.value())
        if (x.str() == it->first.destination) d = &x;
      if (d && d->activeConns + d->inactiveConns != 0 && now - it->second < kDrainLimit) {
        ++it;
        continue;
      }
      if (d) {
        Operation op;
        op.kind = OpKind::kDeleteDestination;
        op.server = applied != applied_servers_.end() ? applied->second.server : VirtualServer{key};
        op.destination = *d;
        ops.push_back(op);
      }
      if (applied != applied_servers_.end()) std::erase_if(applied->second.destinations, [&](const Destination& x) {
          return x.str() == it->first.destination;
        });
      it = draining_.erase(it);
    }
  }
  for (auto it = draining_.begin(); it != draining_.end();)
    it = servers.count(it->first.server) && !applied_servers_.count(it->first.server) ? draining_.erase(it) : std::next(it);
  applyOps(ops, report);
}

dataplane::SyncReport IpvsBackend::syncFull(std::shared_ptr<const dataplane::DesiredState> state) {
  const auto start = std::chrono::steady_clock::now();
  const IPFamily family = opts_.proxy.family;
  dataplane::SyncReport report;
  report.full = true;
  if (Status s = link_->ensure(); !s) {
    report.error = s.message();
    report.totalSeconds = secondsSince(start);
    return report;
  }
  auto other = link_->otherLocalAddresses(family);
  auto bound = link_->addresses(family);
  auto observed = ipvs_->list();
  auto kernelSets = ipset_->list(family == IPFamily::kIPv6 ? "KUBE-6-" : "KUBE-");
  if (!other || !bound || !observed || !kernelSets) {
    report.error = !other ? other.error() : !bound ? bound.error() : !observed ? observed.error() : kernelSets.error();
    report.totalSeconds = secondsSince(start);
    return report;
  }
  otherLocal_ = other.value();
  const IpvsOptions effective = withLocalNodeIPs(opts_, otherLocal_);

  // Sets exist before the rules that match them; the rules do not change with Services.
  const std::string creates = setCreateLines(family);
  if (Status s = ipset_->restore(creates); !s) fail(report, s.message());
  auto nat = iptables_->save("nat");
  auto filter = iptables_->save("filter");
  std::vector<iptables::JumpRule> missing;
  for (const auto& j : ipvsJumpRules()) {
    const auto& saved = j.table == "nat" ? nat : filter;
    if (!saved || !iptables::hasJumpRule(saved.value(), j)) missing.push_back(j);
  }
  // What every Service needs.
  std::map<model::NamespacedName, Fragment> fragments;
  Fragment desired = planState(*state, effective, otherLocal_, &fragments);
  const std::string rules = withJumps(renderHelperRules(effective, desired.nodeDenied), missing);
  if (report.error.empty())
    if (Status s = iptables_->restore(rules); !s) fail(report, "helper iptables rules: " + s.message());
  report.renderSeconds = secondsSince(start);

  // Ours in the kernel, compared with it.
  std::set<std::string> boundSet = bound.value();
  std::map<ServiceKey, ObservedService> current;
  for (auto& o : observed.value())
    if (o.server.key.family == family && (desired.servers.count(o.server.key) || owns(o.server.key, boundSet, kernelSets.value())))
      current.emplace(o.server.key, std::move(o));
  const auto now = now_();
  auto expired = [&](const ServiceKey& key, const Destination& d) {
    if (d.activeConns + d.inactiveConns == 0) return true;
    auto it = draining_.find(DrainKey{key, d.str()});
    return it != draining_.end() && now - it->second >= kDrainLimit;
  };
  auto ops = planOperations(desired.servers, current, expired);
  applyOps(ops, report);

  for (const auto& ip : desired.addresses)
    if (!boundSet.count(ip))
      if (Status s = link_->add(family, ip); !s) fail(report, s.message());
  for (const auto& ip : boundSet)
    if (!desired.addresses.count(ip))
      if (Status s = link_->remove(family, ip); !s) fail(report, s.message());
  std::map<std::string, std::set<std::string>> kernelOurs;
  for (const auto& s : ipsetInfo()) {
    auto it = kernelSets.value().find(setName(s.name, family));
    if (it != kernelSets.value().end()) kernelOurs[it->first] = it->second;
  }
  applySetChanges(minus(desired.sets, kernelOurs), minus(kernelOurs, desired.sets), report);

  // The model: what we wanted, plus the destinations still draining at weight 0.
  std::map<DrainKey, std::chrono::steady_clock::time_point> draining;
  for (const auto& op : ops)
    if (op.kind == OpKind::kEditDestination && op.destination.weight == 0) {
      DrainKey k{op.server.key, op.destination.str()};
      auto old = draining_.find(k);
      draining[k] = old != draining_.end() ? old->second : now;
      desired.servers[op.server.key].destinations.push_back(op.destination);
    }
  for (const auto& [key, have] : current) {
    auto want = desired.servers.find(key);
    if (want == desired.servers.end()) continue;
    for (const auto& d : have.destinations) {
      if (d.weight != 0) continue;
      if (hasTarget(want->second.destinations, d)) continue;
      if (expired(key, d)) continue;  // deleted above
      DrainKey k{key, d.str()};
      auto old = draining_.find(k);
      draining[k] = old != draining_.end() ? old->second : now;
      want->second.destinations.push_back(d);
    }
  }
  draining_ = std::move(draining);
  applied_servers_ = std::move(desired.servers);
  fragments_ = std::move(fragments);
  addressRefs_.clear();
  memberRefs_.clear();
  serverRefs_.clear();
  for (const auto& [svc, f] : fragments_) {
    for (const auto& [key, s] : f.servers) ++serverRefs_[key];
    for (const auto& a : f.addresses) ++addressRefs_[a];
    for (const auto& [name, members] : f.sets)
      for (const auto& m : members) ++memberRefs_[name][m];
  }
  report.servicePortsWritten = state->ports.size();
  report.kernelSeconds = secondsSince(start) - report.renderSeconds;
  report.totalSeconds = secondsSince(start);
  report.ok = report.error.empty();
  if (report.ok) applied_ = std::move(state);
  return report;
}

dataplane::SyncReport IpvsBackend::syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                               const std::set<model::NamespacedName>& changed) {
  if (!applied_) return syncFull(std::move(state));
  const auto start = std::chrono::steady_clock::now();
  const IPFamily family = opts_.proxy.family;
  dataplane::SyncReport report;
  finishDraining(report);
  const IpvsOptions effective = withLocalNodeIPs(opts_, otherLocal_);

  // Two Services claiming one virtual server (the same external IP and port, say): the full
  // sync's rule decides (the first by name wins), so such a change is synced in full.
  // (Only the changed claims are counted: copying the whole count costs milliseconds at 10k.)
  std::map<model::NamespacedName, Fragment> planned;
  std::map<ServiceKey, int> delta;
  for (const auto& svc : changed) {
    auto old = fragments_.find(svc);
    if (old != fragments_.end())
      for (const auto& [key, s] : old->second.servers) --delta[key];
    const Fragment& f = planned[svc] = planPorts(state->portsOf(svc), effective, otherLocal_);
    for (const auto& [key, s] : f.servers) ++delta[key];
    // KUBE-IPVS-OUT-FILTER is rewritten whole, with the other helper rules, in a full sync.
    if (f.nodeDenied != (old != fragments_.end() ? old->second.nodeDenied : std::set<std::string>{}))
      return syncFull(std::move(state));
  }
  for (const auto& [key, d] : delta) {
    auto it = serverRefs_.find(key);
    const int before = it == serverRefs_.end() ? 0 : it->second;
    if (before > 1 || before + d > 1) return syncFull(std::move(state));
  }

  std::vector<Operation> ops;
  std::set<std::string> addAddr, delAddr;
  std::map<std::string, std::set<std::string>> addMembers, delMembers;
  const auto now = now_();
  // A removed TCP/SCTP destination without connections goes at once (as upstream's graceful
  // termination); one with connections drains. Only the servers that lose one are asked.
  std::map<ServiceKey, std::vector<Destination>> live;
  auto idle = [&](const ServiceKey& key, const Destination& d) {
    auto it = live.find(key);
    if (it == live.end()) {
      auto r = ipvs_->destinations(key);
      it = live.emplace(key, r ? std::move(r).value() : std::vector<Destination>{}).first;
    }
    for (const auto& x : it->second)
      if (x.sameTarget(d)) return x.activeConns + x.inactiveConns == 0;
    return true;  // not in the kernel: nothing to wait for
  };
  for (const auto& svc : changed) {
    Fragment& next = planned[svc];
    report.servicePortsWritten += state->portsOf(svc).size();
    Fragment prev;
    if (auto it = fragments_.find(svc); it != fragments_.end()) prev = it->second;
    if (next == prev) continue;
    std::map<ServiceKey, ObservedService> current;
    for (const auto& [key, s] : prev.servers)
      if (auto it = applied_servers_.find(key); it != applied_servers_.end()) current.emplace(key, it->second);
    auto svcOps = planOperations(next.servers, current, idle);
    std::set<DrainKey> deleted;
    for (const auto& op : svcOps)
      if (op.kind == OpKind::kDeleteDestination) deleted.insert(DrainKey{op.server.key, op.destination.str()});
    for (const auto& [key, s] : prev.servers)
      if (!next.servers.count(key)) applied_servers_.erase(key);
    for (auto& [key, s] : next.servers) {
      ObservedService model = s;
      for (const auto& d : model.destinations) draining_.erase(DrainKey{key, d.str()});
      auto cur = current.find(key);
      if (cur != current.end())
        for (const auto& d : cur->second.destinations) {
          if (hasTarget(s.destinations, d)) continue;
          DrainKey k{key, d.str()};
          if (deleted.count(k)) {
            draining_.erase(k);
            continue;
          }
          Destination drained = d;
          drained.weight = 0;
          model.destinations.push_back(drained);
          draining_.try_emplace(k, now);
        }
      applied_servers_[key] = std::move(model);
    }
    for (auto it = draining_.begin(); it != draining_.end();)
      it = applied_servers_.count(it->first.server) ? std::next(it) : draining_.erase(it);
    ops.insert(ops.end(), svcOps.begin(), svcOps.end());

    for (const auto& a : next.addresses)
      if (!prev.addresses.count(a) && ++addressRefs_[a] == 1) addAddr.insert(a);
    for (const auto& a : prev.addresses)
      if (!next.addresses.count(a) && --addressRefs_[a] == 0) {
        addressRefs_.erase(a);
        delAddr.insert(a);
      }
    for (const auto& [name, members] : minus(next.sets, prev.sets))
      for (const auto& m : members)
        if (++memberRefs_[name][m] == 1) addMembers[name].insert(m);
    for (const auto& [name, members] : minus(prev.sets, next.sets))
      for (const auto& m : members)
        if (--memberRefs_[name][m] == 0) {
          memberRefs_[name].erase(m);
          delMembers[name].insert(m);
        }
    for (const auto& [key, s] : prev.servers)
      if (--serverRefs_[key] == 0) serverRefs_.erase(key);
    for (const auto& [key, s] : next.servers) ++serverRefs_[key];
    if (state->portsOf(svc).empty()) fragments_.erase(svc);
    else fragments_[svc] = std::move(next);
  }
  report.renderSeconds = secondsSince(start);
  // Addresses first: a new virtual server answers as soon as it exists.
  for (const auto& ip : addAddr) {
    delAddr.erase(ip);
    if (Status s = link_->add(family, ip); !s) fail(report, s.message());
  }
  applyOps(ops, report);
  for (const auto& ip : delAddr)
    if (Status s = link_->remove(family, ip); !s) fail(report, s.message());
  applySetChanges(addMembers, delMembers, report);
  report.kernelSeconds = secondsSince(start) - report.renderSeconds;
  report.totalSeconds = secondsSince(start);
  report.ok = report.error.empty();
  if (report.ok) applied_ = std::move(state);
  return report;
}

}  // namespace kproxy::ipvs
