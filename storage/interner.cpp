// The interner: entry-by-entry persistence, the pending-string protocol and the caches.
#include "telos/storage/interner.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

#include <xxhash.h>

#include <limits>

namespace telos::storage {

namespace {

constexpr uint16_t term_schema = 1;
constexpr term_id high_water_key_id = 0;
constexpr term_id first_id = 1;
/// Never assigned: a next id of 2^64-1 means the id space is used up (in practice: a corrupt
/// high-water row or reverse key), and assigning it would wrap the counter round to 0.
constexpr term_id last_id = std::numeric_limits<term_id>::max();

std::string encode_text(std::string_view text) {
  return encode_envelope(value_format::raw, term_schema, text);
}

/// The text of a forward or reverse row, checked.
expected<std::string_view> decode_text(std::string_view value, std::string_view key) {
  auto env = decode_envelope(value, key);
  if (!env) return std::move(env.error());
  if (env->format != value_format::raw || env->schema_version != term_schema)
    return make_error(ec::corrupt_value, "interner value of key '" + printable_key(key) +
                                             "' is not a raw schema-1 term");
  return env->payload;
}

} // namespace

// -- terms ---------------------------------------------------------------------------------------

std::string make_term(term_kind kind, std::string_view name) {
  std::string term;
  term.reserve(name.size() + 1);
  term.push_back(static_cast<char>(kind));
  term.append(name);
  return term;
}

std::string make_term(const uuid& memory_id) {
  return make_term(term_kind::memory, memory_id.view());
}

std::optional<uuid> memory_of_term(std::string_view term) {
  if (term.size() != 17 || term[0] != static_cast<char>(term_kind::memory)) return std::nullopt;
  return uuid::from_bytes(term.substr(1));
}

// -- keyspaces -----------------------------------------------------------------------------------

const std::vector<std::string>& interner_keyspaces::names() {
  static const std::vector<std::string> all{"intern_fwd", "intern_rev"};
  return all;
}

expected<interner_keyspaces> interner_keyspaces::resolve(const backend& db) {
  auto forward = db.keyspace(names()[0]);
  if (!forward) return std::move(forward.error());
  auto reverse = db.keyspace(names()[1]);
  if (!reverse) return std::move(reverse.error());
  return interner_keyspaces{*forward, *reverse};
}

// -- clock_map -----------------------------------------------------------------------------------

template <class Key, class Value>
const Value* interner::clock_map<Key, Value>::get(const Key& key) {
  auto i = index_.find(key);
  if (i == index_.end()) return nullptr;
  auto& s = slots_[i->second];
  s.referenced = true;
  return &s.value;
}

template <class Key, class Value>
void interner::clock_map<Key, Value>::put(const Key& key, const Value& value) {
  if (capacity_ == 0) return;
  if (auto i = index_.find(key); i != index_.end()) {
    slots_[i->second].value = value;
    slots_[i->second].referenced = true;
    return;
  }
  if (slots_.size() < capacity_) {
    index_.emplace(key, slots_.size());
    slots_.push_back(slot{key, value, false});
    return;
  }
  // Second chance: clear the flags of recently hit entries until an unflagged one comes up.
  while (slots_[hand_].referenced) {
    slots_[hand_].referenced = false;
    hand_ = (hand_ + 1) % slots_.size();
  }
  index_.erase(slots_[hand_].key);
  slots_[hand_] = slot{key, value, false};
  index_.emplace(key, hand_);
  hand_ = (hand_ + 1) % slots_.size();
}

// -- staging -------------------------------------------------------------------------------------

interner::staging::staging(staging&& other) noexcept
    : owner_(other.owner_), entries_(std::move(other.entries_)) {
  other.owner_ = nullptr;
  other.entries_.clear();
}

interner::staging& interner::staging::operator=(staging&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->abandon(*this);
    owner_ = other.owner_;
    entries_ = std::move(other.entries_);
    other.owner_ = nullptr;
    other.entries_.clear();
  }
  return *this;
}

interner::staging::~staging() {
  if (owner_ != nullptr) owner_->abandon(*this);
}

// -- interner ------------------------------------------------------------------------------------

std::string interner::reverse_key(term_id id) {
  return key_builder{8}.u64(id).take();
}

std::string interner::forward_prefix(std::string_view text) {
  return key_builder{8}.u64(XXH3_64bits(text.data(), text.size())).take();
}

std::string interner::forward_key(std::string_view text, term_id id) {
  return key_builder{16}.u64(XXH3_64bits(text.data(), text.size())).u64(id).take();
}

interner::interner(const backend& db, interner_keyspaces ks, interner_options opts, term_id next_id)
    : db_(db), ks_(ks), next_id_(next_id), ids_by_text_(opts.cache_entries),
      texts_by_id_(opts.cache_entries) {}

