// The LMDB backend: one named database per keyspace plus "__meta" in <dir>/data, one write
// transaction per batch, readers never block the writer. The map starts at lmdb_map_mb and
// doubles when full; since LMDB may move the map when it grows, growth waits until no reader of
// this process holds pointers into it (see grow_map).
#include "telos/messages/envelope.hpp"
#include "telos/storage/backend_checks.hpp"
#include "telos/storage/backend_impls.hpp"
#include "telos/storage/call_gate.hpp"
#include "telos/storage/conflict_tracker.hpp"
#include "telos/storage/fault_injection.hpp"
#include "telos/storage/snapshot_transaction.hpp"
#include "telos/storage/store_dir.hpp"

#include <lmdb.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <thread>
#include <utility>

namespace telos::storage::detail {

namespace {

constexpr const char* meta_db_name = "__meta";
constexpr std::string_view lmdb_format_version_key = "format_version";
/// Readers: pooled short-read transactions plus one per open iterator and transaction.
constexpr unsigned max_readers = 1024;

/// The one mapping from LMDB return codes to Telos errors; `what` names the operation.
caf::error lmdb_error(int rc, const std::string& what) {
  ec code = ec::io_error;
  switch (rc) {
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
    code = ec::corrupt_value;
    break;
  case MDB_VERSION_MISMATCH:
    code = ec::format_mismatch;
    break;
  case MDB_READERS_FULL:
  case MDB_TXN_FULL:
  case MDB_DBS_FULL:
  case MDB_MAP_FULL:
    code = ec::overloaded;
    break;
  case MDB_NOTFOUND:
    code = ec::not_found;
    break;
  case MDB_BAD_VALSIZE:
  case MDB_BAD_DBI:
  case EINVAL:
    code = ec::invalid_argument;
    break;
  case EACCES:
  case EROFS:
    code = ec::read_only;
    break;
  case EAGAIN:
  case EBUSY:
    code = ec::locked;
    break;
  default:
    break;
  }
  if (rc == MDB_PANIC)
    // A failed write of the meta page leaves the environment unusable until it is reopened.
    return make_error(code, what + ": " + mdb_strerror(rc) +
                                " (a fatal LMDB error: " + std::string{reopen_needed_text} + ")");
  return make_error(code, what + ": " + mdb_strerror(rc));
}

MDB_val val(std::string_view s) {
  return {s.size(), const_cast<char*>(s.data())};
}
std::string_view view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// Owns one LMDB handle (lmdb++ style, move-only): `Release` runs exactly once, when the owner is
/// dropped or reset, so no path can leak the handle or release it twice.
template <class T, void (*Release)(T*)>
class lmdb_handle {
public:
  lmdb_handle() = default;
  lmdb_handle(lmdb_handle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  lmdb_handle& operator=(lmdb_handle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  lmdb_handle(const lmdb_handle&) = delete;
  lmdb_handle& operator=(const lmdb_handle&) = delete;
  ~lmdb_handle() { reset(); }

  T* get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != nullptr; }
  /// Where an mdb_*_begin / mdb_*_open call puts a new handle (LMDB sets it only on success).
  T** out() noexcept {
    reset();
    return &handle_;
  }
  /// Gives the handle up to a call that ends it (mdb_txn_commit frees it, success or not).
  T* release() noexcept { return std::exchange(handle_, nullptr); }
  void reset() noexcept {
    if (handle_) Release(std::exchange(handle_, nullptr));
  }

private:
  T* handle_ = nullptr;
};

/// A write (or, at open, read-only) transaction: aborted when dropped unless committed.
using lmdb_txn = lmdb_handle<MDB_txn, mdb_txn_abort>;
/// A cursor: closed when dropped; drop it before the transaction it lives in ends.
using lmdb_cursor = lmdb_handle<MDB_cursor, mdb_cursor_close>;

/// Reset read-only transactions kept for reuse: renewing one skips the reader-table lock that a
/// fresh mdb_txn_begin takes. Lock-free: a slot is taken by exchange, filled by compare-exchange.
class read_txn_pool {
public:
  MDB_txn* take(MDB_env* env, int& rc) {
    for (auto& slot : slots_) {
      if (auto* txn = slot.exchange(nullptr, std::memory_order_acquire)) {
        rc = mdb_txn_renew(txn);
        if (rc == 0) return txn;
        mdb_txn_abort(txn);
      }
    }
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
    return rc == 0 ? txn : nullptr;
  }

