// Quick checks of the memory backend's own behaviour (copy-on-write versions, no persistence);
// the exhaustive cross-backend behaviour is proved by tests/conformance.
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <boost/test/unit_test.hpp>

using namespace telos;
using namespace telos::storage;
using telos::test::code;

namespace {

std::unique_ptr<backend> open_memory() {
  backend_options opts;
  opts.keyspaces = {"a", "b"};
  auto db = make_backend(backend_kind::memory, opts);
  BOOST_REQUIRE(db);
  return std::move(*db);
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_backend_suite)

BOOST_AUTO_TEST_CASE(iterator_keeps_its_version_while_writers_copy_on_write) {
  auto db = open_memory();
  for (int i = 0; i < 1000; ++i)
    BOOST_REQUIRE(db->put(0, "k" + std::to_string(1000 + i), std::to_string(i)));
  auto it = db->scan(0, key_range::all());
  BOOST_REQUIRE(it);
  // Rewrite and delete everything while the iterator is open.
  for (int i = 0; i < 1000; ++i) {
    if (i % 2)
      BOOST_REQUIRE(db->del(0, "k" + std::to_string(1000 + i)));
    else
      BOOST_REQUIRE(db->put(0, "k" + std::to_string(1000 + i), "new"));
  }
  int seen = 0;
  for (; (*it)->valid(); (*it)->next()) {
    BOOST_CHECK_EQUAL((*it)->value(), std::to_string(seen));
    ++seen;
  }
  BOOST_CHECK_EQUAL(seen, 1000);
  auto stats = db->stats();
  BOOST_REQUIRE(stats);
  BOOST_CHECK_EQUAL(stats->keyspaces[0].keys, 500u);
  BOOST_CHECK_EQUAL(stats->keyspaces[0].bytes, 500u * (5 + 3));
}

BOOST_AUTO_TEST_CASE(checkpoint_is_refused_because_nothing_persists) {
  auto db = open_memory();
  auto res = db->checkpoint("/tmp/never-created");
  BOOST_REQUIRE(!res);
  BOOST_CHECK_EQUAL(code(res), "invalid_argument");
}

BOOST_AUTO_TEST_CASE(calls_after_close_fail_with_closed_and_open_iterators_end) {
  auto db = open_memory();
  BOOST_REQUIRE(db->put(0, "x", "1"));
  BOOST_REQUIRE(db->put(0, "y", "2"));
  auto it = db->scan(0, key_range::all());
  BOOST_REQUIRE(it);
  auto txn = db->begin();
  BOOST_REQUIRE(txn);
  BOOST_REQUIRE(db->close());
  BOOST_REQUIRE(db->close());
  BOOST_CHECK_EQUAL(code(db->get(0, "x")), "closed");
  BOOST_CHECK_EQUAL(code(db->put(0, "x", "v")), "closed");
  BOOST_CHECK_EQUAL(code(db->stats()), "closed");
  BOOST_CHECK((*it)->valid());
  (*it)->next();
  BOOST_CHECK(!(*it)->valid());
  BOOST_CHECK_EQUAL(code((*it)->status()), "closed");
  BOOST_CHECK_EQUAL(code((*txn)->get(0, "x")), "closed");
}

BOOST_AUTO_TEST_SUITE_END()
