// Scoring kernels and the reference exact_score. The loops keep 16 independent partial sums in
// lanes, so the compiler turns them into SIMD code without reassociating any floating-point sum
// (we build without -ffast-math): the SSE2 and AVX2 clones add in the same order and return the
// same bits. target_clones picks the AVX2 clone at load time on CPUs that have it, so the library
// stays portable to any x86-64.
#include "telos/storage/vector_kernels.hpp"

#include "telos/storage/vector_index.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <immintrin.h>
#include <iterator>

// Under ThreadSanitizer the clones are left out (each kernel is its portable version): a clone's
// resolver runs while the loader relocates the program, before the TSan runtime is up, and its
// instrumented code crashed the test executables at load.
#if defined(__SANITIZE_THREAD__)
#define TELOS_CLONES(...)
#else
#define TELOS_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#endif

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
  return kernels::sparse_dot(a.indices.data(), a.values.data(), a.indices.size(), b.indices.data(),
                             b.values.data(), b.indices.size());
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

using dot_int8_fn = int32_t (*)(const int8_t*, const int8_t*, size_t);

/// Sum of a[i] * b[i] for i in [from, n): a kernel's last n % step codes, or a whole portable dot.
/// `a` holds int8 codes, or (the rows kernels) int8 codes widened to int16.
template <class Code>
int32_t dot_int8_tail(const Code* a, const int8_t* b, size_t from, size_t n) {
  int32_t sum = 0;
  for (size_t i = from; i < n; ++i)
    sum += int32_t{a[i]} * int32_t{b[i]};
  return sum;
}

/// 32 codes per step: sign-extended to int16, multiplied and added in pairs into int32 lanes by
/// one VNNI instruction (vpdpwssd).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t
dot_int8_vnni(const int8_t* a, const int8_t* b, size_t n) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    __m512i y = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    acc = _mm512_dpwssd_epi32(acc, x, y);
  }
  // Added in registers (GCC 12's _mm512_reduce_add_epi32 trips -Wuninitialized in its own
  // header). Going through memory instead (a 64-byte store, 16 loads) cost more than the four
  // multiply-adds of a 128-d row: E12's int8 MaxSim is one such call per pair of tokens.
  // Lane 0 ends up with the sum of all 16 (the unmasked shuffles, extracts and casts trip the same
  // warning; the zero-masked ones do not).
  constexpr __mmask16 all = 0xFFFF;
  acc = _mm512_add_epi32(acc, _mm512_maskz_shuffle_i32x4(all, acc, acc, 0x4e));
  acc = _mm512_add_epi32(acc, _mm512_maskz_shuffle_i32x4(all, acc, acc, 0xb1));
  acc = _mm512_add_epi32(acc, _mm512_maskz_shuffle_epi32(all, acc, _MM_PERM_BADC));
  acc = _mm512_add_epi32(acc, _mm512_maskz_shuffle_epi32(all, acc, _MM_PERM_CDAB));
  return _mm512_cvtsi512_si32(acc) + dot_int8_tail(a, b, i, n);
}

/// The sums of the 16 int32 lanes of a, b, c and d, in that order, with one reduction for all
/// four: halves added, then three horizontal adds.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline __m128i
sum_lanes(__m512i a, __m512i b, __m512i c, __m512i d) {
  // Zero-masked extracts: the unmasked ones trip GCC 12's -Wuninitialized in its own header.
  constexpr __mmask8 all = 0xFF;
  const __m256i h = _mm256_hadd_epi32(
      _mm256_hadd_epi32(_mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(all, a, 0),
                                         _mm512_maskz_extracti64x4_epi64(all, a, 1)),
                        _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(all, b, 0),
                                         _mm512_maskz_extracti64x4_epi64(all, b, 1))),
      _mm256_hadd_epi32(_mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(all, c, 0),
                                         _mm512_maskz_extracti64x4_epi64(all, c, 1)),
                        _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(all, d, 0),
                                         _mm512_maskz_extracti64x4_epi64(all, d, 1))));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/// out[0..G) for rows[0..G) (widened, n codes each) against b: each 32 codes of b are widened
