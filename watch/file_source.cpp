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

const std::string& showKey(const model::NamespacedName& k, std::string& buf) { return buf = k.str(); }
const std::string& showName(const std::string& k, std::string&) { return k; }

// A file whose objects changed: `before` and `after` (null: the file did not exist, or is gone).
struct FileChange {
  const std::string* file;
  const Objects* before;
  const Objects* after;
};

// Re-indexes one kind for the changed files only, and appends to `ups`/`dels` what changed in
// the merged view: a change costs its files' objects, not the directory's (at 10,000 Services the
// whole-view rebuild allocated and freed ~80,000 map nodes per edit, and glibc's consolidation of
// those freed chunks then surfaced as milliseconds inside the next sync).
template <typename K, typename T, typename ItemsFn, typename KeyFn>
void reindex(ManifestSet::Index<K, T>& index, const std::vector<FileChange>& changes, ItemsFn items, KeyFn key,
             const char* kind, const std::string& (*show)(const K&, std::string&), std::vector<T>& ups,
             std::vector<K>& dels) {
  std::map<K, const T*> before;  // every touched key and what the merged view held for it
  for (const auto& c : changes)
    for (const Objects* objs : {c.before, c.after})
      if (objs)
        for (const auto& item : items(*objs)) before.try_emplace(key(item), index.effective(key(item)));
  for (const auto& c : changes) {
    if (!c.before) continue;
    for (const auto& item : items(*c.before)) {
      auto it = index.defs.find(key(item));
      if (it == index.defs.end()) continue;
      std::erase_if(it->second, [&](const auto& d) { return d.file == c.file; });
      if (it->second.empty()) index.defs.erase(it);
    }
  }
  for (const auto& c : changes) {
    if (!c.after) continue;
    for (const auto& item : items(*c.after)) {
      K k = key(item);
      auto& defs = index.defs[k];
      defs.push_back({c.file, &item});
      if (defs.size() > 1) {
        std::string buf, files;
        for (const auto& d : defs) files += (files.empty() ? "" : " and ") + *d.file;
        log::warning(std::string(kind) + " " + show(k, buf) + " is defined in " + files + "; using the one in " +
                     *index.effectiveDef(k)->file);
      }
    }
  }
  for (const auto& [k, old] : before) {
    const T* now = index.effective(k);
    if (!now) {
      if (old) dels.push_back(k);
    } else if (!old || (old != now && !(*old == *now))) {
      ups.push_back(*now);
    }
  }
}

}  // namespace

SourceBatch ManifestSet::update(const std::map<std::string, Objects>& files) {
  std::map<std::string, FileObjects> shared;
  for (const auto& [f, o] : files) shared[f] = std::make_shared<const Objects>(o);
  return update(shared);
}

SourceBatch ManifestSet::update(const std::map<std::string, FileObjects>& files) {
  // The merged view points into the old objects: keep them alive until it is diffed.
  auto previous = lastGood_;
  std::map<std::string, FileObjects> next;
  for (const auto& [file, objs] : files) {
    for (const auto& e : objs->errors) log::error(e.str());
    auto old = lastGood_.find(file);
    if (!objs->errors.empty() && old != lastGood_.end()) {
      if (old->second != objs) log::warning(file + ": has errors; keeping its last good objects until it is fixed");
      next[file] = old->second;
      continue;
    }
    next[file] = objs;
  }
  // Every file of either set gets a stable name (a key of lastGood_) for the index to point to.
  std::vector<FileChange> changes;
  for (const auto& [file, objs] : next) lastGood_.try_emplace(file, nullptr);
  for (auto& [file, objs] : lastGood_) {
    auto n = next.find(file);
    const Objects* after = n == next.end() ? nullptr : n->second.get();
    if (objs.get() != after) changes.push_back({&file, objs.get(), after});
  }
  SourceBatch batch;
  reindex(services_, changes, [](const Objects& o) -> const auto& { return o.services; },
          [](const model::Service& s) { return s.key(); }, "Service", showKey, batch.upsertServices, batch.deleteServices);
  reindex(slices_, changes, [](const Objects& o) -> const auto& { return o.slices; },
          [](const model::EndpointSlice& s) { return s.key(); }, "EndpointSlice", showKey, batch.upsertSlices,
          batch.deleteSlices);
  reindex(nodes_, changes, [](const Objects& o) -> const auto& { return o.nodes; },
          [](const model::Node& n) { return n.meta.name; }, "Node", showName, batch.upsertNodes, batch.deleteNodes);
  reindex(serviceCIDRs_, changes, [](const Objects& o) -> const auto& { return o.serviceCIDRs; },
          [](const model::ServiceCIDR& c) { return c.meta.name; }, "ServiceCIDR", showName, batch.upsertServiceCIDRs,
          batch.deleteServiceCIDRs);
  for (auto it = lastGood_.begin(); it != lastGood_.end();) {
    auto n = next.find(it->first);
    if (n == next.end()) {
      it = lastGood_.erase(it);
    } else {
      it->second = n->second;
      ++it;
    }
  }
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
