#include "nftables/nftables_backend.h"

#include <algorithm>
#include <deque>

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

const Set* NftablesBackend::sharedSet(const std::string& name) const {
  for (const auto& s : base_.sets)
    if (s.name == name) return &s;
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

    // What the table must hold.
    Table base = renderer_.base();
    std::map<model::NamespacedName, ServiceObjects> services;
    const auto& ports = state->ports;
    for (auto i = ports.begin(); i != ports.end();) {
      auto j = i;
      while (j != ports.end() && j->name.service == i->name.service) ++j;
      services[i->name.service] = renderer_.renderService({i, j});
      i = j;
    }
    std::map<ElementId, Owners> owners;
    for (const auto& e : base.elements) owners[{e.set, e.key}][""] = {e.value, e.target, e.comment};
    std::map<std::string, Chain> shared;
    std::map<std::string, std::set<std::string>> users;
    for (const auto& [svc, objs] : services) {
      for (const auto& e : objs.elements) owners[{e.set, e.key}][svc.str()] = {e.value, e.target, e.comment};
      for (const auto& c : objs.sharedChains) {
        users[c].insert(svc.str());
        if (!shared.count(c)) shared.emplace(c, renderer_.dnatChain(c));
      }
    }
    report.renderSeconds = secondsSince(start);

    Transaction tx;
    tx.family = family;
    tx.generation = kernel.generation;
    std::set<std::string> existingChains(kernel.chains.begin(), kernel.chains.end());
    std::set<std::string> existingSets(kernel.sets.begin(), kernel.sets.end());
    std::set<std::string> wantedChains, wantedSets;
    tx.addTable(base.comment);
    for (const auto& s : base.sets) {
      tx.addSet(s);
      if (existingSets.count(s.name)) tx.flushSet(s);
      wantedSets.insert(s.name);
    }
    // Affinity sets keep what they learned: created if missing, never flushed.
    for (const auto& [svc, objs] : services)
      for (const auto& s : objs.sets) {
        tx.addSet(s);
        wantedSets.insert(s.name);
      }
    std::vector<const Chain*> chains;
    for (const auto& c : base.chains) chains.push_back(&c);
    for (const auto& [name, c] : shared) chains.push_back(&c);
    for (const auto& [svc, objs] : services)
      for (const auto& c : objs.chains) chains.push_back(&c);
    for (const Chain* c : chains) {
      tx.addChain(*c);
      if (existingChains.count(c->name)) tx.flushChain(c->name);
      wantedChains.insert(c->name);
    }
    for (const Chain* c : chains)
      for (const auto& r : c->rules) tx.addRule(c->name, r);
    // Elements: the first owner's value of every key, one add per set.
    std::deque<Element> elements;
    std::map<std::string, std::vector<const Element*>> bySet;
    for (const auto& [id, who] : owners) {
      const Owned& v = who.begin()->second;
      elements.push_back(Element{id.first, id.second, v.value, v.target, v.comment});
      bySet[id.first].push_back(&elements.back());
    }
    for (const auto& s : base.sets)
      if (auto it = bySet.find(s.name); it != bySet.end()) tx.addElements(s, std::move(it->second));
    // What nothing uses any more: chains flushed now and deleted a sync later, sets deleted now.
    std::vector<std::string> flushed;
    for (const auto& c : kernel.chains)
      if (!wantedChains.count(c)) {
        tx.flushChain(c);
        flushed.push_back(c);
      }
    size_t setsDeleted = 0;
    for (const auto& s : kernel.sets)
      if (!wantedSets.count(s)) {
        tx.deleteSet(s);
        ++setsDeleted;
      }

    report.servicePortsWritten = ports.size();
    bool raced = false;
    report = commitWith(tx, report, start, &raced);
    if (raced && attempt < 2) {
      log::info("nftables: the ruleset changed while we read it; listing it again");
      continue;
    }
    if (!report.ok) return report;
    report.deleted += setsDeleted;
    committed_ = true;
    base_ = std::move(base);
    services_ = std::move(services);
    owners_ = std::move(owners);
    sharedChains_ = std::move(shared);
    chainUsers_ = std::move(users);
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

  // New objects of the changed services, in stable storage for the transaction's pointers.
  std::map<model::NamespacedName, ServiceObjects> pending;
  static const ServiceObjects kNone;
  std::vector<const Set*> addSets;
  std::vector<const Chain*> addChains, rewriteChains;
  std::vector<std::string> flushChains, deleteSets;
  std::map<ElementId, Owners> work;  // touched keys, after the change
  std::map<std::string, std::set<std::string>> chainWork;  // touched shared chains' users, after
  auto touch = [&](const ElementId& id) -> Owners& {
    auto it = work.find(id);
    if (it != work.end()) return it->second;
    auto cur = owners_.find(id);
    return work[id] = cur == owners_.end() ? Owners{} : cur->second;
  };
  for (const auto& svc : changed) {
    ServiceObjects fresh = render(*state, svc);
    auto oldIt = services_.find(svc);
    const ServiceObjects& old = oldIt == services_.end() ? kNone : oldIt->second;
    if (fresh == old) continue;
    const ServiceObjects& now = pending[svc] = std::move(fresh);
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
    for (const auto& e : old.elements) touch({e.set, e.key}).erase(svc.str());
    for (const auto& e : now.elements) touch({e.set, e.key})[svc.str()] = {e.value, e.target, e.comment};
    auto users = [&](const std::string& c) -> std::set<std::string>& {
      auto it = chainWork.find(c);
      if (it != chainWork.end()) return it->second;
      auto cur = chainUsers_.find(c);
      return chainWork[c] = cur == chainUsers_.end() ? std::set<std::string>{} : cur->second;
    };
    for (const auto& c : old.sharedChains) users(c).erase(svc.str());
    for (const auto& c : now.sharedChains) users(c).insert(svc.str());
  }
  // Shared chains gaining their first user are created; losing their last, flushed.
  std::map<std::string, Chain> newShared;
  std::vector<std::string> flushShared;
  for (const auto& [c, after] : chainWork) {
    bool had = chainUsers_.count(c) && !chainUsers_[c].empty();
    if (!had && !after.empty()) newShared.emplace(c, renderer_.dnatChain(c));
    if (had && after.empty()) flushShared.push_back(c);
  }
  report.renderSeconds = secondsSince(start);

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
  std::deque<Element> elements;
  std::map<std::string, std::vector<const Element*>> dels, adds;
  for (const auto& [id, after] : work) {
    auto cur = owners_.find(id);
    const Owned* was = cur == owners_.end() || cur->second.empty() ? nullptr : &cur->second.begin()->second;
    const Owned* will = after.empty() ? nullptr : &after.begin()->second;
    if (was && will && *was == *will) continue;
    if (was) {
      elements.push_back(Element{id.first, id.second, {}, {}, {}});
      dels[id.first].push_back(&elements.back());
    }
    if (will) {
      elements.push_back(Element{id.first, id.second, will->value, will->target, will->comment});
      adds[id.first].push_back(&elements.back());
    }
  }
  for (auto& [set, es] : dels) tx.deleteElements(*sharedSet(set), std::move(es));
  for (auto& [set, es] : adds) tx.addElements(*sharedSet(set), std::move(es));
  for (const auto& c : flushChains) tx.flushChain(c);
  for (const auto& c : flushShared) tx.flushChain(c);
  for (const auto& s : deleteSets) tx.deleteSet(s);

  if (tx.empty()) {
    // Nothing of this family changed (the other family's services did).
    report.ok = true;
    report.totalSeconds = secondsSince(start);
    applied_ = std::move(state);
    return report;
  }
  bool raced = false;
  report = commitWith(tx, report, start, &raced);
  if (raced) {
    log::info("nftables: the ruleset was changed by another program since our last sync; full resync");
    return syncFull(std::move(state));
  }
  if (!report.ok) return report;
  for (auto& [svc, objs] : pending) {
    if (objs.chains.empty() && objs.sets.empty() && objs.elements.empty()) services_.erase(svc);
    else services_[svc] = std::move(objs);
  }
  for (const auto& s : changed)
    if (!pending.count(s) && state->portsOf(s).empty()) services_.erase(s);
  for (auto& [id, after] : work) {
    if (after.empty()) owners_.erase(id);
    else owners_[id] = std::move(after);
  }
  for (const auto& c : flushChains) staleChains_.emplace(c, now_());
  for (const Chain* c : addChains) staleChains_.erase(c->name);
  for (auto& [c, after] : chainWork) {
    if (after.empty()) {
      chainUsers_.erase(c);
      sharedChains_.erase(c);
    } else {
      chainUsers_[c] = std::move(after);
    }
  }
  for (const auto& c : flushShared) staleChains_.emplace(c, now_());
  for (auto& [name, c] : newShared) {
    staleChains_.erase(name);
    sharedChains_.emplace(name, std::move(c));
  }
  report.deleted += deleteSets.size();
  generation_->value = readGeneration();
  applied_ = std::move(state);
  return report;
}

bool NftablesBackend::canaryPresent() {
  auto l = client_->list(renderer_.options().family);
  return !l || l.value().exists;
}

}  // namespace kproxy::nftables
