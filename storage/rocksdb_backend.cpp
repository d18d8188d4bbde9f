// The RocksDB backend: one column family per keyspace plus "__meta", one shared LRU block cache,
// bloom filters, LZ4 with ZSTD at the bottommost level (none, and blob files, for the keyspaces of
// raw vectors); write statistics for the write amplification. Transactions read from a RocksDB
// snapshot and commit through the shared conflict tracker under the writer lock, so the conflict
// rules and messages are those of every other backend.
#include "telos/messages/envelope.hpp"
#include "telos/storage/backend_checks.hpp"
#include "telos/storage/backend_impls.hpp"
#include "telos/storage/call_gate.hpp"
#include "telos/storage/conflict_tracker.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/rocksdb_fault_fs.hpp"
#include "telos/storage/snapshot_transaction.hpp"
#include "telos/storage/store_dir.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <sys/time.h>

namespace telos::storage::detail {

namespace {

constexpr const char* meta_cf_name = "__meta";
constexpr const char* rocksdb_format_version_key = "format_version";
/// Of max_open_files, the files RocksDB keeps for other than table readers (its
/// kNumNonTableCacheFiles): the table cache holds max_open_files - this many readers.
constexpr int non_table_files = 10;

/// The one mapping from RocksDB statuses to Telos errors; `what` names the operation, keyspace
/// and key.
caf::error status_error(const rocksdb::Status& s, const std::string& what) {
  ec code = ec::io_error;
  if (s.IsCorruption())
    code = ec::corrupt_value;
  else if (s.IsBusy() || s.IsTryAgain())
    code = ec::conflict;
  else if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
    code = ec::locked; // RocksDB's own LOCK file held by a process that ignores our marker
  else if (s.IsInvalidArgument() || s.IsNotSupported())
    code = ec::invalid_argument;
  else if (s.IsNotFound() || s.IsPathNotFound())
    code = ec::not_found;
  else if (s.IsShutdownInProgress() || s.IsColumnFamilyDropped())
    code = ec::closed;
  if (s.IsNoSpace()) return make_error(code, what + ": disk full: " + s.ToString());
  return make_error(code, what + ": " + s.ToString());
}

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

/// RocksDB's informational LOG, written by us. RocksDB's own file logger writes through a
/// WritableFileWriter that asserts (Debian builds RocksDB with assertions: SIGABRT) when it is
/// written again after a failed write, which is what a full disk does to the next log line. This
/// one writes each line with one fwrite and drops the lines it cannot write. It appends across
/// opens and keeps at most two files: past max_bytes, LOG becomes LOG.old (replacing the previous
/// one) and a new LOG starts (a store opened a thousand times had grown a 211 MB LOG).
class rocks_info_log final : public rocksdb::Logger {
public:
  static constexpr long max_bytes = 16L << 20;

  explicit rocks_info_log(std::string path)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), path_(std::move(path)) {
    open_file();
    if (file_ != nullptr && written_ > max_bytes) rotate();
  }
  ~rocks_info_log() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (file_ == nullptr) return;
    char line[1024];
    timeval now{};
    ::gettimeofday(&now, nullptr);
    std::tm parts{};
    ::localtime_r(&now.tv_sec, &parts);
    int head = std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ",
                             parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                             parts.tm_min, parts.tm_sec, static_cast<long>(now.tv_usec));
    if (head < 0) return;
    int body =
        std::vsnprintf(line + head, sizeof(line) - static_cast<size_t>(head) - 1, format, ap);
    if (body < 0) return;
    size_t n = std::min(sizeof(line) - 2, static_cast<size_t>(head) + static_cast<size_t>(body));
    line[n++] = '\n';
    // A line that cannot be written (disk full) is dropped; RocksDB carries on either way.
    std::lock_guard<std::mutex> guard{mutex_};
    if (file_ == nullptr) return;
    if (std::fwrite(line, 1, n, file_) == n) {
      std::fflush(file_);
      written_ += static_cast<long>(n);
      if (written_ > max_bytes) rotate();
    }
  }

private:
  void open_file() {
    file_ = std::fopen(path_.c_str(), "ae");
    written_ = 0;
    if (file_ != nullptr && std::fseek(file_, 0, SEEK_END) == 0) written_ = std::ftell(file_);
  }

  /// LOG -> LOG.old, then a new LOG; if the rename fails the old file is kept and grows.
  void rotate() {
    std::fclose(file_);
    file_ = nullptr;
    (void)std::rename(path_.c_str(), (path_ + ".old").c_str());
    open_file();
  }

  std::string path_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  long written_ = 0;
};

