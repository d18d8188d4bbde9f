// Group 5, transactions: commit, rollback (explicit and by destructor), read-your-writes, snapshot
// isolation, and first-committer-wins conflicts against other transactions and plain writes.
#include "store_fixture.hpp"

using namespace conformance;
using telos::storage::transaction;

namespace {

std::unique_ptr<transaction> begin(backend& db) {
  return require_value(db.begin(), "begin");
}

std::optional<std::string> txn_get(transaction& txn, keyspace_id ks, std::string_view key) {
  return require_value(txn.get(ks, key), "transaction get '" + telos::printable_key(key) + "'");
}

void txn_put(transaction& txn, keyspace_id ks, std::string_view key, std::string_view value) {
  require_ok(txn.put(ks, key, value), "transaction put '" + telos::printable_key(key) + "'");
}

void txn_del(transaction& txn, keyspace_id ks, std::string_view key) {
  require_ok(txn.del(ks, key), "transaction del '" + telos::printable_key(key) + "'");
}

using value = std::optional<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(transactions)

BOOST_AUTO_TEST_CASE_TEMPLATE(commit_makes_every_write_visible, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "doomed", "x");
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "a", "1");
  txn_put(*txn, beta_ks, "b", "2");
  txn_del(*txn, alpha_ks, "doomed");
  require_ok(txn->commit(), "commit");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"a", "1"}}));
  BOOST_TEST(scan_all(*s.db, beta_ks) == (entries{{"b", "2"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(writes_stay_invisible_until_commit, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "old");
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "new");
  txn_put(*txn, alpha_ks, "fresh", "v");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"old"});
  BOOST_TEST(!contains(*s.db, alpha_ks, "fresh"));
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "old"}}));
  require_ok(txn->commit(), "commit");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"new"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rollback_discards_every_write, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "old");
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "new");
  txn_put(*txn, beta_ks, "fresh", "v");
  txn_del(*txn, alpha_ks, "k");
  txn->rollback();
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "old"}}));
  BOOST_TEST(scan_all(*s.db, beta_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(destructor_rolls_back_an_uncommitted_transaction, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "old");
  {
    auto txn = begin(*s.db);
    txn_put(*txn, alpha_ks, "k", "new");
    txn_put(*txn, alpha_ks, "fresh", "v");
  }
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "old"}}));
  // Nothing of the dropped transaction lingers as a conflict either.
  auto next = begin(*s.db);
  txn_put(*next, alpha_ks, "k", "next");
  require_ok(next->commit(), "commit after a dropped transaction");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"next"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_reads_its_own_puts, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "stored");
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "mine");
  txn_put(*txn, alpha_ks, "fresh", "also mine");
  BOOST_TEST(txn_get(*txn, alpha_ks, "k") == value{"mine"});
  BOOST_TEST(txn_get(*txn, alpha_ks, "fresh") == value{"also mine"});
  txn_put(*txn, alpha_ks, "k", "mine again");
  BOOST_TEST(txn_get(*txn, alpha_ks, "k") == value{"mine again"});
  BOOST_TEST(!txn_get(*txn, beta_ks, "k").has_value());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_reads_its_own_deletes, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "stored");
  auto txn = begin(*s.db);
  txn_del(*txn, alpha_ks, "k");
  BOOST_TEST(!txn_get(*txn, alpha_ks, "k").has_value());
  txn_put(*txn, alpha_ks, "k", "back");
  BOOST_TEST(txn_get(*txn, alpha_ks, "k") == value{"back"});
  txn_del(*txn, alpha_ks, "k");
  require_ok(txn->commit(), "commit");
  BOOST_TEST(!contains(*s.db, alpha_ks, "k"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_reads_unwritten_keys_from_the_store, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, beta_ks, "b", "");
  auto txn = begin(*s.db);
  BOOST_TEST(txn_get(*txn, alpha_ks, "a") == value{"1"});
  BOOST_TEST(txn_get(*txn, beta_ks, "b") == value{""});
  BOOST_TEST(!txn_get(*txn, alpha_ks, "missing").has_value());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(snapshot_ignores_writes_committed_after_begin, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "before");
  auto txn = begin(*s.db);
  put(*s.db, alpha_ks, "k", "after");
  put(*s.db, alpha_ks, "new", "after");
  BOOST_TEST(txn_get(*txn, alpha_ks, "k") == value{"before"});
  BOOST_TEST(!txn_get(*txn, alpha_ks, "new").has_value());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(snapshot_ignores_deletes_committed_after_begin, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "before");
  auto txn = begin(*s.db);
  del(*s.db, alpha_ks, "k");
  BOOST_TEST(txn_get(*txn, alpha_ks, "k") == value{"before"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(snapshot_ignores_another_transactions_commit, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "before");
  auto reader = begin(*s.db);
  auto writer = begin(*s.db);
  txn_put(*writer, alpha_ks, "k", "written");
  require_ok(writer->commit(), "writer commit");
  BOOST_TEST(txn_get(*reader, alpha_ks, "k") == value{"before"});
  auto later = begin(*s.db);
  BOOST_TEST(txn_get(*later, alpha_ks, "k") == value{"written"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(second_committer_of_the_same_key_gets_a_conflict, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "original");
  auto first = begin(*s.db);
  auto second = begin(*s.db);
  txn_put(*first, alpha_ks, "k", "first");
  txn_put(*second, alpha_ks, "k", "second");
  txn_put(*second, beta_ks, "side effect", "must not land");
  require_ok(first->commit(), "first commit");
  check_fails_with(second->commit(), ec::conflict, "second commit of the same key");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"first"});
  BOOST_TEST(scan_all(*s.db, beta_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(first_committer_wins_even_if_it_began_later, Backend, all_backends) {
  fresh_store<Backend> s;
  auto early = begin(*s.db);
  auto late = begin(*s.db);
  txn_put(*early, alpha_ks, "k", "early");
  txn_put(*late, alpha_ks, "k", "late");
  require_ok(late->commit(), "late commit");
  check_fails_with(early->commit(), ec::conflict, "early commit after late one");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"late"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(conflict_error_names_the_key, Backend, all_backends) {
  fresh_store<Backend> s;
  auto first = begin(*s.db);
  auto second = begin(*s.db);
  txn_put(*first, beta_ks, "contested-key", "1");
  txn_put(*second, beta_ks, "contested-key", "2");
  require_ok(first->commit(), "first commit");
  auto failed = second->commit();
  BOOST_REQUIRE(error_of(failed) == ec::conflict);
  auto text = telos::describe(failed.error());
  BOOST_TEST(text.find("contested-key") != std::string::npos, text);
  BOOST_TEST(text.find("beta") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transactions_on_disjoint_keys_both_commit, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "0");
  put(*s.db, alpha_ks, "b", "0");
  auto first = begin(*s.db);
  auto second = begin(*s.db);
  txn_put(*first, alpha_ks, "a", "first");
  txn_put(*second, alpha_ks, "b", "second");
  txn_del(*second, alpha_ks, "c");
  require_ok(first->commit(), "first commit");
  require_ok(second->commit(), "second commit");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"a", "first"}, {"b", "second"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(same_key_in_different_keyspaces_does_not_conflict, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  auto first = begin(*s.db);
  auto second = begin(*s.db);
  txn_put(*first, alpha_ks, "k", "alpha");
  txn_put(*second, beta_ks, "k", "beta");
  require_ok(first->commit(), "first commit");
  require_ok(second->commit(), "second commit");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"alpha"});
  BOOST_TEST(get(*s.db, beta_ks, "k") == value{"beta"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(plain_put_after_begin_makes_the_commit_conflict, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "from txn");
  txn_put(*txn, alpha_ks, "other", "from txn");
  put(*s.db, alpha_ks, "k", "plain");
  check_fails_with(txn->commit(), ec::conflict, "commit after a plain put of its key");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "plain"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(plain_delete_after_begin_makes_the_commit_conflict, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "original");
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "from txn");
  del(*s.db, alpha_ks, "k");
  check_fails_with(txn->commit(), ec::conflict, "commit after a plain delete of its key");
  BOOST_TEST(!contains(*s.db, alpha_ks, "k"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(plain_batch_touching_a_deleted_key_makes_the_commit_conflict, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "original");
  auto txn = begin(*s.db);
  // The transaction only deletes the key; a delete is a write for conflict purposes.
  txn_del(*txn, alpha_ks, "k");
  write_batch batch;
  batch.put(beta_ks, "unrelated", "x");
  batch.put(alpha_ks, "k", "rewritten");
  write(*s.db, batch);
  check_fails_with(txn->commit(), ec::conflict, "commit deleting a key rewritten by a batch");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"rewritten"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(writes_before_begin_do_not_conflict, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "before");
  auto earlier = begin(*s.db);
  txn_put(*earlier, alpha_ks, "k", "earlier txn");
  require_ok(earlier->commit(), "earlier commit");
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "txn");
  require_ok(txn->commit(), "commit after writes that preceded begin");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"txn"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(reading_a_key_written_by_others_is_not_a_conflict, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "read", "before");
  auto txn = begin(*s.db);
  BOOST_TEST(txn_get(*txn, alpha_ks, "read") == value{"before"});
  put(*s.db, alpha_ks, "read", "after");
  txn_put(*txn, alpha_ks, "written", "x");
  // Only write-write overlaps conflict (snapshot isolation, not serializability).
  require_ok(txn->commit(), "commit after another write of a key it only read");
  BOOST_TEST(get(*s.db, alpha_ks, "written") == value{"x"});
  BOOST_TEST(get(*s.db, alpha_ks, "read") == value{"after"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_without_writes_commits, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto txn = begin(*s.db);
  BOOST_TEST(txn_get(*txn, alpha_ks, "k") == value{"v"});
  put(*s.db, alpha_ks, "k", "changed");
  require_ok(txn->commit(), "commit of a read-only transaction");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"changed"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(large_transaction_commits_atomically_across_keyspaces, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  auto txn = begin(*s.db);
  for (uint64_t i = 0; i < 10000; ++i)
    txn_put(*txn, static_cast<keyspace_id>(i % 3), numbered_key("t", i), std::to_string(i));
  BOOST_TEST(txn_get(*txn, gamma_ks, numbered_key("t", 9998)) == value{"9998"});
  BOOST_TEST(scan_all(*s.db, gamma_ks).empty());
  require_ok(txn->commit(), "commit of 10k writes");
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 3334u);
  BOOST_TEST(scan_all(*s.db, beta_ks).size() == 3333u);
  BOOST_TEST(scan_all(*s.db, gamma_ks).size() == 3333u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(many_open_transactions_commit_disjoint_writes, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  std::vector<std::unique_ptr<transaction>> txns;
  for (int i = 0; i < 8; ++i)
    txns.push_back(begin(*s.db));
  for (size_t i = 0; i < txns.size(); ++i)
    txn_put(*txns[i], alpha_ks, "k" + std::to_string(i), "from " + std::to_string(i));
  // Commit in reverse order of begin.
  for (size_t i = txns.size(); i-- > 0;)
    require_ok(txns[i]->commit(), "commit " + std::to_string(i));
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 8u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(failed_commit_leaves_the_winners_values, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 5);
  auto winner = begin(*s.db);
  auto loser = begin(*s.db);
  for (uint64_t i = 0; i < 5; ++i) {
    txn_put(*winner, alpha_ks, numbered_key("k", i), "winner");
    txn_del(*loser, alpha_ks, numbered_key("k", i));
  }
  txn_put(*loser, alpha_ks, "loser-only", "x");
  require_ok(winner->commit(), "winner commit");
  check_fails_with(loser->commit(), ec::conflict, "loser commit");
  auto all = scan_all(*s.db, alpha_ks);
  BOOST_REQUIRE(all.size() == 5u);
  for (const auto& e : all)
    BOOST_TEST(e.second == "winner");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(retry_after_a_conflict_succeeds_on_a_fresh_snapshot, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "counter", "0");
  auto txn = begin(*s.db);
  auto seen = txn_get(*txn, alpha_ks, "counter");
  put(*s.db, alpha_ks, "counter", "5");
  txn_put(*txn, alpha_ks, "counter", std::to_string(std::stoi(*seen) + 1));
  check_fails_with(txn->commit(), ec::conflict, "stale increment");
  auto retry = begin(*s.db);
  auto fresh = txn_get(*retry, alpha_ks, "counter");
  BOOST_REQUIRE(fresh == value{"5"});
  txn_put(*retry, alpha_ks, "counter", std::to_string(std::stoi(*fresh) + 1));
  require_ok(retry->commit(), "retried increment");
  BOOST_TEST(get(*s.db, alpha_ks, "counter") == value{"6"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(finished_transaction_refuses_further_use, Backend, all_backends) {
  fresh_store<Backend> s;
  auto committed = begin(*s.db);
  txn_put(*committed, alpha_ks, "k", "v");
  require_ok(committed->commit(), "commit");
  check_fails_with(committed->get(alpha_ks, "k"), ec::invalid_argument, "get after commit");
  check_fails_with(committed->put(alpha_ks, "k", "again"), ec::invalid_argument,
                   "put after commit");
  check_fails_with(committed->del(alpha_ks, "k"), ec::invalid_argument, "del after commit");
  check_fails_with(committed->commit(), ec::invalid_argument, "second commit");
  committed->rollback();

  auto rolled_back = begin(*s.db);
  txn_put(*rolled_back, alpha_ks, "k", "rolled back");
  rolled_back->rollback();
  rolled_back->rollback();
  check_fails_with(rolled_back->put(alpha_ks, "k", "x"), ec::invalid_argument,
                   "put after rollback");
  check_fails_with(rolled_back->commit(), ec::invalid_argument, "commit after rollback");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"v"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_that_lost_a_conflict_refuses_further_use, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "txn");
  put(*s.db, alpha_ks, "k", "plain");
  check_fails_with(txn->commit(), ec::conflict, "conflicting commit");
  check_fails_with(txn->commit(), ec::invalid_argument, "commit after a failed commit");
  check_fails_with(txn->put(alpha_ks, "k", "x"), ec::invalid_argument, "put after failed commit");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"plain"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_rejects_bad_keys_and_keyspaces, Backend, all_backends) {
  fresh_store<Backend> s;
  auto txn = begin(*s.db);
  check_fails_with(txn->put(alpha_ks, "", "v"), ec::invalid_argument, "transaction put empty key");
  check_fails_with(txn->get(alpha_ks, std::string(max_key_size + 1, 'k')), ec::invalid_argument,
                   "transaction get of an oversized key");
  check_fails_with(txn->del(alpha_ks, ""), ec::invalid_argument, "transaction del empty key");
  check_fails_with(txn->put(undeclared_ks, "k", "v"), ec::unknown_keyspace,
                   "transaction put in an undeclared keyspace");
  check_fails_with(txn->get(undeclared_ks, "k"), ec::unknown_keyspace,
                   "transaction get in an undeclared keyspace");
  check_fails_with(txn->del(undeclared_ks, "k"), ec::unknown_keyspace,
                   "transaction del in an undeclared keyspace");
  // The refused calls buffered nothing: a valid write still commits alone.
  txn_put(*txn, alpha_ks, "k", "v");
  require_ok(txn->commit(), "commit after refused calls");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "v"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(synced_commit_is_applied, Backend, all_backends) {
  fresh_store<Backend> s;
  auto txn = begin(*s.db);
  txn_put(*txn, alpha_ks, "k", "v");
  telos::storage::write_options sync;
  sync.sync = true;
  require_ok(txn->commit(sync), "synced commit");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"v"});
}

BOOST_AUTO_TEST_SUITE_END()
