// The in-memory backend: one ordered map per keyspace, versioned copy-on-write so iterators and
// transactions read a frozen version while writers go on. No persistence.
#include "telos/storage/backend_checks.hpp"
#include "telos/storage/backend_impls.hpp"
#include "telos/storage/call_gate.hpp"
#include "telos/storage/conflict_tracker.hpp"
#include "telos/storage/snapshot_transaction.hpp"

#include <map>
#include <shared_mutex>

namespace telos::storage::detail {

namespace {

using entry_map = std::map<std::string, std::string, std::less<>>;

/// One version of a keyspace. Immutable once an iterator or transaction shares it: a writer that
/// finds it shared copies it first.
struct table {
  entry_map entries;
  /// Sum of key and value sizes.
  uint64_t bytes = 0;
};

struct memory_state {
  explicit memory_state(const backend_options& opts) : names(opts.keyspaces), options(opts) {
    options.path.clear(); // the memory backend has no directory; error texts must not name one
    for (size_t i = 0; i < names.size(); ++i)
      tables.push_back(std::make_shared<table>());
  }

  const std::vector<std::string> names;
  backend_options options;
  call_gate gate;
  op_counters counters;
  conflict_tracker tracker;
  /// Serializes commits (plain and transactional) and close().
  std::mutex writer_mutex;
  /// Guards `tables` and `seq`.
  mutable std::shared_mutex data_mutex;
  std::vector<std::shared_ptr<table>> tables;
  /// Commit sequence: incremented once per applied batch.
  uint64_t seq = 0;

  transaction_context txn_context() {
    return {&names, backend_kind::memory, &options.path, &gate, &counters, options.read_only};
  }

  /// The table of `ks`, copied first if an iterator or transaction shares it. Needs data_mutex
  /// held exclusively: then nobody can take a new reference, so a use count of one is final.
  table& writable(keyspace_id ks) {
    auto& slot = tables[ks];
    if (slot.use_count() != 1) {
      slot = std::make_shared<table>(*slot);
    } else {
      // use_count() is a relaxed load. The last other owner dropped its reference with a release
      // decrement; dropping a probe reference is an acquire-release decrement of the same count,
      // so its reads of the table happen before our writes (a fence would do, but sanitizers do
      // not model fences).
      std::shared_ptr<table> probe = slot;
      probe.reset();
    }
    return *slot;
  }

  /// Applies a checked batch; conflict-checks it first when it comes from a transaction.
  expected<void> commit_batch(const write_batch& batch, std::optional<uint64_t> snapshot_seq) {
    std::lock_guard<std::mutex> writer{writer_mutex};
    if (gate.closed()) return closed_error(backend_kind::memory, options.path);
    if (snapshot_seq)
      if (auto found = tracker.find(*snapshot_seq, batch)) return conflict_error(names, *found);
    uint64_t commit_seq;
    {
      std::unique_lock<std::shared_mutex> data{data_mutex};
      std::vector<table*> touched(names.size(), nullptr);
      for (const auto& op : batch.ops())
        if (!touched[op.ks]) touched[op.ks] = &writable(op.ks);
      for (const auto& op : batch.ops()) {
        auto& t = *touched[op.ks];
        auto it = t.entries.find(op.key);
        if (op.kind == write_batch::op_kind::put) {
          if (it != t.entries.end()) {
            t.bytes -= it->second.size();
            it->second = op.value;
          } else {
            t.bytes += op.key.size();
            t.entries.emplace(op.key, op.value);
          }
          t.bytes += op.value.size();
        } else if (it != t.entries.end()) {
          t.bytes -= it->first.size() + it->second.size();
          t.entries.erase(it);
        }
      }
      commit_seq = ++seq;
    }
    if (tracker.any_open()) tracker.record(commit_seq, batch);
    counters.add_batch(batch);
    return {};
  }
};

class memory_iterator final : public iterator {
public:
  memory_iterator(std::shared_ptr<memory_state> state, std::shared_ptr<const table> snapshot,
                  const key_range& range)
      : state_(std::move(state)), snapshot_(std::move(snapshot)) {
    const auto& entries = snapshot_->entries;
    end_ = entries.end();
    if (range.end)
      end_ =
          range.end_inclusive ? entries.upper_bound(*range.end) : entries.lower_bound(*range.end);
    if (!range.begin)
      it_ = entries.begin();
    else
      it_ = range.begin_inclusive ? entries.lower_bound(*range.begin)
                                  : entries.upper_bound(*range.begin);
    // A begin bound past the end bound leaves nothing to visit.
    if (it_ == entries.end() || past_end(range, it_->first)) it_ = end_;
    if (it_ == end_) release();
  }

  bool valid() const override { return snapshot_ && it_ != end_; }
  std::string_view key() const override { return it_->first; }
  std::string_view value() const override { return it_->second; }

  void next() override {
    if (!snapshot_) return;
    if (state_->gate.closed()) {
      status_ = closed_error(backend_kind::memory, {});
      release();
      return;
    }
    if (++it_ == end_) release();
  }

  caf::error status() const override { return status_; }

private:
  void release() {
    snapshot_.reset();
    state_.reset();
  }

  std::shared_ptr<memory_state> state_;
  std::shared_ptr<const table> snapshot_;
  entry_map::const_iterator it_;
  entry_map::const_iterator end_;
  caf::error status_;
};

class memory_transaction final : public snapshot_transaction {
public:
  explicit memory_transaction(std::shared_ptr<memory_state> state)
      : snapshot_transaction(state->txn_context()), state_(std::move(state)) {}

  ~memory_transaction() override { finish(); }

