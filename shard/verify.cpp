// A shard's verify: the check (and repair) of its rows, of its graph rows, of its indexes, and
// the verdict on its catalog and indexes. shard/verify.hpp says which actor runs which step.
#include "telos/shard/verify.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/shard/reads.hpp"
#include "telos/storage/key_codec.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace telos {

// -- rows -----------------------------------------------------------------------------------------

namespace {

/// One pass over every row of a shard, collecting problems and, with repair, the fixing batch.
class storage_checker {
public:
  storage_checker(storage::backend& db, const storage::shard_layout& layout, uint32_t shard,
                  bool repair)
      : db_(db), layout_(layout), shard_(shard), repair_(repair) {}

  expected<storage_check> run() {
    if (auto ok = check_records(); !ok) return std::move(ok.error());
    for (size_t j = 0; j < layout_.embedders(); ++j)
      if (auto ok = check_vectors(j); !ok) return std::move(ok.error());
    find_incomplete();
    if (auto ok = check_namespaces(); !ok) return std::move(ok.error());
    remove_broken_memories();
    if (auto ok = check_counters(); !ok) return std::move(ok.error());
    if (auto ok = check_changelog(); !ok) return std::move(ok.error());
    if (repair_ && result_.repaired > 0) {
      // Indexes snapshotted before the repair may hold what the repair removed.
      for (const auto& e : layout_.profile().embedders)
        fixes_.del(layout_.meta(), storage::snapshot_key(e.name));
      if (auto ok = db_.write(fixes_, storage::write_options{true}); !ok)
        return std::move(ok.error());
    }
    for (auto& [id, r] : records_)
      if (r.decoded && !r.incomplete) result_.facts.push_back(std::move(r.fact));
    result_.per_namespace = counted_;
    return std::move(result_);
  }

private:
  static constexpr std::string_view removal = "repaired: memory removed, it cannot be served whole";

  struct record_state {
    bool decoded = false;
    bool incomplete = false;
    bool has_namespace_row = false;
    uint64_t vectors = 0; // bit j: embedder j's row decodes
    record_fact fact;
  };

  /// Reports one inconsistency; with repair, `fix` says what the repair does about it.
  void problem(std::string what, std::string_view fix = "repaired") {
    auto line = "shard " + std::to_string(shard_) + ": " + std::move(what);
    if (repair_) {
      line += " (" + std::string{fix} + ")";
      ++result_.repaired;
    }
    result_.problems.push_back(std::move(line));
  }

  const std::string& name(keyspace_id ks) const { return layout_.keyspaces()[ks]; }

  expected<void> check_records() {
    auto it = db_.scan(layout_.records(), storage::key_range::all());
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid(); i->next()) {
      ++result_.records_checked;
      auto id = storage::decode_id_key(i->key(), storage::records_keyspace);
      if (!id) {
        problem("record key does not decode: " + describe(id.error()));
        if (repair_) fixes_.del(layout_.records(), i->key());
        continue;
      }
      auto& r = records_[*id];
      auto m = storage::decode_record(i->value(), i->key());
      if (!m) {
        problem("memory " + id->to_string() + ": " + describe(m.error()), removal);
        continue;
      }
      r.decoded = true;
      r.fact = make_fact(*m);
    }
    if (auto err = (*it)->status()) return err;
    return {};
  }

