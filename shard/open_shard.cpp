// Opening a shard with recovery of its catalog and indexes, and closing it.
#include "telos/shard/open_shard.hpp"

#include "telos/shard/reads.hpp"
#include "telos/storage/key_codec.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <new>
#include <set>
#include <system_error>
#include <thread>

namespace fs = std::filesystem;

namespace telos {

namespace {

constexpr size_t replay_chunk = 1024;

bool persistent(const opened_shard& s) {
  return !s.root.empty();
}

std::string shard_name(uint32_t shard) {
  return "shard " + std::to_string(shard);
}

/// Writes the identity of a new shard, or checks that of an existing one.
expected<void> init_or_check_meta(opened_shard& s, const shard_open_options& opts) {
  auto& db = *s.backend;
  auto meta = s.layout.meta();
  auto format = db.get(s.layout.meta(), storage::meta_keys::format);
  if (!format) return std::move(format.error());
  auto where = shard_name(s.id) +
               (persistent(s) ? " at '" + backend_directory(s.root, s.id) + "'" : std::string{});
  if (!*format) {
    write_batch batch;
    batch.put(meta, storage::meta_keys::format, storage::encode_counter(storage::layout_version));
    batch.put(meta, storage::meta_keys::profile, storage::encode_profile(opts.profile));
    batch.put(meta, storage::meta_keys::shard_count, storage::encode_counter(opts.shard_count));
    batch.put(meta, storage::meta_keys::shard_id, storage::encode_counter(opts.shard));
    batch.put(meta, storage::meta_keys::sequence, storage::encode_counter(0));
    batch.put(meta, storage::meta_keys::count, storage::encode_counter(0));
    return db.write(batch, storage::write_options{true});
  }
  auto version = storage::decode_counter(**format, storage::meta_keys::format);
  if (!version) return std::move(version.error());
  if (*version != storage::layout_version)
    return make_error(ec::format_mismatch, where + " has layout version " +
                                               std::to_string(*version) + ", this build reads " +
                                               std::to_string(storage::layout_version));
  auto stored = db.get(s.layout.meta(), storage::meta_keys::profile);
  if (!stored) return std::move(stored.error());
  if (!*stored)
    return make_error(ec::corrupt_value, where + " has a format row but no profile row");
  auto stored_profile = storage::decode_profile(**stored, storage::meta_keys::profile);
  if (!stored_profile) return std::move(stored_profile.error());
  if (*stored_profile != opts.profile)
    return make_error(ec::format_mismatch, where + " was created with " +
                                               describe_profile(*stored_profile) +
                                               ", opened with " + describe_profile(opts.profile));
  auto count = read_counter(db, s.layout, storage::meta_keys::shard_count, 0);
  if (!count) return std::move(count.error());
  auto id = read_counter(db, s.layout, storage::meta_keys::shard_id, 0);
  if (!id) return std::move(id.error());
  if (*count != opts.shard_count || *id != opts.shard)
    return make_error(ec::format_mismatch, where + " is shard " + std::to_string(*id) + " of " +
                                               std::to_string(*count) + ", opened as shard " +
                                               std::to_string(opts.shard) + " of " +
                                               std::to_string(opts.shard_count));
  return {};
}

constexpr std::string_view graph_bucket_key = "graph/time_bucket_ms";
constexpr std::string_view graph_indexed_prefix = "graph/indexed/";

std::string describe_graph(const storage::graph_options& g) {
  std::string names;
  for (const auto& a : g.indexed_attributes)
    names += (names.empty() ? "" : ", ") + a;
  return "indexed attributes {" + names + "}, time buckets of " + std::to_string(g.time_bucket_ms) +
         " ms";
}

/// The graph options a shard was created with (written now for a shard that has none yet);
/// ec::format_mismatch when the caller asks for others.
expected<storage::graph_options> graph_options_of(opened_shard& s, const shard_open_options& opts) {
  auto& db = *s.backend;
  auto bucket = db.get(s.layout.meta(), graph_bucket_key);
  if (!bucket) return std::move(bucket.error());
  if (!*bucket) {
    auto chosen = opts.graph_options.value_or(storage::graph_options{});
    if (chosen.time_bucket_ms <= 0)
      return make_error(ec::invalid_argument, "time bucket of " +
                                                  std::to_string(chosen.time_bucket_ms) +
                                                  " ms: it must be positive");
    // Index rows of memories stored before would be missing: only an empty shard may choose.
    if (s.catalog->count() > 0 && opts.graph_options &&
        *opts.graph_options != storage::graph_options{})
      return make_error(ec::format_mismatch, shard_name(s.id) +
                                                 " holds memories but no graph options; indexed "
                                                 "attributes can only be chosen for a new store");
    write_batch batch;
    batch.put(s.layout.meta(), graph_bucket_key,
              storage::encode_counter(static_cast<uint64_t>(chosen.time_bucket_ms)));
    for (const auto& a : chosen.indexed_attributes)
      batch.put(s.layout.meta(), std::string{graph_indexed_prefix} + a, {});
    if (auto ok = db.write(batch, storage::write_options{true}); !ok) return std::move(ok.error());
    return chosen;
  }
  storage::graph_options stored;
  auto ms = storage::decode_counter(**bucket, graph_bucket_key);
  if (!ms) return std::move(ms.error());
  stored.time_bucket_ms = static_cast<int64_t>(*ms);
  auto it = db.scan_prefix(s.layout.meta(), graph_indexed_prefix);
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next())
    stored.indexed_attributes.emplace(i->key().substr(graph_indexed_prefix.size()));
  if (auto err = (*it)->status()) return err;
  if (opts.graph_options && *opts.graph_options != stored)
    return make_error(ec::format_mismatch, shard_name(s.id) + " was created with " +
                                               describe_graph(stored) + ", opened with " +
                                               describe_graph(*opts.graph_options));
  return stored;
}

expected<std::map<std::string, uint64_t>> load_namespace_counts(const storage::backend& db,
                                                                const storage::shard_layout& l) {
  std::map<std::string, uint64_t> result;
  auto it = db.scan_prefix(l.meta(), storage::meta_keys::namespace_count_prefix);
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    auto ns = storage::decode_namespace_count_key(i->key());
    if (!ns) return std::move(ns.error());
    auto n = storage::decode_counter(i->value(), i->key());
    if (!n) return std::move(n.error());
    result[*ns] = *n;
  }
  if (auto err = (*it)->status()) return err;
  return result;
}

