// Diagnostic traces to stderr.
#include "telos/actors/trace.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace telos::trace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool searches() {
  static const bool on = std::getenv("TELOS_TRACE_SEARCH") != nullptr;
  return on;
}

void search_line(double start, double end, const char* outcome, size_t embedders) {
  std::fprintf(stderr, "telos-search %.6f %.6f %s embedders %zu took %.3f ms\n", start, end,
               outcome, embedders, (end - start) * 1e3);
}

void list_line(double start, double end, unsigned shard, const char* embedder, const char* step,
               size_t depth, size_t hits) {
  std::fprintf(stderr,
               "telos-search-list %.6f %.6f shard %u %s %s depth %zu hits %zu took %.3f ms\n",
               start, end, shard, embedder, step, depth, hits, (end - start) * 1e3);
}

} // namespace telos::trace
