#include "watch/reflector.h"

#include <gtest/gtest.h>

#include "tests/fakes/scripted_http.h"
#include "tests/support/protobuf_encode.h"

namespace kproxy::watch {
namespace {

using nlohmann::json;
using fakes::FakeReflectorClock;
using fakes::ScriptedHttp;
using ms = std::chrono::milliseconds;

json obj(const std::string& name, const std::string& rv) {
  return {{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}}}, {"spec", {{"clusterIP", "10.96.0.1"}}}};
}

// Every reflector test runs twice: the server answering in JSON, then in protobuf (the lists and
// events written by these helpers; hand-written malformed text stays as it is).
bool gProtobuf = false;

std::string list(const std::string& rv, std::vector<json> items, const std::string& cont = "") {
  json md = {{"resourceVersion", rv}};
  if (!cont.empty()) md["continue"] = cont;
  json body{{"kind", "ServiceList"}, {"apiVersion", "v1"}, {"metadata", md}, {"items", items}};
  return gProtobuf ? testing::encodeProtobuf(body, "ServiceList", "v1") : body.dump();
}

std::string event(const std::string& type, const json& o) {
  if (!gProtobuf) return json{{"type", type}, {"object", o}}.dump();
  std::string kind = o.is_object() && o.contains("kind") ? o["kind"].get<std::string>() : type == "ERROR" ? "Status" : "Service";
  return testing::encodeProtobufWatchEvent(type, o, kind, "v1", false);
}

std::string expired() {
  return event("ERROR", {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
                         {"message", "too old resource version: 5 (9)"}, {"reason", "Expired"}, {"code", 410}});
}

struct Delivery {
  std::vector<std::string> what;  // "+ns/a@5" or "-ns/b"
  bool listed;
};

class ReflectorTest : public ::testing::TestWithParam<bool> {
 protected:
  ReflectorTest() : http(&clock) { gProtobuf = GetParam(); }

  Reflector& make(ReflectorOptions opts = {}) {
    reflector = std::make_unique<Reflector>(ResourceRequest{"services", "/api/v1/services", "!a,!b", ""}, http, clock,
                                            opts, [this](std::vector<ReflectorEvent> evs, bool listed) {
                                              Delivery d{{}, listed};
                                              for (const auto& e : evs) {
                                                std::string s = (e.type == ReflectorEvent::Type::kUpsert ? "+" : "-") +
                                                                e.key.str();
                                                if (e.type == ReflectorEvent::Type::kUpsert)
                                                  s += "@" + e.object["metadata"]["resourceVersion"].get<std::string>();
                                                d.what.push_back(s);
                                              }
                                              got.push_back(d);
                                            });
    http.onExhausted = [this] { reflector->stop(); };
    return *reflector;
  }

  void TearDown() override { EXPECT_TRUE(http.mismatches.empty()) << ::testing::PrintToString(http.mismatches); }

  FakeReflectorClock clock;
  ScriptedHttp http;
  std::unique_ptr<Reflector> reflector;
  std::vector<Delivery> got;
};

TEST_P(ReflectorTest, ListsThenWatchesFromTheListVersion) {
  http.ok("/api/v1/services?limit=500&labelSelector=%21a%2C%21b", list("10", {obj("a", "5"), obj("b", "7")}))
      .stream("/api/v1/services?watch=true&resourceVersion=10&allowWatchBookmarks=true&timeoutSeconds=",
              {event("ADDED", obj("c", "11")), event("MODIFIED", obj("a", "12")), event("DELETED", obj("b", "13"))});
  clock.randoms = {0.5};  // timeoutSeconds = 300 * 1.5
  make().run();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].what, (std::vector<std::string>{"+ns/a@5", "+ns/b@7"}));
  EXPECT_TRUE(got[0].listed);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/c@11"}));
  EXPECT_FALSE(got[1].listed);
  EXPECT_EQ(got[2].what, (std::vector<std::string>{"+ns/a@12"}));
  EXPECT_EQ(got[3].what, (std::vector<std::string>{"-ns/b"}));
  ASSERT_GE(http.targets.size(), 2u);
  EXPECT_NE(http.targets[1].find("timeoutSeconds=450&labelSelector=%21a%2C%21b"), std::string::npos) << http.targets[1];
  EXPECT_EQ(reflector->known(), 2u);  // a and c
  EXPECT_EQ(reflector->resourceVersion(), "13");
}

