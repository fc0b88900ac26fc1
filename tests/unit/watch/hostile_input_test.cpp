// Reproducers of input that used to crash or exhaust kproxy (issue 14): each must end in an error
// naming the object, with the good objects beside it kept.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "daemon/config.h"
#include "daemon/flags.h"
#include "dataplane/cluster_state.h"
#include "dataplane/log.h"
#include "watch/bounded_json.h"
#include "watch/decode.h"
#include "watch/http_client.h"
#include "watch/kubeconfig.h"

namespace kproxy::watch {
namespace {

using nlohmann::json;

std::string deepArray(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const char* kGoodService = R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"good","namespace":"ns"},
  "spec":{"clusterIP":"10.96.0.2","ports":[{"name":"p","port":80}]}})";

std::string firstError(const Objects& o) { return o.errors.empty() ? std::string("(no error)") : o.errors[0].str(); }

size_t peakRssKb() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss);
}

TEST(BoundedJson, NestingPastTheLimitIsCutAndNamedWithoutRecursion) {
  ParsedJson p = parseJson(R"({"a":{"b":[1,)" + deepArray(85000) + "]}}");
  ASSERT_TRUE(p.ok()) << p.syntaxError;
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].str().rfind("/a/b/1/", 0), 0u) << p.problems[0].str();
  EXPECT_NE(p.problems[0].message.find("deeper than 64"), std::string::npos);
  // The rest of the document is intact; the cut subtree reads as discarded, not as null.
  EXPECT_EQ(p.value["a"]["b"][0], 1);
  EXPECT_NO_THROW((void)p.value.dump());
  json copy = p.value;  // copies and frees recurse: bounded now
  EXPECT_EQ(copy["a"]["b"].size(), 2u);
}

TEST(BoundedJson, ExactlyAtTheLimitIsKeptAndManagedFieldsAreDropped) {
  ParsedJson p = parseJson(deepArray(kMaxJsonDepth));
  EXPECT_TRUE(p.ok());
  EXPECT_TRUE(p.problems.empty());
  ParsedJson q = parseJson(R"({"metadata":{"name":"x","managedFields":[{"f":{"g":1}}],"labels":{"managedFields":"kept"}},
                              "spec":{"managedFields":2}})");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q.value["metadata"].contains("managedFields"));
  EXPECT_EQ(q.value["metadata"]["name"], "x");
  EXPECT_EQ(q.value["metadata"]["labels"]["managedFields"], "kept");
  EXPECT_EQ(q.value["spec"]["managedFields"], 2) << "only metadata's is dropped";
}

TEST(BoundedJson, SyntaxErrorsAreReportedNotThrown) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":}", "\xff\xfe", "[\"\\ud800\"]", "nul"}) {
    ParsedJson p = parseJson(bad);
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_TRUE(p.value.is_discarded());
  }
}

// 85,000 levels as spec.ports[0].port used to kill `kproxy render` and the manifests daemon
// (SIGSEGV): the error message printed the value recursively.
TEST(HostileManifests, DeepJsonPortIsAnErrorNamingTheServiceAndTheField) {
  std::string text = R"([{"apiVersion":"v1","kind":"Service","metadata":{"name":"deep","namespace":"ns"},
    "spec":{"clusterIP":"10.96.0.1","ports":[{"port":)" + deepArray(85000) + "}]}}," + kGoodService + "]";
  Objects o = decodeManifestText(text, "deep.json");
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].str(), "deep.json: Service ns/deep: spec.ports[0].port: expected integer, got array \"[...] (1 items)\"");
  ASSERT_EQ(o.services.size(), 1u);
  EXPECT_EQ(o.services[0].meta.name, "good");
}