/// The record catalog: the facts of every record (a record that does not decode is reported in
/// `problems` and skipped). Only reads `s`, so it runs beside the index loads.
expected<std::shared_ptr<record_catalog>> load_catalog(const opened_shard& s,
                                                       std::vector<std::string>& problems) {
  auto total = read_counter(*s.backend, s.layout, storage::meta_keys::count, 0);
  if (!total) return std::move(total.error());
  auto per_namespace = load_namespace_counts(*s.backend, s.layout);
  if (!per_namespace) return std::move(per_namespace.error());
  auto it = s.backend->scan(s.layout.records(), storage::key_range::all());
  if (!it) return std::move(it.error());
  auto catalog = std::make_shared<record_catalog>();
  // Room for the memories the counter names (bounded: a damaged counter costs no huge table).
  catalog->start_load(static_cast<size_t>(std::min<uint64_t>(*total, uint64_t{1} << 24)));
  for (auto& i = *it; i->valid(); i->next()) {
    auto m = storage::decode_record(i->value(), i->key());
    if (!m) {
      problems.push_back(shard_name(s.id) + ": " + describe(m.error()));
      continue;
    }
    catalog->add_loaded(*m);
  }
  if (auto err = (*it)->status()) return err;
  catalog->finish_load(*total, std::move(*per_namespace));
  return catalog;
}

/// Moves every fresh vector into the ANN graph, so a store rebuilt from its vectors searches at
/// full speed.
void settle(storage::vector_index& index) {
  while (index.maintain(size_t{1} << 16) > 0) {
  }
}

/// Refills an empty index from the embedder's vector keyspace.
expected<uint64_t> rebuild_index(const opened_shard& s, size_t j, storage::vector_index& index,
                                 std::vector<std::string>& problems) {
  const auto& spec = s.layout.profile().embedders[j];
  uint64_t n = 0;
  auto it = s.backend->scan(s.layout.vectors(j), storage::key_range::all());
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    auto id = storage::decode_id_key(i->key(), s.layout.keyspaces()[s.layout.vectors(j)]);
    auto e =
        id ? storage::decode_vector(spec, i->value(), i->key()) : expected<embedding>{id.error()};
    if (!e) {
      problems.push_back(shard_name(s.id) + ": " + describe(e.error()));
      continue;
    }
    index.upsert(*id, *e);
    ++n;
  }
  if (auto err = (*it)->status()) return err;
  settle(index);
  return n;
}

