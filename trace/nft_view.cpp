#include "trace/nft_view.h"

#include <algorithm>

#include "watch/bounded_json.h"

namespace kproxy::trace {

using nlohmann::json;

namespace {

std::string text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<long long>());
  if (j.is_object()) {
    if (j.contains("prefix")) return text(j.at("prefix").at("addr")) + "/" + text(j.at("prefix").at("len"));
    if (j.contains("range")) return text(j.at("range").at(0)) + "-" + text(j.at("range").at(1));
    if (j.contains("elem")) return text(j.at("elem").at("val"));
  }
  return j.dump();
}

std::vector<std::string> parts(const json& j) {
  std::vector<std::string> out;
  const json& v = j.is_object() && j.contains("elem") ? j.at("elem").at("val") : j;
  if (v.is_object() && v.contains("concat"))
    for (const auto& p : v.at("concat")) out.push_back(text(p));
  else
    out.push_back(text(v));
  return out;
}

std::string verdictText(const json& v) {
  if (!v.is_object() || v.empty()) return text(v);
  auto first = v.begin();
  const std::string kind = first.key();
  const json& arg = first.value();
  if (arg.is_object() && arg.contains("target")) return kind + " " + arg.at("target").get<std::string>();
  return kind;
}

void readNftItems(const json& items, NftView& view);

}  // namespace

bool parseNftJson(const std::string& s, NftView& view, std::string& error) {
  json root = watch::parseJson(s).value;
  if (!root.is_object() || !root.contains("nftables") || !root.at("nftables").is_array()) {
    error = "not `nft -j list` output";
    return false;
  }
  // A field of an unexpected type (another nft version, a damaged listing) is an error, not a crash.
  try {
    readNftItems(root.at("nftables"), view);
  } catch (const std::exception& e) {
    error = std::string("unexpected `nft -j list` output: ") + e.what();
    return false;
  }
  return true;
}

namespace {
void readNftItems(const json& items, NftView& view) {
  for (const auto& item : items) {
    if (!item.is_object()) continue;
    if (item.contains("table")) view.exists = true;
    for (const char* kind : {"set", "map"}) {
      if (!item.contains(kind)) continue;
      const json& set = item[kind];
      auto& elems = view.sets[set.value("name", "")];
      if (!set.contains("elem")) continue;
      for (const auto& e : set.at("elem")) {
        NftElement el;
        if (std::string(kind) == "map" && e.is_array() && e.size() == 2) {
          el.key = parts(e.at(0));
          if (e.at(1).is_object() && e.at(1).contains("concat")) el.data = parts(e.at(1));
          else if (e.at(1).is_object()) el.verdict = verdictText(e.at(1));
          else el.data = {text(e.at(1))};
        } else {
          el.key = parts(e);
        }
        elems.push_back(std::move(el));
      }
    }
    if (item.contains("chain")) view.chains[item.at("chain").value("name", "")];
    if (item.contains("rule")) view.chains[item.at("rule").value("chain", "")].push_back(item.at("rule").value("expr", json::array()));
  }
}
}  // namespace

namespace {

const NftElement* find(const NftView& v, const std::string& set, const std::vector<std::string>& key) {
  auto it = v.sets.find(set);
  if (it == v.sets.end()) return nullptr;
  for (const auto& e : it->second)
    if (e.key == key) return &e;
  return nullptr;
}

struct Walk {
  const NftView& v;
  const Target& t;
  const NftSource& src;
  bool dstLocal;
  std::vector<NftOutcome> out;

  std::string proto() const {
    std::string p = model::protocolName(t.proto);
    std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return p;
  }

  // A match expression: 1 true, 0 false; unknown ones count as true.
  int match(const json& m, NftOutcome& o) {
    std::string op = m.value("op", "==");
    const json& l = m.at("left");
    const json& r = m.at("right");
    bool neg = op == "!=";
    auto verdict = [&](bool b) { return (b != neg) ? 1 : 0; };
    if (l.contains("payload")) {
      std::string field = l.at("payload").value("field", "");
      std::string protocol = l.at("payload").value("protocol", "");
      if (field == "saddr" || field == "daddr") {
        const net::IPAddress& ip = field == "saddr" ? src.ip : t.ip;
        if (r.is_string() && r.get<std::string>().rfind("@", 0) == 0) {
          std::string set = r.get<std::string>().substr(1);
          if (set.rfind("affinity-", 0) == 0) {
            o.affinityNote = true;
            return 0;  // a first-time client has no affinity entry
          }
          return verdict(find(v, set, {ip.str()}) != nullptr);
        }
        if (r.is_object() && r.contains("prefix")) {
          auto c = net::parseCidr(text(r));
          return verdict(c && c->contains(ip));
        }
        auto want = net::parseIP(text(r));
        return verdict(want && *want == ip);
      }
      if (field == "dport") return verdict(text(r) == std::to_string(t.port));
    }
    if (l.contains("meta") && l.at("meta").value("key", "") == "l4proto") return verdict(text(r) == proto());
    if (l.contains("meta") && l.at("meta").value("key", "") == "iifname") {
      // "name", or "prefix*"; the node's own packets have no input interface.
      const std::string want = text(r);
      const bool prefix = !want.empty() && want.back() == '*';
      const std::string& in = src.inInterface;
      return verdict(!in.empty() && (prefix ? in.rfind(want.substr(0, want.size() - 1), 0) == 0 : in == want));
    }
    if (l.contains("fib")) {
      bool saddr = false;
      for (const auto& f : l.at("fib").value("flags", json::array())) saddr = saddr || f == "saddr";
      bool local = saddr ? src.local : dstLocal;
      return verdict(local == (text(r) == "local"));
    }
    return 1;
  }

