// The blocking reads of a shard's rows: memories, namespace listings, vector chunks, counters.
#include "telos/shard/reads.hpp"

#include "telos/storage/key_codec.hpp"

namespace telos {

expected<uint64_t> read_counter(const storage::backend& db, const storage::shard_layout& layout,
                                std::string_view key, uint64_t fallback) {
  auto value = db.get(layout.meta(), key);
  if (!value) return std::move(value.error());
  if (!*value) return fallback;
  return storage::decode_counter(**value, key);
}

namespace {

/// Fills in the embeddings of decoded records; a missing vector row is a corrupt memory.
expected<void> attach_embeddings(const storage::backend& db, const storage::shard_layout& layout,
                                 std::vector<memory*>& records) {
  if (records.empty()) return {};
  std::vector<std::string> keys;
  keys.reserve(records.size());
  for (auto* m : records)
    keys.emplace_back(m->id.view());
  const auto& embedders = layout.profile().embedders;
  for (size_t j = 0; j < embedders.size(); ++j) {
    auto values = db.multi_get(layout.vectors(j), keys);
    if (!values) return std::move(values.error());
    for (size_t k = 0; k < records.size(); ++k) {
      const auto& value = (*values)[k];
      if (!value)
        return make_error(ec::corrupt_value,
                          "memory " + records[k]->id.to_string() + " has no vector row in '" +
                              layout.keyspaces()[layout.vectors(j)] + "' (run verify)");
      auto e = storage::decode_vector(embedders[j], *value, keys[k]);
      if (!e) return std::move(e.error());
      records[k]->embeddings.emplace(embedders[j].name, std::move(*e));
    }
  }
  return {};
}

} // namespace

expected<std::vector<memory>> read_memories(const storage::backend& db,
                                            const storage::shard_layout& layout,
                                            const std::vector<uuid>& ids, bool with_embeddings) {
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const auto& id : ids)
    keys.emplace_back(id.view());
  auto values = db.multi_get(layout.records(), keys);
  if (!values) return std::move(values.error());
  std::vector<memory> result(ids.size());
  std::vector<memory*> present;
  for (size_t k = 0; k < ids.size(); ++k) {
    const auto& value = (*values)[k];
    if (!value) continue;
    auto m = storage::decode_record(*value, keys[k]);
    if (!m) return std::move(m.error());
    result[k] = std::move(*m);
    present.push_back(&result[k]);
  }
  if (with_embeddings)
    if (auto ok = attach_embeddings(db, layout, present); !ok) return std::move(ok.error());
  return result;
}

expected<std::vector<memory>> list_memories(const storage::backend& db,
                                            const storage::shard_layout& layout,
                                            const std::string& ns, const uuid& after,
                                            uint64_t limit) {
  std::vector<memory> result;
  if (limit == 0) return result;
  if (ns.empty()) {
    storage::key_range range;
    if (!after.is_nil()) {
      range.begin = std::string{after.view()};
      range.begin_inclusive = false;
    }
    auto it = db.scan(layout.records(), range);
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid() && result.size() < limit; i->next()) {
      auto m = storage::decode_record(i->value(), i->key());
      if (!m) return std::move(m.error());
      result.push_back(std::move(*m));
    }
    if (auto err = (*it)->status()) return err;
    std::vector<memory*> records;
    for (auto& m : result)
      records.push_back(&m);
    if (auto ok = attach_embeddings(db, layout, records); !ok) return std::move(ok.error());
    return result;
  }
  auto prefix = storage::namespace_prefix(ns);
  auto range = after.is_nil()
                   ? storage::prefix_range(prefix)
                   : storage::prefix_range_after(prefix, storage::namespace_key(ns, after));
  std::vector<uuid> ids;
  auto it = db.scan(layout.namespaces(), range);
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid() && ids.size() < limit; i->next()) {
    auto row = storage::decode_namespace_key(i->key());
    if (!row) return std::move(row.error());
    ids.push_back(row->id);
  }
  if (auto err = (*it)->status()) return err;
  auto found = read_memories(db, layout, ids, true);
  if (!found) return found;
  for (auto& m : *found)
    if (!m.id.is_nil()) result.push_back(std::move(m));
  return result;
}

expected<vector_chunk> scan_vectors(const storage::backend& db, const storage::shard_layout& layout,
                                    size_t embedder_index, const uuid& after, uint64_t limit) {
  const auto& spec = layout.profile().embedders[embedder_index];
  auto ks = layout.vectors(embedder_index);
  storage::key_range range;
  if (!after.is_nil()) {
    range.begin = std::string{after.view()};
    range.begin_inclusive = false;
  }
  vector_chunk chunk;
  chunk.last = true;
  auto it = db.scan(ks, range);
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    if (chunk.ids.size() >= limit) {
      chunk.last = false;
      break;
    }
    auto id = storage::decode_id_key(i->key(), layout.keyspaces()[ks]);
    if (!id) continue;
    auto e = storage::decode_vector(spec, i->value(), i->key());
    if (!e) continue;
    chunk.ids.push_back(*id);
    chunk.embeddings.push_back(std::move(*e));
  }
  if (auto err = (*it)->status()) return err;
  return chunk;
}

} // namespace telos
