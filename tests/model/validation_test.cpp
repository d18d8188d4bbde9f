// Validation of embeddings, memories and batches: every rule, each with its exact message.
#include "telos/messages/memory.hpp"
#include "telos/messages/utf8.hpp"

#include "model/fixtures.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace telos;
using telos::test::check_invalid;

namespace {

const embedder dense4{"E1", embedder_kind::dense, 4, metric::cosine};
const embedder sparse100{"E6", embedder_kind::sparse, 100, metric::cosine};
const embedder multi2{"E12", embedder_kind::multi, 2, metric::cosine};

const std::string id_text = "0123abcd-4567-89ab-cdef-0123456789ab";

/// Validates small_memory() after `change`.
expected<void> memory_with(void (*change)(memory&)) {
  auto m = test::small_memory();
  change(m);
  return validate(m, test::small_profile(), limits{});
}

} // namespace

BOOST_AUTO_TEST_SUITE(validation_suite)

BOOST_AUTO_TEST_CASE(valid_memories_pass) {
  auto small = validate(test::small_memory(), test::small_profile(), limits{});
  BOOST_CHECK_MESSAGE(small, test::why(small));
  auto full = validate(test::teleo13_memory(), profile::teleo13(), limits{});
  BOOST_CHECK_MESSAGE(full, test::why(full));
}

BOOST_AUTO_TEST_CASE(dense_errors) {
  limits lim;
  check_invalid(validate(embedding::dense({1, 2, 3}), dense4, lim), "E1: dimension 3, expected 4");
  check_invalid(validate(embedding::dense({}), dense4, lim), "E1: dimension 0, expected 4");
  check_invalid(validate(embedding::dense({0, 0, 0, 0}), dense4, lim),
                "E1: zero vector under cosine");
  auto nan = std::numeric_limits<float>::quiet_NaN();
  auto inf = std::numeric_limits<float>::infinity();
  check_invalid(validate(embedding::dense({1, 2, nan, 4}), dense4, lim), "E1: value 2 is NaN");
  check_invalid(validate(embedding::dense({1, 2, 3, inf}), dense4, lim), "E1: value 3 is +inf");
  check_invalid(validate(embedding::dense({-inf, 2, 3, 4}), dense4, lim), "E1: value 0 is -inf");
  check_invalid(validate(embedding::sparse({1}, {1, 2, 3, 4}), dense4, lim),
                "E1: 1 indices given to a dense embedder (only sparse embeddings have indices)");
  // Only cosine needs a direction: zero vectors are fine under dot and l2.
  for (auto m : {metric::dot, metric::l2}) {
    embedder spec{"E2", embedder_kind::dense, 4, m};
    BOOST_CHECK(validate(embedding::dense({0, 0, 0, 0}), spec, lim));
  }
  BOOST_CHECK(validate(embedding::dense({0, 0, 1e-30f, 0}), dense4, lim));
}

BOOST_AUTO_TEST_CASE(a_bad_value_anywhere_in_a_long_vector_is_found_and_named) {
  // The finite check runs in 16 lanes plus a tail: a bad value in any lane, in the tail, and
  // extreme finite values (largest, smallest subnormal, negative zero) that must pass.
  limits lim;
  embedder spec{"E1", embedder_kind::dense, 1027, metric::cosine};
  std::vector<float> base(1027, 0.5f);
  base[3] = std::numeric_limits<float>::max();
  base[4] = -std::numeric_limits<float>::max();
  base[5] = std::numeric_limits<float>::denorm_min();
  base[6] = -0.0f;
  BOOST_CHECK(validate(embedding::dense(base), spec, lim));
  auto nan = std::numeric_limits<float>::quiet_NaN();
  auto inf = std::numeric_limits<float>::infinity();
  for (size_t at : {size_t{0}, size_t{15}, size_t{517}, size_t{1023}, size_t{1024}, size_t{1026}}) {
    for (float bad : {nan, inf, -inf}) {
      auto values = base;
      values[at] = bad;
      std::string what = std::isnan(bad) ? "NaN" : bad > 0 ? "+inf" : "-inf";
      check_invalid(validate(embedding::dense(values), spec, lim),
                    "E1: value " + std::to_string(at) + " is " + what);
    }
  }
}

