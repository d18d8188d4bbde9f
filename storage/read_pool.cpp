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

/// One read() in flight: its parts, their results and who has taken which. Shared with the
/// queued tasks, which may run (and find their part taken) after read() returned.
struct batch {
  explicit batch(size_t parts) : keys(parts), results(parts, read_pool::values{}), taken(parts) {}

  std::vector<read_pool::keys> keys;
  std::vector<expected<read_pool::values>> results;
  /// Set by whoever reads the part: the caller or one pool thread, never both.
  std::vector<std::atomic<bool>> taken;
  std::mutex mutex;
  std::condition_variable finished;
  size_t done = 0;

  bool take(size_t part) { return !taken[part].exchange(true, std::memory_order_acq_rel); }

  /// Reads part `i` (taken by this thread) and counts it done; returns the bytes this thread
  /// fetched from the device meanwhile.
  /// `read` is valid here: the caller of read() waits until every part is done.
  double run(size_t i, const read_pool::part_reader& read) {
    auto start = thread_device_bytes();
    try {
      results[i] = read(keys[i]);
    } catch (const std::exception& e) {
      results[i] =
          make_error(ec::internal, std::string{"a read of the read pool threw: "} + e.what());
    } catch (...) {
      results[i] = make_error(ec::internal, "a read of the read pool threw");
    }
    auto took = static_cast<double>(thread_device_bytes() - start);
    std::lock_guard<std::mutex> guard{mutex};
    if (++done == keys.size()) finished.notify_all();
    return took;
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
  size_t parts = std::min(threads_.size() + 1, all.size() / min_part_);
  if (parts > 1 && split_device_bytes_ > 0 && device_bytes_per_key() < split_device_bytes_)
    parts = 1;
  if (parts <= 1) {
    batch one{1};
    one.keys[0] = all;
    record(one.run(0, read), all.size());
    return std::move(one.results[0]);
  }
  auto b = std::make_shared<batch>(parts);
  // Contiguous parts whose sizes differ by at most one key.
  size_t base = all.size() / parts, extra = all.size() % parts, from = 0;
  for (size_t i = 0; i < parts; ++i) {
    size_t size = base + (i < extra ? 1 : 0);
    b->keys[i].assign(all.begin() + static_cast<std::ptrdiff_t>(from),
                      all.begin() + static_cast<std::ptrdiff_t>(from + size));
    from += size;
  }
  {
    std::lock_guard<std::mutex> guard{mutex_};
    for (size_t i = 1; i < parts; ++i)
      queue_.emplace_back([this, b, i, &read] {
        if (b->take(i)) record(b->run(i, read), b->keys[i].size());
      });
  }
  for (size_t i = 1; i < parts; ++i)
    wake_.notify_one();
  for (size_t i = 0; i < parts; ++i)
    if (b->take(i)) record(b->run(i, read), b->keys[i].size());
  {
    std::unique_lock<std::mutex> lock{b->mutex};
    b->finished.wait(lock, [&] { return b->done == parts; });
  }
  for (auto& result : b->results)
    if (!result) return std::move(result.error());
  values out;
  out.reserve(all.size());
  for (size_t i = 0; i < parts; ++i) {
    auto& result = *b->results[i];
    if (result.size() != b->keys[i].size())
      return make_error(ec::internal, "a read of " + std::to_string(b->keys[i].size()) +
                                          " keys returned " + std::to_string(result.size()) +
                                          " values");
    for (auto& v : result)
      out.push_back(std::move(v));
  }
  return out;
}

} // namespace telos::storage
