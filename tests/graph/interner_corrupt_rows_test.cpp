// The interner over rows that no interner wrote (found by fuzz_interner, docs/FUZZ.md): a forward
// row naming id 0 or an id space used up by a corrupt high-water row is ec::corrupt_value, and no
// string is ever given id 0, the key of the high-water row.
#include "graph_fixture.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

#include <boost/test/unit_test.hpp>

#include <limits>

using namespace telos;
using namespace telos::storage;
using namespace telos::graph_test;

namespace {

/// A memory backend with the interner's keyspaces and `rows` (keyspace name, key, value) in it.
std::unique_ptr<backend>
backend_with(const std::vector<std::tuple<std::string, std::string, std::string>>& rows) {
  backend_options opts;
  opts.keyspaces = interner_keyspaces::names();
  auto db = make_backend(backend_kind::memory, opts);
  BOOST_REQUIRE_MESSAGE(db, why(db));
  for (const auto& [ks, key, value] : rows) {
    auto id = (*db)->keyspace(ks);
    BOOST_REQUIRE(id);
    BOOST_REQUIRE((*db)->put(*id, key, value));
  }
  return std::move(*db);
}

std::string term_value(std::string_view text) {
  return encode_envelope(value_format::raw, 1, text);
}

std::string high_water_value(uint64_t next) {
  std::string payload(8, '\0');
  store_u64_be(payload.data(), next);
  return term_value(payload);
}

} // namespace

BOOST_AUTO_TEST_SUITE(interner_corrupt_rows_suite)

// fuzz_interner crash-bc2f3ab3dd673906c2805f9811efb3648dc376e6: intern gave a string id 0.
BOOST_AUTO_TEST_CASE(a_forward_row_naming_id_0_is_corrupt_not_an_id) {
  auto db = backend_with({{"intern_fwd", interner::forward_key("alpha", 0), term_value("alpha")}});
  auto terms = interner::open(*db, *interner_keyspaces::resolve(*db));
  BOOST_REQUIRE_MESSAGE(terms, why(terms));
  write_batch batch;
  interner::staging staged;
  auto id = (*terms)->intern("alpha", batch, staged);
  BOOST_REQUIRE(!id);
  BOOST_CHECK(code_of(id.error()) == ec::corrupt_value);
  BOOST_CHECK_NE(describe(id.error()).find("names id 0"), std::string::npos);
  auto found = (*terms)->find("alpha");
  BOOST_REQUIRE(!found);
  BOOST_CHECK(code_of(found.error()) == ec::corrupt_value);
  BOOST_CHECK(batch.empty());
}

BOOST_AUTO_TEST_CASE(a_used_up_id_space_refuses_new_strings_instead_of_wrapping_to_0) {
  constexpr auto last = std::numeric_limits<term_id>::max();
  // By the high-water row, and by a reverse row of the largest id.
  for (auto rows : {std::vector<std::tuple<std::string, std::string, std::string>>{
                        {"intern_rev", interner::reverse_key(0), high_water_value(last)}},
                    std::vector<std::tuple<std::string, std::string, std::string>>{
                        {"intern_rev", interner::reverse_key(last), term_value("omega")}}}) {
    auto db = backend_with(rows);
    auto terms = interner::open(*db, *interner_keyspaces::resolve(*db));
    BOOST_REQUIRE_MESSAGE(terms, why(terms));
    BOOST_CHECK_EQUAL((*terms)->stats().next_id, last);
    write_batch batch;
    interner::staging staged;
    for (int i = 0; i < 2; ++i) {
      auto id = (*terms)->intern("new string " + std::to_string(i), batch, staged);
      BOOST_REQUIRE(!id);
      BOOST_CHECK(code_of(id.error()) == ec::corrupt_value);
      BOOST_CHECK_NE(describe(id.error()).find("no term id left"), std::string::npos);
    }
    BOOST_CHECK(batch.empty());
  }
}

BOOST_AUTO_TEST_CASE(ids_below_the_last_one_are_still_assigned) {
  constexpr auto last = std::numeric_limits<term_id>::max();
  auto db = backend_with({{"intern_rev", interner::reverse_key(0), high_water_value(last - 1)}});
  auto terms = interner::open(*db, *interner_keyspaces::resolve(*db));
  BOOST_REQUIRE_MESSAGE(terms, why(terms));
  write_batch batch;
  interner::staging staged;
  auto id = (*terms)->intern("penultimate", batch, staged);
  BOOST_REQUIRE_MESSAGE(id, why(id));
  BOOST_CHECK_EQUAL(*id, last - 1);
  auto next = (*terms)->intern("one too many", batch, staged);
  BOOST_REQUIRE(!next);
  BOOST_CHECK(code_of(next.error()) == ec::corrupt_value);
}

BOOST_AUTO_TEST_SUITE_END()