/// Reads `keys` of a vector keyspace: one multi_get, or split over the shard's read pool when it
/// has one (each part a multi_get of its own, the parts read at once: docs/ENGINE.md, "Searches").
/// One value per key, in order; nullopt where a key is missing.
expected<std::vector<std::optional<std::string>>>
read_vector_values(const storage::backend& db, const std::shared_ptr<storage::read_pool>& pool,
                   keyspace_id keyspace, const std::vector<std::string>& keys) {
  if (!pool) return db.multi_get(keyspace, keys);
  return pool->read(keys, [&db, keyspace](const std::vector<std::string>& part) {
    return db.multi_get(keyspace, part);
  });
}

using open_clock = std::chrono::steady_clock;

double open_seconds_since(open_clock::time_point start) {
  return std::chrono::duration<double>(open_clock::now() - start).count();
}

/// Re-reads the current vector of every id the changelog names after `after`; adds the time it
/// spent reading and applying to `rec`.
expected<uint64_t> replay_changelog(const opened_shard& s, size_t j, storage::vector_index& index,
                                    uint64_t after, index_recovery& rec) {
  const auto& spec = s.layout.profile().embedders[j];
  auto started = open_clock::now();
  std::set<uuid> touched;
  auto it = s.backend->scan(s.layout.changelog(),
                            storage::key_range{storage::changelog_key(after), false, {}, false});
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    auto entry = storage::decode_changelog_entry(i->value(), i->key());
    if (!entry) return std::move(entry.error());
    touched.insert(entry->written.begin(), entry->written.end());
    touched.insert(entry->removed.begin(), entry->removed.end());
  }
  if (auto err = (*it)->status()) return err;
  std::vector<uuid> ids{touched.begin(), touched.end()};
  rec.read_seconds += open_seconds_since(started);
  for (size_t begin = 0; begin < ids.size(); begin += replay_chunk) {
    auto end = std::min(ids.size(), begin + replay_chunk);
    auto reading = open_clock::now();
    std::vector<std::string> keys;
    for (size_t k = begin; k < end; ++k)
      keys.emplace_back(ids[k].view());
    // Through the read pool: the ids written since the snapshot are scattered over a keyspace
    // that may be far larger than the page cache, and one multi_get reads them one after another.
    auto values = read_vector_values(*s.backend, s.read_pool, s.layout.vectors(j), keys);
    if (!values) return std::move(values.error());
    auto applying = open_clock::now();
    rec.read_seconds += std::chrono::duration<double>(applying - reading).count();
    for (size_t k = begin; k < end; ++k) {
      const auto& value = (*values)[k - begin];
      if (!value) {
        index.remove(ids[k]);
        continue;
      }
      auto e = storage::decode_vector(spec, *value, keys[k - begin]);
      if (!e) return std::move(e.error());
      index.upsert(ids[k], *e);
    }
    rec.apply_seconds += open_seconds_since(applying);
  }
  // No settle() here: the snapshot's fresh vectors stay fresh (searched exactly, as before the
  // close), so answers right after the restart are those before it; the index actor moves them
  // into the graph in the background, as it would have without the restart.
  return ids.size();
}

/// The vector keyspace's keys of `ids`.
std::vector<std::string> vector_keys(const std::vector<uuid>& ids) {
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const auto& id : ids)
    keys.emplace_back(id.view());
  return keys;
}

