// The verifier finds each kind of damage: a lost quad row, a dangling edge, a lost interner row,
// an index row of a missing memory; and one batch carries a memory's terms, edges and index rows
// atomically.
#include "graph_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

using namespace telos;
using namespace telos::storage;
using namespace telos::graph_test;

namespace {

const std::set<uuid> existing{id_of(1), id_of(2), id_of(3)};

expected<bool> exists(const uuid& id) {
  return existing.count(id) > 0;
}

graph_report must_verify(const graph_store& s) {
  auto report = verify_graph(*s.terms, *s.quads, &*s.index, exists);
  BOOST_REQUIRE_MESSAGE(report, why(report));
  return *report;
}

bool mentions(const graph_report& r, const std::string& needle) {
  return std::any_of(r.problems.begin(), r.problems.end(),
                     [&](const std::string& p) { return p.find(needle) != std::string::npos; });
}

/// Three memories, their edges and index rows, as the engine's insert batch would carry them.
graph_store populated() {
  secondary_index_options opts;
  opts.indexed_attributes = {"topic"};
  auto s = graph_store::open(backend_kind::memory, "", opts);
  write_batch batch;
  interner::staging staged;
  for (uint64_t n = 1; n <= 3; ++n) {
    memory m;
    m.id = id_of(n);
    m.attributes["topic"] = n == 3 ? "b" : "a";
    m.created_at = static_cast<int64_t>(n) * 1000;
    BOOST_REQUIRE(s.index->insert(m, batch, staged));
  }
  for (auto [from, to] : {std::pair{1, 2}, std::pair{2, 3}, std::pair{3, 1}})
    BOOST_REQUIRE(s.edges->add(link(id_of(from), "next", id_of(to)), batch, staged));
  s.commit(batch, staged);
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(verifier_suite)

BOOST_AUTO_TEST_CASE(a_consistent_store_verifies_clean) {
  auto s = populated();
  auto r = must_verify(s);
  BOOST_CHECK_MESSAGE(r.ok(), first_problem(r));
  BOOST_CHECK_EQUAL(r.quads, 3u);
  BOOST_CHECK_EQUAL(r.edges, 3u);
  BOOST_CHECK_EQUAL(r.index_rows, 6u);
  // 3 memories, 1 type, 1 namespace, 1 attribute, 2 values.
  BOOST_CHECK_EQUAL(r.terms, 8u);
}

BOOST_AUTO_TEST_CASE(a_deleted_pocs_row_is_reported) {
  auto s = populated();
  auto ks = s.db->keyspace("quad_pocs");
  BOOST_REQUIRE(ks);
  auto cursor = s.quads->scan(quad_pattern{});
  BOOST_REQUIRE(cursor && cursor->valid());
  auto victim = cursor->current();
  BOOST_REQUIRE(s.db->del(*ks, quad_key(quad_order::pocs, victim)));
  auto r = must_verify(s);
  BOOST_CHECK(!r.ok());
  BOOST_CHECK_EQUAL(r.problem_count, 1u);
  BOOST_CHECK(mentions(r, "has no row in quad_pocs"));
  BOOST_CHECK(mentions(r, "keyspace 'quad_spoc'"));
}

BOOST_AUTO_TEST_CASE(a_stray_ocsp_row_and_a_differing_value_are_reported) {
  auto s = populated();
  auto ocsp = s.db->keyspace("quad_ocsp");
  auto cspo = s.db->keyspace("quad_cspo");
  BOOST_REQUIRE(ocsp && cspo);
  BOOST_REQUIRE(s.db->put(*ocsp, quad_key(quad_order::ocsp, quad{1, 1, 1, 1}), ""));
  auto cursor = s.quads->scan(quad_pattern{});
  BOOST_REQUIRE(cursor && cursor->valid());
  BOOST_REQUIRE(s.db->put(*cspo, quad_key(quad_order::cspo, cursor->current()), "other"));
  auto r = must_verify(s);
  BOOST_CHECK(mentions(r, "keyspace 'quad_ocsp'"));
  BOOST_CHECK(mentions(r, "has no row in quad_spoc"));
  BOOST_CHECK(mentions(r, "value differs from its row in quad_cspo"));
}

BOOST_AUTO_TEST_CASE(a_dangling_edge_is_reported) {
  auto s = populated();
  s.add_edges({link(id_of(2), "next", id_of(77))});
  auto r = must_verify(s);
  BOOST_CHECK_EQUAL(r.problem_count, 1u);
  BOOST_CHECK(mentions(r, "edge dangles: its target memory " + id_of(77).to_string()));
}

BOOST_AUTO_TEST_CASE(a_lost_interner_row_is_reported_from_both_sides) {
  auto s = populated();
  auto type = s.terms->find(make_term(term_kind::edge_type, "next"));
  BOOST_REQUIRE(type && *type);
  auto rev = s.db->keyspace("intern_rev");
  BOOST_REQUIRE(rev);
  BOOST_REQUIRE(s.db->del(*rev, interner::reverse_key(**type)));
  auto r = must_verify(s);
  BOOST_CHECK(mentions(r, "has no intern_rev row"));
  BOOST_CHECK(mentions(r, "predicate term " + std::to_string(**type) + " is not interned"));
}

BOOST_AUTO_TEST_CASE(an_index_row_of_a_missing_memory_is_reported) {
  auto s = populated();
  memory ghost;
  ghost.id = id_of(50);
  ghost.attributes["topic"] = "a";
  write_batch batch;
  interner::staging staged;
  BOOST_REQUIRE(s.index->insert(ghost, batch, staged));
  s.commit(batch, staged);
  auto r = must_verify(s);
  BOOST_CHECK_EQUAL(r.problem_count, 2u); // its attribute row and its time row
  BOOST_CHECK(mentions(r, "keyspace 'idx_attr'"));
  BOOST_CHECK(mentions(r, "keyspace 'idx_time'"));
}

BOOST_AUTO_TEST_CASE(terms_edges_and_index_rows_of_one_batch_commit_together_or_not_at_all) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      secondary_index_options opts;
      opts.indexed_attributes = {"topic"};
      auto s = graph_store::open(kind, dir.path(), opts);
      memory m;
      m.id = id_of(1);
      m.attributes["topic"] = "x";
      write_batch batch;
      interner::staging staged;
      BOOST_REQUIRE(s.index->insert(m, batch, staged));
      BOOST_REQUIRE(s.edges->add(link(id_of(1), "next", id_of(2)), batch, staged));
      auto burned = s.terms->find(make_term(id_of(1)));
      BOOST_REQUIRE(burned && *burned);
      BOOST_REQUIRE(!s.db->write(poisoned(batch)));
      s.terms->abandon(staged);
      auto st = s.db->stats();
      BOOST_REQUIRE(st);
      for (const auto& ks : st->keyspaces)
        BOOST_CHECK_MESSAGE(ks.keys == 0, ks.name << " holds " << ks.keys << " keys");
      auto after_failure = s.terms->find(make_term(id_of(1)));
      BOOST_REQUIRE(after_failure);
      BOOST_CHECK(!*after_failure);
      // The retry gets fresh ids, above the burned ones, and lands whole.
      write_batch retry;
      interner::staging retry_staged;
      BOOST_REQUIRE(s.index->insert(m, retry, retry_staged));
      BOOST_REQUIRE(s.edges->add(link(id_of(1), "next", id_of(2)), retry, retry_staged));
      s.commit(retry, retry_staged);
      auto fresh = s.terms->find(make_term(id_of(1)));
      BOOST_REQUIRE(fresh && *fresh);
      BOOST_CHECK_GT(**fresh, **burned);
      auto r = verify_graph(*s.terms, *s.quads, &*s.index,
                            [](const uuid&) -> expected<bool> { return true; });
      BOOST_REQUIRE(r);
      BOOST_CHECK(r->ok());
      BOOST_CHECK_EQUAL(r->edges, 1u);
      BOOST_CHECK_EQUAL(r->index_rows, 2u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
