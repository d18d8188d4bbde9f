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
  BOOST_CHECK(code_of(unknown.error()) == ec::not_found);

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

BOOST_AUTO_TEST_SUITE_END()