BOOST_AUTO_TEST_CASE(sparse_errors) {
  limits lim;
  check_invalid(validate(embedding::sparse({1, 5, 9, 17, 17}, {1, 1, 1, 1, 1}), sparse100, lim),
                "E6: indices not strictly increasing at position 4 (17 after 17)");
  check_invalid(validate(embedding::sparse({5, 3}, {1, 1}), sparse100, lim),
                "E6: indices not strictly increasing at position 1 (3 after 5)");
  embedder vocabulary{"E6", embedder_kind::sparse, 30522, metric::cosine};
  check_invalid(validate(embedding::sparse({3, 40000}, {1, 1}), vocabulary, lim),
                "E6: index 40000 out of range (vocabulary 30522)");
  check_invalid(validate(embedding::sparse({100}, {1}), sparse100, lim),
                "E6: index 100 out of range (vocabulary 100)");
  check_invalid(validate(embedding::sparse({1, 2, 3}, {1, 1}), sparse100, lim),
                "E6: 3 indices but 2 values");
  check_invalid(validate(embedding::sparse({1, 2}, {1, std::nanf("")}), sparse100, lim),
                "E6: value 1 is NaN");
  lim.max_sparse_entries = 2;
  check_invalid(validate(embedding::sparse({1, 2, 3}, {1, 1, 1}), sparse100, lim),
                "E6: 3 entries, limit 2");
  // An empty sparse vector (a text without known terms) is valid: it just scores 0.
  BOOST_CHECK(validate(embedding::sparse({}, {}), sparse100, limits{}));
  BOOST_CHECK(validate(embedding::sparse({0, 99}, {0, -2}), sparse100, limits{}));
}

BOOST_AUTO_TEST_CASE(multi_errors) {
  limits lim;
  check_invalid(validate(embedding::dense({}), multi2, lim), "E12: empty token list");
  embedder token128{"E12", embedder_kind::multi, 128, metric::cosine};
  check_invalid(validate(embedding::dense(std::vector<float>(300, 1.0f)), token128, lim),
                "E12: 300 values is not a whole number of 128-d tokens");
  check_invalid(validate(embedding::dense({1, 2, 0, 0, 5, 6}), multi2, lim),
                "E12: token 1 is a zero vector (MaxSim compares by cosine)");
  check_invalid(validate(embedding::dense({1, 2, 3, std::nanf("")}), multi2, lim),
                "E12: value 3 is NaN");
  check_invalid(validate(embedding::sparse({0}, {1, 2}), multi2, lim),
                "E12: 1 indices given to a multi embedder (only sparse embeddings have indices)");
  lim.max_tokens = 2;
  check_invalid(validate(embedding::dense({1, 2, 3, 4, 5, 6}), multi2, lim),
                "E12: 3 tokens, limit 2");
  BOOST_CHECK(validate(embedding::dense({1, 2, 3, 4}), multi2, lim));
}

BOOST_AUTO_TEST_CASE(memory_errors_start_with_the_id_and_name_the_embedder) {
  auto prefix = "memory " + id_text + ": ";
  check_invalid(memory_with([](memory& m) { m.embeddings["d"].values.pop_back(); }),
                prefix + "embedder d: dimension 3, expected 4");
  check_invalid(memory_with([](memory& m) { m.embeddings.erase("s"); }),
                prefix + "missing embedder s");
  check_invalid(memory_with([](memory& m) {
                  m.embeddings.erase("s");
                  m.embeddings.erase("d");
                }),
                prefix + "missing embedders d, s");
  check_invalid(memory_with([](memory& m) { m.embeddings["E99"] = embedding::dense({1}); }),
                prefix + "unknown embedder E99 (profile has d, l, s, m)");
  check_invalid(memory_with([](memory& m) { m.embeddings["m"].values.push_back(1); }),
                prefix + "embedder m: 7 values is not a whole number of 2-d tokens");
  check_invalid(memory_with([](memory& m) { m.id = uuid{}; }),
                "memory 00000000-0000-0000-0000-000000000000: nil id");

  auto p = profile::teleo13();
  auto m = test::teleo13_memory();
  m.embeddings["E99"] = embedding::dense({1});
  check_invalid(validate(m, p, limits{}),
                "memory ffeeddcc-bbaa-4988-b766-554433221100: unknown embedder E99 (profile has "
                "E1..E13)");
  m = test::teleo13_memory();
  m.embeddings.erase("E7");
  check_invalid(validate(m, p, limits{}),
                "memory ffeeddcc-bbaa-4988-b766-554433221100: missing embedder E7");
  m = test::teleo13_memory();
  m.embeddings["E1"].values.resize(1023);
  check_invalid(validate(m, p, limits{}),
                "memory ffeeddcc-bbaa-4988-b766-554433221100: embedder E1: dimension 1023, "
                "expected 1024");
}

