// Index snapshots of a shard: writing them while the shard runs (checkpoints) and at close,
// recording their markers, and dropping the changelog entries they make redundant.
#include "telos/shard/snapshot_book.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace telos {

std::string snapshot_prefix(const std::string& embedder, const uuid& token) {
  return embedder + "-" + token.to_string();
}

std::string snapshot_file(const std::string& root, uint32_t shard, const std::string& embedder,
                          const uuid& token) {
  return snapshot_directory(root, shard) + "/" + snapshot_prefix(embedder, token) + ".idx";
}

void remove_stale_snapshots(const std::string& dir, const std::vector<std::string>& live) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator{dir, ec}) {
    auto name = entry.path().filename().string();
    bool keep = std::any_of(live.begin(), live.end(), [&](const std::string& prefix) {
      return name.compare(0, prefix.size(), prefix) == 0;
    });
    if (!keep) fs::remove_all(entry.path(), ec);
  }
}

namespace {

/// Deletes the files of one snapshot (the index file and what the index wrote beside it).
void remove_snapshot(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator{dir, ec}) {
    auto name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) == 0) fs::remove_all(entry.path(), ec);
  }
}

} // namespace

snapshot_book::snapshot_book(std::string root, uint32_t shard,
                             std::shared_ptr<storage::backend> backend,
                             storage::shard_layout layout,
                             std::vector<std::optional<storage::snapshot_marker>> markers)
    : root_(std::move(root)), shard_(shard), backend_(std::move(backend)),
      layout_(std::move(layout)), markers_(std::move(markers)) {}

std::optional<storage::snapshot_marker> snapshot_book::marker(size_t embedder) const {
  std::lock_guard guard{mutex_};
  return embedder < markers_.size() ? markers_[embedder] : std::nullopt;
}

expected<storage::snapshot_marker>
snapshot_book::save(size_t j, const storage::vector_index& index, uint64_t sequence,
                    const std::optional<storage::snapshot_marker>& in_force) {
  auto dir = snapshot_directory(root_, shard_);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ec::io_error, "cannot create '" + dir + "': " + ec.message());
  const auto& name = layout_.profile().embedders[j].name;
  // What the index added since the snapshot in force, when it can say so: a delta over that
  // snapshot's base (replacing its delta, if any), instead of the whole index again.
  if (in_force && index.can_save_delta()) {
    storage::snapshot_marker marker{sequence, in_force->token, uuid::random()};
    if (auto ok = index.save_delta(snapshot_file(root_, shard_, name, marker.delta)); !ok)
      return std::move(ok.error());
    return marker;
  }
  storage::snapshot_marker marker{sequence, uuid::random(), uuid{}};
  // Vectors still outside the graph are saved as such; after a load they stay fresh.
  if (auto ok = index.save(snapshot_file(root_, shard_, name, marker.token)); !ok)
    return std::move(ok.error());
  return marker;
}

namespace {

/// Deletes the files of `old` that `now` does not use (its base, its delta).
void remove_replaced(const std::string& dir, const std::string& name,
                     const storage::snapshot_marker& old, const storage::snapshot_marker& now) {
  if (old.token != now.token) remove_snapshot(dir, snapshot_prefix(name, old.token));
  if (old.has_delta() && old.delta != now.delta)
    remove_snapshot(dir, snapshot_prefix(name, old.delta));
}

/// Deletes the files of a snapshot that was written but not recorded (its delta, or its base).
void remove_unrecorded(const std::string& dir, const std::string& name,
                       const storage::snapshot_marker& m) {
  remove_snapshot(dir, snapshot_prefix(name, m.has_delta() ? m.delta : m.token));
}

} // namespace

std::vector<std::string> snapshot_prefixes(const std::string& embedder,
                                           const storage::snapshot_marker& m) {
  std::vector<std::string> out{snapshot_prefix(embedder, m.token)};
  if (m.has_delta()) out.push_back(snapshot_prefix(embedder, m.delta));
  return out;
}

