// One line of `telos import` (messages/import_line.hpp): blank lines, completion of missing ids
// and timestamps, and the errors of lines that do not parse or validate.
#include "telos/messages/import_line.hpp"
#include "telos/messages/json.hpp"

#include "model/fixtures.hpp"

#include <boost/test/unit_test.hpp>

using namespace telos;

namespace {

constexpr int64_t import_now = 1700000001234;

expected<std::optional<memory>> import_small(std::string_view line) {
  return parse_import_line(line, test::small_profile(), limits{}, import_now);
}

} // namespace

BOOST_AUTO_TEST_SUITE(import_line_suite)

BOOST_AUTO_TEST_CASE(blank_lines_hold_no_memory) {
  for (std::string_view line : {"", "  ", "\t\r", " \r"}) {
    auto got = import_small(line);
    BOOST_REQUIRE(got);
    BOOST_CHECK(!*got);
  }
}

BOOST_AUTO_TEST_CASE(a_full_line_imports_unchanged) {
  auto m = test::small_memory();
  auto got = import_small(to_json(m, test::small_profile()));
  BOOST_REQUIRE(got && *got);
  BOOST_CHECK(**got == m);
}

BOOST_AUTO_TEST_CASE(missing_id_and_timestamps_are_completed) {
  auto m = test::small_memory();
  m.id = uuid{};
  m.created_at = 0;
  m.updated_at = 0;
  auto got = import_small(to_json(m, test::small_profile()));
  BOOST_REQUIRE(got && *got);
  BOOST_CHECK(!(*got)->id.is_nil());
  BOOST_CHECK_EQUAL((*got)->created_at, import_now);
  BOOST_CHECK_EQUAL((*got)->updated_at, import_now);
  BOOST_CHECK_EQUAL((*got)->content, m.content);
}

BOOST_AUTO_TEST_CASE(a_line_that_does_not_parse_says_where) {
  auto got = import_small(R"({"content":5,"embeddings":{}})");
  test::check_invalid(got, "content: expected a string, got 5");
}

BOOST_AUTO_TEST_CASE(an_invalid_memory_is_rejected_with_its_id) {
  auto m = test::small_memory();
  m.embeddings.erase("d");
  auto got = import_small(to_json(m, test::small_profile()));
  BOOST_REQUIRE(!got);
  BOOST_CHECK(code_of(got.error()) == ec::invalid_argument);
  BOOST_CHECK_EQUAL(describe(got.error()),
                    "invalid_argument: memory " + m.id.to_string() + ": missing embedder d");
}

BOOST_AUTO_TEST_SUITE_END()