TEST(HostileManifests, DeepKindDeepListItemAndHugeValuesAreNamedErrors) {
  Objects kind = decodeManifestText(R"({"kind":)" + deepArray(90000) + R"(,"metadata":{"name":"k"}})", "k.json");
  ASSERT_EQ(kind.errors.size(), 1u);
  EXPECT_EQ(kind.errors[0].str(), "k.json: object: kind: expected string, got array");
  Objects cut = decodeManifestText(R"({"a":)" + std::string(100, '{') + "}", "c.json");
  ASSERT_EQ(cut.errors.size(), 1u);
  EXPECT_EQ(cut.errors[0].message.rfind("malformed JSON: ", 0), 0u) << "unterminated: a syntax error";

  std::string list = R"({"kind":"ServiceList","items":[)" + deepArray(90000) + "," + kGoodService + "]}";
  Objects items = decodeManifestText(list, "l.json");
  ASSERT_EQ(items.errors.size(), 1u) << firstError(items);
  EXPECT_EQ(items.errors[0].str(), "l.json: object: expected an object, got array");
  EXPECT_EQ(items.services.size(), 1u);

  // A 4 MB array where a port belongs: the message stays short.
  std::string wide = "[" + std::string(2'000'000, '1');
  for (size_t i = 2; i < wide.size(); i += 2) wide[i] = ',';
  wide.back() = '1';
  wide += "]";
  Objects w = decodeManifestText(R"({"kind":"Service","metadata":{"name":"w","namespace":"ns"},"spec":{"ports":[{"port":)" +
                                     wide + "}]}}",
                                 "w.json");
  ASSERT_EQ(w.errors.size(), 1u);
  EXPECT_LT(w.errors[0].str().size(), 200u) << w.errors[0].str().substr(0, 300);
  EXPECT_NE(w.errors[0].str().find("items)"), std::string::npos) << w.errors[0].str();
}

// Annotations have no length limit in a hostile list (300 x 1 MB used to be held in the cache);
// only the one kproxy reads is kept, labels are held to the API's 63 bytes.
TEST(HostileManifests, OnlyUsedAnnotationsAreKeptAndLabelsAreBounded) {
  json slice = {{"kind", "EndpointSlice"},
                {"metadata",
                 {{"name", "s"}, {"namespace", "ns"},
                  {"labels", {{"kubernetes.io/service-name", "web"}}},
                  {"annotations",
                   {{"kubectl.kubernetes.io/last-applied-configuration", std::string(1 << 20, 'x')},
                    {"endpoints.kubernetes.io/last-change-trigger-time", "2026-12-04T10:00:00Z"}}}}},
                {"addressType", "IPv4"}, {"endpoints", json::array()}};
  Objects o = decodeManifestText(slice.dump(), "s.json");
  ASSERT_EQ(o.slices.size(), 1u) << firstError(o);
  EXPECT_EQ(o.slices[0].meta.annotations.size(), 1u);
  EXPECT_EQ(o.slices[0].meta.annotations.count("endpoints.kubernetes.io/last-change-trigger-time"), 1u);
  slice["metadata"]["labels"]["big"] = std::string(64, 'v');
  Objects big = decodeManifestText(slice.dump(), "s.json");
  ASSERT_EQ(big.errors.size(), 1u);
  EXPECT_EQ(big.errors[0].field, "metadata.labels[big]");
}

// `&m {self: *m}`: a 94-byte cycle used to recurse forever.
TEST(HostileManifests, YamlAliasCycleIsRefused) {
  std::string text =
      "apiVersion: v1\nkind: Service\nmetadata: &m {name: loop, namespace: ns, self: *m}\nspec: {clusterIP: 10.96.0.9}\n";
  Objects o = decodeManifestText(text, "cycle.yaml");
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_NE(o.errors[0].str().find("cycle"), std::string::npos) << o.errors[0].str();
  EXPECT_TRUE(o.services.empty());
}