/// What a quantised index re-scores its candidates with: a multi_get on the embedder's vector
/// keyspace, split over the shard's read pool when it has one (each part a multi_get of its own,
/// the parts read at once: docs/ENGINE.md, "Searches"). Holds the backend weakly, so an index
/// never keeps a closed shard's backend open.
storage::originals_reader vector_keyspace_reader(const opened_shard& s, size_t j) {
  std::weak_ptr<storage::backend> weak = s.backend;
  auto keyspace = s.layout.vectors(j);
  return [weak, keyspace, pool = s.read_pool](
             const embedder& spec,
             const std::vector<uuid>& ids) -> expected<std::vector<std::optional<embedding>>> {
    auto db = weak.lock();
    if (!db) return make_error(ec::internal, "the shard's backend is closed");
    auto keys = vector_keys(ids);
    auto values = read_vector_values(*db, pool, keyspace, keys);
    if (!values) return std::move(values.error());
    std::vector<std::optional<embedding>> out(ids.size());
    for (size_t i = 0; i < ids.size() && i < values->size(); ++i) {
      if (!(*values)[i]) continue;
      auto e = storage::decode_vector(spec, *(*values)[i], keys[i]);
      if (!e) return std::move(e.error());
      out[i] = std::move(*e);
    }
    return out;
  };
}

/// What a quantised (or MaxSim) index's searches re-score their candidates with: the reads of
/// vector_keyspace_reader, each original decoded from where the backend holds it
/// (backend::multi_get_visit: RocksDB's pinned block, LMDB's map) into a scratch that each part of
/// the read reuses, instead of a string and an embedding per original (two allocations and two
/// copies of 4 KB for a 1024-d one: docs/ENGINE.md, "Searches").
storage::originals_visitor vector_keyspace_visitor(const opened_shard& s, size_t j) {
  std::weak_ptr<storage::backend> weak = s.backend;
  auto keyspace = s.layout.vectors(j);
  return
      [weak, keyspace, pool = s.read_pool](const embedder& spec, const std::vector<uuid>& ids,
                                           const storage::original_visit& visit) -> expected<void> {
        auto db = weak.lock();
        if (!db) return make_error(ec::internal, "the shard's backend is closed");
        auto keys = vector_keys(ids);
        auto read_part = [&](const std::vector<std::string>& part, size_t first) -> expected<void> {
          std::vector<float> scratch;
          caf::error bad;
          auto done = db->multi_get_visit(keyspace, part, [&](size_t i, std::string_view value) {
            if (bad) return;
            auto floats = storage::decode_vector_floats(spec, value, part[i], scratch);
            if (!floats) {
              bad = std::move(floats.error());
              return;
            }
            visit(first + i, scratch.data(), *floats);
          });
          if (!done) return done;
          if (bad) return bad;
          return {};
        };
        if (!pool) return read_part(keys, 0);
        return pool->visit(keys, read_part);
      };
}

/// One index as open brought it back.
struct loaded_index {
  std::shared_ptr<index_handle> handle;
  std::optional<storage::snapshot_marker> marker;
  index_recovery recovery;
  /// The file prefixes of the snapshot (and its delta) when it was used (kept by
  /// remove_stale_snapshots).
  std::vector<std::string> live;
  /// Records the rebuild could not decode (appended to opened_shard::problems in order).
  std::vector<std::string> problems;
  caf::error error;
};

