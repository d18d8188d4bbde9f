// The actors under CAF's test coordinator: every message runs on the test's thread inside
// sched.run(), so ordering questions (group commit, push-back, acknowledgement after commit) have
// one deterministic answer.
#include "engine_fixtures.hpp"

#include "telos/storage/key_codec.hpp"

using namespace telos;
using namespace telos::test;

namespace {

/// A row contributor like the attribute index of issue 5: one row per (key, value, id).
class attribute_rows : public storage::row_contributor {
public:
  std::vector<std::string> keyspaces() const override { return {"attr"}; }

  static std::string key(const std::string& k, const std::string& v, const uuid& id) {
    return storage::key_builder{}.string(k).string(v).id(id).take();
  }

  expected<void> on_put(const memory* before, const memory& now,
                        const storage::shard_layout& layout, write_batch& rows) override {
    auto ks = layout.keyspace("attr");
    if (!ks) return std::move(ks.error());
    if (now.attributes.count("reject")) return make_error(ec::invalid_argument, "rejected");
    if (before)
      for (const auto& [k, v] : before->attributes)
        rows.del(*ks, key(k, v, before->id));
    for (const auto& [k, v] : now.attributes)
      rows.put(*ks, key(k, v, now.id), {});
    return {};
  }

  expected<void> on_remove(const memory& before, const storage::shard_layout& layout,
                           write_batch& rows) override {
    auto ks = layout.keyspace("attr");
    if (!ks) return std::move(ks.error());
    for (const auto& [k, v] : before.attributes)
      rows.del(*ks, key(k, v, before.id));
    return {};
  }
};

std::vector<memory> make_batch(memory_maker& maker, size_t n) {
  std::vector<memory> batch;
  for (size_t i = 0; i < n; ++i)
    batch.push_back(maker.make());
  return batch;
}

/// Sends a write of one memory and, behind it, one of eight (built while the first is written),
/// and returns the descriptions of the two errors they were answered with, in order; fails the
/// test when either was acknowledged.
std::vector<std::string> errors_of_two_writes(actor_fixture& f, memory_maker& maker) {
  caf::scoped_actor self{f.sys};
  self->send(f.actors.coordinator, atom::put_v, std::vector<memory>{maker.make()});
  self->send(f.actors.coordinator, atom::put_v, make_batch(maker, 8));
  f.sched.run();
  std::vector<std::string> errors;
  for (int i = 0; i < 2; ++i)
    self->receive([&](std::vector<uuid>&) { BOOST_FAIL("a write was acknowledged"); },
                  [&](caf::error& err) { errors.push_back(describe(err)); });
  BOOST_REQUIRE_EQUAL(errors.size(), 2u);
  return errors;
}

} // namespace

BOOST_AUTO_TEST_SUITE(engine_actors)

BOOST_FIXTURE_TEST_CASE(acknowledged_put_is_searchable_and_readable, actor_fixture) {
  start(2);
  memory_maker maker{prof};
  auto m = maker.make();
  auto ids = require(call<std::vector<uuid>>(atom::put_v, std::vector<memory>{m}), "put");
  BOOST_REQUIRE_EQUAL(ids.size(), 1u);
  for (const auto& spec : prof.embedders) {
    search_request req;
    req.embedder = spec.name;
    req.query = m.embeddings[spec.name];
    req.k = 1;
    auto result = require(call<search_result>(atom::search_v, req), "search");
    BOOST_REQUIRE_EQUAL(result.hits.size(), 1u);
    BOOST_CHECK(result.hits[0].id == m.id);
    BOOST_REQUIRE_EQUAL(result.records.size(), 1u);
    BOOST_CHECK(result.records[0] == m);
  }
  auto got =
      require(call<std::vector<memory>>(atom::get_v, std::vector<uuid>{m.id, uuid{}}), "get");
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_CHECK(got[0] == m);
  BOOST_CHECK(got[1].id.is_nil());
}