  expected<void> check_vectors(size_t j) {
    const auto& spec = layout_.profile().embedders[j];
    auto ks = layout_.vectors(j);
    auto it = db_.scan(ks, storage::key_range::all());
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid(); i->next()) {
      auto id = storage::decode_id_key(i->key(), name(ks));
      auto found = id ? records_.find(*id) : records_.end();
      if (found == records_.end()) {
        problem("vector row '" + printable_key(i->key()) + "' in '" + name(ks) + "' has no record");
        if (repair_) fixes_.del(ks, i->key());
        continue;
      }
      auto e = storage::decode_vector(spec, i->value(), i->key());
      if (!e) {
        problem("memory " + id->to_string() + ": " + describe(e.error()), removal);
        found->second.incomplete = true;
        continue;
      }
      found->second.vectors |= uint64_t{1} << j;
    }
    if (auto err = (*it)->status()) return err;
    return {};
  }

  void find_incomplete() {
    auto all = layout_.embedders() >= 64 ? ~uint64_t{0} : (uint64_t{1} << layout_.embedders()) - 1;
    for (auto& [id, r] : records_) {
      if (!r.decoded || r.incomplete || r.vectors == all) continue;
      std::string missing;
      for (size_t j = 0; j < layout_.embedders(); ++j)
        if (!(r.vectors & (uint64_t{1} << j)))
          missing += (missing.empty() ? "" : ", ") + layout_.profile().embedders[j].name;
      problem("memory " + id.to_string() + " lacks its vector for " + missing, removal);
      r.incomplete = true;
    }
  }

  expected<void> check_namespaces() {
    auto ks = layout_.namespaces();
    auto it = db_.scan(ks, storage::key_range::all());
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid(); i->next()) {
      auto row = storage::decode_namespace_key(i->key());
      if (!row) {
        problem("namespace row does not decode: " + describe(row.error()));
        if (repair_) fixes_.del(ks, i->key());
        continue;
      }
      auto found = records_.find(row->id);
      if (found == records_.end() || !found->second.decoded) {
        problem("namespace row ('" + printable_key(row->ns) + "', " + row->id.to_string() +
                ") has no record");
        if (repair_) fixes_.del(ks, i->key());
        continue;
      }
      if (found->second.fact.ns != row->ns) {
        problem("namespace row ('" + printable_key(row->ns) + "', " + row->id.to_string() +
                ") disagrees with the record's namespace '" + printable_key(found->second.fact.ns) +
                "'");
        if (repair_) fixes_.del(ks, i->key());
        continue;
      }
      found->second.has_namespace_row = true;
    }
    if (auto err = (*it)->status()) return err;
    for (auto& [id, r] : records_) {
      if (!r.decoded || r.incomplete || r.has_namespace_row) continue;
      problem("memory " + id.to_string() + " has no namespace row in '" +
              std::string{storage::namespaces_keyspace} + "'");
      if (repair_) fixes_.put(ks, storage::namespace_key(r.fact.ns, id), {});
    }
    return {};
  }

  /// Memories that do not decode or lack a vector cannot be served whole: repair removes them.
  void remove_broken_memories() {
    for (auto& [id, r] : records_) {
      if (r.decoded && !r.incomplete) {
        ++counted_[r.fact.ns];
        continue;
      }
      if (!repair_) continue;
      auto key = storage::id_key(id);
      fixes_.del(layout_.records(), key);
      for (size_t j = 0; j < layout_.embedders(); ++j)
        fixes_.del(layout_.vectors(j), key);
      if (r.decoded) fixes_.del(layout_.namespaces(), storage::namespace_key(r.fact.ns, id));
    }
  }

  expected<void> check_counters() {
    uint64_t total = 0;
    for (const auto& kv : counted_)
      total += kv.second;
    auto stored_total = read_counter(db_, layout_, storage::meta_keys::count, 0);
    if (!stored_total) {
      problem("memory counter: " + describe(stored_total.error()));
    } else if (*stored_total != total) {
      problem("memory counter says " + std::to_string(*stored_total) + ", the shard holds " +
              std::to_string(total));
    }
    if (repair_)
      fixes_.put(layout_.meta(), storage::meta_keys::count, storage::encode_counter(total));
    std::map<std::string, uint64_t> stored;
    auto it = db_.scan_prefix(layout_.meta(), storage::meta_keys::namespace_count_prefix);
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid(); i->next()) {
      auto ns = storage::decode_namespace_count_key(i->key());
      auto n = ns ? storage::decode_counter(i->value(), i->key()) : expected<uint64_t>{ns.error()};
      if (!n) {
        problem("namespace counter: " + describe(n.error()));
        if (repair_) fixes_.del(layout_.meta(), i->key());
        continue;
      }
      stored[*ns] = *n;
    }
    if (auto err = (*it)->status()) return err;
    std::set<std::string> names;
    for (const auto& kv : stored)
      names.insert(kv.first);
    for (const auto& kv : counted_)
      names.insert(kv.first);
    for (const auto& ns : names) {
      auto s = stored.count(ns) ? stored[ns] : 0;
      auto c = counted_.count(ns) ? counted_[ns] : 0;
      if (s == c) continue;
      problem("counter of namespace '" + printable_key(ns) + "' says " + std::to_string(s) +
              ", the shard holds " + std::to_string(c));
      if (!repair_) continue;
      if (c == 0)
        fixes_.del(layout_.meta(), storage::namespace_count_key(ns));
      else
        fixes_.put(layout_.meta(), storage::namespace_count_key(ns), storage::encode_counter(c));
    }
    return {};
  }

  expected<void> check_changelog() {
    auto ks = layout_.changelog();
    auto it = db_.scan(ks, storage::key_range::all());
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid(); i->next()) {
      auto seq = storage::decode_changelog_key(i->key());
      auto entry = seq ? storage::decode_changelog_entry(i->value(), i->key())
                       : expected<storage::changelog_entry>{seq.error()};
      if (!entry) {
        problem("changelog: " + describe(entry.error()));
        if (repair_) fixes_.del(ks, i->key());
      }
    }
    if (auto err = (*it)->status()) return err;
    return {};
  }

  storage::backend& db_;
  const storage::shard_layout& layout_;
  uint32_t shard_;
  bool repair_;
  std::map<uuid, record_state> records_;
  std::map<std::string, uint64_t> counted_;
  write_batch fixes_;
  storage_check result_;
};

} // namespace