/// Brings index `j` back: its snapshot plus the changelog since, or a rebuild from the vector
/// keyspace. Reads `s` (backend, layout, root, sequence) and changes nothing in it, so the
/// indexes of a shard load on several threads at once.
loaded_index load_index(const opened_shard& s, const shard_open_options& opts, size_t j,
                        std::optional<storage::snapshot_marker> marker, std::string reason) {
  const auto& spec = s.layout.profile().embedders[j];
  loaded_index out;
  auto& rec = out.recovery;
  rec.embedder = spec.name;
  rec.reason = std::move(reason);
  auto handle = std::make_shared<index_handle>();
  handle->options = opts.index_options;
  // Index j of shard i retrains at its own count: (j x shards + i) / (embedders x shards) of the
  // spread (index_options::ivf_retrain_phase), as checkpoints are phased per index.
  const size_t embedders = s.layout.profile().embedders.size();
  handle->options.ivf_retrain_phase = static_cast<double>(j * s.count + s.id) /
                                      static_cast<double>(std::max<size_t>(embedders * s.count, 1));
  handle->options.originals = vector_keyspace_reader(s, j);
  handle->options.visit_originals = vector_keyspace_visitor(s, j);
  if (s.read_pool)
    handle->options.run_parts = [pool = s.read_pool](size_t parts,
                                                     const std::function<void(size_t)>& part) {
      pool->run_parts(parts, part);
    };
  handle->index = storage::make_vector_index(spec, handle->options);
  if (!handle->index) {
    out.error =
        make_error(ec::internal, "no index structure for " + describe_profile(s.layout.profile()));
    return out;
  }
  bool loaded = false;
  if (marker && persistent(s)) {
    auto loading = open_clock::now();
    if (marker->sequence > s.sequence) {
      rec.reason = "snapshot marker claims sequence " + std::to_string(marker->sequence) +
                   " beyond the shard's " + std::to_string(s.sequence);
    } else if (auto ok = handle->index->load(
                   snapshot_file(s.root, s.id, spec.name, marker->token),
                   marker->has_delta() ? snapshot_file(s.root, s.id, spec.name, marker->delta)
                                       : std::string{});
               !ok) {
      rec.reason = describe(ok.error());
    } else {
      rec.snapshot_seconds = open_seconds_since(loading);
      auto replaying = open_clock::now();
      auto replayed = replay_changelog(s, j, *handle->index, marker->sequence, rec);
      rec.replay_seconds = open_seconds_since(replaying);
      if (!replayed) {
        rec.reason = describe(replayed.error());
        handle->index = storage::make_vector_index(spec, handle->options);
      } else {
        loaded = true;
        rec.method = "snapshot";
        rec.replayed = *replayed;
        out.live = snapshot_prefixes(spec.name, *marker);
      }
    }
  }
  if (!loaded) {
    auto rebuilding = open_clock::now();
    auto n = rebuild_index(s, j, *handle->index, out.problems);
    rec.snapshot_seconds = open_seconds_since(rebuilding);
    if (!n) {
      out.error = std::move(n.error());
      return out;
    }
    rec.method = *n == 0 && !marker ? "new" : "rebuilt";
    // A snapshot that could not be used is no longer worth keeping.
    if (marker && persistent(s)) marker.reset();
  }
  rec.vectors = handle->index->size();
  handle->applied = s.sequence;
  handle->fresh_at_snapshot = handle->index->stats().fresh;
  out.handle = std::move(handle);
  out.marker = std::move(marker);
  return out;
}

/// Threads that load a shard's catalog and indexes: one per core, at most one per task. Loading
/// is reading files into memory and replaying or rebuilding; the tasks are independent, so with
/// two cores a store opens in about half the time.
size_t load_threads(size_t tasks) {
  size_t cores = std::max<size_t>(std::thread::hardware_concurrency(), 1);
  return std::max<size_t>(1, std::min(cores, tasks));
}

/// CPU seconds a load costs per byte of snapshot, relative to a dense index's: measured on the
/// 1,000,000-memory teleo13 store (docs/BENCHMARKS.md, "Opening a store: the lists' rows
/// mapped"), a dense ivf index maps its rows and loads ≈ 1 s per GB, the multi-vector index
/// 3.1 s for 0.84 GB; a sparse one maps its documents and postings too (0.72 GB) since
/// snapshots hold the postings ("Sparse snapshots that load without building"). A sparse
/// snapshot of the earlier format (documents only, postings built at load: 4.8-5.7 s for
/// 0.37 GB) costs more than this says, once: the next checkpoint writes the new format.
double load_cost_per_byte(embedder_kind kind) {
  switch (kind) {
  case embedder_kind::sparse:
    return 1.0;
  case embedder_kind::multi:
    return 3.5;
  default:
    return 1.0;
  }
}

