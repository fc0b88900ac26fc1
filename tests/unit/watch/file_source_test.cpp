#include "watch/file_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

namespace kproxy::watch {
namespace {

namespace fs = std::filesystem;

const char* kSvcA = "kind: Service\nmetadata: {name: a, namespace: ns}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}\n";
const char* kSvcA2 = "kind: Service\nmetadata: {name: a, namespace: ns}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 81}]}\n";
const char* kSvcB = "kind: Service\nmetadata: {name: b, namespace: ns}\nspec: {clusterIP: 10.96.0.2, ports: [{port: 80}]}\n";
const char* kBroken = "kind: Service\nmetadata: {name: a, namespace: ns}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 0}]}\n";

Objects decode(const char* text) { return decodeManifestText(text, "f"); }

TEST(ManifestSet, DiffsAndKeepsLastGoodObjectsOfABrokenFile) {
  ManifestSet set;
  auto b1 = set.update({{"a.yaml", decode(kSvcA)}, {"b.yaml", decode(kSvcB)}});
  EXPECT_EQ(b1.upsertServices.size(), 2u);
  auto b2 = set.update({{"a.yaml", decode(kSvcA2)}, {"b.yaml", decode(kSvcB)}});
  ASSERT_EQ(b2.upsertServices.size(), 1u);
  EXPECT_EQ(b2.upsertServices[0].ports[0].port, 81);
  auto b3 = set.update({{"a.yaml", decode(kBroken)}, {"b.yaml", decode(kSvcB)}});
  EXPECT_TRUE(b3.empty());  // the broken edit changes nothing: a keeps port 81
  auto b4 = set.update({{"a.yaml", decode(kSvcA2)}});
  EXPECT_EQ(b4.deleteServices, (std::vector<model::NamespacedName>{{"ns", "b"}}));
}

TEST(ManifestSet, AKeyInTwoFilesTakesTheLaterFileAndFallsBackWhenItGoes) {
  ManifestSet set;
  auto a = std::make_shared<const Objects>(decode(kSvcA));
  auto a2 = std::make_shared<const Objects>(decode(kSvcA2));
  auto b = std::make_shared<const Objects>(decode(kSvcB));
  auto b1 = set.update(std::map<std::string, ManifestSet::FileObjects>{{"1.yaml", a}, {"2.yaml", a2}, {"3.yaml", b}});
  ASSERT_EQ(b1.upsertServices.size(), 2u);
  EXPECT_EQ(b1.upsertServices[0].ports[0].port, 81) << "2.yaml sorts after 1.yaml: its ns/a wins";
  // Unchanged files (the same decoding) produce nothing.
  EXPECT_TRUE(set.update(std::map<std::string, ManifestSet::FileObjects>{{"1.yaml", a}, {"2.yaml", a2}, {"3.yaml", b}}).empty());
  // 2.yaml goes: ns/a is 1.yaml's again (an upsert, not a delete); 3.yaml goes: ns/b is deleted.
  auto b2 = set.update(std::map<std::string, ManifestSet::FileObjects>{{"1.yaml", a}});
  ASSERT_EQ(b2.upsertServices.size(), 1u);
  EXPECT_EQ(b2.upsertServices[0].ports[0].port, 80);
  EXPECT_EQ(b2.deleteServices, (std::vector<model::NamespacedName>{{"ns", "b"}}));
  // The same object in a new file and gone from the old one in one update: no change at all.
  auto b3 = set.update(std::map<std::string, ManifestSet::FileObjects>{{"4.yaml", std::make_shared<const Objects>(decode(kSvcA))}});
  EXPECT_TRUE(b3.empty()) << b3.upsertServices.size() << " upserts, " << b3.deleteServices.size() << " deletes";
  EXPECT_EQ(set.update(std::map<std::string, ManifestSet::FileObjects>{}).deleteServices,
            (std::vector<model::NamespacedName>{{"ns", "a"}}));
}

TEST(FileSource, DeliversTheInitialListingThenFollowsChanges) {
  fs::path dir = fs::temp_directory_path() / ("kproxy-fs-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "a.yaml") << kSvcA;
  boost::asio::io_context io;
  FileSource src(io, dir.string());
  std::vector<SourceBatch> got;
  src.start([&](SourceBatch b) {
    got.push_back(std::move(b));
    io.stop();
  });
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].listComplete);
  EXPECT_EQ(got[0].upsertServices.size(), 1u);

  std::ofstream(dir / ".b.tmp") << kSvcB;
  fs::rename(dir / ".b.tmp", dir / "b.yaml");
  io.restart();
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[1].listComplete);
  ASSERT_EQ(got[1].upsertServices.size(), 1u);
  EXPECT_EQ(got[1].upsertServices[0].meta.name, "b");

  fs::remove(dir / "a.yaml");
  io.restart();
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].deleteServices, (std::vector<model::NamespacedName>{{"ns", "a"}}));
  src.stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kproxy::watch
