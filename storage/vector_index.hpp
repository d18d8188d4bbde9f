// In-memory per-embedder vector indexes (plain C++, no actors): exact flat search with a
// vectorised kernel and HNSW for dense embedders, an inverted index for sparse ones, exact MaxSim
// for multi-vector ones. One index holds one embedder's vectors of one shard; its owner (the
// index actor) serialises all calls.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace telos::storage {

/// Decides whether an id may appear in a filtered search.
using id_predicate = std::function<bool(const uuid&)>;

struct index_options {
  /// Dense embedders switch from exact flat search to HNSW once they hold this many vectors.
  size_t hnsw_threshold = 20000;
  size_t hnsw_m = 16;
  size_t hnsw_ef_construction = 200;
  /// ef at query time is max(hnsw_ef_search, k).
  size_t hnsw_ef_search = 64;
  /// HNSW graphs are built with this seed, so builds are reproducible.
  size_t seed = 100;
};

/// Counters a caller can report.
struct index_stats {
  size_t vectors = 0;
  /// Vectors searchable exactly but not yet in the ANN graph.
  size_t fresh = 0;
  size_t memory_bytes = 0;
  /// "flat", "hnsw", "sparse", "maxsim".
  std::string structure;
};

class vector_index {
public:
  virtual ~vector_index() = default;

  virtual const embedder& spec() const = 0;

  /// Adds the embedding of `id`, replacing any previous one. The embedding was validated
  /// against spec(). Searchable as soon as this returns.
  virtual void upsert(const uuid& id, const embedding& e) = 0;
  /// Removes `id`; returns whether it was there. A removed id never shows up in results again.
  virtual bool remove(const uuid& id) = 0;
  virtual bool contains(const uuid& id) const = 0;

  /// Top-k by the embedder's metric, sorted by telos::better, only ids `allow` accepts (when
  /// given). Exact unless the index uses HNSW, whose recall depends on index_options.
  virtual std::vector<hit> search(const embedding& query, size_t k,
                                  const id_predicate* allow = nullptr) const = 0;
  /// Exact score of a stored id against the query, or nullopt when absent.
  virtual std::optional<float> score(const embedding& query, const uuid& id) const = 0;

  /// Moves up to `budget` fresh vectors into the ANN graph; returns how many it moved. Called
  /// off the acknowledgement path, when the owner is idle.
  virtual size_t maintain(size_t budget) = 0;

  virtual index_stats stats() const = 0;
  size_t size() const { return stats().vectors; }

  /// Writes the whole index state to `path` (a file; the index may add sibling files with
  /// `path` as prefix). Atomic: a crash leaves the previous snapshot or the new one.
  virtual expected<void> save(const std::string& path) const = 0;
  /// Replaces the state with a snapshot written by save(); a missing, truncated or corrupt
  /// snapshot is an error and leaves the index empty.
  virtual expected<void> load(const std::string& path) = 0;
};

/// The index for one embedder.
std::unique_ptr<vector_index> make_vector_index(const embedder& spec, const index_options& opts);

/// The exact score of `query` against `stored` under `spec`'s metric (higher is better): cosine
/// similarity, dot product, negative L2 distance, sparse dot product, or MaxSim (mean over query
/// tokens of the best cosine similarity to any stored token). The reference every index agrees
/// with.
float exact_score(const embedder& spec, const embedding& query, const embedding& stored);

} // namespace telos::storage
