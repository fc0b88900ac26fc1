#include "watch/reflector.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "dataplane/log.h"
#include "watch/protobuf.h"

namespace kproxy::watch {

using nlohmann::json;

bool SteadyReflectorClock::wait(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return interrupted_; });
  return !interrupted_;
}

double SteadyReflectorClock::random() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void SteadyReflectorClock::interrupt() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

std::string urlEscape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::optional<model::NamespacedName> objectKey(const json& obj, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<model::NamespacedName> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (!obj.is_object()) return fail("object is not a JSON object");
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return fail("object has no metadata");
  auto name = md->find("name");
  if (name == md->end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    return fail("object has no metadata.name");
  model::NamespacedName key;
  key.name = name->get<std::string>();
  if (auto ns = md->find("namespace"); ns != md->end() && ns->is_string()) key.namespace_ = ns->get<std::string>();
  if (key.name.size() > 253 || key.namespace_.size() > 63) return fail("object name too long");
  return key;
}

namespace {

std::string objectVersion(const json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return "";
  auto rv = md->find("resourceVersion");
  return rv != md->end() && rv->is_string() ? rv->get<std::string>() : "";
}

// The message of a Status body (JSON or protobuf), or the first bytes of whatever came.
std::string statusMessage(const std::string& body) {
  json j = decodeBody(body).value;
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  std::string s = body.substr(0, 200);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s.empty() ? "(empty body)" : s;
}

std::string describeReply(const HttpReply& r) {
  if (r.transportFailed()) return r.error;
  return "HTTP " + std::to_string(r.status) + ": " + statusMessage(r.body);
}

}  // namespace

Reflector::Reflector(ResourceRequest resource, HttpClient& http, ReflectorClock& clock, ReflectorOptions options,
                     Sink sink)
    : resource_(std::move(resource)), http_(http), clock_(clock), options_(options), sink_(std::move(sink)) {}

std::string Reflector::query(const std::vector<std::pair<std::string, std::string>>& params) const {
  std::string q = resource_.path;
  char sep = '?';
  auto add = [&](const std::string& k, const std::string& v) {
    if (v.empty()) return;
    q += sep;
    q += k + "=" + urlEscape(v);
    sep = '&';
  };
  for (const auto& [k, v] : params) add(k, v);
  add("labelSelector", resource_.labelSelector);
  add("fieldSelector", resource_.fieldSelector);
  return q;
}

void Reflector::backoff(const std::string& why) {
  ++failures_;
  double base = static_cast<double>(options_.backoffInitial.count()) * std::pow(2.0, std::min(failures_ - 1, 30));
  base = std::min(base, static_cast<double>(options_.backoffMax.count()));
  auto delay = std::chrono::milliseconds(static_cast<long long>(base * (0.5 + 0.5 * clock_.random())));
  log::warning(resource_.name + ": " + why + "; retrying in " + std::to_string(delay.count()) + "ms (attempt " +
               std::to_string(failures_) + ")");
  clock_.wait(delay);
}

void Reflector::run() {
  bool needList = true;
  int expiredInARow = 0;
  while (!stop_) {
    if (needList) {
      if (streaming()) {
        Outcome o = watchList();
        if (o == Outcome::kUnsupported) {
          watchListRefused_ = true;
          continue;
        }
        if (o != Outcome::kOk) continue;  // watchList() backed off already
        needList = false;
        expiredInARow = 0;
        continue;  // its stream went on as a watch; the next one resumes from where it ended
      }
      if (list() != Outcome::kOk) continue;  // list() backed off already
      needList = false;
    }
    Outcome w = watch();
    if (stop_) break;
    if (w == Outcome::kExpired) {
      needList = true;
      ++relists_;
      // One relist at once, as client-go; a server that keeps expiring us gets backoff.
      if (++expiredInARow > 1) backoff("watch expired again right after a relist");
      else log::info(resource_.name + ": resource version " + resourceVersion_ + " expired (410); relisting");
    } else if (w == Outcome::kEnded) {
      expiredInARow = 0;
    }
  }
}

Reflector::Outcome Reflector::list() {
  // Items are delivered page by page (memory stays bounded by a page) and recorded in store_ as
  // they are, so that those of an abandoned attempt are still known and can be deleted later.
  std::set<model::NamespacedName> fresh;
  std::string cont;
  bool restarted = false;
  size_t pageSize = options_.pageSize;
  while (!stop_) {
    std::vector<std::pair<std::string, std::string>> params = {{"limit", std::to_string(pageSize)},
                                                               {"continue", cont}};
    HttpReply r = http_.get(query(params), options_.listIdleTimeout);
    if (stop_) return Outcome::kFailed;
    if (r.tooLarge && pageSize > 1) {
      // Big objects (or a hostile server): the same page again, smaller. Memory stays bounded
      // by kMaxBodyBytes whatever the list holds.
      pageSize = std::max<size_t>(1, pageSize / 10);
      log::warning(resource_.name + ": a list page passed " + std::to_string(kMaxBodyBytes) +
                   " bytes; asking for pages of " + std::to_string(pageSize));
      continue;
    }
    if (r.status == 410 && !cont.empty() && !restarted) {
      // The continue token expired between pages: start over with a fresh list.
      log::info(resource_.name + ": list continuation expired; listing again from the start");
      fresh.clear();
      cont.clear();
      restarted = true;
      continue;
    }
    if (r.tooLarge) {
      backoff("list failed: one object is larger than " + std::to_string(kMaxBodyBytes) + " bytes");
      return Outcome::kFailed;
    }
    if (r.transportFailed() || r.status != 200) {
      backoff("list failed: " + describeReply(r));
      return Outcome::kFailed;
    }
    ParsedJson parsed = decodeBody(r.body);
    json page = std::move(parsed.value);
    size_t pageBytes = r.body.size();
    r.body.clear();
    r.body.shrink_to_fit();  // the text is not needed once parsed: hold one of the two
    if (!page.is_object() || (page.contains("items") && !page["items"].is_array() && !page["items"].is_null())) {
      backoff("list returned a malformed body (" + std::to_string(pageBytes) + " bytes" +
              (parsed.syntaxError.empty() ? std::string() : ": " + parsed.syntaxError.substr(0, 200)) + ")");
      return Outcome::kFailed;
    }
    std::vector<ReflectorEvent> events;
    if (auto items = page.find("items"); items != page.end() && items->is_array()) {
      events.reserve(items->size());
      for (auto& item : *items) listItem(item, "list item", fresh, events);
    }
    std::string next, version;
    if (auto md = page.find("metadata"); md != page.end() && md->is_object()) {
      if (auto c = md->find("continue"); c != md->end() && c->is_string()) next = c->get<std::string>();
      if (auto v = md->find("resourceVersion"); v != md->end() && v->is_string()) version = v->get<std::string>();
    }
    bool last = next.empty();
    if (last) {
      finishList(events, fresh);
      resourceVersion_ = version;
    }
    sink_(std::move(events), last);
    if (last) return Outcome::kOk;
    cont = next;
  }
  return Outcome::kFailed;
}

void Reflector::listItem(json& item, const char* what, std::set<model::NamespacedName>& fresh,
                         std::vector<ReflectorEvent>& events) {
  std::string why;
  auto key = objectKey(item, &why);
  if (!key) {
    log::error(resource_.name + ": " + what + " skipped: " + why);
    return;
  }
  std::string rv = objectVersion(item);
  auto [known, added] = store_.try_emplace(*key, rv);
  bool unchanged = !added && !rv.empty() && known->second == rv;
  known->second = rv;
  fresh.insert(*key);
  if (!unchanged) events.push_back({ReflectorEvent::Type::kUpsert, std::move(*key), std::move(item)});
}

void Reflector::finishList(std::vector<ReflectorEvent>& events, const std::set<model::NamespacedName>& fresh) {
  // What we knew and the list no longer has was deleted while we were not watching.
  for (auto it = store_.begin(); it != store_.end();) {
    if (fresh.count(it->first)) {
      ++it;
      continue;
    }
    events.push_back({ReflectorEvent::Type::kDelete, it->first, nullptr});
    it = store_.erase(it);
  }
  failures_ = 0;
}

Reflector::Outcome Reflector::watchList() {
  // Short, so that a server that ignores sendInitialEvents (it watches from now on, with no end
  // bookmark) is found out within listIdleTimeout; after the initial events the stream is an
  // ordinary watch until then, and the next watch resumes from its last version.
  const auto timeout = options_.listIdleTimeout;
  std::string target = query({{"watch", "true"},
                              {"sendInitialEvents", "true"},
                              {"resourceVersionMatch", "NotOlderThan"},
                              {"allowWatchBookmarks", "true"},
                              {"timeoutSeconds", std::to_string(timeout.count())}});
  std::set<model::NamespacedName> fresh;
  std::vector<ReflectorEvent> pending;
  bool synced = false, delivered = false;
  Outcome ended = Outcome::kOk;
  HttpReply r = http_.stream(target, timeout + std::chrono::seconds(30), [&](std::string_view line) {
    if (ended != Outcome::kOk || stop_) return;
    if (synced) {
      ended = onLine(line, delivered);
      return;
    }
    json ev = decodeWatchRecord(line).value;
    if (!ev.is_object() || !ev.contains("type") || !ev["type"].is_string() || !ev.contains("object") || !ev["object"].is_object()) {
      log::error(resource_.name + ": initial event skipped: " + std::string(line.substr(0, 120)));
      return;
    }
    const std::string type = ev["type"].get<std::string>();
    json& obj = ev["object"];
    if (type == "BOOKMARK") {
      auto md = obj.find("metadata");
      bool end = false;
      if (md != obj.end() && md->is_object())
        if (auto an = md->find("annotations"); an != md->end() && an->is_object())
          if (auto e = an->find("k8s.io/initial-events-end"); e != an->end() && *e == "true") end = true;
      if (!end) return;
      if (std::string rv = objectVersion(obj); !rv.empty()) resourceVersion_ = rv;
      finishList(pending, fresh);
      sink_(std::move(pending), true);
      pending.clear();
      synced = true;
      return;
    }
    if (type == "ERROR") {
      int code = obj.contains("code") && obj["code"].is_number_integer() ? obj["code"].get<int>() : 0;
      log::warning(resource_.name + ": streaming list ERROR event (code " + std::to_string(code) + ")");
      ended = Outcome::kFailed;
      return;
    }
    if (type != "ADDED" && type != "MODIFIED") return;  // only ADDED is sent before the bookmark
    listItem(obj, "initial event", fresh, pending);
    // Delivered in pages, as a paginated list would be: memory stays bounded by a page.
    if (pending.size() >= options_.pageSize) {
      sink_(std::move(pending), false);
      pending.clear();
    }
  });
  if (stop_) return Outcome::kFailed;
  if (!synced) {
    // Objects already delivered stay known; the paginated list that follows settles the rest.
    if (!pending.empty()) sink_(std::move(pending), false);
    if (r.status >= 400 && r.status < 500 && r.status != 410 && r.status != 429 && r.status != 401 && r.status != 403) {
      log::info(resource_.name + ": the API server refuses streaming lists (" + describeReply(r) + "); using paginated lists");
      return Outcome::kUnsupported;
    }
    if (r.status == 200 && ended == Outcome::kOk) {
      log::info(resource_.name + ": the API server sent no initial-events-end bookmark; using paginated lists");
      return Outcome::kUnsupported;
    }
    backoff("streaming list failed: " + (ended == Outcome::kFailed ? std::string("an ERROR event") : describeReply(r)));
    return Outcome::kFailed;
  }
  // Synced: the state is complete. Whatever ended the stream, the next watch resumes from the
  // last version seen (a 410 there relists).
  if (ended == Outcome::kExpired || r.status == 410) return Outcome::kOk;
  if (ended == Outcome::kFailed || r.transportFailed() || (r.status != 200 && r.status != 0))
    backoff("watch after the streaming list failed: " + describeReply(r));
  return Outcome::kOk;
}

Reflector::Outcome Reflector::onLine(std::string_view line, bool& delivered) {
  ParsedJson parsed = decodeWatchRecord(line);
  json& ev = parsed.value;
  auto skip = [&](const std::string& why) {
    std::string head(line.substr(0, 120));
    log::error(resource_.name + ": watch event skipped: " + why + ": " + head);
    return Outcome::kOk;
  };
  if (!ev.is_object()) return skip(parsed.syntaxError.empty() ? "not a JSON object" : parsed.syntaxError.substr(0, 200));
  auto typeIt = ev.find("type");
  auto objIt = ev.find("object");
  if (typeIt == ev.end() || !typeIt->is_string()) return skip("no type");
  const std::string type = typeIt->get<std::string>();
  if (objIt == ev.end() || !objIt->is_object()) return skip(type + " event without an object");
  json& obj = *objIt;
  if (type == "BOOKMARK") {
    std::string rv = objectVersion(obj);
    if (!rv.empty()) resourceVersion_ = rv;
    return Outcome::kOk;
  }
  if (type == "ERROR") {
    int code = obj.contains("code") && obj["code"].is_number_integer() ? obj["code"].get<int>() : 0;
    std::string message = obj.contains("message") && obj["message"].is_string() ? obj["message"].get<std::string>() : "";
    if (code == 410) return Outcome::kExpired;
    log::warning(resource_.name + ": watch ERROR event (code " + std::to_string(code) + "): " + message);
    return Outcome::kFailed;
  }
  bool upsert = type == "ADDED" || type == "MODIFIED";
  if (!upsert && type != "DELETED") return skip("unknown event type \"" + type.substr(0, 32) + "\"");
  std::string why;
  auto key = objectKey(obj, &why);
  if (!key) return skip(type + ": " + why);
  std::string rv = objectVersion(obj);
  if (!rv.empty()) resourceVersion_ = rv;
  if (upsert) store_[*key] = rv;
  else store_.erase(*key);
  std::vector<ReflectorEvent> one;
  one.push_back({upsert ? ReflectorEvent::Type::kUpsert : ReflectorEvent::Type::kDelete, std::move(*key), std::move(obj)});
  sink_(std::move(one), false);
  delivered = true;
  return Outcome::kOk;
}

Reflector::Outcome Reflector::watch() {
  auto minTimeout = options_.minWatchTimeout;
  auto timeout = std::chrono::seconds(
      static_cast<long long>(static_cast<double>(minTimeout.count()) * (1.0 + clock_.random())));
  auto idle = timeout + std::min(std::chrono::seconds(30), minTimeout);
  std::string target = query({{"watch", "true"},
                              {"resourceVersion", resourceVersion_},
                              {"allowWatchBookmarks", "true"},
                              {"timeoutSeconds", std::to_string(timeout.count())}});
  auto started = clock_.now();
  bool delivered = false;
  Outcome ended = Outcome::kOk;
  HttpReply r = http_.stream(target, idle, [&](std::string_view line) {
    if (ended != Outcome::kOk || stop_) return;  // the rest of a stream we are leaving
    ended = onLine(line, delivered);
  });
  if (stop_) return Outcome::kEnded;
  if (ended == Outcome::kExpired || r.status == 410) return Outcome::kExpired;
  if (r.tooLarge) {
    // An event was lost: resume from the last version we saw, after backoff (the same line
    // again means the same wait, not a busy loop).
    backoff("watch failed: " + r.error);
    return Outcome::kFailed;
  }
  if (r.status == 200) failures_ = 0;  // the server answered: start backoff afresh
  if (ended == Outcome::kFailed) {
    backoff("watch ended by an ERROR event");
    return Outcome::kFailed;
  }
  if (r.transportFailed() || r.status != 200) {
    backoff("watch failed: " + describeReply(r));
    return Outcome::kFailed;
  }
  // A server that closes every watch at once would have us spin: count that as a failure.
  if (!delivered && clock_.now() - started < std::chrono::seconds(1)) {
    backoff("watch closed by the server at once");
    return Outcome::kFailed;
  }
  return Outcome::kEnded;
}

}  // namespace kproxy::watch