expected<storage_check> check_storage(storage::backend& db, const storage::shard_layout& layout,
                                      uint32_t shard, bool repair) {
  return storage_checker{db, layout, shard, repair}.run();
}

namespace {

/// The graph rows' verdict, added to the storage check: edges whose endpoint lives on this
/// shard must name a stored memory (endpoints on other shards are checked there).
expected<void> check_graph(storage::backend& db, const storage::shard_layout& layout,
                           storage::shard_graph& graph, uint32_t shard, uint32_t shard_count,
                           storage_check& check, bool repair) {
  auto records = layout.records();
  auto exists = [&](const uuid& id) -> expected<bool> {
    if (shard_count > 1 && stable_hash(id) % shard_count != shard) return true;
    return db.contains(records, storage::id_key(id));
  };
  auto prefix = "shard " + std::to_string(shard) + " graph: ";
  // Every stored memory has its index rows.
  std::vector<memory> lacking;
  constexpr size_t chunk = 1024;
  for (size_t first = 0; first < check.facts.size(); first += chunk) {
    std::vector<uuid> ids;
    for (size_t i = first; i < std::min(check.facts.size(), first + chunk); ++i)
      ids.push_back(check.facts[i].id);
    auto read = read_memories(db, layout, ids, false);
    if (!read) return std::move(read.error());
    for (auto& m : *read) {
      if (m.id.is_nil()) continue;
      auto missing = graph.index().missing_rows(m);
      if (!missing) return std::move(missing.error());
      for (const auto& row : *missing)
        check.problems.push_back(prefix + "memory " + m.id.to_string() + " lacks " + row +
                                 (repair ? " (repaired)" : ""));
      if (!missing->empty()) lacking.push_back(std::move(m));
    }
  }
  auto report = graph.verify(exists);
  if (!report) return std::move(report.error());
  for (auto& problem : report->problems)
    check.problems.push_back(prefix + problem);
  if (report->problem_count > report->problems.size())
    check.problems.push_back(prefix +
                             std::to_string(report->problem_count - report->problems.size()) +
                             " more problems not listed");
  // The lines above are what was found; the repair below fixes dangling rows and missing index
  // rows (verify --repair checks again afterwards), not disagreeing quad orders.
  if (!repair || (report->ok() && lacking.empty())) return {};
  write_batch rows;
  storage::interner::staging staged;
  auto changed = graph.repair(exists, lacking, rows, staged);
  if (!changed) return std::move(changed.error());
  if (!rows.empty()) {
    if (auto ok = db.write(rows, storage::write_options{true}); !ok) {
      graph.terms().abandon(staged);
      return ok;
    }
  }
  graph.terms().confirm(staged);
  check.repaired += *changed;
  return {};
}

} // namespace

