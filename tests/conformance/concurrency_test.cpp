// Group 7, concurrency: readers running beside a writer only ever see whole batches (invariants
// that every batch preserves hold in every snapshot), iterators are not disturbed by concurrent
// writes, and concurrent transactions lose no update. Worker threads record failures in a
// thread_failures; the main thread asserts after joining. Runs under ThreadSanitizer too (CTest
// label "concurrency").
#include "store_fixture.hpp"

#include <charconv>
#include <thread>

using namespace conformance;

namespace {

constexpr int reader_threads = 3;

/// Decimal value of a stored number, or -1 if it is not one (a torn or foreign value).
int64_t parse_number(std::string_view text) {
  int64_t out = -1;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (err != std::errc{} || end != text.data() + text.size()) return -1;
  return out;
}

/// Runs `reader(r)` on reader threads r = 0 .. reader_threads-1 until `writer`, on a thread of its
/// own, is done, and once more afterwards, so every reader checks at least one snapshot taken after
/// the last write. Returns the number of reader passes.
template <class Writer, class Reader>
int64_t run_readers_beside_writer(Writer writer, Reader reader) {
  std::atomic<bool> writer_done{false};
  std::atomic<int64_t> passes{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < reader_threads; ++r)
    readers.emplace_back([&, r] {
      for (;;) {
        bool last = writer_done.load();
        reader(r);
        passes.fetch_add(1);
        if (last) return;
      }
    });
  std::thread writer_thread{[&] {
    writer();
    writer_done.store(true);
  }};
  writer_thread.join();
  for (auto& t : readers)
    t.join();
  return passes.load();
}

} // namespace

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE_TEMPLATE(readers_see_a_constant_sum_while_a_writer_moves_amounts, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr int accounts = 40;
  constexpr int64_t initial = 1000;
  std::vector<int64_t> balance(accounts, initial);
  std::vector<std::string> keys;
  for (int i = 0; i < accounts; ++i) {
    keys.push_back(numbered_key("acct", static_cast<uint64_t>(i)));
    put(*s.db, alpha_ks, keys.back(), std::to_string(initial));
  }
  thread_failures failures;
  auto check_sum = [&](const std::vector<int64_t>& amounts, const char* how) {
    int64_t sum = 0;
    for (auto a : amounts) {
      if (a < 0) return failures.record(std::string{how} + " read a value that is not a number");
      sum += a;
    }
    if (sum != initial * accounts)
      failures.record(std::string{how} + " saw sum " + std::to_string(sum) + " of " +
                      std::to_string(amounts.size()) + " accounts");
  };
  auto writer = [&] {
    for (int i = 0; i < 1500; ++i) {
      int from = (i * 7) % accounts;
      int to = (i * 13 + 5) % accounts;
      if (from == to) to = (to + 1) % accounts;
      int64_t amount = 1 + i % 50;
      balance[from] -= amount;
      balance[to] += amount;
      write_batch batch;
      batch.put(alpha_ks, keys[from], std::to_string(balance[from]));
      batch.put(alpha_ks, keys[to], std::to_string(balance[to]));
      if (auto done = s.db->write(batch); !done)
        return failures.record("transfer failed: " + telos::describe(done.error()));
    }
  };
  auto reader = [&](int) {
    auto it = s.db->scan(alpha_ks, key_range::all());
    if (!it) return failures.record("scan failed: " + error_text(it));
    std::vector<int64_t> scanned;
    for (; (*it)->valid(); (*it)->next())
      scanned.push_back(parse_number((*it)->value()));
    if ((*it)->status()) return failures.record("scan ended with an error");
    if (scanned.size() != accounts) return failures.record("scan saw a wrong account count");
    check_sum(scanned, "scan");
    auto values = s.db->multi_get(alpha_ks, keys);
    if (!values) return failures.record("multi_get failed: " + error_text(values));
    std::vector<int64_t> fetched;
    for (const auto& v : *values)
      fetched.push_back(v ? parse_number(*v) : -1);
    check_sum(fetched, "multi_get");
  };
  auto passes = run_readers_beside_writer(writer, reader);
  BOOST_TEST(failures.count() == 0, failures.first());
  BOOST_TEST(passes >= reader_threads);
  for (int i = 0; i < accounts; ++i)
    BOOST_TEST(get(*s.db, alpha_ks, keys[i]) ==
               std::optional<std::string>{std::to_string(balance[i])});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(readers_never_see_a_torn_batch_and_never_go_back, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr uint64_t keys_per_batch = 64;
  constexpr int64_t batches = 400;
  // Batch i sets every key of alpha and beta to i: a snapshot must show one i everywhere.
  auto write_generation = [&](int64_t generation) {
    write_batch batch;
    for (uint64_t k = 0; k < keys_per_batch; ++k) {
      batch.put(alpha_ks, numbered_key("g", k), std::to_string(generation));
      batch.put(beta_ks, numbered_key("g", k), std::to_string(generation));
    }
    return s.db->write(batch);
  };
  require_ok(write_generation(0), "first generation");
  thread_failures failures;
  auto writer = [&] {
    for (int64_t g = 1; g <= batches; ++g)
      if (auto done = write_generation(g); !done)
        return failures.record("write of generation " + std::to_string(g) +
                               " failed: " + telos::describe(done.error()));
  };
  // Per reader thread, the newest generation it saw: its snapshots must never go back.
  std::vector<int64_t> newest(reader_threads, 0);
  auto reader = [&](int r) {
    auto& newest_seen = newest[static_cast<size_t>(r)];
    auto it = s.db->scan_prefix(beta_ks, "g");
    if (!it) return failures.record("scan_prefix failed: " + error_text(it));
    int64_t generation = -2;
    uint64_t count = 0;
    for (; (*it)->valid(); (*it)->next(), ++count) {
      auto g = parse_number((*it)->value());
      if (generation == -2) generation = g;
      if (g != generation)
        return failures.record("one scan saw generations " + std::to_string(generation) + " and " +
                               std::to_string(g));
    }
    if (count != keys_per_batch) return failures.record("scan saw " + std::to_string(count));
    if (generation < newest_seen)
      return failures.record("snapshot went back from " + std::to_string(newest_seen) + " to " +
                             std::to_string(generation));
    newest_seen = generation;
    std::vector<std::string> keys;
    for (uint64_t k = 0; k < keys_per_batch; ++k)
      keys.push_back(numbered_key("g", k));
    auto values = s.db->multi_get(alpha_ks, keys);
    if (!values) return failures.record("multi_get failed: " + error_text(values));
    auto first = (*values)[0] ? parse_number(*(*values)[0]) : -1;
    for (const auto& v : *values)
      if (!v || parse_number(*v) != first) return failures.record("multi_get saw a torn batch");
    if (first < newest_seen) return failures.record("multi_get went back in time");
  };
  auto passes = run_readers_beside_writer(writer, reader);
  BOOST_TEST(failures.count() == 0, failures.first());
  BOOST_TEST(passes >= reader_threads);
  BOOST_TEST(get(*s.db, alpha_ks, numbered_key("g", 0)) == std::optional<std::string>{"400"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_snapshots_stay_consistent_beside_a_writer, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr int pairs = 20;
  // Invariant of every committed state: left/i + right/i == 100.
  for (int i = 0; i < pairs; ++i) {
    put(*s.db, alpha_ks, numbered_key("left", static_cast<uint64_t>(i)), "50");
    put(*s.db, alpha_ks, numbered_key("right", static_cast<uint64_t>(i)), "50");
  }
  thread_failures failures;
  auto writer = [&] {
    for (int round = 0; round < 600; ++round) {
      auto i = static_cast<uint64_t>(round % pairs);
      int64_t left = round % 101;
      write_batch batch;
      batch.put(alpha_ks, numbered_key("left", i), std::to_string(left));
      batch.put(alpha_ks, numbered_key("right", i), std::to_string(100 - left));
      if (auto done = s.db->write(batch); !done)
        return failures.record("write failed: " + telos::describe(done.error()));
    }
  };
  auto reader = [&](int) {
    auto txn = s.db->begin();
    if (!txn) return failures.record("begin failed: " + error_text(txn));
    for (uint64_t i = 0; i < pairs; ++i) {
      auto left = (*txn)->get(alpha_ks, numbered_key("left", i));
      auto right = (*txn)->get(alpha_ks, numbered_key("right", i));
      if (!left || !right || !*left || !*right)
        return failures.record("transaction read failed or found nothing");
      if (parse_number(**left) + parse_number(**right) != 100)
        return failures.record("transaction snapshot broke the invariant of pair " +
                               std::to_string(i));
    }
    (*txn)->rollback();
  };
  run_readers_beside_writer(writer, reader);
  BOOST_TEST(failures.count() == 0, failures.first());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(iterator_is_not_disturbed_by_concurrent_writes, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr uint64_t count = 6000;
  fill(*s.db, alpha_ks, "k", count);
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  entries seen;
  auto consume = [&](uint64_t n) {
    for (uint64_t i = 0; i < n && it->valid(); ++i, it->next())
      seen.emplace_back(std::string{it->key()}, std::string{it->value()});
  };
  consume(count / 3);
  thread_failures failures;
  std::thread writer{[&] {
    // Rewrites, deletes and inserts all around the iterator's position.
    for (uint64_t i = 0; i < count; i += 2) {
      write_batch batch;
      batch.put(alpha_ks, numbered_key("k", i), "rewritten");
      batch.del(alpha_ks, numbered_key("k", i + 1));
      batch.put(alpha_ks, numbered_key("k", i) + "+", "inserted");
      if (auto done = s.db->write(batch); !done)
        return failures.record("write failed: " + telos::describe(done.error()));
    }
  }};
  consume(count / 3);
  writer.join();
  consume(count);
  BOOST_TEST(!it->status());
  BOOST_TEST(failures.count() == 0, failures.first());
  BOOST_REQUIRE(seen.size() == count);
  for (uint64_t i = 0; i < count; ++i)
    BOOST_REQUIRE(seen[i] == (entry{numbered_key("k", i), "v" + std::to_string(i)}));
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == count);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(concurrent_transactional_increments_lose_no_update, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr int threads = 4;
  constexpr int increments_per_thread = 150;
  constexpr int counters = 3;
  for (int c = 0; c < counters; ++c)
    put(*s.db, alpha_ks, "counter" + std::to_string(c), "0");
  thread_failures failures;
  std::atomic<int64_t> conflicts{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < increments_per_thread; ++i) {
        auto key = "counter" + std::to_string((t + i) % counters);
        // Retry until this increment commits; every failure but a conflict is a bug.
        for (;;) {
          auto txn = s.db->begin();
          if (!txn) return failures.record("begin failed: " + error_text(txn));
          auto current = (*txn)->get(alpha_ks, key);
          if (!current || !*current) return failures.record("counter read failed");
          auto next = std::to_string(parse_number(**current) + 1);
          if (auto put = (*txn)->put(alpha_ks, key, next); !put)
            return failures.record("transaction put failed: " + error_text(put));
          auto committed = (*txn)->commit();
          if (committed) break;
          if (error_of(committed) != ec::conflict)
            return failures.record("commit failed: " + error_text(committed));
          conflicts.fetch_add(1);
        }
      }
    });
  for (auto& w : workers)
    w.join();
  BOOST_TEST(failures.count() == 0, failures.first());
  int64_t total = 0;
  for (int c = 0; c < counters; ++c)
    total += parse_number(get(*s.db, alpha_ks, "counter" + std::to_string(c)).value_or(""));
  BOOST_TEST(total == threads * increments_per_thread);
  BOOST_TEST_MESSAGE("conflicts retried: " << conflicts.load());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(concurrent_writers_on_disjoint_keys_all_land, Backend, all_backends) {
  fresh_store<Backend> s;
  constexpr int threads = 4;
  constexpr uint64_t keys_per_thread = 500;
  thread_failures failures;
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      auto prefix = "w" + std::to_string(t) + "/";
      auto ks = static_cast<keyspace_id>(t % 2);
      for (uint64_t i = 0; i < keys_per_thread; ++i) {
        auto key = numbered_key(prefix, i);
        if (auto done = s.db->put(ks, key, std::to_string(i)); !done)
          return failures.record("put failed: " + error_text(done));
        if (i % 5 == 0)
          if (auto done = s.db->del(ks, key); !done)
            return failures.record("del failed: " + error_text(done));
      }
    });
  for (auto& w : writers)
    w.join();
  BOOST_TEST(failures.count() == 0, failures.first());
  for (int t = 0; t < threads; ++t) {
    auto prefix = "w" + std::to_string(t) + "/";
    auto found = scan_prefix(*s.db, static_cast<keyspace_id>(t % 2), prefix);
    BOOST_TEST(found.size() == keys_per_thread - keys_per_thread / 5, "writer " << t);
  }
  auto stats = require_value(s.db->stats(), "stats");
  BOOST_TEST(stats.keyspaces[alpha_ks].keys == 2 * (keys_per_thread - keys_per_thread / 5));
  BOOST_TEST(stats.writes == threads * keys_per_thread);
  BOOST_TEST(stats.deletes == threads * keys_per_thread / 5);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(point_reads_of_a_rewritten_large_value_are_never_torn, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr size_t size = 64 * 1024;
  put(*s.db, alpha_ks, "big", std::string(size, 'a'));
  thread_failures failures;
  auto writer = [&] {
    for (int i = 0; i < 300; ++i)
      if (auto done =
              s.db->put(alpha_ks, "big", std::string(size, static_cast<char>('a' + i % 26)));
          !done)
        return failures.record("put failed: " + error_text(done));
  };
  auto reader = [&](int) {
    auto read = s.db->get(alpha_ks, "big");
    if (!read || !*read) return failures.record("get failed or found nothing");
    const auto& v = **read;
    if (v.size() != size || v.find_first_not_of(v[0]) != std::string::npos)
      failures.record("a read mixed two versions of the value");
  };
  run_readers_beside_writer(writer, reader);
  BOOST_TEST(failures.count() == 0, failures.first());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_stay_exact_beside_concurrent_batches, Backend, all_backends) {
  fresh_store<Backend> s;
  thread_failures failures;
  // Every batch adds one key to alpha and removes one from beta: keys(alpha) + keys(beta) is
  // constant at every commit; stats may race with a batch, but each key count stays within range.
  fill(*s.db, beta_ks, "b", 500);
  auto writer = [&] {
    for (uint64_t i = 0; i < 500; ++i) {
      write_batch batch;
      batch.put(alpha_ks, numbered_key("a", i), "v");
      batch.del(beta_ks, numbered_key("b", i));
      if (auto done = s.db->write(batch); !done)
        return failures.record("write failed: " + error_text(done));
    }
  };
  auto reader = [&](int) {
    auto stats = s.db->stats();
    if (!stats) return failures.record("stats failed: " + error_text(stats));
    auto alpha_keys = stats->keyspaces[alpha_ks].keys;
    auto beta_keys = stats->keyspaces[beta_ks].keys;
    if (alpha_keys > 500 || beta_keys > 500)
      failures.record("stats reported " + std::to_string(alpha_keys) + " and " +
                      std::to_string(beta_keys) + " keys");
  };
  run_readers_beside_writer(writer, reader);
  BOOST_TEST(failures.count() == 0, failures.first());
  auto stats = require_value(s.db->stats(), "stats");
  BOOST_TEST(stats.keyspaces[alpha_ks].keys == 500u);
  BOOST_TEST(stats.keyspaces[beta_ks].keys == 0u);
  BOOST_TEST(stats.keyspaces[beta_ks].bytes == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(iterator_and_transaction_may_move_to_another_thread, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 100);
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  auto txn = require_value(s.db->begin(), "begin");
  require_ok(txn->put(alpha_ks, "moved", "committed elsewhere"), "transaction put");
  BOOST_REQUIRE(it->valid());
  it->next();
  entries seen;
  thread_failures failures;
  // Both were created here and are finished, and destroyed, on another thread.
  std::thread other{[&] {
    for (; it->valid(); it->next())
      seen.emplace_back(std::string{it->key()}, std::string{it->value()});
    if (auto status = it->status()) failures.record("iteration failed: " + telos::describe(status));
    it.reset();
    if (auto committed = txn->commit(); !committed)
      failures.record("commit failed: " + error_text(committed));
    txn.reset();
  }};
  other.join();
  BOOST_TEST(failures.count() == 0, failures.first());
  BOOST_REQUIRE(seen.size() == 99u);
  BOOST_TEST(seen.front().first == numbered_key("k", 1));
  BOOST_TEST(get(*s.db, alpha_ks, "moved") == std::optional<std::string>{"committed elsewhere"});
}

BOOST_AUTO_TEST_SUITE_END()
