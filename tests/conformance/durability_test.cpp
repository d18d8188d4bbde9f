// Group 6, durability and maintenance: reopening, checkpoints, compaction and stats. Persistent
// backends must keep everything across close; the memory backend runs the same cases and must show
// its documented behaviour (empty after reopen, checkpoint refused, no disk bytes).
#include "store_fixture.hpp"

using namespace conformance;
using telos::storage::backend_stats;

namespace {

using value = std::optional<std::string>;

/// A mix of overwrites, deletes, empty and large values in every keyspace.
void write_mixed_history(backend& db) {
  fill(db, alpha_ks, "a", 2000);
  fill(db, beta_ks, "b", 500);
  for (uint64_t i = 0; i < 2000; i += 3)
    put(db, alpha_ks, numbered_key("a", i), "overwritten" + std::to_string(i));
  for (uint64_t i = 1; i < 2000; i += 7)
    del(db, alpha_ks, numbered_key("a", i));
  put(db, gamma_ks, "empty", "");
  put(db, gamma_ks, "large", pattern_value(3u << 20, 5));
  put(db, gamma_ks, std::string(max_key_size, '\xff'), "max key");
}

backend_stats stats_of(const backend& db) {
  return require_value(db.stats(), "stats");
}

/// What one keyspace holds: its number of keys and the sum of key and value sizes.
struct keyspace_usage {
  uint64_t keys = 0;
  uint64_t bytes = 0;

  friend bool operator==(const keyspace_usage& a, const keyspace_usage& b) {
    return a.keys == b.keys && a.bytes == b.bytes;
  }
  friend std::ostream& operator<<(std::ostream& os, const keyspace_usage& u) {
    return os << u.keys << " keys, " << u.bytes << " bytes";
  }
};

/// The usage stats() reports for a keyspace.
keyspace_usage usage(const backend& db, keyspace_id ks) {
  auto stats = stats_of(db);
  BOOST_REQUIRE(stats.keyspaces.size() == 3u);
  return {stats.keyspaces[ks].keys, stats.keyspaces[ks].bytes};
}

/// The usage a keyspace's entries add up to.
keyspace_usage usage_of(const entries& es) {
  uint64_t bytes = 0;
  for (const auto& e : es)
    bytes += e.first.size() + e.second.size();
  return {es.size(), bytes};
}

} // namespace

BOOST_AUTO_TEST_SUITE(durability)

