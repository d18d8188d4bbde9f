// The data and the three phases of `telos-bench kv` (fill, point reads, range scans), shared by
// every store under test so that Telos and the raw libraries do exactly the same work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace telos::bench {

/// Sizes of one kv workload; the same for every store under test.
struct kv_workload_config {
  size_t keys = 1'000'000;
  size_t reads = 200'000;
  size_t scans = 2'000;
  size_t scan_length = 1'000;
  size_t batch_size = 100;
  size_t key_size = 16;
  size_t value_size = 100;
  uint64_t seed = 42;
};

/// Every key and value of a run, generated up front so that the timed phases measure the store
/// and not the random number generator.
class kv_dataset {
public:
  explicit kv_dataset(const kv_workload_config& config);

  const kv_workload_config& config() const { return config_; }
  size_t size() const { return config_.keys; }
  std::string_view key(size_t i) const {
    return {keys_.data() + i * config_.key_size, config_.key_size};
  }
  std::string_view value(size_t i) const {
    return {values_.data() + i * config_.value_size, config_.value_size};
  }
  /// Indices of the keys the point-read phase looks up, in lookup order.
  const std::vector<uint32_t>& read_order() const { return read_order_; }
  /// Indices of the keys the range scans start at (inclusive), in scan order.
  const std::vector<uint32_t>& scan_starts() const { return scan_starts_; }

private:
  kv_workload_config config_;
  std::string keys_;
  std::string values_;
  std::vector<uint32_t> read_order_;
  std::vector<uint32_t> scan_starts_;
};

/// What a read phase saw. Two stores holding the same data must produce equal tallies, which
/// proves that both did the same work (and that the compiler could not skip the reads).
struct kv_tally {
  uint64_t items = 0;  ///< entries found (point reads) or visited (scans)
  uint64_t bytes = 0;  ///< key and value bytes seen
  uint64_t digest = 0; ///< kv_consume() of every value (and key, for scans)

  bool operator==(const kv_tally& other) const {
    return items == other.items && bytes == other.bytes && digest == other.digest;
  }
  bool operator!=(const kv_tally& other) const { return !(*this == other); }
};

/// Reads every byte of `bytes` and folds them into a number (the sum of its 8-byte words), as a
/// caller that uses what it read would. Both sides consume every key and value they are handed
/// this way, so neither is credited for bytes it never touched.
inline uint64_t kv_consume(const char* bytes, size_t size) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    sum += word;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes + i, size - i);
  return sum + tail;
}

/// Failure of a store under test; the harness reports it and exits non-zero.
struct kv_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One store under test, open on a fresh directory. The harness calls each phase many times on
/// consecutive slices, alternating with the other store, so both see the same machine load.
/// Every call throws kv_failure on any error.
class kv_store_under_test {
public:
  virtual ~kv_store_under_test() = default;
  /// Writes keys [begin, end) of `data` in index order, batch_size keys per atomic batch.
  virtual void fill(const kv_dataset& data, size_t begin, size_t end) = 0;
  /// Looks up the keys data.read_order()[begin, end) one at a time.
  virtual void point_reads(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) = 0;
  /// From each of data.scan_starts()[begin, end), visits up to scan_length entries in key order.
  virtual void range_scans(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) = 0;
};

} // namespace telos::bench
