// Manifests-directory source: loads *.yaml/*.yml/*.json, watches the directory with inotify and
// turns file changes into batches. A file that turns bad is reported and its last good objects
// stay, so a broken edit never drops rules.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "watch/decode.h"
#include "watch/source.h"

namespace kproxy::watch {

// The pure part: given what each file now decodes to, the batch that turns `previous` into it.
// Files' objects are shared, not copied: the merged view points into them, and an unchanged
// file's objects compare equal by address.
class ManifestSet {
 public:
  using FileObjects = std::shared_ptr<const Objects>;
  // Replaces the objects of every file with its new decoding; files not in `files` are gone.
  // A file whose decoding has errors keeps its last good objects, if it had any.
  SourceBatch update(const std::map<std::string, FileObjects>& files);
  SourceBatch update(const std::map<std::string, Objects>& files);  // copies; for tests

  // Where each key of one kind is defined: a key defined in several files takes the last file's
  // object (by path; within one file, the later object).
  template <typename K, typename T>
  struct Index {
    struct Def {
      const std::string* file;  // a key of lastGood_
      const T* object;
    };
    std::map<K, std::vector<Def>> defs;
    const Def* effectiveDef(const K& k) const {
      auto it = defs.find(k);
      if (it == defs.end() || it->second.empty()) return nullptr;
      const Def* best = &it->second.front();
      for (const auto& d : it->second)
        if (*d.file >= *best->file) best = &d;
      return best;
    }
    const T* effective(const K& k) const {
      const Def* d = effectiveDef(k);
      return d ? d->object : nullptr;
    }
  };

 private:
  std::map<std::string, FileObjects> lastGood_;
  Index<model::NamespacedName, model::Service> services_;
  Index<model::NamespacedName, model::EndpointSlice> slices_;
  Index<std::string, model::Node> nodes_;
  Index<std::string, model::ServiceCIDR> serviceCIDRs_;
};

class FileSource : public Source {
 public:
  FileSource(boost::asio::io_context& io, std::string dir);
  ~FileSource() override;

  void start(Sink sink) override;
  void stop() override;

  // Reads the directory now (also what a change notification triggers).
  void reload();

 private:
  void armRead();

  boost::asio::io_context& io_;
  std::string dir_;
  Sink sink_;
  ManifestSet set_;
  // Decoded files by path, re-read only when their inode, size or mtime changes: one edited
  // file in a 10 MB directory costs that file (decoding YAML runs at ~5 MB/s).
  struct Decoded {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtimeNs = 0;
    ManifestSet::FileObjects objects;
  };
  std::map<std::string, Decoded> decoded_;
  int inotifyFd_ = -1;
  boost::asio::posix::stream_descriptor stream_;
  boost::asio::steady_timer debounce_;
  char buf_[8192];
  bool first_ = true;
};

}  // namespace kproxy::watch
