// Scoring kernels shared by the vector indexes: dot products and squared L2 distances over
// contiguous float arrays (vectorised; an AVX2 clone is picked at load time where the CPU has it,
// plain SSE2 code elsewhere, with bitwise identical results), normalisation, the quantised codes
// (int8 with one scale per vector, 1-bit signs) with their exact integer kernels (AVX-512 VNNI,
// AVX2 or portable code, picked at load time, same results), and top-k selection in
// telos::better order.
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

/// Dot product of two sparse vectors, each given as strictly increasing terms with their weights:
/// the sum of a_weights[i] * b_weights[j] over the common terms, added in ascending term order
/// (exact_score's order for sparse embedders, which calls this).
float sparse_dot(const uint32_t* a_terms, const float* a_weights, size_t a_count,
                 const uint32_t* b_terms, const float* b_weights, size_t b_count);

/// Scales v[0..n) to unit length; a zero vector stays zero (its cosine with anything is 0).
void normalize(float* v, size_t n);

/// Largest |x[i]| a code can reach: codes are in [-127, 127], so -128 never occurs and a product
/// of two codes fits 15 bits.
inline constexpr float int8_code_max = 127.0f;

/// Symmetric int8 code of x[0..n) with one scale per vector: out[i] = round(x[i] / scale) with
/// scale = max|x| / 127, so x[i] ~ scale * out[i]. Returns the scale (0 for a zero vector, whose
/// codes are all 0). NaN/Inf never reach an index (validated on input).
float quantize_int8(const float* x, size_t n, int8_t* out);

/// The instruction set of the int8 kernels (quantize_int8, dot_int8, dot_int8_rows): "vnni"
/// (AVX-512 with VNNI), "avx2" or "portable", the best this CPU runs unless the environment
/// variable TELOS_KERNELS names a lower one when the library loads. Every set gives the same
/// codes and sums.
const char* int8_kernels_in_use();

/// Sum of a[i] * b[i] over int8 codes, exact (n <= 65536 keeps it inside int32).
int32_t dot_int8(const int8_t* a, const int8_t* b, size_t n);
/// out[i] = codes[i] for i < n: int8 codes sign-extended to int16, the form dot_int8_rows takes
/// its rows in.
void widen_int8(const int8_t* codes, size_t n, int16_t* out);
/// out[i] = the dot product of row i (n codes, widened by widen_int8: rows + i * n) with b, for
/// every i < count: one call for many short rows (E12's query tokens against one token of a
/// memory), each sum as exact as dot_int8's. The rows come widened because the same rows meet
/// every token of every candidate: widened once per query, each row's codes go straight into the
/// multiply-adds.
void dot_int8_rows(const int16_t* rows, size_t count, const int8_t* b, size_t n, int32_t* out);

/// 64-bit words a binary code of n dimensions takes.
inline constexpr size_t binary_words(size_t n) {
  return (n + 63) / 64;
}

/// Sign bits of x[0..n): bit i%64 of word i/64 is set when x[i] > 0; bits past n are 0.
void binarize(const float* x, size_t n, uint64_t* out);

/// Number of differing bits of two binary codes of `words` words (the Hamming distance).
uint32_t hamming(const uint64_t* a, const uint64_t* b, size_t words);

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
  /// The k it collects.
  size_t capacity() const { return k_; }

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
