// The read pool (storage/read_pool.hpp): a batch of point reads split into parts read on several
// threads returns exactly what one multi_get returns, in key order, missing keys missing, and a
// failing part fails the whole read with its error instead of aborting.
#include "backend_test_helpers.hpp"

#include "telos/storage/backend.hpp"
#include "telos/storage/read_pool.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace telos;
using namespace telos::storage;
using telos::test::temp_dir;

namespace {

std::unique_ptr<backend> rocksdb_with(const temp_dir& dir, size_t stored) {
  backend_options opts;
  opts.path = dir.sub("store");
  opts.keyspaces = {"vec.E1"};
  auto db = make_backend(backend_kind::rocksdb, opts);
  BOOST_REQUIRE(db);
  write_batch batch;
  for (size_t i = 0; i < stored; ++i)
    batch.put(0, "key-" + std::to_string(1000 + i),
              std::string(100 + i, static_cast<char>('a' + i % 26)));
  BOOST_REQUIRE((*db)->write(batch, {}));
  BOOST_REQUIRE((*db)->flush());
  return std::move(*db);
}

/// n keys of which every third is not stored (numbers from `stored` on), and one key twice.
std::vector<std::string> keys_with_gaps(size_t n, size_t stored) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i)
    keys.push_back("key-" + std::to_string(1000 + (i % 3 == 2 ? stored + i : i % stored)));
  if (n > 4) keys[n - 1] = keys[1];
  return keys;
}

/// Records which keys each call of the reader got, and on which thread.
struct recorded_reads {
  std::mutex mutex;
  std::vector<std::vector<std::string>> parts;
  std::vector<std::thread::id> threads;
};

} // namespace

BOOST_AUTO_TEST_SUITE(read_pool_suite)

BOOST_AUTO_TEST_CASE(a_split_read_returns_what_one_multi_get_returns_in_key_order) {
  temp_dir dir;
  auto db = rocksdb_with(dir, 60);
  for (size_t threads : {1, 3, 16})
    for (size_t min_part : {1, 2, 4}) {
      read_pool pool{threads, min_part, 0};
      BOOST_TEST(pool.threads() == threads);
      for (size_t n : {0, 1, 2, 5, 7, 30, 120}) {
        auto keys = keys_with_gaps(n, 60);
        auto one = db->multi_get(0, keys);
        BOOST_REQUIRE(one);
        auto split = pool.read(
            keys, [&](const std::vector<std::string>& part) { return db->multi_get(0, part); });
        BOOST_REQUIRE_MESSAGE(split, "threads " << threads << ", part " << min_part << ", n " << n);
        BOOST_REQUIRE_EQUAL(split->size(), n);
        BOOST_CHECK_MESSAGE(*split == *one,
                            "threads " << threads << ", part " << min_part << ", n " << n);
        // Missing keys are missing, stored ones carry their values.
        for (size_t i = 0; i < n; ++i)
          BOOST_CHECK_EQUAL((*split)[i].has_value(), i % 3 != 2 || (n > 4 && i == n - 1));
      }
    }
}

BOOST_AUTO_TEST_CASE(a_split_visit_sees_every_stored_value_once_at_its_place_in_the_batch) {
  // visit() splits as read() does and hands each part its offset: a backend's visiting read of
  // each part then sees every stored value at the place of its key in the whole batch.
  temp_dir dir;
  auto db = rocksdb_with(dir, 60);
  for (size_t threads : {1, 3, 16})
    for (size_t min_part : {1, 2, 4}) {
      read_pool pool{threads, min_part, 0};
      for (size_t n : {0, 1, 2, 5, 7, 30, 120}) {
        auto keys = keys_with_gaps(n, 60);
        auto one = db->multi_get(0, keys);
        BOOST_REQUIRE(one);
        std::vector<std::optional<std::string>> seen(n);
        std::vector<uint8_t> visits(n, 0); // each place written by one part's thread only
        auto done = pool.visit(keys, [&](const std::vector<std::string>& part, size_t first) {
          return db->multi_get_visit(0, part, [&](size_t i, std::string_view value) {
            seen[first + i].emplace(value);
            ++visits[first + i];
          });
        });
        BOOST_REQUIRE_MESSAGE(done, "threads " << threads << ", part " << min_part << ", n " << n);
        BOOST_CHECK_MESSAGE(seen == *one,
                            "threads " << threads << ", part " << min_part << ", n " << n);
        for (size_t i = 0; i < n; ++i)
          BOOST_CHECK_EQUAL(visits[i], (*one)[i] ? 1 : 0);
      }
    }
  // A failing part fails the whole visit with its error; a throwing one becomes ec::internal.
  read_pool pool{3, 1, 0};
  std::vector<std::string> keys{"a", "b", "c", "d"};
  auto failed = pool.visit(keys, [&](const std::vector<std::string>&, size_t first) {
    if (first == 2) return expected<void>{make_error(ec::io_error, "part at 2")};
    if (first == 3) throw std::runtime_error{"part at 3"};
    return expected<void>{};
  });
  BOOST_REQUIRE(!failed);
  BOOST_CHECK(code_of(failed.error()) == ec::io_error);
}

