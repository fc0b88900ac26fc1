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
