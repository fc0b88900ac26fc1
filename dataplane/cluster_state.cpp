#include "dataplane/cluster_state.h"

#include <charconv>
#include <ctime>

namespace kproxy::dataplane {

std::optional<WallTime> parseRFC3339(const std::string& s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  auto num = [&](size_t pos, size_t len, int& out) {
    if (pos + len > s.size()) return false;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc() && p == s.data() + pos + len;
  };
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
      !num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, sec))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits: 1678-2262. Outside 1970-2200 a time is not a
  // trigger time of this cluster, and would overflow the arithmetic below.
  if (y < 1970 || y > 2200) return std::nullopt;
  size_t i = 19;
  long long nanos = 0;
  if (i < s.size() && s[i] == '.') {
    long long scale = 100000000;
    ++i;
    size_t start = i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      nanos += (s[i] - '0') * scale;
      scale /= 10;
    }
    if (i == start) return std::nullopt;
  }
  int offsetMinutes = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (i + 6 != s.size() || s[i + 3] != ':' || !num(i + 1, 2, oh) || !num(i + 4, 2, om)) return std::nullopt;
    offsetMinutes = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t t = ::timegm(&tm);
  return std::chrono::system_clock::from_time_t(t) - std::chrono::minutes(offsetMinutes) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(nanos));
}

void ClusterState::touch(const model::NamespacedName& svc) {
  changed_.insert(svc);
  for (auto& c : cache_)
    if (c.valid) c.dirty.insert(svc);
}

bool ClusterState::upsertService(model::Service s) {
  auto key = s.key();
  auto it = services_.find(key);
  if (it != services_.end() && it->second == s) return false;
  services_[key] = std::move(s);
  touch(key);
  return true;
}

bool ClusterState::deleteService(const model::NamespacedName& key) {
  if (services_.erase(key) == 0) return false;
  touch(key);
  return true;
}

bool ClusterState::upsertSlice(model::EndpointSlice s) {
  auto key = s.key();
  auto it = slices_.find(key);
  if (it != slices_.end()) {
    if (it->second == s) return false;
    // A slice that moved to another service (label edit) changes both.
    auto oldService = it->second.serviceKey();
    touch(oldService);
    if (auto idx = slicesByService_.find(oldService); idx != slicesByService_.end()) {
      idx->second.erase(key);
      if (idx->second.empty()) slicesByService_.erase(idx);
    }
  }
  touch(s.serviceKey());
  slicesByService_[s.serviceKey()].insert(key);
  ++endpointChanges_;
  if (auto a = s.meta.annotations.find(kAnnotationTriggerTime); a != s.meta.annotations.end())
    if (auto t = parseRFC3339(a->second); t && *t > start_) triggerTimes_.push_back(*t);
  slices_[key] = std::move(s);
  return true;
}

bool ClusterState::deleteSlice(const model::NamespacedName& key) {
  auto it = slices_.find(key);
  if (it == slices_.end()) return false;
  auto svc = it->second.serviceKey();
  touch(svc);
  if (auto idx = slicesByService_.find(svc); idx != slicesByService_.end()) {
    idx->second.erase(key);
    if (idx->second.empty()) slicesByService_.erase(idx);
  }
  ++endpointChanges_;
  slices_.erase(it);
  return true;
}

bool ClusterState::upsertNode(model::Node n) {
  if (n.meta.name != nodeName_) return false;
  if (node_ && *node_ == n) return false;
  bool labelsChanged = !node_ || node_->meta.labels != n.meta.labels;
  bool addressesChanged = !node_ || node_->addresses != n.addresses;
  node_ = std::move(n);
  // Addresses decide the primary node IP (source ranges, "primary" NodePorts): a full sync.
  nodeChanged_ = nodeChanged_ || labelsChanged || addressesChanged;
  // Labels (the zone) decide every service's topology-aware endpoints.
  if (labelsChanged)
    for (auto& c : cache_) c.valid = false;
  return labelsChanged || addressesChanged;
}

bool ClusterState::deleteNode(const std::string& name) {
  if (!node_ || name != nodeName_) return false;
  node_.reset();
  nodeChanged_ = true;
  for (auto& c : cache_) c.valid = false;
  return true;
}

bool ClusterState::upsertServiceCIDR(model::ServiceCIDR c) {
  auto before = serviceCIDRs();
  serviceCIDRs_[c.meta.name] = std::move(c.cidrs);
  return serviceCIDRs() != before;
}

bool ClusterState::deleteServiceCIDR(const std::string& name) {
  auto before = serviceCIDRs();
  serviceCIDRs_.erase(name);
  return serviceCIDRs() != before;
}

std::vector<std::string> ClusterState::serviceCIDRs() const {
  std::set<std::string> all;
  for (const auto& [name, cidrs] : serviceCIDRs_) all.insert(cidrs.begin(), cidrs.end());
  return {all.begin(), all.end()};
}

ClusterState::Changes ClusterState::takeChanges() {
  Changes c{std::move(changed_), nodeChanged_, std::move(triggerTimes_), endpointChanges_};
  changed_.clear();
  triggerTimes_.clear();
  nodeChanged_ = false;
  endpointChanges_ = 0;
  return c;
}