BOOST_AUTO_TEST_CASE(parts_are_contiguous_runs_of_at_least_min_part_keys_read_on_pool_threads) {
  read_pool pool{3, 2, 0};
  recorded_reads seen;
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i)
    keys.push_back(std::to_string(i));
  // Every part waits until all four are being read at once: one on the caller's thread, three on
  // the pool's. Were the parts read one after another, the first would wait for ever (the test
  // would time out, not pass).
  std::condition_variable all_in;
  auto result = pool.read(keys, [&](const std::vector<std::string>& part) {
    std::unique_lock<std::mutex> lock{seen.mutex};
    seen.parts.push_back(part);
    seen.threads.push_back(std::this_thread::get_id());
    all_in.notify_all();
    all_in.wait(lock, [&] { return seen.parts.size() == 4; });
    return expected<read_pool::values>{read_pool::values(part.begin(), part.end())};
  });
  BOOST_REQUIRE(result);
  BOOST_CHECK(*result == read_pool::values(keys.begin(), keys.end()));
  // 10 keys, at most threads + 1 = 4 parts of at least 2: sizes 3, 3, 2, 2 in key order.
  auto parts = seen.parts;
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  BOOST_REQUIRE_EQUAL(parts.size(), 4u);
  std::vector<std::vector<std::string>> expected_parts = {
      {"0", "1", "2"}, {"3", "4", "5"}, {"6", "7"}, {"8", "9"}};
  BOOST_CHECK(parts == expected_parts);
  auto threads = seen.threads;
  std::sort(threads.begin(), threads.end());
  BOOST_CHECK(std::unique(threads.begin(), threads.end()) == threads.end());
  BOOST_CHECK(std::count(threads.begin(), threads.end(), std::this_thread::get_id()) == 1);
}

BOOST_AUTO_TEST_CASE(a_batch_smaller_than_two_parts_is_read_in_one_piece_on_the_caller) {
  read_pool pool{4, 4, 0};
  recorded_reads seen;
  std::vector<std::string> keys = {"a", "b", "c", "d", "e", "f", "g"};
  auto result = pool.read(keys, [&](const std::vector<std::string>& part) {
    std::lock_guard<std::mutex> lock{seen.mutex};
    seen.parts.push_back(part);
    seen.threads.push_back(std::this_thread::get_id());
    return expected<read_pool::values>{read_pool::values(part.size())};
  });
  BOOST_REQUIRE(result);
  BOOST_CHECK_EQUAL(result->size(), 7u);
  BOOST_REQUIRE_EQUAL(seen.parts.size(), 1u);
  BOOST_CHECK(seen.parts[0] == keys);
  BOOST_CHECK(seen.threads[0] == std::this_thread::get_id());
}

BOOST_AUTO_TEST_CASE(while_reads_touch_no_device_a_batch_is_read_in_one_piece) {
  // Split only from 512 device bytes per key on: these reads read no file at all.
  read_pool pool{4, 1, 512};
  BOOST_CHECK_EQUAL(pool.device_bytes_per_key(), 0.0);
  for (int round = 0; round < 3; ++round) {
    recorded_reads seen;
    auto result =
        pool.read({"a", "b", "c", "d", "e", "f"}, [&](const std::vector<std::string>& part) {
          std::lock_guard<std::mutex> lock{seen.mutex};
          seen.parts.push_back(part);
          seen.threads.push_back(std::this_thread::get_id());
          return expected<read_pool::values>{read_pool::values(part.begin(), part.end())};
        });
    BOOST_REQUIRE(result);
    BOOST_CHECK(*result == read_pool::values({"a", "b", "c", "d", "e", "f"}));
    BOOST_REQUIRE_EQUAL(seen.parts.size(), 1u);
    BOOST_CHECK(seen.threads[0] == std::this_thread::get_id());
  }
  BOOST_CHECK_EQUAL(pool.device_bytes_per_key(), 0.0);
}