  void give(MDB_txn* txn) {
    mdb_txn_reset(txn);
    for (auto& slot : slots_) {
      MDB_txn* empty = nullptr;
      if (slot.compare_exchange_strong(empty, txn, std::memory_order_release)) return;
    }
    mdb_txn_abort(txn);
  }

  void clear() {
    for (auto& slot : slots_)
      if (auto* txn = slot.exchange(nullptr)) mdb_txn_abort(txn);
  }

private:
  std::array<std::atomic<MDB_txn*>, 8> slots_{};
};

/// The open environment; shared by the backend, its iterators and transactions, so it is closed
/// only when the last of them is gone.
struct lmdb_env {
  explicit lmdb_env(store_dir opened) : dir(std::move(opened)) {}
  lmdb_env(const lmdb_env&) = delete;
  lmdb_env& operator=(const lmdb_env&) = delete;

  ~lmdb_env() {
    pool.clear();
    if (env) mdb_env_close(env);
  }

  /// Declared first, so the directory lock is released after the environment is closed.
  store_dir dir;
  MDB_env* env = nullptr;
  std::vector<MDB_dbi> keyspaces;
  MDB_dbi meta = 0;
  read_txn_pool pool;
};

/// A pooled read transaction held for one call.
class short_read {
public:
  explicit short_read(lmdb_env& env) : env_(env), txn_(env.pool.take(env.env, rc_)) {}
  ~short_read() {
    if (txn_) env_.pool.give(txn_);
  }
  short_read(const short_read&) = delete;
  short_read& operator=(const short_read&) = delete;
  int rc() const { return rc_; }
  MDB_txn* txn() const { return txn_; }

private:
  lmdb_env& env_;
  int rc_ = 0;
  MDB_txn* txn_;
};

struct lmdb_state {
  lmdb_state(const backend_options& opts, std::shared_ptr<lmdb_env> opened, size_t map_size)
      : names(opts.keyspaces), options(opts), path(opened->dir.path()), env(std::move(opened)),
        raw(env->env), dbis(env->keyspaces), map_size(map_size) {
    MDB_stat stat;
    if (mdb_env_stat(raw, &stat) == 0) page_size = stat.ms_psize;
  }

  const std::vector<std::string> names;
  const backend_options options;
  const std::string path;
  /// Passes for short reads and for creating iterators and transactions; paused while the map
  /// moves.
  call_gate gate;
  op_counters counters;
  conflict_tracker tracker;
  /// Serializes write transactions, map resizes and close().
  std::mutex writer_mutex;
  /// Reset by close(); iterators and transactions hold their own references.
  std::shared_ptr<lmdb_env> env;
  /// Fast-path copies of env's members: valid while a gate pass or the writer lock is held.
  MDB_env* raw;
  const std::vector<MDB_dbi> dbis;
  /// Current map size; guarded by writer_mutex.
  size_t map_size;
  size_t page_size = 4096;

  /// Threads that hold a long-lived read transaction (an iterator or a transaction), with
  /// multiplicity. The map can move only when this is empty.
  std::mutex pins_mutex;
  std::condition_variable pins_released;
  std::vector<std::thread::id> pins;
  /// One map resize at a time.
  std::mutex grow_mutex;

  transaction_context txn_context() {
    return {&names, backend_kind::lmdb, &path, &gate, &counters, options.read_only};
  }

  std::string where(keyspace_id ks, std::string_view key) const {
    return "key '" + printable_key(key) + "' in keyspace '" + names[ks] + "' of store " + path;
  }

  /// Registers a long-lived reader; called with a gate pass held, so never during a resize.
  std::thread::id pin() {
    auto me = std::this_thread::get_id();
    std::lock_guard<std::mutex> lock{pins_mutex};
    pins.push_back(me);
    return me;
  }

  void unpin(std::thread::id owner) {
    std::lock_guard<std::mutex> lock{pins_mutex};
    auto it = std::find(pins.begin(), pins.end(), owner);
    if (it != pins.end()) pins.erase(it);
    if (pins.empty()) pins_released.notify_all();
  }

