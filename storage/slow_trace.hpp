// TEMPORARY (issue 18 gap hunt): logs spans longer than 20 ms to $TELOS_SLOW_TRACE.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace telos::slow_trace {

inline std::FILE* file() {
  static std::FILE* f = [] {
    auto p = std::getenv("TELOS_SLOW_TRACE");
    return p ? std::fopen(p, "a") : nullptr;
  }();
  return f;
}

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline void note(const char* what, const std::string& name, double t0, double d, size_t size) {
  auto f = file();
  if (!f) return;
  static std::mutex m;
  std::lock_guard g{m};
  std::fprintf(f, "%.6f %s %s %.4f %zu\n", t0, what, name.c_str(), d, size);
  std::fflush(f);
}

inline void note_since(const char* what, const std::string& name, double t0, size_t size) {
  if (!file()) return;
  double d = now() - t0;
  if (d >= 0.02) note(what, name, t0, d, size);
}

struct span {
  const char* what;
  std::string name;
  size_t size = 0;
  double t0 = now();
  double min = 0.02;
  span(const char* w, std::string n = "-", size_t s = 0) : what(w), name(std::move(n)), size(s) {}
  ~span() {
    if (!file()) return;
    double d = now() - t0;
    if (d >= min) note(what, name, t0, d, size);
  }
};

} // namespace telos::slow_trace
