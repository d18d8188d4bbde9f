// The read pool: parts of a batch of point reads on a few threads at once (read_pool.hpp).
#include "telos/storage/read_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>

#include <pthread.h>
#include <sys/resource.h>

namespace telos::storage {

namespace {

/// Bytes the calling thread has had read from the block device so far (ru_inblock counts 512-byte
/// units; page-cache hits count nothing).
uint64_t thread_device_bytes() {
  rusage usage{};
  if (::getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
  return static_cast<uint64_t>(usage.ru_inblock) * 512;
}

/// One run_parts() in flight: who has taken which part and how many are done. Shared with the
/// queued tasks, which may run (and find their part taken) after run_parts() returned.
struct batch {
  explicit batch(size_t parts) : taken(parts), count(parts) {}

  /// Set by whoever runs the part: the caller or one pool thread, never both.
  std::vector<std::atomic<bool>> taken;
  const size_t count;
  std::mutex mutex;
  std::condition_variable finished;
  size_t done = 0;

  bool take(size_t part) { return !taken[part].exchange(true, std::memory_order_acq_rel); }

  /// Runs part `i` (taken by this thread) and counts it done. `part` is valid here: the caller of
  /// run_parts() waits until every part is done.
  void run(size_t i, const std::function<void(size_t)>& part) {
    part(i);
    std::lock_guard<std::mutex> guard{mutex};
    if (++done == count) finished.notify_all();
  }
};

double bits_to_double(uint64_t bits) {
  double x = 0;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

uint64_t double_to_bits(double x) {
  uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof x);
  return bits;
}

} // namespace

read_pool::read_pool(size_t threads, size_t min_part, double split_device_bytes)
    : min_part_(std::max<size_t>(1, min_part)),
      split_device_bytes_(std::max(0.0, split_device_bytes)) {
  threads = std::max<size_t>(1, threads);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      ::pthread_setname_np(::pthread_self(), "telos-read");
      work();
    });
}

read_pool::~read_pool() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    t.join();
}

void read_pool::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Whatever is still queued at the end was taken by its caller already (a read() in progress
      // keeps the pool alive), so it may be dropped.
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

double read_pool::device_bytes_per_key() const {
  return bits_to_double(bytes_per_key_.load(std::memory_order_relaxed));
}

void read_pool::record(double bytes, size_t keys) const {
  if (keys == 0) return;
  double x = bytes / static_cast<double>(keys);
  // Racing updates may lose one another's sample; the average only has to follow the trend.
  double old = device_bytes_per_key();
  double next = old + (x - old) / 8;
  bytes_per_key_.store(double_to_bits(next), std::memory_order_relaxed);
}

expected<read_pool::values> read_pool::read(const keys& all, const part_reader& read) const {
  // Each part's values go to its own places of `out`: parts never share one.
  values out(all.size());
  auto done = visit(all, [&](const keys& part, size_t first) -> expected<void> {
    auto got = read(part);
    if (!got) return std::move(got.error());
    if (got->size() != part.size())
      return make_error(ec::internal, "a read of " + std::to_string(part.size()) +
                                          " keys returned " + std::to_string(got->size()) +
                                          " values");
    for (size_t i = 0; i < got->size(); ++i)
      out[first + i] = std::move((*got)[i]);
    return {};
  });
  if (!done) return std::move(done.error());
  return out;
}

expected<void> read_pool::visit(const keys& all, const part_visitor& visit) const {
  size_t parts = std::min(threads_.size() + 1, all.size() / min_part_);
  if (parts > 1 && split_device_bytes_ > 0 && device_bytes_per_key() < split_device_bytes_)
    parts = 1;
  if (parts <= 1) {
    // In one piece on this thread: no copy of the keys.
    auto start = thread_device_bytes();
    expected<void> result;
    try {
      result = visit(all, 0);
    } catch (const std::exception& e) {
      result = make_error(ec::internal, std::string{"a read of the read pool threw: "} + e.what());
    } catch (...) {
      result = make_error(ec::internal, "a read of the read pool threw");
    }
    record(static_cast<double>(thread_device_bytes() - start), all.size());
    return result;
  }
  // Contiguous parts whose sizes differ by at most one key.
  std::vector<keys> part_keys(parts);
  std::vector<size_t> first(parts, 0);
  size_t base = all.size() / parts, extra = all.size() % parts, from = 0;
  for (size_t i = 0; i < parts; ++i) {
    size_t size = base + (i < extra ? 1 : 0);
    first[i] = from;
    part_keys[i].assign(all.begin() + static_cast<std::ptrdiff_t>(from),
                        all.begin() + static_cast<std::ptrdiff_t>(from + size));
    from += size;
  }
  // Each part's error (none when it was read). Errors, not expected<void>s: expected<void> only
  // hands out its error by const reference, so returning it copies, and the copy would share its
  // context with the one left here, freed by whichever thread drops it last (CAF's reference
  // count frees on a plain load of 1, which ThreadSanitizer flags). An error is moved out whole.
  std::vector<caf::error> errors(parts);
  run_parts(parts, [&](size_t i) {
    auto start = thread_device_bytes();
    try {
      auto result = visit(part_keys[i], first[i]);
      if (!result) errors[i] = result.error();
    } catch (const std::exception& e) {
      errors[i] =
          make_error(ec::internal, std::string{"a read of the read pool threw: "} + e.what());
    } catch (...) {
      errors[i] = make_error(ec::internal, "a read of the read pool threw");
    }
    record(static_cast<double>(thread_device_bytes() - start), part_keys[i].size());
  });
  for (auto& error : errors)
    if (error) return std::move(error);
  return {};
}

void read_pool::run_parts(size_t parts, const std::function<void(size_t)>& part) const {
  if (parts == 0) return;
  if (parts == 1) return part(0);
  auto b = std::make_shared<batch>(parts);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    for (size_t i = 1; i < parts; ++i)
      queue_.emplace_back([b, i, &part] {
        if (b->take(i)) b->run(i, part);
      });
  }
  for (size_t i = 1; i < parts; ++i)
    wake_.notify_one();
  for (size_t i = 0; i < parts; ++i)
    if (b->take(i)) b->run(i, part);
  std::unique_lock<std::mutex> lock{b->mutex};
  b->finished.wait(lock, [&] { return b->done == parts; });
}

} // namespace telos::storage
