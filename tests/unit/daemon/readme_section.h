// README's generated sections for the tests that hold them to their generators.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace kproxy::daemon {

// The text between the line `<!-- NAME:begin ... -->` and `<!-- NAME:end -->` of README.md; none
// when the markers are missing.
inline std::optional<std::string> readmeSection(const std::string& name) {
  std::ifstream in(std::string(KPROXY_SOURCE_DIR) + "/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  auto b = readme.find("<!-- " + name + ":begin");
  auto e = readme.find("<!-- " + name + ":end -->");
  if (b == std::string::npos || e == std::string::npos) return std::nullopt;
  b = readme.find('\n', b);
  if (b == std::string::npos || b > e) return std::nullopt;
  return readme.substr(b + 1, e - b - 1);
}

}  // namespace kproxy::daemon
