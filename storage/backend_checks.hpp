// Input checks, error texts and small pieces of logic every backend shares, so the three reject
// the same calls with the same codes and messages and scan the same ranges. The guards of a call
// (closed store, read-only, unknown keyspace, key limits) are checked here only, in the order
// backend.hpp promises: a backend's call opens with one checked_call or one call_checks check.
#pragma once

#include "telos/storage/backend.hpp"
#include "telos/storage/call_gate.hpp"

#include <atomic>
#include <cstring>

namespace telos::storage {

/// How a backend's error ends when it holds a failure fatal while open (RocksDB's unrecoverable
/// background error after a failed write or sync of its log, LMDB's MDB_PANIC): only closing and
/// reopening the store brings writes back.
inline constexpr std::string_view reopen_needed_text = "close and reopen the store to write again";
/// Whether `err` is such an error (its text says reopen_needed_text).
bool asks_for_reopen(const caf::error& err);

} // namespace telos::storage

namespace telos::storage::detail {

/// Checks the keyspace list given at open: 1..255 bytes, no NUL, unique, no "__" prefix.
caf::error check_keyspace_names(const std::vector<std::string>& names);

/// The precise error for a (keyspace, key) pair that check_key rejected.
caf::error key_error(const std::vector<std::string>& names, keyspace_id ks, std::string_view key);

/// Checks a keyspace id and a key (1..max_key_size bytes). Inline fast path; the message is only
/// built on failure.
inline caf::error check_key(const std::vector<std::string>& names, keyspace_id ks,
                            std::string_view key) {
  if (ks < names.size() && !key.empty() && key.size() <= max_key_size) return {};
  return key_error(names, ks, key);
}

/// Checks a keyspace id alone (scans).
caf::error check_keyspace(const std::vector<std::string>& names, keyspace_id ks);

/// Checks every operation of a batch; the error names the first offending operation.
caf::error check_batch(const std::vector<std::string>& names, const write_batch& batch);

caf::error closed_error(backend_kind kind, const std::string& path);
caf::error read_only_error(backend_kind kind, const std::string& path, const char* what);

/// What a backend's calls are checked against: made by the backend for each call (a few
/// references, nothing copied).
struct call_checks {
  backend_kind kind;
  /// Named in the errors ("" for none).
  const std::string& path;
  bool read_only;
  const std::vector<std::string>& names;
  call_gate& gate;

  caf::error closed() const { return closed_error(kind, path); }
  /// A call that changes the store without a batch (compact): ec::closed, then ec::read_only.
  caf::error changing(const char* what) const {
    if (gate.closed()) return closed();
    if (read_only) return read_only_error(kind, path, what);
    return {};
  }
  /// A write: ec::closed, ec::read_only, then every operation of the batch in order. Takes no
  /// pass: the commit takes its own.
  caf::error writing(const write_batch& batch) const {
    if (auto err = changing("write")) return err;
    return check_batch(names, batch);
  }
};

/// One call through a backend's gate: holds a pass for the call's duration and the first check
/// that failed (ec::closed, then the keyspace and keys the call names). A call proceeds only
/// when it converts to true.
class checked_call {
public:
  /// A call that names no keyspace (begin, flush, checkpoint, stats).
  explicit checked_call(const call_checks& c) noexcept : pass_(c.gate) {
    if (!pass_) error_ = c.closed();
  }
  /// A scan of keyspace ks.
  checked_call(const call_checks& c, keyspace_id ks) : checked_call(c) {
    if (!error_) error_ = check_keyspace(c.names, ks);
  }
  /// A point read of one key.
  checked_call(const call_checks& c, keyspace_id ks, std::string_view key) : checked_call(c) {
    if (!error_) error_ = check_key(c.names, ks, key);
  }
  /// A read of several keys: the keyspace, then each key in order.
  checked_call(const call_checks& c, keyspace_id ks, const std::vector<std::string>& keys)
      : checked_call(c, ks) {
    for (size_t i = 0; !error_ && i < keys.size(); ++i)
      error_ = check_key(c.names, ks, keys[i]);
  }
  checked_call(const checked_call&) = delete;
  checked_call& operator=(const checked_call&) = delete;

  explicit operator bool() const noexcept { return !error_; }
  const caf::error& error() const noexcept { return error_; }

private:
  gate_pass pass_;
  caf::error error_;
};

/// The scan range of all keys starting with `prefix` (open end when the prefix is empty or all
/// 0xFF bytes).
key_range prefix_range(std::string_view prefix);

/// Unsigned byte-wise comparison, the order of every backend.
inline int compare_keys(std::string_view a, std::string_view b) {
  auto n = std::min(a.size(), b.size());
  int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  if (c != 0) return c;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

/// True if `key` lies before the range's begin bound.
inline bool before_begin(const key_range& range, std::string_view key) {
  if (!range.begin) return false;
  int c = compare_keys(key, *range.begin);
  return range.begin_inclusive ? c < 0 : c <= 0;
}

/// True if `key` lies after the range's end bound.
inline bool past_end(const key_range& range, std::string_view key) {
  if (!range.end) return false;
  int c = compare_keys(key, *range.end);
  return range.end_inclusive ? c > 0 : c >= 0;
}

/// The operation counters reported by stats(); relaxed atomics, they order nothing.
struct op_counters {
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> deletes{0};

  void add_reads(uint64_t n) { reads.fetch_add(n, std::memory_order_relaxed); }
  /// Counts the puts and deletes of an applied batch.
  void add_batch(const write_batch& batch);
  void fill(backend_stats& out) const {
    out.reads = reads.load(std::memory_order_relaxed);
    out.writes = writes.load(std::memory_order_relaxed);
    out.deletes = deletes.load(std::memory_order_relaxed);
  }
};

/// Bytes of all regular files below `dir` (0 if it does not exist).
uint64_t directory_bytes(const std::string& dir);

} // namespace telos::storage::detail
