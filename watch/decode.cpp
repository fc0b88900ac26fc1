#include "watch/decode.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dataplane/cluster_state.h"
#include "dataplane/ip.h"
#include "dataplane/log.h"
#include "watch/bounded_json.h"
#include "watch/yaml_json.h"

namespace kproxy::watch {

using nlohmann::json;

std::string DecodeError::str() const {
  std::string s;
  if (!source.empty()) s += source + ": ";
  s += kind.empty() ? "object" : kind;
  if (!name.empty() || !namespace_.empty()) {
    s += ' ';
    s += namespace_.empty() ? name : namespace_ + "/" + name;
  }
  s += ": ";
  if (!field.empty()) s += field + ": ";
  s += message;
  // Names and values come from outside: they must not carry line breaks or terminal escapes.
  return log::escape(s);
}

void Objects::append(Objects&& o) {
  auto move = [](auto& to, auto& from) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  move(services, o.services);
  move(slices, o.slices);
  move(nodes, o.nodes);
  move(serviceCIDRs, o.serviceCIDRs);
  move(errors, o.errors);
  move(ignored, o.ignored);
}

namespace {

// Thrown inside this file only, caught at the object boundary: lets field checks stay one line each.
struct FieldError {
  std::string field;
  std::string message;
};

constexpr size_t kMaxListItems = 1000;   // EndpointSlice's own API limit for endpoints
constexpr size_t kMaxAddresses = 100;    // per endpoint, as the API validates
constexpr size_t kMaxStringBytes = 1024; // any free-form string we keep

std::string typeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_float: return "number";
    case json::value_t::discarded: return "a value nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    default: return "integer";
  }
}

// A value for an error message: bounded whatever its size (containers are not printed).
std::string show(const json& v) {
  std::string s;
  if (v.is_string()) s = v.get_ref<const std::string&>().substr(0, 64);
  else if (v.is_array()) s = "[...] (" + std::to_string(v.size()) + " items)";
  else if (v.is_object()) s = "{...} (" + std::to_string(v.size()) + " members)";
  else if (v.is_discarded()) return "(" + typeName(v) + ")";
  else s = v.dump();
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  return "\"" + s + "\"";
}

// A JSON object being read, with its path for error messages.
class Obj {
 public:
  Obj(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) throw FieldError{path_.empty() ? "(root)" : path_, "expected object, got " + typeName(j_)};
  }

  std::string at(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

  const json* find(std::string_view key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string str(std::string_view key, const std::string& def = {}) const {
    const json* v = find(key);
    if (!v) return def;
    if (!v->is_string()) throw FieldError{at(key), "expected string, got " + typeName(*v)};
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxStringBytes) throw FieldError{at(key), "longer than " + std::to_string(kMaxStringBytes) + " bytes"};
    return s;
  }

  std::optional<int64_t> integer(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw FieldError{at(key), "expected integer, got " + typeName(*v) + " " + show(*v)};
    return v->get<int64_t>();
  }

  std::optional<bool> boolean(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw FieldError{at(key), "expected boolean, got " + typeName(*v)};
    return v->get<bool>();
  }

  std::optional<Obj> obj(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return Obj(*v, at(key));
  }

  // Calls fn(element, path) for each element; null or absent is an empty list.
  template <typename Fn>
  void list(std::string_view key, size_t maxItems, Fn fn) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_array()) throw FieldError{at(key), "expected array, got " + typeName(*v)};
    if (v->size() > maxItems)
      throw FieldError{at(key), std::to_string(v->size()) + " items, more than the limit of " + std::to_string(maxItems)};
    for (size_t i = 0; i < v->size(); ++i) fn((*v)[i], at(key) + "[" + std::to_string(i) + "]");
  }

  // A map of strings; with `keep`, only those keys are kept (the others are type-checked only).
  // Keys and values longer than `maxBytes` are errors: the API server's own limits are far lower.
  std::map<std::string, std::string> stringMap(std::string_view key, size_t maxBytes,
                                               const std::vector<std::string_view>* keep = nullptr) const {
    std::map<std::string, std::string> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_object()) throw FieldError{at(key), "expected object, got " + typeName(*v)};
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it.key().size() > 317) throw FieldError{at(key), "a key longer than 317 bytes: " + show(it.key())};
      std::string where = at(key) + "[" + it.key() + "]";
      if (!it.value().is_string()) throw FieldError{where, "expected string, got " + typeName(it.value())};
      const auto& value = it.value().get_ref<const std::string&>();
      if (keep && std::find(keep->begin(), keep->end(), it.key()) == keep->end()) continue;
      if (value.size() > maxBytes) throw FieldError{where, "longer than " + std::to_string(maxBytes) + " bytes"};
      out[it.key()] = value;
    }
    return out;
  }

  const std::string& path() const { return path_; }

 private:
  const json& j_;
  std::string path_;
};

