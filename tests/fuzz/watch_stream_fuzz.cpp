// A list page then a watch stream as an API server sends them, through the reflector's real
// state machine (scripted HTTP, fake clock): the first line is the list body, the rest arrive
// as watch lines, cut into chunks by the line splitter the curl client uses; then the same
// lines as a streaming list (sendInitialEvents) to a second reflector. Protobuf: an input that
// starts with "k8s\0" is a 4-byte big-endian length, a list body of that length (its own magic
// included), then length-prefixed watch frames.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fakes/scripted_http.h"
#include "watch/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool protobuf = in.substr(0, 4) == std::string_view("k8s\0", 4);
  std::string listBody;
  std::string_view rest;
  if (protobuf) {
    in.remove_prefix(4);
    if (in.size() < 4) return 0;
    auto b = [&](size_t i) { return static_cast<size_t>(static_cast<unsigned char>(in[i])); };
    size_t len = std::min(in.size() - 4, b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3));
    listBody = std::string(in.substr(4, len));
    rest = in.substr(4 + len);
  } else {
    size_t nl = in.find('\n');
    listBody = std::string(in.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  }

  // The splitter, fed in uneven chunks (its own edge cases).
  std::vector<std::string> lines;
  watch::HttpClient::LineFn collect = [&](std::string_view l) { lines.emplace_back(l); };
  watch::LineSplitter splitter(collect, [](std::string_view) {});
  if (protobuf) splitter.lengthPrefixed();
  for (size_t at = 0, step = 1; at < rest.size(); at += step, step = step * 3 % 17 + 1)
    if (!splitter.feed(rest.substr(at, step))) break;
  splitter.finish();

  fakes::FakeReflectorClock clock;
  fakes::ScriptedHttp http(&clock);
  http.ok("/api/v1/services?", listBody).stream("/api/v1/services?watch=true", lines);
  watch::Reflector* self = nullptr;
  watch::Reflector reflector({"services", "/api/v1/services", "", ""}, http, clock, {},
                             [](std::vector<watch::ReflectorEvent> events, bool) {
                               for (auto& e : events)
                                 if (e.type == watch::ReflectorEvent::Type::kUpsert)
                                   if (auto d = watch::decodeService(e.object); auto* err = std::get_if<watch::DecodeError>(&d))
                                     (void)err->str();
                             });
  self = &reflector;
  http.onExhausted = [self] { self->stop(); };
  reflector.run();

  // The same lines as a streaming list: initial events up to the end bookmark, then a watch.
  fakes::ScriptedHttp streamed(&clock);
  streamed.stream("/api/v1/services?watch=true&sendInitialEvents=true", lines);
  watch::ReflectorOptions opts;
  opts.streamingLists = true;
  opts.pageSize = 2;
  watch::Reflector streaming({"services", "/api/v1/services", "", ""}, streamed, clock, opts,
                             [](std::vector<watch::ReflectorEvent> events, bool) {
                               for (auto& e : events)
                                 if (e.type == watch::ReflectorEvent::Type::kUpsert)
                                   if (auto d = watch::decodeService(e.object); auto* err = std::get_if<watch::DecodeError>(&d))
                                     (void)err->str();
                             });
  streamed.onExhausted = [&streaming] { streaming.stop(); };
  streaming.run();
  return 0;
}