/// once for all G rows, whose codes go straight into vpdpwssd, and the G sums share one
/// reduction. Before, every pair of rows widened both sides and reduced on its own: three times
/// the shuffle-port work of the multiply-adds for E12's 128-d tokens. The accumulators are named
/// variables (an array of them was kept on the stack).
template <size_t G>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void
dot_wide_group_vnni(const int16_t* rows, const int8_t* b, size_t n, int32_t* out) {
  static_assert(G == 1 || G == 2 || G == 4);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i y =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    a0 = _mm512_dpwssd_epi32(a0, _mm512_loadu_si512(rows + i), y);
    if constexpr (G >= 2) a1 = _mm512_dpwssd_epi32(a1, _mm512_loadu_si512(rows + n + i), y);
    if constexpr (G == 4) {
      a2 = _mm512_dpwssd_epi32(a2, _mm512_loadu_si512(rows + 2 * n + i), y);
      a3 = _mm512_dpwssd_epi32(a3, _mm512_loadu_si512(rows + 3 * n + i), y);
    }
  }
  alignas(16) int32_t sums[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(sums), sum_lanes(a0, a1, a2, a3));
  for (size_t g = 0; g < G; ++g)
    out[g] = sums[g] + dot_int8_tail(rows + g * n, b, i, n);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
dot_int8_rows_vnni(const int16_t* rows, size_t count, const int8_t* b, size_t n, int32_t* out) {
  size_t r = 0;
  for (; r + 4 <= count; r += 4)
    dot_wide_group_vnni<4>(rows + r * n, b, n, out + r);
  if (count - r >= 2) {
    dot_wide_group_vnni<2>(rows + r * n, b, n, out + r);
    r += 2;
  }
  if (r < count) dot_wide_group_vnni<1>(rows + r * n, b, n, out + r);
}

/// 16 codes per step: sign-extended to int16, vpmaddwd, added into int32 lanes.
__attribute__((target("avx2"))) int32_t dot_int8_avx2(const int8_t* a, const int8_t* b, size_t n) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
  }
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));
  return _mm_cvtsi128_si32(sum) + dot_int8_tail(a, b, i, n);
}

int32_t dot_int8_portable(const int8_t* a, const int8_t* b, size_t n) {
  return dot_int8_tail(a, b, 0, n);
}

__attribute__((target("avx2"))) inline __m256i load_wide(const int16_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

/// dot_wide_group_vnni with 16 codes per step (vpmaddwd).
template <size_t G>
__attribute__((target("avx2"))) inline void
dot_wide_group_avx2(const int16_t* rows, const int8_t* b, size_t n, int32_t* out) {
  static_assert(G == 1 || G == 2 || G == 4);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i y =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(load_wide(rows + i), y));
    if constexpr (G >= 2)
      a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(load_wide(rows + 1 * n + i), y));
    if constexpr (G == 4) {
      a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(load_wide(rows + 2 * n + i), y));
      a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(load_wide(rows + 3 * n + i), y));
    }
  }
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  alignas(16) int32_t sums[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(sums),
                  _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
  for (size_t g = 0; g < G; ++g)
    out[g] = sums[g] + dot_int8_tail(rows + g * n, b, i, n);
}

__attribute__((target("avx2"))) void dot_int8_rows_avx2(const int16_t* rows, size_t count,
                                                        const int8_t* b, size_t n, int32_t* out) {
  size_t r = 0;
  for (; r + 4 <= count; r += 4)
    dot_wide_group_avx2<4>(rows + r * n, b, n, out + r);
  if (count - r >= 2) {
    dot_wide_group_avx2<2>(rows + r * n, b, n, out + r);
    r += 2;
  }
  if (r < count) dot_wide_group_avx2<1>(rows + r * n, b, n, out + r);
}

void dot_int8_rows_portable(const int16_t* rows, size_t count, const int8_t* b, size_t n,
                            int32_t* out) {
  for (size_t r = 0; r < count; ++r)
    out[r] = dot_int8_tail(rows + r * n, b, 0, n);
}

