// An index actor with graph work on a real CAF scheduler: it gives its worker back after every
// maintenance step, so other actors run while the graph is being built, whatever the application's
// scheduler.max-throughput (CAF's default, unlimited, here).
#include "engine_fixtures.hpp"

#include "telos/actors/index_actor.hpp"

#include <caf/event_based_actor.hpp>

#include <future>
#include <shared_mutex>

using namespace telos;
using namespace telos::test;

namespace {

/// One scheduler worker: whatever runs on it runs alone, in the order the worker's queue says.
struct one_worker_config : caf::actor_system_config {
  one_worker_config() {
    set("scheduler.max-threads", 1);
    register_telos(*this);
  }
};

/// `n` dense vectors of dimension `dim`, each its own nearest neighbour by far.
vector_chunk spread_vectors(size_t n, uint32_t dim) {
  std::mt19937 gen{5};
  std::normal_distribution<float> value;
  vector_chunk chunk;
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> v(dim);
    for (auto& x : v)
      x = value(gen);
    chunk.ids.push_back(uuid::random());
    chunk.embeddings.push_back(embedding::dense(std::move(v)));
  }
  return chunk;
}

} // namespace

BOOST_AUTO_TEST_SUITE(index_actor_scheduling)

BOOST_AUTO_TEST_CASE(other_actors_run_between_the_maintenance_steps_of_an_index_actor) {
  one_worker_config cfg;
  caf::actor_system sys{cfg};
  constexpr uint32_t dim = 16;
  constexpr size_t vectors = 400;
  auto handle = std::make_shared<index_handle>();
  handle->options.hnsw_threshold = 16;
  handle->index =
      storage::make_vector_index({"e", embedder_kind::dense, dim, metric::cosine}, handle->options);
  index_actor_config ic;
  ic.handle = handle;
  ic.catalog = std::make_shared<record_catalog>();
  ic.maintain_budget = 4;
  auto index = spawn_index(sys, ic);
  // Another actor on the same worker: it reports how many vectors are still outside the graph
  // when it gets its turn.
  // (Each function actor takes an unused argument: CAF 0.17.6 spawns one without arguments by
  // dereferencing a null shared_ptr<std::tuple<>>, which UBSan reports.)
  auto observer = sys.spawn(
      [handle](caf::event_based_actor*, int) -> caf::behavior {
        return {[handle](atom::stats) {
          std::shared_lock guard{handle->lock};
          return static_cast<uint64_t>(handle->index->stats().fresh);
        }};
      },
      0);
  // A gate that holds the only worker until everything below is queued behind it.
  std::promise<void> entered;
  std::promise<void> release;
  auto opened = release.get_future().share();
  auto gate = sys.spawn(
      [&entered, opened](caf::event_based_actor*, int) -> caf::behavior {
        return {[&entered, opened](atom::ok) {
          entered.set_value();
          opened.wait();
        }};
      },
      0);
  caf::scoped_actor self{sys};
  // Both actors have started and are idle before the gate closes.
  self->request(index, caf::infinite, atom::stats_v)
      .receive([](index_info&) {}, [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  self->request(observer, caf::infinite, atom::stats_v)
      .receive([](uint64_t) {}, [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  self->send(gate, atom::ok_v);
  entered.get_future().wait();
  // Queued while the worker is held: the index gets its vectors (and starts stepping through
  // the graph work), then the observer is asked.
  auto chunk = spread_vectors(vectors, dim);
  auto loaded = self->request(index, caf::infinite, atom::load_v, chunk);
  auto seen = self->request(observer, caf::infinite, atom::stats_v);
  release.set_value();
  loaded.receive([](atom::ok) {}, [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  uint64_t fresh_seen = 0;
  seen.receive([&](uint64_t fresh) { fresh_seen = fresh; },
               [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  // The observer ran after one step of at most maintain_budget vectors, not after all of them.
  BOOST_CHECK_GE(fresh_seen, vectors - ic.maintain_budget);
  // The graph work still completes: each stats request queues behind at most one step.
  index_info info;
  for (size_t round = 0; round <= vectors; ++round) {
    self->request(index, caf::infinite, atom::stats_v)
        .receive([&](index_info& x) { info = std::move(x); },
                 [](caf::error& err) { BOOST_FAIL(to_string(err)); });
    if (info.fresh == 0) break;
  }
  BOOST_CHECK_EQUAL(info.fresh, 0u);
  BOOST_CHECK_EQUAL(info.structure, "hnsw");
  BOOST_CHECK_EQUAL(info.vectors, vectors);
  // And the graph answers: every vector finds itself first.
  for (size_t i = 0; i < vectors; i += 37)
    self->request(index, caf::infinite, atom::search_v, chunk.embeddings[i], uint32_t{1}, filter{})
        .receive(
            [&](std::vector<hit>& hits) {
              BOOST_REQUIRE_EQUAL(hits.size(), 1u);
              BOOST_CHECK(hits[0].id == chunk.ids[i]);
            },
            [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  self->request(index, caf::infinite, atom::close_v).receive([](atom::ok) {}, [](caf::error&) {});
  caf::anon_send_exit(observer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(above_max_fresh_an_update_is_acknowledged_after_graph_work) {
  caf::actor_system_config cfg;
  register_telos(cfg);
  caf::actor_system sys{cfg};
  constexpr uint32_t dim = 16;
  constexpr size_t batch = 4, batches = 60, max_fresh = 8;
  auto handle = std::make_shared<index_handle>();
  handle->options.hnsw_threshold = 40;
  handle->index =
      storage::make_vector_index({"e", embedder_kind::dense, dim, metric::cosine}, handle->options);
  index_actor_config ic;
  ic.handle = handle;
  ic.catalog = std::make_shared<record_catalog>();
  ic.max_fresh = max_fresh;
  // No background maintenance: only the backpressure moves vectors, so the counts are exact.
  ic.maintain_budget = 0;
  auto index = spawn_index(sys, ic);
  caf::scoped_actor self{sys};
  auto chunk = spread_vectors(batch * batches, dim);
  const size_t threshold = handle->options.hnsw_threshold;
  uint64_t previous = 0;
  for (size_t b = 0; b < batches; ++b) {
    index_update update;
    update.sequence = b + 1;
    for (size_t i = b * batch; i < (b + 1) * batch; ++i) {
      update.upsert_ids.push_back(chunk.ids[i]);
      update.upserts.push_back(chunk.embeddings[i]);
    }
    self->request(index, caf::infinite, atom::update_v, update)
        .receive([](atom::ok) {}, [](caf::error& err) { BOOST_FAIL(to_string(err)); });
    uint64_t fresh = 0;
    {
      std::shared_lock guard{handle->lock};
      fresh = handle->index->stats().fresh;
    }
    const size_t stored = (b + 1) * batch;
    BOOST_TEST_CONTEXT("after " << stored << " vectors") {
      if (stored < threshold) {
        BOOST_CHECK_EQUAL(fresh, 0u); // exact flat index, no graph wanted yet
      } else if (stored == threshold) {
        // All 40 became fresh at once; the update that did it moved 2 per upsert before its
        // acknowledgement, not the whole backlog.
        BOOST_CHECK_EQUAL(fresh, threshold - ic.drain_per_upsert * batch);
      } else {
        // Above the bound each acknowledged update leaves a batch fewer, down to the bound.
        BOOST_CHECK_EQUAL(fresh, std::max<uint64_t>(max_fresh, previous - batch));
      }
    }
    previous = fresh;
  }
  BOOST_CHECK_EQUAL(previous, max_fresh);
  // Everything stays searchable: every vector finds itself first.
  for (size_t i = 0; i < chunk.ids.size(); i += 23)
    self->request(index, caf::infinite, atom::search_v, chunk.embeddings[i], uint32_t{1}, filter{})
        .receive(
            [&](std::vector<hit>& hits) {
              BOOST_REQUIRE_EQUAL(hits.size(), 1u);
              BOOST_CHECK(hits[0].id == chunk.ids[i]);
            },
            [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  self->request(index, caf::infinite, atom::close_v).receive([](atom::ok) {}, [](caf::error&) {});
}

BOOST_AUTO_TEST_SUITE_END()
