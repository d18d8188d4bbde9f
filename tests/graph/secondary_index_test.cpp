// Secondary indexes: attribute and time readers equal brute-force filtering after inserts,
// replacements and deletions.
#include "graph_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <random>

using namespace telos;
using namespace telos::storage;
using namespace telos::graph_test;

namespace {

secondary_index_options colour_and_size() {
  secondary_index_options opts;
  opts.indexed_attributes = {"colour", "size"};
  opts.time_bucket_ms = 1000;
  return opts;
}

memory random_memory(std::mt19937_64& rng, uint64_t n) {
  // A value with a NUL byte: values are interned, never cut at a NUL.
  static const std::string colours[] = {"red", "green", "blue", std::string{"nu\0l", 4}};
  memory m;
  m.id = id_of(n);
  if (rng() % 5 != 0) m.attributes["colour"] = colours[rng() % 4];
  if (rng() % 3 != 0) m.attributes["size"] = std::to_string(rng() % 4);
  m.attributes["owner"] = "u" + std::to_string(rng() % 3);
  // Around zero and across bucket boundaries, negative times included.
  m.created_at = static_cast<int64_t>(rng() % 6000) - 3000;
  return m;
}

void store(graph_store& s, const std::vector<const memory*>& inserted,
           const std::vector<std::pair<const memory*, const memory*>>& replaced,
           const std::vector<const memory*>& removed) {
  write_batch batch;
  interner::staging staged;
  for (const auto* m : inserted)
    BOOST_REQUIRE(s.index->insert(*m, batch, staged));
  for (const auto& [old, now] : replaced)
    BOOST_REQUIRE(s.index->replace(*old, *now, batch, staged));
  for (const auto* m : removed)
    BOOST_REQUIRE(s.index->remove(*m, batch));
  s.commit(batch, staged);
}

} // namespace

BOOST_AUTO_TEST_SUITE(secondary_index_suite)

BOOST_AUTO_TEST_CASE(readers_equal_brute_force_filtering) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path(), colour_and_size());
      std::mt19937_64 rng{5};
      std::map<uuid, memory> live;
      std::vector<memory> first;
      for (uint64_t n = 1; n <= 300; ++n)
        first.push_back(random_memory(rng, n));
      std::vector<const memory*> inserted;
      for (const auto& m : first) {
        inserted.push_back(&m);
        live[m.id] = m;
      }
      store(s, inserted, {}, {});
      // Replace every third (new attributes, sometimes a new created_at), delete every fifth.
      std::vector<memory> replacements;
      replacements.reserve(first.size());
      std::vector<std::pair<const memory*, const memory*>> replaced;
      std::vector<const memory*> removed;
      for (const auto& m : first) {
        auto n = m.id.bytes[15];
        if (n % 5 == 0) {
          removed.push_back(&m);
          live.erase(m.id);
        } else if (n % 3 == 0) {
          auto now = random_memory(rng, 0);
          now.id = m.id;
          if (n % 2 == 0) now.created_at = m.created_at;
          replacements.push_back(now);
          replaced.emplace_back(&m, &replacements.back());
          live[m.id] = now;
        }
      }
      store(s, {}, replaced, removed);
      BOOST_CHECK_EQUAL(s.keys_in("idx_time"), live.size());

      const std::vector<std::vector<std::string>> value_sets{
          {"red"}, {"green", "blue"}, {"red", "red", "never"},  {"never"},
          {},      {"0", "3"},        {std::string{"nu\0l", 4}}};
      for (const std::string attribute : {"colour", "size"}) {
        for (const auto& values : value_sets) {
          BOOST_TEST_CONTEXT(attribute << " in " << values.size() << " values") {
            std::vector<uuid> expected;
            for (const auto& [id, m] : live) {
              auto i = m.attributes.find(attribute);
              if (i != m.attributes.end() &&
                  std::find(values.begin(), values.end(), i->second) != values.end())
                expected.push_back(id);
            }
            auto found = s.index->ids_with_attribute(attribute, values);
            BOOST_REQUIRE_MESSAGE(found, why(found));
            BOOST_CHECK(*found == expected);
          }
        }
      }
      const std::pair<int64_t, int64_t> ranges[] = {{-3000, 3000}, {-1, 1},        {-1000, 0},
                                                    {0, 1000},     {-2500, -2499}, {999, 2001},
                                                    {5, 5},        {10, -10}};
      for (const auto& [after, before] : ranges) {
        BOOST_TEST_CONTEXT("[" << after << ", " << before << ")") {
          std::vector<std::pair<int64_t, uuid>> expected;
          for (const auto& [id, m] : live)
            if (m.created_at >= after && m.created_at < before)
              expected.emplace_back(m.created_at, id);
          std::sort(expected.begin(), expected.end());
          std::vector<std::pair<int64_t, uuid>> found;
          BOOST_REQUIRE(s.index->scan_time(after, before, [&](int64_t at, const uuid& id) {
            found.emplace_back(at, id);
            return true;
          }));
          BOOST_CHECK(found == expected);
          auto limited = s.index->ids_in_time_range(after, before, 4);
          BOOST_REQUIRE(limited);
          BOOST_CHECK_EQUAL(limited->size(), std::min<size_t>(4, expected.size()));
          for (size_t i = 0; i < limited->size(); ++i)
            BOOST_CHECK((*limited)[i] == expected[i].second);
        }
      }
      for (const auto& [id, m] : live) {
        auto missing = s.index->missing_rows(m);
        BOOST_REQUIRE(missing);
        BOOST_CHECK(missing->empty());
      }
      auto report =
          verify_graph(*s.terms, *s.quads, &*s.index,
                       [&](const uuid& id) -> expected<bool> { return live.count(id) > 0; });
      BOOST_REQUIRE(report);
      BOOST_CHECK_MESSAGE(report->ok(), first_problem(*report));
    }
  }
}

