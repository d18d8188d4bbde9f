// Wall-clock timing shared by the telos-bench subcommands.
#pragma once

#include <chrono>

namespace telos::bench {

/// Seconds of steady-clock time elapsed since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace telos::bench
