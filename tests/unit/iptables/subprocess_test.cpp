#include "iptables/subprocess.h"

#include <gtest/gtest.h>

namespace kproxy::iptables {
namespace {

TEST(Subprocess, FeedsStdinAndCapturesBothStreams) {
  std::string big(3 << 20, 'x');  // larger than any pipe buffer: needs the poll loop
  auto r = runProcess({"cat"}, big);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r.value().exitCode, 0);
  EXPECT_EQ(r.value().out.size(), big.size());

  auto e = runProcess({"sh", "-c", "echo oops >&2; exit 3"}, "");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.value().exitCode, 3);
  EXPECT_EQ(e.value().err, "oops\n");
}

TEST(Subprocess, ChildThatIgnoresInputDoesNotKillUs) {
  auto r = runProcess({"true"}, std::string(4 << 20, 'x'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().exitCode, 0);
}

TEST(Subprocess, MissingProgramIsAnError) {
  auto r = runProcess({"kproxy-no-such-program"}, "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("kproxy-no-such-program"), std::string::npos);
}

}  // namespace
}  // namespace kproxy::iptables
