// Strict decoding of Kubernetes API JSON and YAML manifests into model objects; a bad object is
// reported by kind, namespace/name and field, and skipped without affecting the others.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dataplane/model.h"

namespace kproxy::watch {

struct DecodeError {
  std::string source;  // file name, or empty for API objects
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string field;  // JSON path such as spec.ports[0].port
  std::string message;

  // "Service ns1/web: spec.ports[0].port: 70000 is out of range 1-65535"
  std::string str() const;
};

template <typename T>
using Decoded = std::variant<T, DecodeError>;

// Objects as served by an API server: list items carry no kind, so each type has its own entry.
Decoded<model::Service> decodeService(const nlohmann::json& obj);
Decoded<model::EndpointSlice> decodeEndpointSlice(const nlohmann::json& obj);
Decoded<model::Node> decodeNode(const nlohmann::json& obj);
Decoded<model::ServiceCIDR> decodeServiceCIDR(const nlohmann::json& obj);
// A core/v1 Endpoints object (clusters without the EndpointSlice API) as EndpointSlices, one per
// subset and address family, named "<name>.<i>" and validated as slices are.
Decoded<std::vector<model::EndpointSlice>> decodeEndpoints(const nlohmann::json& obj);

// Everything found in a set of manifests.
struct Objects {
  std::vector<model::Service> services;
  std::vector<model::EndpointSlice> slices;
  std::vector<model::Node> nodes;
  std::vector<model::ServiceCIDR> serviceCIDRs;
  std::vector<DecodeError> errors;
  std::vector<std::string> ignored;  // "Deployment ns/name": kinds kproxy does not use

  void append(Objects&& other);
};

// One object with a kind (Service, EndpointSlice, Node, ServiceCIDR, or a List of them).
void decodeObject(const nlohmann::json& obj, const std::string& source, Objects& out);

// YAML (one or many documents) or JSON text.
Objects decodeManifestText(std::string_view text, const std::string& source);

// Files, or directories whose *.yaml, *.yml and *.json files are read in name order.
Objects loadManifests(const std::vector<std::string>& paths);

// Largest manifest file read; bigger ones are reported and skipped.
inline constexpr size_t kMaxManifestBytes = 64u << 20;
// A YAML file may expand (through aliases) to at most this many JSON values and string bytes per
// byte of its text: a plain file never reaches it, a "billion laughs" is refused at once.
inline constexpr size_t kYamlValuesPerByte = 2;
inline constexpr size_t kYamlBytesPerByte = 4;

}  // namespace kproxy::watch
