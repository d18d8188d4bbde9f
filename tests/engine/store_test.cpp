// The blocking facade end to end on the memory backend: writes, reads, counts, lists, and every
// search against a brute-force reference computed here.
#include "engine_fixtures.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <sched.h>

using namespace telos;
using namespace telos::test;

namespace {

const auto shard_counts = boost::unit_test::data::make({1u, 2u});

store_options memory_options(uint32_t shards = 1) {
  store_options opts;
  opts.backend = storage::backend_kind::memory;
  opts.profile = mixed_profile();
  opts.shards = shards;
  return opts;
}

std::vector<memory> fill(store& db, memory_maker& maker, size_t n,
                         const std::vector<std::string>& namespaces = {"default"}) {
  std::vector<memory> all;
  for (size_t i = 0; i < n; ++i)
    all.push_back(maker.make(namespaces[i % namespaces.size()], 1000 + static_cast<int64_t>(i)));
  require(db.put_batch(all), "put_batch");
  return all;
}

} // namespace

BOOST_AUTO_TEST_SUITE(engine_store)

BOOST_AUTO_TEST_CASE(put_get_exists_remove_round_trip) {
  auto db = open_store(memory_options());
  memory_maker maker{mixed_profile()};
  auto m = maker.make();
  auto id = require(db->put(m), "put");
  BOOST_CHECK(id == m.id);
  auto got = require(db->get(id), "get");
  BOOST_REQUIRE(got);
  BOOST_CHECK(*got == m);
  BOOST_CHECK(require(db->exists(id), "exists"));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 1u);
  BOOST_CHECK(require(db->remove(id), "remove"));
  BOOST_CHECK(!require(db->get(id), "get after remove"));
  BOOST_CHECK(!require(db->exists(id), "exists after remove"));
  BOOST_CHECK(!require(db->remove(id), "second remove"));
  BOOST_CHECK_EQUAL(require(db->count(), "count after remove"), 0u);
}

BOOST_AUTO_TEST_CASE(nil_id_gets_a_fresh_id_and_unset_times_are_stamped) {
  auto db = open_store(memory_options());
  memory_maker maker{mixed_profile()};
  auto m = maker.make();
  m.id = uuid{};
  m.created_at = 0;
  m.updated_at = 0;
  auto id = require(db->put(m), "put");
  BOOST_CHECK(!id.is_nil());
  auto got = require(db->get(id), "get");
  BOOST_REQUIRE(got);
  BOOST_CHECK_GT(got->created_at, 0);
  BOOST_CHECK_EQUAL(got->created_at, got->updated_at);
}

BOOST_AUTO_TEST_CASE(update_replaces_and_fails_with_not_found_when_absent) {
  auto db = open_store(memory_options(2));
  memory_maker maker{mixed_profile()};
  auto m = maker.make("a");
  auto absent = db->update(m);
  BOOST_REQUIRE(!absent);
  BOOST_CHECK(code_of(absent.error()) == ec::not_found);
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 0u);
  require(db->put(m), "put");
  auto replacement = maker.make("b");
  replacement.id = m.id;
  require(db->update(replacement), "update");
  auto got = require(db->get(m.id), "get");
  BOOST_REQUIRE(got);
  BOOST_CHECK(*got == replacement);
  BOOST_CHECK_EQUAL(require(db->count("a"), "count a"), 0u);
  BOOST_CHECK_EQUAL(require(db->count("b"), "count b"), 1u);
  // The old vector is gone from the index: its own query no longer finds the id first.
  search_request req;
  req.embedder = "cos";
  req.query = replacement.embeddings["cos"];
  req.k = 1;
  auto hits = require(db->search(req), "search").hits;
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK(hits[0].id == m.id);
  BOOST_CHECK_CLOSE_FRACTION(hits[0].score, 1.0f, 1e-5);
}

