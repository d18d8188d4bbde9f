// The int8 kernels (codes, dot products, rows of dot products) against scalar references, in
// whichever instruction set runs: the best this CPU has, or the lower one TELOS_KERNELS names
// (tests/index/suite.cmake registers this suite again under "avx2" and "portable", so every set
// the CPU runs is checked on it).
#include "index_reference.hpp"

#include "telos/storage/vector_kernels.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

using namespace index_test;
namespace kernels = telos::storage::kernels;

namespace {

std::vector<int8_t> random_codes(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> code{-127, 127};
  std::vector<int8_t> out(n);
  for (auto& c : out)
    c = static_cast<int8_t>(code(rng));
  return out;
}

/// The code quantize_int8 documents, one value at a time: the product rounded by the current
/// rounding mode, clamped to +-127.
float reference_codes(const std::vector<float>& x, std::vector<int8_t>& out) {
  float largest = 0;
  for (float v : x)
    largest = std::max(largest, std::fabs(v));
  out.assign(x.size(), 0);
  if (largest == 0) return 0;
  float inverse = 127.0f / largest;
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * inverse), -127.0f, 127.0f));
  return largest / 127.0f;
}

} // namespace

BOOST_AUTO_TEST_SUITE(int8_kernels)

BOOST_AUTO_TEST_CASE(the_kernels_in_use_are_the_ones_TELOS_KERNELS_names_when_the_cpu_runs_them) {
  std::string in_use = kernels::int8_kernels_in_use();
  BOOST_TEST_MESSAGE("int8 kernels in use: " << in_use);
  BOOST_CHECK(in_use == "vnni" || in_use == "avx2" || in_use == "portable");
  const char* wanted = std::getenv("TELOS_KERNELS");
  std::string w = wanted ? wanted : "";
  if (w == "portable") BOOST_CHECK_EQUAL(in_use, "portable");
  if (w == "avx2") BOOST_CHECK_EQUAL(in_use, __builtin_cpu_supports("avx2") ? "avx2" : "portable");
}

BOOST_AUTO_TEST_CASE(int8_dot_equals_the_scalar_sum_for_every_length) {
  std::mt19937 rng{3};
  for (size_t n : {0, 1, 15, 16, 17, 31, 32, 33, 100, 768, 1024, 1031, 65536}) {
    auto a = random_codes(rng, n);
    auto b = random_codes(rng, n);
    int64_t expected = 0;
    for (size_t i = 0; i < n; ++i)
      expected += int64_t{a[i]} * int64_t{b[i]};
    BOOST_TEST_CONTEXT("n " << n) {
      BOOST_CHECK_EQUAL(kernels::dot_int8(a.data(), b.data(), n), expected);
    }
  }
  // The rows kernel (rows widened) gives each row's dot_int8, for short and long rows alike and
  // for every count of rows (it takes them four, two and one at a time).
  for (size_t n : {0, 1, 15, 16, 17, 31, 32, 33, 128, 1000})
    for (size_t count : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
      auto rows = random_codes(rng, count * n);
      std::vector<int16_t> wide(rows.size());
      kernels::widen_int8(rows.data(), rows.size(), wide.data());
      auto b = random_codes(rng, n);
      std::vector<int32_t> out(count + 1, -1);
      kernels::dot_int8_rows(wide.data(), count, b.data(), n, out.data());
      BOOST_CHECK_EQUAL(out[count], -1); // nothing written past the last row
      for (size_t r = 0; r < count; ++r) {
        int64_t expected = 0;
        for (size_t i = 0; i < n; ++i)
          expected += int64_t{rows[r * n + i]} * int64_t{b[i]};
        BOOST_TEST_CONTEXT("n " << n << ", count " << count << ", row " << r) {
          BOOST_CHECK_EQUAL(out[r], expected);
        }
      }
    }
  // The extreme codes at the largest dimension a profile allows stay inside int32.
  std::vector<int8_t> high(65536, 127), low(65536, -127);
  BOOST_CHECK_EQUAL(kernels::dot_int8(high.data(), low.data(), high.size()),
                    -int64_t{127} * 127 * 65536);
}

BOOST_AUTO_TEST_CASE(int8_codes_are_the_rounded_quotients_bit_for_bit_for_every_length) {
  std::mt19937 rng{11};
  size_t checked = 0;
  for (size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 128, 129, 768, 1024, 1031, 1536}) {
    for (int round = 0; round < 6; ++round) {
      auto x = gaussian(rng, n);
      if (round == 1)
        for (size_t i = 0; i < n; ++i) // halves after scaling: ties round to even
          x[i] = static_cast<float>(static_cast<int>(i % 255) - 127) / 2.0f;
      if (round == 2)
        for (auto& v : x)
          v *= 1e-30f; // tiny but not zero
      if (round == 3 && n > 0) {
        std::fill(x.begin(), x.end(), 0.0f);
        x[n / 2] = -0.0f; // all zero: scale 0, codes 0
      }
      if (round == 4 && n > 0) x[n - 1] = -3 * std::fabs(x[n - 1]) - 1; // the largest is last
      std::vector<int8_t> expected;
      float expected_scale = reference_codes(x, expected);
      std::vector<int8_t> codes(n + 1, 99);
      float scale = kernels::quantize_int8(x.data(), n, codes.data());
      BOOST_TEST_CONTEXT("n " << n << ", round " << round) {
        BOOST_CHECK_EQUAL(std::memcmp(&scale, &expected_scale, sizeof scale), 0);
        BOOST_CHECK(std::equal(expected.begin(), expected.end(), codes.begin()));
        BOOST_CHECK_EQUAL(codes[n], 99); // nothing written past the last code
      }
      ++checked;
    }
  }
  BOOST_CHECK_EQUAL(checked, 16u * 6u);
}

BOOST_AUTO_TEST_SUITE_END()