  void rules(const std::string& chain, NftOutcome o, int depth) {
    auto it = v.chains.find(chain);
    if (it == v.chains.end() || depth > 16) {
      out.push_back(o);
      return;
    }
    o.steps.push_back("chain " + chain);
    for (const auto& exprs : it->second) {
      bool matched = true;
      for (const auto& e : exprs)
        if (e.contains("match") && !match(e.at("match"), o)) {
          matched = false;
          break;
        }
      if (!matched) continue;
      for (const auto& e : exprs) {
        if (e.contains("jump")) {
          std::string target = e.at("jump").value("target", "");
          if (target == "mark-for-masquerade") o.masquerade = true;
        } else if (e.contains("goto")) {
          return rules(e.at("goto").value("target", ""), o, depth + 1);
        } else if (e.contains("vmap") && e.at("vmap").at("key").contains("numgen")) {
          const json& data = e.at("vmap").at("data");
          const json& list = data.contains("set") ? data.at("set") : json::array();
          for (const auto& pair : list) {
            NftOutcome branch = o;
            branch.probability /= static_cast<double>(list.size());
            rules(verdictText(pair.at(1)).substr(5), branch, depth + 1);  // "goto X"
          }
          return;
        } else if (e.contains("dnat")) {
          if (dnat(e.at("dnat"), o)) return;
          break;  // a keyed map without an entry for this packet: the rule does not apply
        } else if (e.contains("reject")) {
          o.fate = NftOutcome::Fate::kReject;
          o.steps.push_back("reject");
          out.push_back(o);
          return;
        } else if (e.contains("drop")) {
          o.fate = NftOutcome::Fate::kDrop;
          o.steps.push_back("drop");
          out.push_back(o);
          return;
        } else if (e.contains("return")) {
          out.push_back(o);
          return;
        }
      }
    }
    out.push_back(o);
  }

  // True when the statement DNATed (outcomes recorded).
  bool dnat(const json& d, const NftOutcome& o) {
    const json& addr = d.at("addr");
    if (!addr.is_object() || !addr.contains("map")) {
      NftOutcome done = o;
      done.fate = NftOutcome::Fate::kDnat;
      std::string ip = text(addr);
      done.dnatTo = (t.ip.family == model::IPFamily::kIPv6 ? "[" + ip + "]" : ip) + ":" + text(d.at("port"));
      done.steps.push_back("dnat to " + done.dnatTo);
      out.push_back(done);
      return true;
    }
    std::string map = addr.at("map").value("data", "");
    if (map.rfind("@", 0) == 0) map = map.substr(1);
    std::vector<std::string> key;
    int mod = 0;
    for (const auto& k : addr.at("map").at("key").at("concat")) {
      if (k.contains("payload") && k.at("payload").value("field", "") == "daddr") key.push_back(t.ip.str());
      else if (k.contains("payload") && k.at("payload").value("field", "") == "dport") key.push_back(std::to_string(t.port));
      else if (k.contains("meta")) key.push_back(proto());
      else if (k.contains("numgen")) mod = k.at("numgen").value("mod", 0);
    }
    std::vector<const NftElement*> picks;
    for (int i = 0; i < mod; ++i) {
      auto k = key;
      k.push_back(std::to_string(i));
      if (const NftElement* e = find(v, map, k)) picks.push_back(e);
    }
    if (picks.empty()) return false;
    for (const NftElement* e : picks) {
      NftOutcome done = o;
      done.probability /= static_cast<double>(mod);
      done.fate = NftOutcome::Fate::kDnat;
      std::string ip = e->data.empty() ? "?" : e->data.at(0);
      done.dnatTo = (t.ip.family == model::IPFamily::kIPv6 ? "[" + ip + "]" : ip) + ":" + (e->data.size() > 1 ? e->data.at(1) : "?");
      std::string k;
      for (const auto& p : e->key) k += (k.empty() ? "" : " . ") + p;
      done.steps.push_back(map + ": " + k + " : " + done.dnatTo);
      out.push_back(done);
    }
    // A pick without an entry finds no mapping and the packet is dropped by the kernel.
    if (static_cast<int>(picks.size()) < mod) {
      NftOutcome miss = o;
      miss.probability *= static_cast<double>(mod - static_cast<int>(picks.size())) / mod;
      miss.fate = NftOutcome::Fate::kDrop;
      miss.steps.push_back(map + ": no entry for some of indices 0.." + std::to_string(mod - 1));
      out.push_back(miss);
    }
    return true;
  }

