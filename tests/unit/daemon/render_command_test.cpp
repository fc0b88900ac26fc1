#include "daemon/render_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kproxy::daemon {
namespace {

namespace fs = std::filesystem;

class RenderCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kproxy-render-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return runRender(args, out_, err_);
  }
  fs::path dir_;
  std::ostringstream out_, err_;
};

const char* kGood = R"(apiVersion: v1
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc1-abc, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.0.1.1], conditions: {ready: true}}]
ports: [{port: 80, protocol: TCP}]
)";

TEST_F(RenderCommand, PrintsUpstreamChainNames) {
  write("svc.yaml", kGood);
  EXPECT_EQ(run({"--manifests", (dir_ / "svc.yaml").string()}), 0) << err_.str();
  EXPECT_NE(out_.str().find(":KUBE-SVC-AQI2S6QIMU7PVVRP - [0:0]"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find(":KUBE-SEP-3JOIVZTXZZRGORX4 - [0:0]"), std::string::npos) << out_.str();
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RenderCommand, BadManifestIsReportedGoodOnesStillRender) {
  write("a-good.yaml", kGood);
  write("b-bad.yaml", R"(kind: Service
metadata: {name: broken, namespace: ns2}
spec: {clusterIP: 10.96.0.11, ports: [{port: 99999}]}
)");
  write("c-garbage.json", "{not json");
  EXPECT_EQ(run({"--manifests", dir_.string()}), 1);
  EXPECT_NE(out_.str().find("KUBE-SVC-AQI2S6QIMU7PVVRP"), std::string::npos);
  EXPECT_EQ(out_.str().find("10.96.0.11"), std::string::npos);
  EXPECT_NE(err_.str().find("Service ns2/broken: spec.ports[0].port: 99999 is out of range 1-65535"),
            std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("c-garbage.json: object: malformed JSON"), std::string::npos) << err_.str();
}

TEST_F(RenderCommand, UsageErrors) {
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_NE(out_.str().find("--manifests"), std::string::npos);
  EXPECT_EQ(run({}), 2);
  EXPECT_EQ(run({"--manifests", "x", "--bogus"}), 2);
  EXPECT_EQ(run({"--manifests", "x", "--cluster-cidr", "10.0.0.0/99"}), 2);
  EXPECT_NE(err_.str().find("10.0.0.0/99"), std::string::npos);
  EXPECT_EQ(run({"--manifests", "x", "--proxy-mode", "userspace"}), 2);
  EXPECT_EQ(run({"--manifests", "x", "--proxy-mode", "ipvs", "--ipvs-scheduler", "fast/est"}), 2);
  EXPECT_NE(err_.str().find("\"fast/est\" is not an IPVS scheduler name"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"--manifests", (dir_ / "missing.yaml").string()}), 1);
  EXPECT_NE(err_.str().find("no such file"), std::string::npos);
}

TEST_F(RenderCommand, IpvsModeIsAScriptForTheUsualTools) {
  write("svc.yaml", kGood);
  ASSERT_EQ(run({"--manifests", (dir_ / "svc.yaml").string(), "--proxy-mode", "ipvs", "--ipvs-scheduler", "wrr"}), 0)
      << err_.str();
  const std::string s = out_.str();
  EXPECT_EQ(s.rfind("#!/bin/sh\n", 0), 0u);
  for (const char* want : {"ip addr add 10.96.0.10/32 dev kube-ipvs0\n", "ipset restore <<'EOF'\n",
                           "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist\n", "ipvsadm --restore <<'EOF'\n",
                           "-A -t 10.96.0.10:80 -s wrr\n-a -t 10.96.0.10:80 -r 10.0.1.1:80 -m -w 1\n",
                           "iptables-restore --noflush <<'EOF'\n*filter\n",
                           "-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"})
    EXPECT_NE(s.find(want), std::string::npos) << want << " in\n" << s;
  // Every here-document is closed.
  size_t opened = 0, closed = 0;
  for (size_t p = 0; (p = s.find("<<'EOF'\n", p)) != std::string::npos; ++p) ++opened;
  for (size_t p = 0; (p = s.find("\nEOF\n", p)) != std::string::npos; ++p) ++closed;
  EXPECT_EQ(opened, 3u);
  EXPECT_EQ(closed, 3u);
}

TEST_F(RenderCommand, EbpfModeListsTheMapEntries) {
  write("svc.yaml", kGood);
  ASSERT_EQ(run({"--manifests", (dir_ / "svc.yaml").string(), "--proxy-mode", "ebpf"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "service 10.96.0.10:80/tcp count 1\n  slot 0 10.0.1.1:80\n");
}

TEST_F(RenderCommand, FamilySixRendersIPv6Rules) {
  write("v6.yaml", R"(kind: Service
metadata: {name: svc6, namespace: ns1}
spec: {clusterIP: fd00::10, clusterIPs: [fd00::10], ports: [{port: 80}]}
---
kind: EndpointSlice
metadata: {name: svc6-a, namespace: ns1, labels: {kubernetes.io/service-name: svc6}}
addressType: IPv6
endpoints: [{addresses: ["fd01::1"]}]
ports: [{port: 8080}]
)");
  EXPECT_EQ(run({"--manifests", (dir_ / "v6.yaml").string(), "--family", "6"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("--to-destination [fd01::1]:8080"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("! -d ::1/128"), std::string::npos);
  EXPECT_EQ(run({"--manifests", (dir_ / "v6.yaml").string()}), 0);
  EXPECT_EQ(out_.str().find("fd00::10"), std::string::npos);
}

}  // namespace
}  // namespace kproxy::daemon
