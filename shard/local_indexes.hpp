// The indexes of the shards this process holds, searched on the caller's thread: the driver of
// search_run that needs no thread hand-off. Each index is read under its handle's shared lock
// (the index actor changes it under the exclusive one), with the overlay of a snapshot save in
// progress (search_handle), and filters are judged on the shard's catalog under the catalog's own
// lock, so answers equal those of the index actors.
#pragma once

#include "telos/shard/open_shard.hpp"
#include "telos/shard/search_run.hpp"

#include <memory>
#include <shared_mutex>
#include <vector>

namespace telos {

class local_indexes {
public:
  /// Shares the index handles and catalogs of `shards` (one per shard, in shard order).
  explicit local_indexes(const std::vector<opened_shard>& shards);

  /// Runs steps 1 and 2 of `run` (top lists, missing exact scores) on this thread, one list after
  /// another; ec::closed once close() ran. The facade uses it for a run of one list (one
  /// embedder, one shard), where it saves every thread hand-off; runs of several lists go to the
  /// index actors, which search them in parallel.
  expected<void> search(search_run& run) const;

  /// Waits for searches in progress; later ones get ec::closed. Call before the shards' indexes
  /// are snapshotted and freed (close_shard).
  void close();

private:
  struct shard_indexes {
    std::vector<std::shared_ptr<index_handle>> indexes;
    std::shared_ptr<const record_catalog> catalog;
  };
  std::vector<shard_indexes> shards_;
  mutable std::shared_mutex alive_;
  bool closed_ = false;
};

} // namespace telos