BOOST_AUTO_TEST_CASE(memory_text_errors) {
  auto prefix = "memory " + id_text + ": ";
  check_invalid(memory_with([](memory& m) { m.ns.clear(); }), prefix + "namespace is empty");
  check_invalid(memory_with([](memory& m) { m.ns = std::string(256, 'n'); }),
                prefix + "namespace is 256 bytes, limit 255");
  check_invalid(memory_with([](memory& m) { m.ns = "ab\xc3"; }),
                prefix + "namespace is not valid UTF-8 (byte 2)");
  check_invalid(memory_with([](memory& m) { m.ns = std::string("a\0b", 3); }),
                prefix + "namespace contains a NUL byte (byte 1)");
  check_invalid(memory_with([](memory& m) { m.content = std::string((1 << 20) + 1, 'c'); }),
                prefix + "content is 1048577 bytes, limit 1048576");
  check_invalid(memory_with([](memory& m) { m.content = "ok \xed\xa0\x80 surrogate"; }),
                prefix + "content is not valid UTF-8 (byte 3)");
  check_invalid(memory_with([](memory& m) {
                  for (int i = 0; i < 257; ++i)
                    m.attributes["k" + std::to_string(i)] = "v";
                }),
                prefix + "259 attributes, limit 256");
  check_invalid(memory_with([](memory& m) { m.attributes[""] = "v"; }),
                prefix + "attribute with an empty key");
  check_invalid(memory_with([](memory& m) { m.attributes[std::string(256, 'k')] = "v"; }),
                prefix + "attribute key '" + std::string(64, 'k') + "...' is 256 bytes, limit 255");
  check_invalid(memory_with([](memory& m) { m.attributes["bad\xff"] = "v"; }),
                prefix + "attribute key 'bad\\xff' is not valid UTF-8 (byte 3)");
  check_invalid(memory_with([](memory& m) { m.attributes["lang"] = "\x80"; }),
                prefix + "attribute 'lang': value is not valid UTF-8 (byte 0)");
  check_invalid(memory_with([](memory& m) { m.attributes["lang"] = std::string(65537, 'v'); }),
                prefix + "attribute 'lang': value is 65537 bytes, limit 65536");
  check_invalid(memory_with([](memory& m) { m.attributes["lang"] = std::string("d\0e", 3); }),
                prefix + "attribute 'lang': value contains a NUL byte (byte 1)");
  // Content is not part of any key, so NUL is allowed there.
  BOOST_CHECK(memory_with([](memory& m) { m.content = std::string("a\0b", 3); }));
}

BOOST_AUTO_TEST_CASE(batch_errors_name_the_position) {
  auto p = test::small_profile();
  auto a = test::small_memory();
  auto b = test::small_memory();
  b.id = *uuid::parse("11111111-2222-4333-8444-555555555555");
  BOOST_CHECK(validate(std::vector<memory>{a, b}, p, limits{}));
  check_invalid(validate(std::vector<memory>{a, b, a}, p, limits{}),
                "batch[2]: memory " + id_text + ": same id as batch[0]");
  b.embeddings["d"] = embedding::dense({0, 0, 0, 0});
  check_invalid(validate(std::vector<memory>{a, b}, p, limits{}),
                "batch[1]: memory 11111111-2222-4333-8444-555555555555: embedder d: zero vector "
                "under cosine");
  limits one;
  one.max_batch = 1;
  check_invalid(validate(std::vector<memory>{a, a}, p, one), "batch: 2 memories, limit 1");
}

BOOST_AUTO_TEST_CASE(utf8_check_follows_the_well_formed_table) {
  BOOST_CHECK(is_valid_utf8(""));
  BOOST_CHECK(is_valid_utf8("plain ascii"));
  BOOST_CHECK(is_valid_utf8("\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf"));
  BOOST_CHECK(is_valid_utf8("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf")); // U+10000 and U+10FFFF
  BOOST_CHECK(is_valid_utf8(std::string_view{"\0", 1}));
  struct bad_case {
    const char* text;
    size_t offset;
  };
  const bad_case bad_cases[] = {
      {"\x80", 0},             // lone continuation byte
      {"a\xc0\x80", 1},        // overlong NUL
      {"a\xc1\xbf", 1},        // overlong
      {"\xe0\x9f\xbf", 0},     // overlong 3-byte
      {"\xed\xa0\x80", 0},     // surrogate U+D800
      {"\xf0\x8f\xbf\xbf", 0}, // overlong 4-byte
      {"\xf4\x90\x80\x80", 0}, // above U+10FFFF
      {"\xf5\x80\x80\x80", 0}, // invalid lead byte
      {"ok\xe2\x82", 2},       // truncated at the end
      {"ok\xe2\x28\xa1", 2},   // bad continuation
      {"\xff", 0},
  };
  for (const auto& c : bad_cases) {
    BOOST_TEST_CONTEXT("case at offset " << c.offset) {
      BOOST_CHECK_EQUAL(utf8_error_offset(c.text), c.offset);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