TEST_P(ReflectorTest, FollowsListPagesAndMarksOnlyTheLastAsListed) {
  http.ok("/api/v1/services?limit=2&", list("10", {obj("a", "1"), obj("b", "2")}, "tok/1"))
      .ok("/api/v1/services?limit=2&continue=tok%2F1&", list("10", {obj("c", "3")}))
      .stream("/api/v1/services?watch=true&resourceVersion=10&", {});
  ReflectorOptions o;
  o.pageSize = 2;
  make(o).run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].what.size(), 2u);
  EXPECT_FALSE(got[0].listed);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/c@3"}));
  EXPECT_TRUE(got[1].listed);
}

TEST_P(ReflectorTest, BookmarkAdvancesTheVersionTheNextWatchStartsFrom) {
  json bookmark = {{"kind", "Service"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "20"}}}};
  http.ok("/api/v1/services?", list("10", {}))
      .stream("/api/v1/services?watch=true&resourceVersion=10&", {event("BOOKMARK", bookmark)})
      .stream("/api/v1/services?watch=true&resourceVersion=20&", {});
  make().run();
  EXPECT_EQ(reflector->relists(), 0u);
  EXPECT_TRUE(clock.waits.empty()) << "a watch the server ended normally is resumed at once";
  ASSERT_EQ(got.size(), 1u);  // only the (empty) list: a bookmark is no event
}

TEST_P(ReflectorTest, ExpiredWatchRelistsAndTheNewListReplacesWhatWasKnown) {
  // While away: b was deleted, c changed, d created; a is unchanged (not delivered again).
  http.ok("/api/v1/services?", list("5", {obj("a", "1"), obj("b", "2"), obj("c", "3")}))
      .stream("/api/v1/services?watch=true&resourceVersion=5&", {expired()})
      .ok("/api/v1/services?limit=", list("9", {obj("a", "1"), obj("c", "8"), obj("d", "9")}))
      .stream("/api/v1/services?watch=true&resourceVersion=9&", {});
  make().run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/c@8", "+ns/d@9", "-ns/b"}));
  EXPECT_TRUE(got[1].listed);
  EXPECT_EQ(reflector->relists(), 1u);
  EXPECT_EQ(reflector->known(), 3u);
  EXPECT_TRUE(clock.waits.empty()) << "the first relist after a 410 is immediate";
}

TEST_P(ReflectorTest, DeletesDuringADisconnectAreSeenAfterTheRelist) {
  http.ok("/api/v1/services?", list("5", {obj("a", "1"), obj("b", "2")}))
      .stream("/api/v1/services?watch=true&resourceVersion=5&", {}, {200, "", "Recv failure: Connection reset by peer"})
      .fail("/api/v1/services?watch=true&resourceVersion=5&", "Failed to connect to 127.0.0.1 port 6443")
      .status("/api/v1/services?watch=true&resourceVersion=5&", 410,
              R"({"kind":"Status","code":410,"reason":"Expired","message":"too old"})")
      .ok("/api/v1/services?", list("12", {obj("a", "1")}))
      .stream("/api/v1/services?watch=true&resourceVersion=12&", {});
  make().run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"-ns/b"}));
  EXPECT_EQ(clock.waits.size(), 2u);  // the reset and the refused connection backed off
}

TEST_P(ReflectorTest, BackoffDoublesIsCappedAndJitteredAndResetsAfterSuccess) {
  for (int i = 0; i < 8; ++i) http.fail("/api/v1/services?", "Connection refused");
  http.ok("/api/v1/services?", list("1", {}));
  http.status("/api/v1/services?watch=true&", 500, R"({"message":"etcd down"})");
  // Jitter: each wait is base * (0.5 + 0.5 r); r alternates between its extremes.
  for (int i = 0; i < 5; ++i) {
    clock.randoms.push_back(0.0);
    clock.randoms.push_back(0.999999);
  }
  ReflectorOptions o;
  o.backoffInitial = ms(800);
  o.backoffMax = ms(10000);
  make(o).run();
  // 8 list failures, then 1 watch failure after the success reset the count. The watch consumed
  // one random for its timeout, so look only at the bounds.
  ASSERT_EQ(clock.waits.size(), 9u);
  double base = 800;
  for (size_t i = 0; i < 8; ++i) {
    double b = std::min(base, 10000.0);
    EXPECT_GE(clock.waits[i].count(), b / 2 - 1) << i;
    EXPECT_LE(clock.waits[i].count(), b) << i;
    base *= 2;
  }
  EXPECT_LE(clock.waits[8].count(), 800) << "a successful list resets the backoff";
  EXPECT_GE(clock.waits[8].count(), 399);
}

