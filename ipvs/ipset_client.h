// ipsets through libipset: read sets' members, apply "ipset restore" lines (create -exist,
// add/del -exist) in one session. No diff logic; the seam the backend's fake replaces.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "dataplane/status.h"

struct ipset;

namespace kproxy::ipvs {

class IpsetClient {
 public:
  virtual ~IpsetClient() = default;
  // Members of every set whose name starts with `prefix` (absent sets: absent keys).
  virtual Result<std::map<std::string, std::set<std::string>>> list(const std::string& prefix) = 0;
  // Lines in `ipset restore` syntax, in order; the first failure stops and names its line.
  virtual Status restore(const std::string& lines) = 0;
};
using IpsetClientPtr = std::unique_ptr<IpsetClient>;

class LibIpsetClient : public IpsetClient {
 public:
  LibIpsetClient();
  ~LibIpsetClient() override;
  Result<std::map<std::string, std::set<std::string>>> list(const std::string& prefix) override;
  Status restore(const std::string& lines) override;

  // Captured by libipset's print and error callbacks.
  std::string output_, error_;

 private:
  Status reset();
  struct ipset* ipset_ = nullptr;
};

}  // namespace kproxy::ipvs
