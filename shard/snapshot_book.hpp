// The snapshots of a shard's indexes: where their files are, which file each index was last saved
// to (its marker in the shard's meta keyspace), saving new ones while the shard runs
// (checkpoints) and at close, and dropping the changelog entries that every snapshot covers.
#pragma once

#include "telos/shard/index_handle.hpp"
#include "telos/shard/manifest.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace telos {

/// <root>/indexes/shard-<id>/<embedder>-<token>.idx: one index snapshot (the dense index writes
/// its HNSW graph to a file beside it whose name starts the same).
std::string snapshot_file(const std::string& root, uint32_t shard, const std::string& embedder,
                          const uuid& token);
/// Deletes every file of a snapshot directory whose name starts with none of `live` (from
/// snapshot_prefix): snapshots a crash left behind, or ones a newer snapshot replaced.
void remove_stale_snapshots(const std::string& dir, const std::vector<std::string>& live);
/// "<embedder>-<token>": how the files of one snapshot begin.
std::string snapshot_prefix(const std::string& embedder, const uuid& token);
/// The prefixes of the files a marker names: its base's, and its delta's when it has one.
std::vector<std::string> snapshot_prefixes(const std::string& embedder,
                                           const storage::snapshot_marker& m);
/// The snapshots of a shard's indexes: which file each index was last saved to (its marker in the
/// shard's meta keyspace), saving new ones, and dropping the changelog entries that every snapshot
/// covers. Shared by the index actors, which checkpoint their index while the shard runs (on a
/// thread of their own, while the index is frozen), and by close_shard. Thread-safe; one index is
/// saved by one thread at a time, and nothing changes it meanwhile.
class snapshot_book {
public:
  /// `root` empty: the memory backend, which keeps no snapshots.
  snapshot_book(std::string root, uint32_t shard, std::shared_ptr<storage::backend> backend,
                storage::shard_layout layout,
                std::vector<std::optional<storage::snapshot_marker>> markers);

  bool persistent() const { return !root_.empty(); }
  /// The snapshot index `embedder` has on disk, if any.
  std::optional<storage::snapshot_marker> marker(size_t embedder) const;

  /// Saves `index`, index `embedder` of the shard, as complete up to `sequence` (a new file,
  /// fsynced), records its marker with a synced write, deletes the snapshot it replaces, and drops
  /// the changelog entries that every index's snapshot now covers. On error the previous snapshot
  /// stays in force and the new file is gone. Nothing to do (and nullopt) for the memory backend.
  /// `index` must not change meanwhile (the index actor freezes it); const calls may go on.
  expected<std::optional<storage::snapshot_marker>>
  checkpoint(size_t embedder, const storage::vector_index& index, uint64_t sequence);

  /// At close: saves every index that changed since its snapshot (one synced write records every
  /// new marker), keeps the others' snapshots, deletes every other file of the snapshot
  /// directory and the changelog entries every snapshot covers. The first error is returned; the
  /// indexes it did not concern are still saved.
  expected<void> close(const std::vector<std::shared_ptr<index_handle>>& indexes);

private:
  /// Writes index j's snapshot file, complete up to `sequence`: a delta over the base of
  /// `in_force` when the index can write one (vector_index::can_save_delta), else the whole
  /// index. The marker is not recorded yet.
  expected<storage::snapshot_marker> save(size_t j, const storage::vector_index& index,
                                          uint64_t sequence,
                                          const std::optional<storage::snapshot_marker>& in_force);
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

} // namespace telos
