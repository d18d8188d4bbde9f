// A few threads that read the parts of one batch of point reads at once (and run the parts of
// other work: run_parts). A quantised index
// re-scores its candidates from their f32 originals in the vector keyspace; when those are not in
// the page cache each one is a device read, and one multi_get makes them one after another
// (RocksDB 7.8 overlaps a MultiGet's reads only with io_uring, which Debian's build lacks). Split
// over these threads the reads wait on the device side by side (docs/ENGINE.md, "Searches").
// A plain mutex-and-queue pool rather than a library's: the caller must be able to take back the
// parts no thread has started (below), and the storage layer links no Boost.
#pragma once

#include "telos/messages/error.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace telos::storage {

class read_pool {
public:
  using keys = std::vector<std::string>;
  using values = std::vector<std::optional<std::string>>;
  /// Reads some keys: one value per key, in order, nullopt where a key is missing (what
  /// backend::multi_get returns).
  using part_reader = std::function<expected<values>(const keys&)>;
  /// Reads some keys, `first` being the index in the whole batch of the first of them.
  using part_visitor = std::function<expected<void>(const keys& part, size_t first)>;

  /// A batch of fewer than twice this many keys is read in one piece, on the caller's thread.
  static constexpr size_t default_min_part = 4;
  /// Reads are split only while the recent ones fetched at least this many bytes per key from the
  /// device (the kernel's count for the reading thread, getrusage's ru_inblock): a key the page
  /// cache holds costs a few microseconds and handing parts to other threads would cost more than
  /// it saves; a key from the device costs a hundred or more (docs/ENGINE.md, "Searches"). Bytes,
  /// not time: on a busy machine a preempted read is slow without waiting on the device.
  static constexpr double default_split_device_bytes = 512;

  /// Starts `threads` threads (at least 1). Parts hold at least `min_part` keys (at least 1).
  /// `split_device_bytes`: the average device bytes per key (over recent reads, an exponential
  /// moving average) from which on batches are split; 0 = always split.
  explicit read_pool(size_t threads, size_t min_part = default_min_part,
                     double split_device_bytes = default_split_device_bytes);
  /// Waits for the threads; call only once no read() is in progress.
  ~read_pool();
  read_pool(const read_pool&) = delete;
  read_pool& operator=(const read_pool&) = delete;

  size_t threads() const { return threads_.size(); }
  /// The recent average of bytes per key read from the device (0 before the first read).
  double device_bytes_per_key() const;

  /// Reads `all` with `read`: in one piece on the caller's thread while recent reads were fast
  /// (below split_device_bytes per key), else split into up to threads() + 1 contiguous parts of at
  /// least min_part keys, read at once: the caller's thread reads the first part itself and then
  /// every part no pool thread has started yet (so a busy pool never makes a read slower than
  /// reading in one piece), and returns when all are read. The result is what `read(all)` returns:
  /// one value per key in key order, nullopt for a missing key; if any part fails, the error of the
  /// first failing part in key order (an exception thrown by `read` becomes ec::internal naming
  /// it). The parts are separate reads, so unlike one multi_get they need not see a single instant
  /// of the store; a re-score needs only each original as it is (or its absence). Thread-safe: any
  /// number of callers at once.
  expected<values> read(const keys& all, const part_reader& read) const;

  /// As read(), split the same way, but each part is handed to `visit` with its place in `all`
  /// and nothing is collected: for readers that use each value where the backend holds it
  /// (backend::multi_get_visit). Parts run at once on different threads, so `visit` must be safe
  /// to call concurrently for different parts. The error of the first failing part in key order.
  expected<void> visit(const keys& all, const part_visitor& visit) const;

  /// Runs part(0), ..., part(parts - 1) at once and returns when all have run: the caller's
  /// thread runs part 0 itself and then every part no pool thread has started yet, so a busy pool
  /// never makes the whole slower than running the parts one after another here. Parts run on
  /// different threads at once, so `part` must be safe to call concurrently for different parts;
  /// it must not throw. For CPU work too (a dense index scans its lists in parts while another
  /// core is idle): callers split only work far larger than a hand-off (tens of microseconds).
  void run_parts(size_t parts, const std::function<void(size_t)>& part) const;

private:
  void work();
  /// Adds one read's device bytes per key to the moving average.
  void record(double bytes, size_t keys) const;

  size_t min_part_;
  double split_device_bytes_;
  /// The moving average of device bytes per key, as the bits of a double.
  mutable std::atomic<uint64_t> bytes_per_key_{0};
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace telos::storage