  /// Grows the map to at least `min_size` bytes (doubling). The map may move, so this needs every
  /// read transaction of this process out of the way: it waits until no iterator or transaction
  /// is open (`wait` false: gives up instead), then pauses short reads and takes the writer lock.
  /// An open iterator or transaction of the calling thread could never close while we wait:
  /// ec::overloaded then. Called without the writer lock and without a gate pass.
  caf::error grow_map(size_t min_size, bool wait) {
    auto me = std::this_thread::get_id();
    std::lock_guard<std::mutex> one_at_a_time{grow_mutex};
    for (;;) {
      {
        std::unique_lock<std::mutex> lock{pins_mutex};
        if (std::find(pins.begin(), pins.end(), me) != pins.end()) {
          if (!wait) return {};
          return make_error(ec::overloaded,
                            "the LMDB map of store " + path + " is full (" +
                                std::to_string(map_size >> 20) +
                                " MB) and cannot grow while this thread holds an open iterator "
                                "or transaction on the store; drop them and retry");
        }
        if (!pins.empty()) {
          if (!wait) return {};
          pins_released.wait(lock, [this] { return pins.empty() || gate.closed(); });
        }
      }
      if (gate.closed()) return closed_error(backend_kind::lmdb, path);
      gate.pause();
      bool clear;
      {
        // No pass is out, so no new pin can appear until resume(); one may have been taken
        // before the pause, though.
        std::lock_guard<std::mutex> lock{pins_mutex};
        clear = pins.empty();
      }
      if (!clear) {
        gate.resume();
        continue;
      }
      caf::error result;
      {
        std::lock_guard<std::mutex> writer{writer_mutex};
        if (gate.closed()) {
          result = closed_error(backend_kind::lmdb, path);
        } else if (map_size < min_size) {
          auto new_size = map_size;
          while (new_size < min_size)
            new_size *= 2;
          if (int rc = mdb_env_set_mapsize(raw, new_size); rc != 0)
            result = lmdb_error(rc, "cannot grow the LMDB map of store " + path + " to " +
                                        std::to_string(new_size >> 20) + " MB");
          else
            map_size = new_size;
        }
      }
      gate.resume();
      return result;
    }
  }

  /// Bytes the map may need after writing `batch`: the pages in use plus twice the batch (new
  /// leaf pages, copied branch pages) plus slack.
  size_t estimate_need(const write_batch& batch) const {
    MDB_envinfo info;
    mdb_env_info(raw, &info);
    size_t used = (info.me_last_pgno + 1) * page_size;
    return used + 2 * (batch.byte_size() + 64 * batch.size()) + 64 * page_size;
  }

  /// Applies a checked batch in one write transaction; conflict-checks it first when it comes
  /// from a transaction. Grows the map and retries the whole batch when it does not fit.
  expected<void> commit_batch(const write_batch& batch, write_options opts,
                              std::optional<uint64_t> snapshot_seq) {
    bool estimated = false;
    for (;;) {
      size_t grow_to = 0;
      bool must_grow = false;
      {
        std::lock_guard<std::mutex> writer{writer_mutex};
        if (gate.closed()) return closed_error(backend_kind::lmdb, path);
        if (snapshot_seq)
          if (auto found = tracker.find(*snapshot_seq, batch)) return conflict_error(names, *found);
        if (!estimated) {
          estimated = true;
          if (auto need = estimate_need(batch); need > map_size) grow_to = need;
        }
        if (grow_to == 0) {
          auto applied = apply(batch, opts);
          if (applied != MDB_MAP_FULL) {
            if (applied != 0)
              return lmdb_error(applied, "write of " + std::to_string(batch.size()) +
                                             " operations to store " + path + " failed");
            counters.add_batch(batch);
            return {};
          }
          must_grow = true;
          grow_to = map_size * 2;
        }
      }
      // Growth before the first attempt is only a chance to avoid MDB_MAP_FULL: it does not wait
      // for readers. After MDB_MAP_FULL it must happen.
      if (auto err = grow_map(grow_to, must_grow)) return err;
    }
  }