std::string elementString(const json& v, const std::string& path) {
  if (!v.is_string()) throw FieldError{path, "expected string, got " + typeName(v)};
  return v.get<std::string>();
}

// DNS-1123 label: what Kubernetes allows for namespaces, service and port names. It also keeps
// quotes, spaces and shell characters out of iptables comments.
bool isDnsLabel(std::string_view s, size_t maxLen = 63) {
  if (s.empty() || s.size() > maxLen) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!isDnsLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Label values (zones): up to 63 of [A-Za-z0-9._-], alphanumeric at both ends.
bool isLabelValue(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

model::ObjectMeta decodeMeta(const Obj& root, bool namespaced, bool (*nameOk)(std::string_view),
                             DecodeError& ctx) {
  model::ObjectMeta m;
  auto md = root.obj("metadata");
  if (!md) throw FieldError{"metadata", "missing"};
  // Read the identity first so that any later error can name the object.
  const json* nameJ = md->find("name");
  if (nameJ && nameJ->is_string()) ctx.name = nameJ->get<std::string>().substr(0, 253);
  const json* nsJ = md->find("namespace");
  if (nsJ && nsJ->is_string()) ctx.namespace_ = nsJ->get<std::string>().substr(0, 63);

  m.name = md->str("name");
  if (m.name.empty()) throw FieldError{"metadata.name", "missing"};
  if (!nameOk(m.name)) throw FieldError{"metadata.name", show(m.name) + " is not a valid name"};
  if (namespaced) {
    m.namespace_ = md->str("namespace", "default");
    if (!isDnsLabel(m.namespace_))
      throw FieldError{"metadata.namespace", show(m.namespace_) + " is not a valid namespace"};
    ctx.namespace_ = m.namespace_;
  }
  m.resourceVersion = md->str("resourceVersion");
  m.deleting = !md->str("deletionTimestamp").empty();
  // Label values are at most 63 bytes in the API; annotations are unbounded there (256 KB in
  // all), so only the ones kproxy reads are kept: a last-applied-configuration is not our memory.
  static const std::vector<std::string_view> kKeptAnnotations = {dataplane::kAnnotationTriggerTime};
  m.labels = md->stringMap("labels", 63);
  m.annotations = md->stringMap("annotations", kMaxStringBytes, &kKeptAnnotations);
  return m;
}

bool isServiceName(std::string_view s) {
  // A DNS-1123 label: RelaxedServiceNameValidation (GA in 1.37) lets it start with a digit.
  return isDnsLabel(s);
}
bool isSubdomainName(std::string_view s) { return isDnsSubdomain(s); }

uint16_t portNumber(const Obj& o, std::string_view key, bool required, int min = 1) {
  auto v = o.integer(key);
  if (!v) {
    if (required) throw FieldError{o.at(key), "missing"};
    return 0;
  }
  if (*v < min || *v > 65535)
    throw FieldError{o.at(key), std::to_string(*v) + " is out of range " + std::to_string(min) + "-65535"};
  return static_cast<uint16_t>(*v);
}

model::Protocol protocol(const Obj& o) {
  std::string p = o.str("protocol", "TCP");
  if (p == "TCP") return model::Protocol::kTCP;
  if (p == "UDP") return model::Protocol::kUDP;
  if (p == "SCTP") return model::Protocol::kSCTP;
  throw FieldError{o.at("protocol"), "unknown protocol " + show(p) + " (want TCP, UDP or SCTP)"};
}

// Sloppy, as kube-proxy parses them: an old object's leading-zero IPv4 is decimal.
std::string ipAddress(const std::string& text, const std::string& path) {
  auto ip = net::parseIPSloppy(text);
  if (!ip) throw FieldError{path, show(text) + " is not a valid IP address"};
  return ip->str();
}

model::TrafficPolicy trafficPolicy(const Obj& o, std::string_view key) {
  std::string v = o.str(key, "Cluster");
  if (v == "Cluster") return model::TrafficPolicy::kCluster;
  if (v == "Local") return model::TrafficPolicy::kLocal;
  throw FieldError{o.at(key), "unknown traffic policy " + show(v) + " (want Cluster or Local)"};
}

template <typename T, typename Fn>
Decoded<T> guarded(const json& obj, const char* kind, Fn body) {
  DecodeError ctx;
  ctx.kind = kind;
  try {
    Obj root(obj, "");
    return body(root, ctx);
  } catch (const FieldError& e) {
    ctx.field = e.field;
    ctx.message = e.message;
    return ctx;
  } catch (const json::exception& e) {
    ctx.message = e.what();
    return ctx;
  }
}

}  // namespace

Decoded<model::Service> decodeService(const json& obj) {
  return guarded<model::Service>(obj, "Service", [](const Obj& root, DecodeError& ctx) {
    model::Service s;
    s.meta = decodeMeta(root, true, isServiceName, ctx);
    auto spec = root.obj("spec");
    if (!spec) throw FieldError{"spec", "missing"};

    std::string type = spec->str("type", "ClusterIP");
    if (type == "ClusterIP") s.type = model::ServiceType::kClusterIP;
    else if (type == "NodePort") s.type = model::ServiceType::kNodePort;
    else if (type == "LoadBalancer") s.type = model::ServiceType::kLoadBalancer;
    else if (type == "ExternalName") s.type = model::ServiceType::kExternalName;
    else throw FieldError{"spec.type", "unknown service type " + show(type)};
    s.externalName = spec->str("externalName");

    s.clusterIP = spec->str("clusterIP");
    std::vector<std::string> ips;
    spec->list("clusterIPs", 2, [&](const json& v, const std::string& path) { ips.push_back(elementString(v, path)); });
    if (ips.empty() && !s.clusterIP.empty()) ips.push_back(s.clusterIP);
    if (!s.clusterIP.empty() && !ips.empty() && ips.front() != s.clusterIP)
      throw FieldError{"spec.clusterIPs[0]", show(ips.front()) + " differs from spec.clusterIP " + show(s.clusterIP)};
    bool headless = s.clusterIP == "None" || (s.clusterIP.empty() && !ips.empty() && ips.front() == "None");
    if (headless) {
      s.clusterIP = "None";
    } else if (s.type != model::ServiceType::kExternalName) {
      for (size_t i = 0; i < ips.size(); ++i) {
        s.clusterIPs.push_back(ipAddress(ips[i], "spec.clusterIPs[" + std::to_string(i) + "]"));
      }
      if (s.clusterIPs.size() == 2 && net::parseIP(s.clusterIPs[0])->family == net::parseIP(s.clusterIPs[1])->family)
        throw FieldError{"spec.clusterIPs", "two addresses of the same family"};
      if (!s.clusterIPs.empty()) s.clusterIP = s.clusterIPs.front();
    }
    spec->list("ipFamilies", 2, [&](const json& v, const std::string& path) {
      std::string f = elementString(v, path);
      if (f == "IPv4") s.ipFamilies.push_back(model::IPFamily::kIPv4);
      else if (f == "IPv6") s.ipFamilies.push_back(model::IPFamily::kIPv6);
      else throw FieldError{path, "unknown IP family " + show(f)};
    });

    std::set<std::pair<std::string, int>> seenPorts;
    spec->list("ports", kMaxListItems, [&](const json& v, const std::string& path) {
      Obj p(v, path);
      model::ServicePort port;
      port.name = p.str("name");
      if (!port.name.empty() && !isDnsLabel(port.name))
        throw FieldError{p.at("name"), show(port.name) + " is not a valid port name"};
      port.protocol = protocol(p);
      port.port = portNumber(p, "port", true);
      port.nodePort = portNumber(p, "nodePort", false, 0);
      if (const json* tp = p.find("targetPort")) {
        if (tp->is_number_integer()) {
          auto t = tp->get<int64_t>();
          if (t < 1 || t > 65535) throw FieldError{p.at("targetPort"), std::to_string(t) + " is out of range 1-65535"};
          port.targetPort = std::to_string(t);
        } else if (tp->is_string()) {
          port.targetPort = tp->get<std::string>();
          if (!isDnsLabel(port.targetPort, 15) && port.targetPort.find_first_not_of("0123456789") != std::string::npos)
            throw FieldError{p.at("targetPort"), show(port.targetPort) + " is not a valid port name"};
        } else {
          throw FieldError{p.at("targetPort"), "expected integer or string, got " + typeName(*tp)};
        }
      }
      if (!seenPorts.insert({port.name, static_cast<int>(port.protocol)}).second)
        throw FieldError{path + ".name", "duplicate port name " + show(port.name) + " for " + model::protocolName(port.protocol)};
      s.ports.push_back(std::move(port));
    });
    if (s.ports.size() > 1)
      for (size_t i = 0; i < s.ports.size(); ++i)
        if (s.ports[i].name.empty())
          throw FieldError{"spec.ports[" + std::to_string(i) + "].name", "required when a Service has several ports"};

    spec->list("externalIPs", kMaxListItems, [&](const json& v, const std::string& path) {
      s.externalIPs.push_back(ipAddress(elementString(v, path), path));
    });
    spec->list("loadBalancerSourceRanges", kMaxListItems, [&](const json& v, const std::string& path) {
      std::string text = elementString(v, path);
      // Upstream trims spaces in source ranges; so do we.
      text.erase(0, text.find_first_not_of(' '));
      text.erase(text.find_last_not_of(' ') + 1);
      auto c = net::parseCidrSloppy(text);
      if (!c) {
        // Upstream skips the one entry (the others still apply), not the Service.
        log::warning("Service " + s.meta.namespace_ + "/" + s.meta.name + ": " + path + ": " + show(text) +
                     " is not a valid CIDR; the entry is skipped");
        return;
      }
      s.loadBalancerSourceRanges.push_back(c->str());
    });

    std::string affinity = spec->str("sessionAffinity", "None");
    if (affinity == "ClientIP") s.sessionAffinityClientIP = true;
    else if (affinity != "None") throw FieldError{"spec.sessionAffinity", "unknown session affinity " + show(affinity)};
    if (auto cfg = spec->obj("sessionAffinityConfig"))
      if (auto cip = cfg->obj("clientIP"))
        if (auto t = cip->integer("timeoutSeconds")) {
          if (*t < 1 || *t > 86400)
            throw FieldError{cip->at("timeoutSeconds"), std::to_string(*t) + " is out of range 1-86400"};
          s.sessionAffinityTimeoutSeconds = static_cast<int>(*t);
        }

    s.externalTrafficPolicy = trafficPolicy(*spec, "externalTrafficPolicy");
    s.internalTrafficPolicy = trafficPolicy(*spec, "internalTrafficPolicy");
    s.healthCheckNodePort = portNumber(*spec, "healthCheckNodePort", false, 0);

    if (auto status = root.obj("status"))
      if (auto lb = status->obj("loadBalancer"))
        lb->list("ingress", kMaxListItems, [&](const json& v, const std::string& path) {
          Obj ing(v, path);
          model::LoadBalancerIngress in;
          std::string ip = ing.str("ip");
          if (!ip.empty()) in.ip = ipAddress(ip, ing.at("ip"));
          in.hostname = ing.str("hostname");
          in.ipMode = ing.str("ipMode", "VIP");
          if (in.ipMode != "VIP" && in.ipMode != "Proxy") {
            // Upstream captures an ingress IP only when its mode is VIP (or unset).
            log::warning("Service " + s.meta.namespace_ + "/" + s.meta.name + ": " + ing.at("ipMode") + ": unknown ipMode " +
                         show(in.ipMode) + "; the IP is not captured, as with Proxy");
            in.ipMode = "Proxy";
          }
          s.loadBalancerIngress.push_back(std::move(in));
        });
    return s;
  });
}

Decoded<model::EndpointSlice> decodeEndpointSlice(const json& obj) {
  return guarded<model::EndpointSlice>(obj, "EndpointSlice", [](const Obj& root, DecodeError& ctx) {
    model::EndpointSlice es;
    es.meta = decodeMeta(root, true, isSubdomainName, ctx);
    auto it = es.meta.labels.find(model::kLabelServiceName);
    if (it == es.meta.labels.end() || it->second.empty())
      throw FieldError{std::string("metadata.labels[") + model::kLabelServiceName + "]", "missing"};
    if (!isServiceName(it->second))
      throw FieldError{std::string("metadata.labels[") + model::kLabelServiceName + "]",
                       show(it->second) + " is not a valid service name"};
    es.serviceName = it->second;

    std::string at = root.str("addressType");
    if (at == "IPv4") es.addressType = model::AddressType::kIPv4;
    else if (at == "IPv6") es.addressType = model::AddressType::kIPv6;
    else if (at == "FQDN") es.addressType = model::AddressType::kFQDN;
    else throw FieldError{"addressType", at.empty() ? "missing" : "unknown address type " + show(at)};

    root.list("endpoints", kMaxListItems, [&](const json& v, const std::string& path) {
      Obj e(v, path);
      model::Endpoint ep;
      e.list("addresses", kMaxAddresses, [&](const json& a, const std::string& apath) {
        std::string text = elementString(a, apath);
        if (es.addressType == model::AddressType::kFQDN) {
          if (!isDnsSubdomain(text)) throw FieldError{apath, show(text) + " is not a valid FQDN"};
          ep.addresses.push_back(text);
          return;
        }
        auto ip = net::parseIPSloppy(text);
        if (!ip) throw FieldError{apath, show(text) + " is not a valid IP address"};
        if ((ip->family == model::IPFamily::kIPv4) != (es.addressType == model::AddressType::kIPv4))
          throw FieldError{apath, show(text) + " does not match addressType " + at};
        ep.addresses.push_back(ip->str());
      });
      if (ep.addresses.empty()) throw FieldError{e.at("addresses"), "missing"};
      if (auto c = e.obj("conditions")) {
        ep.conditions.ready = c->boolean("ready");
        ep.conditions.serving = c->boolean("serving");
        ep.conditions.terminating = c->boolean("terminating");
      }
      ep.nodeName = e.str("nodeName");
      if (!ep.nodeName.empty() && !isDnsSubdomain(ep.nodeName))
        throw FieldError{e.at("nodeName"), show(ep.nodeName) + " is not a valid node name"};
      ep.zone = e.str("zone");
      if (!isLabelValue(ep.zone)) throw FieldError{e.at("zone"), show(ep.zone) + " is not a valid zone"};
      if (auto hints = e.obj("hints")) {
        hints->list("forZones", 8, [&](const json& z, const std::string& zpath) {
          Obj zo(z, zpath);
          std::string zone = zo.str("name");
          if (zone.empty() || !isLabelValue(zone)) throw FieldError{zo.at("name"), show(zone) + " is not a valid zone"};
          ep.hintsForZones.push_back(zone);
        });
        hints->list("forNodes", 8, [&](const json& n, const std::string& npath) {
          Obj no(n, npath);
          std::string name = no.str("name");
          if (name.empty() || !isDnsSubdomain(name)) throw FieldError{no.at("name"), show(name) + " is not a valid node name"};
          ep.hintsForNodes.push_back(name);
        });
      }
      es.endpoints.push_back(std::move(ep));
    });

    root.list("ports", 100, [&](const json& v, const std::string& path) {
      Obj p(v, path);
      model::EndpointPort port;
      port.name = p.str("name");
      if (!port.name.empty() && !isDnsLabel(port.name))
        throw FieldError{p.at("name"), show(port.name) + " is not a valid port name"};
      port.protocol = protocol(p);
      if (p.find("port")) port.port = portNumber(p, "port", true);
      es.ports.push_back(std::move(port));
    });
    return es;
  });
}

Decoded<model::Node> decodeNode(const json& obj) {
  return guarded<model::Node>(obj, "Node", [](const Obj& root, DecodeError& ctx) {
    model::Node n;
    n.meta = decodeMeta(root, false, isSubdomainName, ctx);
    if (auto status = root.obj("status"))
      status->list("addresses", 64, [&](const json& v, const std::string& path) {
        Obj a(v, path);
        model::NodeAddress na{a.str("type"), a.str("address")};
        if ((na.type == "InternalIP" || na.type == "ExternalIP") && !na.address.empty())
          na.address = ipAddress(na.address, a.at("address"));
        n.addresses.push_back(std::move(na));
      });
    // detect-local-mode NodeCIDR reads these. An entry that is not a CIDR is left out rather
    // than failing the Node: its labels and addresses matter more.
    if (auto spec = root.obj("spec")) {
      spec->list("podCIDRs", 8, [&](const json& v, const std::string&) {
        if (v.is_string())
          if (auto c = net::parseCidrSloppy(v.get<std::string>())) n.podCIDRs.push_back(c->str());
      });
      spec->list("taints", 256, [&](const json& v, const std::string& path) { n.taintKeys.push_back(Obj(v, path).str("key")); });
      if (const json* one = spec->find("podCIDR"); n.podCIDRs.empty() && one && one->is_string())
        if (auto c = net::parseCidrSloppy(one->get<std::string>())) n.podCIDRs.push_back(c->str());
    }
    return n;
  });
}

Decoded<model::ServiceCIDR> decodeServiceCIDR(const json& obj) {
  return guarded<model::ServiceCIDR>(obj, "ServiceCIDR", [](const Obj& root, DecodeError& ctx) {
    model::ServiceCIDR sc;
    sc.meta = decodeMeta(root, false, isSubdomainName, ctx);
    bool family[2] = {false, false};
    if (auto spec = root.obj("spec"))
      spec->list("cidrs", 2, [&](const json& v, const std::string& path) {
        if (!v.is_string()) throw FieldError{path, "expected string, got " + typeName(v)};
        // Strict, as the API validates them: these reach a rule that drops traffic.
        auto c = net::parseCidr(v.get<std::string>());
        if (!c) throw FieldError{path, show(v.get<std::string>()) + " is not a valid CIDR"};
        bool& seen = family[c->network.family == model::IPFamily::kIPv6];
        if (seen) throw FieldError{path, "a second CIDR of the same IP family"};
        seen = true;
        sc.cidrs.push_back(c->str());
      });
    return sc;
  });
}

Decoded<std::vector<model::EndpointSlice>> decodeEndpoints(const json& obj) {
  DecodeError ctx;
  ctx.kind = "Endpoints";
  std::vector<model::EndpointSlice> out;
  try {
    Obj root(obj, "");
    model::ObjectMeta meta = decodeMeta(root, true, isServiceName, ctx);
    size_t index = 0;
    root.list("subsets", kMaxListItems, [&](const json& sv, const std::string& spath) {
      Obj subset(sv, spath);
      // One slice per family: a slice has one address type.
      json byFamily[2] = {json::array(), json::array()};
      auto add = [&](const char* key, bool ready) {
        subset.list(key, kMaxListItems, [&](const json& av, const std::string& apath) {
          Obj a(av, apath);
          std::string ip = a.str("ip");
          auto parsed = net::parseIP(ip);
          if (!parsed) throw FieldError{a.at("ip"), show(ip) + " is not a valid IP address"};
          json ep = {{"addresses", json::array({ip})}, {"conditions", {{"ready", ready}}}};
          if (const json* node = a.find("nodeName")) ep["nodeName"] = *node;
          byFamily[parsed->family == model::IPFamily::kIPv4 ? 0 : 1].push_back(std::move(ep));
        });
      };
      add("addresses", true);
      add("notReadyAddresses", false);
      json ports = json::array();
      if (const json* p = subset.find("ports")) ports = *p;
      for (int f = 0; f < 2; ++f) {
        if (byFamily[f].empty()) continue;
        json slice = {{"metadata",
                       {{"name", meta.name + "." + std::to_string(index++)},
                        {"namespace", meta.namespace_},
                        {"labels", {{model::kLabelServiceName, meta.name}}}}},
                      {"addressType", f == 0 ? "IPv4" : "IPv6"},
                      {"endpoints", std::move(byFamily[f])},
                      {"ports", ports}};
        auto decoded = decodeEndpointSlice(slice);
        if (auto* e = std::get_if<DecodeError>(&decoded))
          throw FieldError{spath + (e->field.empty() ? "" : " (as EndpointSlice " + e->field + ")"), e->message};
        auto& es = std::get<model::EndpointSlice>(decoded);
        es.meta.labels = meta.labels;
        es.meta.labels[model::kLabelServiceName] = meta.name;
        es.meta.annotations = meta.annotations;
        es.meta.resourceVersion = meta.resourceVersion;
        out.push_back(std::move(es));
      }
    });
  } catch (const FieldError& e) {
    ctx.field = e.field;
    ctx.message = e.message;
    return ctx;
  } catch (const json::exception& e) {
    ctx.message = e.what();
    return ctx;
  }
  return out;
}

namespace {

template <typename T>
void collect(Decoded<T>&& d, const std::string& source, std::vector<T>& good, std::vector<DecodeError>& errors) {
  if (auto* v = std::get_if<T>(&d)) {
    good.push_back(std::move(*v));
  } else {
    auto& e = std::get<DecodeError>(d);
    e.source = source;
    errors.push_back(std::move(e));
  }
}

void decodeObjectAt(const json& obj, const std::string& source, Objects& out, int depth) {
  if (!obj.is_object()) {
    out.errors.push_back({source, "", "", "", "", "expected an object, got " + typeName(obj)});
    return;
  }
  auto kindIt = obj.find("kind");
  if (kindIt != obj.end() && !kindIt->is_string() && !kindIt->is_null()) {
    out.errors.push_back({source, "", "", "", "kind", "expected string, got " + typeName(*kindIt)});
    return;
  }
  std::string kind = kindIt != obj.end() && kindIt->is_string() ? kindIt->get<std::string>() : "";
  if (kind.size() > 63) {
    out.errors.push_back({source, "", "", "", "kind", show(kind) + " is longer than 63 bytes"});
    return;
  }
  if (kind == "Service") return collect(decodeService(obj), source, out.services, out.errors);
  if (kind == "EndpointSlice") return collect(decodeEndpointSlice(obj), source, out.slices, out.errors);
  if (kind == "Node") return collect(decodeNode(obj), source, out.nodes, out.errors);
  if (kind == "ServiceCIDR") return collect(decodeServiceCIDR(obj), source, out.serviceCIDRs, out.errors);
  if (kind == "List" || (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0)) {
    if (depth > 0) {
      out.errors.push_back({source, kind, "", "", "", "a List inside a List is not allowed"});
      return;
    }
    auto items = obj.find("items");
    if (items == obj.end() || items->is_null()) return;
    if (!items->is_array()) {
      out.errors.push_back({source, kind, "", "", "items", "expected array, got " + typeName(*items)});
      return;
    }
    // Typed lists (ServiceList) as the API serves them: items carry no kind.
    std::string itemKind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
    for (const auto& item : *items) {
      if (!itemKind.empty() && item.is_object() && !item.contains("kind")) {
        json copy = item;
        copy["kind"] = itemKind;
        decodeObjectAt(copy, source, out, depth + 1);
      } else {
        decodeObjectAt(item, source, out, depth + 1);
      }
    }
    return;
  }
  if (kind.empty()) {
    out.errors.push_back({source, "", "", "", "kind", "missing"});
    return;
  }
  std::string name;
  if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
    if (md->contains("namespace") && (*md)["namespace"].is_string()) name = (*md)["namespace"].get<std::string>() + "/";
    if (md->contains("name") && (*md)["name"].is_string()) name += (*md)["name"].get<std::string>();
  }
  if (name.size() > 320) name = name.substr(0, 317) + "...";
  out.ignored.push_back(kind + " " + name);
}

}  // namespace