// "Billion laughs" (669 bytes, past 4 GB expanded) and a merge-key bomb: refused at once, in
// bounded memory.
TEST(HostileManifests, YamlAliasBombsAreRefusedInBoundedMemory) {
  std::string laughs = "apiVersion: v1\nkind: Service\nmetadata: {name: lol, namespace: ns}\n";
  laughs += "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    laughs += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) laughs += (i ? ",*" : "*") + prev;
    laughs += "]\n";
    prev = std::string(1, c);
  }
  laughs += "spec: {clusterIP: 10.96.0.9, x: *i}\n";
  ASSERT_LT(laughs.size(), 1024u);

  std::string merge = "apiVersion: v1\nkind: Service\nmetadata: {name: merge, namespace: ns}\n";
  merge += "a0: &a0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v}\n";
  for (int i = 1; i < 12; ++i)
    merge += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " {<<: *a" + std::to_string(i - 1) + ", x: *a" +
             std::to_string(i - 1) + ", y: *a" + std::to_string(i - 1) + ", z: *a" + std::to_string(i - 1) + "}\n";
  merge += "spec: *a11\n";

  size_t before = peakRssKb();
  for (const auto& [text, name] : {std::pair{laughs, "laughs.yaml"}, std::pair{merge, "merge.yaml"}}) {
    Objects o = decodeManifestText(text, name);
    ASSERT_EQ(o.errors.size(), 1u) << name;
    EXPECT_NE(o.errors[0].str().find("budget"), std::string::npos) << o.errors[0].str();
    EXPECT_TRUE(o.services.empty());
  }
  EXPECT_LT(peakRssKb() - before, 64u * 1024) << "peak RSS grew by more than 64 MB";
}

// Found by the manifest fuzzer: yaml-cpp 0.7 looped forever (allocating) on a document starting
// with ","; manifests and kubeconfigs are read with libyaml now, the config file checked by it.
TEST(HostileManifests, ALeadingCommaIsASyntaxErrorNotAHang) {
  for (const char* text : {",", ",\n", ",a: b\n", ",piVpiVersion:spec v1\nkind: S\xff\xff\xff\x0cervice\nmeod *l}\n"}) {
    Objects o = decodeManifestText(text, "c.yaml");
    ASSERT_EQ(o.errors.size(), 1u) << text;
    EXPECT_EQ(o.errors[0].message.rfind("malformed YAML: ", 0), 0u) << o.errors[0].message;
  }
  EXPECT_FALSE(parseKubeconfig(",", "/tmp"));
  auto cfg = daemon::parseProxyConfig(",\nkind: KubeProxyConfiguration\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().rfind("malformed config: malformed YAML: ", 0), 0u) << cfg.error();
  // A duration past int64 nanoseconds was an undefined conversion (found by the config fuzzer in CI).
  auto huge = daemon::parseProxyConfig(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
      "conntrack: {tcpEstablishedTimeout: 2509395579415209h0m0s}\n");
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().find("conntrack.tcpEstablishedTimeout"), std::string::npos) << huge.error();
  EXPECT_FALSE(daemon::parseDuration("9999999999999999999999s"));
  EXPECT_EQ(daemon::parseDuration("2562047h"), std::chrono::milliseconds(2562047LL * 3600 * 1000));
  // A scalar where the config has a mapping used to throw out of the parser (fuzzer).
  EXPECT_FALSE(daemon::parseProxyConfig("kind: KubeProxyConfiguration\niptables: [1, {a: b}]\nconntrack: x\n"));
}

TEST(HostileManifests, PlainYamlIsWellWithinTheBudget) {
  // Anchors used the ordinary way (a shared label block) still load.
  std::string text = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns, labels: &l {app: web}}\n"
                     "spec: {clusterIP: 10.96.0.5, ports: [{name: a, port: 80}, {name: b, port: 81}], selector: *l}\n";
  Objects o = decodeManifestText(text, "ok.yaml");
  EXPECT_TRUE(o.errors.empty()) << firstError(o);
  EXPECT_EQ(o.services.size(), 1u);
}

// A rejected object's name with a newline and a terminal escape must not forge log lines.
TEST(HostileManifests, NamesInErrorsAreEscaped) {
  std::string text = R"({"kind":"Service","metadata":{"name":"x\nE1204 00:00:00.000000 1] forged\u001b[31m","namespace":"ns"}})";
  Objects o = decodeManifestText(text, "evil\n.json");
  ASSERT_EQ(o.errors.size(), 1u);
  std::string s = o.errors[0].str();
  EXPECT_EQ(s.find('\n'), std::string::npos) << s;
  EXPECT_EQ(s.find('\x1b'), std::string::npos) << s;
  EXPECT_NE(s.find("x\\nE1204"), std::string::npos) << s;
  EXPECT_NE(s.find("\\x1b[31m"), std::string::npos) << s;
}