BOOST_AUTO_TEST_CASE(only_indexed_attributes_get_rows_and_queries) {
  auto s = graph_store::open(backend_kind::memory, "", colour_and_size());
  memory m;
  m.id = id_of(1);
  m.attributes = {{"owner", "me"}, {"colour", "red"}};
  store(s, {&m}, {}, {});
  BOOST_CHECK_EQUAL(s.keys_in("idx_attr"), 1u);
  BOOST_CHECK_EQUAL(code(s.index->ids_with_attribute("owner", {"me"})), "invalid_argument");
  BOOST_CHECK(!*s.terms->find(make_term(term_kind::attribute_value, "me")));
}

BOOST_AUTO_TEST_CASE(buckets_floor_below_zero_and_bad_width_is_refused) {
  auto s = graph_store::open(backend_kind::memory, "", colour_and_size());
  BOOST_CHECK_EQUAL(s.index->bucket_of(0), 0);
  BOOST_CHECK_EQUAL(s.index->bucket_of(999), 0);
  BOOST_CHECK_EQUAL(s.index->bucket_of(1000), 1);
  BOOST_CHECK_EQUAL(s.index->bucket_of(-1), -1);
  BOOST_CHECK_EQUAL(s.index->bucket_of(-1000), -1);
  BOOST_CHECK_EQUAL(s.index->bucket_of(-1001), -2);
  auto ks = index_keyspaces::resolve(*s.db);
  BOOST_REQUIRE(ks);
  secondary_index_options zero;
  zero.time_bucket_ms = 0;
  BOOST_CHECK_EQUAL(code(secondary_index::make(*s.db, *s.terms, *ks, zero)), "invalid_argument");
}

BOOST_AUTO_TEST_CASE(missing_rows_names_what_a_memory_lacks) {
  auto s = graph_store::open(backend_kind::memory, "", colour_and_size());
  memory m;
  m.id = id_of(3);
  m.attributes = {{"colour", "blue"}};
  m.created_at = 42;
  store(s, {&m}, {}, {});
  auto ks = s.db->keyspace("idx_time");
  BOOST_REQUIRE(ks);
  BOOST_REQUIRE(s.db->del(*ks, s.index->time_key(42, m.id)));
  auto missing = s.index->missing_rows(m);
  BOOST_REQUIRE(missing);
  BOOST_REQUIRE_EQUAL(missing->size(), 1u);
  BOOST_CHECK_NE((*missing)[0].find("idx_time"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
