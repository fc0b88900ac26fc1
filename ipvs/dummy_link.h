// kube-ipvs0: the dummy device (kept down) that holds every Service IP as a /32 or /128, so the
// kernel delivers Service traffic locally where IPVS picks it up. Over rtnetlink (libnl-route).
#pragma once

#include <memory>
#include <set>
#include <string>

#include "dataplane/model.h"
#include "dataplane/status.h"

struct nl_sock;

namespace kproxy::ipvs {

inline constexpr const char* kDummyDevice = "kube-ipvs0";

class DummyLink {
 public:
  virtual ~DummyLink() = default;
  // Creates the device when missing (down, as upstream keeps it).
  virtual Status ensure() = 0;
  virtual bool exists() = 0;
  // The addresses on the device of one family (normalized text).
  virtual Result<std::set<std::string>> addresses(model::IPFamily family) = 0;
  virtual Status add(model::IPFamily family, const std::string& ip) = 0;
  virtual Status remove(model::IPFamily family, const std::string& ip) = 0;
  // Every local address of this family on other devices (external/LB IPs already local are
  // not bound to kube-ipvs0 again).
  virtual Result<std::set<std::string>> otherLocalAddresses(model::IPFamily family) = 0;
};

class NetlinkDummyLink : public DummyLink {
 public:
  NetlinkDummyLink();
  ~NetlinkDummyLink() override;
  Status ensure() override;
  bool exists() override { return ifindex() > 0; }
  Result<std::set<std::string>> addresses(model::IPFamily family) override;
  Status add(model::IPFamily family, const std::string& ip) override;
  Status remove(model::IPFamily family, const std::string& ip) override;
  Result<std::set<std::string>> otherLocalAddresses(model::IPFamily family) override;

 private:
  Status connect();
  int ifindex();
  Result<std::set<std::string>> list(model::IPFamily family, bool onDevice);
  Status change(model::IPFamily family, const std::string& ip, bool add);

  nl_sock* sock_ = nullptr;
};

// Deletes kube-ipvs0 if it exists (cleanup); false with a reason when it cannot.
Status deleteDummyDevice();

}  // namespace kproxy::ipvs