/// The largest |x[i]| of x[from..n), at least `largest`.
float largest_magnitude(const float* x, size_t from, size_t n, float largest) {
  for (size_t i = from; i < n; ++i)
    largest = std::max(largest, std::fabs(x[i]));
  return largest;
}

/// The code of one value: the product rounded as the current rounding mode says (to nearest, halves
/// to even, by default), clamped to +-int8_code_max; NaN (which std::clamp would pass on, and
/// converting it is undefined) gives -int8_code_max. Stores take finite values only: this keeps
/// a damaged row read from a file from being undefined behaviour.
inline int8_t int8_code(float value, float inverse) {
  const float code = std::nearbyint(value * inverse);
  constexpr float top = kernels::int8_code_max;
  return static_cast<int8_t>(code > top ? top : (code >= -top ? code : -top));
}

/// A zero vector's codes (all 0) and scale (0).
float zero_codes(int8_t* out, size_t n) {
  std::memset(out, 0, n);
  return 0;
}

/// The codes of x[from..n) one at a time (a kernel's tail), and the vector's scale.
float last_codes(const float* x, size_t from, size_t n, float largest, int8_t* out) {
  float inverse = kernels::int8_code_max / largest;
  for (size_t i = from; i < n; ++i)
    out[i] = int8_code(x[i], inverse);
  return largest / kernels::int8_code_max;
}

float quantize_int8_portable(const float* x, size_t n, int8_t* out) {
  float largest = largest_magnitude(x, 0, n, 0);
  if (largest == 0) return zero_codes(out, n);
  return last_codes(x, 0, n, largest, out);
}

/// quantize_int8_portable, 16 values per step. The largest magnitude is exact in any order, and
/// vcvtps2dq rounds each product as std::nearbyint does (by the current rounding mode), so the
/// codes are the portable loop's to the bit; clamping the integer equals clamping the float.
/// The portable loop was a libm call per value (-O2 leaves it scalar): 3.3 ns per value, about
/// 30 µs of a teleo13 memory's 8,960 dense floats.
__attribute__((target("avx512f"))) float quantize_int8_avx512(const float* x, size_t n,
                                                              int8_t* out) {
  // Zero-masked forms throughout: the unmasked ones trip GCC 12's -Wuninitialized in its own
  // header (see dot_int8_vnni).
  constexpr __mmask16 all = 0xFFFF;
  const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
  __m512i most = _mm512_setzero_si512(); // non-negative floats order as their bits do
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    most = _mm512_maskz_max_epu32(
        all, most, _mm512_maskz_and_epi32(all, _mm512_loadu_si512(x + i), magnitude));
  most = _mm512_maskz_max_epu32(all, most, _mm512_maskz_shuffle_i32x4(all, most, most, 0x4e));
  most = _mm512_maskz_max_epu32(all, most, _mm512_maskz_shuffle_i32x4(all, most, most, 0xb1));
  most = _mm512_maskz_max_epu32(all, most, _mm512_maskz_shuffle_epi32(all, most, _MM_PERM_BADC));
  most = _mm512_maskz_max_epu32(all, most, _mm512_maskz_shuffle_epi32(all, most, _MM_PERM_CDAB));
  float largest = largest_magnitude(x, i, n, _mm512_cvtss_f32(_mm512_castsi512_ps(most)));
  if (largest == 0) return zero_codes(out, n);
  const __m512 scale = _mm512_set1_ps(kernels::int8_code_max / largest);
  const __m512i top = _mm512_set1_epi32(static_cast<int32_t>(kernels::int8_code_max));
  const __m512i bottom = _mm512_set1_epi32(-static_cast<int32_t>(kernels::int8_code_max));
  for (i = 0; i + 16 <= n; i += 16) {
    __m512i codes =
        _mm512_maskz_cvtps_epi32(all, _mm512_maskz_mul_ps(all, _mm512_loadu_ps(x + i), scale));
    codes = _mm512_maskz_max_epi32(all, _mm512_maskz_min_epi32(all, codes, top), bottom);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_maskz_cvtepi32_epi8(all, codes));
  }
  return last_codes(x, i, n, largest, out);
}