TEST(HostileLog, LinesAreEscapedAndSecretsRedacted) {
  log::setFormat(log::Format::kText);
  std::string line = log::formatLine('E', 0, log::escape("a\nb\r\x1b[2J\x7f\xff\xc3\xa9 \\n"));
  EXPECT_EQ(line.substr(line.find("] ") + 2), "a\\nb\\r\\x1b[2J\\x7f\\xff\xc3\xa9 \\n\n");
  EXPECT_EQ(log::escape(log::escape("a\nb")), log::escape("a\nb")) << "escaping twice changes nothing";

  // Invalid UTF-8 in JSON logs used to make the line invalid JSON.
  log::setFormat(log::Format::kJson);
  std::string jl = log::formatLine('I', 0, "bad \xff\xfe byte");
  log::setFormat(log::Format::kText);
  auto parsed = json::parse(jl, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << jl;
  EXPECT_EQ(parsed["msg"], "bad \\xff\\xfe byte");

  // A server that echoes the Authorization header in its 401 message: the token never reaches the log.
  log::redact("tok-5c1b9e0f7a");
  log::redact("short");  // too short to redact safely: ignored
  std::string echoed = log::formatLine('W', 0, "HTTP 401: Unauthorized: Bearer tok-5c1b9e0f7a; tok-5c1b9e0f7a");
  EXPECT_EQ(echoed.find("tok-5c1b9e0f7a"), std::string::npos) << echoed;
  EXPECT_NE(echoed.find("Bearer [redacted]; [redacted]"), std::string::npos) << echoed;
  EXPECT_NE(log::formatLine('I', 0, "shortcut").find("shortcut"), std::string::npos);
}

// rest_client_* metrics' host label: host:port as client-go takes it from the URL, never the
// user:password a server URL may carry.
TEST(HostileCredentials, MetricHostLabelIsHostAndPortOnly) {
  EXPECT_EQ(urlHost("https://10.96.0.1:443"), "10.96.0.1:443");
  EXPECT_EQ(urlHost("https://[fd00::1]:6443/prefix?x=1"), "[fd00::1]:6443");
  EXPECT_EQ(urlHost("http://user:secret@api.example:8080/"), "api.example:8080");
  EXPECT_EQ(urlHost("api.example"), "api.example");
}

TEST(HostileCredentials, TokensWithControlCharactersAreRefused) {
  EXPECT_TRUE(isHeaderSafe("eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.e30.sig-_+/="));
  EXPECT_FALSE(isHeaderSafe("abc\r\nX-Injected: 1"));
  EXPECT_FALSE(isHeaderSafe(std::string("a\0b", 3)));
  std::string kubeconfig = R"(apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: "secret-token\r\nX-Evil: yes"}}]
)";
  auto c = parseKubeconfig(kubeconfig, "/tmp");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("users[u].user.token: holds control characters"), std::string::npos) << c.error();
  EXPECT_EQ(c.error().find("secret-token"), std::string::npos) << "the token is never echoed";
}

// Year 9999 overflowed system_clock (UBSan); 2611 wrapped to a negative latency.
TEST(HostileTimes, TriggerTimesOutsideTheClockAreIgnored) {
  EXPECT_FALSE(dataplane::parseRFC3339("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(dataplane::parseRFC3339("2611-01-01T00:00:00Z"));
  EXPECT_FALSE(dataplane::parseRFC3339("0001-01-01T00:00:00Z"));
  auto t = dataplane::parseRFC3339("2200-01-01T00:00:00.999999999+14:00");
  ASSERT_TRUE(t);
  EXPECT_GT(*t, std::chrono::system_clock::now());
}

}  // namespace
}  // namespace kproxy::watch