  /// One write transaction; returns the LMDB code. Needs the writer lock.
  int apply(const write_batch& batch, write_options opts) {
    lmdb_txn txn;
    if (int rc = mdb_txn_begin(raw, nullptr, 0, txn.out()); rc != 0) return rc;
    for (const auto& op : batch.ops()) {
      auto key = val(op.key);
      int rc;
      if (op.kind == write_batch::op_kind::put) {
        auto value = val(op.value);
        rc = mdb_put(txn.get(), dbis[op.ks], &key, &value, 0);
      } else {
        rc = mdb_del(txn.get(), dbis[op.ks], &key, nullptr);
        if (rc == MDB_NOTFOUND) rc = 0;
      }
      if (rc != 0) return rc;
    }
    // The id this transaction commits as: what snapshots opened later report.
    uint64_t seq = mdb_txn_id(txn.get());
    bool sync = opts.sync || options.sync_by_default;
    int rc;
    {
      posix_fault_scope faults{path};
      if (!sync) {
        rc = mdb_txn_commit(txn.release());
      } else {
        // A durable commit runs LMDB's own protocol: its data pages (and every unsynced page of
        // commits before) are written and fdatasync'ed before the meta page that points to them
        // is written through the O_DSYNC descriptor. Committing under MDB_NOSYNC and syncing
        // after would let a power cut leave the new meta page on disk without its pages.
        mdb_env_set_flags(raw, MDB_NOSYNC, 0);
        rc = mdb_txn_commit(txn.release());
        mdb_env_set_flags(raw, MDB_NOSYNC, 1);
      }
    }
    if (rc != 0) return rc;
    // Committed: record it.
    if (tracker.any_open()) tracker.record(seq, batch);
    return 0;
  }
};

/// A read transaction plus pin for an iterator or transaction, released exactly once.
class long_read {
public:
  long_read() = default;

  /// Opens; needs a gate pass held by the caller.
  int open(lmdb_state& state) {
    int rc = 0;
    env_ = state.env;
    txn_ = env_->pool.take(env_->env, rc);
    if (!txn_) {
      env_.reset();
      return rc;
    }
    state_ = &state;
    owner_ = state.pin();
    return 0;
  }

  ~long_read() { close(); }
  long_read(const long_read&) = delete;
  long_read& operator=(const long_read&) = delete;

  void close() {
    if (!txn_) return;
    env_->pool.give(txn_);
    txn_ = nullptr;
    state_->unpin(owner_);
    env_.reset();
  }

  MDB_txn* txn() const { return txn_; }
  lmdb_env& env() const { return *env_; }

private:
  std::shared_ptr<lmdb_env> env_;
  MDB_txn* txn_ = nullptr;
  lmdb_state* state_ = nullptr;
  std::thread::id owner_;
};

class lmdb_iterator final : public iterator {
public:
  /// Keeps only the end bound of `range`; start() takes the begin bound.
  lmdb_iterator(std::shared_ptr<lmdb_state> state, const key_range& range)
      : state_(std::move(state)), gate_(&state_->gate), bounded_(range.end.has_value()) {
    end_.end = range.end;
    end_.end_inclusive = range.end_inclusive;
  }

  ~lmdb_iterator() override { release(); }

  /// Positions on the first entry; needs a gate pass held by the caller.
  caf::error start(keyspace_id ks, const key_range& range) {
    if (int rc = read_.open(*state_); rc != 0)
      return lmdb_error(rc, "cannot start a scan of store " + state_->path);
    if (int rc = mdb_cursor_open(read_.txn(), state_->dbis[ks], cursor_.out()); rc != 0) {
      release();
      return lmdb_error(rc, "cannot open a cursor on store " + state_->path);
    }
    int rc;
    if (range.begin && !range.begin->empty()) {
      // LMDB cannot seek to a bound longer than a key may be; seek to its longest prefix that
      // can, then skip what lies before the bound (at most that prefix itself).
      auto bound = std::string_view{*range.begin}.substr(0, max_key_size);
      key_ = val(bound);
      rc = mdb_cursor_get(cursor_.get(), &key_, &value_, MDB_SET_RANGE);
      while (rc == 0 && before_begin(range, view(key_)))
        rc = mdb_cursor_get(cursor_.get(), &key_, &value_, MDB_NEXT);
    } else {
      rc = mdb_cursor_get(cursor_.get(), &key_, &value_, MDB_FIRST);
      while (rc == 0 && before_begin(range, view(key_)))
        rc = mdb_cursor_get(cursor_.get(), &key_, &value_, MDB_NEXT);
    }
    settle(rc);
    return status_;
  }