/// fsyncs RocksDB's log files (NNNNNN.log) in `data`, then `data` itself, through descriptors of
/// our own (sync_file). RocksDB hands each write's log record to the OS before the write returns
/// (manual_wal_flush is off), so this makes every write that returned before the call durable.
/// Not DB::SyncWAL(): that syncs through the log's file writer, and RocksDB 7.8 built with
/// assertions (as Debian's is) aborts the process when that writer saw a failed write of the
/// writing thread before; a sync beside a failing write must end in an error, not an abort.
expected<void> sync_log_files(const std::string& data) {
  namespace fs = std::filesystem;
  std::vector<std::string> logs;
  std::error_code ec;
  for (fs::directory_iterator it(data, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0 &&
        std::all_of(name.begin(), name.end() - 4, [](char c) { return c >= '0' && c <= '9'; }))
      logs.push_back(it->path().string());
  }
  if (ec)
    return make_error(ec::io_error, "cannot list the log files in " + data + ": " + ec.message());
  for (const auto& path : logs)
    if (auto synced = sync_file(path); !synced) {
      // Gone: RocksDB deletes a log once the writes in it are in synced table files.
      std::error_code gone;
      if (!fs::exists(path, gone) && !gone) continue;
      return synced;
    }
  // A log created since the directory was last synced needs its entry on disk too.
  return sync_directory_entries(data);
}

/// The open database; shared by the backend, its iterators and transactions, so the DB is closed
/// only when the last of them is gone.
struct rocks_db {
  explicit rocks_db(store_dir opened) : dir(std::move(opened)) {}
  rocks_db(const rocks_db&) = delete;
  rocks_db& operator=(const rocks_db&) = delete;

  ~rocks_db() {
    if (!db) return;
    for (auto* handle : handles)
      db->DestroyColumnFamilyHandle(handle);
    db->Close();
    db.reset();
  }

  /// Declared first, so the directory lock is released after the DB is closed.
  store_dir dir;
  /// The file system of the fault seam while a fault_injector is installed (tests, telos-stress);
  /// else null and RocksDB uses its default environment. Outlives the DB (closed in ~rocks_db).
  std::unique_ptr<rocksdb::Env> fault_env;
  /// Tickers only (no histograms or timers): the bytes behind backend_stats' write figures.
  std::shared_ptr<rocksdb::Statistics> statistics;
  /// The block cache every column family shares (backend_stats::block_cache_bytes).
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::unique_ptr<rocksdb::DB> db;
  /// Every handle opened (declared keyspaces, __meta, and column families the store has but the
  /// caller did not declare: RocksDB insists on opening all).
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  /// Handles of the declared keyspaces, by keyspace id.
  std::vector<rocksdb::ColumnFamilyHandle*> keyspaces;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
};

struct rocks_state {
  rocks_state(const backend_options& opts, std::shared_ptr<rocks_db> opened)
      : names(opts.keyspaces), options(opts), path(opened->dir.path()), db(std::move(opened)),
        raw(db->db.get()), cfs(db->keyspaces) {
    sync_write.sync = true;
  }

  const std::vector<std::string> names;
  const backend_options options;
  const std::string path;
  call_gate gate;
  op_counters counters;
  conflict_tracker tracker;
  /// Serializes commits (so each gets one sequence the tracker can compare) and close().
  std::mutex writer_mutex;
  /// Reset by close(); iterators and transactions hold their own references.
  std::shared_ptr<rocks_db> db;
  /// Fast-path copies of db's pointers: valid while a gate pass or the writer lock is held.
  rocksdb::DB* raw;
  const std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  const rocksdb::ReadOptions read_opts;
  const rocksdb::WriteOptions plain_write;
  rocksdb::WriteOptions sync_write;
  /// The batch every commit is copied into, under the writer lock. Reused, so a commit allocates
  /// and faults in no fresh buffer: in telos-bench, copying a teleo13 memory into a fresh unsized
  /// batch took 39 µs, into a kept one 7 µs (docs/BENCHMARKS.md, "write path steps"), and this
  /// copy runs on the one thread that writes.
  rocksdb::WriteBatch native;
  /// The order the commit's operations are staged in (reused like `native`): by keyspace, then
  /// key, operations on one key in the batch's order (stable). RocksDB's memtable keeps the place
  /// of its last insert, so a key that follows the previous one in the same column family goes in
  /// without a search from the top of the skip list; a group of many memories staged memory by
  /// memory made every insert such a search (docs/BENCHMARKS.md, "Staged in key order").
  std::vector<uint32_t> order;
  /// A commit larger than this does not keep its buffer afterwards.
  static constexpr size_t keep_batch_bytes = size_t{64} << 20;
  /// Set when a write failed with an I/O error (disk full, EIO on write or sync): RocksDB has
  /// stopped writes with a background error, and its WAL writer that saw the error must never be
  /// written again (RocksDB asserts on that). While set, a commit first asks RocksDB to resume
  /// (DB::Resume(): flushes the memtables and starts a fresh WAL) and writes only once it did; so
  /// writes fail cleanly while the cause lasts and succeed again, without a reopen, once it is
  /// gone. Under writer_mutex.
  bool writes_stopped = false;

  transaction_context txn_context() {
    return {&names, backend_kind::rocksdb, &path, &gate, &counters, options.read_only};
  }

  std::string where(keyspace_id ks, std::string_view key) const {
    return "key '" + printable_key(key) + "' in keyspace '" + names[ks] + "' of store " + path;
  }

  /// A batch in RocksDB's form, made by backend::prepare for this store only.
  struct prepared final : prepared_batch {
    uint64_t instance = 0;
    rocksdb::WriteBatch native;
  };

  /// Tells the prepared batches of this open store from any other's.
  const uint64_t instance = next_instance();

