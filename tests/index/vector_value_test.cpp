// The raw vector values the indexes are rebuilt from (storage/layout.hpp: encode_vector and
// decode_vector), at their edges: empty sparse embeddings and inputs found by fuzz_envelope.
#include "telos/messages/envelope.hpp"
#include "telos/storage/layout.hpp"

#include <boost/test/unit_test.hpp>

using namespace telos;
using namespace telos::storage;

BOOST_AUTO_TEST_SUITE(vector_value_suite)

// fuzz_envelope crash-3bf294d612e00cc5f68aedaca6eb7daedbd1551a: a sparse value of 0 entries made
// decode_vector memcpy into the null data() of an empty vector (undefined behaviour).
BOOST_AUTO_TEST_CASE(a_sparse_value_without_entries_decodes_to_an_empty_embedding) {
  const embedder spec{"s", embedder_kind::sparse, 100, metric::dot};
  auto value = encode_envelope(value_format::raw, 1, std::string(4, '\0'));
  auto decoded = decode_vector(spec, value, "key");
  BOOST_REQUIRE_MESSAGE(decoded, describe(decoded.error()));
  BOOST_CHECK(decoded->indices.empty());
  BOOST_CHECK(decoded->values.empty());
  BOOST_CHECK_EQUAL(encode_vector(spec, *decoded), value);
}

BOOST_AUTO_TEST_CASE(an_empty_sparse_embedding_round_trips) {
  const embedder spec{"s", embedder_kind::sparse, 100, metric::dot};
  auto decoded = decode_vector(spec, encode_vector(spec, embedding::sparse({}, {})), "key");
  BOOST_REQUIRE_MESSAGE(decoded, describe(decoded.error()));
  BOOST_CHECK(*decoded == embedding::sparse({}, {}));
}

BOOST_AUTO_TEST_CASE(a_sparse_value_declaring_more_entries_than_it_holds_names_the_key) {
  const embedder spec{"s", embedder_kind::sparse, 100, metric::dot};
  auto value = encode_envelope(value_format::raw, 1, std::string{"\xff\xff\xff\x0f", 4});
  auto decoded = decode_vector(spec, value, "key-7");
  BOOST_REQUIRE(!decoded);
  BOOST_CHECK(code_of(decoded.error()) == ec::corrupt_value);
  BOOST_CHECK_NE(describe(decoded.error()).find("key-7"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
