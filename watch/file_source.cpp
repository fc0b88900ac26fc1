#include "watch/file_source.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <boost/asio/post.hpp>

#include "dataplane/log.h"

namespace kproxy::watch {

namespace {

// Appends to `ups`/`dels` what turns `before` into `after` (the same address: the same object).
template <typename K, typename T>
void diff(const std::map<K, const T*>& before, const std::map<K, const T*>& after, std::vector<T>& ups,
          std::vector<K>& dels) {
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it == before.end() || (it->second != v && !(*it->second == *v))) ups.push_back(*v);
  }
  for (const auto& [k, v] : before)
    if (!after.count(k)) dels.push_back(k);
}

// Later files win a key defined twice, with a warning naming both.
template <typename K, typename T, typename KeyFn>
void take(std::map<K, const T*>& into, std::map<K, const std::string*>& where, const std::vector<T>& items,
          const char* kind, const std::string& file, KeyFn key, const std::string& (*show)(const K&, std::string&)) {
  for (const auto& item : items) {
    K k = key(item);
    auto [it, fresh] = where.emplace(k, &file);
    if (!fresh) {
      std::string buf;
      log::warning(std::string(kind) + " " + show(k, buf) + " is defined in " + *it->second + " and " + file +
                   "; using the one in " + file);
      it->second = &file;
    }
    into[k] = &item;
  }
}

const std::string& showKey(const model::NamespacedName& k, std::string& buf) { return buf = k.str(); }
const std::string& showName(const std::string& k, std::string&) { return k; }

}  // namespace

SourceBatch ManifestSet::update(const std::map<std::string, Objects>& files) {
  std::map<std::string, FileObjects> shared;
  for (const auto& [f, o] : files) shared[f] = std::make_shared<const Objects>(o);
  return update(shared);
}

SourceBatch ManifestSet::update(const std::map<std::string, FileObjects>& files) {
  // The old view points into these: keep them alive until it is diffed.
  auto previous = lastGood_;
  for (const auto& [file, objs] : files) {
    for (const auto& e : objs->errors) log::error(e.str());
    if (!objs->errors.empty() && lastGood_.count(file)) {
      if (lastGood_[file] != objs) log::warning(file + ": has errors; keeping its last good objects until it is fixed");
      continue;
    }
    lastGood_[file] = objs;
  }
  for (auto it = lastGood_.begin(); it != lastGood_.end();) {
    if (!files.count(it->first)) it = lastGood_.erase(it);
    else ++it;
  }

  std::map<model::NamespacedName, const model::Service*> services;
  std::map<model::NamespacedName, const model::EndpointSlice*> slices;
  std::map<std::string, const model::Node*> nodes;
  std::map<std::string, const model::ServiceCIDR*> serviceCIDRs;
  {
    std::map<model::NamespacedName, const std::string*> svcWhere, sliceWhere;
    std::map<std::string, const std::string*> nodeWhere, cidrWhere;
    for (const auto& [file, objs] : lastGood_) {
      take(services, svcWhere, objs->services, "Service", file, [](const model::Service& s) { return s.key(); }, showKey);
      take(slices, sliceWhere, objs->slices, "EndpointSlice", file, [](const model::EndpointSlice& s) { return s.key(); },
           showKey);
      take(nodes, nodeWhere, objs->nodes, "Node", file, [](const model::Node& n) { return n.meta.name; }, showName);
      take(serviceCIDRs, cidrWhere, objs->serviceCIDRs, "ServiceCIDR", file,
           [](const model::ServiceCIDR& c) { return c.meta.name; }, showName);
    }
  }

  SourceBatch batch;
  diff(services_, services, batch.upsertServices, batch.deleteServices);
  diff(slices_, slices, batch.upsertSlices, batch.deleteSlices);
  diff(nodes_, nodes, batch.upsertNodes, batch.deleteNodes);
  diff(serviceCIDRs_, serviceCIDRs, batch.upsertServiceCIDRs, batch.deleteServiceCIDRs);
  services_ = std::move(services);
  slices_ = std::move(slices);
  nodes_ = std::move(nodes);
  serviceCIDRs_ = std::move(serviceCIDRs);
  return batch;
}

FileSource::FileSource(boost::asio::io_context& io, std::string dir)
    : io_(io), dir_(std::move(dir)), stream_(io), debounce_(io) {}

FileSource::~FileSource() { stop(); }

void FileSource::start(Sink sink) {
  sink_ = std::move(sink);
  inotifyFd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotifyFd_ < 0) {
    log::error(std::string("inotify_init1: ") + std::strerror(errno) + "; manifests are read once");
  } else if (::inotify_add_watch(inotifyFd_, dir_.c_str(),
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0) {
    log::error("inotify watch on " + dir_ + ": " + std::strerror(errno) + "; manifests are read once");
    ::close(inotifyFd_);
    inotifyFd_ = -1;
  } else {
    stream_.assign(inotifyFd_);
    armRead();
  }
  boost::asio::post(io_, [this] { reload(); });
}

void FileSource::stop() {
  debounce_.cancel();
  if (stream_.is_open()) {
    boost::system::error_code ec;
    stream_.close(ec);
    inotifyFd_ = -1;
  }
}

void FileSource::armRead() {
  stream_.async_read_some(boost::asio::buffer(buf_), [this](const boost::system::error_code& ec, size_t) {
    if (ec) return;  // closed on stop()
    // Editors and `mv` produce bursts of events: read once after the burst.
    debounce_.expires_after(std::chrono::milliseconds(50));
    debounce_.async_wait([this](const boost::system::error_code& e) {
      if (!e) reload();
    });
    armRead();
  });
}

void FileSource::reload() {
  namespace fs = std::filesystem;
  std::map<std::string, ManifestSet::FileObjects> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    auto ext = e.path().extension().string();
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // editor swap files, atomic-rename temporaries
    if (!e.is_regular_file(ec) || (ext != ".yaml" && ext != ".yml" && ext != ".json")) continue;
    std::string path = e.path().string();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // gone since the listing
    Decoded id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
               static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, {}};
    auto cached = decoded_.find(path);
    if (cached == decoded_.end() || cached->second.dev != id.dev || cached->second.ino != id.ino ||
        cached->second.size != id.size || cached->second.mtimeNs != id.mtimeNs) {
      id.objects = std::make_shared<const Objects>(loadManifests({path}));
      cached = decoded_.insert_or_assign(path, std::move(id)).first;
    }
    files[path] = cached->second.objects;
  }
  if (ec) log::error("reading " + dir_ + ": " + ec.message());
  for (auto it = decoded_.begin(); it != decoded_.end();) {
    if (!files.count(it->first)) it = decoded_.erase(it);
    else ++it;
  }
  SourceBatch batch = set_.update(files);
  batch.listComplete = first_;
  bool deliver = first_ || !batch.empty();
  first_ = false;
  if (deliver && sink_) sink_(std::move(batch));
}

}  // namespace kproxy::watch