/// quantize_int8_avx512 with 8 values per step.
__attribute__((target("avx2"))) float quantize_int8_avx2(const float* x, size_t n, int8_t* out) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 most = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    most = _mm256_max_ps(most, _mm256_and_ps(_mm256_loadu_ps(x + i), magnitude));
  alignas(32) float lanes8[8];
  _mm256_store_ps(lanes8, most);
  float largest = 0;
  for (float m : lanes8)
    largest = std::max(largest, m);
  largest = largest_magnitude(x, i, n, largest);
  if (largest == 0) return zero_codes(out, n);
  const __m256 scale = _mm256_set1_ps(kernels::int8_code_max / largest);
  const __m256i top = _mm256_set1_epi32(static_cast<int32_t>(kernels::int8_code_max));
  const __m256i bottom = _mm256_set1_epi32(-static_cast<int32_t>(kernels::int8_code_max));
  for (i = 0; i + 8 <= n; i += 8) {
    __m256i codes = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), scale));
    codes = _mm256_max_epi32(_mm256_min_epi32(codes, top), bottom);
    // Saturating packs work within each 128-bit half: codes 0-3 land in the low half's first
    // four bytes, codes 4-7 in the high half's.
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(codes, codes), codes);
    const __m128i both =
        _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), both);
  }
  return last_codes(x, i, n, largest, out);
}

using dot_int8_rows_fn = void (*)(const int16_t*, size_t, const int8_t*, size_t, int32_t*);

using quantize_int8_fn = float (*)(const float*, size_t, int8_t*);

/// The int8 kernels of one instruction set. Integer sums are exact and every quantizer rounds
/// alike, so all sets give the same answers.
struct int8_kernels {
  const char* name;
  dot_int8_fn dot;
  dot_int8_rows_fn rows;
  quantize_int8_fn quantize;
};

constexpr int8_kernels int8_sets[] = {
    {"vnni", &dot_int8_vnni, &dot_int8_rows_vnni, &quantize_int8_avx512},
    {"avx2", &dot_int8_avx2, &dot_int8_rows_avx2, &quantize_int8_avx2},
    {"portable", &dot_int8_portable, &dot_int8_rows_portable, &quantize_int8_portable},
};

/// The best set this CPU runs, or the one TELOS_KERNELS names when the CPU runs it (a set the CPU
/// lacks, or an unknown name, leaves the best: the variable only lets tests and users step down).
const int8_kernels& pick_int8_kernels() {
  __builtin_cpu_init();
  size_t best = 2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vnni"))
    best = 0;
  else if (__builtin_cpu_supports("avx2"))
    best = 1;
  if (const char* wanted = std::getenv("TELOS_KERNELS"))
    for (size_t i = best; i < std::size(int8_sets); ++i)
      if (std::strcmp(wanted, int8_sets[i].name) == 0) return int8_sets[i];
  return int8_sets[best];
}

const int8_kernels& int8_best = pick_int8_kernels();
const dot_int8_fn dot_int8_best = int8_best.dot;
const dot_int8_rows_fn dot_int8_rows_best = int8_best.rows;
const quantize_int8_fn quantize_int8_best = int8_best.quantize;

} // namespace

