// Write-write conflict detection for snapshot-isolated transactions, shared by every backend.
//
// Each backend numbers its commits with an increasing sequence (RocksDB: the DB sequence number,
// LMDB: the write transaction id, memory: a counter). A transaction remembers the sequence of its
// snapshot; every commit - transactional or a plain write - records its keys with its sequence
// while any transaction is open. A transaction may commit only if none of its keys was recorded
// with a sequence above its snapshot. Records are pruned as soon as no open snapshot is older.
#pragma once

#include "telos/messages/write_batch.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace telos::storage::detail {

class conflict_tracker {
public:
  /// A key another commit wrote after a snapshot.
  struct conflict {
    keyspace_id ks;
    std::string key;
    uint64_t snapshot_seq;
    uint64_t commit_seq;
  };

  /// Registers a transaction. `take_snapshot` runs under the tracker's lock after the transaction
  /// counts as open and returns the sequence its snapshot reflects (or nullopt if it failed: then
  /// nothing is registered), so a writer that saw no open transaction after applying its batch
  /// is certainly inside the snapshot.
  template <class TakeSnapshot>
  std::optional<uint64_t> open(TakeSnapshot&& take_snapshot) {
    std::lock_guard<std::mutex> lock{mutex_};
    open_count_.fetch_add(1, std::memory_order_seq_cst);
    std::optional<uint64_t> seq;
    try {
      seq = take_snapshot();
    } catch (...) {
      close_locked(std::nullopt);
      throw;
    }
    if (seq)
      snapshots_.insert(*seq);
    else
      close_locked(std::nullopt);
    return seq;
  }

  /// Unregisters a transaction that was opened with snapshot `seq`.
  void close(uint64_t seq) {
    std::lock_guard<std::mutex> lock{mutex_};
    close_locked(seq);
  }

  /// Whether any transaction is open; writers call record() only then. Read after applying.
  bool any_open() const { return open_count_.load(std::memory_order_seq_cst) != 0; }

  /// Records the keys of a commit with sequence `seq`. Commits must be recorded in sequence
  /// order (callers hold their writer lock).
  void record(uint64_t seq, const write_batch& batch);

  /// The first key of `batch` written after `snapshot_seq`, if any.
  std::optional<conflict> find(uint64_t snapshot_seq, const write_batch& batch) const;

  /// Number of keys currently remembered (for tests: records must not outlive the snapshots).
  size_t remembered() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return last_write_.size();
  }

private:
  static std::string tracked_key(keyspace_id ks, std::string_view key);
  void close_locked(std::optional<uint64_t> seq);

  mutable std::mutex mutex_;
  std::atomic<uint64_t> open_count_{0};
  /// Snapshot sequences of the open transactions (with multiplicity).
  std::multiset<uint64_t> snapshots_;
  /// Last recorded commit sequence per keyspace+key.
  std::unordered_map<std::string, uint64_t> last_write_;
  /// The records in sequence order, for pruning.
  std::deque<std::pair<uint64_t, std::string>> log_;
};

} // namespace telos::storage::detail