  static uint64_t next_instance() {
    static std::atomic<uint64_t> last{0};
    return ++last;
  }

  /// Stages `batch` into `out` by keyspace, then key (see `order`). The caller holds a gate pass
  /// or the writer lock, and has checked the keyspace ids.
  caf::error stage(const write_batch& batch, std::vector<uint32_t>& staged,
                   rocksdb::WriteBatch& out) const {
    const auto& ops = batch.ops();
    staged.resize(ops.size());
    for (uint32_t i = 0; i < staged.size(); ++i)
      staged[i] = i;
    std::stable_sort(staged.begin(), staged.end(), [&ops](uint32_t a, uint32_t b) {
      return ops[a].ks != ops[b].ks ? ops[a].ks < ops[b].ks : ops[a].key < ops[b].key;
    });
    for (auto i : staged) {
      const auto& op = ops[i];
      auto status = op.kind == write_batch::op_kind::put
                        ? out.Put(cfs[op.ks], slice(op.key), slice(op.value))
                        : out.Delete(cfs[op.ks], slice(op.key));
      if (!status.ok()) return status_error(status, "cannot stage " + where(op.ks, op.key));
    }
    return {};
  }

  /// backend::prepare of a checked batch: null when the store closed meanwhile or the batch does
  /// not stage (write() then reports why).
  std::shared_ptr<prepared_batch> prepare(const write_batch& batch) {
    gate_pass pass{gate};
    if (!pass) return nullptr;
    auto p = std::make_shared<prepared>();
    p->instance = instance;
    // Sized at once: growing a batch of a megabyte by doubling copies it about as often again.
    size_t bytes = 64 + batch.byte_size() + 16 * batch.size();
    p->native = rocksdb::WriteBatch{bytes};
    std::vector<uint32_t> staged;
    if (stage(batch, staged, p->native)) return nullptr;
    return p;
  }

  /// Applies a checked batch; conflict-checks it first when it comes from a transaction.
  expected<void> commit_batch(const write_batch& batch, write_options opts,
                              std::optional<uint64_t> snapshot_seq) {
    // Under the writer lock: close() takes it before the column family handles go away.
    std::lock_guard<std::mutex> writer{writer_mutex};
    if (gate.closed()) return closed_error(backend_kind::rocksdb, path);
    // A batch prepared by this store on the thread that built it goes as it is; any other is
    // converted here, into the one batch kept for that.
    auto* ready = dynamic_cast<prepared*>(batch.prepared());
    if (ready && ready->instance != instance) ready = nullptr;
    native.Clear();
    // Drops the buffer of an unusually large commit once it is written (or refused).
    struct release_large {
      rocksdb::WriteBatch& b;
      ~release_large() {
        if (b.GetDataSize() > keep_batch_bytes) b = rocksdb::WriteBatch{};
      }
    } release{native};
    if (!ready)
      if (auto err = stage(batch, order, native)) return err;
    if (snapshot_seq)
      if (auto found = tracker.find(*snapshot_seq, batch)) return conflict_error(names, *found);
    if (writes_stopped)
      if (auto err = resume_writes()) return err;
    bool sync = opts.sync || options.sync_by_default;
    auto status = raw->Write(sync ? sync_write : plain_write, ready ? &ready->native : &native);
    if (!status.ok()) {
      // Anything but a refusal of this batch alone means the write path itself failed.
      if (!status.IsBusy() && !status.IsTryAgain() && !status.IsInvalidArgument() &&
          !status.IsNotSupported())
        writes_stopped = true;
      return status_error(status, "write of " + std::to_string(batch.size()) +
                                      " operations to store " + path +
                                      " failed; reads keep working and writes resume once the "
                                      "cause is gone");
    }
    if (tracker.any_open()) tracker.record(raw->GetLatestSequenceNumber(), batch);
    counters.add_batch(batch);
    return {};
  }

  /// After a failed write: asks RocksDB to recover from its background error. Under writer_mutex.
  caf::error resume_writes() {
    auto status = raw->Resume();
    if (status.ok()) {
      writes_stopped = false;
      return {};
    }
    std::string why = (status.IsNoSpace() ? "disk full: " : "") + status.ToString();
    if (status.severity() >= rocksdb::Status::Severity::kFatalError)
      // RocksDB 7.8 treats a failed write of its log as fatal: only a reopen (which replays the
      // log up to its last intact record) brings writes back.
      return make_error(ec::io_error, "writes to store " + path +
                                          " are stopped after an I/O error RocksDB cannot recover "
                                          "from while open (" +
                                          why + "); nothing was written; reads keep working; " +
                                          std::string{reopen_needed_text});
    // Busy: RocksDB's own automatic recovery is running; ours waits for it.
    if (status.IsBusy()) why = "RocksDB is still recovering";
    return make_error(ec::io_error, "writes to store " + path +
                                        " are stopped after an I/O error and cannot resume yet (" +
                                        why +
                                        "); nothing was written; reads keep working; writes "
                                        "resume once space is freed or the device recovers");
  }
};

/// Read-ahead of a scan of a whole keyspace (rocks_iterator).
constexpr size_t whole_scan_readahead = size_t{2} << 20;