BOOST_AUTO_TEST_CASE(batch_is_atomic_when_one_memory_is_invalid) {
  auto db = open_store(memory_options(3));
  memory_maker maker{mixed_profile()};
  std::vector<memory> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(maker.make());
  batch[6].embeddings["cos"].values.pop_back();
  auto result = db->put_batch(batch);
  BOOST_REQUIRE(!result);
  BOOST_CHECK(code_of(result.error()) == ec::invalid_argument);
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 0u);
  for (const auto& m : batch)
    BOOST_CHECK(!require(db->exists(m.id), "exists"));
  search_request req;
  req.embedder = "dot";
  req.query = batch[0].embeddings["dot"];
  BOOST_CHECK(require(db->search(req), "search").hits.empty());
  auto s = require(db->stats(), "stats");
  for (const auto& index : s.indexes)
    BOOST_CHECK_EQUAL(index.stats.vectors, 0u);
}

BOOST_AUTO_TEST_CASE(count_and_list_by_namespace_in_id_order_across_shards) {
  auto db = open_store(memory_options(3));
  memory_maker maker{mixed_profile()};
  auto all = fill(*db, maker, 50, {"a", "b"});
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 50u);
  BOOST_CHECK_EQUAL(require(db->count("a"), "count a"), 25u);
  BOOST_CHECK_EQUAL(require(db->count("b"), "count b"), 25u);
  BOOST_CHECK_EQUAL(require(db->count("c"), "count c"), 0u);
  std::vector<uuid> expected_a;
  for (const auto& m : all)
    if (m.ns == "a") expected_a.push_back(m.id);
  std::sort(expected_a.begin(), expected_a.end());
  std::vector<uuid> listed;
  std::optional<uuid> after;
  do {
    auto page = require(db->list("a", 7, after), "list");
    BOOST_CHECK_LE(page.items.size(), 7u);
    for (const auto& m : page.items) {
      BOOST_CHECK_EQUAL(m.ns, "a");
      BOOST_CHECK_EQUAL(m.embeddings.size(), mixed_profile().embedders.size());
      listed.push_back(m.id);
    }
    after = page.next_after;
  } while (after);
  BOOST_CHECK(listed == expected_a);
  auto everything = require(db->list("", 100), "list all");
  BOOST_CHECK_EQUAL(everything.items.size(), 50u);
  BOOST_CHECK(!everything.next_after);
  BOOST_CHECK(std::is_sorted(everything.items.begin(), everything.items.end(),
                             [](const memory& a, const memory& b) { return a.id < b.id; }));
}

// One shard: this thread searches the index itself; two: the index actors answer.
BOOST_DATA_TEST_CASE(search_equals_brute_force_for_every_metric, shard_counts, shards) {
  auto db = open_store(memory_options(shards));
  memory_maker maker{mixed_profile(), 11};
  auto all = fill(*db, maker, 120);
  for (const auto& spec : mixed_profile().embedders) {
    for (int q = 0; q < 3; ++q) {
      search_request req;
      req.embedder = spec.name;
      req.query = maker.make_embedding(spec);
      req.k = 10;
      auto result = require(db->search(req), "search " + spec.name);
      check_hits(result.hits, reference_ranking(all, spec, req.query), 10, spec.name);
      BOOST_REQUIRE_EQUAL(result.records.size(), result.hits.size());
      for (size_t i = 0; i < result.hits.size(); ++i)
        BOOST_CHECK(result.records[i].id == result.hits[i].id);
    }
  }
}

BOOST_AUTO_TEST_CASE(scheduler_options_shape_the_stores_own_actor_system) {
  for (auto policy : {scheduler_policy::sharing, scheduler_policy::stealing}) {
    auto opts = memory_options(2);
    opts.worker_threads = 2;
    opts.scheduler = policy;
    auto db = open_store(opts);
    BOOST_CHECK_EQUAL(db->system().scheduler().num_workers(), 2u);
    memory_maker maker{mixed_profile(), 12};
    auto all = fill(*db, maker, 60);
    BOOST_CHECK_EQUAL(require(db->count(), "count"), 60u);
    auto spec = mixed_profile().embedders.front();
    search_request req;
    req.embedder = spec.name;
    req.query = maker.make_embedding(spec);
    req.k = 5;
    check_hits(require(db->search(req), "search").hits, reference_ranking(all, spec, req.query), 5,
               spec.name);
  }
  auto opts = memory_options();
  opts.worker_threads = 5000;
  auto refused = store::open(opts);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(code_of(refused.error()) == ec::invalid_argument);
  BOOST_CHECK_NE(describe(refused.error()).find("worker_threads 5000"), std::string::npos);
}