namespace kernels {

float sparse_dot(const uint32_t* a_terms, const float* a_weights, size_t a_count,
                 const uint32_t* b_terms, const float* b_weights, size_t b_count) {
  // Both term lists are strictly increasing (validated), so a merge finds the common terms.
  float sum = 0;
  size_t i = 0, j = 0;
  while (i < a_count && j < b_count) {
    if (a_terms[i] < b_terms[j]) {
      ++i;
    } else if (b_terms[j] < a_terms[i]) {
      ++j;
    } else {
      sum += a_weights[i] * b_weights[j];
      ++i;
      ++j;
    }
  }
  return sum;
}

float quantize_int8(const float* x, size_t n, int8_t* out) {
  return quantize_int8_best(x, n, out);
}

const char* int8_kernels_in_use() {
  return int8_best.name;
}

int32_t dot_int8(const int8_t* a, const int8_t* b, size_t n) {
  return dot_int8_best(a, b, n);
}

void widen_int8(const int8_t* codes, size_t n, int16_t* out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = codes[i];
}

void dot_int8_rows(const int16_t* rows, size_t count, const int8_t* b, size_t n, int32_t* out) {
  dot_int8_rows_best(rows, count, b, n, out);
}

void binarize(const float* x, size_t n, uint64_t* out) {
  std::memset(out, 0, binary_words(n) * sizeof(uint64_t));
  for (size_t i = 0; i < n; ++i)
    if (x[i] > 0) out[i / 64] |= uint64_t{1} << (i % 64);
}

TELOS_CLONES("arch=icelake-server", "popcnt", "default")
uint32_t hamming(const uint64_t* a, const uint64_t* b, size_t words) {
  // Eight independent counts, so the icelake clone uses vpopcntq on whole registers.
  // Codes live inside hnswlib's element blocks at offsets that are not always 8-byte aligned:
  // read each word through memcpy (one unaligned load), never through a uint64_t lvalue.
  auto word = [](const uint64_t* p, size_t k) {
    uint64_t w;
    std::memcpy(&w, reinterpret_cast<const unsigned char*>(p) + k * sizeof(uint64_t), sizeof w);
    return w;
  };
  uint64_t acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= words; i += 8) {
#pragma GCC unroll 8
    for (size_t j = 0; j < 8; ++j)
      acc[j] += static_cast<uint64_t>(__builtin_popcountll(word(a, i + j) ^ word(b, i + j)));
  }
  uint64_t sum = 0;
  for (size_t j = 0; j < 8; ++j)
    sum += acc[j];
  for (; i < words; ++i)
    sum += static_cast<uint64_t>(__builtin_popcountll(word(a, i) ^ word(b, i)));
  return static_cast<uint32_t>(sum);
}

TELOS_CLONES("avx2", "default") float dot(const float* a, const float* b, size_t n) {
  return dot_inline(a, b, n);
}

TELOS_CLONES("avx2", "default") float squared_l2(const float* a, const float* b, size_t n) {
  return squared_l2_inline(a, b, n);
}

TELOS_CLONES("avx2", "default")
void dot_rows(const float* query, const float* rows, size_t count, size_t dim, size_t stride,
              float* out) {
  for (size_t r = 0; r < count; ++r)
    out[r] = dot_inline(query, rows + r * stride, dim);
}

TELOS_CLONES("avx2", "default")
void squared_l2_rows(const float* query, const float* rows, size_t count, size_t dim, size_t stride,
                     float* out) {
  for (size_t r = 0; r < count; ++r)
    out[r] = squared_l2_inline(query, rows + r * stride, dim);
}

TELOS_CLONES("avx2", "default")
float maxsim(const float* query, size_t query_tokens, const float* document, size_t document_tokens,
             size_t dim) {
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

TELOS_CLONES("avx2", "default") void normalize(float* v, size_t n) {
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

float exact_dense_score(const embedder& spec, const float* query, const float* stored, size_t n) {
  switch (spec.metric) {
  case metric::cosine:
    return cosine(query, stored, n);
  case metric::dot:
    return kernels::dot(query, stored, n);
  case metric::l2:
    return -std::sqrt(kernels::squared_l2(query, stored, n));
  }
  return 0;
}

float exact_score(const embedder& spec, const embedding& query, const embedding& stored) {
  switch (spec.kind) {
  case embedder_kind::dense:
    return exact_dense_score(spec, query.values.data(), stored.values.data(),
                             std::min(query.values.size(), stored.values.size()));
  case embedder_kind::sparse:
    return sparse_dot(query, stored);
  case embedder_kind::multi:
    return maxsim(query, stored, spec.dim);
  }
  return 0;
}

} // namespace telos::storage
