// Concurrent readers, writers, transactions and close(): no crash, no torn snapshot, and every
// call after close fails with ec::closed. Runs against every backend (and under the sanitizers).
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <boost/test/data/test_case.hpp>

#include <atomic>
#include <thread>

using namespace telos;
using namespace telos::storage;
using telos::test::code;
using telos::test::temp_dir;

namespace {

const std::vector<backend_kind> all_kinds = {backend_kind::memory, backend_kind::rocksdb,
                                             backend_kind::lmdb};

std::unique_ptr<backend> open_store(backend_kind kind, const std::string& path) {
  backend_options opts;
  opts.path = path;
  opts.keyspaces = {"pairs"};
  opts.block_cache_mb = 8;
  opts.write_buffer_mb = 1;
  opts.lmdb_map_mb = 1;
  auto db = make_backend(kind, opts);
  BOOST_REQUIRE_MESSAGE(db, (db ? "" : describe(db.error())));
  return std::move(*db);
}

} // namespace

BOOST_AUTO_TEST_SUITE(concurrency_suite)

// Each batch writes the same round number into keys "a" and "b": any snapshot must show them
// equal, whatever the writer does meanwhile.
BOOST_DATA_TEST_CASE(snapshots_never_show_half_a_batch, all_kinds, kind) {
  temp_dir dir;
  auto db = open_store(kind, dir.path());
  write_batch first;
  first.put(0, "a", "0");
  first.put(0, "b", "0");
  BOOST_REQUIRE(db->write(first));
  // Boost.Test is not thread-safe: worker threads only record, the main thread asserts.
  std::atomic<bool> done{false};
  std::string writer_failure;
  std::thread writer{[&] {
    for (int round = 1; round <= 300 && writer_failure.empty(); ++round) {
      write_batch batch;
      batch.put(0, "a", std::to_string(round));
      batch.put(0, "pad" + std::to_string(round), std::string(2000, 'p'));
      batch.put(0, "b", std::to_string(round));
      if (auto res = db->write(batch); !res) writer_failure = describe(res.error());
    }
    done = true;
  }};
  int checks = 0;
  while (!done || checks < 50) {
    auto pair = db->multi_get(0, {"a", "b"});
    BOOST_REQUIRE(pair);
    BOOST_REQUIRE_EQUAL((*pair)[0].value_or("-"), (*pair)[1].value_or("+"));
    auto it = db->scan(0, key_range::half_open("a", "c"));
    BOOST_REQUIRE(it);
    std::string a{(*it)->value()};
    (*it)->next();
    std::string b{(*it)->value()};
    BOOST_REQUIRE_EQUAL(a, b);
    auto txn = db->begin();
    BOOST_REQUIRE(txn);
    BOOST_REQUIRE_EQUAL((*txn)->get(0, "a")->value_or("-"), (*txn)->get(0, "b")->value_or("+"));
    ++checks;
  }
  writer.join();
  BOOST_REQUIRE_EQUAL(writer_failure, "");
  BOOST_CHECK_EQUAL(db->get(0, "a")->value_or("-"), "300");
}

BOOST_DATA_TEST_CASE(increments_in_transactions_lose_no_update, all_kinds, kind) {
  temp_dir dir;
  auto db = open_store(kind, dir.path());
  BOOST_REQUIRE(db->put(0, "counter", "0"));
  std::atomic<int> committed{0};
  // Boost.Test is not thread-safe: workers record unexpected outcomes, the main thread asserts.
  auto worker = [&](std::string& failure) {
    for (int i = 0; i < 200 && failure.empty(); ++i) {
      auto txn = db->begin();
      if (!txn) {
        failure = "begin: " + describe(txn.error());
        break;
      }
      auto value = (*txn)->get(0, "counter");
      if (!value || !*value) {
        failure = "get of the counter failed or found nothing";
        break;
      }
      if (!(*txn)->put(0, "counter", std::to_string(std::stoi(**value) + 1))) {
        failure = "put failed";
        break;
      }
      auto res = (*txn)->commit();
      if (res)
        ++committed;
      else if (code(res) != "conflict")
        failure = "commit: " + describe(res.error());
    }
  };
  std::string failure1;
  std::string failure2;
  std::thread t1{worker, std::ref(failure1)};
  std::thread t2{worker, std::ref(failure2)};
  t1.join();
  t2.join();
  BOOST_REQUIRE_EQUAL(failure1, "");
  BOOST_REQUIRE_EQUAL(failure2, "");
  BOOST_CHECK_EQUAL(db->get(0, "counter")->value_or("-"), std::to_string(committed.load()));
  BOOST_CHECK_GE(committed.load(), 200);
}

BOOST_DATA_TEST_CASE(close_during_reads_and_writes_is_clean, all_kinds, kind) {
  temp_dir dir;
  auto db = open_store(kind, dir.path());
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE(db->put(0, "k" + std::to_string(i), "v"));
  std::atomic<int> closed_seen{0};
  auto hammer = [&](bool writes) {
    for (;;) {
      auto call = writes ? code(db->put(0, "w", "x")) : code(db->get(0, "k1"));
      auto it = db->scan(0, key_range::all());
      if (it)
        while ((*it)->valid())
          (*it)->next();
      if (call == "closed" && !it) {
        ++closed_seen;
        return;
      }
    }
  };
  std::thread reader{hammer, false};
  std::thread writer{hammer, true};
  // Let both threads reach their loops by waiting for a write to show up, then close.
  for (;;) {
    auto written = db->contains(0, "w");
    BOOST_REQUIRE(written);
    if (*written) break;
  }
  BOOST_REQUIRE(db->close());
  reader.join();
  writer.join();
  BOOST_CHECK_EQUAL(closed_seen.load(), 2);
  BOOST_CHECK_EQUAL(code(db->scan(0, key_range::all())), "closed");
  BOOST_CHECK_EQUAL(code(db->begin()), "closed");
  BOOST_CHECK_EQUAL(code(db->flush()), "closed");
  BOOST_CHECK_EQUAL(code(db->checkpoint(dir.sub("copy"))), "closed");
}

BOOST_AUTO_TEST_SUITE_END()