TEST_P(ReflectorTest, MalformedAndUnknownEventsAreSkippedAndTheStreamGoesOn) {
  http.ok("/api/v1/services?", list("1", {}))
      .stream("/api/v1/services?watch=true&",
              {"this is not json", R"({"type":"ADDED","object":5})", R"({"type":"ADDED"})",
               event("SURPRISE", obj("x", "2")), event("ADDED", {{"metadata", {{"namespace", "ns"}}}}),
               R"({"type":"ADDED","object":{"metadata":{"name":"q","namespace":"ns","resourceVersion":"3"})",
               event("ADDED", obj("good", "4"))});
  make().run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/good@4"}));
  EXPECT_EQ(reflector->resourceVersion(), "4");
}

TEST_P(ReflectorTest, AnExpiredContinueTokenRestartsTheList) {
  http.ok("/api/v1/services?limit=1&", list("10", {obj("a", "1")}, "t1"))
      .status("/api/v1/services?limit=1&continue=t1", 410, R"({"code":410,"message":"continue expired"})")
      .ok("/api/v1/services?limit=1&labelSelector", list("15", {obj("b", "2")}))
      .stream("/api/v1/services?watch=true&resourceVersion=15&", {});
  ReflectorOptions o;
  o.pageSize = 1;
  make(o).run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/b@2", "-ns/a"}))
      << "a, delivered from the abandoned attempt only, is deleted when the new list completes";
  EXPECT_EQ(reflector->known(), 1u);
}

TEST_P(ReflectorTest, ErrorStatusesAndMalformedListsBackOffWithoutDroppingKnownObjects) {
  http.status("/api/v1/services?", 401, R"({"kind":"Status","message":"Unauthorized","code":401})")
      .ok("/api/v1/services?", "{not json")
      .ok("/api/v1/services?", R"({"items":5})")
      .ok("/api/v1/services?", list("3", {obj("a", "1")}))
      .stream("/api/v1/services?watch=true&resourceVersion=3", {event("ERROR", {{"code", 500}, {"message", "boom"}})})
      .stream("/api/v1/services?watch=true&resourceVersion=3", {});
  make().run();
  EXPECT_EQ(clock.waits.size(), 4u);
  EXPECT_EQ(reflector->relists(), 0u) << "a non-410 ERROR resumes the watch, no relist";
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].what, (std::vector<std::string>{"+ns/a@1"}));
}

TEST_P(ReflectorTest, AServerClosingEveryWatchAtOnceGetsBackoffNotASpin) {
  http.ok("/api/v1/services?", list("3", {}));
  for (int i = 0; i < 3; ++i) http.stream("/api/v1/services?watch=true", {}, {200, "", ""}, std::chrono::seconds(0));
  make().run();
  EXPECT_EQ(clock.waits.size(), 3u);
}

TEST_P(ReflectorTest, RepeatedExpiryBacksOff) {
  http.ok("/api/v1/services?", list("3", {}))
      .stream("/api/v1/services?watch=true", {expired()})
      .ok("/api/v1/services?", list("4", {}))
      .stream("/api/v1/services?watch=true", {expired()})
      .ok("/api/v1/services?", list("5", {}));
  make().run();
  EXPECT_EQ(reflector->relists(), 2u);
  EXPECT_EQ(clock.waits.size(), 1u);
}

// The curl client cuts a page at kMaxBodyBytes (decompressed): the reflector asks for the same
// page again in pages ten times smaller, down to one object, and only then fails (with backoff).
TEST_P(ReflectorTest, ATooLargePageIsAskedForAgainInSmallerPages) {
  HttpReply tooLarge{0, "", "response larger than 33554432 bytes", true};
  http.steps.push_back({"/api/v1/services?limit=500&", tooLarge, {}, std::chrono::seconds(0)});
  http.steps.push_back({"/api/v1/services?limit=50&", tooLarge, {}, std::chrono::seconds(0)});
  http.ok("/api/v1/services?limit=5&", list("7", {obj("a", "1")}, "t1"))
      .ok("/api/v1/services?limit=5&continue=t1", list("7", {obj("b", "2")}))
      .stream("/api/v1/services?watch=true&resourceVersion=7", {expired()});
  // The relist: the page size starts again at 500; one object alone over the limit fails the list.
  http.steps.push_back({"/api/v1/services?limit=500&", tooLarge, {}, std::chrono::seconds(0)});
  for (const char* n : {"50", "5", "1"})
    http.steps.push_back({std::string("/api/v1/services?limit=") + n + "&", tooLarge, {}, std::chrono::seconds(0)});
  make().run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/b@2"}));
  EXPECT_TRUE(got[1].listed);
  EXPECT_EQ(clock.waits.size(), 1u) << "the failed relist backs off";
  EXPECT_EQ(reflector->known(), 2u) << "and keeps what it knew";
}