  bool valid() const override { return static_cast<bool>(cursor_); }
  std::string_view key() const override { return view(key_); }
  std::string_view value() const override { return view(value_); }

  void next() override {
    // The hot path of every step: one flag load, the cursor step, two tests; everything else is
    // out of line so this stays a near-leaf function.
    if (__builtin_expect(cursor_ && !gate_->closed(), 1)) {
      int rc = mdb_cursor_get(cursor_.get(), &key_, &value_, MDB_NEXT);
      if (__builtin_expect(rc == 0 && !bounded_, 1)) return;
      settle(rc);
      return;
    }
    if (cursor_) end_closed();
  }

  caf::error status() const override { return status_; }

private:
  /// Stays on the entry the cursor reached unless it lies past the end bound or there is none.
  [[gnu::noinline]] void settle(int rc) {
    if (rc == 0 && !past_end(end_, view(key_))) return;
    finish(rc);
  }

  /// Ends the iteration at the end bound, the last key or an error; releasing the read
  /// transaction at once lets the map grow even before the iterator object is dropped.
  [[gnu::noinline]] void finish(int rc) {
    if (rc != 0 && rc != MDB_NOTFOUND)
      status_ = lmdb_error(rc, "scan of store " + state_->path + " failed");
    release();
  }

  [[gnu::noinline]] void end_closed() {
    status_ = closed_error(backend_kind::lmdb, state_->path);
    release();
  }

  void release() {
    cursor_.reset(); // before the read transaction it lives in
    read_.close();
    state_.reset();
  }

  std::shared_ptr<lmdb_state> state_;
  /// The store's gate (inside *state_, which outlives every use).
  const call_gate* gate_;
  /// The end bound of the scan (its begin is unused).
  key_range end_;
  /// Whether there is an end bound to compare against.
  bool bounded_;
  long_read read_;
  /// Declared after read_: dropped before the read transaction it lives in.
  lmdb_cursor cursor_;
  MDB_val key_{0, nullptr};
  MDB_val value_{0, nullptr};
  caf::error status_;
};

class lmdb_transaction final : public snapshot_transaction {
public:
  explicit lmdb_transaction(std::shared_ptr<lmdb_state> state)
      : snapshot_transaction(state->txn_context()), state_(std::move(state)) {}

  ~lmdb_transaction() override { finish(); }

  /// Opens the snapshot; runs under the conflict tracker's lock with a gate pass held.
  std::optional<uint64_t> take_snapshot(int& rc) {
    rc = read_.open(*state_);
    if (rc != 0) return std::nullopt;
    seq_ = mdb_txn_id(read_.txn());
    registered_ = true;
    return seq_;
  }

protected:
  expected<std::optional<std::string>> read_snapshot(keyspace_id ks,
                                                     std::string_view key) override {
    auto k = val(key);
    MDB_val v;
    int rc = mdb_get(read_.txn(), state_->dbis[ks], &k, &v);
    if (rc == 0) return std::optional<std::string>{std::in_place, view(v)};
    if (rc == MDB_NOTFOUND) return std::optional<std::string>{};
    return lmdb_error(rc, "transaction read of " + state_->where(ks, key) + " failed");
  }

  expected<void> apply_commit(const write_batch& batch, write_options opts) override {
    // The snapshot is no longer needed (conflicts are judged by its sequence), and holding it
    // would keep the map from growing should this commit need it.
    read_.close();
    return state_->commit_batch(batch, opts, seq_);
  }

  void release() noexcept override {
    read_.close();
    if (registered_) state_->tracker.close(seq_);
    registered_ = false;
  }

private:
  std::shared_ptr<lmdb_state> state_;
  long_read read_;
  uint64_t seq_ = 0;
  bool registered_ = false;
};

class lmdb_backend final : public backend {
public:
  explicit lmdb_backend(std::shared_ptr<lmdb_state> state) : st_(std::move(state)) {}

  ~lmdb_backend() override { close(); }

  backend_kind kind() const override { return backend_kind::lmdb; }
  const std::vector<std::string>& keyspaces() const override { return st_->names; }

  expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) const override {
    checked_call call{checks(), ks, key};
    if (!call) return call.error();
    short_read read{*st_->env};
    if (!read.txn()) return lmdb_error(read.rc(), "cannot read store " + st_->path);
    auto k = val(key);
    MDB_val v;
    int rc = mdb_get(read.txn(), st_->dbis[ks], &k, &v);
    if (rc == 0) {
      st_->counters.add_reads(1);
      return std::optional<std::string>{std::in_place, view(v)};
    }
    if (rc == MDB_NOTFOUND) {
      st_->counters.add_reads(1);
      return std::optional<std::string>{};
    }
    return lmdb_error(rc, "get of " + st_->where(ks, key) + " failed");
  }

  expected<std::vector<std::optional<std::string>>>
  multi_get(keyspace_id ks, const std::vector<std::string>& keys) const override {
    return collect_visited(
        keys.size(), [&](const value_visitor& visit) { return multi_get_visit(ks, keys, visit); });
  }

  expected<void> multi_get_visit(keyspace_id ks, const std::vector<std::string>& keys,
                                 const value_visitor& visit) const override {
    checked_call call{checks(), ks, keys};
    if (!call) return call.error();
    short_read read{*st_->env};
    if (!read.txn()) return lmdb_error(read.rc(), "cannot read store " + st_->path);
    // Every key first: an error changes nothing the caller sees but the error. The values stay in
    // the map while the read transaction lives.
    std::vector<MDB_val> found(keys.size(), MDB_val{0, nullptr});
    std::vector<uint8_t> present(keys.size(), 0);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto k = val(keys[i]);
      int rc = mdb_get(read.txn(), st_->dbis[ks], &k, &found[i]);
      if (rc == 0)
        present[i] = 1;
      else if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "multi_get of " + st_->where(ks, keys[i]) + " failed");
    }
    st_->counters.add_reads(keys.size());
    for (size_t i = 0; i < keys.size(); ++i)
      if (present[i] != 0) visit(i, view(found[i]));
    return {};
  }

  expected<bool> contains(keyspace_id ks, std::string_view key) const override {
    checked_call call{checks(), ks, key};
    if (!call) return call.error();
    short_read read{*st_->env};
    if (!read.txn()) return lmdb_error(read.rc(), "cannot read store " + st_->path);
    auto k = val(key);
    MDB_val v;
    int rc = mdb_get(read.txn(), st_->dbis[ks], &k, &v);
    if (rc == 0 || rc == MDB_NOTFOUND) {
      st_->counters.add_reads(1);
      return rc == 0;
    }
    return lmdb_error(rc, "contains of " + st_->where(ks, key) + " failed");
  }

  expected<std::unique_ptr<iterator>> scan(keyspace_id ks, const key_range& range) const override {
    checked_call call{checks(), ks};
    if (!call) return call.error();
    auto it = std::make_unique<lmdb_iterator>(st_, range);
    if (auto err = it->start(ks, range)) return err;
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

  expected<std::unique_ptr<transaction>> begin() override {
    checked_call call{checks()};
    if (!call) return call.error();
    auto txn = std::make_unique<lmdb_transaction>(st_);
    int rc = 0;
    if (!st_->tracker.open([&] { return txn->take_snapshot(rc); }))
      return lmdb_error(rc, "cannot begin a transaction on store " + st_->path);
    return std::unique_ptr<transaction>{std::move(txn)};
  }

  expected<void> flush() override {
    checked_call call{checks()};
    if (!call) return call.error();
    if (st_->options.read_only) return {}; // nothing was written
    posix_fault_scope faults{st_->path};
    if (int rc = mdb_env_sync(st_->raw, 1); rc != 0)
      return lmdb_error(rc, "flush of store " + st_->path + " failed");
    return {};
  }

  expected<void> compact() override {
    if (auto err = checks().changing("compact")) return err;
    // LMDB reuses freed pages in place and its file never shrinks; there is nothing to rewrite.
    // A compacted copy is what checkpoint() writes.
    return {};
  }

  expected<void> checkpoint(const std::string& dir) override {
    checked_call call{checks()};
    if (!call) return call.error();
    namespace fs = std::filesystem;
    std::error_code err;
    if (fs::exists(dir, err))
      return make_error(ec::already_exists, "checkpoint directory " + dir + " already exists");
    auto data = dir + "/data";
    fs::create_directories(data, err);
    if (err)
      return make_error(ec::io_error,
                        "cannot create checkpoint directory " + data + ": " + err.message());
    caf::error failure;
    if (int rc = mdb_env_copy2(st_->raw, data.c_str(), MDB_CP_COMPACT); rc != 0)
      failure = lmdb_error(rc, "checkpoint of store " + st_->path + " into " + dir + " failed");
    else if (auto marked = store_dir::write_marker(dir, backend_kind::lmdb); !marked)
      failure = marked.error();
    if (!failure) return {};
    fs::remove_all(dir, err);
    return failure;
  }

  expected<backend_stats> stats() const override {
    checked_call call{checks()};
    if (!call) return call.error();
    short_read read{*st_->env};
    if (!read.txn()) return lmdb_error(read.rc(), "cannot read store " + st_->path);
    backend_stats out;
    for (size_t i = 0; i < st_->names.size(); ++i) {
      keyspace_stats ks{st_->names[i], 0, 0};
      lmdb_cursor cursor;
      int rc = mdb_cursor_open(read.txn(), st_->dbis[i], cursor.out());
      if (rc != 0) return lmdb_error(rc, "cannot open a cursor on store " + st_->path);
      MDB_val k;
      MDB_val v;
      for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
        ++ks.keys;
        ks.bytes += k.mv_size + v.mv_size;
      }
      cursor.reset();
      if (rc != MDB_NOTFOUND)
        return lmdb_error(rc, "stats scan of keyspace '" + st_->names[i] + "' of store " +
                                  st_->path + " failed");
      out.keyspaces.push_back(std::move(ks));
    }
    st_->counters.fill(out);
    out.disk_bytes = directory_bytes(st_->path);
    return out;
  }