/// One large write, then three small ones sent while it is written; every write acknowledged.
/// Returns the shard's stats afterwards.
shard_info large_write_then_three_small(actor_fixture& f) {
  memory_maker maker{f.prof};
  caf::scoped_actor self{f.sys};
  self->send(f.actors.coordinator, atom::put_v, make_batch(maker, 8));
  for (int i = 0; i < 3; ++i)
    self->send(f.actors.coordinator, atom::put_v, std::vector<memory>{maker.make()});
  f.sched.run();
  size_t acked = 0;
  for (int i = 0; i < 4; ++i)
    self->receive([&](std::vector<uuid>& ids) { acked += ids.size(); },
                  [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_CHECK_EQUAL(acked, 11u);
  auto infos = require(f.call<std::vector<shard_info>>(atom::stats_v), "stats");
  BOOST_REQUIRE_EQUAL(infos.size(), 1u);
  BOOST_CHECK_EQUAL(infos[0].memories, 11u);
  for (const auto& index : infos[0].indexes) {
    BOOST_CHECK_EQUAL(index.vectors, 11u);
    BOOST_CHECK_EQUAL(index.sequence, infos[0].sequence);
  }
  return infos[0];
}

BOOST_FIXTURE_TEST_CASE(writes_queued_during_a_commit_share_the_next_one, actor_fixture) {
  start(1);
  // The three small writes stay below the large one's size, so they are not built before it
  // committed (see the case after the next); then they commit as one group.
  BOOST_CHECK_EQUAL(large_write_then_three_small(*this).sequence, 2u);
}

BOOST_FIXTURE_TEST_CASE(a_group_stops_at_max_group_bytes, actor_fixture) {
  engine_options opts;
  opts.max_group_bytes = 1; // every write is a group of its own
  start(1, opts);
  // Four groups: the large write (larger than the limit, it still commits, alone) and each of the
  // three behind it.
  BOOST_CHECK_EQUAL(large_write_then_three_small(*this).sequence, 4u);
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 11u);
}

BOOST_FIXTURE_TEST_CASE(the_next_group_is_built_while_one_is_written_and_counts_on_top_of_it,
                        actor_fixture) {
  start(1);
  memory_maker maker{prof};
  caf::scoped_actor self{sys};
  // w1 (one memory) is written; w2 (eight) arrives meanwhile, outweighs it and is built at once,
  // on top of w1's uncommitted counts; w3 and w4 (w4 replaces w1's memory in another namespace)
  // are built while w2 is written.
  auto first = maker.make("a");
  auto second = make_batch(maker, 8);
  for (size_t i = 0; i < second.size(); ++i)
    second[i].ns = i % 2 ? "a" : "b";
  auto third = maker.make("b");
  auto replaced = first;
  replaced.ns = "b";
  replaced.content = "replaced";
  std::vector<std::vector<memory>> writes{{first}, second, {third}, {replaced}};
  for (const auto& w : writes)
    self->send(actors.coordinator, atom::put_v, w);
  sched.run();
  for (size_t i = 0; i < writes.size(); ++i)
    self->receive([&](std::vector<uuid>&) {}, [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  auto infos = require(call<std::vector<shard_info>>(atom::stats_v), "stats");
  BOOST_REQUIRE_EQUAL(infos.size(), 1u);
  // Three groups: w1; w2; w3 + w4 (one group would make it 2 without the overlap).
  BOOST_CHECK_EQUAL(infos[0].sequence, 3u);
  BOOST_CHECK_EQUAL(infos[0].memories, 10u);
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{"a"}), "count a"), 4u);
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{"b"}), "count b"), 6u);
  // The counter rows a restart reads hold the same totals.
  const auto& shard = shards[0];
  auto counter = [&](const std::string& key) {
    auto value = require(shard.backend->get(shard.layout.meta(), key), "meta row");
    BOOST_REQUIRE(value);
    return require(storage::decode_counter(*value, key), "counter");
  };
  BOOST_CHECK_EQUAL(counter(std::string{storage::meta_keys::count}), 10u);
  BOOST_CHECK_EQUAL(counter(storage::namespace_count_key("a")), 4u);
  BOOST_CHECK_EQUAL(counter(storage::namespace_count_key("b")), 6u);
  auto got = require(call<std::vector<memory>>(atom::get_v, std::vector<uuid>{first.id}), "get");
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].content, "replaced");
  for (const auto& index : infos[0].indexes)
    BOOST_CHECK_EQUAL(index.vectors, 10u);
}

BOOST_FIXTURE_TEST_CASE(a_failed_write_fails_the_group_built_behind_it, actor_fixture) {
  start(1, {}, {0}); // every backend write fails
  memory_maker maker{prof};
  auto errors = errors_of_two_writes(*this, maker);
  BOOST_CHECK(std::any_of(errors.begin(), errors.end(), [](const std::string& e) {
    return e.find("the write before it in the same shard failed") != std::string::npos;
  }));
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 0u);
}

