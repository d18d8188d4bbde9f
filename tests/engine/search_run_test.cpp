// The one search routine (shard/search_run.hpp): its plan's errors, its steps on hand-made lists,
// and its two drivers — the coordinator's messages and local_indexes on the caller's thread —
// giving the same answers, with and without records.
#include "engine_fixtures.hpp"

#include "telos/shard/local_indexes.hpp"
#include "telos/shard/search_run.hpp"

#include <cmath>
#include <limits>
#include <set>

using namespace telos;
using namespace telos::test;

namespace {

/// The hits of `run` computed here by local_indexes over the fixture's shards.
search_result search_here(const local_indexes& local, expected<search_run> run) {
  BOOST_REQUIRE_MESSAGE(run, "plan: " << (run ? std::string{} : describe(run.error())));
  require(local.search(*run), "local search");
  return run->finish();
}

void check_same_hits(const std::vector<hit>& a, const std::vector<hit>& b,
                     const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      BOOST_CHECK(a[i].id == b[i].id);
      BOOST_CHECK_EQUAL(a[i].score, b[i].score);
    }
  }
}

/// An id whose 16 bytes are all `b`, so tests can order ids by hand (ids compare bytewise).
uuid id_of(char b) {
  return uuid::from_bytes(std::string(16, b));
}

/// A single-embedder run of "cos" over `shards` shards asking for `k`.
search_run single_run(const profile& p, size_t shards, uint32_t k, filter f = {},
                      bool with_records = false) {
  memory_maker maker{p};
  search_request req;
  req.embedder = "cos";
  req.query = maker.make_embedding(p.embedders[0]);
  req.k = k;
  req.filter = std::move(f);
  req.with_records = with_records;
  return require(search_run::plan(p, {}, std::move(req), shards), "plan");
}

} // namespace

BOOST_AUTO_TEST_SUITE(engine_search_run)

