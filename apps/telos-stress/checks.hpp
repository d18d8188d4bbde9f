// What telos-stress proves after a run or a crash: the store holds exactly the acknowledged state,
// nothing half-written, its own verify agrees, and searches answer like a brute-force reference.
#pragma once

#include "workload.hpp"

#include "telos/actors/store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace telos::stress {

/// What differs between the memory that was written and the one read back; empty when they are
/// identical. Names the field, or the embedder and the first differing element.
std::string difference(const memory& expected, const memory& actual);

/// The score of `stored` for `query` under the embedder's metric, computed here in double
/// precision independently of the engine's kernels: cosine similarity, dot product, negative
/// Euclidean distance, sparse dot product, MaxSim (mean over query tokens of the best cosine
/// similarity to a stored token).
double reference_score(const embedder& spec, const embedding& query, const embedding& stored);

/// Ids whose state after a crash may be either of two: those of the write in flight when the
/// process died. An atomic batch must show all of `before` or all of `after`.
struct in_flight {
  write_op op;
  /// Writer and sequence number, for messages.
  uint32_t writer = 0;
  uint64_t seq = 0;
};

struct check_result {
  std::vector<std::string> problems;
  uint64_t memories_checked = 0;
  uint64_t searches_checked = 0;
  /// Mean recall@k of the searches answered by approximate indexes (HNSW, MaxSim centroids:
  /// storage::approximate_structure); 1 when all exact.
  double min_recall = 1.0;
  bool ok() const { return problems.empty(); }
};

struct check_options {
  /// Queries per embedder compared with brute force, plus as many fused queries.
  uint32_t queries = 8;
  uint32_t k = 10;
  /// Minimum recall@k accepted from an index that reports itself approximate ("hnsw",
  /// "maxsim-centroids").
  double min_recall = 0.9;
  /// An approximate index's mean recall is taken over at least this many queries (when
  /// `queries` > 0): over two, one hard query among thousands of checks fails a sound index.
  uint32_t recall_queries = 10;
  /// Which version the in-flight ids turned out to have is written back into `model`.
  std::vector<in_flight> uncertain;
};

/// Compares the whole store with `model` (id number → state): every present id equal to the
/// generated content of its version, every absent id absent, count() and list() agreeing, the
/// store's own verify() consistent, and searches equal to brute force over the model. For the
/// uncertain writes, accepts their before- or after-state (all ids of one write the same way) and
/// updates `model` to what was found.
check_result check_store(store& db, const generator& gen, std::vector<id_state>& model,
                         check_options opts);

} // namespace telos::stress
