// The one storage interface of Telos, implemented by the memory, RocksDB and LMDB backends with
// identical observable behaviour (tests/conformance proves it). No backend header leaks here.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/messages/write_volume.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace telos::storage {

enum class backend_kind : uint8_t { memory, rocksdb, lmdb };

const char* to_string(backend_kind kind);
/// Parses "memory", "rocksdb" or "lmdb".
expected<backend_kind> parse_backend_kind(std::string_view text);

/// Format version written into every store at creation and checked at open.
inline constexpr uint32_t store_format_version = 1;

/// Longest key any backend accepts (LMDB's default limit, applied to all backends alike). Keys
/// must be 1..max_key_size bytes: an empty or longer key is ec::invalid_argument in every call
/// that takes a key (reads, writes, batches, transactions). Scan bounds and prefixes are not keys
/// and may have any length. Values may be empty and up to several MB.
inline constexpr size_t max_key_size = 511;

struct backend_options {
  /// Directory of the store (ignored by the memory backend).
  std::string path;
  /// Keyspaces, in order: keyspace_id i names keyspaces[i]. Names are 1..255 bytes without NUL,
  /// unique, and must not start with "__" (reserved for the backend's own metadata).
  std::vector<std::string> keyspaces;
  /// Create the directory and the store when missing.
  bool create_if_missing = true;
  /// Refuse every write (write, put, del, committing a transaction that wrote, compact) with
  /// ec::read_only; reads, transactions' reads, flush, stats and checkpoint work. The store must
  /// exist. The memory backend accepts it and stays empty.
  bool read_only = false;
  /// Makes every write sync, whatever its write_options say.
  bool sync_by_default = false;

  // RocksDB
  size_t block_cache_mb = 256;
  /// RocksDB keeps at most this many files open (its table cache holds max_open_files - 10 table
  /// readers, each with its table's index and filter blocks).
  int max_open_files = 1024;
  /// At open, the store opens every table file's reader (open_table_files()) beside loading its
  /// indexes, instead of at the first read that needs the file. RocksDB itself opens only the
  /// first 16 table files at open, and each later first read of a file reads its index block
  /// (~0.5 MB for 64 MB of 1024-d vectors) before the value: right after a reopen of a million
  /// teleo13 memories, with the page cache dropped, that put E1's p99 at 74-94 ms against
  /// 9-11 ms with every file opened ahead, for an open 0.8 s longer (docs/BENCHMARKS.md, "Table
  /// files opened at open").
  bool open_table_files = true;
  /// LZ4 for all levels but the bottommost, which gets ZSTD.
  bool compression = true;
  /// Bloom filters (10 bits/key) on every keyspace's point reads.
  bool bloom_filters = true;
  size_t write_buffer_mb = 64;
  /// Bound on the live write-ahead log (RocksDB max_total_wal_size): past it RocksDB flushes the
  /// keyspaces that hold the oldest log, so a keyspace written rarely does not keep every log
  /// since its last flush alive. Unbounded (0: RocksDB's 4 x the write buffers of all keyspaces,
  /// ~14 GiB with teleo13's 28 keyspaces), a million-memory ingest kept 8 GiB of logs, all
  /// replayed by the next open after a crash (docs/STORAGE.md, "The write-ahead log is bounded").
  size_t max_wal_mb = 1024;
  /// Keyspaces whose names start with this prefix hold incompressible values (raw f32 vectors,
  /// storage/layout.hpp's "vec.<embedder>"): they are never compressed, whatever `compression`
  /// says, and with `vector_blob_files` their values of at least `vector_min_blob_bytes` live in
  /// blob files beside the LSM tree (RocksDB's integrated BlobDB), so compactions rewrite keys and
  /// blob references instead of the vectors (docs/STORAGE.md, "Vector keyspaces"). Empty: no
  /// keyspace is treated so.
  std::string vector_keyspace_prefix = "vec.";
  /// Off by default. With ids in random order (a client's own UUIDv4s) a 1M teleo13 ingest
  /// without blob files rewrote every vector about three more times in compactions, with them
  /// hardly at all; but searches then read each re-scored vector from a blob file with a system
  /// call of its own (no blob cache yet): three times the read calls, E1 p50 3.3 -> 5.6 ms at 1M
  /// (docs/BENCHMARKS.md, "Ids in time order, blob files measured at 1M").
  bool vector_blob_files = false;
  size_t vector_min_blob_bytes = 512;
  /// With `vector_blob_files`: RocksDB's blob_garbage_collection_age_cutoff, the share of blob
  /// files (oldest first) whose live blobs compactions copy into new files, so replaced and
  /// removed vectors give their space back. 0 turns blob garbage collection off. A live blob is
  /// copied each time its file falls into the cutoff, about cutoff / (1 - cutoff) copies per blob
  /// over a growing store's life: RocksDB's 0.25 added a third of the vectors' bytes to an
  /// insert-only load's writes, 0.05 nothing measurable at 200,000 memories. backend::compact()
  /// relocates the live blobs of every blob file, whatever the cutoff.
  double vector_blob_gc_age_cutoff = 0.05;