BOOST_AUTO_TEST_CASE(a_failing_part_fails_the_read_with_the_first_error_in_key_order) {
  read_pool pool{4, 1, 0};
  std::vector<std::string> keys = {"a", "b", "bad-1", "c", "bad-2", "throws", "d"};
  auto failing = [](const std::vector<std::string>& part) -> expected<read_pool::values> {
    for (const auto& key : part) {
      if (key == "throws") throw std::runtime_error("reader exploded");
      if (key.rfind("bad", 0) == 0) return make_error(ec::io_error, "cannot read " + key);
    }
    return read_pool::values(part.size(), std::string{"v"});
  };
  for (int round = 0; round < 20; ++round) {
    auto result = pool.read(keys, failing);
    BOOST_REQUIRE(!result);
    BOOST_CHECK_EQUAL(telos::test::code(result), "io_error");
    BOOST_CHECK_NE(describe(result.error()).find("cannot read bad-1"), std::string::npos);
  }
  // An exception thrown by the reader becomes ec::internal naming it; nothing aborts.
  auto thrown = pool.read({"a", "b", "throws", "c"}, failing);
  BOOST_REQUIRE(!thrown);
  BOOST_CHECK_EQUAL(telos::test::code(thrown), "internal");
  BOOST_CHECK_NE(describe(thrown.error()).find("reader exploded"), std::string::npos);
  // A reader that returns the wrong number of values is an error, not a misaligned answer.
  auto short_read = pool.read({"a", "b", "c", "d"}, [](const std::vector<std::string>& part) {
    return expected<read_pool::values>{read_pool::values(part.size() - 1)};
  });
  BOOST_REQUIRE(!short_read);
  BOOST_CHECK_EQUAL(telos::test::code(short_read), "internal");
  // The pool keeps working afterwards.
  auto fine = pool.read({"a", "b", "c", "d"}, failing);
  BOOST_REQUIRE(fine);
  BOOST_CHECK_EQUAL(fine->size(), 4u);
}

BOOST_AUTO_TEST_CASE(a_caller_reads_the_parts_a_busy_pool_has_not_started) {
  // The pool's only thread is held inside another read; a second caller still finishes, reading
  // every part of its own batch itself.
  read_pool pool{1, 1, 0};
  std::mutex mutex;
  std::condition_variable changed;
  bool b_entered = false, release = false;
  std::thread::id b_reader;
  expected<read_pool::values> first{read_pool::values{}};
  std::thread first_caller{[&] {
    first = pool.read({"a", "b"}, [&](const std::vector<std::string>& part) {
      std::unique_lock<std::mutex> lock{mutex};
      if (part[0] == "b") {
        b_entered = true;
        b_reader = std::this_thread::get_id();
        changed.notify_all();
        changed.wait(lock, [&] { return release; });
      } else {
        // Part "a" waits until another thread took "b": the pool's thread, as this caller is here.
        changed.wait(lock, [&] { return b_entered; });
      }
      return expected<read_pool::values>{read_pool::values(part.begin(), part.end())};
    });
  }};
  {
    std::unique_lock<std::mutex> lock{mutex};
    changed.wait(lock, [&] { return b_entered; });
  }
  recorded_reads seen;
  auto second = pool.read({"c", "d", "e", "f"}, [&](const std::vector<std::string>& part) {
    std::lock_guard<std::mutex> lock{seen.mutex};
    seen.threads.push_back(std::this_thread::get_id());
    return expected<read_pool::values>{read_pool::values(part.begin(), part.end())};
  });
  BOOST_REQUIRE(second);
  BOOST_CHECK(*second == read_pool::values({"c", "d", "e", "f"}));
  BOOST_CHECK_EQUAL(seen.threads.size(), 2u);
  for (auto id : seen.threads)
    BOOST_CHECK(id == std::this_thread::get_id());
  {
    std::lock_guard<std::mutex> lock{mutex};
    release = true;
  }
  changed.notify_all();
  auto first_id = first_caller.get_id();
  first_caller.join();
  BOOST_REQUIRE(first);
  BOOST_CHECK(*first == read_pool::values({"a", "b"}));
  BOOST_CHECK(b_reader != first_id);
}

BOOST_AUTO_TEST_CASE(run_parts_runs_every_part_once_at_once_and_returns_after_all) {
  read_pool pool{2, 1, 0};
  std::mutex mutex;
  std::condition_variable all_in;
  std::vector<size_t> ran;
  std::vector<std::thread::id> threads;
  // Every part waits until all three run at once: one on the caller's thread, two on the pool's.
  // Were they run one after another, the first would wait for ever (the test would time out).
  pool.run_parts(3, [&](size_t part) {
    std::unique_lock<std::mutex> lock{mutex};
    ran.push_back(part);
    threads.push_back(std::this_thread::get_id());
    all_in.notify_all();
    all_in.wait(lock, [&] { return ran.size() == 3; });
  });
  // Returned only after every part ran (nothing may touch `ran` after this).
  std::sort(ran.begin(), ran.end());
  BOOST_CHECK(ran == std::vector<size_t>({0, 1, 2}));
  std::sort(threads.begin(), threads.end());
  BOOST_CHECK(std::unique(threads.begin(), threads.end()) == threads.end());
  BOOST_CHECK(std::count(threads.begin(), threads.end(), std::this_thread::get_id()) == 1);
  // One part, or none: on the caller's thread, or nothing.
  std::vector<std::thread::id> single;
  pool.run_parts(1, [&](size_t) { single.push_back(std::this_thread::get_id()); });
  pool.run_parts(0, [&](size_t) { single.push_back(std::thread::id{}); });
  BOOST_REQUIRE_EQUAL(single.size(), 1u);
  BOOST_CHECK(single[0] == std::this_thread::get_id());
}

BOOST_AUTO_TEST_SUITE_END()
