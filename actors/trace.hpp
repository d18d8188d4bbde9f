// Diagnostic traces to stderr, off unless an environment variable asks for them.
#pragma once

#include <cstddef>

namespace telos::trace {

/// Seconds on the steady clock (CLOCK_MONOTONIC), comparable across the process's threads and
/// with telos-bench's logs.
double steady_seconds();

/// TELOS_TRACE_SEARCH is set (to anything): every search of the facade writes a line when it is
/// answered, and every index actor a line for each top list and score step it runs, so the time
/// of a slow fused search can be split into its lists (docs/ENGINE.md, "Tracing searches"). Read
/// once.
bool searches();

/// `telos-search <start> <end> <outcome> embedders <n> took <ms> ms`: one search of the facade.
void search_line(double start, double end, const char* outcome, size_t embedders);

/// `telos-search-list <start> <end> shard <shard> <embedder> <step> depth <n> hits <m> took <ms>
/// ms`: one step an index actor ran for a search (step: "list" or "score").
void list_line(double start, double end, unsigned shard, const char* embedder, const char* step,
               size_t depth, size_t hits);

} // namespace telos::trace