// An object nested past kMaxJsonDepth in a list page or a watch event is skipped by name; the
// others in the same page go on.
TEST_P(ReflectorTest, ADeeplyNestedObjectIsSkippedAndTheRestOfThePageGoesOn) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string page = R"({"kind":"ServiceList","metadata":{"resourceVersion":"9"},"items":[)" + obj("a", "1").dump() +
                     R"(,{"metadata":{"name":"deep","namespace":"ns","resourceVersion":"2"},"spec":{"ports":)" + deep +
                     "}}," + obj("c", "3").dump() + "]}";
  std::string deepLine = R"({"type":"ADDED","object":{"metadata":{"name":"d2","namespace":"ns","resourceVersion":"10"},"spec":)" +
                         deep + "}}";
  http.ok("/api/v1/services?", page).stream("/api/v1/services?watch=true&", {deepLine, event("ADDED", obj("e", "11"))});
  make().run();
  ASSERT_EQ(got.size(), 3u);
  // The reflector delivers the object (its key is fine); the decoder rejects it, naming the field.
  EXPECT_EQ(got[0].what, (std::vector<std::string>{"+ns/a@1", "+ns/deep@2", "+ns/c@3"}));
  EXPECT_EQ(got[2].what, (std::vector<std::string>{"+ns/e@11"}));
}

// A watch line past kMaxLineBytes ends the stream: resumed from the last version after backoff,
// never at once (a gzip bomb used to be re-watched every few seconds).
TEST_P(ReflectorTest, AnOverlongWatchLineBacksOff) {
  HttpReply cut{200, "", "a line longer than 16777216 bytes", true};
  http.ok("/api/v1/services?", list("3", {}));
  for (int i = 0; i < 3; ++i) http.stream("/api/v1/services?watch=true&resourceVersion=3", {}, cut);
  make().run();
  ASSERT_EQ(clock.waits.size(), 3u);
  EXPECT_GT(clock.waits[2], clock.waits[0]) << "backoff grows";
}

std::string initialEventsEnd(const std::string& rv) {
  return event("BOOKMARK", {{"kind", "Service"}, {"apiVersion", "v1"},
                            {"metadata", {{"resourceVersion", rv}, {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}});
}

const char* kWatchList = "/api/v1/services?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&"
                         "allowWatchBookmarks=true&timeoutSeconds=60&labelSelector=%21a%2C%21b";

TEST_P(ReflectorTest, StreamingListDeliversTheInitialEventsAsAListThenWatches) {
  ReflectorOptions opts;
  opts.streamingLists = true;
  opts.pageSize = 2;
  http.stream(kWatchList, {event("ADDED", obj("a", "5")), event("ADDED", obj("b", "7")), event("ADDED", obj("c", "8")),
                           initialEventsEnd("10"), event("MODIFIED", obj("a", "12"))})
      .stream("/api/v1/services?watch=true&resourceVersion=12&allowWatchBookmarks=true", {event("DELETED", obj("c", "13"))});
  make(opts).run();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].what, (std::vector<std::string>{"+ns/a@5", "+ns/b@7"})) << "delivered a page at a time";
  EXPECT_FALSE(got[0].listed);
  EXPECT_EQ(got[1].what, (std::vector<std::string>{"+ns/c@8"}));
  EXPECT_TRUE(got[1].listed) << "the initial-events-end bookmark completes the list";
  EXPECT_EQ(got[2].what, (std::vector<std::string>{"+ns/a@12"})) << "the same stream goes on as a watch";
  EXPECT_EQ(got[3].what, (std::vector<std::string>{"-ns/c"}));
  for (const auto& t : http.targets) EXPECT_EQ(t.find("limit="), std::string::npos) << "no paginated list: " << t;
}

TEST_P(ReflectorTest, AStreamingRelistDeletesWhatIsGoneAsAListDoes) {
  ReflectorOptions opts;
  opts.streamingLists = true;
  http.stream(kWatchList, {event("ADDED", obj("a", "5")), event("ADDED", obj("b", "7")), initialEventsEnd("10")})
      .stream("/api/v1/services?watch=true&resourceVersion=10&", {expired()})
      .stream(kWatchList, {event("ADDED", obj("a", "5")), initialEventsEnd("20")});
  make(opts).run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].what, std::vector<std::string>{"-ns/b"}) << "a unchanged (same version); b was deleted while away";
  EXPECT_TRUE(got[1].listed);
  EXPECT_EQ(reflector->relists(), 1u);
}

