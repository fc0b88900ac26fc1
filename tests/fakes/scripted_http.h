// A scripted HttpClient and a fake reflector clock for list/watch unit tests: requests are
// answered in order from a script and recorded; time only passes when the test says so.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "watch/http_client.h"
#include "watch/reflector.h"

namespace kproxy::fakes {

class FakeReflectorClock : public watch::ReflectorClock {
 public:
  bool wait(std::chrono::milliseconds d) override {
    waits.push_back(d);
    now_ += d;
    return true;
  }
  std::chrono::steady_clock::time_point now() override { return now_; }
  double random() override {
    if (randoms.empty()) return 0.5;
    double r = randoms.front();
    randoms.pop_front();
    return r;
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }

  std::vector<std::chrono::milliseconds> waits;  // every backoff wait, in order
  std::deque<double> randoms;                    // what random() returns next (0.5 when empty)

 private:
  std::chrono::steady_clock::time_point now_{};
};

class ScriptedHttp : public watch::HttpClient {
 public:
  struct Step {
    std::string expect;              // the target must start with this ("" matches anything)
    watch::HttpReply reply;
    std::vector<std::string> lines;  // stream(): delivered before the reply returns
    std::chrono::seconds lasts{5};   // stream(): fake time that passes while it is open
  };

  explicit ScriptedHttp(FakeReflectorClock* clock = nullptr) : clock_(clock) {}

  ScriptedHttp& ok(std::string expect, std::string body) {
    steps.push_back({std::move(expect), {200, std::move(body), ""}, {}, std::chrono::seconds(5)});
    return *this;
  }
  ScriptedHttp& stream(std::string expect, std::vector<std::string> lines, watch::HttpReply end = {200, "", ""},
                       std::chrono::seconds lasts = std::chrono::seconds(5)) {
    steps.push_back({std::move(expect), std::move(end), std::move(lines), lasts});
    return *this;
  }
  ScriptedHttp& fail(std::string expect, std::string error) {
    steps.push_back({std::move(expect), {0, "", std::move(error)}, {}, std::chrono::seconds(0)});
    return *this;
  }
  ScriptedHttp& status(std::string expect, long code, std::string body) {
    steps.push_back({std::move(expect), {code, std::move(body), ""}, {}, std::chrono::seconds(0)});
    return *this;
  }

  watch::HttpReply get(const std::string& target, std::chrono::seconds) override {
    const Step* s = next(target);
    if (!s) return {0, "", "cancelled"};
    return s->reply;
  }

  watch::HttpReply stream(const std::string& target, std::chrono::seconds, const LineFn& onLine) override {
    const Step* s = next(target);
    if (!s) return {0, "", "cancelled"};
    if (s->reply.status == 200)
      for (const auto& l : s->lines) onLine(l);
    if (clock_) clock_->advance(s->lasts);
    return s->reply;
  }

  void cancel() override {}

  std::deque<Step> steps;
  std::vector<std::string> targets;         // every request, in order
  std::vector<std::string> mismatches;      // "expected X, got Y"
  std::function<void()> onExhausted;        // called when a request finds the script empty

 private:
  const Step* next(const std::string& target) {
    targets.push_back(target);
    if (steps.empty()) {
      if (onExhausted) onExhausted();
      return nullptr;
    }
    current_ = std::move(steps.front());
    steps.pop_front();
    if (target.rfind(current_.expect, 0) != 0) mismatches.push_back("expected " + current_.expect + ", got " + target);
    return &current_;
  }

  FakeReflectorClock* clock_;
  Step current_;
};

}  // namespace kproxy::fakes
