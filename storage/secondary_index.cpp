// Attribute and time index rows and their readers.
#include "telos/storage/secondary_index.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

#include <algorithm>

namespace telos::storage {

const std::vector<std::string>& index_keyspaces::names() {
  static const std::vector<std::string> all{"idx_attr", "idx_time"};
  return all;
}

expected<index_keyspaces> index_keyspaces::resolve(const backend& db) {
  auto attributes = db.keyspace(names()[0]);
  if (!attributes) return std::move(attributes.error());
  auto time = db.keyspace(names()[1]);
  if (!time) return std::move(time.error());
  return index_keyspaces{*attributes, *time};
}

expected<secondary_index> secondary_index::make(const backend& db, interner& terms,
                                                index_keyspaces ks, secondary_index_options opts) {
  if (opts.time_bucket_ms <= 0)
    return make_error(ec::invalid_argument, "time bucket width must be positive, got " +
                                                std::to_string(opts.time_bucket_ms) + " ms");
  return secondary_index{db, terms, ks, std::move(opts)};
}

bool secondary_index::is_indexed(std::string_view attribute) const {
  return opts_.indexed_attributes.count(std::string{attribute}) > 0;
}

int64_t secondary_index::bucket_of(int64_t created_at) const {
  auto bucket = created_at / opts_.time_bucket_ms;
  // Floor, not truncation, so buckets stay in created_at order below zero too.
  if (created_at % opts_.time_bucket_ms != 0 && created_at < 0) --bucket;
  return bucket;
}

std::string secondary_index::attribute_key(term_id attribute, term_id value, const uuid& id) {
  return key_builder{32}.u64(attribute).u64(value).id(id).take();
}

std::string secondary_index::time_key(int64_t created_at, const uuid& id) const {
  return key_builder{32}.i64(bucket_of(created_at)).i64(created_at).id(id).take();
}

// -- writers -------------------------------------------------------------------------------------

expected<std::set<std::string>> secondary_index::existing_attribute_keys(const memory& m) const {
  std::set<std::string> keys;
  for (const auto& [name, value] : m.attributes) {
    if (!is_indexed(name)) continue;
    auto attribute = terms_->find(make_term(term_kind::attribute, name));
    if (!attribute) return std::move(attribute.error());
    if (!*attribute) continue;
    auto value_term = terms_->find(make_term(term_kind::attribute_value, value));
    if (!value_term) return std::move(value_term.error());
    if (!*value_term) continue;
    keys.insert(attribute_key(**attribute, **value_term, m.id));
  }
  return keys;
}

expected<void> secondary_index::insert(const memory& m, write_batch& batch,
                                       interner::staging& staged) const {
  for (const auto& [name, value] : m.attributes) {
    if (!is_indexed(name)) continue;
    auto attribute = terms_->intern(make_term(term_kind::attribute, name), batch, staged);
    if (!attribute) return std::move(attribute.error());
    auto value_term = terms_->intern(make_term(term_kind::attribute_value, value), batch, staged);
    if (!value_term) return std::move(value_term.error());
    batch.put(ks_.attributes, attribute_key(*attribute, *value_term, m.id), {});
  }
  batch.put(ks_.time, time_key(m.created_at, m.id), {});
  return {};
}

expected<void> secondary_index::replace(const memory& old, const memory& now, write_batch& batch,
                                        interner::staging& staged) const {
  if (old.id != now.id)
    return make_error(ec::invalid_argument, "index replace of memory " + old.id.to_string() +
                                                " by a memory with another id " +
                                                now.id.to_string());
  auto old_keys = existing_attribute_keys(old);
  if (!old_keys) return std::move(old_keys.error());
  std::set<std::string> new_keys;
  for (const auto& [name, value] : now.attributes) {
    if (!is_indexed(name)) continue;
    auto attribute = terms_->intern(make_term(term_kind::attribute, name), batch, staged);
    if (!attribute) return std::move(attribute.error());
    auto value_term = terms_->intern(make_term(term_kind::attribute_value, value), batch, staged);
    if (!value_term) return std::move(value_term.error());
    new_keys.insert(attribute_key(*attribute, *value_term, now.id));
  }
  for (const auto& key : *old_keys)
    if (new_keys.count(key) == 0) batch.del(ks_.attributes, key);
  for (const auto& key : new_keys)
    if (old_keys->count(key) == 0) batch.put(ks_.attributes, key, {});
  if (old.created_at != now.created_at) {
    batch.del(ks_.time, time_key(old.created_at, old.id));
    batch.put(ks_.time, time_key(now.created_at, now.id), {});
  }
  return {};
}

expected<void> secondary_index::remove(const memory& old, write_batch& batch) const {
  auto old_keys = existing_attribute_keys(old);
  if (!old_keys) return std::move(old_keys.error());
  for (const auto& key : *old_keys)
    batch.del(ks_.attributes, key);
  batch.del(ks_.time, time_key(old.created_at, old.id));
  return {};
}

// -- readers -------------------------------------------------------------------------------------

expected<std::vector<uuid>>
secondary_index::ids_with_attribute(std::string_view attribute,
                                    const std::vector<std::string>& values) const {
  if (!is_indexed(attribute))
    return make_error(ec::invalid_argument,
                      "attribute '" + std::string{attribute} + "' is not indexed");
  std::vector<uuid> ids;
  auto attribute_term = terms_->find(make_term(term_kind::attribute, attribute));
  if (!attribute_term) return std::move(attribute_term.error());
  if (!*attribute_term) return ids;
  std::set<term_id> value_terms;
  for (const auto& value : values) {
    auto id = terms_->find(make_term(term_kind::attribute_value, value));
    if (!id) return std::move(id.error());
    if (*id) value_terms.insert(**id);
  }
  for (auto value_term : value_terms) {
    auto prefix = key_builder{16}.u64(**attribute_term).u64(value_term).take();
    auto rows = db_->scan_prefix(ks_.attributes, prefix);
    if (!rows) return std::move(rows.error());
    for (auto& it = *rows; it->valid(); it->next()) {
      // The scan prefix fixed the two terms; what follows is the id and nothing else.
      key_reader key{it->key().substr(prefix.size()), "idx_attr"};
      auto id = key.id();
      if (!id) return std::move(id.error());
      if (auto done = key.expect_done(); !done) return std::move(done.error());
      ids.push_back(*id);
    }
    if (auto err = (*rows)->status()) return err;
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

expected<void> secondary_index::scan_time(int64_t after, int64_t before,
                                          const time_visitor& visit) const {
  if (after >= before) return {};
  auto rows =
      db_->scan(ks_.time, key_range::half_open(time_key(after, uuid{}), time_key(before, uuid{})));
  if (!rows) return std::move(rows.error());
  for (auto& it = *rows; it->valid(); it->next()) {
    key_reader key{it->key(), "idx_time"};
    auto bucket = key.i64();
    if (!bucket) return std::move(bucket.error());
    auto created_at = key.i64();
    if (!created_at) return std::move(created_at.error());
    auto id = key.id();
    if (!id) return std::move(id.error());
    if (auto done = key.expect_done(); !done) return std::move(done.error());
    if (*bucket != bucket_of(*created_at))
      return make_error(ec::corrupt_value,
                        "idx_time key '" + printable_key(it->key()) + "' has bucket " +
                            std::to_string(*bucket) + ", expected " +
                            std::to_string(bucket_of(*created_at)) + " (bucket width changed?)");
    if (!visit(*created_at, *id)) break;
  }
  if (auto err = (*rows)->status()) return err;
  return {};
}

expected<std::vector<uuid>> secondary_index::ids_in_time_range(int64_t after, int64_t before,
                                                               size_t limit) const {
  std::vector<uuid> ids;
  if (limit == 0) return ids;
  auto scanned = scan_time(after, before, [&](int64_t, const uuid& id) {
    ids.push_back(id);
    return ids.size() < limit;
  });
  if (!scanned) return std::move(scanned.error());
  return ids;
}

expected<std::vector<std::string>> secondary_index::missing_rows(const memory& m) const {
  std::vector<std::string> missing;
  for (const auto& [name, value] : m.attributes) {
    if (!is_indexed(name)) continue;
    auto attribute = terms_->find(make_term(term_kind::attribute, name));
    if (!attribute) return std::move(attribute.error());
    auto value_term = terms_->find(make_term(term_kind::attribute_value, value));
    if (!value_term) return std::move(value_term.error());
    if (!*attribute || !*value_term) {
      missing.push_back("memory " + m.id.to_string() + ": attribute '" + name +
                        "' or its value is not interned, so its idx_attr row cannot exist");
      continue;
    }
    auto present = db_->contains(ks_.attributes, attribute_key(**attribute, **value_term, m.id));
    if (!present) return std::move(present.error());
    if (!*present)
      missing.push_back("memory " + m.id.to_string() + ": idx_attr row of attribute '" + name +
                        "' is missing");
  }
  auto present = db_->contains(ks_.time, time_key(m.created_at, m.id));
  if (!present) return std::move(present.error());
  if (!*present)
    missing.push_back("memory " + m.id.to_string() + ": idx_time row for created_at " +
                      std::to_string(m.created_at) + " is missing");
  return missing;
}

} // namespace telos::storage
