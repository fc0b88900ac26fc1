#include "dataplane/cluster_state.h"

namespace kproxy::dataplane {

bool ClusterState::upsertService(model::Service s) {
  auto key = s.key();
  auto it = services_.find(key);
  if (it != services_.end() && it->second == s) return false;
  services_[key] = std::move(s);
  changed_.insert(key);
  return true;
}

bool ClusterState::deleteService(const model::NamespacedName& key) {
  if (services_.erase(key) == 0) return false;
  changed_.insert(key);
  return true;
}

bool ClusterState::upsertSlice(model::EndpointSlice s) {
  auto key = s.key();
  auto it = slices_.find(key);
  if (it != slices_.end()) {
    if (it->second == s) return false;
    // A slice that moved to another service (label edit) changes both.
    changed_.insert(it->second.serviceKey());
  }
  changed_.insert(s.serviceKey());
  slices_[key] = std::move(s);
  return true;
}

bool ClusterState::deleteSlice(const model::NamespacedName& key) {
  auto it = slices_.find(key);
  if (it == slices_.end()) return false;
  changed_.insert(it->second.serviceKey());
  slices_.erase(it);
  return true;
}

bool ClusterState::upsertNode(model::Node n) {
  if (n.meta.name != nodeName_) return false;
  if (node_ && *node_ == n) return false;
  bool labelsChanged = !node_ || node_->meta.labels != n.meta.labels;
  node_ = std::move(n);
  nodeChanged_ = nodeChanged_ || labelsChanged;
  return labelsChanged;
}

bool ClusterState::deleteNode(const std::string& name) {
  if (!node_ || name != nodeName_) return false;
  node_.reset();
  nodeChanged_ = true;
  return true;
}

ClusterState::Changes ClusterState::takeChanges() {
  Changes c{std::move(changed_), nodeChanged_};
  changed_.clear();
  nodeChanged_ = false;
  return c;
}

NodeContext ClusterState::nodeContext() const {
  NodeContext ctx;
  ctx.nodeName = nodeName_;
  if (node_) ctx.nodeLabels = node_->meta.labels;
  return ctx;
}

std::vector<model::Service> ClusterState::services() const {
  std::vector<model::Service> out;
  out.reserve(services_.size());
  for (const auto& [k, v] : services_) out.push_back(v);
  return out;
}

std::vector<model::EndpointSlice> ClusterState::slices() const {
  std::vector<model::EndpointSlice> out;
  out.reserve(slices_.size());
  for (const auto& [k, v] : slices_) out.push_back(v);
  return out;
}

DesiredState ClusterState::desired(model::IPFamily family) const {
  std::vector<const model::Service*> svcs;
  svcs.reserve(services_.size());
  for (const auto& [k, v] : services_) svcs.push_back(&v);
  std::vector<const model::EndpointSlice*> eps;
  eps.reserve(slices_.size());
  for (const auto& [k, v] : slices_) eps.push_back(&v);
  return buildDesiredState(std::move(svcs), std::move(eps), nodeContext(), family);
}

}  // namespace kproxy::dataplane
