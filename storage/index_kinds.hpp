// The concrete vector indexes behind make_vector_index, and what they share (internal to
// storage/).
#pragma once

#include "telos/storage/id_table.hpp"
#include "telos/storage/vector_index.hpp"

#include <functional>
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

/// How many of a quantised dense search's best candidates by code are re-scored exactly
/// (index_options::rescore_depth): k * oversample up to depth rescore_depth (or at every depth
/// when it is 0); above it oversample for each of the first rescore_depth ranks and one for each
/// rank beyond, rescore_depth * oversample + (k - rescore_depth); at least 1.
size_t rescored_candidates(size_t k, size_t rescore_depth, size_t oversample);

/// Parts a search splits its scan of codes into: 1 without index_options::run_parts or under an
/// unsplit_searches, else index_options::split_parts, by default one per core (at most 8).
size_t search_parts(const index_options& opts);

/// A MaxSim search ranks its candidates by int8 MaxSim in parts (index_options::run_parts) when it
/// has at least this many per part.
inline constexpr size_t maxsim_split_candidates = 256;

/// What a quantised or MaxSim re-score gets from index_options::visit_originals (which must be
/// set): `score(values, count)` of each original the reader hands over, in the place of its id
/// (the calls may run on several threads at once, each id's result its own); nullopt where an id
/// has none or `score` gave none; no vector at all when the visit failed.
std::optional<std::vector<std::optional<float>>>
visited_scores(const index_options& opts, const embedder& spec, const std::vector<uuid>& ids,
               const std::function<std::optional<float>(float* values, size_t count)>& score);

/// Heap bytes of a node-based hash map: one node (value, next pointer, cached hash) per entry
/// plus the bucket array.
template <class K, class V, class H, class E, class A>
size_t hash_map_bytes(const std::unordered_map<K, V, H, E, A>& map) {
  using value_type = typename std::unordered_map<K, V, H, E, A>::value_type;
  return map.size() * (sizeof(value_type) + 2 * sizeof(void*)) + map.bucket_count() * sizeof(void*);
}

/// Bytes of an id_table's two arrays.
template <class V>
size_t hash_map_bytes(const id_table<V>& map) {
  return map.memory_bytes();
}

} // namespace telos::storage