  void verdictLookup(const std::string& set, const std::vector<std::string>& key, NftOutcome& o, bool& hit) {
    const NftElement* e = find(v, set, key);
    if (!e) return;
    hit = true;
    std::string k;
    for (const auto& p : key) k += (k.empty() ? "" : " . ") + p;
    o.steps.push_back(set + ": " + k + " : " + e->verdict);
    if (e->verdict.rfind("goto ", 0) == 0 || e->verdict.rfind("jump ", 0) == 0) {
      rules(e->verdict.substr(5), o, 0);
    } else {
      if (e->verdict == "drop") o.fate = NftOutcome::Fate::kDrop;
      out.push_back(o);
    }
  }
};

}  // namespace

namespace {
std::vector<NftOutcome> evaluateNftUnchecked(const NftView& view, const Target& target, const NftSource& source,
                                             bool destinationLocal) {
  Walk w{view, target, source, destinationLocal, {}};
  std::vector<std::string> key{target.ip.str(), w.proto(), std::to_string(target.port)};
  std::vector<std::string> npKey{w.proto(), std::to_string(target.port)};
  NftOutcome start;
  bool hit = false;
  // loadBalancerSourceRanges first (filter prerouting/output, before DNAT).
  w.verdictLookup("firewall-ips", key, start, hit);
  if (hit) {
    auto fw = std::move(w.out);
    w.out.clear();
    bool dropped = std::any_of(fw.begin(), fw.end(), [](const NftOutcome& o) { return o.fate == NftOutcome::Fate::kDrop; });
    if (dropped) return fw;
    start.steps = fw.empty() ? start.steps : fw.front().steps;
    hit = false;
  }
  w.verdictLookup("service-ips", key, start, hit);
  bool loopback = target.ip.isLoopback();
  // NodePorts answer on the nodeport-ips set's addresses where the table has one (nodePortAddresses),
  // else on every local address.
  const bool nodePortAddress = destinationLocal && !loopback &&
                               (!view.sets.count("nodeport-ips") || find(view, "nodeport-ips", {target.ip.str()}));
  if (!hit && nodePortAddress) w.verdictLookup("service-nodeports", npKey, start, hit);
  bool dnatted = std::any_of(w.out.begin(), w.out.end(), [](const NftOutcome& o) { return o.fate == NftOutcome::Fate::kDnat; });
  if (!dnatted) {
    // Not DNATed: the filter checks for services without endpoints see the original address.
    std::vector<NftOutcome> filtered;
    bool any = false;
    NftOutcome f = start;
    Walk fw{view, target, source, destinationLocal, {}};
    fw.verdictLookup("no-endpoint-services", key, f, any);
    if (!any && nodePortAddress) fw.verdictLookup("no-endpoint-nodeports", npKey, f, any);
    if (!any && find(view, "cluster-ips", {target.ip.str()})) {
      f.fate = NftOutcome::Fate::kReject;
      f.steps.push_back("cluster-ips-check: a ClusterIP without this port: reject");
      fw.out.push_back(f);
    }
    if (!fw.out.empty()) return fw.out;
    // An address in a ServiceCIDR that no Service holds: the check chain's range rules drop it.
    Walk cw{view, target, source, destinationLocal, {}};
    cw.rules("cluster-ips-check", start, 0);
    for (auto& o : cw.out)
      if (o.fate == NftOutcome::Fate::kDrop) {
        o.steps.back() = "drop: in a ServiceCIDR, not a ClusterIP (unallocated)";
        return {o};
      }
  }
  if (w.out.empty()) w.out.push_back(start);
  // Hairpin: a pod reaching itself through the Service is masqueraded in postrouting.
  for (auto& o : w.out)
    if (o.fate == NftOutcome::Fate::kDnat) {
      std::string ip = o.dnatTo.substr(0, o.dnatTo.rfind(':'));
      if (!ip.empty() && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
      if (ip == source.ip.str() && find(view, "endpoint-hairpin", {ip, ip})) o.masquerade = true;
    }
  return w.out;
}

}  // namespace

std::vector<NftOutcome> evaluateNft(const NftView& view, const Target& target, const NftSource& source,
                                    bool destinationLocal) {
  // The rules are nft's JSON: a field of another type or shape than nft writes is reported, not fatal.
  try {
    return evaluateNftUnchecked(view, target, source, destinationLocal);
  } catch (const std::exception& e) {  // json's type and range errors, substr's out_of_range
    NftOutcome o;
    o.steps.push_back(std::string("cannot follow the listing: ") + e.what());
    return {o};
  }
}

}  // namespace kproxy::trace
