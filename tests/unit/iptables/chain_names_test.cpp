#include "iptables/chain_names.h"

#include <gtest/gtest.h>

namespace kproxy::iptables {
namespace {

TEST(ChainNames, MatchUpstreamVectors) {
  EXPECT_EQ(std::string(kSvcPrefix) + portProtoHash("ns1/svc1", "tcp"), "KUBE-SVC-AQI2S6QIMU7PVVRP");
  EXPECT_EQ(endpointChainName("ns1/svc1", "tcp", "10.0.1.1:80"), "KUBE-SEP-3JOIVZTXZZRGORX4");
  // From upstream's proxier tests: a named port appends ":name".
  EXPECT_EQ(std::string(kSvcPrefix) + portProtoHash("ns1/svc1:p80", "tcp"), "KUBE-SVC-XPGD46QRK7WJZT7O");
  EXPECT_EQ(endpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ");
}

TEST(ChainNames, ProtocolAndEndpointChangeTheHash) {
  EXPECT_NE(portProtoHash("ns1/svc1", "tcp"), portProtoHash("ns1/svc1", "udp"));
  EXPECT_NE(endpointChainName("ns1/svc1", "tcp", "10.0.1.1:80"), endpointChainName("ns1/svc1", "tcp", "10.0.1.2:80"));
  EXPECT_EQ(portProtoHash("ns1/svc1", "tcp").size(), 16u);
  EXPECT_LE(endpointChainName("a/b", "sctp", "[fd00::1]:80").size(), kMaxChainNameLength);
}

TEST(ChainNames, RecognisesOnlyServiceChains) {
  EXPECT_TRUE(isServiceChainName("KUBE-SVC-AQI2S6QIMU7PVVRP"));
  EXPECT_TRUE(isServiceChainName("KUBE-SEP-3JOIVZTXZZRGORX4"));
  EXPECT_TRUE(isServiceChainName("KUBE-FW-X"));
  EXPECT_TRUE(isServiceChainName("KUBE-EXT-X"));
  EXPECT_TRUE(isServiceChainName("KUBE-SVL-X"));
  EXPECT_FALSE(isServiceChainName("KUBE-SERVICES"));
  EXPECT_FALSE(isServiceChainName("KUBE-MARK-MASQ"));
  EXPECT_FALSE(isServiceChainName("MY-KUBE-SVC-X"));
}

}  // namespace
}  // namespace kproxy::iptables
