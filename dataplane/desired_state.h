// DesiredState: what every Service IP:port must lead to on this node, for one IP family (pure).
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/model.h"

namespace kproxy::dataplane {

using model::IPFamily;
using model::NamespacedName;
using model::Protocol;

// One port of one Service: the unit kube-proxy programs ("ns/name:port" + protocol).
struct ServicePortName {
  NamespacedName service;
  std::string port;  // the port's name, empty for an unnamed single port
  Protocol protocol = Protocol::kTCP;

  // "ns/name" or "ns/name:port", kube-proxy's ServicePortName.String().
  std::string str() const;
  auto operator<=>(const ServicePortName&) const = default;
};

struct EndpointInfo {
  std::string ip;        // normalized
  uint16_t port = 0;
  std::string hostPort;  // "ip:port" or "[ip]:port"
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  bool local = false;    // on this node
  std::string nodeName;
  std::string zone;
  std::vector<std::string> zoneHints;  // sorted
  std::vector<std::string> nodeHints;  // sorted
  bool operator==(const EndpointInfo&) const = default;
};

struct ServicePortInfo {
  ServicePortName name;
  std::string nameString;  // name.str(), kept because every rule comment uses it
  IPFamily family = IPFamily::kIPv4;
  std::string clusterIP;
  uint16_t port = 0;
  uint16_t nodePort = 0;
  Protocol protocol = Protocol::kTCP;
  std::vector<std::string> externalIPs;
  std::vector<std::string> loadBalancerVIPs;          // ingress IPs, ipMode Proxy excluded
  std::vector<std::string> loadBalancerSourceRanges;  // CIDRs of this family
  bool affinityClientIP = false;
  int stickySeconds = 10800;
  bool externalPolicyLocal = false;
  bool internalPolicyLocal = false;
  uint16_t healthCheckNodePort = 0;

  // Every endpoint of this family, sorted by hostPort, duplicates removed.
  std::vector<EndpointInfo> endpoints;
  // kube-proxy's CategorizeEndpoints, as indices into `endpoints`.
  std::vector<size_t> clusterEndpoints;
  std::vector<size_t> localEndpoints;
  std::vector<size_t> reachableEndpoints;  // union of the two, sorted
  bool hasAnyEndpoints = false;

  bool operator==(const ServicePortInfo&) const = default;
  bool externallyAccessible() const {
    return nodePort != 0 || !loadBalancerVIPs.empty() || !externalIPs.empty();
  }
  // As upstream's: also with externalTrafficPolicy Local, external traffic from this node and
  // its pods short-circuits to the Cluster endpoints, so an externally reachable port needs them.
  bool usesClusterEndpoints() const { return !internalPolicyLocal || externallyAccessible(); }
  bool usesLocalEndpoints() const {
    return internalPolicyLocal || (externallyAccessible() && externalPolicyLocal);
  }
};

struct NodeContext {
  std::string nodeName;
  std::map<std::string, std::string> nodeLabels;
  // The AllowServiceExternalIPs feature gate (KEP-5707): off, spec.externalIPs are not served.
  bool serveExternalIPs = true;
};

// The ports of a DesiredState, each immutable and shared: successive states (and the copy a
// backend keeps as applied) share every port that did not change, so building the next state
// after one change costs that change, not the cluster. The ports are held in chunks (runs of
// consecutive services) that states share too: the next state copies a few hundred chunk
// pointers, not one pointer per port (at 50,000 Services that copy was 12 ms of every change).
// Iterates as `const ServicePortInfo&`.
class PortList {
 public:
  using Ptr = std::shared_ptr<const ServicePortInfo>;
  using Vec = std::vector<Ptr>;
  using Chunk = std::shared_ptr<const Vec>;

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = ServicePortInfo;
    using difference_type = std::ptrdiff_t;
    using pointer = const ServicePortInfo*;
    using reference = const ServicePortInfo&;

    const_iterator() = default;
    const_iterator(const PortList* list, size_t index) : list_(list), index_(index) { locate(); }
    reference operator*() const { return *ptr(); }
    pointer operator->() const { return ptr().get(); }
    reference operator[](difference_type n) const { return *(*this + n); }
    const Ptr& ptr() const { return (*list_->chunks_[chunk_])[off_]; }
    const_iterator& operator++() {
      ++index_;
      if (++off_ == list_->chunks_[chunk_]->size()) ++chunk_, off_ = 0;
      return *this;
    }
    const_iterator operator++(int) { auto t = *this; ++*this; return t; }
    const_iterator& operator--() {
      --index_;
      if (off_ == 0) off_ = list_->chunks_[--chunk_]->size();
      --off_;
      return *this;
    }
    const_iterator operator--(int) { auto t = *this; --*this; return t; }
    const_iterator& operator+=(difference_type n) {
      index_ = static_cast<size_t>(static_cast<difference_type>(index_) + n);
      locate();
      return *this;
    }
    const_iterator& operator-=(difference_type n) { return *this += -n; }
    friend const_iterator operator+(const_iterator a, difference_type n) { return a += n; }
    friend const_iterator operator+(difference_type n, const_iterator a) { return a += n; }
    friend const_iterator operator-(const_iterator a, difference_type n) { return a -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.index_ == b.index_; }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) { return a.index_ <=> b.index_; }

