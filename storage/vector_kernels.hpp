// Scoring kernels shared by the vector indexes: dot products and squared L2 distances over
// contiguous float arrays (vectorised; an AVX2 clone is picked at load time where the CPU has it,
// plain SSE2 code elsewhere, with bitwise identical results), normalisation, and top-k selection
// in telos::better order.
#pragma once

#include "telos/messages/search.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace telos::storage::kernels {

/// Sum of a[i] * b[i] for i < n.
float dot(const float* a, const float* b, size_t n);

/// Sum of (a[i] - b[i])^2 for i < n.
float squared_l2(const float* a, const float* b, size_t n);

/// out[r] = dot(query, rows + r * stride, dim) for r < count (stride in floats).
void dot_rows(const float* query, const float* rows, size_t count, size_t dim, size_t stride,
              float* out);

/// out[r] = squared_l2(query, rows + r * stride, dim) for r < count (stride in floats).
void squared_l2_rows(const float* query, const float* rows, size_t count, size_t dim, size_t stride,
                     float* out);

/// MaxSim of unit-length token rows: the mean over the query's tokens of the largest dot
/// product with any of the document's tokens; 0 when either has no token.
float maxsim(const float* query, size_t query_tokens, const float* document, size_t document_tokens,
             size_t dim);

/// Scales v[0..n) to unit length; a zero vector stays zero (its cosine with anything is 0).
void normalize(float* v, size_t n);

/// Collects the best k hits in telos::better order (score descending, ties by id ascending).
/// Rejecting a candidate that cannot enter costs one float comparison.
class top_k {
public:
  explicit top_k(size_t k) : k_(k) { heap_.reserve(k); }

  /// True when a candidate of this score might enter (false once k hits score higher).
  bool admits(float score) const {
    return k_ != 0 && (heap_.size() < k_ || score >= heap_.front().score);
  }

  void push(const uuid& id, float score) {
    if (!admits(score)) return;
    hit h{id, score};
    if (heap_.size() < k_) {
      heap_.push_back(h);
      std::push_heap(heap_.begin(), heap_.end(), better);
    } else if (better(h, heap_.front())) {
      // The heap's front is its worst hit (better is the heap's "less").
      std::pop_heap(heap_.begin(), heap_.end(), better);
      heap_.back() = h;
      std::push_heap(heap_.begin(), heap_.end(), better);
    }
  }

  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }

  /// The collected hits, best first; leaves the collector empty.
  std::vector<hit> take() {
    std::sort_heap(heap_.begin(), heap_.end(), better);
    std::vector<hit> out;
    out.swap(heap_);
    return out;
  }

private:
  size_t k_;
  std::vector<hit> heap_;
};

} // namespace telos::storage::kernels