/// Loads the record catalog and every index, side by side: the catalog first (one scan of the
/// records that cannot be split), then the indexes, the costliest first (snapshot bytes times
/// load_cost_per_byte): the longest load starting last would leave one thread idle at the end.
expected<void> load_catalog_and_indexes(opened_shard& s, const shard_open_options& opts) {
  const auto& embedders = s.layout.profile().embedders;
  // The markers first (small reads), so the largest snapshots can start loading first.
  std::vector<std::optional<storage::snapshot_marker>> markers(embedders.size());
  std::vector<std::string> reasons(embedders.size());
  std::vector<uint64_t> sizes(embedders.size(), 0);
  for (size_t j = 0; j < embedders.size(); ++j) {
    auto key = storage::snapshot_key(embedders[j].name);
    auto value = s.backend->get(s.layout.meta(), key);
    if (!value) return std::move(value.error());
    if (!*value) continue;
    if (auto m = storage::decode_snapshot_marker(**value, key); m) {
      markers[j] = *m;
      if (persistent(s)) {
        std::error_code ec;
        auto bytes = fs::file_size(snapshot_file(s.root, s.id, embedders[j].name, m->token), ec);
        if (!ec) sizes[j] = bytes;
        if (m->has_delta()) {
          bytes = fs::file_size(snapshot_file(s.root, s.id, embedders[j].name, m->delta), ec);
          if (!ec) sizes[j] += bytes;
        }
      }
    } else {
      reasons[j] = describe(m.error());
    }
  }
  std::vector<size_t> order(embedders.size());
  for (size_t j = 0; j < order.size(); ++j)
    order[j] = j;
  std::vector<double> costs(embedders.size());
  for (size_t j = 0; j < costs.size(); ++j)
    costs[j] = static_cast<double>(sizes[j]) * load_cost_per_byte(embedders[j].kind);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<loaded_index> loaded(embedders.size());
  expected<std::shared_ptr<record_catalog>> catalog{
      make_error(ec::internal, "the record catalog was not loaded")};
  std::vector<std::string> catalog_problems;
  // Beside the loads, on a thread of its own: the backend opens its table files (RocksDB reads
  // each one's index and filter blocks), so the first searches after the open do not
  // (backend_options::open_table_files). It waits on the device while the loads use the cores;
  // as one more task of the load threads it made the open of a million memories ~1.5 s longer.
  // Best effort: a failure is reported, the open goes on.
  std::string table_files_problem;
  std::thread table_files;
  if (opts.backend_options.open_table_files)
    table_files = std::thread{[&] {
      const auto started = open_clock::now();
      try {
        if (auto opened = s.backend->open_table_files(); !opened)
          table_files_problem = "table files not opened ahead: " + describe(opened.error());
      } catch (const std::exception& e) {
        table_files_problem = std::string{"table files not opened ahead: "} + e.what();
      }
      s.timing.table_files_seconds = open_seconds_since(started);
    }};
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < order.size() + 1;) {
      if (i == 0) {
        const auto started = open_clock::now();
        try {
          catalog = load_catalog(s, catalog_problems);
        } catch (const std::bad_alloc&) {
          catalog = make_error(ec::overloaded, "out of memory loading the record catalog");
        } catch (const std::exception& e) {
          catalog =
              make_error(ec::internal, std::string{"loading the record catalog: "} + e.what());
        }
        s.timing.catalog_seconds = open_seconds_since(started);
        continue;
      }
      auto j = order[i - 1];
      try {
        loaded[j] = load_index(s, opts, j, markers[j], std::move(reasons[j]));
      } catch (const std::bad_alloc&) {
        // As on the caller's thread, where open would have thrown it: no memory for the index.
        loaded[j].error =
            make_error(ec::overloaded, "out of memory loading the index of " + embedders[j].name);
      } catch (const std::exception& e) {
        loaded[j].error =
            make_error(ec::internal, "loading the index of " + embedders[j].name + ": " + e.what());
      }
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < load_threads(embedders.size() + 1); ++t)
    helpers.emplace_back(work);
  work();
  for (auto& t : helpers)
    t.join();
  if (table_files.joinable()) table_files.join();
  if (!catalog) return std::move(catalog.error());
  s.catalog = std::move(*catalog);
  s.problems.insert(s.problems.end(), std::make_move_iterator(catalog_problems.begin()),
                    std::make_move_iterator(catalog_problems.end()));
  if (!table_files_problem.empty()) s.problems.push_back(std::move(table_files_problem));
  std::vector<std::string> live;
  markers.clear();
  for (auto& l : loaded) {
    s.problems.insert(s.problems.end(), std::make_move_iterator(l.problems.begin()),
                      std::make_move_iterator(l.problems.end()));
    if (l.error) return std::move(l.error);
    for (auto& prefix : l.live)
      live.push_back(std::move(prefix));
    s.indexes.push_back(std::move(l.handle));
    markers.push_back(std::move(l.marker));
    s.recovery.push_back(std::move(l.recovery));
  }
  if (persistent(s)) remove_stale_snapshots(snapshot_directory(s.root, s.id), live);
  s.snapshots =
      std::make_shared<snapshot_book>(s.root, s.id, s.backend, s.layout, std::move(markers));
  return {};
}