  // LMDB keeps no such counters (and writes no WAL: a commit writes its pages once).
  expected<write_volume> written() const override {
    checked_call call{checks()};
    if (!call) return call.error();
    return write_volume{};
  }

  expected<void> close() override {
    if (!st_->gate.close()) return {};
    {
      // Wake a writer waiting for iterators to close so it can see that the store did.
      std::lock_guard<std::mutex> lock{st_->pins_mutex};
      st_->pins_released.notify_all();
    }
    // Wait for a commit in flight; then drop our reference: the environment closes now, or when
    // the last iterator or transaction still open on it is gone.
    std::lock_guard<std::mutex> writer{st_->writer_mutex};
    st_->env.reset();
    return {};
  }

private:
  call_checks checks() const {
    return {backend_kind::lmdb, st_->path, st_->options.read_only, st_->names, st_->gate};
  }

  std::shared_ptr<lmdb_state> st_;
};

/// Opens the environment and its databases; writes the format version on creation and checks it
/// otherwise.
expected<std::shared_ptr<lmdb_env>> open_lmdb_env(const backend_options& opts, store_dir dir,
                                                  size_t& map_size) {
  const std::string path = dir.path();
  const auto data = dir.data_path();
  bool creating = dir.creating();
  namespace fs = std::filesystem;
  std::error_code fs_err;
  if (!creating && !fs::exists(data + "/data.mdb", fs_err))
    return make_error(ec::not_a_store,
                      "store " + path + " has a TELOS marker but no LMDB files in " + data);
  if (creating) {
    fs::create_directories(data, fs_err);
    if (fs_err) return make_error(ec::io_error, "cannot create " + data + ": " + fs_err.message());
  }
  auto result = std::make_shared<lmdb_env>(std::move(dir));
  if (int rc = mdb_env_create(&result->env); rc != 0) {
    result->env = nullptr;
    return lmdb_error(rc, "cannot create an LMDB environment for " + path);
  }
  auto* env = result->env;
  mdb_env_set_maxdbs(env, static_cast<MDB_dbi>(opts.keyspaces.size() + 1));
  mdb_env_set_maxreaders(env, max_readers);
  mdb_env_set_mapsize(env, std::max<size_t>(opts.lmdb_map_mb, 1) << 20);
  // MDB_NOTLS: read transactions belong to iterators and transactions, not threads.
  // MDB_NOSYNC: commits are not flushed; a write with sync (or flush()) calls mdb_env_sync.
  unsigned flags = MDB_NOTLS | MDB_NOSYNC | (opts.read_only ? MDB_RDONLY : 0);
  int open_rc;
  {
    posix_fault_scope faults{path};
    open_rc = mdb_env_open(env, data.c_str(), flags, 0644);
  }
  if (open_rc != 0) return lmdb_error(open_rc, "cannot open LMDB store " + path);
  if (!creating) {
    // A data file shorter than the pages its meta page claims would fault (SIGBUS) on the first
    // access through the map: refuse it as corrupt instead.
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &stat) == 0) {
      auto needed = (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
      auto actual = fs::file_size(data + "/data.mdb", fs_err);
      if (!fs_err && actual < needed)
        return make_error(ec::corrupt_value, "store " + path + ": data.mdb holds " +
                                                 std::to_string(actual) +
                                                 " bytes but its meta page uses " +
                                                 std::to_string(needed) + ": truncated");
    }
  }
  if (mdb_env_get_maxkeysize(env) < static_cast<int>(max_key_size))
    return make_error(ec::internal, "this LMDB build allows keys of " +
                                        std::to_string(mdb_env_get_maxkeysize(env)) +
                                        " bytes, fewer than Telos' " +
                                        std::to_string(max_key_size));

  lmdb_txn txn;
  if (int rc = mdb_txn_begin(env, nullptr, opts.read_only ? MDB_RDONLY : 0, txn.out()); rc != 0)
    return lmdb_error(rc, "cannot open the databases of store " + path);
  unsigned db_flags = opts.read_only ? 0 : MDB_CREATE;
  for (const auto& name : opts.keyspaces) {
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn.get(), name.c_str(), db_flags, &dbi);
    if (rc == MDB_NOTFOUND)
      return make_error(ec::not_found, "keyspace '" + name + "' does not exist in store " + path +
                                           ", which is open read-only");
    if (rc != 0) return lmdb_error(rc, "cannot open keyspace '" + name + "' of " + path);
    result->keyspaces.push_back(dbi);
  }
  int rc = mdb_dbi_open(txn.get(), meta_db_name, db_flags, &result->meta);
  if (rc == MDB_NOTFOUND)
    return make_error(ec::format_mismatch, "store " + path + " has no " + meta_db_name +
                                               " database with its format version");
  if (rc != 0) return lmdb_error(rc, "cannot open " + std::string{meta_db_name});
  auto expected_version = std::to_string(store_format_version);
  auto key = val(lmdb_format_version_key);
  if (creating) {
    auto value = val(expected_version);
    if (rc = mdb_put(txn.get(), result->meta, &key, &value, 0); rc != 0)
      return lmdb_error(rc, "cannot write the format version of new store " + path);
  } else {
    MDB_val value;
    rc = mdb_get(txn.get(), result->meta, &key, &value);
    if (rc == MDB_NOTFOUND)
      return make_error(ec::format_mismatch, "store " + path + " records no format version in " +
                                                 meta_db_name + "; expected " + expected_version);
    if (rc != 0) return lmdb_error(rc, "cannot read the format version of " + path);
    if (view(value) != expected_version)
      return make_error(ec::format_mismatch, "store " + path + " records format " +
                                                 printable_key(view(value)) + " in " +
                                                 meta_db_name + "; expected " + expected_version);
  }
  // Committing (also a read-only transaction) makes the database handles usable by others.
  if (rc = mdb_txn_commit(txn.release()); rc != 0)
    return lmdb_error(rc, "cannot open the databases of store " + path);
  if (creating) {
    if (rc = mdb_env_sync(env, 1); rc != 0) return lmdb_error(rc, "cannot sync new store " + path);
    if (auto sealed = result->dir.seal(); !sealed) return sealed.error();
  }
  MDB_envinfo info;
  mdb_env_info(env, &info);
  map_size = info.me_mapsize;
  return result;
}

} // namespace

expected<std::unique_ptr<backend>> make_lmdb_backend(const backend_options& opts) {
  auto dir = store_dir::open(opts.path, backend_kind::lmdb, opts.create_if_missing, opts.read_only);
  if (!dir) return dir.error();
  size_t map_size = 0;
  auto env = open_lmdb_env(opts, std::move(*dir), map_size);
  if (!env) return env.error();
  auto state = std::make_shared<lmdb_state>(opts, std::move(*env), map_size);
  return std::unique_ptr<backend>{std::make_unique<lmdb_backend>(std::move(state))};
}

} // namespace telos::storage::detail
