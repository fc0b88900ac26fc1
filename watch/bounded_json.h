// JSON parsing for text from outside (API server, manifests, kernel tools): nesting is bounded, so
// no later recursive walk (printing, copying, freeing) can overflow the stack, and fields kproxy
// never reads that dominate API objects' size (metadata.managedFields) are not kept.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kproxy::watch {

// Deepest nesting accepted: Services, EndpointSlices and Nodes are under 10 levels; a watch
// event or a List adds two.
inline constexpr size_t kMaxJsonDepth = 64;

struct JsonProblem {
  nlohmann::json::json_pointer where;  // the subtree that was replaced by null: /items/3/spec
  std::string message;

  std::string str() const;  // "/items/3/spec/ports/0/port: nested deeper than 64 levels"
};

struct ParsedJson {
  nlohmann::json value;               // discarded (is_discarded()) when the text is not JSON
  std::string syntaxError;            // why the text is not JSON; the value is then unusable
  // Subtrees dropped for depth; each is a discarded value (is_discarded()) in `value`, which a
  // decoder that reads the field reports as an error.
  std::vector<JsonProblem> problems;

  bool ok() const { return syntaxError.empty(); }
};

struct JsonOptions {
  size_t maxDepth = kMaxJsonDepth;
  // Drop every "managedFields" member of a "metadata" object (server-side apply bookkeeping: often
  // half an object's bytes, never read by a proxy).
  bool dropManagedFields = true;
};

// One pass over `text`; never throws, never recurses with the input's depth.
ParsedJson parseJson(std::string_view text, const JsonOptions& options = {});

}  // namespace kproxy::watch
