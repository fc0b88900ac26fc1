#include "tests/fakes/fake_ipvs.h"

#include <algorithm>
#include <sstream>

namespace kproxy::testing {

using ipvs::Destination;
using ipvs::OpKind;

namespace {
bool isV6(const std::string& ip) { return ip.find(':') != std::string::npos; }
}  // namespace

void FakeIpvsKernel::setConns(const ipvs::ServiceKey& key, const std::string& dest, uint32_t active, uint32_t inactive) {
  for (auto& d : servers.at(key).destinations)
    if (d.str() == dest) {
      d.activeConns = active;
      d.inactiveConns = inactive;
    }
}

const Destination* FakeIpvsKernel::find(const ipvs::ServiceKey& key, const std::string& dest) const {
  auto it = servers.find(key);
  if (it == servers.end()) return nullptr;
  for (const auto& d : it->second.destinations)
    if (d.str() == dest) return &d;
  return nullptr;
}

Result<std::vector<ipvs::ObservedService>> FakeIpvsClient::list() {
  std::vector<ipvs::ObservedService> out;
  for (const auto& [k, s] : k_.servers) out.push_back(s);
  return out;
}

Result<std::vector<Destination>> FakeIpvsClient::destinations(const ipvs::ServiceKey& key) {
  auto it = k_.servers.find(key);
  if (it == k_.servers.end()) return Status::error("No such service");
  return it->second.destinations;
}

ipvs::ApplyResult FakeIpvsClient::apply(const std::vector<ipvs::Operation>& ops) {
  ipvs::ApplyResult r;
  r.batches = 1;
  const bool failing = k_.failNext > 0;
  if (failing) --k_.failNext;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    ++r.messages;
    r.bytes += 64;
    auto error = [&](const std::string& why) {
      r.errors.push_back(op.str() + ": " + why);
      r.failed.push_back(i);
    };
    if (failing) {
      error("Cannot allocate memory");
      continue;
    }
    auto svc = k_.servers.find(op.server.key);
    auto dest = [&]() -> std::vector<Destination>::iterator {
      auto& ds = svc->second.destinations;
      return std::find_if(ds.begin(), ds.end(), [&](const Destination& d) { return d.sameTarget(op.destination); });
    };
    switch (op.kind) {
      case OpKind::kAddService:
        if (svc == k_.servers.end()) k_.servers[op.server.key].server = op.server;
        break;
      case OpKind::kEditService:
        if (svc == k_.servers.end()) error("No such service");
        else svc->second.server = op.server;
        break;
      case OpKind::kDeleteService:
        if (svc != k_.servers.end()) k_.servers.erase(svc);
        break;
      case OpKind::kAddDestination:
        if (svc == k_.servers.end()) error("No such service");
        else if (dest() == svc->second.destinations.end()) {
          Destination d = op.destination;
          d.activeConns = d.inactiveConns = 0;
          svc->second.destinations.push_back(d);
        }
        break;
      case OpKind::kEditDestination:
        if (svc == k_.servers.end() || dest() == svc->second.destinations.end()) error("No such destination");
        else dest()->weight = op.destination.weight;
        break;
      case OpKind::kDeleteDestination:
        if (svc != k_.servers.end() && dest() != svc->second.destinations.end()) svc->second.destinations.erase(dest());
        break;
    }
    if (r.failed.empty() || r.failed.back() != i) k_.applied.push_back(op.str());
  }
  return r;
}

Status FakeDummyLink::ensure() {
  s_.exists = true;
  return Status::ok();
}

Result<std::set<std::string>> FakeDummyLink::addresses(model::IPFamily family) {
  std::set<std::string> out;
  for (const auto& a : s_.addresses)
    if (isV6(a) == (family == model::IPFamily::kIPv6)) out.insert(a);
  return out;
}

Status FakeDummyLink::add(model::IPFamily, const std::string& ip) {
  if (!s_.exists) return Status::error("kube-ipvs0 does not exist");
  s_.addresses.insert(ip);
  return Status::ok();
}

Status FakeDummyLink::remove(model::IPFamily, const std::string& ip) {
  if (!s_.addresses.erase(ip)) return Status::error("cannot remove " + ip + " from kube-ipvs0: not there");
  return Status::ok();
}

Result<std::set<std::string>> FakeDummyLink::otherLocalAddresses(model::IPFamily family) {
  std::set<std::string> out;
  for (const auto& a : s_.otherLocal)
    if (isV6(a) == (family == model::IPFamily::kIPv6)) out.insert(a);
  return out;
}

Result<std::map<std::string, std::set<std::string>>> FakeIpset::list(const std::string& prefix) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [name, members] : s_.sets)
    if (name.rfind(prefix, 0) == 0) out[name] = members;
  return out;
}

Status FakeIpset::restore(const std::string& lines) {
  ++s_.restores;
  std::istringstream in(lines);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string verb, name, arg;
    words >> verb >> name >> arg;
    if (verb == "create") {
      if (name.size() > 31) return Status::error("ipset: set name too long: " + name);
      s_.sets.try_emplace(name);
      continue;
    }
    auto it = s_.sets.find(name);
    if (it == s_.sets.end()) return Status::error("ipset: the set with the given name does not exist (" + line + ")");
    if (verb == "add") it->second.insert(arg);
    else if (verb == "del") it->second.erase(arg);
    else return Status::error("ipset: unknown command in: " + line);
  }
  return Status::ok();
}

}  // namespace kproxy::testing
