// YAML text -> JSON values, for manifests and kubeconfigs: libyaml's event parser (yaml-cpp 0.7
// loops forever on a document starting with ","), YAML 1.2 core-schema typing of plain scalars,
// and aliases resolved against a budget: a "billion laughs" or an alias cycle is refused by name.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "watch/bounded_json.h"

namespace kproxy::watch {

struct YamlLimits {
  size_t maxDepth = kMaxJsonDepth;  // nesting, aliases' content included
  size_t maxValues = 1 << 20;   // JSON values produced for the whole text, aliases expanded
  size_t maxBytes = 64u << 20;  // key and string bytes produced, aliases expanded
};

struct YamlDocuments {
  std::vector<nlohmann::json> documents;  // one per document; an empty document is null
  // Why the text was not read to its end: a syntax error ("malformed YAML: did not find expected
  // key at line 3, column 1") or a limit ("refused: ..."). The documents before it are kept.
  std::string error;
  bool limitHit = false;  // the error is a limit, not a syntax error

  bool ok() const { return error.empty(); }
};

YamlDocuments parseYaml(std::string_view text, const YamlLimits& limits = {});

}  // namespace kproxy::watch