expected<std::unique_ptr<interner>> interner::open(const backend& db, interner_keyspaces ks,
                                                   interner_options opts) {
  auto high_water_key = reverse_key(high_water_key_id);
  auto stored = db.get(ks.reverse, high_water_key);
  if (!stored) return std::move(stored.error());
  term_id next = first_id;
  if (*stored) {
    auto env = decode_envelope(**stored, high_water_key);
    if (!env) return std::move(env.error());
    if (env->payload.size() != 8)
      return make_error(ec::corrupt_value, "interner high-water row (keyspace intern_rev, key '" +
                                               printable_key(high_water_key) + "') holds " +
                                               std::to_string(env->payload.size()) +
                                               " bytes, expected 8");
    next = std::max(next, load_u64_be(env->payload.data()));
  }
  // Batches that assigned ids may commit out of order, so the high-water row can lag behind
  // the largest id on disk; the ids at or above it are few (those of the reordered batches).
  auto it = db.scan(ks.reverse, key_range{reverse_key(next), true, std::nullopt, false});
  if (!it) return std::move(it.error());
  for (auto& rows = *it; rows->valid(); rows->next()) {
    key_reader key{rows->key(), "intern_rev"};
    auto id = key.u64();
    if (!id) return std::move(id.error());
    if (auto done = key.expect_done(); !done) return std::move(done.error());
    // The largest id leaves no id after it: next saturates there, and intern refuses to assign.
    next = std::max(next, *id == last_id ? last_id : *id + 1);
  }
  if (auto err = (*it)->status()) return err;
  return std::unique_ptr<interner>{new interner(db, ks, opts, next)};
}

expected<std::optional<term_id>> interner::read_forward(std::string_view text) const {
  ++disk_reads_;
  auto rows = db_.scan_prefix(ks_.forward, forward_prefix(text));
  if (!rows) return std::move(rows.error());
  for (auto& it = *rows; it->valid(); it->next()) {
    auto key = it->key();
    if (key.size() != 16)
      return make_error(ec::corrupt_value, "interner forward key '" + printable_key(key) +
                                               "' (keyspace intern_fwd) has " +
                                               std::to_string(key.size()) + " bytes, expected 16");
    auto stored = decode_text(it->value(), key);
    if (!stored) return std::move(stored.error());
    if (*stored != text) continue;
    auto id = load_u64_be(key.data() + 8);
    // 0 is the key of the high-water row, never a term's id.
    if (id == high_water_key_id)
      return make_error(ec::corrupt_value, "interner forward key '" + printable_key(key) +
                                               "' (keyspace intern_fwd) names id 0, which no "
                                               "term has");
    return std::optional<term_id>{id};
  }
  if (auto err = (*rows)->status()) return err;
  return std::optional<term_id>{};
}

void interner::append_rows(const std::string& text, term_id id, write_batch& batch) const {
  auto value = encode_text(text);
  batch.put(ks_.forward, forward_key(text, id), value);
  batch.put(ks_.reverse, reverse_key(id), value);
  char next[8];
  store_u64_be(next, next_id_);
  batch.put(ks_.reverse, reverse_key(high_water_key_id),
            encode_envelope(value_format::raw, term_schema, std::string_view{next, 8}));
}

void interner::cache_locked(const std::string& text, term_id id) const {
  ids_by_text_.put(text, id);
  texts_by_id_.put(id, text);
}

std::optional<term_id> interner::known_locked(const std::string& text, write_batch& batch,
                                              staging& staged) {
  if (auto* id = ids_by_text_.get(text)) return *id;
  if (auto i = pending_.find(text); i != pending_.end()) {
    // Another batch staged the string and has not committed: stage the same rows here too, so
    // this batch does not depend on the other one succeeding.
    append_rows(text, i->second.id, batch);
    ++i->second.holders;
    staged.entries_.emplace(text, i->second.id);
    return i->second.id;
  }
  return std::nullopt;
}