class rocks_iterator final : public iterator {
public:
  rocks_iterator(std::shared_ptr<rocks_state> state, keyspace_id ks, const key_range& range)
      : state_(std::move(state)), db_(state_->db) {
    rocksdb::ReadOptions ro;
    if (!range.begin && !range.end) {
      // A scan of a whole keyspace is a pass over all of it (the record catalog at open, a
      // rebuild from the vector keyspaces, verify): read ahead in large pieces instead of
      // RocksDB's automatic read-ahead (8 KB growing to 256 KB per file), and leave the block
      // cache to the point reads (docs/STORAGE.md, "RocksDB backend").
      ro.readahead_size = whole_scan_readahead;
      ro.fill_cache = false;
    }
    if (range.end) {
      // An inclusive end E is the exclusive bound E + "\0", its immediate successor.
      upper_ = *range.end;
      if (range.end_inclusive) upper_.push_back('\0');
      upper_slice_ = slice(upper_);
      ro.iterate_upper_bound = &upper_slice_;
    }
    // The iterator pins its own implicit snapshot (the sequence at creation): concurrent writes
    // never show through, as with an explicit snapshot but without its bookkeeping.
    it_.reset(db_->db->NewIterator(ro, db_->keyspaces[ks]));
    if (range.begin) {
      it_->Seek(slice(*range.begin));
      if (!range.begin_inclusive && it_->Valid() && it_->key() == slice(*range.begin)) it_->Next();
    } else {
      it_->SeekToFirst();
    }
    settle();
  }

  ~rocks_iterator() override { release(); }

  bool valid() const override { return it_ != nullptr; }
  std::string_view key() const override {
    auto k = it_->key();
    return {k.data(), k.size()};
  }
  std::string_view value() const override {
    auto v = it_->value();
    return {v.data(), v.size()};
  }

  void next() override {
    if (!it_) return;
    if (state_->gate.closed()) {
      end_closed();
      return;
    }
    it_->Next();
    settle();
  }

  caf::error status() const override { return status_; }

private:
  /// The hot path of every step: kept inline, the rest out of line.
  void settle() {
    if (__builtin_expect(it_->Valid(), 1)) return;
    finish();
  }

  /// Releases everything once the iteration ended, so the DB can close without waiting for the
  /// iterator object to be dropped.
  [[gnu::noinline]] void finish() {
    if (!it_->status().ok())
      status_ = status_error(it_->status(), "scan of store " + state_->path + " failed");
    release();
  }

  [[gnu::noinline]] void end_closed() {
    status_ = closed_error(backend_kind::rocksdb, state_->path);
    release();
  }

  void release() {
    it_.reset();
    db_.reset();
    state_.reset();
  }

  std::shared_ptr<rocks_state> state_;
  std::shared_ptr<rocks_db> db_;
  std::string upper_;
  rocksdb::Slice upper_slice_;
  /// Declared last: destroyed before the DB reference it depends on.
  std::unique_ptr<rocksdb::Iterator> it_;
  caf::error status_;
};

class rocks_transaction final : public snapshot_transaction {
public:
  explicit rocks_transaction(std::shared_ptr<rocks_state> state)
      : snapshot_transaction(state->txn_context()), state_(std::move(state)), db_(state_->db) {}

  ~rocks_transaction() override { finish(); }

  /// Takes the snapshot; runs under the conflict tracker's lock.
  uint64_t take_snapshot() {
    snapshot_ = db_->db->GetSnapshot();
    read_opts_.snapshot = snapshot_;
    // A read-only DB may hand out no snapshot; nothing changes under it anyway.
    seq_ = snapshot_ ? snapshot_->GetSequenceNumber() : db_->db->GetLatestSequenceNumber();
    return seq_;
  }

protected:
  expected<std::optional<std::string>> read_snapshot(keyspace_id ks,
                                                     std::string_view key) override {
    std::string value;
    auto status = db_->db->Get(read_opts_, db_->keyspaces[ks], slice(key), &value);
    if (status.ok()) return std::optional<std::string>{std::move(value)};
    if (status.IsNotFound()) return std::optional<std::string>{};
    return status_error(status, "transaction read of " + state_->where(ks, key) + " failed");
  }

  expected<void> apply_commit(const write_batch& batch, write_options opts) override {
    return state_->commit_batch(batch, opts, seq_);
  }

  void release() noexcept override {
    if (snapshot_) db_->db->ReleaseSnapshot(snapshot_);
    snapshot_ = nullptr;
    state_->tracker.close(seq_);
    db_.reset();
  }

private:
  std::shared_ptr<rocks_state> state_;
  std::shared_ptr<rocks_db> db_;
  const rocksdb::Snapshot* snapshot_ = nullptr;
  rocksdb::ReadOptions read_opts_;
  uint64_t seq_ = 0;
};

class rocksdb_backend final : public backend {
public:
  explicit rocksdb_backend(std::shared_ptr<rocks_state> state) : st_(std::move(state)) {}

  ~rocksdb_backend() override { close(); }

  backend_kind kind() const override { return backend_kind::rocksdb; }
  const std::vector<std::string>& keyspaces() const override { return st_->names; }

  expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) const override {
    checked_call call{checks(), ks, key};
    if (!call) return call.error();
    std::string value;
    auto status = st_->raw->Get(st_->read_opts, st_->cfs[ks], slice(key), &value);
    if (status.ok()) {
      st_->counters.add_reads(1);
      return std::optional<std::string>{std::move(value)};
    }
    if (status.IsNotFound()) {
      st_->counters.add_reads(1);
      return std::optional<std::string>{};
    }
    return status_error(status, "get of " + st_->where(ks, key) + " failed");
  }

  expected<std::vector<std::optional<std::string>>>
  multi_get(keyspace_id ks, const std::vector<std::string>& keys) const override {
    return collect_visited(keys.size(), [&](const value_visitor& visit) {
      return read_many(ks, keys, st_->read_opts, visit);
    });
  }

  expected<void> multi_get_visit(keyspace_id ks, const std::vector<std::string>& keys,
                                 const value_visitor& visit) const override {
    // The values are used once (a re-score's originals, a few in a million), so their blocks stay
    // out of the block cache: each miss there cost an allocation, an insert and an eviction (and
    // pushed out the blocks other reads use), more than the read itself from the page cache
    // (docs/STORAGE.md, "RocksDB backend").
    rocksdb::ReadOptions once = st_->read_opts;
    once.fill_cache = false;
    return read_many(ks, keys, once, visit);
  }

  expected<bool> contains(keyspace_id ks, std::string_view key) const override {
    checked_call call{checks(), ks, key};
    if (!call) return call.error();
    rocksdb::PinnableSlice value;
    auto status = st_->raw->Get(st_->read_opts, st_->cfs[ks], slice(key), &value);
    if (status.ok() || status.IsNotFound()) {
      st_->counters.add_reads(1);
      return status.ok();
    }
    return status_error(status, "contains of " + st_->where(ks, key) + " failed");
  }

  expected<std::unique_ptr<iterator>> scan(keyspace_id ks, const key_range& range) const override {
    checked_call call{checks(), ks};
    if (!call) return call.error();
    auto it = std::make_unique<rocks_iterator>(st_, ks, range);
    if (auto err = it->status()) return err;
    return std::unique_ptr<iterator>{std::move(it)};
  }

  expected<std::unique_ptr<iterator>> scan_prefix(keyspace_id ks,
                                                  std::string_view prefix) const override {
    return scan(ks, prefix_range(prefix));
  }

  expected<void> write(const write_batch& batch, write_options opts) override {
    if (auto err = checks().writing(batch)) return err;
    if (batch.empty()) return {};
    return st_->commit_batch(batch, opts, std::nullopt);
  }

  std::shared_ptr<prepared_batch> prepare(const write_batch& batch) const override {
    // A batch write() would refuse gets no form: write() names what is wrong.
    if (batch.empty() || checks().writing(batch)) return nullptr;
    return st_->prepare(batch);
  }

  expected<std::unique_ptr<transaction>> begin() override {
    checked_call call{checks()};
    if (!call) return call.error();
    auto txn = std::make_unique<rocks_transaction>(st_);
    st_->tracker.open([&] { return std::optional<uint64_t>{txn->take_snapshot()}; });
    return std::unique_ptr<transaction>{std::move(txn)};
  }

  expected<void> flush() override {
    checked_call call{checks()};
    if (!call) return call.error();
    if (st_->options.read_only) return {}; // nothing was written
    rocksdb::FlushOptions fo;
    fo.wait = true;
    auto status = st_->raw->Flush(fo, st_->db->handles);
    if (!status.ok()) return status_error(status, "flush of store " + st_->path + " failed");
    return {};
  }

  // A store that syncs every write writes the marker with sync like everything else.
  bool syncs_beside_writes() const override {
    return !st_->options.read_only && !st_->options.sync_by_default;
  }

  expected<void> sync_written() override {
    checked_call call{checks()};
    if (!call) return call.error();
    if (st_->options.read_only) return {}; // nothing was written
    // The log files are synced without joining RocksDB's write queue: writes go on into the
    // current log meanwhile (a write with sync leads its group through the fsync, and every write
    // behind it waits). The log is ordered and recovery replays an intact prefix of it, so what
    // was written before the call is durable once this returns.
    if (auto ok = sync_log_files(st_->db->dir.data_path()); !ok)
      return make_error(ec::io_error, "sync of the log of store " + st_->path +
                                          " failed: " + describe(ok.error()));
    return {};
  }

  expected<size_t> open_table_files() override {
    checked_call call{checks()};
    if (!call) return call.error();
    // With max_open_files -1 RocksDB opened every table file at open already.
    if (st_->options.max_open_files < 0) return size_t{0};
    std::vector<rocksdb::LiveFileMetaData> files;
    st_->raw->GetLiveFilesMetaData(&files);
    // The deepest levels hold most of the data; past the table cache's capacity a file opened
    // now would only push out one opened before it.
    std::stable_sort(files.begin(), files.end(),
                     [](const auto& a, const auto& b) { return a.level > b.level; });
    files.resize(std::min(files.size(), static_cast<size_t>(std::max(
                                            0, st_->options.max_open_files - non_table_files))));
    std::unordered_map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
    for (auto* handle : st_->db->handles)
      by_name.emplace(handle->GetName(), handle);
    rocksdb::ReadOptions ro;
    ro.fill_cache = false; // the value read on the way is not worth a place in the block cache
    rocksdb::PinnableSlice value;
    size_t read = 0;
    for (const auto& f : files) {
      auto it = by_name.find(f.column_family_name);
      if (it == by_name.end()) continue;
      value.Reset();
      auto status = st_->raw->Get(ro, it->second, f.smallestkey, &value);
      if (!status.ok() && !status.IsNotFound())
        return status_error(status, "cannot open table file " + f.name + " of store " + st_->path +
                                        " (keyspace '" + f.column_family_name + "')");
      ++read;
    }
    return read;
  }

  expected<void> compact() override {
    if (auto err = checks().changing("compact")) return err;
    checked_call call{checks()};
    if (!call) return call.error();
    rocksdb::CompactRangeOptions co;
    // Rewrite the bottommost level too, so deleted keys' space comes back; and relocate the live
    // blobs of every blob file, not only of the oldest (vector_blob_gc_age_cutoff), so the space
    // of every replaced or removed vector in a blob file comes back as well.
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    co.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
    co.blob_garbage_collection_age_cutoff = 1.0;
    for (auto* handle : st_->db->handles) {
      auto status = st_->raw->CompactRange(co, handle, nullptr, nullptr);
      if (!status.ok())
        return status_error(status, "compaction of column family '" + handle->GetName() +
                                        "' of store " + st_->path + " failed");
    }
    return {};
  }

  expected<void> checkpoint(const std::string& dir) override {
    checked_call call{checks()};
    if (!call) return call.error();
    namespace fs = std::filesystem;
    std::error_code err;
    if (fs::exists(dir, err))
      return make_error(ec::already_exists, "checkpoint directory " + dir + " already exists");
    fs::create_directories(dir, err);
    if (err)
      return make_error(ec::io_error,
                        "cannot create checkpoint directory " + dir + ": " + err.message());
    auto result = write_checkpoint(dir);
    if (!result) fs::remove_all(dir, err);
    return result;
  }

  expected<backend_stats> stats() const override {
    checked_call call{checks()};
    if (!call) return call.error();
    backend_stats out;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false; // a full scan must not evict the hot set
    for (size_t i = 0; i < st_->names.size(); ++i) {
      keyspace_stats ks{st_->names[i], 0, 0};
      std::unique_ptr<rocksdb::Iterator> it{st_->raw->NewIterator(ro, st_->cfs[i])};
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        ++ks.keys;
        ks.bytes += it->key().size() + it->value().size();
      }
      if (!it->status().ok())
        return status_error(it->status(), "stats scan of keyspace '" + st_->names[i] +
                                              "' of store " + st_->path + " failed");
      out.keyspaces.push_back(std::move(ks));
    }
    st_->counters.fill(out);
    out.disk_bytes = directory_bytes(st_->path);
    out.written = volume();
    out.block_cache_bytes = st_->db->block_cache ? st_->db->block_cache->GetUsage() : 0;
    return out;
  }

  expected<write_volume> written() const override {
    checked_call call{checks()};
    if (!call) return call.error();
    return volume();
  }

  expected<void> close() override {
    if (!st_->gate.close()) return {};
    // Wait for a commit in flight; then drop our reference: the DB closes now, or when the last
    // iterator or transaction still open on it is gone.
    std::lock_guard<std::mutex> writer{st_->writer_mutex};
    st_->db.reset();
    return {};
  }

