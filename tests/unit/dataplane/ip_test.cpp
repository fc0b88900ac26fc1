#include "dataplane/ip.h"

#include <gtest/gtest.h>

namespace kproxy::net {
namespace {

TEST(IP, ParsesAndNormalizes) {
  auto v4 = parseIP("10.0.1.1");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->family, model::IPFamily::kIPv4);
  EXPECT_EQ(v4->str(), "10.0.1.1");
  auto v6 = parseIP("FD00:0:0::0001");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family, model::IPFamily::kIPv6);
  EXPECT_EQ(v6->str(), "fd00::1");
}

TEST(IP, RejectsAmbiguousOrInvalidForms) {
  for (const char* bad : {"", "10.0.1", "10.0.1.256", "010.0.0.1", "10.0.0.1 ", "::ffff:10.0.0.1", "fe80::1%eth0",
                          "abc", "1.2.3.4/32", "10.0.0.1\"; rm -rf /"})
    EXPECT_FALSE(parseIP(bad)) << bad;
}

// netutils.ParseIPSloppy: leading zeros are decimal, never octal; nothing else is loosened.
TEST(IP, SloppyReadsLeadingZerosAsDecimal) {
  EXPECT_EQ(parseIPSloppy("172.30.0.041")->str(), "172.30.0.41");
  EXPECT_EQ(parseIPSloppy("010.000.000.001")->str(), "10.0.0.1");
  EXPECT_EQ(parseIPSloppy("fd00::1")->str(), "fd00::1");
  EXPECT_EQ(parseCidrSloppy("010.1.0.0/16")->str(), "10.1.0.0/16");
  for (const char* bad : {"10.0.0.0256", "10.0.1", "10.0.0.1.5", "1..2.3", "10.0.0.-1", "0x0a.0.0.1", "10.0.0.1 ", ""})
    EXPECT_FALSE(parseIPSloppy(bad)) << bad;
  EXPECT_FALSE(parseCidrSloppy("010.1.0.0/33"));
}

TEST(IP, Loopback) {
  EXPECT_TRUE(parseIP("127.0.0.5")->isLoopback());
  EXPECT_TRUE(parseIP("::1")->isLoopback());
  EXPECT_FALSE(parseIP("10.0.0.1")->isLoopback());
}

TEST(Cidr, ParsesMasksAndMatches) {
  auto c = parseCidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->str(), "10.0.0.0/8");
  EXPECT_TRUE(c->contains(*parseIP("10.200.0.1")));
  EXPECT_FALSE(c->contains(*parseIP("11.0.0.1")));
  EXPECT_FALSE(c->contains(*parseIP("::1")));
  auto c6 = parseCidr("fd00:1::/32");
  ASSERT_TRUE(c6);
  EXPECT_TRUE(c6->contains(*parseIP("fd00:1::5")));
  EXPECT_FALSE(c6->contains(*parseIP("fd00:2::5")));
  EXPECT_EQ(parseCidr("0.0.0.0/0")->str(), "0.0.0.0/0");
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08", "::/129", "x/8", "10.0.0.0/"})
    EXPECT_FALSE(parseCidr(bad)) << bad;
}

TEST(IP, JoinHostPort) {
  EXPECT_EQ(joinHostPort("10.0.0.1", model::IPFamily::kIPv4, 80), "10.0.0.1:80");
  EXPECT_EQ(joinHostPort("fd00::1", model::IPFamily::kIPv6, 443), "[fd00::1]:443");
}

}  // namespace
}  // namespace kproxy::net
