// filter::matches: namespace, attribute predicates and the half-open creation-time range.
#include "telos/messages/search.hpp"

#include "model/fixtures.hpp"

#include <boost/test/unit_test.hpp>

using namespace telos;

BOOST_AUTO_TEST_SUITE(filter_suite)

BOOST_AUTO_TEST_CASE(empty_filter_matches_everything) {
  filter f;
  BOOST_CHECK(f.empty());
  BOOST_CHECK(f.matches(test::small_memory()));
  BOOST_CHECK(f.matches(memory{}));
}

BOOST_AUTO_TEST_CASE(namespace_must_be_equal) {
  auto m = test::small_memory(); // namespace "notes"
  filter f;
  f.ns = "notes";
  BOOST_CHECK(!f.empty());
  BOOST_CHECK(f.matches(m));
  f.ns = "note";
  BOOST_CHECK(!f.matches(m));
  f.ns = "notes2";
  BOOST_CHECK(!f.matches(m));
}

BOOST_AUTO_TEST_CASE(attribute_predicates_are_set_membership_and_all_must_hold) {
  auto m = test::small_memory(); // lang=de, topic=greeting
  filter f;
  f.where = {{"lang", {"de"}}};
  BOOST_CHECK(f.matches(m));
  f.where = {{"lang", {"en", "fr"}}};
  BOOST_CHECK(!f.matches(m));
  f.where = {{"lang", {"en", "de"}}};
  BOOST_CHECK(f.matches(m));
  f.where = {{"lang", {"de"}}, {"topic", {"greeting"}}};
  BOOST_CHECK(f.matches(m));
  f.where = {{"lang", {"de"}}, {"topic", {"farewell"}}};
  BOOST_CHECK(!f.matches(m));
  f.where = {{"missing", {"de"}}};
  BOOST_CHECK(!f.matches(m));
  // No allowed values: nothing can match.
  f.where = {{"lang", {}}};
  BOOST_CHECK(!f.matches(m));
  // Values compare exactly (no case folding, no prefix match).
  f.where = {{"lang", {"DE"}}};
  BOOST_CHECK(!f.matches(m));
  f.where = {{"lang", {"d"}}};
  BOOST_CHECK(!f.matches(m));
}

BOOST_AUTO_TEST_CASE(time_range_is_inclusive_after_and_exclusive_before) {
  auto m = test::small_memory();
  m.created_at = 1000;
  filter f;
  f.created_after = 1000;
  BOOST_CHECK(f.matches(m));
  f.created_after = 1001;
  BOOST_CHECK(!f.matches(m));
  f.created_after.reset();
  f.created_before = 1000;
  BOOST_CHECK(!f.matches(m));
  f.created_before = 1001;
  BOOST_CHECK(f.matches(m));
  f.created_after = 999;
  BOOST_CHECK(f.matches(m));
  // An empty range matches nothing.
  f.created_after = 1001;
  f.created_before = 1001;
  BOOST_CHECK(!f.matches(m));
}

BOOST_AUTO_TEST_CASE(all_conditions_combine) {
  auto m = test::small_memory();
  filter f;
  f.ns = "notes";
  f.where = {{"topic", {"greeting"}}};
  f.created_after = m.created_at;
  f.created_before = m.created_at + 1;
  BOOST_CHECK(f.matches(m));
  m.ns = "other";
  BOOST_CHECK(!f.matches(m));
}

BOOST_AUTO_TEST_CASE(fusion_names_round_trip) {
  for (auto f : {fusion::rrf, fusion::weighted_sum})
    BOOST_CHECK(parse_fusion(to_string(f)) == f);
  BOOST_CHECK_EQUAL(std::string{to_string(fusion::weighted_sum)}, "weighted_sum");
  BOOST_CHECK(!parse_fusion("sum"));
}

BOOST_AUTO_TEST_CASE(better_orders_by_score_then_id) {
  hit a{*uuid::parse("00000000-0000-4000-8000-000000000001"), 0.5f};
  hit b{*uuid::parse("00000000-0000-4000-8000-000000000002"), 0.5f};
  hit c{*uuid::parse("00000000-0000-4000-8000-000000000000"), 0.25f};
  BOOST_CHECK(better(a, b));
  BOOST_CHECK(!better(b, a));
  BOOST_CHECK(better(b, c));
  BOOST_CHECK(!better(a, a));
}

BOOST_AUTO_TEST_SUITE_END()
