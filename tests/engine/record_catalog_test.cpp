// The record catalog as an open loads it (start_load, add_loaded per record, finish_load) holds
// exactly what one built from the same memories' facts holds (reset): the facts of every id, the
// counters, and the ids each filter admits; and a load replaces whatever the catalog held.
#include "telos/shard/record_catalog.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using namespace telos;

namespace {

uuid id_of(uint64_t n) {
  uuid id;
  for (int b = 0; b < 8; ++b)
    id.bytes[15 - b] = static_cast<uint8_t>(n >> (8 * b));
  id.bytes[0] = 0x42;
  return id;
}

std::vector<memory> memories(size_t n) {
  std::vector<memory> out;
  for (size_t i = 0; i < n; ++i) {
    memory m;
    m.id = id_of(i);
    m.ns = i % 3 == 0 ? "default" : (i % 3 == 1 ? "notes" : "mail");
    m.content = "memory " + std::to_string(i);
    m.created_at = 1000 + static_cast<int64_t>(i);
    if (i % 2 == 0) m.attributes["colour"] = i % 4 == 0 ? "red" : "blue";
    if (i % 5 == 0) m.attributes["tag"] = "five";
    out.push_back(std::move(m));
  }
  return out;
}

std::map<std::string, uint64_t> per_namespace(const std::vector<memory>& ms) {
  std::map<std::string, uint64_t> counts;
  for (const auto& m : ms)
    ++counts[m.ns];
  return counts;
}

std::vector<filter> filters() {
  std::vector<filter> out(1);
  out.emplace_back().ns = "notes";
  out.emplace_back().where = {attribute_predicate{"colour", {"red"}}};
  out.emplace_back().where = {attribute_predicate{"colour", {"red", "blue"}},
                              attribute_predicate{"tag", {"five"}}};
  auto& window = out.emplace_back();
  window.ns = "mail";
  window.created_after = 1010;
  window.created_before = 1040;
  out.emplace_back().ns = "nowhere";
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(record_catalog_load)

BOOST_AUTO_TEST_CASE(a_loaded_catalog_equals_one_built_from_the_same_facts) {
  const auto ms = memories(60);
  record_catalog built;
  std::vector<record_fact> facts;
  for (const auto& m : ms)
    facts.push_back(make_fact(m));
  built.reset(facts, ms.size(), per_namespace(ms));

  record_catalog loaded;
  // Whatever it held before the load is gone afterwards.
  loaded.reset({make_fact(memories(200).back())}, 1, {{"default", 1}});
  loaded.start_load(ms.size());
  for (const auto& m : ms)
    loaded.add_loaded(m);
  loaded.finish_load(ms.size(), per_namespace(ms));

  BOOST_CHECK_EQUAL(loaded.size(), ms.size());
  BOOST_CHECK(!loaded.contains(memories(200).back().id));
  BOOST_CHECK(loaded.ids() == built.ids());
  BOOST_CHECK_EQUAL(loaded.count(), 60u);
  BOOST_CHECK_EQUAL(loaded.count("notes"), built.count("notes"));
  BOOST_CHECK(loaded.per_namespace() == built.per_namespace());
  for (const auto& m : ms) {
    auto a = loaded.find(m.id);
    auto b = built.find(m.id);
    BOOST_REQUIRE(a && b);
    BOOST_CHECK_EQUAL(a->ns, b->ns);
    BOOST_CHECK_EQUAL(a->created_at, b->created_at);
    BOOST_CHECK(a->attribute_hashes == b->attribute_hashes);
  }
  for (const auto& f : filters()) {
    auto a = loaded.admitted_ids(f, uuid{}, 1000);
    BOOST_CHECK(a == built.admitted_ids(f, uuid{}, 1000));
    BOOST_CHECK_EQUAL(loaded.count_admitted(f), built.count_admitted(f));
  }
  // Spot checks against the data itself: 20 in "notes", red on every fourth memory.
  BOOST_CHECK_EQUAL(loaded.count_admitted(filters()[1]), 20u);
  BOOST_CHECK_EQUAL(loaded.count_admitted(filters()[2]), 15u);
  BOOST_CHECK_EQUAL(loaded.count_admitted(filters()[5]), 0u);
}

BOOST_AUTO_TEST_CASE(a_record_loaded_twice_counts_once_with_its_last_facts) {
  auto ms = memories(3);
  record_catalog c;
  c.start_load(1);
  for (const auto& m : ms)
    c.add_loaded(m);
  ms[1].ns = "mail";
  ms[1].created_at = 7;
  c.add_loaded(ms[1]);
  c.finish_load(3, per_namespace(ms));
  BOOST_CHECK_EQUAL(c.size(), 3u);
  auto f = c.find(ms[1].id);
  BOOST_REQUIRE(f);
  BOOST_CHECK_EQUAL(f->ns, "mail");
  BOOST_CHECK_EQUAL(f->created_at, 7);
}

BOOST_AUTO_TEST_SUITE_END()