NodeContext ClusterState::nodeContext() const {
  NodeContext ctx;
  ctx.nodeName = nodeName_;
  ctx.serveExternalIPs = serveExternalIPs_;
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

DesiredState ClusterState::buildDesired(model::IPFamily family) const {
  std::vector<const model::Service*> svcs;
  svcs.reserve(services_.size());
  for (const auto& [k, v] : services_) svcs.push_back(&v);
  std::vector<const model::EndpointSlice*> eps;
  eps.reserve(slices_.size());
  for (const auto& [k, v] : slices_) eps.push_back(&v);
  return buildDesiredState(std::move(svcs), std::move(eps), nodeContext(), family);
}

std::vector<PortList::Ptr> ClusterState::buildService(const model::NamespacedName& key, model::IPFamily family,
                                                      const NodeContext& node) const {
  std::vector<PortList::Ptr> out;
  auto svc = services_.find(key);
  if (svc == services_.end()) return out;
  std::vector<const model::EndpointSlice*> own;
  if (auto idx = slicesByService_.find(key); idx != slicesByService_.end())
    for (const auto& sliceKey : idx->second)  // sorted by slice name, as the full build
      if (auto sl = slices_.find(sliceKey); sl != slices_.end() && sliceUsable(sl->second, family))
        own.push_back(&sl->second);
  for (auto& p : buildServicePorts(svc->second, own, node, family))
    out.push_back(std::make_shared<const ServicePortInfo>(std::move(p)));
  return out;
}

std::shared_ptr<const DesiredState> ClusterState::desired(model::IPFamily family, bool rebuild) {
  auto& cache = cache_[family == model::IPFamily::kIPv4 ? 0 : 1];
  NodeContext node = nodeContext();
  if (rebuild || !cache.valid) {
    cache.ports.clear();
    for (const auto& [key, svc] : services_)
      if (auto ports = buildService(key, family, node); !ports.empty()) cache.ports[key] = std::move(ports);
    cache.valid = true;
    cache.state.reset();
  } else {
    for (const auto& key : cache.dirty) {
      auto ports = buildService(key, family, node);
      if (ports.empty())
        cache.ports.erase(key);
      else
        cache.ports[key] = std::move(ports);
    }
    if (cache.dirty.empty() && cache.state) return cache.state;
  }
  rebuildRuns(cache, cache.dirty, cache.state == nullptr);
  cache.dirty.clear();
  std::vector<PortList::Chunk> chunks;
  chunks.reserve(cache.runs.size());
  for (const auto& [key, chunk] : cache.runs) chunks.push_back(chunk);
  auto state = std::make_shared<DesiredState>();
  state->family = family;
  state->ports = PortList(std::move(chunks));  // services in key order, each one's ports sorted
  cache.state = state;
  return cache.state;
}

namespace {
// Services per run: a change copies one run's pointers, a state holds one chunk per run.
constexpr size_t kServicesPerRun = 128;
}  // namespace

void ClusterState::rebuildRuns(FamilyCache& cache, const std::set<model::NamespacedName>& keys, bool all) {
  using PortsIt = std::map<model::NamespacedName, std::vector<PortList::Ptr>>::const_iterator;
  // Cuts [from, to) of the services into runs of kServicesPerRun.
  auto emit = [&](PortsIt from, PortsIt to) {
    while (from != to) {
      auto chunk = std::make_shared<PortList::Vec>();
      model::NamespacedName first = from->first;
      for (size_t n = 0; from != to && n < kServicesPerRun; ++from, ++n)
        chunk->insert(chunk->end(), from->second.begin(), from->second.end());
      cache.runs[first] = std::move(chunk);
    }
  };
  if (all || cache.runs.empty()) {
    cache.runs.clear();
    emit(cache.ports.begin(), cache.ports.end());
    return;
  }
  std::set<model::NamespacedName> starts;  // the runs to rebuild
  for (const auto& key : keys) {
    auto it = cache.runs.upper_bound(key);
    if (it != cache.runs.begin()) --it;  // the run holding key; keys before every run belong to the first
    starts.insert(it->first);
  }
  for (const auto& start : starts) {
    auto it = cache.runs.find(start);
    if (it == cache.runs.end()) continue;  // absorbed by the run before it
    bool first = it == cache.runs.begin();
    auto next = std::next(it);
    PortsIt from = first ? cache.ports.cbegin() : cache.ports.lower_bound(start);
    PortsIt to = next == cache.runs.end() ? cache.ports.cend() : cache.ports.lower_bound(next->first);
    // A run that shrank to under half takes in the next one, so runs stay few.
    if (next != cache.runs.end() && static_cast<size_t>(std::distance(from, to)) < kServicesPerRun / 2) {
      auto after = std::next(next);
      to = after == cache.runs.end() ? cache.ports.cend() : cache.ports.lower_bound(after->first);
      cache.runs.erase(next);
    }
    cache.runs.erase(it);
    emit(from, to);
  }
}

}  // namespace kproxy::dataplane
