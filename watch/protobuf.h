// Kubernetes' protobuf wire format ("application/vnd.kubernetes.protobuf"), read into the JSON shape
// the API server would have sent, so that one set of decoders (watch/decode.h) and one reflector
// serve both content types with the same rules.
#pragma once

#include <string>
#include <string_view>

#include "watch/bounded_json.h"

namespace kproxy::watch {

// Every protobuf body starts with it, then a runtime.Unknown holding the kind and the object.
inline constexpr std::string_view kProtobufMagic{"k8s\0", 4};

inline bool isProtobuf(std::string_view body) { return body.substr(0, kProtobufMagic.size()) == kProtobufMagic; }

// An enveloped object or list as JSON: the kinds kproxy reads (Service, EndpointSlice, Endpoints,
// Node, ServiceCIDR, their Lists, Status, APIResourceList), with "kind" and "apiVersion" from the
// envelope. Fields kproxy never reads are skipped; singular empty strings are left out, as the
// server's JSON leaves them out. Any other kind, a bad envelope or a malformed message is a
// syntaxError naming it. Never throws.
ParsedJson decodeProtobuf(std::string_view body);

// One frame of a protobuf watch stream (a metav1.WatchEvent, no magic) as the JSON watch event
// {"type": ..., "object": {...}}.
ParsedJson decodeProtobufWatchEvent(std::string_view frame);

// A list or object body in either content type: protobuf when it starts with the magic.
ParsedJson decodeBody(std::string_view body);
// One record of a watch stream in either content type: a protobuf frame starts with a field tag
// (0x0a or 0x12), which no JSON text does; anything else is read as JSON.
ParsedJson decodeWatchRecord(std::string_view record);

}  // namespace kproxy::watch
