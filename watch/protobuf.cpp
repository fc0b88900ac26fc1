#include "watch/protobuf.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <climits>
#include <ctime>

#include "watch/proto/k8s.pb.h"

namespace kproxy::watch {

using nlohmann::json;
namespace pb = google::protobuf;

namespace {

// Strings in protobuf are bytes; JSON text (and nlohmann's dump) needs UTF-8. Invalid sequences
// become U+FFFD, as Go's encoding/json writes them.
std::string validUtf8(std::string s) {
  auto valid = [&](size_t i, size_t& len) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return len = 1, true;
    unsigned min;
    if ((c & 0xe0) == 0xc0) len = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000;
    else return false;
    if (i + len > s.size()) return false;
    unsigned cp = c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    return cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
  };
  size_t i = 0, len = 0;
  while (i < s.size() && valid(i, len)) i += len;
  if (i == s.size()) return s;  // moved: the common case copies nothing
  std::string out = s.substr(0, i);
  while (i < s.size()) {
    if (valid(i, len)) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

// metav1.Time as the JSON's RFC 3339 text.
std::string rfc3339(int64_t seconds) {
  std::tm tm{};
  auto t = static_cast<time_t>(seconds);
  if (seconds < -62135596800LL || seconds > 253402300799LL || !gmtime_r(&t, &tm)) return std::to_string(seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Reads one message of type `d` from `in` (up to its limit) straight into the JSON the server
// would have sent: fields by number from the descriptor, unknown ones skipped without being kept
// (a real object's managedFields, ownerReferences, ... cost a skip, not a copy). Repeated
// occurrences of a singular field: the last wins. Depth is bounded by k8s.proto (no message
// contains itself), whatever the bytes say; unknown groups are skipped within libprotobuf's
// recursion limit. False when the bytes are not a well-formed message.
bool readMessage(pb::io::CodedInputStream& in, const pb::Descriptor* d, json& out);

bool readValue(pb::io::CodedInputStream& in, const pb::FieldDescriptor* f, uint32_t wireType, json& v) {
  using WFL = pb::internal::WireFormatLite;
  switch (f->type()) {
    case pb::FieldDescriptor::TYPE_INT32:
    case pb::FieldDescriptor::TYPE_INT64:
    case pb::FieldDescriptor::TYPE_BOOL: {
      uint64_t raw = 0;
      if (wireType != WFL::WIRETYPE_VARINT || !in.ReadVarint64(&raw)) return false;
      if (f->type() == pb::FieldDescriptor::TYPE_BOOL) v = raw != 0;
      else if (f->type() == pb::FieldDescriptor::TYPE_INT32) v = static_cast<int32_t>(static_cast<int64_t>(raw));
      else v = static_cast<int64_t>(raw);
      return true;
    }
    case pb::FieldDescriptor::TYPE_STRING:
    case pb::FieldDescriptor::TYPE_BYTES:
    case pb::FieldDescriptor::TYPE_MESSAGE: {
      uint32_t len = 0;
      if (wireType != WFL::WIRETYPE_LENGTH_DELIMITED || !in.ReadVarint32(&len)) return false;
      if (f->type() != pb::FieldDescriptor::TYPE_MESSAGE) {
        std::string s;
        if (!in.ReadString(&s, static_cast<int>(len))) return false;
        v = validUtf8(std::move(s));
        return true;
      }
      auto limit = in.PushLimit(static_cast<int>(len));
      json sub;
      bool ok = readMessage(in, f->message_type(), sub) && in.ConsumedEntireMessage();
      in.PopLimit(limit);
      if (!ok) return false;
      const pb::Descriptor* md = f->message_type();
      if (md == k8s::Time::descriptor()) {
        v = rfc3339(sub.value("seconds", int64_t{0}));
      } else if (md == k8s::IntOrString::descriptor()) {
        if (sub.value("type", int64_t{0}) == 1) v = sub.value("strVal", std::string());
        else v = sub.value("intVal", 0);
      } else {
        v = std::move(sub);
      }
      return true;
    }
    default: return false;  // k8s.proto has no other types
  }
}

bool readMessage(pb::io::CodedInputStream& in, const pb::Descriptor* d, json& out) {
  out = json::object();
  while (uint32_t tag = in.ReadTag()) {
    const pb::FieldDescriptor* f = d->FindFieldByNumber(static_cast<int>(tag >> 3));
    uint32_t wireType = tag & 7;
    if (!f) {
      if (!pb::internal::WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    json v;
    if (!readValue(in, f, wireType, v)) return false;
    const std::string& name = f->name();
    if (f->is_map()) {
      // An entry: key 1, value 2 (strings in every map kproxy reads).
      json& m = out[name];
      if (!m.is_object()) m = json::object();
      m[v.value("key", std::string())] = v.contains("value") ? std::move(v["value"]) : json("");
    } else if (f->is_repeated()) {
      json& a = out[name];
      if (!a.is_array()) a = json::array();
      a.push_back(std::move(v));
    } else if (v.is_string() && v.get_ref<const std::string&>().empty()) {
      out.erase(name);  // the JSON leaves empty strings out (omitempty)
    } else {
      out[name] = std::move(v);
    }
  }
  return true;
}

// Parses `bytes` as a message of type `d` into JSON.
bool readMessage(std::string_view bytes, const pb::Descriptor* d, json& out) {
  if (bytes.size() > INT_MAX) return false;
  pb::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  return readMessage(in, d, out) && in.ConsumedEntireMessage();
}

const pb::Descriptor* messageFor(const std::string& kind) {
  static const std::pair<const char*, const pb::Descriptor*> kinds[] = {
      {"Service", k8s::Service::descriptor()},
      {"ServiceList", k8s::ServiceList::descriptor()},
      {"EndpointSlice", k8s::EndpointSlice::descriptor()},
      {"EndpointSliceList", k8s::EndpointSliceList::descriptor()},
      {"Endpoints", k8s::Endpoints::descriptor()},
      {"EndpointsList", k8s::EndpointsList::descriptor()},
      {"Node", k8s::Node::descriptor()},
      {"NodeList", k8s::NodeList::descriptor()},
      {"ServiceCIDR", k8s::ServiceCIDR::descriptor()},
      {"ServiceCIDRList", k8s::ServiceCIDRList::descriptor()},
      {"Status", k8s::Status::descriptor()},
      {"APIResourceList", k8s::APIResourceList::descriptor()},
  };
  for (const auto& [name, d] : kinds)
    if (kind == name) return d;
  return nullptr;
}

std::string quoted(const std::string& s) {
  json j = validUtf8(s.substr(0, 63));
  return j.dump();
}

}  // namespace

ParsedJson decodeProtobuf(std::string_view body) {
  ParsedJson out;
  out.value = json(json::value_t::discarded);
  if (!isProtobuf(body)) {
    out.syntaxError = "not a protobuf body (no k8s\\0 magic)";
    return out;
  }
  body.remove_prefix(kProtobufMagic.size());
  if (body.size() > INT_MAX) {
    out.syntaxError = "protobuf body too large";
    return out;
  }
  pb::Arena arena;
  auto* envelope = pb::Arena::CreateMessage<k8s::Unknown>(&arena);
  if (!envelope->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    out.syntaxError = "malformed protobuf envelope (runtime.Unknown)";
    return out;
  }
  const std::string& kind = envelope->typemeta().kind();
  if (!envelope->contentencoding().empty()) {
    out.syntaxError = "protobuf " + quoted(kind) + " with contentEncoding " + quoted(envelope->contentencoding()) +
                      " is not supported";
    return out;
  }
  const pb::Descriptor* d = messageFor(kind);
  if (!d) {
    out.syntaxError = "protobuf object of kind " + quoted(kind) + " is not one kproxy reads";
    return out;
  }
  if (!readMessage(envelope->raw(), d, out.value)) {
    out.value = json(json::value_t::discarded);
    out.syntaxError = "malformed protobuf " + kind;
    return out;
  }
  out.value["kind"] = kind;
  if (!envelope->typemeta().apiversion().empty()) out.value["apiVersion"] = validUtf8(envelope->typemeta().apiversion());
  return out;
}

ParsedJson decodeProtobufWatchEvent(std::string_view frame) {
  ParsedJson out;
  out.value = json(json::value_t::discarded);
  pb::Arena arena;
  auto* ev = pb::Arena::CreateMessage<k8s::WatchEvent>(&arena);
  if (frame.size() > INT_MAX || !ev->ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    out.syntaxError = "malformed protobuf watch event";
    return out;
  }
  ParsedJson object = decodeProtobuf(ev->object().raw());
  if (!object.ok()) {
    out.syntaxError = "watch event " + quoted(ev->type()) + ": " + object.syntaxError;
    return out;
  }
  out.value = json::object();
  if (!ev->type().empty()) out.value["type"] = validUtf8(ev->type());
  out.value["object"] = std::move(object.value);
  return out;
}

ParsedJson decodeBody(std::string_view body) { return isProtobuf(body) ? decodeProtobuf(body) : parseJson(body); }

ParsedJson decodeWatchRecord(std::string_view record) {
  // A WatchEvent's first byte is the tag of field 1 or 2 (0x0a, 0x12): never how JSON text starts.
  if (!record.empty() && (record[0] == '\x0a' || record[0] == '\x12')) return decodeProtobufWatchEvent(record);
  return parseJson(record);
}

}  // namespace kproxy::watch
