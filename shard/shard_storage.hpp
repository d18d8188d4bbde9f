// A shard's storage outside the actors: the directory layout of a store, its manifest, opening a
// shard with recovery (index snapshot + changelog replay, or a rebuild from the vector keyspace),
// closing it with fresh snapshots, and the blocking reads the backend actor runs. Plain C++ on
// the caller's thread: the facade opens and closes shards, the backend actor reads.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/profile.hpp"
#include "telos/shard/intents.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/shard_graph.hpp"
#include "telos/storage/vector_index.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <string>
#include <vector>

namespace telos {

// -- directories ----------------------------------------------------------------------------------

/// <root>/shard-<id>: the shard's backend directory (the backend puts its own TELOS marker
/// there, which tools use to tell the backend of a store).
std::string backend_directory(const std::string& root, uint32_t shard);
/// <root>/indexes/shard-<id>: the shard's index snapshots.
std::string snapshot_directory(const std::string& root, uint32_t shard);
/// <root>/indexes/shard-<id>/<embedder>-<token>.idx: one index snapshot (the dense index writes
/// its HNSW graph to a file beside it whose name starts the same).
std::string snapshot_file(const std::string& root, uint32_t shard, const std::string& embedder,
                          const uuid& token);
/// Deletes every file of a snapshot directory whose name starts with none of `live` (from
/// snapshot_prefix): snapshots a crash left behind, or ones a newer snapshot replaced.
void remove_stale_snapshots(const std::string& dir, const std::vector<std::string>& live);
/// "<embedder>-<token>": how the files of one snapshot begin.
std::string snapshot_prefix(const std::string& embedder, const uuid& token);
/// <root>/MANIFEST
std::string manifest_path(const std::string& root);

/// What a store is, written at creation next to its shards: read before any shard opens,
/// because the keyspaces to declare depend on the profile.
struct store_manifest {
  uint32_t format = storage::layout_version;
  storage::backend_kind backend = storage::backend_kind::rocksdb;
  telos::profile profile;
  uint32_t shards = 1;
  /// Keyspaces of row contributors the store was written with.
  std::vector<std::string> extra_keyspaces;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(format, backend, profile, shards, extra_keyspaces);
  }
};

/// The manifest at `root`, or nullopt when there is none. A manifest that does not decode is
/// ec::corrupt_value.
expected<std::optional<store_manifest>> read_manifest(const std::string& root);
/// Writes the manifest atomically (temporary file, then rename).
expected<void> write_manifest(const std::string& root, const store_manifest& m);

/// "profile 'x' (E1 dense 8 cosine int8, ...)": how errors name a profile (index policies that
/// differ from the default included).
std::string describe_profile(const telos::profile& p);

// -- open / close ---------------------------------------------------------------------------------

/// A reader-writer lock that lets a waiting writer in before readers that come after it
/// (glibc's PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP; std::shared_mutex prefers readers,
/// so a steady stream of searches could keep an index update out forever). Meets the
/// Lockable and SharedLockable requirements (std::unique_lock, std::shared_lock).
class writer_first_lock {
public:
  writer_first_lock();
  ~writer_first_lock();
  writer_first_lock(const writer_first_lock&) = delete;
  writer_first_lock& operator=(const writer_first_lock&) = delete;
  void lock();
  void unlock();
  void lock_shared();
  void unlock_shared();

private:
  pthread_rwlock_t lock_;
};

/// One embedder's index and the last sequence it applied; shared by the index actor (which
/// applies updates) and the shard's owner (which snapshots it once the actor stopped).
struct index_handle {
  std::unique_ptr<storage::vector_index> index;
  /// What the index was made with (a rebuild makes a new one alike).
  storage::index_options options;
  std::atomic<uint64_t> applied{0};
  /// Set when the index was cleared and filled again (verify --repair): it may then differ from the
  /// snapshot it was loaded from although `applied` did not move.
  std::atomic<bool> replaced{false};
  /// Vectors outside the ANN graph when the index's latest snapshot was loaded or written. With
  /// `applied` still at that snapshot's sequence and as many fresh vectors, nothing changed, and
  /// close_shard keeps the snapshot.
  size_t fresh_at_snapshot = 0;
  /// The index actor holds it exclusively while it changes `index` (or replaces it); the blocking
  /// facade holds it shared while it searches `index` on the caller's thread. The actor's own
  /// reads need no lock: it is the only writer.
  writer_first_lock lock;
};

/// The snapshots of a shard's indexes: which file each index was last saved to (its marker in the
/// shard's meta keyspace), saving new ones, and dropping the changelog entries that every snapshot
/// covers. Shared by the index actors, which checkpoint their index while the shard runs, and by
/// close_shard. Thread-safe; a given index is only ever checkpointed by the one thread that
/// changes it (its actor while it runs, close_shard after), so `applied` is stable meanwhile.
class snapshot_book {
public:
  /// `root` empty: the memory backend, which keeps no snapshots.
  snapshot_book(std::string root, uint32_t shard, std::shared_ptr<storage::backend> backend,
                storage::shard_layout layout,
                std::vector<std::optional<storage::snapshot_marker>> markers);

  bool persistent() const { return !root_.empty(); }
  /// The snapshot index `embedder` has on disk, if any.
  std::optional<storage::snapshot_marker> marker(size_t embedder) const;

  /// Saves index `embedder` at the sequence it applied (a new file, fsynced), records its marker
  /// with a synced write, deletes the snapshot it replaces, and drops the changelog entries that
  /// every index's snapshot now covers. On error the previous snapshot stays in force and the new
  /// file is gone. Nothing to do (and nullopt) for the memory backend.
  expected<std::optional<storage::snapshot_marker>> checkpoint(size_t embedder,
                                                               index_handle& handle);

