#include "watch/kubeconfig.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace kproxy::watch {
namespace {

namespace fs = std::filesystem;

// "-----BEGIN CERTIFICATE-----\nMIIB\n" and friends, base64-encoded as kubeconfigs carry them.
const char* kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n";
const char* kCaB64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";

std::string kubeconfig(const std::string& user) {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: dev
  context: {cluster: devc, user: devu}
- name: prod
  context: {cluster: prodc, user: )") + user + R"(}
clusters:
- name: devc
  cluster: {server: "https://dev:6443"}
- name: prodc
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: )" + kCaB64 + R"(
users:
- name: admin
  user:
    client-certificate: certs/admin.crt
    client-key: /abs/admin.key
- name: robot
  user: {token: s3cr3t}
- name: files
  user: {tokenFile: tok}
- name: broken
  user: {client-key-data: "@@@notbase64"}
- name: plugin
  user: {exec: {command: aws}}
)";
}

TEST(Kubeconfig, TakesTheCurrentContextsClusterAndUser) {
  auto c = parseKubeconfig(kubeconfig("admin"), "/etc/kproxy");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c.value().server, "https://10.0.0.1:6443");
  EXPECT_EQ(c.value().caData, kCaPem);
  EXPECT_EQ(c.value().certFile, "/etc/kproxy/certs/admin.crt") << "relative to the kubeconfig's folder";
  EXPECT_EQ(c.value().keyFile, "/abs/admin.key");
  EXPECT_FALSE(c.value().insecureSkipTLSVerify);
}

TEST(Kubeconfig, TokensAndTokenFiles) {
  auto t = parseKubeconfig(kubeconfig("robot"), "/d");
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t.value().token, "s3cr3t");
  EXPECT_EQ(t.value().describe().find("s3cr3t"), std::string::npos) << "secrets never reach logs";
  auto f = parseKubeconfig(kubeconfig("files"), "/d");
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f.value().tokenFile, "/d/tok");
}

TEST(Kubeconfig, ReportsBadFieldsByPath) {
  auto b = parseKubeconfig(kubeconfig("broken"), "/d");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("users[broken].user.client-key-data: not valid base64"), std::string::npos) << b.error();
  EXPECT_NE(b.error().find("needs its key"), std::string::npos) << b.error();
  auto p = parseKubeconfig(kubeconfig("plugin"), "/d");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("exec"), std::string::npos);
  auto missing = parseKubeconfig(kubeconfig("nobody"), "/d");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("users[nobody]: missing"), std::string::npos) << missing.error();
  EXPECT_FALSE(parseKubeconfig("current-context: x\n", "/d"));
  EXPECT_FALSE(parseKubeconfig("[unclosed", "/d"));
}

TEST(Kubeconfig, MasterOverridesTheServerAndInClusterIsTheLastResort) {
  fs::path dir = fs::temp_directory_path() / ("kproxy-kc-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "kubeconfig") << kubeconfig("robot");
  std::ofstream(dir / "token") << "abc\n";
  std::map<std::string, std::string> env;
  auto getenv = [&](const char* k) -> std::optional<std::string> {
    auto it = env.find(k);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };

  auto a = resolveClientConfig("https://127.0.0.1:9443", (dir / "kubeconfig").string(), getenv);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a.value().server, "https://127.0.0.1:9443");
  EXPECT_EQ(a.value().token, "s3cr3t");

  auto m = resolveClientConfig("http://127.0.0.1:8080", "", getenv);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.value().server, "http://127.0.0.1:8080");
  EXPECT_TRUE(m.value().token.empty());

  EXPECT_FALSE(resolveClientConfig("", "", getenv)) << "not in a cluster";
  env = {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  auto ic = inClusterConfig(getenv, dir.string());
  ASSERT_TRUE(ic) << ic.error();
  EXPECT_EQ(ic.value().server, "https://[fd00::1]:443");
  EXPECT_EQ(ic.value().tokenFile, (dir / "token").string());
  EXPECT_EQ(ic.value().caFile, (dir / "ca.crt").string());
  EXPECT_FALSE(inClusterConfig(getenv, (dir / "nowhere").string())) << "no token file";
  fs::remove_all(dir);
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(base64Decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64Decode("aGVsbG8"), "hello");
  EXPECT_EQ(base64Decode("aGVs\nbG8="), "hello");
  EXPECT_FALSE(base64Decode("a$b"));
  EXPECT_FALSE(base64Decode("aGVsbG8=x"));
}

}  // namespace
}  // namespace kproxy::watch