BOOST_FIXTURE_TEST_CASE(
    a_group_sent_behind_a_failed_write_is_not_written_though_the_disk_would_take_it,
    actor_fixture) {
  start(1, {}, {0});
  auto& disk = dynamic_cast<test::failing_writes&>(*shards[0].backend);
  disk.failures_left = 1; // only the first write fails
  memory_maker maker{prof};
  // w2 is built while w1 is written and sent to the backend behind it; w1 fails, and the backend
  // refuses w2 although its disk would take it: w2 was built on top of w1's counts.
  auto errors = errors_of_two_writes(*this, maker);
  BOOST_CHECK_NE(errors[0].find("the disk is full"), std::string::npos);
  BOOST_CHECK_NE(errors[1].find("not written: the write before it in the same shard failed"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(disk.failures_left, 0u); // w2 never reached the disk
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 0u);
  // The next write goes out on its own and is written: the shard's sequence and counts start
  // from what is stored, not from the two failed groups.
  auto third = make_batch(maker, 3);
  require(call<std::vector<uuid>>(atom::put_v, third), "put after the failure");
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 3u);
  auto infos = require(call<std::vector<shard_info>>(atom::stats_v), "stats");
  BOOST_REQUIRE_EQUAL(infos.size(), 1u);
  BOOST_CHECK_EQUAL(infos[0].sequence, 1u);
  for (const auto& index : infos[0].indexes)
    BOOST_CHECK_EQUAL(index.vectors, 3u);
}

BOOST_FIXTURE_TEST_CASE(writes_beyond_the_limit_are_pushed_back, actor_fixture) {
  engine_options opts;
  opts.max_inflight_writes = 2;
  start(1, opts);
  memory_maker maker{prof};
  caf::scoped_actor self{sys};
  for (int i = 0; i < 3; ++i)
    self->send(actors.coordinator, atom::put_v, std::vector<memory>{maker.make()});
  sched.run();
  size_t acked = 0;
  std::vector<ec> errors;
  for (int i = 0; i < 3; ++i)
    self->receive([&](std::vector<uuid>& ids) { acked += ids.size(); },
                  [&](caf::error& err) { errors.push_back(code_of(err)); });
  BOOST_CHECK_EQUAL(acked, 2u);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_CHECK(errors[0] == ec::overloaded);
  // Once answered, the slots are free again.
  require(call<std::vector<uuid>>(atom::put_v, std::vector<memory>{maker.make()}), "put");
}

BOOST_FIXTURE_TEST_CASE(failed_commit_reaches_the_client_and_no_index, actor_fixture) {
  start(2, {}, {0, 1}); // every backend write fails
  memory_maker maker{prof};
  auto batch = make_batch(maker, 6);
  auto result = call<std::vector<uuid>>(atom::put_v, batch);
  BOOST_REQUIRE(!result);
  BOOST_CHECK(code_of(result.error()) == ec::io_error);
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 0u);
  auto infos = require(call<std::vector<shard_info>>(atom::stats_v), "stats");
  for (const auto& info : infos) {
    BOOST_CHECK_EQUAL(info.sequence, 0u);
    for (const auto& index : info.indexes)
      BOOST_CHECK_EQUAL(index.vectors, 0u);
  }
  auto exists = require(call<flag_list>(atom::exists_v, std::vector<uuid>{batch[0].id}), "exists");
  BOOST_CHECK(!exists[0]);
}

BOOST_FIXTURE_TEST_CASE(a_failed_shard_names_the_shards_whose_part_committed, actor_fixture) {
  start(2, {}, {1});
  memory_maker maker{prof};
  auto batch = make_batch(maker, 12);
  // Memory i on shard i % 2: random ids all fell on one shard once in 2,048 runs (which failed
  // this test in a CI run of session 38).
  for (size_t i = 0; i < batch.size(); ++i)
    while (stable_hash(batch[i].id) % 2 != i % 2)
      batch[i].id = uuid::random();
  size_t on_shard_0 = 0;
  for (const auto& m : batch)
    on_shard_0 += stable_hash(m.id) % 2 == 0;
  BOOST_REQUIRE_EQUAL(on_shard_0, batch.size() / 2);
  auto result = call<std::vector<uuid>>(atom::put_v, batch);
  BOOST_REQUIRE(!result);
  BOOST_CHECK(code_of(result.error()) == ec::io_error);
  BOOST_CHECK_NE(describe(result.error()).find("shard(s) 0 committed"), std::string::npos);
  // Cross-shard batches are atomic per shard only (docs/ENGINE.md): shard 0's part is stored.
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), on_shard_0);
}

BOOST_FIXTURE_TEST_CASE(verify_finds_and_repairs_an_index_entry_lost_behind_the_engine,
                        actor_fixture) {
  start(1);
  memory_maker maker{prof};
  auto batch = make_batch(maker, 10);
  require(call<std::vector<uuid>>(atom::put_v, batch), "put");
  auto clean = require(call<verify_result>(atom::verify_v, false), "verify");
  BOOST_CHECK(clean.problems.empty());
  BOOST_CHECK_EQUAL(clean.records_checked, 10u);
  // Drop one entry from the "dot" index directly, as a bug would.
  BOOST_REQUIRE(shards[0].indexes[1]->index->remove(batch[3].id));
  auto found = require(call<verify_result>(atom::verify_v, false), "verify");
  BOOST_REQUIRE_EQUAL(found.problems.size(), 1u);
  BOOST_CHECK_NE(found.problems[0].find("index dot lacks memory " + batch[3].id.to_string()),
                 std::string::npos);
  auto repaired = require(call<verify_result>(atom::verify_v, true), "repair");
  BOOST_CHECK_EQUAL(repaired.repaired, 1u);
  BOOST_CHECK(shards[0].indexes[1]->index->contains(batch[3].id));
  BOOST_CHECK(require(call<verify_result>(atom::verify_v, false), "verify").problems.empty());
}

