#include "nftables/nftables_backend.h"

#include <malloc.h>

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <string_view>

#include "dataplane/log.h"

namespace kproxy::nftables {

using dataplane::SyncReport;

namespace {

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool hasChain(const ServiceObjects& o, const std::string& name) {
  for (const auto& c : o.chains)
    if (c.name == name) return true;
  return false;
}

const Chain* findChain(const ServiceObjects& o, const std::string& name) {
  for (const auto& c : o.chains)
    if (c.name == name) return &c;
  return nullptr;
}

bool hasSet(const ServiceObjects& o, const std::string& name) {
  for (const auto& s : o.sets)
    if (s.name == name) return true;
  return false;
}

}  // namespace

NftablesBackend::NftablesBackend(dataplane::ProxyOptions options, NftClientPtr client,
                                 std::function<Clock::time_point()> now)
    : renderer_(std::move(options)), client_(std::move(client)), now_(std::move(now)) {}

namespace {

const std::string kBaseOwner;  // "": the base table's own elements, first of every key's owners

// Owners sort as NamespacedNames do (namespace, then name), as the renderer orders services.
bool ownerLess(const std::string& a, const std::string& b) {
  auto split = [](const std::string& s) {
    size_t slash = s.find('/');
    return slash == std::string::npos ? std::pair<std::string_view, std::string_view>{s, {}}
                                      : std::pair<std::string_view, std::string_view>{
                                            std::string_view(s).substr(0, slash), std::string_view(s).substr(slash + 1)};
  };
  return split(a) < split(b);
}

model::NamespacedName ownerService(const std::string& owner) {
  size_t slash = owner.find('/');
  return {owner.substr(0, slash), slash == std::string::npos ? std::string() : owner.substr(slash + 1)};
}

bool sameValue(const Element& a, const Element& b) {
  return a.value == b.value && a.target == b.target && a.comment == b.comment;
}

}  // namespace

const std::string* NftablesBackend::acquireName(const std::string& name) {
  if (name.empty()) return &kBaseOwner;
  auto it = names_.try_emplace(name, 0).first;
  ++it->second;
  return &it->first;
}

void NftablesBackend::releaseName(const std::string* name) {
  if (name == &kBaseOwner) return;
  auto it = names_.find(*name);
  if (it != names_.end() && --it->second == 0) names_.erase(it);
}

uint16_t NftablesBackend::setIndex(const std::string& name) const {
  auto it = setIndex_.find(name);
  // Every element the renderer makes belongs to a base set; a miss is a renderer bug.
  if (it == setIndex_.end()) throw std::logic_error("nftables: element of unknown set " + name);
  return it->second;
}

const Element* NftablesBackend::valueOf(const std::string& owner, const ElementId& id,
                                        const dataplane::DesiredState& state,
                                        std::map<model::NamespacedName, ServiceObjects>& rendered) const {
  auto matches = [&](const Element& e) { return e.key == id.key && e.set == base_.sets[id.set].name; };
  if (owner.empty()) {
    for (const auto& e : base_.elements)
      if (matches(e)) return &e;
    return nullptr;
  }
  auto svc = ownerService(owner);
  auto it = rendered.find(svc);
  if (it == rendered.end()) it = rendered.emplace(svc, render(state, svc)).first;
  for (const auto& e : it->second.elements)
    if (matches(e)) return &e;
  return nullptr;
}

ServiceObjects NftablesBackend::render(const dataplane::DesiredState& state, const model::NamespacedName& svc) const {
  auto ports = state.portsOf(svc);
  if (ports.empty()) return {};
  return renderer_.renderService(ports);
}

std::optional<uint32_t> NftablesBackend::readGeneration() {
  // Unknown (nullopt) makes the next partial commit unchecked; the periodic full sync still
  // reconciles whatever another program did meanwhile.
  auto g = client_->generation();
  if (!g) {
    log::warning("nftables: " + g.error());
    return std::nullopt;
  }
  return g.value();
}

bool NftablesBackend::deleteStaleChains(SyncReport& report) {
  auto cutoff = now_() - std::chrono::seconds(1);
  Transaction tx;
  tx.family = renderer_.options().family;
  if (committed_) tx.generation = generation_->value;
  std::vector<std::string> due;
  for (const auto& [name, since] : staleChains_)
    if (since <= cutoff) due.push_back(name);
  if (due.empty()) return true;
  for (const auto& name : due) tx.deleteChain(name);
  CommitResult r = client_->commit(tx);
  ++report.transactions;
  report.bytes += r.bytes;
  // Whatever happened, the next full sync finds any that are left (they are still stale).
  for (const auto& name : due) staleChains_.erase(name);
  if (r.generationChanged) return false;
  if (!r.ok) {
    log::warning("deleting " + std::to_string(due.size()) + " stale nftables chain(s): " + r.error);
    ++report.cleanupFailures;
    return true;
  }
  report.deleted += due.size();
  generation_->value = readGeneration();
  return true;
}

SyncReport NftablesBackend::commitWith(Transaction& tx, SyncReport report, std::chrono::steady_clock::time_point start,
                                       bool* generationChanged) {
  auto kernelStart = std::chrono::steady_clock::now();
  CommitResult r = client_->commit(tx);
  report.kernelSeconds += secondsSince(kernelStart);
  report.totalSeconds = secondsSince(start);
  report.bytes += r.bytes;
  if (!tx.empty()) ++report.transactions;
  report.ok = r.ok;
  if (!r.ok) report.error = r.error.empty() ? "commit failed" : r.error;
  *generationChanged = r.generationChanged;
  return report;
}

SyncReport NftablesBackend::syncFull(std::shared_ptr<const dataplane::DesiredState> state) {
  const IPFamily family = renderer_.options().family;
  for (int attempt = 0;; ++attempt) {
    auto start = std::chrono::steady_clock::now();
    SyncReport report;
    report.full = true;
    deleteStaleChains(report);
    auto listing = client_->list(family);
    if (!listing) {
      report.error = "listing table " + std::string(kTableName) + ": " + listing.error();
      report.totalSeconds = secondsSince(start);
      return report;
    }
    const TableListing& kernel = listing.value();
    std::set<std::string> existingChains(kernel.chains.begin(), kernel.chains.end());
    std::set<std::string> existingSets(kernel.sets.begin(), kernel.sets.end());
    std::set<std::string> wantedChains, wantedSets;

    // One transaction, streamed: each Service is rendered and its sets, chains and rules handed
    // to the client (which encodes them at once), then freed. Only its map elements are kept,
    // until every key's first owner is known and the elements go last. At 10,000 Services the
    // rendered objects of all of them at once were 83 MB.
    auto tx = client_->begin(family, kernel.generation);
    Transaction one;  // builds one op at a time
    auto send = [&] {
      for (const auto& op : one.ops) tx->add(op);
      one.ops.clear();
    };
    auto addChain = [&](const Chain& c) {
      one.addChain(c);
      if (existingChains.count(c.name)) one.flushChain(c.name);
      send();
      wantedChains.insert(c.name);
    };
    auto addRules = [&](const Chain& c) {
      for (const auto& r : c.rules) {
        one.addRule(c.name, r);
        send();
      }
    };

    Table base = renderer_.base();
    std::map<std::string, uint16_t> setIdx;
    for (size_t i = 0; i < base.sets.size(); ++i) setIdx[base.sets[i].name] = static_cast<uint16_t>(i);
    one.addTable(base.comment);
    send();
    for (const auto& s : base.sets) {
      one.addSet(s);
      if (existingSets.count(s.name)) one.flushSet(s);
      send();
      wantedSets.insert(s.name);
    }
    for (const auto& c : base.chains) addChain(c);

    // Claims of every key in owner order (base, then services by name): the first claim of a
    // key is the one the kernel gets.
    auto ownerMap = std::make_unique<OwnerMap>();
    auto& owners = ownerMap->map;
    std::map<std::string, size_t> names;
    std::map<std::string, std::vector<const Element*>> bySet;
    std::deque<std::vector<Element>> elements;  // the services' elements, until they are sent
    auto claim = [&](const Element& e, const std::string& owner) {
      auto set = setIdx.find(e.set);
      if (set == setIdx.end()) throw std::logic_error("nftables: element of unknown set " + e.set);
      auto [it, first] = owners.try_emplace(ElementId{set->second, e.key});
      if (first) bySet[e.set].push_back(&e);
      const std::string* name = &kBaseOwner;
      if (!owner.empty()) {
        auto n = names.try_emplace(owner, 0).first;
        name = &n->first;
        if (!it->second.empty() && it->second.back() == name) return;  // two ports, one key
        ++n->second;
      }
      it->second.push_back(name);
    };
    for (const auto& e : base.elements) claim(e, kBaseOwner);
    std::map<std::string, Chain> shared;
    std::map<std::string, std::set<std::string>> users;
    const auto& ports = state->ports;
    // The owner names are kept after the sync: made now, together, rather than one by one among
    // the Services' rendered objects (kept nodes scattered among freed ones pin their pages).
    for (const auto& p : ports) names.try_emplace(p.name.service.str(), 0);
    for (auto i = ports.begin(); i != ports.end();) {
      auto j = i;
      while (j != ports.end() && j->name.service == i->name.service) ++j;
      std::string owner = i->name.service.str();
      ServiceObjects objs = renderer_.renderService({i, j});
      i = j;
      // Affinity sets keep what they learned: created if missing, never flushed.
      for (const auto& s : objs.sets) {
        one.addSet(s);
        send();
        wantedSets.insert(s.name);
      }
      for (const auto& c : objs.sharedChains) {
        users[c].insert(owner);
        if (shared.count(c)) continue;
        const Chain& chain = shared.emplace(c, renderer_.dnatChain(c)).first->second;
        addChain(chain);
        addRules(chain);
      }
      for (const auto& c : objs.chains) addChain(c);
      for (const auto& c : objs.chains) addRules(c);
      for (const auto& e : elements.emplace_back(std::move(objs.elements))) claim(e, owner);
    }
    for (const auto& c : base.chains) addRules(c);
    // Elements: the first owner's value of every key, one add per set.
    for (const auto& s : base.sets)
      if (auto it = bySet.find(s.name); it != bySet.end()) {
        one.addElements(s, std::move(it->second));
        send();
      }
    // What nothing uses any more: chains flushed now and deleted a sync later, sets deleted now.
    std::vector<std::string> flushed;
    for (const auto& c : kernel.chains)
      if (!wantedChains.count(c)) {
        one.flushChain(c);
        send();
        flushed.push_back(c);
      }
    size_t setsDeleted = 0;
    for (const auto& s : kernel.sets)
      if (!wantedSets.count(s)) {
        one.deleteSet(s);
        send();
        ++setsDeleted;
      }
    elements.clear();  // sent: a streaming client holds their bytes, a copying one its copies
    for (auto it = names.begin(); it != names.end();) it = it->second == 0 ? names.erase(it) : std::next(it);
    report.renderSeconds = secondsSince(start);
    report.servicePortsWritten = ports.size();

    auto kernelStart = std::chrono::steady_clock::now();
    CommitResult r = tx->commit();
    report.kernelSeconds = secondsSince(kernelStart);
    report.totalSeconds = secondsSince(start);
    report.bytes += r.bytes;
    ++report.transactions;
    report.ok = r.ok;
    if (!r.ok) report.error = r.error.empty() ? "commit failed" : r.error;
    if (r.generationChanged && attempt < 2) {
      log::info("nftables: the ruleset changed while we read it; listing it again");
      continue;
    }
    if (!report.ok) return report;
    // Everything of this sync but what is kept is freed now; the users of the shared chains,
    // made one by one among the rendered objects, are copied into memory of their own so the
    // pages those were on can go back to the system (malloc_trim, as the daemon does after every
    // full sync).
    tx.reset();
    bySet.clear();
    ::malloc_trim(0);
    std::map<std::string, std::set<std::string>> compactUsers;
    for (const auto& [c, s] : users) compactUsers.emplace(c, std::set<std::string>(s.begin(), s.end()));
    users.clear();
    report.deleted += setsDeleted;
    committed_ = true;
    base_ = std::move(base);
    setIndex_ = std::move(setIdx);
    owners_ = std::move(ownerMap);
    names_ = std::move(names);  // nodes move with the map: owners_' pointers stay valid
    sharedChains_ = std::move(shared);
    chainUsers_ = std::move(compactUsers);
    for (const auto& c : flushed) staleChains_.emplace(c, now_());
    for (const auto& c : wantedChains) staleChains_.erase(c);
    generation_->value = readGeneration();
    applied_ = std::move(state);
    return report;
  }
}

SyncReport NftablesBackend::syncPartial(std::shared_ptr<const dataplane::DesiredState> state,
                                        const std::set<model::NamespacedName>& changed) {
  if (!committed_ || !applied_) return syncFull(std::move(state));
  auto start = std::chrono::steady_clock::now();
  SyncReport report;
  if (!deleteStaleChains(report)) {
    log::info("nftables: the ruleset was changed by another program; full resync");
    return syncFull(std::move(state));
  }

  // Old and new objects of the changed services (and of unchanged owners of touched keys,
  // rendered when needed), in stable storage for the transaction's pointers.
  std::map<model::NamespacedName, ServiceObjects> oldObjs, newObjs;
  std::vector<const Set*> addSets;
  std::vector<const Chain*> addChains, rewriteChains;
  std::vector<std::string> flushChains, deleteSets;
  std::map<ElementId, std::vector<std::string>> work;  // touched keys' owners after, sorted
  // Touched shared chains: the services that leave and join them. A dnat-N chain can have every
  // Service as a user, so its set of users is changed in place, never copied (at 50,000
  // Services that copy was 12 ms of every one-endpoint change).
  struct UserChange {
    std::set<std::string> leave, join;
  };
  std::map<std::string, UserChange> chainWork;
  auto usersAfter = [&](const std::string& c, const UserChange& w) {
    auto cur = chainUsers_.find(c);
    const std::set<std::string>* now = cur == chainUsers_.end() ? nullptr : &cur->second;
    size_t n = now ? now->size() : 0;
    for (const auto& s : w.leave) n -= now && now->count(s) ? 1 : 0;
    for (const auto& s : w.join) n += now && now->count(s) ? 0 : 1;
    return n;
  };
  auto touch = [&](const ElementId& id) -> std::vector<std::string>& {
    auto it = work.find(id);
    if (it != work.end()) return it->second;
    auto& v = work[id];
    if (auto cur = owners_->map.find(id); cur != owners_->map.end())
      for (const std::string* n : cur->second) v.push_back(*n);
    return v;
  };
  for (const auto& svc : changed) {
    ServiceObjects fresh = render(*state, svc);
    ServiceObjects previous = render(*applied_, svc);
    if (fresh == previous) continue;
    const ServiceObjects& old = oldObjs[svc] = std::move(previous);
    const ServiceObjects& now = newObjs[svc] = std::move(fresh);
    report.servicePortsWritten += state->portsOf(svc).size();
    for (const auto& s : now.sets)
      if (!hasSet(old, s.name)) addSets.push_back(&s);
    for (const auto& c : now.chains) {
      const Chain* before = findChain(old, c.name);
      if (!before) addChains.push_back(&c);
      if (!before || !(before->rules == c.rules)) rewriteChains.push_back(&c);
    }
    for (const auto& c : old.chains)
      if (!hasChain(now, c.name)) flushChains.push_back(c.name);
    for (const auto& s : old.sets)
      if (!hasSet(now, s.name)) deleteSets.push_back(s.name);
    std::string me = svc.str();
    for (const auto& e : old.elements) {
      auto& v = touch(idOf(e));
      v.erase(std::remove(v.begin(), v.end(), me), v.end());
    }
    for (const auto& e : now.elements) {
      auto& v = touch(idOf(e));
      auto pos = std::lower_bound(v.begin(), v.end(), me, ownerLess);
      if (pos == v.end() || *pos != me) v.insert(pos, me);
    }
    for (const auto& c : old.sharedChains) {
      auto& w = chainWork[c];
      w.join.erase(me);
      w.leave.insert(me);
    }
    for (const auto& c : now.sharedChains) {
      auto& w = chainWork[c];
      w.leave.erase(me);
      w.join.insert(me);
    }
  }
  // Shared chains gaining their first user are created; losing their last, flushed.
  std::map<std::string, Chain> newShared;
  std::vector<std::string> flushShared;
  for (const auto& [c, w] : chainWork) {
    auto cur = chainUsers_.find(c);
    bool had = cur != chainUsers_.end() && !cur->second.empty();
    bool has = usersAfter(c, w) > 0;
    if (!had && has) newShared.emplace(c, renderer_.dnatChain(c));
    if (had && !has) flushShared.push_back(c);
  }

  Transaction tx;
  tx.family = renderer_.options().family;
  tx.generation = generation_->value;
  for (const Set* s : addSets) tx.addSet(*s);
  for (const auto& [name, c] : newShared) {
    tx.addChain(c);
    if (staleChains_.count(name)) tx.flushChain(name);
    for (const auto& r : c.rules) tx.addRule(name, r);
  }
  for (const Chain* c : addChains) tx.addChain(*c);
  for (const Chain* c : rewriteChains) {
    // A chain that is new to the service may still exist, flushed, waiting to be deleted.
    if (!(std::find(addChains.begin(), addChains.end(), c) != addChains.end()) || staleChains_.count(c->name))
      tx.flushChain(c->name);
    for (const auto& r : c->rules) tx.addRule(c->name, r);
  }
  // The kernel holds each key's first owner's value: what changes is deleted, then added.
  std::deque<Element> keys;  // deletes name only the key
  std::map<uint16_t, std::vector<const Element*>> dels, adds;
  for (const auto& [id, after] : work) {
    auto cur = owners_->map.find(id);
    const std::string* wasOwner = cur == owners_->map.end() || cur->second.empty() ? nullptr : cur->second.front();
    const std::string* willOwner = after.empty() ? nullptr : &after.front();
    const Element* was = wasOwner ? valueOf(*wasOwner, id, *applied_, oldObjs) : nullptr;
    const Element* will = willOwner ? valueOf(*willOwner, id, *state, newObjs) : nullptr;
    if (was && will && sameValue(*was, *will)) continue;
    if (was) {
      keys.push_back(Element{was->set, was->key, {}, {}, {}});
      dels[id.set].push_back(&keys.back());
    }
    if (will) adds[id.set].push_back(will);
  }
  report.renderSeconds = secondsSince(start);
  for (auto& [set, es] : dels) tx.deleteElements(base_.sets[set], std::move(es));
  for (auto& [set, es] : adds) tx.addElements(base_.sets[set], std::move(es));
  for (const auto& c : flushChains) tx.flushChain(c);
  for (const auto& c : flushShared) tx.flushChain(c);
  for (const auto& s : deleteSets) tx.deleteSet(s);

  if (tx.empty()) {
    // Nothing in the kernel changes: this family's services did not, or only who else claims
    // a key did (a second claimant behind the first). The bookkeeping below still applies.
    report.ok = true;
    report.totalSeconds = secondsSince(start);
  } else {
    bool raced = false;
    report = commitWith(tx, report, start, &raced);
    if (raced) {
      log::info("nftables: the ruleset was changed by another program since our last sync; full resync");
      return syncFull(std::move(state));
    }
    if (!report.ok) return report;
  }
  for (const auto& [id, after] : work) {
    auto cur = owners_->map.find(id);
    if (cur != owners_->map.end())
      for (const std::string* n : cur->second) releaseName(n);
    if (after.empty()) {
      if (cur != owners_->map.end()) owners_->map.erase(cur);
      continue;
    }
    Owners v;
    v.reserve(after.size());
    for (const auto& n : after) v.push_back(acquireName(n));
    owners_->map[id] = std::move(v);
  }
  for (const auto& c : flushChains) staleChains_.emplace(c, now_());
  for (const Chain* c : addChains) staleChains_.erase(c->name);
  for (auto& [c, w] : chainWork) {
    if (usersAfter(c, w) == 0) {
      chainUsers_.erase(c);
      sharedChains_.erase(c);
    } else {
      auto& users = chainUsers_[c];
      for (const auto& s : w.leave) users.erase(s);
      users.insert(w.join.begin(), w.join.end());
    }
  }
  for (const auto& c : flushShared) staleChains_.emplace(c, now_());
  for (auto& [name, c] : newShared) {
    staleChains_.erase(name);
    sharedChains_.emplace(name, std::move(c));
  }
  report.deleted += deleteSets.size();
  // Only after a commit of ours: re-reading it otherwise would adopt another program's change.
  if (!tx.empty()) generation_->value = readGeneration();
  applied_ = std::move(state);
  return report;
}

bool NftablesBackend::canaryPresent() {
  auto l = client_->list(renderer_.options().family);
  return !l || l.value().exists;
}

}  // namespace kproxy::nftables
