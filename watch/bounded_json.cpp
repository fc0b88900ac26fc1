#include "watch/bounded_json.h"

namespace kproxy::watch {

using nlohmann::json;

std::string JsonProblem::str() const { return (where.empty() ? std::string("(root)") : where.to_string()) + ": " + message; }

namespace {

// nlohmann's DOM builder behind a filter: frames track where we are (for problem paths and the
// managedFields rule); a skipped subtree's events are swallowed until it closes.
class BoundedSax {
 public:
  BoundedSax(json& root, const JsonOptions& options, ParsedJson& out) : dom_(root, false), options_(options), out_(out) {}

  bool null() { return skipping() || (advance(), dom_.null()); }
  bool boolean(bool v) { return skipping() || (advance(), dom_.boolean(v)); }
  bool number_integer(json::number_integer_t v) { return skipping() || (advance(), dom_.number_integer(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return skipping() || (advance(), dom_.number_unsigned(v)); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return skipping() || (advance(), dom_.number_float(v, s));
  }
  bool string(json::string_t& v) { return skipping() || (advance(), dom_.string(v)); }
  bool binary(json::binary_t& v) { return skipping() || (advance(), dom_.binary(v)); }

  bool start_object(std::size_t n) { return open(false) || dom_.start_object(n); }
  bool start_array(std::size_t n) { return open(true) || dom_.start_array(n); }
  bool end_object() { return close() || dom_.end_object(); }
  bool end_array() { return close() || dom_.end_array(); }

  bool key(json::string_t& k) {
    if (skip_ > 0) return true;
    Frame& f = frames_.back();
    if (options_.dropManagedFields && k == "managedFields" && f.parentKey == "metadata") {
      // Swallow the value that follows, whatever it is.
      dropNext_ = true;
      return true;
    }
    f.key = k;
    return dom_.key(k);
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    out_.syntaxError = e.what();
    return false;
  }

 private:
  struct Frame {
    bool array = false;
    size_t index = 0;       // arrays: the next element's index
    std::string key;        // objects: the member being read
    std::string parentKey;  // the key this container is the value of
  };

  // A scalar is a value too: it may be the one a dropped key announced.
  bool skipping() {
    if (skip_ > 0) return true;
    if (dropNext_) {
      dropNext_ = false;
      return true;
    }
    return false;
  }

  void advance() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }

  // True: swallowed (the caller returns true without building).
  bool open(bool array) {
    if (skip_ > 0) {
      ++skip_;
      return true;
    }
    if (dropNext_) {
      dropNext_ = false;
      skip_ = 1;
      return true;
    }
    if (frames_.size() >= options_.maxDepth) {
      out_.problems.push_back({pointer(), "nested deeper than " + std::to_string(options_.maxDepth) + " levels"});
      advance();
      dom_.null();  // the parent keeps its shape: the member or element is null
      skip_ = 1;
      return true;
    }
    std::string parentKey = frames_.empty() || frames_.back().array ? std::string() : frames_.back().key;
    advance();
    frames_.push_back({array, 0, {}, std::move(parentKey)});
    return false;
  }

  bool close() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    frames_.pop_back();
    return false;
  }

  // Where the value about to be read goes. An enclosing array has already counted the element
  // that is open in it, hence index - 1 for all but the innermost frame.
  json::json_pointer pointer() const {
    json::json_pointer p;
    for (size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.array) p /= (i + 1 < frames_.size() ? f.index - 1 : f.index);
      else p /= f.key;
    }
    return p;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonOptions& options_;
  ParsedJson& out_;
  std::vector<Frame> frames_;
  size_t skip_ = 0;
  bool dropNext_ = false;
};

}  // namespace

ParsedJson parseJson(std::string_view text, const JsonOptions& options) {
  ParsedJson out;
  BoundedSax sax(out.value, options, out);
  bool ok = json::sax_parse(text, &sax, json::input_format_t::json, true);
  if (!ok || !out.syntaxError.empty()) {
    if (out.syntaxError.empty()) out.syntaxError = "malformed JSON";
    out.value = json(json::value_t::discarded);
    out.problems.clear();
    return out;
  }
  // A dropped subtree reads as "discarded", not null, so that a decoder that needs the field
  // reports it instead of taking it as absent.
  try {
    for (const auto& p : out.problems) {
      if (p.where.empty()) out.value = json(json::value_t::discarded);
      else out.value.at(p.where) = json(json::value_t::discarded);
    }
  } catch (const json::exception&) {
    out.value = json(json::value_t::discarded);  // cannot happen: each pointer was built from the parse
  }
  return out;
}

}  // namespace kproxy::watch