expected<storage_check> check_rows(storage::backend& db, const storage::shard_layout& layout,
                                   storage::shard_graph* graph, uint32_t shard,
                                   uint32_t shard_count, bool repair) {
  auto check = check_storage(db, layout, shard, repair);
  if (check && graph)
    if (auto ok = check_graph(db, layout, *graph, shard, shard_count, *check, repair); !ok)
      return std::move(ok.error());
  return check;
}

std::vector<uuid> checked_ids(const storage_check& rows) {
  std::vector<uuid> ids;
  ids.reserve(rows.facts.size());
  for (const auto& f : rows.facts)
    ids.push_back(f.id);
  return ids;
}

// -- indexes --------------------------------------------------------------------------------------

index_check check_index(const storage::vector_index& index, const std::vector<uuid>& ids) {
  index_check result;
  result.size = index.size();
  for (const auto& id : ids)
    if (!index.contains(id)) result.missing.push_back(id);
  return result;
}

void clear_index(index_handle& handle) {
  auto fresh = storage::make_vector_index(handle.index->spec(), handle.options);
  std::unique_lock guard{handle.lock};
  handle.index = std::move(fresh);
  handle.replaced = true;
}

void load_index_chunk(index_handle& handle, const vector_chunk& chunk) {
  std::unique_lock guard{handle.lock};
  for (size_t i = 0; i < chunk.ids.size(); ++i)
    handle.index->upsert(chunk.ids[i], chunk.embeddings[i]);
}

// -- verdict --------------------------------------------------------------------------------------

shard_verdict judge_shard(uint32_t shard, const storage::shard_layout& layout,
                          record_catalog& catalog, const storage_check& rows,
                          const std::vector<index_check>& indexes, bool repair) {
  shard_verdict verdict;
  verdict.result.records_checked = rows.records_checked;
  verdict.result.problems = rows.problems;
  verdict.result.repaired = rows.repaired;
  auto prefix = "shard " + std::to_string(shard) + ": ";
  auto& problems = verdict.result.problems;
  auto repaired = [&](bool fixable) -> std::string {
    if (!repair || !fixable) return {};
    // Rebuilding the index or the catalog fixes it.
    ++verdict.result.repaired;
    return " (repaired)";
  };
  auto ids = checked_ids(rows);
  auto drifted = catalog.ids() != ids || catalog.per_namespace() != rows.per_namespace;
  // Drift without any row problem means the rows changed behind the engine's back; with row
  // problems the difference is their consequence and already reported.
  if (drifted && rows.problems.empty())
    problems.push_back(prefix + "record facts in memory disagree with the records" +
                       repaired(true));
  if (repair && (drifted || rows.repaired > 0)) {
    uint64_t total = 0;
    for (const auto& kv : rows.per_namespace)
      total += kv.second;
    catalog.reset(rows.facts, total, rows.per_namespace);
  }
  for (size_t j = 0; j < indexes.size(); ++j) {
    const auto& name = layout.profile().embedders[j].name;
    const auto& check = indexes[j];
    bool broken = false;
    for (const auto& id : check.missing) {
      problems.push_back(prefix + "index " + name + " lacks memory " + id.to_string() +
                         repaired(true));
      broken = true;
    }
    auto held = ids.size() - check.missing.size();
    if (check.size > held) {
      problems.push_back(prefix + "index " + name + " holds " + std::to_string(check.size - held) +
                         " entries without a memory" + repaired(true));
      broken = true;
    }
    if (broken || (repair && rows.repaired > 0)) verdict.rebuild.push_back(j);
  }
  return verdict;
}

verify_result merge_verify(std::vector<verify_result> parts) {
  verify_result total;
  for (auto& p : parts) {
    total.records_checked += p.records_checked;
    total.repaired += p.repaired;
    for (auto& line : p.problems)
      total.problems.push_back(std::move(line));
  }
  return total;
}

} // namespace telos