   private:
    void locate();

    const PortList* list_ = nullptr;
    size_t index_ = 0, chunk_ = 0, off_ = 0;
  };

  // A run of consecutive ports (one service's).
  struct Range {
    const_iterator first, last;
    const_iterator begin() const { return first; }
    const_iterator end() const { return last; }
    bool empty() const { return first == last; }
    size_t size() const { return static_cast<size_t>(last - first); }
  };

  PortList() = default;
  explicit PortList(Vec ports);
  // Chunks in order (empty ones are left out).
  explicit PortList(std::vector<Chunk> chunks);

  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const ServicePortInfo& operator[](size_t i) const { return begin()[static_cast<std::ptrdiff_t>(i)]; }
  const ServicePortInfo& at(size_t i) const;
  const ServicePortInfo& front() const { return *chunks_.front()->front(); }
  const ServicePortInfo& back() const { return *chunks_.back()->back(); }
  // Two states sharing a chunk share all its ports (what changed is elsewhere).
  const std::vector<Chunk>& chunks() const { return chunks_; }

  // Building (before the list is shared): these make it one chunk of its own first.
  void push_back(ServicePortInfo p) { push_back(std::make_shared<const ServicePortInfo>(std::move(p))); }
  void push_back(Ptr p);
  void reserve(size_t n) { own().reserve(n); }
  // Copy on write: port i becomes a private copy (other states sharing it keep the old one).
  ServicePortInfo& edit(size_t i);
  void sortByName();

 private:
  Vec& own();  // the ports as one chunk this list alone holds
  void index();

  std::vector<Chunk> chunks_;
  std::vector<size_t> starts_;  // index of each chunk's first port
  size_t size_ = 0;
  bool mutable_ = false;  // the one chunk was made by this list as a non-const Vec
};

struct DesiredState {
  IPFamily family = IPFamily::kIPv4;
  PortList ports;  // sorted by name

  // Binary search; empty when the state has no ports of that service.
  PortList::Range portsOf(const NamespacedName& svc) const;
  size_t endpointCount() const;
  // By value: equal ports, whether shared or not.
  bool operator==(const DesiredState& o) const {
    return family == o.family && std::equal(ports.begin(), ports.end(), o.ports.begin(), o.ports.end());
  }
};

// Builds the desired state from decoded objects. Services that are headless, ExternalName, or
// labelled for another proxy produce nothing; so do slices of another family or of FQDN type.
DesiredState buildDesiredState(const std::vector<model::Service>& services,
                               const std::vector<model::EndpointSlice>& slices,
                               const NodeContext& node, IPFamily family);
// The same over objects owned elsewhere (the cluster cache), without copying them.
DesiredState buildDesiredState(std::vector<const model::Service*> services,
                               std::vector<const model::EndpointSlice*> slices, const NodeContext& node,
                               IPFamily family);

// One Service's ports (sorted by name) from its own EndpointSlices, in slice-name order: the
// unit both the full build and ClusterState's incremental one are made of.
std::vector<ServicePortInfo> buildServicePorts(const model::Service& svc,
                                               const std::vector<const model::EndpointSlice*>& ownSlices,
                                               const NodeContext& node, IPFamily family);
// Whether a slice contributes endpoints to a state of `family` at all.
bool sliceUsable(const model::EndpointSlice& slice, IPFamily family);

// kube-proxy's endpoint selection for one service port (fills the category fields).
void categorizeEndpoints(ServicePortInfo& port, const NodeContext& node);

// Which per-port objects a service port needs and what traffic with nowhere to go gets: the
// decisions kube-proxy's iptables and nftables proxiers share, so every mode agrees on them.
struct PortPlan {
  bool hasEndpoints = false;          // anywhere in the cluster
  bool hasInternalEndpoints = false;  // ClusterIP traffic has somewhere to go
  bool hasExternalEndpoints = false;  // NodePort, external and LB IP traffic has somewhere to go
  bool usesClusterChain = false;      // the Cluster-policy endpoint set is used
  bool usesLocalChain = false;        // the Local-policy endpoint set is used
  bool usesExternalChain = false;
  bool usesFirewallChain = false;     // LB IPs with loadBalancerSourceRanges
  enum class Filter { kNone, kReject, kDrop };
  Filter internalFilter = Filter::kNone;  // reject: no endpoints at all; drop: none local (policy Local)
  Filter externalFilter = Filter::kNone;
  bool internalNoLocal() const { return internalFilter == Filter::kDrop; }
  bool externalNoLocal() const { return externalFilter == Filter::kDrop; }
};
PortPlan planPort(const ServicePortInfo& p);

}  // namespace kproxy::dataplane
