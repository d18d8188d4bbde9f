// Scoring kernels and the reference exact_score. The loops keep 16 independent partial sums in
// lanes, so the compiler turns them into SIMD code without reassociating any floating-point sum
// (we build without -ffast-math): the SSE2 and AVX2 clones add in the same order and return the
// same bits. target_clones picks the AVX2 clone at load time on CPUs that have it, so the library
// stays portable to any x86-64.
#include "telos/storage/vector_kernels.hpp"

#include "telos/storage/vector_index.hpp"

#include <cmath>

namespace telos::storage {

namespace {

constexpr size_t lanes = 16;

/// Adds the 16 lanes pairwise (a fixed tree, so every clone rounds alike).
__attribute__((always_inline)) inline float reduce_lanes(float* acc) {
#pragma GCC unroll 16
  for (size_t width = lanes / 2; width > 0; width /= 2)
#pragma GCC unroll 16
    for (size_t j = 0; j < width; ++j)
      acc[j] += acc[j + width];
  return acc[0];
}

__attribute__((always_inline)) inline float dot_inline(const float* __restrict a,
                                                       const float* __restrict b, size_t n) {
  float acc[lanes] = {};
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
#pragma GCC unroll 16
    for (size_t j = 0; j < lanes; ++j)
      acc[j] += a[i + j] * b[i + j];
  }
  float sum = reduce_lanes(acc);
  for (; i < n; ++i)
    sum += a[i] * b[i];
  return sum;
}

__attribute__((always_inline)) inline float squared_l2_inline(const float* __restrict a,
                                                              const float* __restrict b, size_t n) {
  float acc[lanes] = {};
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
#pragma GCC unroll 16
    for (size_t j = 0; j < lanes; ++j) {
      float d = a[i + j] - b[i + j];
      acc[j] += d * d;
    }
  }
  float sum = reduce_lanes(acc);
  for (; i < n; ++i) {
    float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float cosine(const float* a, const float* b, size_t n) {
  float na = kernels::dot(a, a, n);
  float nb = kernels::dot(b, b, n);
  if (na == 0 || nb == 0) return 0;
  return kernels::dot(a, b, n) / (std::sqrt(na) * std::sqrt(nb));
}

float sparse_dot(const embedding& a, const embedding& b) {
  // Both index lists are strictly increasing (validated), so a merge finds the common terms.
  float sum = 0;
  size_t i = 0, j = 0;
  while (i < a.indices.size() && j < b.indices.size()) {
    if (a.indices[i] < b.indices[j]) {
      ++i;
    } else if (b.indices[j] < a.indices[i]) {
      ++j;
    } else {
      sum += a.values[i] * b.values[j];
      ++i;
      ++j;
    }
  }
  return sum;
}

float maxsim(const embedding& query, const embedding& stored, size_t dim) {
  size_t query_tokens = query.tokens(static_cast<uint32_t>(dim));
  size_t stored_tokens = stored.tokens(static_cast<uint32_t>(dim));
  if (query_tokens == 0 || stored_tokens == 0) return 0;
  float total = 0;
  for (size_t q = 0; q < query_tokens; ++q) {
    float best = -INFINITY;
    for (size_t s = 0; s < stored_tokens; ++s)
      best = std::max(best,
                      cosine(query.values.data() + q * dim, stored.values.data() + s * dim, dim));
    total += best;
  }
  return total / static_cast<float>(query_tokens);
}

} // namespace

namespace kernels {

__attribute__((target_clones("avx2", "default"))) float dot(const float* a, const float* b,
                                                            size_t n) {
  return dot_inline(a, b, n);
}

__attribute__((target_clones("avx2", "default"))) float squared_l2(const float* a, const float* b,
                                                                   size_t n) {
  return squared_l2_inline(a, b, n);
}

__attribute__((target_clones("avx2", "default"))) void dot_rows(const float* query,
                                                                const float* rows, size_t count,
                                                                size_t dim, size_t stride,
                                                                float* out) {
  for (size_t r = 0; r < count; ++r)
    out[r] = dot_inline(query, rows + r * stride, dim);
}

__attribute__((target_clones("avx2", "default"))) void squared_l2_rows(const float* query,
                                                                       const float* rows,
                                                                       size_t count, size_t dim,
                                                                       size_t stride, float* out) {
  for (size_t r = 0; r < count; ++r)
    out[r] = squared_l2_inline(query, rows + r * stride, dim);
}

__attribute__((target_clones("avx2", "default"))) float maxsim(const float* query,
                                                               size_t query_tokens,
                                                               const float* document,
                                                               size_t document_tokens, size_t dim) {
  if (query_tokens == 0 || document_tokens == 0) return 0;
  // Document tokens outside, query tokens inside: the document streams through once while the
  // (small) query stays in L1.
  std::vector<float> best(query_tokens, -INFINITY);
  for (size_t d = 0; d < document_tokens; ++d) {
    const float* token = document + d * dim;
    for (size_t q = 0; q < query_tokens; ++q)
      best[q] = std::max(best[q], dot_inline(query + q * dim, token, dim));
  }
  float total = 0;
  for (float b : best)
    total += b;
  return total / static_cast<float>(query_tokens);
}

__attribute__((target_clones("avx2", "default"))) void normalize(float* v, size_t n) {
  float norm = std::sqrt(dot_inline(v, v, n));
  if (norm == 0) return;
  float inverse = 1.0f / norm;
  // Element-wise, so SIMD code gives the same bits; unrolled by hand because -O2 leaves a loop
  // of unknown length scalar.
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
#pragma GCC unroll 16
    for (size_t j = 0; j < lanes; ++j)
      v[i + j] *= inverse;
  }
  for (; i < n; ++i)
    v[i] *= inverse;
}

} // namespace kernels

float exact_score(const embedder& spec, const embedding& query, const embedding& stored) {
  switch (spec.kind) {
  case embedder_kind::dense: {
    size_t n = std::min(query.values.size(), stored.values.size());
    switch (spec.metric) {
    case metric::cosine:
      return cosine(query.values.data(), stored.values.data(), n);
    case metric::dot:
      return kernels::dot(query.values.data(), stored.values.data(), n);
    case metric::l2:
      return -std::sqrt(kernels::squared_l2(query.values.data(), stored.values.data(), n));
    }
    return 0;
  }
  case embedder_kind::sparse:
    return sparse_dot(query, stored);
  case embedder_kind::multi:
    return maxsim(query, stored, spec.dim);
  }
  return 0;
}

} // namespace telos::storage