BOOST_AUTO_TEST_CASE(plan_errors_name_the_field) {
  auto p = mixed_profile();
  memory_maker maker{p};
  search_request single;
  single.embedder = "nope";
  single.query = maker.make_embedding(p.embedders[0]);
  auto unknown = search_run::plan(p, {}, single, 1);
  BOOST_REQUIRE(!unknown);
  BOOST_CHECK(code_of(unknown.error()) == ec::invalid_argument);
  BOOST_CHECK(describe(unknown.error()).find("unknown embedder nope") != std::string::npos);

  single.embedder = "l2";
  auto wrong_dim = search_run::plan(p, {}, single, 1);
  BOOST_REQUIRE(!wrong_dim);
  BOOST_CHECK(code_of(wrong_dim.error()) == ec::invalid_argument);
  BOOST_CHECK(describe(wrong_dim.error()).find("'l2'") != std::string::npos);

  fused_search_request fused;
  auto none = search_run::plan(p, {}, fused, 100, 1);
  BOOST_REQUIRE(!none);
  BOOST_CHECK(describe(none.error()).find("at least one query") != std::string::npos);

  fused.queries["cos"] = maker.make_embedding(p.embedders[0]);
  fused.weights["dot"] = 1.0f;
  auto orphan = search_run::plan(p, {}, fused, 100, 1);
  BOOST_REQUIRE(!orphan);
  BOOST_CHECK(describe(orphan.error()).find("'dot', which has no query") != std::string::npos);

  fused.weights.clear();
  fused.weights["cos"] = std::numeric_limits<float>::quiet_NaN();
  auto nan = search_run::plan(p, {}, fused, 100, 1);
  BOOST_REQUIRE(!nan);
  BOOST_CHECK(describe(nan.error()).find("weight of embedder 'cos'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(weighted_sum_asks_each_shard_for_the_missing_scores_of_its_ids) {
  auto p = mixed_profile();
  memory_maker maker{p, 3};
  fused_search_request req;
  req.queries["cos"] = maker.make_embedding(p.embedders[0]);
  req.queries["dot"] = maker.make_embedding(p.embedders[1]);
  req.weights["dot"] = 2.0f;
  req.fusion = fusion::weighted_sum;
  req.k = 3;
  req.with_records = false;
  auto run = require(search_run::plan(p, {}, req, 4, 2), "plan");
  BOOST_CHECK_EQUAL(run.depth(), 4u);
  BOOST_REQUIRE_EQUAL(run.list_count(), 4u);
  std::vector<uuid> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(uuid::random());
  auto shard_of = [](const uuid& id) { return static_cast<size_t>(stable_hash(id) % 2); };
  // Lists in list order: (cos, shard 0), (cos, shard 1), (dot, shard 0), (dot, shard 1); each
  // shard lists only its own ids.
  std::vector<std::vector<hit>> lists(4);
  auto list_of = [&](size_t part, const uuid& id) -> std::vector<hit>& {
    return lists[part * 2 + shard_of(id)];
  };
  list_of(0, ids[0]).push_back(hit{ids[0], 0.9f});
  list_of(0, ids[1]).push_back(hit{ids[1], 0.8f});
  list_of(0, ids[2]).push_back(hit{ids[2], 0.7f});
  list_of(1, ids[3]).push_back(hit{ids[3], 0.6f});
  list_of(1, ids[4]).push_back(hit{ids[4], 0.5f});
  list_of(1, ids[0]).push_back(hit{ids[0], 0.1f});
  for (auto& l : lists)
    std::sort(l.begin(), l.end(), better);
  run.take_lists(lists);
  auto asked = run.missing_scores();
  // cos lacks ids 3 and 4, dot lacks ids 1 and 2: each asked of its own shard only.
  std::set<std::pair<size_t, uuid>> wanted{{0, ids[3]}, {0, ids[4]}, {1, ids[1]}, {1, ids[2]}};
  std::set<std::pair<size_t, uuid>> got;
  for (const auto& a : asked)
    for (const auto& id : a.ids) {
      BOOST_CHECK_EQUAL(a.shard, shard_of(id));
      got.emplace(a.part, id);
    }
  BOOST_CHECK(got == wanted);
  // Exact scores: each missing id scores 0.05 per embedder.
  std::vector<std::vector<hit>> scores;
  for (const auto& a : asked) {
    scores.emplace_back();
    for (const auto& id : a.ids)
      scores.back().push_back(hit{id, 0.05f});
  }
  run.take_scores(asked, scores);
  auto result = run.finish();
  // cos weight 1, dot weight 2: id0 0.9 + 0.2, id3 0.05 + 1.2, id4 0.05 + 1.0, id1 0.8 + 0.1.
  BOOST_REQUIRE_EQUAL(result.hits.size(), 3u);
  BOOST_CHECK(result.hits[0].id == ids[3]);
  BOOST_CHECK(result.hits[1].id == ids[0]);
  BOOST_CHECK(result.hits[2].id == ids[4]);
  BOOST_CHECK_CLOSE_FRACTION(result.hits[0].score, 1.25f, 1e-5);
}

BOOST_FIXTURE_TEST_CASE(the_coordinator_and_the_callers_thread_give_the_same_answers,
                        actor_fixture) {
  start(2);
  memory_maker maker{prof, 23};
  std::vector<memory> batch;
  for (int i = 0; i < 60; ++i)
    batch.push_back(maker.make(i % 3 == 0 ? "a" : "b", 1000 + i));
  require(call<std::vector<uuid>>(atom::put_v, batch), "put");
  auto& local = *actors.local;
  for (const auto& spec : prof.embedders) {
    search_request req;
    req.embedder = spec.name;
    req.query = maker.make_embedding(spec);
    req.k = 7;
    req.filter.ns = "b";
    req.with_records = false;
    auto by_messages = require(call<search_result>(atom::search_v, req), "coordinator search");
    auto here = search_here(local, search_run::plan(prof, {}, req, 2));
    check_same_hits(by_messages.hits, here.hits, spec.name);
    BOOST_CHECK_EQUAL(here.hits.size(), 7u);
    req.with_records = true;
    auto with_records = require(call<search_result>(atom::search_v, req), "with records");
    check_same_hits(with_records.hits, here.hits, spec.name + " with records");
    BOOST_REQUIRE_EQUAL(with_records.records.size(), with_records.hits.size());
    for (size_t i = 0; i < with_records.hits.size(); ++i) {
      BOOST_CHECK(with_records.records[i].id == with_records.hits[i].id);
      BOOST_CHECK_EQUAL(with_records.records[i].ns, "b");
    }
  }
  for (auto method : {fusion::rrf, fusion::weighted_sum}) {
    fused_search_request req;
    req.fusion = method;
    req.k = 10;
    req.with_records = false;
    for (const auto& name : {"cos", "sparse", "multi"})
      req.queries[name] = maker.make_embedding(prof.embedders[*prof.index_of(name)]);
    req.weights["multi"] = 0.5f;
    auto by_messages = require(call<search_result>(atom::search_v, req), "coordinator fused");
    auto here = search_here(local, search_run::plan(prof, {}, req, 100, 2));
    check_same_hits(by_messages.hits, here.hits, to_string(method));
    BOOST_CHECK_EQUAL(here.hits.size(), 10u);
    req.with_records = true;
    auto with_records = require(call<search_result>(atom::search_v, req), "fused with records");
    check_same_hits(with_records.hits, here.hits, std::string{to_string(method)} + " records");
    BOOST_CHECK_EQUAL(with_records.records.size(), 10u);
  }
  local.close();
  search_request after;
  after.embedder = "cos";
  after.query = maker.make_embedding(prof.embedders[0]);
  auto run = require(search_run::plan(prof, {}, after, 2), "plan after close");
  auto closed = local.search(run);
  BOOST_REQUIRE(!closed);
  BOOST_CHECK(code_of(closed.error()) == ec::closed);
}

BOOST_AUTO_TEST_CASE(merge_ranks_by_score_then_id_across_shards) {
  auto p = mixed_profile();
  auto run = single_run(p, 3, 4);
  BOOST_REQUIRE_EQUAL(run.list_count(), 3u);
  BOOST_CHECK_EQUAL(run.depth(), 4u);
  // Ties at 0.9 on two shards and at 0.5 on three; an empty list from shard 2's peer.
  std::vector<std::vector<hit>> lists{
      {{id_of('\x05'), 0.9f}, {id_of('\x03'), 0.5f}, {id_of('\x01'), 0.1f}},
      {{id_of('\x04'), 0.9f}, {id_of('\x06'), 0.5f}},
      {{id_of('\x02'), 0.5f}},
  };
  run.take_lists(lists);
  BOOST_CHECK(run.missing_scores().empty());
  BOOST_CHECK(!run.needs_records());
  auto result = run.finish();
  std::vector<hit> expected{
      {id_of('\x04'), 0.9f}, {id_of('\x05'), 0.9f}, {id_of('\x02'), 0.5f}, {id_of('\x03'), 0.5f}};
  check_same_hits(result.hits, expected, "merged");
  BOOST_CHECK(result.records.empty());
}

BOOST_AUTO_TEST_CASE(k_larger_than_the_results_gives_every_hit) {
  auto p = mixed_profile();
  auto run = single_run(p, 2, 50);
  run.take_lists({{{id_of('\x02'), 0.3f}}, {{id_of('\x01'), 0.7f}, {id_of('\x03'), -0.2f}}});
  auto result = run.finish();
  check_same_hits(result.hits,
                  {{id_of('\x01'), 0.7f}, {id_of('\x02'), 0.3f}, {id_of('\x03'), -0.2f}}, "all");
  // Nothing at all: an empty answer, not an error.
  auto empty = single_run(p, 2, 50);
  empty.take_lists({{}, {}});
  BOOST_CHECK(empty.finish().hits.empty());
  // k = 0 asks nothing.
  BOOST_CHECK(single_run(p, 2, 0).empty());
}

BOOST_AUTO_TEST_CASE(rrf_fuses_ranks_with_weights_as_computed_by_hand) {
  auto p = mixed_profile();
  memory_maker maker{p};
  fused_search_request req;
  req.queries["cos"] = maker.make_embedding(p.embedders[0]);
  req.queries["dot"] = maker.make_embedding(p.embedders[1]);
  req.weights["dot"] = 2.0f;
  req.fusion = fusion::rrf;
  req.rrf_k = 10;
  req.k = 10;
  req.with_records = false;
  auto run = require(search_run::plan(p, {}, req, 5, 1), "plan");
  BOOST_CHECK_EQUAL(run.depth(), 10u);
  BOOST_REQUIRE_EQUAL(run.list_count(), 2u);
  // Parts in name order: cos, then dot. Scores do not matter to RRF, only ranks.
  auto a = id_of('\x0a'), b = id_of('\x0b'), c = id_of('\x0c');
  run.take_lists({{{a, 0.9f}, {b, 0.8f}}, {{b, 100.0f}, {c, 50.0f}}});
  BOOST_CHECK(run.missing_scores().empty());
  auto result = run.finish();
  // a: 1/11; b: 1/12 + 2/11; c: 2/12.
  BOOST_REQUIRE_EQUAL(result.hits.size(), 3u);
  BOOST_CHECK(result.hits[0].id == b);
  BOOST_CHECK(result.hits[1].id == c);
  BOOST_CHECK(result.hits[2].id == a);
  BOOST_CHECK_CLOSE_FRACTION(result.hits[0].score, 1.0f / 12 + 2.0f / 11, 1e-5);
  BOOST_CHECK_CLOSE_FRACTION(result.hits[1].score, 2.0f / 12, 1e-5);
  BOOST_CHECK_CLOSE_FRACTION(result.hits[2].score, 1.0f / 11, 1e-5);
}

BOOST_AUTO_TEST_CASE(records_drop_gone_memories_and_those_the_filter_refuses) {
  auto p = mixed_profile();
  memory_maker maker{p};
  filter f;
  f.ns = "kept";
  f.where.push_back(attribute_predicate{"color", {"red"}});
  auto run = single_run(p, 1, 3, f, true);
  BOOST_CHECK(run.needs_records());
  std::vector<memory> records(4);
  for (auto& m : records) {
    m = maker.make("kept");
    m.attributes["color"] = "red";
  }
  records[1].attributes["color"] = "blue"; // the catalog's hash collided: refused here
  records[2].id = uuid{};                  // removed since the index answered
  std::vector<hit> hits;
  for (size_t i = 0; i < records.size(); ++i)
    hits.push_back(hit{i == 2 ? id_of('\x02') : records[i].id, 1.0f - 0.1f * i});
  run.take_lists({hits});
  auto ids = run.record_ids();
  // k = 3: the records of the best three are asked for, in rank order.
  BOOST_REQUIRE_EQUAL(ids.size(), 3u);
  BOOST_CHECK(ids[0] == records[0].id);
  BOOST_CHECK(ids[1] == records[1].id);
  records.resize(3);
  auto result = run.finish(records);
  BOOST_REQUIRE_EQUAL(result.hits.size(), 1u);
  BOOST_CHECK(result.hits[0].id == records[0].id);
  BOOST_REQUIRE_EQUAL(result.records.size(), 1u);
  BOOST_CHECK_EQUAL(result.records[0].content, records[0].content);
}

BOOST_FIXTURE_TEST_CASE(an_error_of_one_member_fails_the_whole_search, actor_fixture) {
  start(2);
  memory_maker maker{prof, 31};
  std::vector<memory> batch;
  for (int i = 0; i < 20; ++i)
    batch.push_back(maker.make());
  require(call<std::vector<uuid>>(atom::put_v, batch), "put");
  // Shard 1's index of "cos" goes away: its shard's answer is an error.
  {
    caf::scoped_actor self{sys};
    self->send_exit(actors.indexes[1][0], caf::exit_reason::kill);
  }
  sched.run();
  search_request req;
  req.embedder = "cos";
  req.query = maker.make_embedding(prof.embedders[0]);
  req.k = 5;
  req.with_records = false;
  auto single = call<search_result>(atom::search_v, req);
  BOOST_CHECK(!single);
  fused_search_request fused;
  fused.queries["cos"] = req.query;
  fused.queries["dot"] = maker.make_embedding(prof.embedders[1]);
  fused.k = 5;
  fused.with_records = false;
  auto both = call<search_result>(atom::search_v, fused);
  BOOST_CHECK(!both);
  // The other embedders still answer.
  req.embedder = "dot";
  req.query = fused.queries["dot"];
  auto other = require(call<search_result>(atom::search_v, req), "search of another embedder");
  BOOST_CHECK_EQUAL(other.hits.size(), 5u);
}

BOOST_AUTO_TEST_CASE(the_facade_answers_alike_on_its_thread_by_index_actors_and_by_coordinator) {
  // Without records the facade drives the run itself (one list: on its own thread; several: by
  // the index actors); with records the coordinator drives it. The hits must be the same.
  for (uint32_t shards : {1u, 3u}) {
    BOOST_TEST_CONTEXT(shards << " shard(s)") {
      auto prof = mixed_profile();
      store_options opts;
      opts.backend = storage::backend_kind::memory;
      opts.profile = prof;
      opts.shards = shards;
      auto db = open_store(opts);
      memory_maker maker{prof, 41};
      std::vector<memory> batch;
      for (int i = 0; i < 50; ++i)
        batch.push_back(maker.make(i % 2 == 0 ? "a" : "b", 1000 + i));
      require(db->put_batch(batch), "put_batch");
      search_request req;
      req.embedder = "l2";
      req.query = maker.make_embedding(prof.embedders[2]);
      req.k = 8;
      req.filter.ns = "a";
      req.with_records = false;
      auto direct = require(db->search(req), "search");
      BOOST_CHECK_EQUAL(direct.hits.size(), 8u);
      req.with_records = true;
      auto by_coordinator = require(db->search(req), "search with records");
      check_same_hits(direct.hits, by_coordinator.hits, "single embedder");
      for (auto method : {fusion::rrf, fusion::weighted_sum}) {
        fused_search_request fused;
        fused.fusion = method;
        fused.k = 12;
        fused.with_records = false;
        for (size_t e : {0, 3, 4})
          fused.queries[prof.embedders[e].name] = maker.make_embedding(prof.embedders[e]);
        fused.weights["sparse"] = 0.25f;
        auto fused_direct = require(db->search_fused(fused), "fused");
        BOOST_CHECK_EQUAL(fused_direct.hits.size(), 12u);
        fused.with_records = true;
        auto fused_coordinator = require(db->search_fused(fused), "fused with records");
        check_same_hits(fused_direct.hits, fused_coordinator.hits, to_string(method));
      }
      require(db->close(), "close");
      auto closed = db->search(req);
      BOOST_REQUIRE(!closed);
      BOOST_CHECK(code_of(closed.error()) == ec::closed);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
