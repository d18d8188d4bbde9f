// Group 4, batches: applied in order (a later operation on a key wins), from one item to 100k,
// across keyspaces, and atomically: a batch that fails anywhere leaves nothing behind.
#include "store_fixture.hpp"

#include <functional>

using namespace conformance;

namespace {

/// A store with a little data in each keyspace that a failing batch would touch.
void seed(backend& db) {
  put(db, alpha_ks, "existing", "old alpha");
  put(db, beta_ks, "existing", "old beta");
  put(db, gamma_ks, "doomed", "must survive");
}

/// A batch that overwrites, inserts and deletes in every keyspace; `poison` goes in the middle.
write_batch batch_around(const std::function<void(write_batch&)>& poison) {
  write_batch batch;
  batch.put(alpha_ks, "existing", "new alpha");
  batch.put(alpha_ks, "inserted", "1");
  batch.del(gamma_ks, "doomed");
  poison(batch);
  batch.put(beta_ks, "existing", "new beta");
  batch.put(gamma_ks, "inserted", "3");
  return batch;
}

} // namespace

BOOST_AUTO_TEST_SUITE(batches)

BOOST_AUTO_TEST_CASE_TEMPLATE(single_put_batch_applies, Backend, all_backends) {
  fresh_store<Backend> s;
  write_batch batch;
  batch.put(alpha_ks, "k", "v");
  write(*s.db, batch);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "v"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(single_delete_batch_applies, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  write_batch batch;
  batch.del(alpha_ks, "k");
  write(*s.db, batch);
  BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_batch_succeeds_and_changes_nothing, Backend, all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  auto before = everything(*s.db);
  write(*s.db, write_batch{});
  BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(hundred_thousand_item_batch_applies_every_item, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  constexpr uint64_t count = 100000;
  write_batch batch;
  batch.reserve(count);
  for (uint64_t i = 0; i < count; ++i)
    batch.put(i % 2 == 0 ? alpha_ks : beta_ks, numbered_key("n", i), std::to_string(i * 3));
  write(*s.db, batch);
  auto evens = scan_all(*s.db, alpha_ks);
  auto odds = scan_all(*s.db, beta_ks);
  BOOST_REQUIRE(evens.size() == count / 2);
  BOOST_REQUIRE(odds.size() == count / 2);
  for (uint64_t i = 0; i < count / 2; ++i) {
    BOOST_REQUIRE(evens[i] == (entry{numbered_key("n", 2 * i), std::to_string(6 * i)}));
    BOOST_REQUIRE(odds[i] == (entry{numbered_key("n", 2 * i + 1), std::to_string(6 * i + 3)}));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(put_then_delete_of_one_key_leaves_it_absent, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "existing", "old");
  write_batch batch;
  batch.put(alpha_ks, "fresh", "v");
  batch.del(alpha_ks, "fresh");
  batch.put(alpha_ks, "existing", "new");
  batch.del(alpha_ks, "existing");
  write(*s.db, batch);
  BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(delete_then_put_of_one_key_leaves_the_put, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "existing", "old");
  write_batch batch;
  batch.del(alpha_ks, "existing");
  batch.put(alpha_ks, "existing", "new");
  batch.del(alpha_ks, "fresh");
  batch.put(alpha_ks, "fresh", "v");
  write(*s.db, batch);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"existing", "new"}, {"fresh", "v"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(repeated_puts_of_one_key_keep_the_last, Backend, all_backends) {
  fresh_store<Backend> s;
  write_batch batch;
  for (int i = 0; i < 100; ++i)
    batch.put(alpha_ks, "k", "value" + std::to_string(i));
  batch.put(beta_ks, "k", "other keyspace");
  write(*s.db, batch);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "value99"}}));
  BOOST_TEST(scan_all(*s.db, beta_ks) == (entries{{"k", "other keyspace"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batch_spanning_keyspaces_lands_in_each, Backend, all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  write(*s.db, batch_around([](write_batch&) {}));
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"existing", "new alpha"}, {"inserted", "1"}}));
  BOOST_TEST(scan_all(*s.db, beta_ks) == (entries{{"existing", "new beta"}}));
  BOOST_TEST(scan_all(*s.db, gamma_ks) == (entries{{"inserted", "3"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unknown_keyspace_in_the_middle_leaves_nothing_behind, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  auto before = everything(*s.db);
  auto batch = batch_around([](write_batch& b) { b.put(undeclared_ks, "k", "v"); });
  check_fails_with(s.db->write(batch), ec::unknown_keyspace, "batch with an undeclared keyspace");
  BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unknown_keyspace_delete_at_the_end_leaves_nothing_behind, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  auto before = everything(*s.db);
  auto batch = batch_around([](write_batch&) {});
  batch.del(1000, "k");
  check_fails_with(s.db->write(batch), ec::unknown_keyspace, "batch deleting in keyspace 1000");
  BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_key_in_the_middle_leaves_nothing_behind, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  auto before = everything(*s.db);
  auto batch = batch_around([](write_batch& b) { b.put(beta_ks, "", "v"); });
  check_fails_with(s.db->write(batch), ec::invalid_argument, "batch with an empty key");
  BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(oversized_key_in_the_middle_leaves_nothing_behind, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  auto before = everything(*s.db);
  auto batch = batch_around(
      [](write_batch& b) { b.put(gamma_ks, std::string(max_key_size + 1, 'x'), "v"); });
  check_fails_with(s.db->write(batch), ec::invalid_argument, "batch with an oversized key");
  BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(invalid_item_at_the_end_of_a_large_batch_leaves_nothing, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  seed(*s.db);
  auto before = everything(*s.db);
  write_batch batch;
  for (uint64_t i = 0; i < 20000; ++i)
    batch.put(static_cast<keyspace_id>(i % 3), numbered_key("bulk", i), "v");
  batch.del(alpha_ks, "");
  check_fails_with(s.db->write(batch), ec::invalid_argument, "20k batch ending in an empty key");
  BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_accepts_good_batches_after_a_failed_one, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  write_batch bad;
  bad.put(alpha_ks, "k", "bad");
  bad.put(undeclared_ks, "k", "bad");
  check_fails_with(s.db->write(bad), ec::unknown_keyspace, "bad batch");
  write_batch good;
  good.put(alpha_ks, "k", "good");
  write(*s.db, good);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "good"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(deleting_absent_keys_in_a_batch_succeeds, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "kept", "1");
  write_batch batch;
  for (int i = 0; i < 50; ++i)
    batch.del(static_cast<keyspace_id>(i % 3), "absent" + std::to_string(i));
  write(*s.db, batch);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"kept", "1"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(synced_batch_is_applied, Backend, all_backends) {
  fresh_store<Backend> s;
  write_batch batch;
  batch.put(alpha_ks, "synced", "1");
  batch.put(beta_ks, "synced", "2");
  telos::storage::write_options sync;
  sync.sync = true;
  require_ok(s.db->write(batch, sync), "synced write");
  BOOST_TEST(get(*s.db, alpha_ks, "synced") == std::optional<std::string>{"1"});
  BOOST_TEST(get(*s.db, beta_ks, "synced") == std::optional<std::string>{"2"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batch_mixing_large_and_empty_values_applies, Backend, all_backends) {
  fresh_store<Backend> s;
  auto large = pattern_value(1u << 20, 11);
  write_batch batch;
  batch.put(alpha_ks, "large", large);
  batch.put(alpha_ks, "empty", "");
  batch.put(beta_ks, std::string(max_key_size, 'm'), "max key");
  write(*s.db, batch);
  BOOST_TEST((get(*s.db, alpha_ks, "large") == std::optional<std::string>{large}));
  BOOST_TEST(get(*s.db, alpha_ks, "empty") == std::optional<std::string>{""});
  BOOST_TEST(get(*s.db, beta_ks, std::string(max_key_size, 'm')) ==
             std::optional<std::string>{"max key"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(appended_batches_apply_in_order, Backend, all_backends) {
  fresh_store<Backend> s;
  write_batch first;
  first.put(alpha_ks, "k", "first");
  first.put(alpha_ks, "gone", "x");
  write_batch second;
  second.put(alpha_ks, "k", "second");
  second.del(alpha_ks, "gone");
  first.append(second);
  write(*s.db, first);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "second"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batch_is_invisible_to_an_iterator_opened_before_it, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 10);
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  write_batch batch;
  for (uint64_t i = 0; i < 10; ++i)
    batch.put(alpha_ks, numbered_key("k", i), "changed");
  batch.put(alpha_ks, "new", "v");
  write(*s.db, batch);
  auto seen = drain(std::move(it));
  BOOST_REQUIRE(seen.size() == 10u);
  for (uint64_t i = 0; i < 10; ++i)
    BOOST_TEST(seen[i].second == "v" + std::to_string(i));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_grows_past_a_small_initial_size, Backend, all_backends) {
  fresh_store<Backend> s;
  // LMDB starts with a 1 MB map and must grow it transparently; the others ignore the option.
  require_ok(s.db->close(), "close");
  s.options.lmdb_map_mb = 1;
  s.db = open_or_fail(Backend::kind, s.options);
  for (uint64_t round = 0; round < 12; ++round) {
    write_batch batch;
    for (uint64_t i = 0; i < 16; ++i)
      batch.put(alpha_ks, numbered_key("grow", round * 16 + i),
                pattern_value(64 * 1024, static_cast<uint32_t>(round * 16 + i)));
    write(*s.db, batch);
  }
  put(*s.db, beta_ks, "single large", pattern_value(5u << 20, 1));
  auto all = scan_all(*s.db, alpha_ks);
  BOOST_REQUIRE(all.size() == 12u * 16u);
  for (uint64_t i = 0; i < all.size(); ++i)
    BOOST_REQUIRE((all[i].second == pattern_value(64 * 1024, static_cast<uint32_t>(i))));
  BOOST_TEST((get(*s.db, beta_ks, "single large") ==
              std::optional<std::string>{pattern_value(5u << 20, 1)}));
}

BOOST_AUTO_TEST_SUITE_END()