private:
  /// multi_get and multi_get_visit: one batched MultiGet (every key at one sequence: one snapshot
  /// for the whole call), each present value visited where RocksDB pinned it.
  expected<void> read_many(keyspace_id ks, const std::vector<std::string>& keys,
                           const rocksdb::ReadOptions& ro, const value_visitor& visit) const {
    checked_call call{checks(), ks, keys};
    if (!call) return call.error();
    if (keys.empty()) return {};
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const auto& key : keys)
      slices.emplace_back(key);
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    st_->raw->MultiGet(ro, st_->cfs[ks], keys.size(), slices.data(), values.data(),
                       statuses.data());
    // Every status first: an error changes nothing the caller sees but the error.
    for (size_t i = 0; i < keys.size(); ++i)
      if (!statuses[i].ok() && !statuses[i].IsNotFound())
        return status_error(statuses[i], "multi_get of " + st_->where(ks, keys[i]) + " failed");
    st_->counters.add_reads(keys.size());
    for (size_t i = 0; i < keys.size(); ++i)
      if (statuses[i].ok()) visit(i, std::string_view{values[i].data(), values[i].size()});
    return {};
  }

  call_checks checks() const {
    return {backend_kind::rocksdb, st_->path, st_->options.read_only, st_->names, st_->gate};
  }

  /// The statistics tickers behind write_volume (a gate pass must be held: st_->db is live).
  write_volume volume() const {
    write_volume out;
    const auto& ticks = st_->db->statistics;
    if (!ticks) return out;
    out.user = ticks->getTickerCount(rocksdb::BYTES_WRITTEN);
    out.wal = ticks->getTickerCount(rocksdb::WAL_FILE_BYTES);
    out.flush = ticks->getTickerCount(rocksdb::FLUSH_WRITE_BYTES);
    out.compaction = ticks->getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
    out.blob = ticks->getTickerCount(rocksdb::BLOB_DB_BLOB_FILE_BYTES_WRITTEN);
    out.stall_micros = ticks->getTickerCount(rocksdb::STALL_MICROS);
    // A DB-wide property (asked of the default column family) and a per-keyspace one (summed).
    uint64_t value = 0;
    if (st_->raw->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &value))
      out.running_compactions = value;
    value = 0;
    if (st_->raw->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                                           &value))
      out.pending_compaction_bytes = value;
    return out;
  }

  expected<void> write_checkpoint(const std::string& dir) {
    rocksdb::Checkpoint* raw_checkpoint = nullptr;
    auto status = rocksdb::Checkpoint::Create(st_->raw, &raw_checkpoint);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint{raw_checkpoint};
    if (status.ok()) status = checkpoint->CreateCheckpoint(dir + "/data");
    if (!status.ok())
      return status_error(status, "checkpoint of store " + st_->path + " into " + dir + " failed");
    return store_dir::write_marker(dir, backend_kind::rocksdb);
  }

  std::shared_ptr<rocks_state> st_;
};

