// Quad patterns: all 16 bound/unbound combinations against a brute-force reference, the plan of
// each, streaming and paging, and the four rows of every quad.
#include "graph_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <set>

using namespace telos;
using namespace telos::storage;
using namespace telos::graph_test;

namespace {

/// The quad's terms in the order of `order`: the sort key of a scan in that order.
std::array<term_id, 4> sort_key(quad_order order, const quad& q) {
  switch (order) {
  case quad_order::spoc:
    return {q.s, q.p, q.o, q.c};
  case quad_order::pocs:
    return {q.p, q.o, q.c, q.s};
  case quad_order::ocsp:
    return {q.o, q.c, q.s, q.p};
  case quad_order::cspo:
    return {q.c, q.s, q.p, q.o};
  }
  return {};
}

quad_pattern pattern_of(unsigned mask, const quad& values) {
  quad_pattern p;
  if (mask & 1) p.s = values.s;
  if (mask & 2) p.p = values.p;
  if (mask & 4) p.o = values.o;
  if (mask & 8) p.c = values.c;
  return p;
}

std::string describe_mask(unsigned mask) {
  std::string out;
  out += (mask & 1) ? 'S' : '_';
  out += (mask & 2) ? 'P' : '_';
  out += (mask & 4) ? 'O' : '_';
  out += (mask & 8) ? 'C' : '_';
  return out;
}

std::vector<std::pair<quad, std::string>> scan_all(const quad_store& quads,
                                                   const quad_pattern& pattern) {
  std::vector<std::pair<quad, std::string>> out;
  auto cursor = quads.scan(pattern);
  BOOST_REQUIRE_MESSAGE(cursor, why(cursor));
  for (; cursor->valid(); cursor->next())
    out.emplace_back(cursor->current(), std::string{cursor->value()});
  BOOST_REQUIRE(!cursor->status());
  return out;
}

std::string value_of(const quad& q) {
  return "v" + std::to_string(q.s) + "." + std::to_string(q.p) + "." + std::to_string(q.o) + "." +
         std::to_string(q.c);
}

} // namespace

BOOST_AUTO_TEST_SUITE(quad_store_suite)

BOOST_AUTO_TEST_CASE(every_pattern_uses_the_order_with_the_longest_bound_prefix) {
  // mask bits: S=1, P=2, O=4, C=8
  struct expectation {
    unsigned mask;
    quad_order order;
    size_t prefix;
    bool filtered;
  };
  const expectation table[] = {
      {0, quad_order::spoc, 0, false},  {1, quad_order::spoc, 1, false},
      {2, quad_order::pocs, 1, false},  {3, quad_order::spoc, 2, false},
      {4, quad_order::ocsp, 1, false},  {5, quad_order::spoc, 1, true},
      {6, quad_order::pocs, 2, false},  {7, quad_order::spoc, 3, false},
      {8, quad_order::cspo, 1, false},  {9, quad_order::cspo, 2, false},
      {10, quad_order::pocs, 1, true},  {11, quad_order::cspo, 3, false},
      {12, quad_order::ocsp, 2, false}, {13, quad_order::ocsp, 3, false},
      {14, quad_order::pocs, 3, false}, {15, quad_order::spoc, 4, false},
  };
  for (const auto& e : table) {
    BOOST_TEST_CONTEXT(describe_mask(e.mask)) {
      auto plan = plan_for(pattern_of(e.mask, quad{1, 2, 3, 4}));
      BOOST_CHECK_EQUAL(to_string(plan.order), to_string(e.order));
      BOOST_CHECK_EQUAL(plan.prefix_terms, e.prefix);
      BOOST_CHECK_EQUAL(plan.filtered, e.filtered);
    }
  }
}

