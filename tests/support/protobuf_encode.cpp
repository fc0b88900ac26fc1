#include "tests/support/protobuf_encode.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <ctime>
#include <stdexcept>

#include "bench/k8s_full.pb.h"
#include "watch/proto/k8s.pb.h"

namespace kproxy::testing {

using nlohmann::json;
namespace pb = google::protobuf;

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path + ": " + what);
}

int64_t parseTime(const std::string& text, const std::string& path) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) bad(path, "not an RFC 3339 time: " + text);
  return static_cast<int64_t>(timegm(&tm));
}

void fill(const json& j, pb::Message& m, const std::string& path);

// Sets (index < 0) or adds one value of field f.
void put(const json& v, pb::Message& m, const pb::FieldDescriptor* f, bool add, const std::string& path) {
  const pb::Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      if (!v.is_number_integer()) bad(path, "expected an integer");
      add ? r->AddInt32(&m, f, v.get<int32_t>()) : r->SetInt32(&m, f, v.get<int32_t>());
      return;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      if (!v.is_number_integer()) bad(path, "expected an integer");
      add ? r->AddInt64(&m, f, v.get<int64_t>()) : r->SetInt64(&m, f, v.get<int64_t>());
      return;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (!v.is_boolean()) bad(path, "expected a boolean");
      add ? r->AddBool(&m, f, v.get<bool>()) : r->SetBool(&m, f, v.get<bool>());
      return;
    case pb::FieldDescriptor::CPPTYPE_STRING:
      if (!v.is_string()) bad(path, "expected a string");
      add ? r->AddString(&m, f, v.get<std::string>()) : r->SetString(&m, f, v.get<std::string>());
      return;
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      pb::Message* sub = add ? r->AddMessage(&m, f) : r->MutableMessage(&m, f);
      // By name: the same special messages exist in every package.
      const pb::Descriptor* d = f->message_type();
      const pb::Reflection* sr = sub->GetReflection();
      if (d->name() == "Time") {
        if (!v.is_string()) bad(path, "expected a time");
        sr->SetInt64(sub, d->FindFieldByName("seconds"), parseTime(v.get<std::string>(), path));
      } else if (d->name() == "IntOrString") {
        if (v.is_number_integer()) {
          sr->SetInt64(sub, d->FindFieldByName("type"), 0);
          sr->SetInt32(sub, d->FindFieldByName("intVal"), v.get<int32_t>());
        } else if (v.is_string()) {
          sr->SetInt64(sub, d->FindFieldByName("type"), 1);
          sr->SetString(sub, d->FindFieldByName("strVal"), v.get<std::string>());
        } else {
          bad(path, "expected an integer or a string");
        }
      } else if (d->name() == "FieldsV1") {
        sr->SetString(sub, d->FindFieldByName("Raw"), v.dump());  // the JSON text, as the server keeps it
      } else {
        fill(v, *sub, path);
      }
      return;
    }
    default: bad(path, "unsupported field type");
  }
}

void fill(const json& j, pb::Message& m, const std::string& path) {
  if (!j.is_object()) bad(path, "expected an object");
  const pb::Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    auto it = j.find(f->name());
    if (it == j.end() || it->is_null()) continue;
    std::string at = path + "." + f->name();
    if (f->is_map()) {
      if (!it->is_object()) bad(at, "expected an object");
      for (const auto& [k, v] : it->items()) {
        pb::Message* entry = m.GetReflection()->AddMessage(&m, f);
        entry->GetReflection()->SetString(entry, f->message_type()->map_key(), k);
        put(v, *entry, f->message_type()->map_value(), false, at + "." + k);
      }
    } else if (f->is_repeated()) {
      if (!it->is_array()) bad(at, "expected an array");
      for (size_t n = 0; n < it->size(); ++n) put((*it)[n], m, f, true, at + "[" + std::to_string(n) + "]");
    } else {
      put(*it, m, f, false, at);
    }
  }
}

}  // namespace

std::string encodeProtobuf(const json& obj, const std::string& kind, const std::string& apiVersion,
                           const std::string& package) {
  // Looked up by name below: referencing both files keeps the linker from dropping them.
  static const bool registered = k8s::Service::descriptor() && bench::Service::descriptor();
  (void)registered;
  const pb::Descriptor* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(package + "." + kind);
  if (!d) throw std::invalid_argument("no message for kind " + kind);
  std::unique_ptr<pb::Message> msg(pb::MessageFactory::generated_factory()->GetPrototype(d)->New());
  fill(obj, *msg, kind);
  k8s::Unknown envelope;
  envelope.mutable_typemeta()->set_apiversion(apiVersion);
  envelope.mutable_typemeta()->set_kind(kind);
  envelope.set_raw(msg->SerializeAsString());
  return std::string("k8s\0", 4) + envelope.SerializeAsString();
}

std::string encodeProtobufWatchEvent(const std::string& type, const json& obj, const std::string& kind,
                                     const std::string& apiVersion, bool framed) {
  k8s::WatchEvent ev;
  ev.set_type(type);
  ev.mutable_object()->set_raw(encodeProtobuf(obj, kind, apiVersion));
  std::string body = ev.SerializeAsString();
  if (!framed) return body;
  auto n = static_cast<uint32_t>(body.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + body;
}

}  // namespace kproxy::testing