TEST_P(ReflectorTest, AServerRefusingStreamingListsGetsPaginatedListsFromThenOn) {
  ReflectorOptions opts;
  opts.streamingLists = true;
  http.status(kWatchList, 422, R"({"kind":"Status","code":422,"message":"sendInitialEvents is forbidden"})")
      .ok("/api/v1/services?limit=500&labelSelector=%21a%2C%21b", list("10", {obj("a", "5")}))
      .stream("/api/v1/services?watch=true&resourceVersion=10&", {expired()})
      .ok("/api/v1/services?limit=500&labelSelector=%21a%2C%21b", list("20", {obj("a", "5")}));
  make(opts).run();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].what, std::vector<std::string>{"+ns/a@5"});
  EXPECT_TRUE(got[0].listed);
  EXPECT_FALSE(reflector->streaming());
  EXPECT_TRUE(clock.waits.empty()) << "a refusal is an answer, not a failure to back off from";
}

TEST_P(ReflectorTest, AServerIgnoringSendInitialEventsIsFoundOutByTheMissingBookmark) {
  ReflectorOptions opts;
  opts.streamingLists = true;
  // An old server watches from now on: synthetic ADDED events, no end bookmark, ends at the timeout.
  http.stream(kWatchList, {event("ADDED", obj("a", "5"))}, {200, "", ""}, std::chrono::seconds(60))
      .ok("/api/v1/services?limit=500&labelSelector=%21a%2C%21b", list("10", {obj("a", "5"), obj("b", "6")}));
  make(opts).run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].listed) << "not complete without the bookmark";
  EXPECT_EQ(got[1].what, std::vector<std::string>{"+ns/b@6"});
  EXPECT_TRUE(got[1].listed);
  EXPECT_FALSE(reflector->streaming());
}

INSTANTIATE_TEST_SUITE_P(WireFormats, ReflectorTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Protobuf" : "Json"; });

TEST(LineSplitter, SplitsAcrossChunks) {
  std::vector<std::string> lines;
  HttpClient::LineFn fn = [&](std::string_view l) { lines.emplace_back(l); };
  LineSplitter s(fn, [&](std::string_view) { ADD_FAILURE() << "no line here is over-long"; });
  EXPECT_TRUE(s.feed("{\"a\""));
  EXPECT_TRUE(s.feed(":1}\r\n\n{\"b\":2}\n{\"c"));
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  s.finish();
  EXPECT_EQ(lines.back(), "{\"c");
}

// A line past the limit ends the stream: an event is lost either way, and the rest of a gzip bomb
// must not be inflated to its end.
TEST(LineSplitter, AnOverlongLineEndsTheStream) {
  std::vector<std::string> lines;
  std::vector<std::string> overlong;
  HttpClient::LineFn fn = [&](std::string_view l) { lines.emplace_back(l); };
  LineSplitter s(fn, [&](std::string_view head) { overlong.emplace_back(head.substr(0, 3)); });
  EXPECT_TRUE(s.feed("{\"b\":2}\n{\"c"));
  std::string big(kMaxLineBytes + 10, 'x');
  EXPECT_FALSE(s.feed(big));  // continues the {"c line past the limit
  EXPECT_TRUE(s.overlong());
  EXPECT_FALSE(s.feed("yyy\n{\"d\":4}\n"));
  s.finish();
  EXPECT_EQ(overlong, (std::vector<std::string>{"{\"c"}));
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"b\":2}"}));
}

TEST(UrlEscape, EscapesSelectorCharacters) {
  EXPECT_EQ(urlEscape("!service.kubernetes.io/headless,a=b"), "%21service.kubernetes.io%2Fheadless%2Ca%3Db");
  EXPECT_EQ(urlEscape("metadata.name=node-1"), "metadata.name%3Dnode-1");
}

TEST(ObjectKey, NeedsAName) {
  std::string why;
  EXPECT_FALSE(objectKey(json::array(), &why));
  EXPECT_FALSE(objectKey(json{{"metadata", {{"name", 5}}}}, &why));
  EXPECT_EQ(why, "object has no metadata.name");
  auto k = objectKey(json{{"metadata", {{"name", "n1"}}}});
  ASSERT_TRUE(k);
  EXPECT_EQ(k->str(), "/n1");
}

}  // namespace
}  // namespace kproxy::watch