expected<term_id> interner::intern(std::string_view text_view, write_batch& batch,
                                   staging& staged) {
  if (staged.owner_ != nullptr && staged.owner_ != this)
    return make_error(ec::invalid_argument,
                      "interner staging already belongs to another interner (one staging per "
                      "batch and shard)");
  staged.owner_ = this;
  std::string text{text_view};
  // The batch holds the rows already; only the staging's owner touches it, no lock needed.
  if (auto i = staged.entries_.find(text); i != staged.entries_.end()) return i->second;
  uint64_t settlements_before_read = 0;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto id = known_locked(text, batch, staged)) return *id;
    settlements_before_read = settlements_;
  }
  // Most strings not cached are on disk: read without holding the lock.
  auto on_disk = read_forward(text);
  if (!on_disk) return std::move(on_disk.error());
  std::lock_guard<std::mutex> guard{mutex_};
  if (*on_disk) {
    cache_locked(text, **on_disk);
    return **on_disk;
  }
  if (auto id = known_locked(text, batch, staged)) return *id;
  // Rows reach the disk only through a staging, whose strings stay pending until it is settled.
  // So if no staging was settled since the read, anything committed after it is still pending
  // (seen just above) and the read's "absent" stands. Otherwise an entry may have been confirmed
  // and evicted from the cache, or abandoned after an ambiguous write that did apply: read again,
  // under the lock this time.
  if (settlements_ != settlements_before_read) {
    on_disk = read_forward(text);
    if (!on_disk) return std::move(on_disk.error());
    if (*on_disk) {
      cache_locked(text, **on_disk);
      return **on_disk;
    }
  }
  if (next_id_ == last_id)
    return make_error(ec::corrupt_value,
                      "interner has no term id left to assign: the high-water row or an id in "
                      "keyspace intern_rev is 2^64-1 (corrupt)");
  auto id = next_id_++;
  append_rows(text, id, batch);
  pending_.emplace(text, pending_entry{id, 1});
  staged.entries_.emplace(std::move(text), id);
  return id;
}

expected<std::optional<term_id>> interner::find(std::string_view text_view) const {
  std::string text{text_view};
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto* id = ids_by_text_.get(text)) return std::optional<term_id>{*id};
    if (auto i = pending_.find(text); i != pending_.end())
      return std::optional<term_id>{i->second.id};
  }
  auto on_disk = read_forward(text);
  if (!on_disk) return std::move(on_disk.error());
  if (*on_disk) {
    std::lock_guard<std::mutex> guard{mutex_};
    cache_locked(text, **on_disk);
  }
  return on_disk;
}

expected<std::optional<std::string>> interner::lookup(term_id id) const {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto* text = texts_by_id_.get(id)) return std::optional<std::string>{*text};
  }
  if (id == high_water_key_id) return std::optional<std::string>{};
  ++disk_reads_;
  auto key = reverse_key(id);
  auto stored = db_.get(ks_.reverse, key);
  if (!stored) return std::move(stored.error());
  if (!*stored) return std::optional<std::string>{};
  auto text = decode_text(**stored, key);
  if (!text) return std::move(text.error());
  std::string result{*text};
  std::lock_guard<std::mutex> guard{mutex_};
  cache_locked(result, id);
  return std::optional<std::string>{std::move(result)};
}

expected<std::vector<std::optional<std::string>>>
interner::lookup(const std::vector<term_id>& ids) const {
  std::vector<std::optional<std::string>> result(ids.size());
  std::vector<size_t> missing;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    for (size_t i = 0; i < ids.size(); ++i) {
      if (auto* text = texts_by_id_.get(ids[i]))
        result[i] = *text;
      else if (ids[i] != high_water_key_id)
        missing.push_back(i);
    }
  }
  if (missing.empty()) return result;
  std::vector<std::string> keys;
  keys.reserve(missing.size());
  for (auto i : missing)
    keys.push_back(reverse_key(ids[i]));
  disk_reads_ += keys.size();
  auto stored = db_.multi_get(ks_.reverse, keys);
  if (!stored) return std::move(stored.error());
  if (stored->size() != keys.size())
    return make_error(ec::internal, "multi_get on intern_rev returned " +
                                        std::to_string(stored->size()) + " values for " +
                                        std::to_string(keys.size()) + " keys");
  std::lock_guard<std::mutex> guard{mutex_};
  for (size_t j = 0; j < missing.size(); ++j) {
    if (!(*stored)[j]) continue;
    auto text = decode_text(*(*stored)[j], keys[j]);
    if (!text) return std::move(text.error());
    result[missing[j]] = std::string{*text};
    cache_locked(*result[missing[j]], ids[missing[j]]);
  }
  return result;
}

void interner::settle(staging& staged, bool committed) {
  if (staged.owner_ == nullptr) return;
  std::lock_guard<std::mutex> guard{mutex_};
  if (!staged.entries_.empty()) ++settlements_;
  for (auto& [text, id] : staged.entries_) {
    auto i = pending_.find(text);
    bool ours = i != pending_.end() && i->second.id == id;
    if (committed) {
      // The rows are on disk now, whichever other batches also staged them.
      if (ours) pending_.erase(i);
      cache_locked(text, id);
    } else if (ours && --i->second.holders == 0) {
      pending_.erase(i);
    }
  }
  staged.entries_.clear();
  staged.owner_ = nullptr;
}

void interner::confirm(staging& staged) {
  settle(staged, true);
}

void interner::abandon(staging& staged) {
  settle(staged, false);
}

interner_stats interner::stats() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return interner_stats{next_id_, pending_.size(), ids_by_text_.size(), disk_reads_.load()};
}

} // namespace telos::storage
