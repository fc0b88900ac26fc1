// In-memory IPVS, kube-ipvs0 and ipsets for unit tests of IPVS mode: each applies what the
// kernel would (EEXIST/ENOENT semantics, a destination needs its virtual server, a member needs
// its set) and can be told to fail.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ipvs/dummy_link.h"
#include "ipvs/ipset_client.h"
#include "ipvs/ipvs_client.h"

namespace kproxy::testing {

struct FakeIpvsKernel {
  std::map<ipvs::ServiceKey, ipvs::ObservedService> servers;
  std::vector<std::string> applied;  // every operation applied, as ipvsadm commands
  int failNext = 0;                  // the next apply() calls fail every operation
  std::vector<uint32_t> timeouts;    // the last setTimeouts()
  // Connection counts the kernel reports for a destination ("10.0.0.1:80" of a server).
  void setConns(const ipvs::ServiceKey& key, const std::string& dest, uint32_t active, uint32_t inactive);
  const ipvs::Destination* find(const ipvs::ServiceKey& key, const std::string& dest) const;
};

class FakeIpvsClient : public ipvs::IpvsClient {
 public:
  explicit FakeIpvsClient(FakeIpvsKernel& k) : k_(k) {}
  Result<std::vector<ipvs::ObservedService>> list() override;
  Result<std::vector<ipvs::Destination>> destinations(const ipvs::ServiceKey& key) override;
  ipvs::ApplyResult apply(const std::vector<ipvs::Operation>& ops) override;
  Status setTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp) override {
    k_.timeouts = {tcp, tcpFin, udp};
    return Status::ok();
  }

 private:
  FakeIpvsKernel& k_;
};

struct FakeLinkState {
  bool exists = false;
  std::set<std::string> addresses;   // on kube-ipvs0
  std::set<std::string> otherLocal;  // on other devices
};

class FakeDummyLink : public ipvs::DummyLink {
 public:
  explicit FakeDummyLink(FakeLinkState& s) : s_(s) {}
  Status ensure() override;
  bool exists() override { return s_.exists; }
  Result<std::set<std::string>> addresses(model::IPFamily family) override;
  Status add(model::IPFamily family, const std::string& ip) override;
  Status remove(model::IPFamily family, const std::string& ip) override;
  Result<std::set<std::string>> otherLocalAddresses(model::IPFamily family) override;

 private:
  FakeLinkState& s_;
};

struct FakeIpsetState {
  std::map<std::string, std::set<std::string>> sets;
  int restores = 0;
};

class FakeIpset : public ipvs::IpsetClient {
 public:
  explicit FakeIpset(FakeIpsetState& s) : s_(s) {}
  Result<std::map<std::string, std::set<std::string>>> list(const std::string& prefix) override;
  Status restore(const std::string& lines) override;

 private:
  FakeIpsetState& s_;
};

}  // namespace kproxy::testing