BOOST_FIXTURE_TEST_CASE(verify_finds_a_corrupt_record_and_repair_removes_it, actor_fixture) {
  start(1);
  memory_maker maker{prof};
  auto batch = make_batch(maker, 5);
  require(call<std::vector<uuid>>(atom::put_v, batch), "put");
  const auto& layout = shards[0].layout;
  require(shards[0].backend->put(layout.records(), batch[2].id.view(), "garbage"), "corrupt");
  auto found = require(call<verify_result>(atom::verify_v, false), "verify");
  BOOST_REQUIRE(!found.problems.empty());
  BOOST_CHECK_NE(found.problems[0].find(batch[2].id.to_string()), std::string::npos);
  auto get = call<std::vector<memory>>(atom::get_v, std::vector<uuid>{batch[2].id});
  BOOST_REQUIRE(!get);
  BOOST_CHECK(code_of(get.error()) == ec::corrupt_value);
  require(call<verify_result>(atom::verify_v, true), "repair");
  BOOST_CHECK(require(call<verify_result>(atom::verify_v, false), "verify").problems.empty());
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 4u);
  auto gone = require(call<std::vector<memory>>(atom::get_v, std::vector<uuid>{batch[2].id}),
                      "get after repair");
  BOOST_CHECK(gone[0].id.is_nil());
  for (const auto& h : shards[0].indexes)
    BOOST_CHECK(!h->index->contains(batch[2].id));
}

BOOST_FIXTURE_TEST_CASE(row_contributor_rows_commit_with_the_memory, actor_fixture) {
  engine_options opts;
  opts.row_contributors.push_back(std::make_shared<attribute_rows>());
  start(1, opts);
  memory_maker maker{prof};
  auto m = maker.make();
  m.attributes = {{"color", "red"}};
  require(call<std::vector<uuid>>(atom::put_v, std::vector<memory>{m}), "put");
  auto& db = *shards[0].backend;
  auto attr = *shards[0].layout.keyspace("attr");
  auto has = [&](const std::string& k, const std::string& v) {
    return require(db.contains(attr, attribute_rows::key(k, v, m.id)), "contains");
  };
  BOOST_CHECK(has("color", "red"));
  auto changed = m;
  changed.attributes = {{"color", "blue"}};
  require(call<atom::ok>(atom::update_v, changed), "update");
  BOOST_CHECK(!has("color", "red"));
  BOOST_CHECK(has("color", "blue"));
  // A contributor error rejects that write alone, with nothing of it stored.
  auto rejected = maker.make();
  rejected.attributes["reject"] = "yes";
  auto result = call<std::vector<uuid>>(atom::put_v, std::vector<memory>{rejected});
  BOOST_REQUIRE(!result);
  BOOST_CHECK(code_of(result.error()) == ec::invalid_argument);
  BOOST_CHECK_EQUAL(require(call<uint64_t>(atom::count_v, std::string{}), "count"), 1u);
  require(call<flag_list>(atom::remove_v, std::vector<uuid>{m.id}), "remove");
  BOOST_CHECK(!has("color", "blue"));
}

BOOST_FIXTURE_TEST_CASE(checkpoint_holds_writes_until_every_shard_copied, actor_fixture) {
  start(2);
  memory_maker maker{prof};
  caf::scoped_actor self{sys};
  // The memory backend cannot checkpoint, so the copy fails; the write sent after it must still
  // wait for it and then succeed.
  temp_dir dir{"actor-checkpoint"};
  self->send(actors.coordinator, atom::checkpoint_v, dir.sub("copy"));
  self->send(actors.coordinator, atom::put_v, std::vector<memory>{maker.make()});
  sched.run();
  bool checkpoint_answered_first = false;
  self->receive(
      [&](atom::ok) { BOOST_FAIL("a memory backend cannot checkpoint"); },
      [&](caf::error& err) { checkpoint_answered_first = code_of(err) == ec::invalid_argument; });
  BOOST_CHECK(checkpoint_answered_first);
  self->receive([&](std::vector<uuid>& ids) { BOOST_CHECK_EQUAL(ids.size(), 1u); },
                [&](caf::error& err) { BOOST_FAIL(describe(err)); });
}

BOOST_AUTO_TEST_SUITE_END()