  /// At close: saves every index that changed since its snapshot (one synced write records every
  /// new marker), keeps the others' snapshots, deletes every other file of the snapshot
  /// directory and the changelog entries every snapshot covers. The first error is returned; the
  /// indexes it did not concern are still saved.
  expected<void> close(const std::vector<std::shared_ptr<index_handle>>& indexes);

private:
  /// Writes index j's snapshot file; the marker is not recorded yet.
  expected<storage::snapshot_marker> save(size_t j, index_handle& handle);
  /// Deletes changelog entries up to the oldest sequence any index's snapshot covers (none while
  /// an index has no snapshot). Call with mutex_ held.
  expected<void> truncate_changelog_locked();

  std::string root_;
  uint32_t shard_;
  std::shared_ptr<storage::backend> backend_;
  storage::shard_layout layout_;
  mutable std::mutex mutex_;
  std::vector<std::optional<storage::snapshot_marker>> markers_;
  /// Changelog entries up to this sequence were deleted by this book.
  uint64_t truncated_ = 0;
};

/// The top `k` hits of `index` among the memories `f` admits (judged on `catalog`); what an index
/// actor answers to a search, and what the facade computes on its own thread.
std::vector<hit> search_index(const storage::vector_index& index, const record_catalog& catalog,
                              const embedding& query, uint32_t k, const filter& f);

struct shard_open_options {
  /// Store directory; empty for the memory backend.
  std::string root;
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  storage::backend_kind backend = storage::backend_kind::memory;
  /// Path and keyspaces are filled in from root and the layout.
  storage::backend_options backend_options;
  telos::profile profile;
  /// Keyspaces of row contributors, after the core ones.
  std::vector<std::string> extra_keyspaces;
  storage::index_options index_options;
  /// Open the shard's graph (interner, quads, edges, attribute and time indexes); its keyspaces
  /// are declared after the extra ones.
  bool graph = false;
  /// What the graph indexes. A new shard stores it; an existing one must have been created with
  /// the same (else ec::format_mismatch); unset = what the shard has (defaults for a new one).
  std::optional<storage::graph_options> graph_options;
};

/// How one index came back at open.
struct index_recovery {
  std::string embedder;
  /// "new", "snapshot" (loaded, then `replayed` changelog ids re-read) or "rebuilt" (scanned the
  /// vector keyspace; `reason` says why the snapshot was not used).
  std::string method;
  uint64_t replayed = 0;
  uint64_t vectors = 0;
  std::string reason;
};

struct opened_shard {
  uint32_t id = 0;
  uint32_t count = 1;
  /// Empty for the memory backend (no snapshots).
  std::string root;
  std::shared_ptr<storage::backend> backend;
  storage::shard_layout layout;
  /// One per embedder, in profile order.
  std::vector<std::shared_ptr<index_handle>> indexes;
  std::shared_ptr<record_catalog> catalog;
  /// The shard's graph, when opened with one.
  std::shared_ptr<storage::shard_graph> graph;
  /// With the graph: the keyspace of roll-forward intents, and what it held at open.
  std::optional<keyspace_id> intents_keyspace;
  stored_intents intents;
  /// Last committed sequence.
  uint64_t sequence = 0;
  /// The indexes' snapshots (markers found at open, then those written by checkpoints).
  std::shared_ptr<snapshot_book> snapshots;
  std::vector<index_recovery> recovery;
  /// Rows skipped while loading because they do not decode (verify reports and repairs them).
  std::vector<std::string> problems;
};

/// Opens (or creates) one shard: checks format, profile and shard identity (ec::format_mismatch
/// naming both sides), loads counters and record facts, and brings every index back.
expected<opened_shard> open_shard(const shard_open_options& opts);

/// Snapshots every index that changed since its last snapshot at the sequence it applied
/// (persistent backends; snapshot_book::close), and closes the backend. Call only once no
/// actor uses the shard any more. Idempotent.
expected<void> close_shard(opened_shard& shard);

// -- reads (run by the backend actor) -------------------------------------------------------------

/// Memories by id from the backend; a memory with a nil id stands for an absent one. Without
/// embeddings only the records are read.
expected<std::vector<memory>> read_memories(const storage::backend& db,
                                            const storage::shard_layout& layout,
                                            const std::vector<uuid>& ids, bool with_embeddings);

/// Up to `limit` memories of namespace ns ("" = all) with ids after `after` (nil = from the
/// start), in id order.
expected<std::vector<memory>> list_memories(const storage::backend& db,
                                            const storage::shard_layout& layout,
                                            const std::string& ns, const uuid& after,
                                            uint64_t limit);

/// Up to `limit` vectors of the embedder at `embedder_index` with ids after `after`; rows that
/// do not decode are skipped (verify reports them).
expected<vector_chunk> scan_vectors(const storage::backend& db, const storage::shard_layout& layout,
                                    size_t embedder_index, const uuid& after, uint64_t limit);

/// Checks every row of a shard: records decode, every record has every vector and its namespace
/// row, every vector and namespace row has a record, counters match, changelog entries decode.
/// With repair: removes rows without a record, memories that are incomplete or do not decode,
/// adds missing namespace rows, rewrites counters and drops index snapshot markers (so the next
/// open rebuilds the indexes from the repaired rows).
expected<storage_check> check_storage(storage::backend& db, const storage::shard_layout& layout,
                                      uint32_t shard, bool repair);

} // namespace telos
