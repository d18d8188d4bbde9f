// Latency samples of telos-stress: each worker appends to its own recorder, the progress line and
// the final report read them; percentiles and the per-second timeline come from here.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace telos::stress {

enum class op_type : uint8_t { put, batch, update, remove, get, search, fused, count_ };
inline constexpr size_t op_types = static_cast<size_t>(op_type::count_);
const char* to_string(op_type t);
inline bool is_write(op_type t) {
  return t <= op_type::remove;
}

struct sample {
  /// Milliseconds since the start of the load phase, when the operation completed.
  uint32_t at_ms;
  /// Microseconds from request to answer.
  uint32_t latency_us;
  op_type type;
  bool ok;
  /// Memories written by the operation (batches write several).
  uint16_t memories;
  /// The store pushed the write back (ec::overloaded): not an error, the writer retries it.
  bool overloaded = false;
};

/// One worker's samples. The worker appends; the progress reporter copies new ones under the
/// lock once a second, so the worker's critical section is one push_back.
class recorder {
public:
  void add(const sample& s) {
    std::lock_guard<std::mutex> guard{mutex_};
    samples_.push_back(s);
  }
  /// Appends the samples from position `from` on to `out`; returns the new end position.
  size_t copy_since(size_t from, std::vector<sample>& out) const {
    std::lock_guard<std::mutex> guard{mutex_};
    out.insert(out.end(), samples_.begin() + static_cast<std::ptrdiff_t>(from), samples_.end());
    return samples_.size();
  }

private:
  mutable std::mutex mutex_;
  std::vector<sample> samples_;
};

/// The p-th percentile (0..100) of latencies in microseconds, nearest rank; 0 when empty.
uint32_t percentile(std::vector<uint32_t>& latencies_us, double p);

struct op_summary {
  /// Answers, errors and push-backs included.
  uint64_t ops = 0;
  /// Failed answers other than push-back.
  uint64_t errors = 0;
  /// Answers ec::overloaded (push-back).
  uint64_t overloaded = 0;
  uint64_t memories = 0;
  uint32_t p50_us = 0;
  uint32_t p90_us = 0;
  uint32_t p99_us = 0;
  uint32_t max_us = 0;
};

/// Per-second aggregate for the timeline and the plot.
struct second {
  uint32_t t = 0;
  uint64_t writes = 0;
  uint64_t reads = 0;
  uint64_t memories_written = 0;
  /// Writes answered ec::overloaded in this second.
  uint64_t overloaded = 0;
  uint32_t write_p50_us = 0;
  uint32_t write_p99_us = 0;
  uint32_t read_p50_us = 0;
  uint32_t read_p99_us = 0;
};

/// What the store's indexes looked like at one moment of the load (sampled once a second).
struct index_sample {
  /// Milliseconds since the start of the load phase, when the answer came.
  uint32_t at_ms = 0;
  uint64_t memories = 0;
  /// Vectors searched exactly because they are not yet in an ANN graph: over every index, and
  /// the deepest single index.
  uint64_t fresh_total = 0;
  uint64_t fresh_max = 0;
  /// Indexes that have an HNSW graph.
  uint32_t graphs = 0;
  /// Resident memory of the process (VmRSS), KiB.
  uint64_t rss_kib = 0;
};

/// Resident memory of this process from /proc/self/status: now (VmRSS) and its peak so far
/// (VmHWM), in KiB; 0 when unknown.
struct resident_memory {
  uint64_t now_kib = 0;
  uint64_t peak_kib = 0;
};
resident_memory read_resident_memory();

/// The longest time in which no write was acknowledged: between the start, the acknowledgements
/// of successful writes and `end_ms`.
struct ack_gap {
  uint32_t longest_ms = 0;
  /// When it began (ms since the start of the load).
  uint32_t from_ms = 0;
};

std::array<op_summary, op_types> summarize(const std::vector<sample>& all);
std::vector<second> timeline(const std::vector<sample>& all);
ack_gap longest_ack_gap(const std::vector<sample>& all, uint32_t end_ms);

} // namespace telos::stress
