#include "dataplane/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kproxy::log {
namespace {

TEST(Log, TextLinesAreKlogShaped) {
  setFormat(Format::kText);
  std::string line = formatLine('W', 0, "canary gone");
  ASSERT_GE(line.size(), 30u);
  EXPECT_EQ(line[0], 'W');
  EXPECT_NE(line.find("] canary gone\n"), std::string::npos) << line;
}

TEST(Log, JsonLinesParseWithEscapesAndCarryLevelOrVerbosity) {
  setFormat(Format::kJson);
  std::string hostile = "Service \"a\\b\"\n\ttab \x01 ünïcode";
  auto info = nlohmann::json::parse(formatLine('I', 4, hostile));
  auto err = nlohmann::json::parse(formatLine('E', 0, "restore failed"));
  setFormat(Format::kText);
  EXPECT_EQ(info["msg"], hostile);
  EXPECT_EQ(info["v"], 4);
  EXPECT_TRUE(info["ts"].is_number_float());
  EXPECT_GT(info["ts"].get<double>(), 1.7e9);
  EXPECT_EQ(err["level"], "error");
  EXPECT_FALSE(err.contains("v"));
}

}  // namespace
}  // namespace kproxy::log
