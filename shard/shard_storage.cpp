// Opening, recovering and closing a shard, and the reads and checks the backend actor runs.
#include "telos/shard/shard_storage.hpp"

#include "telos/shard/durable_file.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <set>
#include <system_error>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

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

expected<std::optional<std::string>>
get_meta(const storage::backend& db, const storage::shard_layout& layout, std::string_view key) {
  return db.get(layout.meta(), key);
}

/// Reads a u64 meta row; `fallback` when absent.
expected<uint64_t> meta_counter(const storage::backend& db, const storage::shard_layout& layout,
                                std::string_view key, uint64_t fallback) {
  auto value = get_meta(db, layout, key);
  if (!value) return std::move(value.error());
  if (!*value) return fallback;
  return storage::decode_counter(**value, key);
}

/// Writes the identity of a new shard, or checks that of an existing one.
expected<void> init_or_check_meta(opened_shard& s, const shard_open_options& opts) {
  auto& db = *s.backend;
  auto meta = s.layout.meta();
  auto format = get_meta(db, s.layout, storage::meta_keys::format);
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
  auto stored = get_meta(db, s.layout, storage::meta_keys::profile);
  if (!stored) return std::move(stored.error());
  if (!*stored)
    return make_error(ec::corrupt_value, where + " has a format row but no profile row");
  auto stored_profile = storage::decode_profile(**stored, storage::meta_keys::profile);
  if (!stored_profile) return std::move(stored_profile.error());
  if (*stored_profile != opts.profile)
    return make_error(ec::format_mismatch, where + " was created with " +
                                               describe_profile(*stored_profile) +
                                               ", opened with " + describe_profile(opts.profile));
  auto count = meta_counter(db, s.layout, storage::meta_keys::shard_count, 0);
  if (!count) return std::move(count.error());
  auto id = meta_counter(db, s.layout, storage::meta_keys::shard_id, 0);
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
  auto bucket = get_meta(db, s.layout, graph_bucket_key);
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

expected<void> load_catalog(opened_shard& s) {
  auto total = meta_counter(*s.backend, s.layout, storage::meta_keys::count, 0);
  if (!total) return std::move(total.error());
  auto per_namespace = load_namespace_counts(*s.backend, s.layout);
  if (!per_namespace) return std::move(per_namespace.error());
  std::vector<record_fact> facts;
  auto it = s.backend->scan(s.layout.records(), storage::key_range::all());
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    auto m = storage::decode_record(i->value(), i->key());
    if (!m) {
      s.problems.push_back(shard_name(s.id) + ": " + describe(m.error()));
      continue;
    }
    facts.push_back(make_fact(*m));
  }
  if (auto err = (*it)->status()) return err;
  s.catalog = std::make_shared<record_catalog>();
  s.catalog->reset(std::move(facts), *total, std::move(*per_namespace));
  return {};
}

/// Moves every fresh vector into the ANN graph, so a store rebuilt from its vectors searches at
/// full speed.
void settle(storage::vector_index& index) {
  while (index.maintain(size_t{1} << 16) > 0) {
  }
}

/// Refills an empty index from the embedder's vector keyspace.
expected<uint64_t> rebuild_index(opened_shard& s, size_t j, storage::vector_index& index) {
  const auto& spec = s.layout.profile().embedders[j];
  uint64_t n = 0;
  auto it = s.backend->scan(s.layout.vectors(j), storage::key_range::all());
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    auto id = storage::decode_id_key(i->key(), s.layout.keyspaces()[s.layout.vectors(j)]);
    auto e =
        id ? storage::decode_vector(spec, i->value(), i->key()) : expected<embedding>{id.error()};
    if (!e) {
      s.problems.push_back(shard_name(s.id) + ": " + describe(e.error()));
      continue;
    }
    index.upsert(*id, *e);
    ++n;
  }
  if (auto err = (*it)->status()) return err;
  settle(index);
  return n;
}

/// Re-reads the current vector of every id the changelog names after `after`.
expected<uint64_t> replay_changelog(opened_shard& s, size_t j, storage::vector_index& index,
                                    uint64_t after) {
  const auto& spec = s.layout.profile().embedders[j];
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
  for (size_t begin = 0; begin < ids.size(); begin += replay_chunk) {
    auto end = std::min(ids.size(), begin + replay_chunk);
    std::vector<std::string> keys;
    for (size_t k = begin; k < end; ++k)
      keys.emplace_back(ids[k].view());
    auto values = s.backend->multi_get(s.layout.vectors(j), keys);
    if (!values) return std::move(values.error());
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
  }
  // No settle() here: the snapshot's fresh vectors stay fresh (searched exactly, as before the
  // close), so answers right after the restart are those before it; the index actor moves them
  // into the graph in the background, as it would have without the restart.
  return ids.size();
}

