// The shard's in-memory record facts and counters.
#include "telos/shard/record_catalog.hpp"

#include <xxhash.h>

#include <algorithm>

namespace telos {

uint64_t attribute_hash(std::string_view key, std::string_view value) {
  // Validation forbids NUL in attribute keys, so key + NUL + value is unambiguous.
  std::string joined;
  joined.reserve(key.size() + 1 + value.size());
  joined.append(key);
  joined.push_back('\0');
  joined.append(value);
  return XXH3_64bits(joined.data(), joined.size());
}

namespace {

/// attribute_hash of every attribute of `m`, sorted (a fact's attribute_hashes).
std::vector<uint64_t> sorted_attribute_hashes(const memory& m) {
  std::vector<uint64_t> hashes;
  hashes.reserve(m.attributes.size());
  for (const auto& [key, value] : m.attributes)
    hashes.push_back(attribute_hash(key, value));
  std::sort(hashes.begin(), hashes.end());
  return hashes;
}

} // namespace

record_fact make_fact(const memory& m) {
  return record_fact{m.id, m.ns, m.created_at, sorted_attribute_hashes(m)};
}

// -- admission ------------------------------------------------------------------------------------

record_catalog::admission::admission(const record_catalog& catalog, const filter& f)
    : lock_(catalog.mutex_), catalog_(&catalog), ns_(no_namespace), after_(f.created_after),
      before_(f.created_before) {
  if (!f.ns.empty()) {
    auto it = catalog.namespace_ids_.find(f.ns);
    ns_ = it == catalog.namespace_ids_.end() ? unknown_namespace : it->second;
  }
  where_.reserve(f.where.size());
  for (const auto& predicate : f.where) {
    std::vector<uint64_t> allowed;
    allowed.reserve(predicate.values.size());
    for (const auto& value : predicate.values)
      allowed.push_back(attribute_hash(predicate.key, value));
    where_.push_back(std::move(allowed));
  }
}

bool record_catalog::admission::operator()(const uuid& id) const {
  if (ns_ == unknown_namespace) return false;
  auto it = catalog_->entries_.find(id);
  if (it == catalog_->entries_.end()) return false;
  const auto& e = it->second;
  if (ns_ != no_namespace && e.ns != ns_) return false;
  if (after_ && e.created_at < *after_) return false;
  if (before_ && e.created_at >= *before_) return false;
  // Each predicate needs the memory's value for its key among the allowed ones; a memory has one
  // value per key, so "some allowed hash is among the memory's hashes" says exactly that.
  for (const auto& allowed : where_) {
    bool any = false;
    for (auto h : allowed)
      if (std::binary_search(e.attribute_hashes.begin(), e.attribute_hashes.end(), h)) {
        any = true;
        break;
      }
    if (!any) return false;
  }
  return true;
}

std::vector<uuid> record_catalog::admitted_ids(const filter& f, const uuid& after,
                                               size_t limit) const {
  std::vector<uuid> ids;
  if (limit == 0) return ids;
  auto admitted = admit(f);
  for (const auto& kv : entries_)
    if ((after.is_nil() || after < kv.first) && admitted(kv.first)) ids.push_back(kv.first);
  if (ids.size() > limit) {
    std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(limit), ids.end());
    ids.resize(limit);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

uint64_t record_catalog::count_admitted(const filter& f) const {
  auto admitted = admit(f);
  uint64_t n = 0;
  for (const auto& kv : entries_)
    n += admitted(kv.first) ? 1 : 0;
  return n;
}

// -- catalog --------------------------------------------------------------------------------------

uint32_t record_catalog::intern(const std::string& ns) {
  auto [it, added] = namespace_ids_.emplace(ns, static_cast<uint32_t>(namespaces_.size()));
  if (added) namespaces_.push_back(ns);
  return it->second;
}

void record_catalog::add_count(const std::string& ns, int64_t delta) {
  auto& n = per_namespace_[ns];
  n = static_cast<uint64_t>(static_cast<int64_t>(n) + delta);
  total_ = static_cast<uint64_t>(static_cast<int64_t>(total_) + delta);
  if (n == 0) per_namespace_.erase(ns);
}

record_fact record_catalog::to_fact(const uuid& id, const entry& e) const {
  return record_fact{id, namespaces_[e.ns], e.created_at, e.attribute_hashes};
}

void record_catalog::reset(std::vector<record_fact> facts, uint64_t total,
                           std::map<std::string, uint64_t> per_namespace) {
  std::unique_lock guard{mutex_};
  entries_.clear();
  entries_.reserve(facts.size());
  for (auto& fact : facts)
    entries_[fact.id] = entry{intern(fact.ns), fact.created_at, std::move(fact.attribute_hashes)};
  total_ = total;
  per_namespace_ = std::move(per_namespace);
}

void record_catalog::start_load(size_t expected) {
  std::unique_lock guard{mutex_};
  entries_.clear();
  entries_.reserve(expected);
}

void record_catalog::add_loaded(const memory& m) {
  auto hashes = sorted_attribute_hashes(m);
  std::unique_lock guard{mutex_};
  entries_[m.id] = entry{intern(m.ns), m.created_at, std::move(hashes)};
}

void record_catalog::finish_load(uint64_t total, std::map<std::string, uint64_t> per_namespace) {
  std::unique_lock guard{mutex_};
  total_ = total;
  per_namespace_ = std::move(per_namespace);
}

void record_catalog::apply(const std::vector<fact_change>& changes) {
  std::unique_lock guard{mutex_};
  for (const auto& [id, fact] : changes) {
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      add_count(namespaces_[it->second.ns], -1);
      if (!fact) {
        entries_.erase(it);
        continue;
      }
    }
    if (!fact) continue;
    auto ns = intern(fact->ns);
    entries_[id] = entry{ns, fact->created_at, fact->attribute_hashes};
    add_count(fact->ns, 1);
  }
}

std::optional<record_fact> record_catalog::find(const uuid& id) const {
  std::shared_lock guard{mutex_};
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return to_fact(id, it->second);
}

bool record_catalog::contains(const uuid& id) const {
  std::shared_lock guard{mutex_};
  return entries_.count(id) != 0;
}

uint64_t record_catalog::count(std::string_view ns) const {
  std::shared_lock guard{mutex_};
  if (ns.empty()) return total_;
  auto it = per_namespace_.find(std::string{ns});
  return it == per_namespace_.end() ? 0 : it->second;
}

std::map<std::string, uint64_t> record_catalog::per_namespace() const {
  std::shared_lock guard{mutex_};
  return per_namespace_;
}

std::vector<uuid> record_catalog::ids() const {
  std::vector<uuid> result;
  {
    std::shared_lock guard{mutex_};
    result.reserve(entries_.size());
    for (const auto& kv : entries_)
      result.push_back(kv.first);
  }
  std::sort(result.begin(), result.end());
  return result;
}

size_t record_catalog::size() const {
  std::shared_lock guard{mutex_};
  return entries_.size();
}

} // namespace telos
