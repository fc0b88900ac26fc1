#include "trace/ipvs_view.h"

namespace kproxy::trace {
namespace {

std::string describe(const ipvs::VirtualServer& s) {
  return s.key.str() + " " + s.scheduler + (s.persistent() ? " persistent " + std::to_string(s.timeout) : "");
}

// Does a set member mention this address (and, where it has one, this port)?
bool mentions(const std::string& member, const Target& t, const std::string& ip) {
  const std::string ipPort = ip + "," + model::protocolLower(t.proto) + ":" + std::to_string(t.port);
  return member == ip || member == ipPort || member.rfind(ipPort + ",", 0) == 0 || member == std::to_string(t.port);
}

}  // namespace

IpvsEvaluation evaluateIpvs(const IpvsView& view, const Target& t, const ipvs::Fragment* desired) {
  IpvsEvaluation ev;
  const std::string ip = t.ip.str();
  const ipvs::ServiceKey key{t.ip.family, t.proto, ip, t.port};
  const ipvs::ObservedService* have = nullptr;
  for (const auto& s : view.servers)
    if (s.server.key == key) have = &s;
  const ipvs::ObservedService* want = nullptr;
  if (desired)
    if (auto it = desired->servers.find(key); it != desired->servers.end()) want = &it->second;

  if (!have) {
    ev.outcomes.push_back({1, IpvsOutcome::Fate::kAccept, "", "no virtual server for " + key.str()});
  } else {
    ev.server = describe(have->server);
    uint64_t total = 0;
    for (const auto& d : have->destinations) total += d.weight;
    for (const auto& d : have->destinations) {
      std::string conns = std::to_string(d.activeConns) + " active, " + std::to_string(d.inactiveConns) + " inactive";
      if (d.weight == 0) {
        ev.notes.push_back("draining: " + d.str() + " (weight 0, " + conns + " connections)");
        continue;
      }
      ev.outcomes.push_back({static_cast<double>(d.weight) / static_cast<double>(total), IpvsOutcome::Fate::kDnat, d.str(),
                             "weight " + std::to_string(d.weight) + ", " + conns});
    }
    if (total == 0)
      ev.outcomes.push_back({1, IpvsOutcome::Fate::kReject, "", "no destination with weight > 0: IPVS answers port unreachable"});
    if (have->server.persistent())
      ev.notes.push_back("session affinity: a client seen in the last " + std::to_string(have->server.timeout) +
                         " s goes back to its previous destination");
    if (have->server.scheduler != "rr")
      ev.notes.push_back("scheduler " + have->server.scheduler + ": the shares above are by weight; " +
                         have->server.scheduler + " decides per connection");
  }

  // kube-ipvs0 and the ipsets.
  const bool bound = view.deviceAddresses.count(ip) > 0;
  if (bound) ev.notes.push_back("kube-ipvs0 holds " + ip);
  std::vector<std::string> memberships;
  for (const auto& [name, members] : view.sets)
    for (const auto& m : members)
      if (mentions(m, t, ip)) memberships.push_back(name + " " + m);
  if (!memberships.empty()) {
    std::string s;
    for (const auto& m : memberships) s += (s.empty() ? "" : ", ") + m;
    ev.notes.push_back("ipsets: " + s);
  }

  // Against the plan.
  if (!desired) return ev;
  if (want && !have) ev.diff.push_back("- virtual server " + describe(want->server) + " (desired) not in the kernel");
  if (want && have) {
    if (!want->server.sameSettings(have->server))
      ev.diff.push_back("- virtual server " + describe(want->server) + " (desired); kernel: " + describe(have->server));
    for (const auto& w : want->destinations) {
      bool there = false;
      for (const auto& d : have->destinations) there = there || (d.sameTarget(w) && d.weight > 0);
      if (!there) ev.diff.push_back("- destination " + w.str() + " (desired) not in the kernel");
    }
    for (const auto& d : have->destinations) {
      if (d.weight == 0) continue;
      if (!ipvs::hasTarget(want->destinations, d)) ev.diff.push_back("+ destination " + d.str() + " (kernel) not desired");
    }
  }
  if (desired->addresses.count(ip) && !bound)
    ev.diff.push_back("- kube-ipvs0 address " + ip + " (desired) missing: the kernel does not deliver it to IPVS");
  for (const auto& [name, members] : desired->sets)
    for (const auto& m : members) {
      if (!mentions(m, t, ip)) continue;
      auto it = view.sets.find(name);
      if (it == view.sets.end() || !it->second.count(m)) ev.diff.push_back("- ipset " + name + " " + m + " (desired) missing");
    }
  return ev;
}

}  // namespace kproxy::trace