BOOST_AUTO_TEST_CASE(all_16_patterns_match_brute_force_in_plan_order) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      std::mt19937_64 rng{7};
      // Small term ranges, so bound patterns have several matches; ids near 2^64 check that key
      // order is unsigned big-endian order.
      auto term = [&](uint64_t range) -> term_id {
        auto x = 1 + rng() % range;
        return x == range ? ~term_id{0} - (rng() % 3) : x;
      };
      std::set<quad> reference;
      write_batch batch;
      for (int i = 0; i < 1500; ++i) {
        quad q{term(12), term(5), term(12), term(3)};
        reference.insert(q);
        s.quads->add(q, value_of(q), batch);
      }
      BOOST_REQUIRE(s.db->write(batch));
      BOOST_CHECK_EQUAL(s.keys_in("quad_spoc"), reference.size());
      BOOST_CHECK_EQUAL(s.keys_in("quad_cspo"), reference.size());
      std::vector<quad> all(reference.begin(), reference.end());
      for (unsigned mask = 0; mask < 16; ++mask) {
        for (int trial = 0; trial < 12; ++trial) {
          // Half the patterns take their terms from a stored quad, half are random (often empty).
          auto values =
              trial % 2 == 0 ? all[rng() % all.size()] : quad{term(12), term(5), term(12), term(3)};
          auto pattern = pattern_of(mask, values);
          auto order = plan_for(pattern).order;
          std::vector<quad> expected;
          for (const auto& q : all)
            if (pattern.matches(q)) expected.push_back(q);
          std::sort(expected.begin(), expected.end(), [&](const quad& a, const quad& b) {
            return sort_key(order, a) < sort_key(order, b);
          });
          BOOST_TEST_CONTEXT(describe_mask(mask) << " trial " << trial) {
            auto found = scan_all(*s.quads, pattern);
            BOOST_REQUIRE_EQUAL(found.size(), expected.size());
            for (size_t i = 0; i < found.size(); ++i) {
              BOOST_CHECK(found[i].first == expected[i]);
              BOOST_CHECK_EQUAL(found[i].second, value_of(expected[i]));
            }
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(pages_concatenate_to_the_full_scan) {
  auto s = graph_store::open(backend_kind::memory, "");
  write_batch batch;
  for (term_id p = 1; p <= 4; ++p)
    for (term_id o = 1; o <= 10; ++o)
      for (term_id c = 1; c <= 3; ++c)
        s.quads->add(quad{o % 3 + 1, p, o, c}, "", batch);
  BOOST_REQUIRE(s.db->write(batch));
  for (unsigned mask : {0u, 2u, 5u, 10u, 14u}) {
    BOOST_TEST_CONTEXT(describe_mask(mask)) {
      auto pattern = pattern_of(mask, quad{2, 3, 4, 1});
      auto full = scan_all(*s.quads, pattern);
      std::vector<std::pair<quad, std::string>> paged;
      std::optional<quad> after;
      size_t pages = 0;
      do {
        auto page = s.quads->page(pattern, after, 7);
        BOOST_REQUIRE(page);
        BOOST_CHECK_LE(page->rows.size(), 7u);
        paged.insert(paged.end(), page->rows.begin(), page->rows.end());
        after = page->continuation;
        ++pages;
      } while (after);
      BOOST_CHECK_EQUAL(paged.size(), full.size());
      BOOST_CHECK(paged == full);
      BOOST_CHECK_EQUAL(pages, std::max<size_t>(1, (full.size() + 6) / 7));
    }
  }
  auto bad =
      s.quads->scan(quad_pattern{1, std::nullopt, std::nullopt, std::nullopt}, quad{2, 1, 1, 1});
  BOOST_CHECK_EQUAL(code(bad), "invalid_argument");
  BOOST_CHECK_EQUAL(code(s.quads->page(quad_pattern{}, std::nullopt, 0)), "invalid_argument");
}

BOOST_AUTO_TEST_CASE(a_cursor_reads_one_snapshot_while_quads_change) {
  auto s = graph_store::open(backend_kind::memory, "");
  write_batch batch;
  for (term_id o = 1; o <= 100; ++o)
    s.quads->add(quad{1, 2, o, 3}, "", batch);
  BOOST_REQUIRE(s.db->write(batch));
  auto cursor = s.quads->scan(quad_pattern{1, 2, std::nullopt, std::nullopt});
  BOOST_REQUIRE(cursor);
  write_batch removal;
  for (term_id o = 1; o <= 100; o += 2)
    s.quads->remove(quad{1, 2, o, 3}, removal);
  BOOST_REQUIRE(s.db->write(removal));
  size_t seen = 0;
  for (; cursor->valid(); cursor->next())
    ++seen;
  BOOST_CHECK_EQUAL(seen, 100u);
  BOOST_CHECK_EQUAL(scan_all(*s.quads, quad_pattern{1, 2, std::nullopt, std::nullopt}).size(), 50u);
}

BOOST_AUTO_TEST_CASE(add_and_remove_touch_all_four_orders) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      write_batch batch;
      s.quads->add(quad{1, 2, 3, 4}, "w", batch);
      s.quads->add(quad{1, 2, 5, 4}, "x", batch);
      BOOST_REQUIRE(s.db->write(batch));
      for (const auto& name : quad_keyspaces::names())
        BOOST_CHECK_EQUAL(s.keys_in(name), 2u);
      auto value = s.quads->get(quad{1, 2, 3, 4});
      BOOST_REQUIRE(value && *value);
      BOOST_CHECK_EQUAL(**value, "w");
      write_batch removal;
      s.quads->remove(quad{1, 2, 3, 4}, removal);
      BOOST_REQUIRE(s.db->write(removal));
      for (const auto& name : quad_keyspaces::names())
        BOOST_CHECK_EQUAL(s.keys_in(name), 1u);
      auto gone = s.quads->get(quad{1, 2, 3, 4});
      BOOST_REQUIRE(gone);
      BOOST_CHECK(!*gone);
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_quad_key_ends_the_scan_with_corrupt_value) {
  auto s = graph_store::open(backend_kind::memory, "");
  auto ks = s.db->keyspace("quad_spoc");
  BOOST_REQUIRE(ks);
  BOOST_REQUIRE(s.db->put(*ks, "short", ""));
  auto cursor = s.quads->scan(quad_pattern{});
  BOOST_REQUIRE(cursor);
  BOOST_CHECK(!cursor->valid());
  BOOST_CHECK_EQUAL(to_string(code_of(cursor->status())), "corrupt_value");
  BOOST_CHECK_NE(describe(cursor->status()).find("quad_spoc"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
