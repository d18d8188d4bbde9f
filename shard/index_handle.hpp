// One embedder's index as a shard holds it: the index, the sequence it applied, the writer-first
// lock under which the index actor changes it while the facade searches it on the caller's thread,
// and the overlay of updates acknowledged while a snapshot of it is being saved.
#pragma once

#include "telos/shard/index_overlay.hpp"
#include "telos/storage/vector_index.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <pthread.h>

namespace telos {

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
  /// facade holds it shared while it searches `index` on the caller's thread, and so does the
  /// thread that saves a snapshot of `index` in the background. The actor's own reads need no
  /// lock: it is the only writer.
  writer_first_lock lock;
  /// While a snapshot of `index` is saved in the background, `index` is frozen and the updates the
  /// actor acknowledges meanwhile wait here; searches (search_handle) see both. Changed by the
  /// actor under `overlay_lock` held exclusively; read under it held shared, after `lock`.
  index_overlay overlay;
  mutable writer_first_lock overlay_lock;
};

} // namespace telos
