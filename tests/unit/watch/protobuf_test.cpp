#include "watch/protobuf.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "tests/support/protobuf_encode.h"
#include "watch/decode.h"
#include "watch/http_client.h"
#include "watch/kubeconfig.h"
#include "bench/k8s_full.pb.h"
#include "watch/proto/k8s.pb.h"

namespace kproxy::watch {
namespace {

using nlohmann::json;
namespace pb = google::protobuf;

std::string label(const pb::FieldDescriptor* f) {
  return f->is_map() ? "map" : f->is_repeated() ? "repeated" : "optional";
}

// Every field of kproxy's .proto (and of watch_bench's fuller one) has the number, label and type
// of the field of that name in Kubernetes' generated.proto (a wrong number would pass every test
// against our own test server and fail against a real one).
TEST(Protobuf, FieldNumbersAreKubernetes) {
  std::ifstream in(std::string(KPROXY_SOURCE_DIR) + "/tests/unit/watch/fixtures/k8s_upstream_fields.txt");
  ASSERT_TRUE(in) << "fixture missing";
  struct Upstream {
    std::string message;
    int number;
    std::string label, type;
  };
  std::map<std::pair<std::string, std::string>, Upstream> upstream;  // (our message, field)
  std::map<std::string, std::string> upstreamName;                    // our message -> upstream short name
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string ours, theirs, field, lab, type;
    int number = 0;
    ss >> ours >> theirs >> field >> number >> lab >> type;
    upstream[{ours, field}] = {theirs, number, lab, type};
    upstreamName[ours] = theirs.substr(theirs.rfind('.') + 1);
  }
  int checked = 0;
  for (const pb::FileDescriptor* file : {k8s::Service::descriptor()->file(), bench::Service::descriptor()->file()}) {
    for (int m = 0; m < file->message_type_count(); ++m) {
      const pb::Descriptor* d = file->message_type(m);
      ASSERT_TRUE(upstreamName.count(d->name())) << d->name() << " has no upstream message in the fixture";
      for (int i = 0; i < d->field_count(); ++i) {
        const pb::FieldDescriptor* f = d->field(i);
        auto it = upstream.find({d->name(), f->name()});
        ASSERT_NE(it, upstream.end()) << d->name() << "." << f->name() << " is not a field of upstream's message";
        EXPECT_EQ(f->number(), it->second.number) << d->name() << "." << f->name();
        EXPECT_EQ(label(f), it->second.label) << d->name() << "." << f->name();
        std::string type;
        if (f->is_map()) {
          auto t = [&](const pb::FieldDescriptor* x) {
            return x->type() == pb::FieldDescriptor::TYPE_MESSAGE ? upstreamName[x->message_type()->name()] : std::string(x->type_name());
          };
          type = t(f->message_type()->map_key()) + "," + t(f->message_type()->map_value());
        } else if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
          type = upstreamName[f->message_type()->name()];
        } else {
          type = f->type_name();
        }
        EXPECT_EQ(type, it->second.type) << d->name() << "." << f->name();
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 140);
}

struct Comparison {
  int objects = 0;
  std::vector<std::string> differences;
};

// An object (with kind) decoded from its JSON and from its protobuf form.
void compare(const json& item, const std::string& where, Comparison& out) {
  std::string kind = item.value("kind", "");
  std::string apiVersion = item.value("apiVersion", "");
  if (kind != "Service" && kind != "EndpointSlice" && kind != "Node" && kind != "ServiceCIDR" && kind != "Endpoints") return;
  ParsedJson fromProto = decodeProtobuf(testing::encodeProtobuf(item, kind, apiVersion));
  if (!fromProto.ok()) {
    out.differences.push_back(where + ": " + fromProto.syntaxError);
    return;
  }
  ++out.objects;
  std::string name = where + " " + kind + " " + item["metadata"].value("name", "");
  if (kind == "Endpoints") {
    auto a = decodeEndpoints(item), b = decodeEndpoints(fromProto.value);
    if (a.index() != b.index() || (a.index() == 0 && std::get<0>(a) != std::get<0>(b))) out.differences.push_back(name);
    return;
  }
  Objects a, b;
  decodeObject(item, "", a);
  decodeObject(fromProto.value, "", b);
  std::vector<std::string> ea, eb;
  for (const auto& e : a.errors) ea.push_back(e.str());
  for (const auto& e : b.errors) eb.push_back(e.str());
  if (a.services != b.services || a.slices != b.slices || a.nodes != b.nodes || ea != eb ||
      a.serviceCIDRs.size() != b.serviceCIDRs.size() ||
      (!a.serviceCIDRs.empty() && a.serviceCIDRs[0].cidrs != b.serviceCIDRs[0].cidrs))
    out.differences.push_back(name + (ea != eb ? ": errors differ: " + ::testing::PrintToString(ea) + " vs " +
                                                     ::testing::PrintToString(eb)
                                               : ""));
}

// The two decoders give equal models (and equal errors) for every object of every golden case.
TEST(Protobuf, DecodesEveryGoldenObjectAsJsonDoes) {
  Comparison c;
  int cases = 0;
  for (const auto& dir : std::filesystem::directory_iterator(std::string(KPROXY_SOURCE_DIR) + "/tests/golden")) {
    if (!std::filesystem::exists(dir.path() / "input.json")) continue;
    std::ifstream in(dir.path() / "input.json");
    json input = json::parse(in);
    ++cases;
    for (const auto& item : input.at("items")) compare(item, dir.path().filename().string(), c);
  }
  // Endpoints (no golden case has them: the Endpoints fallback) and values the JSON leaves out.
  json endpoints = json::parse(R"({"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"web","namespace":"t",
    "labels":{"service.kubernetes.io/headless":""}},"subsets":[{"addresses":[{"ip":"10.1.0.1","nodeName":"n1"}],
    "notReadyAddresses":[{"ip":"10.1.0.2"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]})");
  compare(endpoints, "handwritten", c);
  std::cout << "[protobuf] " << c.objects << " objects of " << cases << " golden cases (and an Endpoints) decode to equal models\n";
  EXPECT_TRUE(c.differences.empty()) << ::testing::PrintToString(c.differences);
  EXPECT_GT(c.objects, 60);
  EXPECT_GT(cases, 15);
}

TEST(Protobuf, ReadsTheEnvelopeKindAndFieldsAsTheJsonHasThem) {
  json svc = json::parse(R"({"metadata":{"name":"web","namespace":"t","resourceVersion":"7",
    "deletionTimestamp":"2026-12-05T01:02:03Z","annotations":{"a":"b"}},
    "spec":{"type":"NodePort","clusterIP":"10.96.0.1","ports":[{"port":80,"targetPort":"http","nodePort":30080},
    {"port":81,"targetPort":8081}],"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}},"externalName":""}})");
  ParsedJson p = decodeProtobuf(testing::encodeProtobuf(svc, "Service", "v1"));
  ASSERT_TRUE(p.ok()) << p.syntaxError;
  EXPECT_EQ(p.value["kind"], "Service");
  EXPECT_EQ(p.value["apiVersion"], "v1");
  EXPECT_EQ(p.value["metadata"]["deletionTimestamp"], "2026-12-05T01:02:03Z");
  EXPECT_EQ(p.value["spec"]["ports"][0]["targetPort"], "http") << "IntOrString as the JSON's string";
  EXPECT_EQ(p.value["spec"]["ports"][1]["targetPort"], 8081) << "or number";
  EXPECT_EQ(p.value["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 0) << "a set zero stays";
  EXPECT_FALSE(p.value["spec"].contains("externalName")) << "an empty string is left out, as omitempty does";
  EXPECT_EQ(p.value["metadata"]["annotations"]["a"], "b");
}

TEST(Protobuf, BadBodiesAreErrorsNamingWhatIsWrong) {
  EXPECT_EQ(decodeProtobuf("{}").syntaxError, "not a protobuf body (no k8s\\0 magic)");
  EXPECT_EQ(decodeProtobuf(std::string("k8s\0\xff\xff\xff", 7)).syntaxError, "malformed protobuf envelope (runtime.Unknown)");
  std::string pod = testing::encodeProtobuf(json::object(), "Service", "v1");
  k8s::Unknown u;
  ASSERT_TRUE(u.ParseFromString(pod.substr(4)));
  u.mutable_typemeta()->set_kind("Pod\n\x1b[31m");
  EXPECT_EQ(decodeProtobuf("k8s" + std::string(1, '\0') + u.SerializeAsString()).syntaxError,
            "protobuf object of kind \"Pod\\n\\u001b[31m\" is not one kproxy reads")
      << "a hostile kind is escaped";
  u.mutable_typemeta()->set_kind("Service");
  u.set_contentencoding("gzip");
  EXPECT_NE(decodeProtobuf("k8s" + std::string(1, '\0') + u.SerializeAsString()).syntaxError.find("contentEncoding"),
            std::string::npos);
  u.clear_contentencoding();
  u.set_raw("\x0a\x05\x0a\x03");  // metadata with a truncated name
  EXPECT_EQ(decodeProtobuf("k8s" + std::string(1, '\0') + u.SerializeAsString()).syntaxError, "malformed protobuf Service");
  EXPECT_FALSE(decodeBody("k8s").ok());
  EXPECT_FALSE(decodeWatchRecord("\x0a\x03").ok()) << "a truncated watch frame";
}

TEST(Protobuf, InvalidUtf8BecomesTheReplacementCharacter) {
  json svc = {{"metadata", {{"name", "w\xffx"}, {"namespace", "t"}, {"labels", {{"k\xc0", "\xe2\x82"}}}}}};
  ParsedJson p = decodeProtobuf(testing::encodeProtobuf(svc, "Service", "v1"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value["metadata"]["name"], "w\xef\xbf\xbdx");
  EXPECT_EQ(p.value["metadata"]["labels"]["k\xef\xbf\xbd"], "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_NO_THROW((void)p.value.dump()) << "the JSON can be printed";
  EXPECT_EQ(p.value["metadata"]["namespace"], "t");
}

TEST(Protobuf, WatchEventsAndStatusesInBothFormats) {
  json status = {{"status", "Failure"}, {"message", "too old resource version"}, {"reason", "Expired"}, {"code", 410}};
  ParsedJson ev = decodeWatchRecord(testing::encodeProtobufWatchEvent("ERROR", status, "Status", "v1", false));
  ASSERT_TRUE(ev.ok()) << ev.syntaxError;
  EXPECT_EQ(ev.value["type"], "ERROR");
  EXPECT_EQ(ev.value["object"]["code"], 410);
  EXPECT_EQ(ev.value["object"]["kind"], "Status");
  ParsedJson js = decodeWatchRecord(R"({"type":"ADDED","object":{"kind":"Service"}})");
  ASSERT_TRUE(js.ok());
  EXPECT_EQ(js.value["object"]["kind"], "Service");
  ParsedJson body = decodeBody(testing::encodeProtobuf({{"message", "Unauthorized"}, {"code", 401}}, "Status", "v1"));
  EXPECT_EQ(body.value["message"], "Unauthorized");
  ParsedJson resources = decodeBody(testing::encodeProtobuf(
      {{"groupVersion", "discovery.k8s.io/v1"}, {"resources", {{{"name", "endpointslices"}, {"namespaced", true}}}}},
      "APIResourceList", "v1"));
  EXPECT_EQ(resources.value["resources"][0]["name"], "endpointslices");
}

TEST(Protobuf, FramesAreSplitAcrossChunksAndAnOversizedOneEndsTheStream) {
  std::vector<std::string> records;
  HttpClient::LineFn fn = [&](std::string_view r) { records.emplace_back(r); };
  std::vector<std::string> overlong;
  LineSplitter s(fn, [&](std::string_view head) { overlong.emplace_back(head); });
  s.lengthPrefixed();
  std::string a = testing::encodeProtobufWatchEvent("ADDED", {{"metadata", {{"name", "a"}}}}, "Service", "v1");
  std::string b = testing::encodeProtobufWatchEvent("DELETED", {{"metadata", {{"name", "b"}}}}, "Service", "v1");
  std::string all = a + b + std::string("\0\0\0\0", 4) + a;
  for (size_t i = 0; i < all.size(); i += 3) EXPECT_TRUE(s.feed(std::string_view(all).substr(i, 3)));
  s.finish();
  ASSERT_EQ(records.size(), 3u) << "an empty frame is no record";
  EXPECT_EQ(decodeWatchRecord(records[1]).value["object"]["metadata"]["name"], "b");
  EXPECT_EQ(records[2], a.substr(4));
  EXPECT_FALSE(s.feed("\x7f\xff\xff\xff"));
  EXPECT_TRUE(s.overlong());
  EXPECT_EQ(overlong.size(), 1u);
}

TEST(Protobuf, AcceptHeaderFollowsTheContentType) {
  EXPECT_EQ(acceptHeader("application/vnd.kubernetes.protobuf", ""), "application/vnd.kubernetes.protobuf, application/json");
  EXPECT_EQ(acceptHeader("application/json", ""), "application/json");
  EXPECT_EQ(acceptHeader("application/vnd.kubernetes.protobuf", "application/json"), "application/json")
      << "acceptContentTypes, when given, is the header";
  EXPECT_TRUE(isProtobufContentType("application/vnd.kubernetes.protobuf;stream=watch"));
  EXPECT_FALSE(isProtobufContentType("application/json"));
}

}  // namespace
}  // namespace kproxy::watch
