// The concrete vector indexes behind make_vector_index, and what they share (internal to
// storage/).
#pragma once

#include "telos/storage/vector_index.hpp"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace telos::storage {

/// Dense vectors: exact flat search, then HNSW (hnswlib) with an exact fresh buffer.
std::unique_ptr<vector_index> make_dense_index(const embedder& spec, const index_options& opts);

/// Sparse vectors: an inverted index with exact dot-product top-k.
std::unique_ptr<vector_index> make_sparse_index(const embedder& spec, const index_options& opts);

/// Multi-vector (token) embeddings: exact MaxSim over every stored memory.
std::unique_ptr<vector_index> make_maxsim_index(const embedder& spec, const index_options& opts);

/// "E1 (dense, dim 1024, cosine)", for error messages.
std::string describe_embedder(const embedder& spec);

/// How many of a quantised search's candidates are re-scored exactly
/// (index_options::rescore_depth): min(k, rescore_depth) * oversample, or k * oversample when
/// rescore_depth is 0; at least 1.
size_t rescored_candidates(size_t k, size_t rescore_depth, size_t oversample);

/// The answer of a search that ranked its candidates by an estimate (the codes) and re-scored the
/// best of them exactly: `exact` (exact scores, any order), best first by telos::better, then
/// `by_estimate` (the next candidates, best estimate first, none of them in `exact`) in that
/// order; at most k. A hit of the tail keeps its estimate unless that would rank it above the hit
/// before it; then it scores just below that hit (std::nextafter), so the list stays sorted by
/// telos::better and keeps the estimate's order, which is what a fusion by rank reads.
std::vector<hit> exact_then_estimated(std::vector<hit> exact, const std::vector<hit>& by_estimate,
                                      size_t k);

/// Heap bytes of a node-based hash map: one node (value, next pointer, cached hash) per entry
/// plus the bucket array.
template <class K, class V, class H, class E, class A>
size_t hash_map_bytes(const std::unordered_map<K, V, H, E, A>& map) {
  using value_type = typename std::unordered_map<K, V, H, E, A>::value_type;
  return map.size() * (sizeof(value_type) + 2 * sizeof(void*)) + map.bucket_count() * sizeof(void*);
}

} // namespace telos::storage
