// Consistency check of one backend's graph and secondary-index rows: the four quad orders agree
// row for row (and value for value), the interner's two directions agree, every quad's terms are
// interned, no edge or index row names a memory that does not exist.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/storage/interner.hpp"
#include "telos/storage/quad_store.hpp"
#include "telos/storage/secondary_index.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace telos::storage {

/// Whether a memory exists (for an engine with several shards: on any shard).
using memory_exists = std::function<expected<bool>(const uuid& id)>;

struct graph_report {
  /// One line per defect, naming keyspace, key and what is wrong; at most max_problems.
  std::vector<std::string> problems;
  /// Defects found, including those not listed.
  uint64_t problem_count = 0;
  uint64_t terms = 0;
  uint64_t quads = 0;
  uint64_t edges = 0;
  uint64_t index_rows = 0;

  bool ok() const { return problem_count == 0; }
};

struct graph_verify_options {
  size_t max_problems = 1000;
};

/// Reads everything once; only backend failures are errors, defects go into the report.
/// `index` may be null (no secondary indexes to check).
expected<graph_report> verify_graph(const interner& terms, const quad_store& quads,
                                    const secondary_index* index, const memory_exists& exists,
                                    graph_verify_options opts = {});

} // namespace telos::storage