/// Options of every column family: one block cache and table factory shared by all.
rocksdb::ColumnFamilyOptions column_family_options(const backend_options& opts,
                                                   std::shared_ptr<rocksdb::TableFactory> tables) {
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory = std::move(tables);
  cf.write_buffer_size = opts.write_buffer_mb << 20;
  if (opts.compression) {
    cf.compression = rocksdb::kLZ4Compression;
    cf.bottommost_compression = rocksdb::kZSTD;
  } else {
    cf.compression = rocksdb::kNoCompression;
    cf.bottommost_compression = rocksdb::kNoCompression;
  }
  return cf;
}

caf::error check_compression_support(const backend_options& opts) {
  if (!opts.compression) return {};
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  if (!has(rocksdb::kLZ4Compression) || !has(rocksdb::kZSTD))
    return make_error(ec::invalid_argument,
                      "compression is on but this RocksDB build lacks LZ4 or ZSTD; open with "
                      "compression off");
  return {};
}

expected<std::shared_ptr<rocks_db>> open_rocks_db(const backend_options& opts, store_dir dir) {
  if (auto err = check_compression_support(opts)) return err;
  auto data = dir.data_path();
  bool creating = dir.creating();
  const std::string path = dir.path();
  if (!creating && !std::filesystem::exists(data + "/CURRENT"))
    return make_error(ec::not_a_store,
                      "store " + path + " has a TELOS marker but no RocksDB files in " + data);

  rocksdb::BlockBasedTableOptions table_opts;
  table_opts.block_cache = rocksdb::NewLRUCache(opts.block_cache_mb << 20);
  if (opts.bloom_filters) table_opts.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  std::shared_ptr<rocksdb::TableFactory> tables{rocksdb::NewBlockBasedTableFactory(table_opts)};
  auto cf_opts = column_family_options(opts, tables);
  // Raw f32 vectors do not compress: LZ4/ZSTD on them only burn CPU. With blob files the LSM tree
  // of a vector keyspace holds keys and blob references, so compactions stop rewriting vectors.
  auto vector_opts = cf_opts;
  vector_opts.compression = rocksdb::kNoCompression;
  vector_opts.bottommost_compression = rocksdb::kNoCompression;
  if (opts.vector_blob_files) {
    vector_opts.enable_blob_files = true;
    vector_opts.min_blob_size = opts.vector_min_blob_bytes;
    vector_opts.blob_compression_type = rocksdb::kNoCompression;
    // Blobs of replaced or removed vectors are reclaimed when compaction meets them in the
    // oldest `vector_blob_gc_age_cutoff` of the blob files.
    vector_opts.enable_blob_garbage_collection = opts.vector_blob_gc_age_cutoff > 0;
    if (vector_opts.enable_blob_garbage_collection)
      vector_opts.blob_garbage_collection_age_cutoff = opts.vector_blob_gc_age_cutoff;
  }
  auto is_vector_keyspace = [&](const std::string& name) {
    return !opts.vector_keyspace_prefix.empty() &&
           name.compare(0, opts.vector_keyspace_prefix.size(), opts.vector_keyspace_prefix) == 0;
  };

  rocksdb::DBOptions db_opts;
  std::unique_ptr<rocksdb::Env> fault_env;
  if (auto injector = installed_fault_injector()) {
    fault_env = rocksdb::NewCompositeEnv(
        make_fault_file_system(rocksdb::FileSystem::Default(), std::move(injector)));
    db_opts.env = fault_env.get();
  }
  db_opts.create_if_missing = creating;
  if (!opts.read_only) {
    std::error_code made;
    std::filesystem::create_directories(data, made);
  }
  db_opts.info_log = std::make_shared<rocks_info_log>(data + "/LOG");
  db_opts.max_open_files = opts.max_open_files;
  // At open RocksDB loads each column family's table files with this many threads, started anew
  // for every column family (default 16): a store has 30-odd column families, so a `telos count`
  // started ~250 threads, a tenth of a second in a plain build and far more under ASan. One thread
  // per core opens a large store as fast.
  db_opts.max_file_opening_threads =
      static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 16u));
  db_opts.max_total_wal_size = static_cast<uint64_t>(opts.max_wal_mb) << 20;
  auto statistics = rocksdb::CreateDBStatistics();
  statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  db_opts.statistics = statistics;

  // RocksDB opens only if every existing column family is named: existing ones, then ours.
  std::vector<std::string> cf_names;
  if (!creating) {
    auto status = rocksdb::DB::ListColumnFamilies(db_opts, data, &cf_names);
    if (!status.ok())
      return status_error(status, "cannot list the column families of store " + path);
  }
  // The column families the store has come first in cf_names: they are opened, and those it
  // lacks (all but the default one of a new store) are created afterwards in one call. Left to
  // create_missing_column_families, RocksDB creates them one at a time, writing, fsyncing and
  // parsing back its OPTIONS file of every column family after each: a new teleo13 store's
  // 30-odd column families cost 1.3 million allocations (0.2 s; 2 s under ASan).
  const size_t existing = std::max<size_t>(cf_names.size(), 1);
  auto add_name = [&](const std::string& name) {
    if (std::find(cf_names.begin(), cf_names.end(), name) == cf_names.end())
      cf_names.push_back(name);
  };
  if (opts.read_only) {
    for (const auto& name : opts.keyspaces)
      if (std::find(cf_names.begin(), cf_names.end(), name) == cf_names.end())
        return make_error(ec::not_found, "keyspace '" + name + "' does not exist in store " + path +
                                             ", which is open read-only");
  }
  add_name(rocksdb::kDefaultColumnFamilyName);
  add_name(meta_cf_name);
  for (const auto& name : opts.keyspaces)
    add_name(name);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : cf_names)
    descriptors.emplace_back(name, is_vector_keyspace(name) ? vector_opts : cf_opts);
  // Read-only opens create nothing: every name must exist (checked above).
  const size_t opened = opts.read_only ? descriptors.size() : existing;
  std::vector<rocksdb::ColumnFamilyDescriptor> missing(
      descriptors.begin() + static_cast<ptrdiff_t>(opened), descriptors.end());
  descriptors.resize(opened);

  auto result = std::make_shared<rocks_db>(std::move(dir));
  result->fault_env = std::move(fault_env);
  result->statistics = std::move(statistics);
  result->block_cache = table_opts.block_cache;
  rocksdb::DB* raw = nullptr;
  auto status =
      opts.read_only
          ? rocksdb::DB::OpenForReadOnly(db_opts, data, descriptors, &result->handles, &raw)
          : rocksdb::DB::Open(db_opts, data, descriptors, &result->handles, &raw);
  if (!status.ok()) return status_error(status, "cannot open RocksDB store " + path);
  result->db.reset(raw);
  if (!missing.empty()) {
    std::vector<rocksdb::ColumnFamilyHandle*> created;
    status = raw->CreateColumnFamilies(missing, &created);
    // Handles of those created before a failure are destroyed with the others.
    result->handles.insert(result->handles.end(), created.begin(), created.end());
    if (!status.ok())
      return status_error(status, "cannot create the column families of store " + path);
  }
  auto handle_of = [&](const std::string& name) {
    auto it = std::find(cf_names.begin(), cf_names.end(), name);
    return result->handles[static_cast<size_t>(it - cf_names.begin())];
  };
  result->meta = handle_of(meta_cf_name);
  for (const auto& name : opts.keyspaces)
    result->keyspaces.push_back(handle_of(name));

  auto expected_version = std::to_string(store_format_version);
  if (creating) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    status = raw->Put(wo, result->meta, rocksdb_format_version_key, expected_version);
    if (!status.ok())
      return status_error(status, "cannot write the format version of new store " + path);
    if (auto sealed = result->dir.seal(); !sealed) return sealed.error();
  } else {
    std::string version;
    status = raw->Get(rocksdb::ReadOptions{}, result->meta, rocksdb_format_version_key, &version);
    if (status.IsNotFound())
      return make_error(ec::format_mismatch, "store " + path + " records no format version in " +
                                                 meta_cf_name + "; expected " + expected_version);
    if (!status.ok()) return status_error(status, "cannot read the format version of " + path);
    if (version != expected_version)
      return make_error(ec::format_mismatch, "store " + path + " records format " +
                                                 printable_key(version) + " in " + meta_cf_name +
                                                 "; expected " + expected_version);
  }
  return result;
}

} // namespace

expected<std::unique_ptr<backend>> make_rocksdb_backend(const backend_options& opts) {
  auto dir =
      store_dir::open(opts.path, backend_kind::rocksdb, opts.create_if_missing, opts.read_only);
  if (!dir) return dir.error();
  auto db = open_rocks_db(opts, std::move(*dir));
  if (!db) return db.error();
  auto state = std::make_shared<rocks_state>(opts, std::move(*db));
  return std::unique_ptr<backend>{std::make_unique<rocksdb_backend>(std::move(state))};
}

} // namespace telos::storage::detail
