// Wall-clock and CPU timing shared by the telos-bench subcommands.
#pragma once

#include <chrono>
#include <ctime>

namespace telos::bench {

/// Seconds of steady-clock time elapsed since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// CPU seconds the calling thread has used so far.
inline double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

} // namespace telos::bench