/// Before two-phase commit, a write spanning shards left roll-forward intents in this keyspace
/// until its other shards applied it. This build applies none: a store a crash left with some is
/// refused (ec::format_mismatch naming how many), never opened with half a write.
expected<void> refuse_pending_intents(const opened_shard& s) {
  auto ks = s.layout.keyspace(legacy_intents_keyspace);
  if (!ks) return std::move(ks.error());
  auto it = s.backend->scan_prefix(*ks, {});
  if (!it) return std::move(it.error());
  uint64_t pending = 0;
  for (auto& i = *it; i->valid(); i->next())
    ++pending;
  if (auto err = (*it)->status()) return err;
  if (pending == 0) return {};
  return make_error(ec::format_mismatch,
                    "shard " + std::to_string(s.id) +
                        (s.root.empty() ? "" : " of '" + s.root + "'") + " holds " +
                        std::to_string(pending) +
                        " pending cross-shard intent(s): a write spanning shards that a crash "
                        "interrupted under a Telos before two-phase commit replaced intents; open "
                        "the store once with that version to finish it, then with this one");
}

} // namespace

// -- open / close ---------------------------------------------------------------------------------

expected<opened_shard> open_shard(const shard_open_options& opts) {
  opened_shard s;
  s.id = opts.shard;
  s.count = opts.shard_count;
  if (opts.backend != storage::backend_kind::memory) s.root = opts.root;
  // Reads from memory gain nothing from other threads.
  if (persistent(s)) s.read_pool = opts.read_pool;
  auto extra = opts.extra_keyspaces;
  if (opts.graph)
    for (const auto& name : storage::graph_keyspace_names())
      if (std::find(extra.begin(), extra.end(), name) == extra.end()) extra.push_back(name);
  if (opts.graph && std::find(extra.begin(), extra.end(), legacy_intents_keyspace) == extra.end())
    extra.emplace_back(legacy_intents_keyspace);
  auto layout = storage::shard_layout::make(opts.profile, extra);
  if (!layout) return std::move(layout.error());
  s.layout = std::move(*layout);
  auto bopts = opts.backend_options;
  bopts.keyspaces = s.layout.keyspaces();
  if (persistent(s)) {
    bopts.path = backend_directory(s.root, s.id);
    if (bopts.create_if_missing) {
      std::error_code ec;
      fs::create_directories(s.root, ec);
      if (ec) return make_error(ec::io_error, "cannot create '" + s.root + "': " + ec.message());
    }
  }
  auto opening = open_clock::now();
  auto db = storage::make_backend(opts.backend, bopts);
  if (!db) return std::move(db.error());
  s.timing.backend_seconds = open_seconds_since(opening);
  s.backend = std::shared_ptr<storage::backend>{std::move(*db)};
  auto fail = [&](caf::error err) -> expected<opened_shard> {
    s.backend->close();
    return err;
  };
  if (auto ok = init_or_check_meta(s, opts); !ok) return fail(std::move(ok.error()));
  auto sequence = read_counter(*s.backend, s.layout, storage::meta_keys::sequence, 0);
  if (!sequence) return fail(std::move(sequence.error()));
  s.sequence = *sequence;
  auto loading = open_clock::now();
  if (auto ok = load_catalog_and_indexes(s, opts); !ok) return fail(std::move(ok.error()));
  s.timing.load_seconds = open_seconds_since(loading);
  if (opts.graph) {
    auto graph_opts = graph_options_of(s, opts);
    if (!graph_opts) return fail(std::move(graph_opts.error()));
    auto graph = storage::shard_graph::open(*s.backend, std::move(*graph_opts));
    if (!graph) return fail(std::move(graph.error()));
    s.graph = std::move(*graph);
    if (auto ok = refuse_pending_intents(s); !ok) return fail(std::move(ok.error()));
  }
  return s;
}

expected<void> close_shard(opened_shard& s) {
  if (!s.backend) return {};
  caf::error first_error;
  if (s.snapshots)
    if (auto ok = s.snapshots->close(s.indexes); !ok) first_error = std::move(ok.error());
  if (auto ok = s.backend->flush(); !ok && !first_error) first_error = std::move(ok.error());
  if (auto ok = s.backend->close(); !ok && !first_error) first_error = std::move(ok.error());
  s.backend.reset();
  if (first_error) return first_error;
  return {};
}

} // namespace telos