  // LMDB
  /// Initial map size; the map grows by doubling on MDB_MAP_FULL.
  size_t lmdb_map_mb = 64;
};

struct write_options {
  /// fsync (RocksDB: WAL sync; LMDB: durable commit) before returning.
  bool sync = false;
};

/// A key range for scans. An absent bound is open.
struct key_range {
  std::optional<std::string> begin;
  bool begin_inclusive = true;
  std::optional<std::string> end;
  bool end_inclusive = false;

  static key_range all() { return {}; }
  /// [begin, end)
  static key_range half_open(std::string begin, std::string end) {
    return {std::move(begin), true, std::move(end), false};
  }
};

/// Forward iterator over a consistent snapshot, in ascending unsigned byte order (memcmp). Dropping
/// it early is safe; concurrent writes never show through. Not thread-safe itself, but it may be
/// moved to and used on another thread. key() and value() stay valid until the next next() or the
/// iterator's destruction. After the backend is closed, the next next() ends the iteration with
/// status() ec::closed.
class iterator {
public:
  virtual ~iterator() = default;
  /// True while positioned on an entry.
  virtual bool valid() const = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual void next() = 0;
  /// The error that ended the iteration early, if any.
  virtual caf::error status() const = 0;
};

/// Snapshot-isolated read-write transaction. Reads see the snapshot taken at begin plus this
/// transaction's own writes. commit fails with ec::conflict, naming the keyspace and key, if a key
/// it wrote (put or del) was written by another commit or plain write after its snapshot (first
/// committer wins). put/del only buffer; commit applies them as one atomic batch. After commit (or
/// a failed commit) or rollback, get/put/del/commit fail with ec::invalid_argument; rollback is
/// then a no-op. A commit without writes succeeds, also on a read-only store. After the backend
/// is closed every call fails with ec::closed. The destructor rolls back. Not thread-safe itself.
class transaction {
public:
  virtual ~transaction() = default;
  virtual expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) = 0;
  virtual expected<void> put(keyspace_id ks, std::string_view key, std::string_view value) = 0;
  virtual expected<void> del(keyspace_id ks, std::string_view key) = 0;
  virtual expected<void> commit(write_options opts = {}) = 0;
  virtual void rollback() = 0;
};

struct keyspace_stats {
  std::string name;
  /// Exact number of keys.
  uint64_t keys = 0;
  /// Sum of key and value sizes (logical bytes, before compression).
  uint64_t bytes = 0;
};

struct backend_stats {
  /// One entry per declared keyspace, in id order (the internal "__meta" keyspace is not listed).
  std::vector<keyspace_stats> keyspaces;
  uint64_t reads = 0;   ///< keys read by get / multi_get / contains / transaction get
  uint64_t writes = 0;  ///< puts applied (by write and by transaction commits)
  uint64_t deletes = 0; ///< deletes applied (whether or not the key existed)
  /// Bytes the store occupies on disk (0 for memory).
  uint64_t disk_bytes = 0;
  /// RocksDB, since this open (zeros elsewhere): bytes users wrote and bytes written to files for
  /// them (WAL, flushes, compactions); written.amplification() relates the two.
  write_volume written;
  /// RocksDB: bytes its block cache holds now (0 elsewhere).
  uint64_t block_cache_bytes = 0;
};

/// A store. Thread-safe: every member may be called concurrently from any thread. Errors are
/// checked in this order: ec::closed, ec::read_only (writes), ec::unknown_keyspace /
/// ec::invalid_argument (first offending key or batch operation, in order).
class backend {
public:
  virtual ~backend() = default;

  // -- introspection -----------------------------------------------------------------------------

  virtual backend_kind kind() const = 0;
  /// The keyspace names declared at open, in id order.
  virtual const std::vector<std::string>& keyspaces() const = 0;
  /// The id of a declared keyspace, or ec::unknown_keyspace.
  expected<keyspace_id> keyspace(std::string_view name) const;

  // -- reads (consistent snapshot per call) ------------------------------------------------------