  /// Takes the snapshot; runs under the conflict tracker's lock.
  uint64_t take_snapshot() {
    std::shared_lock<std::shared_mutex> data{state_->data_mutex};
    snapshot_.assign(state_->tables.begin(), state_->tables.end());
    seq_ = state_->seq;
    return seq_;
  }

protected:
  expected<std::optional<std::string>> read_snapshot(keyspace_id ks,
                                                     std::string_view key) override {
    const auto& entries = snapshot_[ks]->entries;
    auto it = entries.find(key);
    if (it == entries.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  expected<void> apply_commit(const write_batch& batch, write_options) override {
    // Dropping the snapshot first lets the writer update tables in place instead of copying.
    snapshot_.clear();
    return state_->commit_batch(batch, seq_);
  }

  void release() noexcept override {
    snapshot_.clear();
    state_->tracker.close(seq_);
  }

private:
  std::shared_ptr<memory_state> state_;
  std::vector<std::shared_ptr<const table>> snapshot_;
  uint64_t seq_ = 0;
};

class memory_backend final : public backend {
public:
  explicit memory_backend(const backend_options& opts)
      : state_(std::make_shared<memory_state>(opts)) {}

  ~memory_backend() override { close(); }

  backend_kind kind() const override { return backend_kind::memory; }
  const std::vector<std::string>& keyspaces() const override { return state_->names; }

  expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) const override {
    checked_call call{checks(), ks, key};
    if (!call) return call.error();
    std::shared_lock<std::shared_mutex> data{state_->data_mutex};
    const auto& entries = state_->tables[ks]->entries;
    auto it = entries.find(key);
    state_->counters.add_reads(1);
    if (it == entries.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  expected<std::vector<std::optional<std::string>>>
  multi_get(keyspace_id ks, const std::vector<std::string>& keys) const override {
    checked_call call{checks(), ks, keys};
    if (!call) return call.error();
    std::vector<std::optional<std::string>> out;
    out.reserve(keys.size());
    std::shared_lock<std::shared_mutex> data{state_->data_mutex};
    const auto& entries = state_->tables[ks]->entries;
    for (const auto& key : keys) {
      auto it = entries.find(key);
      if (it == entries.end())
        out.emplace_back();
      else
        out.emplace_back(it->second);
    }
    state_->counters.add_reads(keys.size());
    return out;
  }

  expected<bool> contains(keyspace_id ks, std::string_view key) const override {
    checked_call call{checks(), ks, key};
    if (!call) return call.error();
    std::shared_lock<std::shared_mutex> data{state_->data_mutex};
    const auto& entries = state_->tables[ks]->entries;
    state_->counters.add_reads(1);
    return entries.find(key) != entries.end();
  }

  expected<std::unique_ptr<iterator>> scan(keyspace_id ks, const key_range& range) const override {
    checked_call call{checks(), ks};
    if (!call) return call.error();
    std::shared_ptr<const table> snapshot;
    {
      std::shared_lock<std::shared_mutex> data{state_->data_mutex};
      snapshot = state_->tables[ks];
    }
    return std::unique_ptr<iterator>{
        std::make_unique<memory_iterator>(state_, std::move(snapshot), range)};
  }

  expected<std::unique_ptr<iterator>> scan_prefix(keyspace_id ks,
                                                  std::string_view prefix) const override {
    return scan(ks, prefix_range(prefix));
  }

  expected<void> write(const write_batch& batch, write_options) override {
    if (auto err = checks().writing(batch)) return err;
    if (batch.empty()) return {};
    return state_->commit_batch(batch, std::nullopt);
  }

  expected<std::unique_ptr<transaction>> begin() override {
    checked_call call{checks()};
    if (!call) return call.error();
    auto txn = std::make_unique<memory_transaction>(state_);
    state_->tracker.open([&] { return std::optional<uint64_t>{txn->take_snapshot()}; });
    return std::unique_ptr<transaction>{std::move(txn)};
  }

  expected<void> flush() override {
    checked_call call{checks()};
    if (!call) return call.error();
    return {};
  }

  expected<void> compact() override {
    if (auto err = checks().changing("compact")) return err;
    return {};
  }

  expected<void> checkpoint(const std::string& dir) override {
    checked_call call{checks()};
    if (!call) return call.error();
    return make_error(ec::invalid_argument, "cannot checkpoint into " + dir +
                                                ": the memory backend has no persistence (use "
                                                "rocksdb or lmdb)");
  }

  expected<backend_stats> stats() const override {
    checked_call call{checks()};
    if (!call) return call.error();
    backend_stats out;
    {
      std::shared_lock<std::shared_mutex> data{state_->data_mutex};
      for (size_t i = 0; i < state_->names.size(); ++i) {
        const auto& t = *state_->tables[i];
        out.keyspaces.push_back({state_->names[i], t.entries.size(), t.bytes});
      }
    }
    state_->counters.fill(out);
    return out;
  }

  // Nothing is written to files.
  expected<write_volume> written() const override {
    checked_call call{checks()};
    if (!call) return call.error();
    return write_volume{};
  }

  expected<void> close() override {
    if (!state_->gate.close()) return {};
    // Wait for a commit in flight, then free the data; iterators keep the versions they hold.
    std::lock_guard<std::mutex> writer{state_->writer_mutex};
    std::unique_lock<std::shared_mutex> data{state_->data_mutex};
    state_->tables.clear();
    return {};
  }

private:
  call_checks checks() const {
    // The memory backend names no path in these errors.
    static const std::string no_path;
    return {backend_kind::memory, no_path, state_->options.read_only, state_->names, state_->gate};
  }

  std::shared_ptr<memory_state> state_;
};

} // namespace

expected<std::unique_ptr<backend>> make_memory_backend(const backend_options& opts) {
  return std::unique_ptr<backend>{std::make_unique<memory_backend>(opts)};
}

} // namespace telos::storage::detail