expected<std::optional<storage::snapshot_marker>>
snapshot_book::checkpoint(size_t j, const storage::vector_index& index, uint64_t sequence) {
  if (!persistent()) return std::optional<storage::snapshot_marker>{};
  auto marker = save(j, index, sequence, this->marker(j));
  if (!marker) return std::move(marker.error());
  const auto& name = layout_.profile().embedders[j].name;
  auto dir = snapshot_directory(root_, shard_);
  // The marker must not outlive a crash that loses the commits it covers, and must be durable
  // before the previous snapshot goes. RocksDB's WAL and LMDB's commits are ordered, so the marker
  // comes back after a crash only with every commit before it. A write with sync would hold the
  // shard's writes behind it for the fsync: every checkpoint stalled the ingest for 20-40 ms
  // (docs/BENCHMARKS.md, "Checkpoints no longer stall the writes"). Where the backend syncs beside
  // the writes (RocksDB), the marker is written plainly and the log synced after.
  const bool beside = backend_->syncs_beside_writes();
  write_batch batch;
  batch.put(layout_.meta(), storage::snapshot_key(name), storage::encode_snapshot_marker(*marker));
  if (auto ok = backend_->write(batch, storage::write_options{!beside}); !ok) {
    remove_unrecorded(dir, name, *marker);
    return std::move(ok.error());
  }
  std::optional<storage::snapshot_marker> previous;
  {
    std::lock_guard guard{mutex_};
    previous = markers_[j];
    markers_[j] = *marker;
  }
  if (beside)
    if (auto ok = backend_->sync_written(); !ok)
      // The marker is written but perhaps not durable: a crash may bring back the previous one,
      // so its snapshot stays, and so does the new one the written marker names. The next open
      // deletes whichever the marker it finds does not name.
      return std::move(ok.error());
  // From here on the new snapshot is in force: a crash before the old one is deleted leaves a
  // stale file, which the next open deletes.
  if (previous) remove_replaced(dir, name, *previous, *marker);
  std::lock_guard guard{mutex_};
  // The snapshot stands whether or not the changelog could be shortened; a failure here only
  // leaves entries the next checkpoint or close deletes.
  (void)truncate_changelog_locked();
  return std::optional<storage::snapshot_marker>{*marker};
}

expected<void> snapshot_book::truncate_changelog_locked() {
  uint64_t covered = UINT64_MAX;
  for (const auto& m : markers_) {
    if (!m) return {}; // an index without a snapshot replays from the start
    covered = std::min(covered, m->sequence);
  }
  if (markers_.empty() || covered <= truncated_) return {};
  storage::key_range range{std::nullopt, true, storage::changelog_key(covered), true};
  if (truncated_ > 0) {
    range.begin = storage::changelog_key(truncated_);
    range.begin_inclusive = false;
  }
  auto it = backend_->scan(layout_.changelog(), range);
  if (!it) return std::move(it.error());
  write_batch truncate;
  for (auto& i = *it; i->valid(); i->next())
    truncate.del(layout_.changelog(), i->key());
  it->reset();
  if (auto ok = backend_->write(truncate); !ok) return std::move(ok.error());
  truncated_ = covered;
  return {};
}

expected<void> snapshot_book::close(const std::vector<std::shared_ptr<index_handle>>& indexes) {
  if (!persistent()) return {};
  caf::error first_error;
  const auto& embedders = layout_.profile().embedders;
  write_batch batch;
  std::vector<std::optional<storage::snapshot_marker>> next;
  {
    std::lock_guard guard{mutex_};
    next = markers_;
  }
  for (size_t j = 0; j < indexes.size() && j < next.size(); ++j) {
    auto& handle = *indexes[j];
    if (next[j] && !handle.replaced && handle.applied.load() == next[j]->sequence &&
        handle.index->stats().fresh == handle.fresh_at_snapshot)
      // Unchanged since its snapshot (loaded at open, or written by a checkpoint): that snapshot
      // stays, instead of every `telos count` rewriting every index.
      continue;
    const auto fresh = handle.index->stats().fresh;
    auto marker = save(j, *handle.index, handle.applied.load(), next[j]);
    if (!marker) {
      if (!first_error) first_error = std::move(marker.error());
      continue; // the previous snapshot, if any, stays in force
    }
    batch.put(layout_.meta(), storage::snapshot_key(embedders[j].name),
              storage::encode_snapshot_marker(*marker));
    next[j] = *marker;
    handle.fresh_at_snapshot = fresh;
  }
  auto dir = snapshot_directory(root_, shard_);
  std::lock_guard guard{mutex_};
  if (auto ok = backend_->write(batch, storage::write_options{true}); !ok) {
    if (!first_error) first_error = std::move(ok.error());
    // The new files are not recorded: only the snapshots in force stay.
    next = markers_;
  } else {
    for (size_t j = 0; j < next.size() && j < indexes.size(); ++j)
      if (next[j] && next[j] != markers_[j] && !next[j]->has_delta())
        indexes[j]->index->base_kept();
    markers_ = next;
  }
  std::vector<std::string> live;
  for (size_t j = 0; j < markers_.size() && j < embedders.size(); ++j)
    if (markers_[j])
      for (auto& prefix : snapshot_prefixes(embedders[j].name, *markers_[j]))
        live.push_back(std::move(prefix));
  remove_stale_snapshots(dir, live);
  if (auto ok = truncate_changelog_locked(); !ok && !first_error)
    first_error = std::move(ok.error());
  if (first_error) return first_error;
  return {};
}

} // namespace telos