  /// The value, or an empty optional when the key is absent.
  virtual expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) const = 0;
  /// One result per key, in the order given, all from one snapshot.
  virtual expected<std::vector<std::optional<std::string>>>
  multi_get(keyspace_id ks, const std::vector<std::string>& keys) const = 0;
  /// Receives the value of keys[i] for each present key, in key order; the view is valid only
  /// during the call.
  using value_visitor = std::function<void(size_t i, std::string_view value)>;
  /// What multi_get reads (one snapshot, the same errors, counted as reads alike), handed to
  /// `visit` where it lies instead of copied into strings: RocksDB's pinned blocks, LMDB's map.
  /// Absent keys are not visited. For a reader that uses each value once (a quantised index's
  /// re-score of its candidates): RocksDB reads them without filling its block cache. An
  /// exception from `visit` ends the call and propagates. The default implementation visits
  /// multi_get's strings.
  virtual expected<void> multi_get_visit(keyspace_id ks, const std::vector<std::string>& keys,
                                         const value_visitor& visit) const;
  virtual expected<bool> contains(keyspace_id ks, std::string_view key) const = 0;
  virtual expected<std::unique_ptr<iterator>> scan(keyspace_id ks,
                                                   const key_range& range) const = 0;
  virtual expected<std::unique_ptr<iterator>> scan_prefix(keyspace_id ks,
                                                          std::string_view prefix) const = 0;

  // -- writes ------------------------------------------------------------------------------------

  /// Applies every operation of the batch atomically, across keyspaces, in order (a later
  /// operation on the same key wins). An invalid batch (unknown keyspace, bad key) changes
  /// nothing. An empty batch is a successful no-op.
  virtual expected<void> write(const write_batch& batch, write_options opts) = 0;
  expected<void> write(const write_batch& batch) { return write(batch, write_options{}); }
  /// The batch in this backend's own form, made on the calling thread, or null where the backend
  /// has none. Attached to the batch (write_batch::attach), it spares write() the conversion: a
  /// shard prepares each commit group on its own thread while the writer writes the group before.
  /// Checks nothing (write() does); callable from any thread beside every other call. RocksDB: a
  /// native WriteBatch, staged in key order; LMDB and memory: null.
  virtual std::shared_ptr<prepared_batch> prepare(const write_batch& batch) const {
    static_cast<void>(batch);
    return nullptr;
  }
  expected<void> put(keyspace_id ks, std::string_view key, std::string_view value);
  expected<void> del(keyspace_id ks, std::string_view key);
  virtual expected<std::unique_ptr<transaction>> begin() = 0;

  // -- maintenance -------------------------------------------------------------------------------

  /// Makes everything written so far durable.
  virtual expected<void> flush() = 0;
  /// Whether sync_written() syncs beside the writes: a write that comes meanwhile is not held
  /// back for it. A write with sync holds every write behind it until its fsync ended (20-40 ms
  /// on a virtual disk); where this is true, a write that must be durable can be written plainly
  /// and synced after. RocksDB: true (its log is synced beside the writes); LMDB and memory:
  /// false, so such a write goes with sync there.
  virtual bool syncs_beside_writes() const { return false; }
  /// Makes every write that returned before the call durable, as if it had been written with
  /// sync. By default flush() (LMDB: a sync of its file, which a writer may wait for).
  virtual expected<void> sync_written() { return flush(); }
  /// Reclaims space (full compaction); data is unchanged.
  virtual expected<void> compact() = 0;
  /// Opens the readers of the store's table files now rather than at the first read of each
  /// (RocksDB: one point read of each live file's smallest key, deepest levels first, at most as
  /// many files as the table cache holds; each opened reader holds its file's index and filter
  /// blocks). Returns the files read. Data and answers are unchanged. LMDB and memory have no
  /// such files: 0.
  virtual expected<size_t> open_table_files() { return size_t{0}; }
  /// Writes a consistent copy that opens as a store of the same kind; `dir` must not exist
  /// (ec::already_exists). The memory backend has no persistence: ec::invalid_argument.
  virtual expected<void> checkpoint(const std::string& dir) = 0;
  /// Keys and bytes per keyspace (a full scan of every keyspace), operation counters, size on
  /// disk and written().
  virtual expected<backend_stats> stats() const = 0;
  /// Bytes written since open, from counters: no scan, cheap enough to ask every second.
  virtual expected<write_volume> written() const = 0;
  /// Releases the store; every later call fails with ec::closed. Idempotent. Waits for calls in
  /// flight. Files and the directory lock are released once the last iterator and transaction
  /// still open on the store is gone (immediately when there are none).
  virtual expected<void> close() = 0;

protected:
  /// multi_get's answer from a read that visits values in place: `read` runs once with a visitor,
  /// and the n values it visits are copied into strings (a key it does not visit stays empty).
  static expected<std::vector<std::optional<std::string>>>
  collect_visited(size_t n, const std::function<expected<void>(const value_visitor&)>& read);
};

/// Opens (or creates) a store. Errors: ec::not_found (missing directory, create_if_missing off),
/// ec::not_a_store, ec::format_mismatch (other format version or backend kind), ec::locked
/// (open in another process), ec::invalid_argument (bad keyspace list), ec::io_error.
expected<std::unique_ptr<backend>> make_backend(backend_kind kind, const backend_options& opts);

} // namespace telos::storage
