// Input checks, error texts and small pieces of logic every backend shares, so the three reject
// the same calls with the same codes and messages and scan the same ranges.
#pragma once

#include "telos/storage/backend.hpp"

#include <atomic>
#include <cstring>

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