/// What a quantised index re-scores its candidates with: one multi_get on the embedder's vector
/// keyspace. Holds the backend weakly, so an index never keeps a closed shard's backend open.
storage::originals_reader vector_keyspace_reader(const opened_shard& s, size_t j) {
  std::weak_ptr<storage::backend> weak = s.backend;
  auto keyspace = s.layout.vectors(j);
  return [weak, keyspace](
             const embedder& spec,
             const std::vector<uuid>& ids) -> expected<std::vector<std::optional<embedding>>> {
    auto db = weak.lock();
    if (!db) return make_error(ec::internal, "the shard's backend is closed");
    std::vector<std::string> keys;
    keys.reserve(ids.size());
    for (const auto& id : ids)
      keys.emplace_back(id.view());
    auto values = db->multi_get(keyspace, keys);
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

expected<void> load_indexes(opened_shard& s, const shard_open_options& opts) {
  const auto& embedders = s.layout.profile().embedders;
  std::vector<std::string> live;
  std::vector<std::optional<storage::snapshot_marker>> markers;
  for (size_t j = 0; j < embedders.size(); ++j) {
    const auto& spec = embedders[j];
    auto handle = std::make_shared<index_handle>();
    handle->options = opts.index_options;
    handle->options.originals = vector_keyspace_reader(s, j);
    handle->index = storage::make_vector_index(spec, handle->options);
    if (!handle->index)
      return make_error(ec::internal,
                        "no index structure for " + describe_profile(s.layout.profile()));
    index_recovery rec;
    rec.embedder = spec.name;
    std::optional<storage::snapshot_marker> marker;
    auto key = storage::snapshot_key(spec.name);
    if (auto value = get_meta(*s.backend, s.layout, key); !value) {
      return std::move(value.error());
    } else if (*value) {
      if (auto m = storage::decode_snapshot_marker(**value, key); m)
        marker = *m;
      else
        rec.reason = describe(m.error());
    }
    bool loaded = false;
    if (marker && persistent(s)) {
      if (marker->sequence > s.sequence) {
        rec.reason = "snapshot marker claims sequence " + std::to_string(marker->sequence) +
                     " beyond the shard's " + std::to_string(s.sequence);
      } else if (auto ok =
                     handle->index->load(snapshot_file(s.root, s.id, spec.name, marker->token));
                 !ok) {
        rec.reason = describe(ok.error());
      } else if (auto replayed = replay_changelog(s, j, *handle->index, marker->sequence);
                 !replayed) {
        rec.reason = describe(replayed.error());
        handle->index = storage::make_vector_index(spec, handle->options);
      } else {
        loaded = true;
        rec.method = "snapshot";
        rec.replayed = *replayed;
        live.push_back(snapshot_prefix(spec.name, marker->token));
      }
    }
    if (!loaded) {
      auto n = rebuild_index(s, j, *handle->index);
      if (!n) return std::move(n.error());
      rec.method = *n == 0 && !marker ? "new" : "rebuilt";
      // A snapshot that could not be used is no longer worth keeping.
      if (marker && persistent(s)) marker.reset();
    }
    rec.vectors = handle->index->size();
    handle->applied = s.sequence;
    handle->fresh_at_snapshot = handle->index->stats().fresh;
    s.indexes.push_back(std::move(handle));
    markers.push_back(marker);
    s.recovery.push_back(std::move(rec));
  }
  if (persistent(s)) remove_stale_snapshots(snapshot_directory(s.root, s.id), live);
  s.snapshots =
      std::make_shared<snapshot_book>(s.root, s.id, s.backend, s.layout, std::move(markers));
  return {};
}

} // namespace

// -- directories ----------------------------------------------------------------------------------

// -- index handles -------------------------------------------------------------------------------

namespace {

void check_rwlock(int rc, const char* what) {
  if (rc != 0) throw std::system_error(rc, std::generic_category(), what);
}

} // namespace

writer_first_lock::writer_first_lock() {
  pthread_rwlockattr_t attr;
  check_rwlock(pthread_rwlockattr_init(&attr), "pthread_rwlockattr_init");
  check_rwlock(pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
               "pthread_rwlockattr_setkind_np");
  auto rc = pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
  check_rwlock(rc, "pthread_rwlock_init");
}

writer_first_lock::~writer_first_lock() {
  pthread_rwlock_destroy(&lock_);
}

void writer_first_lock::lock() {
  check_rwlock(pthread_rwlock_wrlock(&lock_), "pthread_rwlock_wrlock");
}

void writer_first_lock::unlock() {
  check_rwlock(pthread_rwlock_unlock(&lock_), "pthread_rwlock_unlock");
}

void writer_first_lock::lock_shared() {
  check_rwlock(pthread_rwlock_rdlock(&lock_), "pthread_rwlock_rdlock");
}

void writer_first_lock::unlock_shared() {
  check_rwlock(pthread_rwlock_unlock(&lock_), "pthread_rwlock_unlock");
}

std::vector<hit> search_index(const storage::vector_index& index, const record_catalog& catalog,
                              const embedding& query, uint32_t k, const filter& f) {
  if (k == 0) return {};
  if (f.empty()) return index.search(query, k);
  auto admission = catalog.admit(f);
  storage::id_predicate allow = [&admission](const uuid& id) { return admission(id); };
  return index.search(query, k, &allow);
}

std::string backend_directory(const std::string& root, uint32_t shard) {
  return root + "/shard-" + std::to_string(shard);
}

std::string snapshot_directory(const std::string& root, uint32_t shard) {
  return root + "/indexes/shard-" + std::to_string(shard);
}

std::string manifest_path(const std::string& root) {
  return root + "/MANIFEST";
}

std::string describe_profile(const telos::profile& p) {
  std::string out = "profile '" + p.name + "' (";
  for (size_t i = 0; i < p.embedders.size(); ++i) {
    const auto& e = p.embedders[i];
    if (i > 0) out += ", ";
    out += e.name + " " + to_string(e.kind) + " " + std::to_string(e.dim);
    if (e.kind == embedder_kind::dense) out += std::string{" "} + to_string(e.metric);
    // The index policy, when it is not the default, so that two profiles a store refuses to mix
    // never print alike.
    const auto& policy = e.index;
    if (policy.structure != index_structure::hnsw)
      out += std::string{" "} + to_string(policy.structure);
    if (policy.quantization != quantization::none)
      out += std::string{" "} + to_string(policy.quantization);
    if (policy.m != 0) out += " m" + std::to_string(policy.m);
    if (policy.ef_construction != 0) out += " efc" + std::to_string(policy.ef_construction);
    if (policy.oversample != 0) out += " x" + std::to_string(policy.oversample);
  }
  return out + ")";
}

expected<std::optional<store_manifest>> read_manifest(const std::string& root) {
  auto path = manifest_path(root);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<store_manifest>{};
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(ec::io_error, "cannot read '" + path + "': " + ec.message());
  // A manifest is a few hundred bytes; anything huge is not ours.
  if (size > (1u << 20))
    return make_error(ec::corrupt_value,
                      "'" + path + "' is " + std::to_string(size) + " bytes, not a Telos manifest");
  std::string bytes(size, '\0');
  auto fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(ec::io_error, "cannot open '" + path + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ::close(fd);
      return make_error(ec::io_error, "cannot read '" + path + "'");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  auto m = decode_value<store_manifest>(bytes, path);
  if (!m) return std::move(m.error());
  return std::optional<store_manifest>{std::move(*m)};
}

expected<void> write_manifest(const std::string& root, const store_manifest& m) {
  return replace_file(manifest_path(root), encode_value(m));
}

// -- open / close ---------------------------------------------------------------------------------

expected<opened_shard> open_shard(const shard_open_options& opts) {
  opened_shard s;
  s.id = opts.shard;
  s.count = opts.shard_count;
  if (opts.backend != storage::backend_kind::memory) s.root = opts.root;
  auto extra = opts.extra_keyspaces;
  if (opts.graph)
    for (const auto& name : storage::graph_keyspace_names())
      if (std::find(extra.begin(), extra.end(), name) == extra.end()) extra.push_back(name);
  if (opts.graph && std::find(extra.begin(), extra.end(), intents_keyspace) == extra.end())
    extra.emplace_back(intents_keyspace);
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
  auto db = storage::make_backend(opts.backend, bopts);
  if (!db) return std::move(db.error());
  s.backend = std::shared_ptr<storage::backend>{std::move(*db)};
  auto fail = [&](caf::error err) -> expected<opened_shard> {
    s.backend->close();
    return err;
  };
  if (auto ok = init_or_check_meta(s, opts); !ok) return fail(std::move(ok.error()));
  auto sequence = meta_counter(*s.backend, s.layout, storage::meta_keys::sequence, 0);
  if (!sequence) return fail(std::move(sequence.error()));
  s.sequence = *sequence;
  if (auto ok = load_catalog(s); !ok) return fail(std::move(ok.error()));
  if (auto ok = load_indexes(s, opts); !ok) return fail(std::move(ok.error()));
  if (opts.graph) {
    auto graph_opts = graph_options_of(s, opts);
    if (!graph_opts) return fail(std::move(graph_opts.error()));
    auto graph = storage::shard_graph::open(*s.backend, std::move(*graph_opts));
    if (!graph) return fail(std::move(graph.error()));
    s.graph = std::move(*graph);
    auto ks = s.layout.keyspace(intents_keyspace);
    if (!ks) return fail(std::move(ks.error()));
    auto intents = load_intents(*s.backend, *ks, s.layout.meta());
    if (!intents) return fail(std::move(intents.error()));
    s.intents_keyspace = *ks;
    s.intents = std::move(*intents);
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

// -- reads ----------------------------------------------------------------------------------------

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

// -- verify ---------------------------------------------------------------------------------------

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
    auto stored_total = meta_counter(db_, layout_, storage::meta_keys::count, 0);
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

} // namespace telos
