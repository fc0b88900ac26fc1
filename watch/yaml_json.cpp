#include "watch/yaml_json.h"

#include <yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <set>

namespace kproxy::watch {

using nlohmann::json;

namespace {

struct Limit {
  std::string message;
};

// What an anchor stands for, with what expanding it costs.
struct Anchored {
  json value;
  size_t values = 0, bytes = 0, depth = 0;
};

std::string text(const yaml_char_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

// YAML 1.2 core schema for plain scalars; quoted and block scalars, and !!str, are strings.
json typed(const yaml_event_t& e) {
  std::string s = text(e.data.scalar.value, e.data.scalar.length);
  const char* tag = reinterpret_cast<const char*>(e.data.scalar.tag);
  if (tag && std::string_view(tag) == YAML_STR_TAG) return s;
  if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return s;
  if (s.empty() || s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t i = 0;
  const char* b = s.data() + (s[0] == '+' ? 1 : 0);
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), i);
  if (ec == std::errc() && p == s.data() + s.size()) return i;
  double d = 0;
  auto [pd, ecd] = std::from_chars(b, s.data() + s.size(), d);
  if (ecd == std::errc() && pd == s.data() + s.size() && s.find_first_of("0123456789") != std::string::npos) return d;
  return s;
}

class Builder {
 public:
  explicit Builder(const YamlLimits& limits) : limits_(limits) {}

  void startDocument() {
    anchors_.clear();
    root_ = nullptr;
  }
  json finishDocument() { return std::move(root_); }

  void scalar(const yaml_event_t& e) {
    charge(1, e.data.scalar.length);
    std::string anchor = e.data.scalar.anchor ? reinterpret_cast<const char*>(e.data.scalar.anchor) : "";
    if (inKeyPosition()) {
      Frame& f = stack_.back();
      f.key = text(e.data.scalar.value, e.data.scalar.length);
      f.haveKey = true;
      if (!anchor.empty()) anchors_[anchor] = {f.key, 1, f.key.size(), 0};
      return;
    }
    json v = typed(e);
    if (!anchor.empty()) anchors_[anchor] = {v, 1, e.data.scalar.length, 0};
    place(std::move(v), 0);
  }

  void start(const yaml_event_t& e, bool map) {
    if (inKeyPosition()) throw Limit{"a mapping key that is not a scalar"};
    if (stack_.size() >= limits_.maxDepth)
      throw Limit{"nested deeper than " + std::to_string(limits_.maxDepth) + " levels"};
    charge(1, 0);
    const yaml_char_t* a = map ? e.data.mapping_start.anchor : e.data.sequence_start.anchor;
    Frame f;
    f.map = map;
    f.value = map ? json::object() : json::array();
    f.anchor = a ? reinterpret_cast<const char*>(a) : "";
    f.valuesAtStart = produced_ - 1;
    f.bytesAtStart = producedBytes_;
    stack_.push_back(std::move(f));
  }

  void end() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (!f.anchor.empty())
      anchors_[f.anchor] = {f.value, produced_ - f.valuesAtStart, producedBytes_ - f.bytesAtStart, f.depthBelow + 1};
    place(std::move(f.value), f.depthBelow + 1);
  }

  void alias(const yaml_event_t& e) {
    std::string name = reinterpret_cast<const char*>(e.data.alias.anchor);
    for (const auto& f : stack_)
      if (f.anchor == name) throw Limit{"alias *" + name.substr(0, 64) + " refers to a node that contains it (a cycle)"};
    auto it = anchors_.find(name);
    if (it == anchors_.end()) throw Limit{"alias *" + name.substr(0, 64) + " names no anchor before it"};
    const Anchored& a = it->second;
    if (stack_.size() + a.depth > limits_.maxDepth)
      throw Limit{"nested deeper than " + std::to_string(limits_.maxDepth) + " levels (through alias *" +
                  name.substr(0, 64) + ")"};
    charge(a.values, a.bytes);
    if (inKeyPosition()) {
      if (!a.value.is_string()) throw Limit{"a mapping key that is not a scalar"};
      stack_.back().key = a.value.get<std::string>();
      stack_.back().haveKey = true;
      return;
    }
    place(a.value, a.depth);
  }

 private:
  struct Frame {
    json value;
    bool map = false;
    bool haveKey = false;
    std::string key;
    std::string anchor;
    size_t valuesAtStart = 0, bytesAtStart = 0, depthBelow = 0;
  };

  bool inKeyPosition() const { return !stack_.empty() && stack_.back().map && !stack_.back().haveKey; }

  void charge(size_t values, size_t bytes) {
    produced_ += values;
    producedBytes_ += bytes;
    if (produced_ > limits_.maxValues)
      throw Limit{"expands to more than its budget of " + std::to_string(limits_.maxValues) + " values (aliases?)"};
    if (producedBytes_ > limits_.maxBytes)
      throw Limit{"expands to more than its budget of " + std::to_string(limits_.maxBytes) + " bytes (aliases?)"};
  }

  void place(json v, size_t depth) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return;
    }
    Frame& f = stack_.back();
    f.depthBelow = std::max(f.depthBelow, depth);
    if (!f.map) {
      f.value.push_back(std::move(v));
      return;
    }
    f.value[f.key] = std::move(v);  // a repeated key: the last one wins
    f.haveKey = false;
  }

  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::map<std::string, Anchored> anchors_;
  json root_;
  size_t produced_ = 0, producedBytes_ = 0;
};

std::string where(const yaml_mark_t& m) {
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

}  // namespace

YamlDocuments parseYaml(std::string_view input, const YamlLimits& limits) {
  YamlDocuments out;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    out.error = "malformed YAML: cannot initialize the parser";
    return out;
  }
  std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  Builder b(limits);
  bool done = false;
  while (!done) {
    yaml_event_t e;
    if (!yaml_parser_parse(&parser, &e)) {
      out.error = std::string("malformed YAML: ") + (parser.problem ? parser.problem : "error") + " at " +
                  where(parser.problem_mark) + (parser.context ? std::string(" (") + parser.context + ")" : "");
      break;
    }
    std::unique_ptr<yaml_event_t, void (*)(yaml_event_t*)> event(&e, yaml_event_delete);
    try {
      switch (e.type) {
        case YAML_DOCUMENT_START_EVENT: b.startDocument(); break;
        case YAML_DOCUMENT_END_EVENT: out.documents.push_back(b.finishDocument()); break;
        case YAML_SCALAR_EVENT: b.scalar(e); break;
        case YAML_SEQUENCE_START_EVENT: b.start(e, false); break;
        case YAML_MAPPING_START_EVENT: b.start(e, true); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: b.end(); break;
        case YAML_ALIAS_EVENT: b.alias(e); break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
      }
    } catch (const Limit& l) {
      out.error = "refused: " + l.message + " at " + where(e.start_mark);
      out.limitHit = true;
      break;
    }
  }
  return out;
}

}  // namespace kproxy::watch
