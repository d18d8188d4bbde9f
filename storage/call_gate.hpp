// Lets calls run concurrently with close() (and, for LMDB, with a map resize) without a lock on
// the fast path: a call takes a pass (one atomic increment), close() and pause() wait until every
// pass is returned.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace telos::storage::detail {

class call_gate {
public:
  /// Takes a pass; false once closed. Waits while paused.
  bool enter() noexcept {
    for (;;) {
      auto prev = state_.fetch_add(1, std::memory_order_acquire);
      if (prev & closed_bit) {
        leave();
        return false;
      }
      if (!(prev & paused_bit)) return true;
      leave();
      std::unique_lock<std::mutex> lock{mutex_};
      drained_.wait(lock, [this] {
        auto s = state_.load(std::memory_order_acquire);
        return !(s & paused_bit) || (s & closed_bit);
      });
    }
  }

  /// Returns a pass.
  void leave() noexcept {
    auto prev = state_.fetch_sub(1, std::memory_order_release);
    if ((prev & (closed_bit | paused_bit)) && (prev & count_mask) == 1) {
      // Someone waits for the last pass; take the mutex so the wakeup cannot slip between its
      // check and its wait.
      std::lock_guard<std::mutex> lock{mutex_};
      drained_.notify_all();
    }
  }

  bool closed() const noexcept { return state_.load(std::memory_order_acquire) & closed_bit; }

  /// Refuses new passes and waits for the ones out. Returns false if it was closed already.
  bool close() {
    auto prev = state_.fetch_or(closed_bit, std::memory_order_acq_rel);
    wait_drained();
    std::lock_guard<std::mutex> lock{mutex_};
    drained_.notify_all(); // wakes callers waiting in enter() for a pause to end
    return !(prev & closed_bit);
  }

  /// Makes new passes wait and waits for the ones out. The caller must not hold a pass.
  void pause() {
    state_.fetch_or(paused_bit, std::memory_order_acq_rel);
    wait_drained();
  }

  void resume() {
    state_.fetch_and(~paused_bit, std::memory_order_acq_rel);
    std::lock_guard<std::mutex> lock{mutex_};
    drained_.notify_all();
  }

private:
  static constexpr uint64_t closed_bit = uint64_t{1} << 63;
  static constexpr uint64_t paused_bit = uint64_t{1} << 62;
  static constexpr uint64_t count_mask = paused_bit - 1;

  void wait_drained() {
    std::unique_lock<std::mutex> lock{mutex_};
    drained_.wait(lock,
                  [this] { return (state_.load(std::memory_order_acquire) & count_mask) == 0; });
  }

  std::atomic<uint64_t> state_{0};
  std::mutex mutex_;
  std::condition_variable drained_;
};

/// A pass held for the duration of one call.
class gate_pass {
public:
  explicit gate_pass(call_gate& gate) noexcept : gate_(gate), ok_(gate.enter()) {}
  ~gate_pass() {
    if (ok_) gate_.leave();
  }
  gate_pass(const gate_pass&) = delete;
  gate_pass& operator=(const gate_pass&) = delete;
  explicit operator bool() const noexcept { return ok_; }

private:
  call_gate& gate_;
  bool ok_;
};

} // namespace telos::storage::detail
