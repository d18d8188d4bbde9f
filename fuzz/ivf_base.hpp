// The dense ivf index that fuzz_index_snapshot loads its deltas over (selector kind 3) and that
// fuzz_seeds writes the delta seeds from. Deterministic: both build the same base file.
#pragma once

#include "telos/storage/vector_index.hpp"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace telos::fuzz {

/// A 4-d cosine embedder of policy ivf with int8 codes.
inline embedder ivf_spec() {
  embedder spec{"d", embedder_kind::dense, 4, metric::cosine};
  spec.index.structure = index_structure::ivf;
  spec.index.quantization = quantization::int8;
  return spec;
}

/// The index trains its lists at 8 vectors.
inline storage::index_options ivf_options() {
  storage::index_options opts;
  opts.hnsw_threshold = 8;
  return opts;
}

inline uuid ivf_id(int n) {
  std::string raw(16, '\0');
  for (int i = 0; i < 16; ++i)
    raw[i] = static_cast<char>(n * 31 + i + 7);
  return uuid::from_bytes(raw);
}

inline embedding ivf_vector(int n) {
  std::vector<float> v(4);
  for (int i = 0; i < 4; ++i)
    v[i] = std::sin(static_cast<float>(n * 4 + i) * 0.7f) + (n % 3 == i ? 1.5f : 0.0f);
  return embedding::dense(std::move(v));
}

/// Vectors in the base.
inline constexpr int ivf_base_vectors = 40;

/// The base: 40 vectors, every one filed into its list, saved to `path` and kept as the base of
/// the index's deltas. Null when the save fails.
inline std::unique_ptr<storage::vector_index> ivf_base(const std::string& path) {
  auto index = storage::make_vector_index(ivf_spec(), ivf_options());
  for (int n = 0; n < ivf_base_vectors; ++n)
    index->upsert(ivf_id(n), ivf_vector(n));
  while (index->maintain(64) > 0) {
  }
  if (!index->save(path)) return nullptr;
  index->base_kept();
  return index;
}

} // namespace telos::fuzz