namespace {

/// The policies of this process's threads named as CAF names its scheduler threads.
std::multiset<int> scheduler_thread_policies() {
  std::multiset<int> policies;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc/self/task"}) {
    std::ifstream comm{entry.path() / "comm"};
    std::string name;
    std::getline(comm, name);
    if (name != "caf.multiplexer") continue;
    auto tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    policies.insert(sched_getscheduler(tid));
  }
  return policies;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_stores_own_scheduler_threads_are_batch_threads_unless_turned_off) {
  for (bool batch : {true, false}) {
    BOOST_TEST_CONTEXT("batch_workers " << batch) {
      auto before = scheduler_thread_policies();
      auto opts = memory_options(1);
      // One scheduler thread: once a request was answered, it has started (and run the hook).
      opts.worker_threads = 1;
      opts.batch_workers = batch;
      auto db = open_store(opts);
      BOOST_CHECK_EQUAL(require(db->count(), "count"), 0u);
      auto after = scheduler_thread_policies();
      auto added = [&](int policy) {
        return static_cast<long>(after.count(policy)) - static_cast<long>(before.count(policy));
      };
      BOOST_CHECK_EQUAL(added(SCHED_BATCH), batch ? 1 : 0);
      BOOST_CHECK_EQUAL(added(SCHED_OTHER), batch ? 0 : 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(small_commit_groups_store_the_same_as_large_ones) {
  // Through the facade, with groups of one write each and with the default limit: the same
  // memories and counts, and a zero limit is refused before anything opens.
  for (size_t group_bytes : {size_t{1}, size_t{1} << 20}) {
    auto opts = memory_options(2);
    opts.max_group_bytes = group_bytes;
    auto db = open_store(opts);
    memory_maker maker{mixed_profile(), 14};
    auto all = fill(*db, maker, 80, {"a", "b"});
    BOOST_CHECK_EQUAL(require(db->count(), "count"), 80u);
    for (const auto& m : all) {
      auto got = require(db->get(m.id), "get");
      BOOST_REQUIRE(got);
      BOOST_CHECK(*got == m);
    }
  }
  auto opts = memory_options();
  opts.max_group_bytes = 0;
  auto refused = store::open(opts);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(code_of(refused.error()) == ec::invalid_argument);
  BOOST_CHECK_NE(describe(refused.error()).find("max_group_bytes"), std::string::npos);
}

// One shard: this thread searches the index itself; two: the index actors answer.
BOOST_DATA_TEST_CASE(filtered_search_equals_filter_then_brute_force, shard_counts, shards) {
  auto db = open_store(memory_options(shards));
  memory_maker maker{mixed_profile(), 13};
  auto all = fill(*db, maker, 150, {"a", "b", "c"});
  std::vector<filter> filters(4);
  filters[0].ns = "a";
  filters[1].where.push_back({"color", {"red", "blue"}});
  filters[2].created_after = 1040;
  filters[2].created_before = 1100;
  filters[3].ns = "b";
  filters[3].where.push_back({"color", {"green"}});
  filters[3].created_after = 1010;
  for (size_t f = 0; f < filters.size(); ++f) {
    for (const auto& spec : mixed_profile().embedders) {
      search_request req;
      req.embedder = spec.name;
      req.query = maker.make_embedding(spec);
      req.k = 8;
      req.filter = filters[f];
      auto result = require(db->search(req), "search");
      check_hits(result.hits, reference_ranking(all, spec, req.query, &filters[f]), 8,
                 spec.name + " filter " + std::to_string(f));
      for (const auto& m : result.records)
        BOOST_CHECK(filters[f].matches(m));
    }
  }
  search_request none;
  none.embedder = "cos";
  none.query = maker.make_embedding(mixed_profile().embedders[0]);
  none.filter.ns = "no-such-namespace";
  BOOST_CHECK(require(db->search(none), "search unknown ns").hits.empty());
}

BOOST_AUTO_TEST_CASE(fused_search_equals_reference_rrf_and_weighted_sum) {
  auto opts = memory_options(2);
  opts.fused_depth = 20;
  auto db = open_store(opts);
  auto p = mixed_profile();
  memory_maker maker{p, 17};
  auto all = fill(*db, maker, 80);
  for (auto method : {fusion::rrf, fusion::weighted_sum}) {
    fused_search_request req;
    req.fusion = method;
    req.k = 10;
    req.rrf_k = 60;
    req.with_records = false;
    for (const auto& name : {"cos", "l2", "sparse", "multi"})
      req.queries[name] = maker.make_embedding(p.embedders[*p.index_of(name)]);
    req.weights["cos"] = 2.0f;
    req.weights["multi"] = 0.5f;
    auto result = require(db->search_fused(req), "fused search");
    // Reference: each embedder's top-20 (the fused depth) in full rank order.
    std::unordered_map<uuid, double> fused;
    for (const auto& [name, query] : req.queries) {
      const auto& spec = p.embedders[*p.index_of(name)];
      auto ranking = reference_ranking(all, spec, query);
      double w = req.weights.count(name) ? req.weights[name] : 1.0;
      if (method == fusion::rrf) {
        for (size_t r = 0; r < ranking.size() && r < 20; ++r)
          fused[ranking[r].id] += w / (60.0 + static_cast<double>(r + 1));
      } else {
        std::set<uuid> candidates;
        for (const auto& [other, other_query] : req.queries) {
          auto other_ranking = reference_ranking(all, p.embedders[*p.index_of(other)], other_query);
          for (size_t r = 0; r < other_ranking.size() && r < 20; ++r)
            candidates.insert(other_ranking[r].id);
        }
        for (const auto& h : ranking)
          if (candidates.count(h.id)) fused[h.id] += w * h.score;
      }
    }
    std::vector<ref_hit> reference;
    for (const auto& [id, score] : fused)
      reference.push_back({id, score});
    std::sort(reference.begin(), reference.end(), [](const ref_hit& a, const ref_hit& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    });
    check_hits(result.hits, reference, 10, method == fusion::rrf ? "rrf" : "weighted sum");
    BOOST_CHECK(result.records.empty());
  }
}

// One shard: this thread searches the index itself; two: the index actors answer.
BOOST_DATA_TEST_CASE(remove_takes_the_memory_out_of_every_index, shard_counts, shards) {
  auto db = open_store(memory_options(shards));
  auto p = mixed_profile();
  memory_maker maker{p, 19};
  auto all = fill(*db, maker, 30);
  const auto& victim = all[4];
  BOOST_CHECK(require(db->remove(victim.id), "remove"));
  for (const auto& spec : p.embedders) {
    search_request req;
    req.embedder = spec.name;
    req.query = victim.embeddings.at(spec.name);
    req.k = 30;
    for (const auto& h : require(db->search(req), "search").hits)
      BOOST_CHECK(h.id != victim.id);
  }
  auto s = require(db->stats(), "stats");
  uint64_t per_embedder_total = 0;
  for (const auto& index : s.indexes)
    if (index.embedder == "cos") per_embedder_total += index.stats.vectors;
  BOOST_CHECK_EQUAL(per_embedder_total, 29u);
}

BOOST_AUTO_TEST_CASE(searches_on_the_callers_thread_run_beside_writes_and_graph_building) {
  // One shard, so store::search reads the indexes on the calling threads, while a writer puts,
  // replaces and removes, and the dense indexes move vectors into their HNSW graphs (threshold
  // 64) under the same locks.
  auto opts = memory_options();
  opts.index_options.hnsw_threshold = 64;
  auto db = open_store(opts);
  auto p = mixed_profile();
  memory_maker maker{p, 23};
  std::vector<memory> all;
  for (int i = 0; i < 300; ++i)
    all.push_back(maker.make(i % 2 ? "odd" : "even", 1000 + i));
  std::set<uuid> known;
  for (const auto& m : all)
    known.insert(m.id);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> searches{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&, r] {
      memory_maker queries{p, 100u + static_cast<uint32_t>(r)};
      while (!done) {
        for (const auto& spec : p.embedders) {
          search_request req;
          req.embedder = spec.name;
          req.query = queries.make_embedding(spec);
          req.k = 10;
          if (searches % 3 == 0) req.filter.ns = "odd";
          auto result = db->search(req);
          if (!result) {
            ++bad;
            continue;
          }
          for (size_t i = 0; i < result->hits.size(); ++i) {
            if (!known.count(result->hits[i].id)) ++bad;
            if (i > 0 && better(result->hits[i], result->hits[i - 1])) ++bad;
          }
          ++searches;
        }
      }
    });
  for (size_t first = 0; first < all.size(); first += 20)
    require(db->put_batch({all.begin() + static_cast<ptrdiff_t>(first),
                           all.begin() + static_cast<ptrdiff_t>(first + 20)}),
            "put_batch");
  for (size_t i = 0; i < all.size(); i += 3) {
    auto replaced = all[i];
    replaced.content = "replaced";
    replaced.embeddings = maker.make(replaced.ns).embeddings;
    require(db->put(replaced), "replace");
    all[i] = replaced;
  }
  std::vector<memory> removed;
  for (size_t i = 1; i < all.size(); i += 10)
    removed.push_back(all[i]);
  for (const auto& m : removed)
    BOOST_REQUIRE(require(db->remove(m.id), "remove"));
  done = true;
  for (auto& t : readers)
    t.join();
  BOOST_CHECK_EQUAL(bad.load(), 0);
  BOOST_CHECK_GT(searches.load(), 0);
  // Every write was acknowledged, so every index has applied it: removed memories are gone from
  // every index, and the exact ones (sparse, MaxSim) answer exactly as the brute force does.
  std::vector<memory> kept;
  for (const auto& m : all)
    if (std::none_of(removed.begin(), removed.end(), [&](const memory& r) { return r.id == m.id; }))
      kept.push_back(m);
  for (const auto& m : removed)
    for (const auto& spec : p.embedders) {
      search_request req;
      req.embedder = spec.name;
      req.query = m.embeddings.at(spec.name);
      req.k = 20;
      for (const auto& h : require(db->search(req), "search").hits)
        BOOST_CHECK(h.id != m.id);
    }
  for (const auto& spec : p.embedders) {
    if (spec.kind == embedder_kind::dense) continue;
    search_request req;
    req.embedder = spec.name;
    req.query = maker.make_embedding(spec);
    req.k = 10;
    check_hits(require(db->search(req), "search").hits, reference_ranking(kept, spec, req.query),
               10, spec.name);
  }
  BOOST_CHECK_EQUAL(require(db->count(), "count"), kept.size());
}

BOOST_AUTO_TEST_CASE(invalid_queries_are_rejected) {
  auto db = open_store(memory_options());
  search_request req;
  req.embedder = "nope";
  req.query = embedding::dense({1, 2, 3});
  auto unknown = db->search(req);
  BOOST_REQUIRE(!unknown);
  BOOST_CHECK(code_of(unknown.error()) == ec::invalid_argument);
  req.embedder = "cos";
  auto wrong_dim = db->search(req);
  BOOST_REQUIRE(!wrong_dim);
  BOOST_CHECK(code_of(wrong_dim.error()) == ec::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