BOOST_AUTO_TEST_CASE_TEMPLATE(close_and_reopen_keeps_everything, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  auto before = everything(*s.db);
  s.reopen();
  if constexpr (Backend::persistent) {
    BOOST_TEST(everything(*s.db) == before);
  } else {
    // A memory store lives only as long as the object: the reopened one starts empty.
    BOOST_TEST(everything(*s.db) == (std::vector<entries>{{}, {}, {}}));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(repeated_reopen_cycles_accumulate_data, Backend, all_backends) {
  fresh_store<Backend> s;
  for (uint64_t cycle = 0; cycle < 4; ++cycle) {
    put(*s.db, alpha_ks, numbered_key("cycle", cycle), std::to_string(cycle));
    if (cycle > 0) del(*s.db, beta_ks, numbered_key("cycle", cycle - 1));
    put(*s.db, beta_ks, numbered_key("cycle", cycle), "latest");
    s.reopen();
  }
  if constexpr (Backend::persistent) {
    BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 4u);
    BOOST_TEST(scan_all(*s.db, beta_ks) == (entries{{numbered_key("cycle", 3), "latest"}}));
  } else {
    BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
    BOOST_TEST(scan_all(*s.db, beta_ks).empty());
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(synced_writes_and_sync_by_default_survive_reopen, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  telos::storage::write_options sync;
  sync.sync = true;
  write_batch batch;
  batch.put(alpha_ks, "synced", "1");
  require_ok(s.db->write(batch, sync), "synced write");
  require_ok(s.db->close(), "close");
  s.options.sync_by_default = true;
  s.db = open_or_fail(Backend::kind, s.options);
  put(*s.db, beta_ks, "default synced", "2");
  s.reopen();
  value expected_alpha = Backend::persistent ? value{"1"} : std::nullopt;
  value expected_beta = Backend::persistent ? value{"2"} : std::nullopt;
  BOOST_TEST(get(*s.db, alpha_ks, "synced") == expected_alpha);
  BOOST_TEST(get(*s.db, beta_ks, "default synced") == expected_beta);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(committed_transactions_survive_reopen_and_rolled_back_ones_do_not,
                              Backend, all_backends) {
  fresh_store<Backend> s;
  auto committed = require_value(s.db->begin(), "begin");
  require_ok(committed->put(alpha_ks, "committed", "yes"), "put");
  require_ok(committed->commit(), "commit");
  auto rolled_back = require_value(s.db->begin(), "begin");
  require_ok(rolled_back->put(alpha_ks, "rolled back", "no"), "put");
  rolled_back->rollback();
  s.reopen();
  if constexpr (Backend::persistent)
    BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"committed", "yes"}}));
  else
    BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(flush_succeeds_and_changes_no_data, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  auto before = everything(*s.db);
  require_ok(s.db->flush(), "flush");
  BOOST_TEST(everything(*s.db) == before);
  require_ok(s.db->flush(), "second flush");
  put(*s.db, alpha_ks, "after flush", "v");
  BOOST_TEST(get(*s.db, alpha_ks, "after flush") == value{"v"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compact_keeps_every_entry, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  auto before = everything(*s.db);
  require_ok(s.db->compact(), "compact");
  BOOST_TEST(everything(*s.db) == before);
  s.reopen();
  if constexpr (Backend::persistent) BOOST_TEST(everything(*s.db) == before);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(compact_after_mass_deletion_keeps_the_survivors, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 20000);
  write_batch deletes;
  for (uint64_t i = 0; i < 20000; ++i)
    if (i % 100 != 0) deletes.del(alpha_ks, numbered_key("k", i));
  write(*s.db, deletes);
  require_ok(s.db->compact(), "compact");
  auto survivors = scan_all(*s.db, alpha_ks);
  BOOST_REQUIRE(survivors.size() == 200u);
  for (uint64_t i = 0; i < 200; ++i)
    BOOST_REQUIRE(survivors[i] ==
                  (entry{numbered_key("k", i * 100), "v" + std::to_string(i * 100)}));
  BOOST_TEST(usage(*s.db, alpha_ks) == usage_of(survivors));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(checkpoint_opens_as_an_identical_store, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  auto copy_dir = (s.dir.path() / "copy").string();
  auto made = s.db->checkpoint(copy_dir);
  if constexpr (Backend::persistent) {
    require_ok(made, "checkpoint");
    auto options = s.options;
    options.path = copy_dir;
    options.create_if_missing = false;
    auto copy = open_or_fail(Backend::kind, options);
    BOOST_TEST(everything(*copy) == everything(*s.db));
    BOOST_TEST(usage(*copy, alpha_ks) == usage(*s.db, alpha_ks));
    BOOST_TEST(usage(*copy, gamma_ks) == usage(*s.db, gamma_ks));
    require_ok(copy->close(), "close copy");
  } else {
    check_fails_with(made, ec::invalid_argument, "checkpoint of a memory store");
    BOOST_TEST(!std::filesystem::exists(copy_dir));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(checkpoint_copy_is_independent_of_the_original, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "shared", "at checkpoint");
  put(*s.db, alpha_ks, "doomed", "x");
  auto copy_dir = (s.dir.path() / "copy").string();
  auto made = s.db->checkpoint(copy_dir);
  if constexpr (Backend::persistent) {
    require_ok(made, "checkpoint");
    put(*s.db, alpha_ks, "shared", "original changed");
    put(*s.db, alpha_ks, "original only", "o");
    auto options = s.options;
    options.path = copy_dir;
    auto copy = open_or_fail(Backend::kind, options);
    BOOST_TEST(scan_all(*copy, alpha_ks) ==
               (entries{{"doomed", "x"}, {"shared", "at checkpoint"}}));
    put(*copy, alpha_ks, "copy only", "c");
    del(*copy, alpha_ks, "doomed");
    BOOST_TEST(scan_all(*s.db, alpha_ks) ==
               (entries{{"doomed", "x"}, {"original only", "o"}, {"shared", "original changed"}}));
    require_ok(copy->close(), "close copy");
    // Closing the original must not touch the copy either.
    s.reopen();
    copy = open_or_fail(Backend::kind, options);
    BOOST_TEST(scan_all(*copy, alpha_ks) ==
               (entries{{"copy only", "c"}, {"shared", "at checkpoint"}}));
    require_ok(copy->close(), "close copy");
  } else {
    check_fails_with(made, ec::invalid_argument, "checkpoint of a memory store");
    BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 2u);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(checkpoint_leaves_out_uncommitted_transaction_writes, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "committed", "1");
  auto txn = require_value(s.db->begin(), "begin");
  require_ok(txn->put(alpha_ks, "pending", "2"), "put");
  auto copy_dir = (s.dir.path() / "copy").string();
  auto made = s.db->checkpoint(copy_dir);
  require_ok(txn->commit(), "commit after checkpoint");
  if constexpr (Backend::persistent) {
    require_ok(made, "checkpoint");
    auto options = s.options;
    options.path = copy_dir;
    auto copy = open_or_fail(Backend::kind, options);
    BOOST_TEST(scan_all(*copy, alpha_ks) == (entries{{"committed", "1"}}));
    require_ok(copy->close(), "close copy");
  } else {
    check_fails_with(made, ec::invalid_argument, "checkpoint of a memory store");
  }
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(checkpoint_into_an_existing_directory_is_refused, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto existing = s.dir.path() / "existing";
  std::filesystem::create_directories(existing);
  auto made = s.db->checkpoint(existing.string());
  check_fails_with(made, Backend::persistent ? ec::already_exists : ec::invalid_argument,
                   "checkpoint into an existing directory");
  BOOST_TEST(std::filesystem::is_empty(existing));
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"v"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_count_keys_and_bytes_per_keyspace, Backend, all_backends) {
  fresh_store<Backend> s;
  auto empty = stats_of(*s.db);
  BOOST_REQUIRE(empty.keyspaces.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(empty.keyspaces[i].keys == 0u);
    BOOST_TEST(empty.keyspaces[i].bytes == 0u);
  }
  BOOST_TEST(empty.keyspaces[0].name == "alpha");
  BOOST_TEST(empty.keyspaces[1].name == "beta");
  BOOST_TEST(empty.keyspaces[2].name == "gamma");
  put(*s.db, alpha_ks, "k1", "12345");
  put(*s.db, alpha_ks, "key2", "");
  put(*s.db, gamma_ks, "g", std::string(1000, 'x'));
  auto stats = stats_of(*s.db);
  BOOST_TEST(stats.keyspaces[alpha_ks].keys == 2u);
  BOOST_TEST(stats.keyspaces[alpha_ks].bytes == 2u + 5u + 4u);
  BOOST_TEST(stats.keyspaces[beta_ks].keys == 0u);
  BOOST_TEST(stats.keyspaces[gamma_ks].keys == 1u);
  BOOST_TEST(stats.keyspaces[gamma_ks].bytes == 1001u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_follow_overwrites_and_deletes, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "short");
  put(*s.db, alpha_ks, "k", "a much longer value");
  BOOST_TEST(usage(*s.db, alpha_ks) == (keyspace_usage{1, 1 + 19}));
  put(*s.db, alpha_ks, "k", "");
  BOOST_TEST(usage(*s.db, alpha_ks) == (keyspace_usage{1, 1}));
  put(*s.db, alpha_ks, "other", "xy");
  del(*s.db, alpha_ks, "k");
  del(*s.db, alpha_ks, "never existed");
  BOOST_TEST(usage(*s.db, alpha_ks) == (keyspace_usage{1, 5 + 2}));
  write_batch batch;
  batch.put(alpha_ks, "other", "replaced");
  batch.del(alpha_ks, "other");
  batch.put(alpha_ks, "b", "1");
  write(*s.db, batch);
  BOOST_TEST(usage(*s.db, alpha_ks) == (keyspace_usage{1, 2}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_match_the_data_after_a_long_history, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  for (keyspace_id ks : {alpha_ks, beta_ks, gamma_ks})
    BOOST_TEST(usage(*s.db, ks) == usage_of(scan_all(*s.db, ks)), "keyspace " << ks);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_count_reads_writes_and_deletes, Backend, all_backends) {
  fresh_store<Backend> s;
  auto start = stats_of(*s.db);
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, alpha_ks, "a", "2");
  write_batch batch;
  batch.put(beta_ks, "b", "1");
  batch.put(beta_ks, "c", "1");
  batch.del(beta_ks, "c");
  batch.del(beta_ks, "absent");
  write(*s.db, batch);
  (void)get(*s.db, alpha_ks, "a");
  (void)get(*s.db, alpha_ks, "absent");
  (void)contains(*s.db, beta_ks, "b");
  (void)require_value(s.db->multi_get(alpha_ks, {"a", "x", "y"}), "multi_get");
  // Scans are not counted as reads.
  (void)scan_all(*s.db, alpha_ks);
  (void)scan_prefix(*s.db, beta_ks, "b");
  auto txn = require_value(s.db->begin(), "begin");
  (void)require_value(txn->get(alpha_ks, "a"), "transaction get");
  require_ok(txn->put(gamma_ks, "t", "1"), "transaction put");
  require_ok(txn->del(gamma_ks, "u"), "transaction del");
  require_ok(txn->commit(), "commit");
  auto end = stats_of(*s.db);
  BOOST_TEST(end.reads - start.reads == 2u + 1u + 3u + 1u);
  BOOST_TEST(end.writes - start.writes == 2u + 2u + 1u);
  BOOST_TEST(end.deletes - start.deletes == 2u + 1u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_ignore_failed_batches_and_rolled_back_transactions, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto before = stats_of(*s.db);
  write_batch bad;
  bad.put(alpha_ks, "k2", "v");
  bad.del(alpha_ks, "k");
  bad.put(undeclared_ks, "k", "v");
  check_fails_with(s.db->write(bad), ec::unknown_keyspace, "bad batch");
  auto txn = require_value(s.db->begin(), "begin");
  require_ok(txn->put(alpha_ks, "k3", "v"), "transaction put");
  txn->rollback();
  auto loser = require_value(s.db->begin(), "begin");
  require_ok(loser->put(alpha_ks, "k", "loser"), "transaction put");
  put(*s.db, alpha_ks, "k", "winner");
  check_fails_with(loser->commit(), ec::conflict, "losing commit");
  auto after = stats_of(*s.db);
  BOOST_TEST(after.writes - before.writes == 1u);
  BOOST_TEST(after.deletes == before.deletes);
  BOOST_TEST(after.keyspaces[alpha_ks].keys == 1u);
  BOOST_TEST(after.keyspaces[alpha_ks].bytes == 1u + 6u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_keys_and_bytes_survive_reopen, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  auto before = stats_of(*s.db);
  s.reopen();
  auto after = stats_of(*s.db);
  BOOST_REQUIRE(after.keyspaces.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    if constexpr (Backend::persistent) {
      BOOST_TEST(after.keyspaces[i].keys == before.keyspaces[i].keys);
      BOOST_TEST(after.keyspaces[i].bytes == before.keyspaces[i].bytes);
    } else {
      BOOST_TEST(after.keyspaces[i].keys == 0u);
      BOOST_TEST(after.keyspaces[i].bytes == 0u);
    }
  }
  // The counts stay exact for writes after the reopen as well.
  put(*s.db, beta_ks, numbered_key("b", 0), "changed");
  put(*s.db, beta_ks, "brand new", "v");
  BOOST_TEST(usage(*s.db, beta_ks) == usage_of(scan_all(*s.db, beta_ks)));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stats_report_disk_bytes_only_for_persistent_stores, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 1000);
  put(*s.db, alpha_ks, "large", pattern_value(1u << 20, 2));
  require_ok(s.db->flush(), "flush");
  auto stats = stats_of(*s.db);
  if constexpr (Backend::persistent)
    BOOST_TEST(stats.disk_bytes >= (1u << 20));
  else
    BOOST_TEST(stats.disk_bytes == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(read_only_reopen_sees_everything, Backend, all_backends) {
  fresh_store<Backend> s;
  write_mixed_history(*s.db);
  auto before = everything(*s.db);
  require_ok(s.db->close(), "close");
  s.options.read_only = true;
  s.db = open_or_fail(Backend::kind, s.options);
  if constexpr (Backend::persistent)
    BOOST_TEST(everything(*s.db) == before);
  else
    BOOST_TEST(everything(*s.db) == (std::vector<entries>{{}, {}, {}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(large_values_and_many_keys_survive_reopen, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "big", pattern_value(6u << 20, 9));
  fill(*s.db, beta_ks, "n", 30000);
  s.reopen();
  if constexpr (Backend::persistent) {
    BOOST_TEST((get(*s.db, alpha_ks, "big") == value{pattern_value(6u << 20, 9)}));
    auto all = scan_all(*s.db, beta_ks);
    BOOST_REQUIRE(all.size() == 30000u);
    BOOST_TEST(all[12345] == (entry{numbered_key("n", 12345), "v12345"}));
  } else {
    BOOST_TEST(!contains(*s.db, alpha_ks, "big"));
    BOOST_TEST(scan_all(*s.db, beta_ks).empty());
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(keyspaces_may_be_added_or_left_out_on_reopen, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, beta_ks, "b", "2");
  put(*s.db, gamma_ks, "g", "3");
  require_ok(s.db->close(), "close");
  auto options = s.options;
  // Only beta, now with id 0, and a new keyspace.
  options.keyspaces = {"beta", "delta"};
  s.db = open_or_fail(Backend::kind, options);
  value expected_b = Backend::persistent ? value{"2"} : std::nullopt;
  BOOST_TEST(get(*s.db, 0, "b") == expected_b);
  BOOST_TEST(scan_all(*s.db, 1).empty());
  put(*s.db, 1, "d", "4");
  BOOST_TEST(require_value(s.db->stats(), "stats").keyspaces.size() == 2u);
  require_ok(s.db->close(), "close");
  // The keyspaces left out were kept untouched.
  options.keyspaces = {"alpha", "beta", "gamma", "delta"};
  s.db = open_or_fail(Backend::kind, options);
  if constexpr (Backend::persistent) {
    BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"a", "1"}}));
    BOOST_TEST(scan_all(*s.db, beta_ks) == (entries{{"b", "2"}}));
    BOOST_TEST(scan_all(*s.db, gamma_ks) == (entries{{"g", "3"}}));
    BOOST_TEST(scan_all(*s.db, 3) == (entries{{"d", "4"}}));
  } else {
    for (keyspace_id ks = 0; ks < 4; ++ks)
      BOOST_TEST(scan_all(*s.db, ks).empty());
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(checkpoint_creates_missing_parent_directories, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto copy_dir = s.dir.path() / "deeper" / "still deeper" / "copy";
  auto made = s.db->checkpoint(copy_dir.string());
  if constexpr (Backend::persistent) {
    require_ok(made, "checkpoint below missing directories");
    auto options = s.options;
    options.path = copy_dir.string();
    auto copy = open_or_fail(Backend::kind, options);
    BOOST_TEST(get(*copy, alpha_ks, "k") == value{"v"});
    require_ok(copy->close(), "close copy");
  } else {
    check_fails_with(made, ec::invalid_argument, "checkpoint of a memory store");
    BOOST_TEST(!std::filesystem::exists(s.dir.path() / "deeper"));
  }
}

BOOST_AUTO_TEST_SUITE_END()