void decodeObject(const json& obj, const std::string& source, Objects& out) { decodeObjectAt(obj, source, out, 0); }

Objects decodeManifestText(std::string_view text, const std::string& source) {
  Objects out;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return out;
  if (text[first] == '{' || text[first] == '[') {
    // JSON: parsed directly, much faster than through YAML.
    ParsedJson parsed = parseJson(text);
    if (!parsed.ok()) {
      out.errors.push_back({source, "", "", "", "", "malformed JSON: " + parsed.syntaxError});
      return out;
    }
    const json& j = parsed.value;
    if (j.is_array())
      for (const auto& e : j) decodeObject(e, source, out);
    else
      decodeObject(j, source, out);
    return out;
  }
  // One budget for the whole file: what plain YAML of this size can hold, with room to spare.
  YamlLimits limits;
  limits.maxValues = kYamlValuesPerByte * text.size() + 1024;
  limits.maxBytes = kYamlBytesPerByte * text.size() + 4096;
  YamlDocuments docs = parseYaml(text, limits);
  if (!docs.ok() && !docs.limitHit) {
    // A syntax error: nothing of the file is taken (its last good objects stay, where there are).
    out.errors.push_back({source, "", "", "", "", docs.error});
    return out;
  }
  size_t count = docs.documents.size() + (docs.ok() ? 0 : 1);
  for (size_t i = 0; i < docs.documents.size(); ++i) {
    if (docs.documents[i].is_null()) continue;
    std::string where = count > 1 ? source + " (document " + std::to_string(i + 1) + ")" : source;
    decodeObject(docs.documents[i], where, out);
  }
  if (!docs.ok()) {
    std::string where = count > 1 ? source + " (document " + std::to_string(count) + ")" : source;
    out.errors.push_back({where, "", "", "", "", docs.error});
  }
  return out;
}

Objects loadManifests(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  Objects out;
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> dir;
      for (const auto& e : fs::directory_iterator(p, ec)) {
        auto ext = e.path().extension().string();
        if (e.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml" || ext == ".json")) dir.push_back(e.path());
      }
      std::sort(dir.begin(), dir.end());
      files.insert(files.end(), dir.begin(), dir.end());
    } else if (fs::exists(p, ec)) {
      files.emplace_back(p);
    } else {
      out.errors.push_back({p, "", "", "", "", "no such file or directory"});
    }
  }
  for (const auto& f : files) {
    std::error_code ec;
    auto size = fs::file_size(f, ec);
    if (ec) {
      out.errors.push_back({f.string(), "", "", "", "", "cannot read: " + ec.message()});
      continue;
    }
    if (size > kMaxManifestBytes) {
      out.errors.push_back({f.string(), "", "", "", "", std::to_string(size) + " bytes, larger than the limit of " +
                                                            std::to_string(kMaxManifestBytes)});
      continue;
    }
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      out.errors.push_back({f.string(), "", "", "", "", "cannot read"});
      continue;
    }
    out.append(decodeManifestText(ss.str(), f.string()));
  }
  return out;
}

}  // namespace kproxy::watch
