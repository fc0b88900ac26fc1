// The Source seam: whatever feeds Services, EndpointSlices, the Node and ServiceCIDRs into the daemon (a
// manifests directory now, the API server later) delivers batches of changes through it.
#pragma once

#include <functional>
#include <vector>

#include "dataplane/model.h"

namespace kproxy::watch {

struct SourceBatch {
  std::vector<model::Service> upsertServices;
  std::vector<model::NamespacedName> deleteServices;
  std::vector<model::EndpointSlice> upsertSlices;
  std::vector<model::NamespacedName> deleteSlices;
  std::vector<model::Node> upsertNodes;
  std::vector<std::string> deleteNodes;
  std::vector<model::ServiceCIDR> upsertServiceCIDRs;
  std::vector<std::string> deleteServiceCIDRs;
  // True on the batch that completes the first full listing: only then may rules be programmed.
  bool listComplete = false;

  bool empty() const {
    return upsertServices.empty() && deleteServices.empty() && upsertSlices.empty() && deleteSlices.empty() &&
           upsertNodes.empty() && deleteNodes.empty() && upsertServiceCIDRs.empty() && deleteServiceCIDRs.empty();
  }
};

class Source {
 public:
  using Sink = std::function<void(SourceBatch)>;
  virtual ~Source() = default;
  // Starts delivering batches to `sink`, always on the daemon's io_context thread.
  virtual void start(Sink sink) = 0;
  virtual void stop() = 0;
};

}  // namespace kproxy::watch
