// LMDB map growth: writes far beyond a tiny initial map succeed transparently; growth never pulls
// the map from under an open iterator; a thread that holds an iterator gets a clear error instead
// of waiting for itself.
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <thread>

using namespace telos;
using namespace telos::storage;
using telos::test::code;
using telos::test::temp_dir;

namespace {

std::unique_ptr<backend> open_lmdb(const std::string& path, size_t map_mb) {
  backend_options opts;
  opts.path = path;
  opts.keyspaces = {"blobs"};
  opts.lmdb_map_mb = map_mb;
  auto db = make_backend(backend_kind::lmdb, opts);
  BOOST_REQUIRE_MESSAGE(db, (db ? "" : describe(db.error())));
  return std::move(*db);
}

std::string blob(int i, size_t size) {
  return std::string(size, static_cast<char>('a' + i % 26));
}

std::string key_of(int i) {
  auto text = std::to_string(i);
  return std::string(6 - text.size(), '0') + text;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lmdb_growth_suite)

BOOST_AUTO_TEST_CASE(writes_beyond_a_one_megabyte_map_grow_it_transparently) {
  temp_dir dir;
  {
    auto db = open_lmdb(dir.path(), 1);
    // Many small batches, then one batch far larger than the whole initial map.
    for (int i = 0; i < 200; ++i)
      BOOST_REQUIRE(db->put(0, key_of(i), blob(i, 20000)));
    write_batch big;
    for (int i = 200; i < 400; ++i)
      big.put(0, key_of(i), blob(i, 50000));
    BOOST_REQUIRE_EQUAL(code(db->write(big)), "none");
    auto stats = db->stats();
    BOOST_REQUIRE(stats);
    BOOST_CHECK_EQUAL(stats->keyspaces[0].keys, 400u);
    BOOST_CHECK_GT(stats->disk_bytes, 10u << 20);
  }
  // Reopening with the tiny map size adopts the data size and grows again on the next write.
  auto db = open_lmdb(dir.path(), 1);
  BOOST_CHECK_EQUAL(db->get(0, key_of(399))->value_or(""), blob(399, 50000));
  BOOST_REQUIRE_EQUAL(code(db->put(0, "more", blob(1, 4 << 20))), "none");
  BOOST_CHECK_EQUAL(db->get(0, key_of(7))->value_or(""), blob(7, 20000));
}

BOOST_AUTO_TEST_CASE(growth_refused_while_the_writing_thread_holds_an_iterator) {
  temp_dir dir;
  auto db = open_lmdb(dir.path(), 1);
  BOOST_REQUIRE(db->put(0, "a", "1"));
  BOOST_REQUIRE(db->put(0, "b", "2"));
  auto it = db->scan(0, key_range::all());
  BOOST_REQUIRE(it);
  write_batch big;
  for (int i = 0; i < 100; ++i)
    big.put(0, key_of(i), blob(i, 50000));
  auto res = db->write(big);
  BOOST_REQUIRE_EQUAL(code(res), "overloaded");
  BOOST_CHECK_NE(describe(res.error()).find("iterator or transaction"), std::string::npos);
  BOOST_CHECK(!db->get(0, key_of(0))->has_value());
  // The iterator still reads its snapshot correctly.
  BOOST_CHECK_EQUAL((*it)->key(), "a");
  (*it)->next();
  BOOST_CHECK_EQUAL((*it)->key(), "b");
  (*it)->next();
  BOOST_CHECK(!(*it)->valid());
  // Once the iteration ended, its read transaction is gone and the same write goes through.
  BOOST_CHECK_EQUAL(code(db->write(big)), "none");
}

BOOST_AUTO_TEST_CASE(growth_waits_for_another_threads_iterator) {
  temp_dir dir;
  auto db = open_lmdb(dir.path(), 1);
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(db->put(0, key_of(i), blob(i, 100)));
  auto it = db->scan(0, key_range::all());
  BOOST_REQUIRE(it);
  std::string first_key{(*it)->key()};
  std::string first_value{(*it)->value()};
  expected<void> written = make_error(ec::internal, "writer did not run");
  std::thread writer{[&] {
    write_batch big;
    for (int i = 100; i < 200; ++i)
      big.put(0, key_of(i), blob(i, 50000));
    written = db->write(big);
  }};
  // Whether or not the writer is already waiting, the iterator's view must stay intact.
  int seen = 0;
  for (; (*it)->valid(); (*it)->next()) {
    BOOST_CHECK_EQUAL((*it)->value(), blob(seen, 100));
    ++seen;
  }
  BOOST_CHECK_EQUAL(seen, 10);
  BOOST_CHECK_EQUAL(first_key, key_of(0));
  writer.join();
  BOOST_CHECK_EQUAL(code(written), "none");
  BOOST_CHECK_EQUAL(db->get(0, key_of(150))->value_or(""), blob(150, 50000));
}

BOOST_AUTO_TEST_CASE(committing_transaction_may_grow_the_map) {
  temp_dir dir;
  auto db = open_lmdb(dir.path(), 1);
  auto txn = db->begin();
  BOOST_REQUIRE(txn);
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE((*txn)->put(0, key_of(i), blob(i, 50000)));
  BOOST_CHECK_EQUAL(code((*txn)->commit()), "none");
  BOOST_CHECK_EQUAL(db->get(0, key_of(99))->value_or(""), blob(99, 50000));
}

BOOST_AUTO_TEST_SUITE_END()
