// Opening a shard with recovery, and closing it: checks its identity and profile, loads its
// counters and record facts, brings every index back (index snapshot + changelog replay, or a
// rebuild from the vector keyspace) and, with the graph, opens it (refusing a shard that an older
// build left with pending roll-forward intents); at close, snapshots the indexes that changed and
// closes the backend. Plain C++ on the caller's thread: the facade and a telosd node open and
// close shards.
#pragma once

#include "telos/messages/profile.hpp"
#include "telos/shard/index_handle.hpp"
#include "telos/shard/manifest.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/shard/snapshot_book.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/read_pool.hpp"
#include "telos/storage/shard_graph.hpp"
#include "telos/storage/vector_index.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// The keyspace of the roll-forward intents that builds before two-phase commit kept with the
/// graph: still declared (a store created then has it), must be empty (open_shard refuses a
/// shard that holds some).
inline constexpr std::string_view legacy_intents_keyspace = "intents";

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
  /// Threads that split each re-score read of the shard's quantised and MaxSim indexes into parts
  /// read at once (storage::read_pool; the facade gives every shard of a store the same pool,
  /// store_options::read_threads); null: each such read is one multi_get on the searching thread.
  std::shared_ptr<storage::read_pool> read_pool;
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
  /// Seconds its loading thread spent: loading the snapshot (or scanning the vector keyspace for
  /// a rebuild), and replaying the changelog after it, of which reading (the changelog, then the
  /// vectors of the ids it names) and applying (decoding and upserting or removing them).
  double snapshot_seconds = 0;
  double replay_seconds = 0;
  double read_seconds = 0;
  double apply_seconds = 0;
};

/// Where a shard's open spent its time, in seconds.
struct shard_open_timing {
  /// Opening the backend (RocksDB recovers its write-ahead log here).
  double backend_seconds = 0;
  /// Loading the record catalog and every index side by side, wall time.
  double load_seconds = 0;
  /// Of those: the record catalog's scan of the records (on one of the load threads), and the
  /// backend opening its table files (on a thread of its own, waited for at the end).
  double catalog_seconds = 0;
  double table_files_seconds = 0;
};

struct opened_shard {
  uint32_t id = 0;
  uint32_t count = 1;
  /// Empty for the memory backend (no snapshots).
  std::string root;
  std::shared_ptr<storage::backend> backend;
  /// shard_open_options::read_pool: what the indexes' re-score reads are split over (may be null).
  std::shared_ptr<storage::read_pool> read_pool;
  storage::shard_layout layout;
  /// One per embedder, in profile order.
  std::vector<std::shared_ptr<index_handle>> indexes;
  std::shared_ptr<record_catalog> catalog;
  /// The shard's graph, when opened with one.
  std::shared_ptr<storage::shard_graph> graph;
  /// Last committed sequence.
  uint64_t sequence = 0;
  /// The indexes' snapshots (markers found at open, then those written by checkpoints).
  std::shared_ptr<snapshot_book> snapshots;
  std::vector<index_recovery> recovery;
  shard_open_timing timing;
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

} // namespace telos
