// Test and benchmark support: Kubernetes JSON objects written in the protobuf wire format an API
// server sends (the inverse of watch/protobuf.h, for the fields kproxy's .proto declares).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kproxy::testing {

// "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}. `obj` is an object or a List body
// ({"metadata": {...}, "items": [...]}) of `kind` ("Service", "ServiceList", ...). JSON members the
// .proto does not declare are left out, as a real server's extra fields would be skipped; a value
// of the wrong type throws std::invalid_argument naming it. `package` picks the messages:
// kproxy's (kproxy.k8s) or a fuller set such as watch_bench's (kproxy.bench).
std::string encodeProtobuf(const nlohmann::json& obj, const std::string& kind, const std::string& apiVersion,
                           const std::string& package = "kproxy.k8s");

// One frame of a protobuf watch stream: the 4-byte big-endian length, then a WatchEvent whose
// object is encodeProtobuf(obj, kind, apiVersion). `framed` false leaves the length out (what
// HttpClient::stream hands to its caller).
std::string encodeProtobufWatchEvent(const std::string& type, const nlohmann::json& obj, const std::string& kind,
                                     const std::string& apiVersion, bool framed = true);

}  // namespace kproxy::testing
