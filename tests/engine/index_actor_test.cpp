// An index actor with graph work on a real CAF scheduler: it gives its worker back after every
// maintenance step, so other actors run while the graph is being built, whatever the application's
// scheduler.max-throughput (CAF's default, unlimited, here); and it answers updates and searches
// while a checkpoint of its index is being saved in the background.
#include "engine_fixtures.hpp"

#include "telos/actors/index_actor.hpp"
#include "telos/shard/index_overlay.hpp"
#include "telos/shard/open_shard.hpp"

#include <caf/event_based_actor.hpp>

#include <atomic>
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

namespace {

/// One dense embedder of one shard on RocksDB in `dir`, with an index actor that checkpoints after
/// 50 changed vectors and whose saving thread waits in its test hook, the first time, until the
/// test releases it.
struct held_checkpoint {
  static constexpr uint32_t dim = 8;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  opened_shard shard;
  std::shared_ptr<index_handle> handle;
  index_actor index;
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released{release.get_future().share()};
  std::atomic<int> saves{0};
  bool let_go_ = false;

  held_checkpoint(const std::string& dir, size_t max_overlay) {
    register_telos(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    shard_open_options so;
    so.root = dir;
    so.backend = storage::backend_kind::rocksdb;
    so.backend_options.create_if_missing = true;
    so.backend_options.block_cache_mb = 8;
    so.backend_options.write_buffer_mb = 4;
    so.profile.name = "custom";
    so.profile.embedders = {{"e", embedder_kind::dense, dim, metric::cosine}};
    shard = require(open_shard(so), "open_shard");
    handle = shard.indexes[0];
    index_actor_config ic;
    ic.handle = handle;
    ic.catalog = shard.catalog;
    ic.snapshots = shard.snapshots;
    ic.embedder = 0;
    ic.checkpoint_every = 1000; // interval max(1000 / 20, size / 4) = 50 here
    ic.checkpoint_fraction = 0.25;
    ic.max_overlay = max_overlay;
    ic.before_save = [this] {
      if (saves++ > 0) return;
      entered.set_value();
      released.wait();
    };
    index = spawn_index(*sys, ic);
  }
  /// Lets the held save go on (once).
  void let_go() {
    if (!let_go_) release.set_value();
    let_go_ = true;
  }
  ~held_checkpoint() {
    let_go(); // a failed check must not leave close waiting for the save
    caf::scoped_actor self{*sys};
    self->request(index, caf::infinite, atom::close_v).receive([](atom::ok) {}, [](caf::error&) {});
    close_shard(shard);
  }
};

template <class T, class... Ts>
T ask(caf::scoped_actor& self, const index_actor& index, Ts... xs) {
  T result{};
  self->request(index, std::chrono::seconds(60), xs...)
      .receive([&](T& x) { result = std::move(x); },
               [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  return result;
}

index_update update_of(uint64_t sequence, const vector_chunk& chunk, size_t from, size_t to,
                       std::vector<uuid> removes = {}) {
  index_update u;
  u.sequence = sequence;
  for (size_t i = from; i < to; ++i) {
    u.upsert_ids.push_back(chunk.ids[i]);
    u.upserts.push_back(chunk.embeddings[i]);
  }
  u.removes = std::move(removes);
  return u;
}

std::vector<uuid> ids_of(const std::vector<hit>& hits) {
  std::vector<uuid> ids;
  for (const auto& h : hits)
    ids.push_back(h.id);
  return ids;
}

bool has(const std::vector<uuid>& ids, const uuid& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

} // namespace

BOOST_AUTO_TEST_CASE(updates_and_searches_are_answered_while_a_checkpoint_is_saved) {
  temp_dir dir{"held-checkpoint"};
  held_checkpoint f{dir.path(), 1000};
  caf::scoped_actor self{*f.sys};
  auto chunk = spread_vectors(70, held_checkpoint::dim);
  // 60 vectors: past the interval, so the actor starts a checkpoint at sequence 1 and its saving
  // thread stops in the hook.
  ask<atom::ok>(self, f.index, atom::update_v, update_of(1, chunk, 0, 60));
  f.entered.get_future().wait();
  // The save is held. Sequence 2: a new vector (60), vector 1 replaced by vector 61's values,
  // vector 2 removed. Acknowledged now, not after the save.
  auto second = update_of(2, chunk, 60, 61, {chunk.ids[2]});
  second.upsert_ids.push_back(chunk.ids[1]);
  second.upserts.push_back(chunk.embeddings[61]);
  ask<atom::ok>(self, f.index, atom::update_v, second);
  BOOST_CHECK(!f.shard.snapshots->marker(0)); // the snapshot is not written yet
  auto search = [&](const embedding& q, uint32_t k) {
    return ask<std::vector<hit>>(self, f.index, atom::search_v, q, k, filter{});
  };
  // The index actor's searches see the overlay: the new vector, the replaced one's new values,
  // not the removed one.
  auto hits = search(chunk.embeddings[60], 1);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK(hits[0].id == chunk.ids[60]);
  BOOST_CHECK_CLOSE(hits[0].score, 1.0f, 1e-3);
  hits = search(chunk.embeddings[61], 2);
  BOOST_REQUIRE_EQUAL(hits.size(), 2u);
  BOOST_CHECK(hits[0].id == chunk.ids[1]);
  BOOST_CHECK_CLOSE(hits[0].score, 1.0f, 1e-3);
  hits = search(chunk.embeddings[1], 70); // all of them: the old values of 1 are gone
  BOOST_CHECK_EQUAL(hits.size(), 60u);
  auto ids = ids_of(hits);
  BOOST_CHECK(!has(ids, chunk.ids[2]));
  BOOST_CHECK(has(ids, chunk.ids[60]));
  BOOST_CHECK(std::count(ids.begin(), ids.end(), chunk.ids[1]) == 1);
  for (const auto& h : hits)
    if (h.id == chunk.ids[1]) BOOST_CHECK_LT(h.score, 0.99f); // scored by its new values
  // Exact scores too.
  auto scores = ask<std::vector<hit>>(self, f.index, atom::score_v, chunk.embeddings[61],
                                      std::vector<uuid>{chunk.ids[1], chunk.ids[2], chunk.ids[60]});
  BOOST_REQUIRE_EQUAL(scores.size(), 2u);
  BOOST_CHECK(scores[0].id == chunk.ids[1]);
  BOOST_CHECK_CLOSE(scores[0].score, 1.0f, 1e-3);
  BOOST_CHECK(scores[1].id == chunk.ids[60]);
  // And so does a search on this thread, as the facade's (under the handle's shared lock, which
  // the saving thread holds too).
  {
    std::shared_lock guard{f.handle->lock};
    auto own = search_handle(*f.handle, *f.shard.catalog, chunk.embeddings[1], 70, filter{});
    BOOST_CHECK(ids_of(own) == ids);
    auto top = search_handle(*f.handle, *f.shard.catalog, chunk.embeddings[61], 1, filter{});
    BOOST_REQUIRE_EQUAL(top.size(), 1u);
    BOOST_CHECK(top[0].id == chunk.ids[1]);
  }
  auto info = ask<index_info>(self, f.index, atom::stats_v);
  BOOST_CHECK_EQUAL(info.vectors, 60u);
  BOOST_CHECK_EQUAL(info.sequence, 2u);
  BOOST_CHECK_EQUAL(info.checkpoints, 0u);
  // Let the save finish; flush answers once it is in force.
  f.let_go();
  ask<atom::ok>(self, f.index, atom::flush_v);
  info = ask<index_info>(self, f.index, atom::stats_v);
  BOOST_CHECK_EQUAL(info.checkpoints, 1u);
  BOOST_CHECK(info.checkpoint_error.empty());
  BOOST_CHECK_EQUAL(info.snapshot_sequence, 1u);
  BOOST_CHECK_EQUAL(info.vectors, 60u);
  // The overlay went into the index: the same answers.
  BOOST_CHECK(ids_of(search(chunk.embeddings[1], 70)) == ids);
  BOOST_CHECK(f.handle->overlay.empty());
  // The snapshot holds exactly sequence 1: the 60 first vectors with their first values.
  auto marker = f.shard.snapshots->marker(0);
  BOOST_REQUIRE(marker);
  BOOST_CHECK_EQUAL(marker->sequence, 1u);
  auto loaded = storage::make_vector_index(f.handle->index->spec(), f.handle->options);
  require(loaded->load(snapshot_file(dir.path(), 0, "e", marker->token)), "load the snapshot");
  BOOST_CHECK_EQUAL(loaded->size(), 60u);
  BOOST_CHECK(loaded->contains(chunk.ids[2]));
  BOOST_CHECK(!loaded->contains(chunk.ids[60]));
  auto old = loaded->score(chunk.embeddings[1], chunk.ids[1]);
  BOOST_REQUIRE(old);
  BOOST_CHECK_CLOSE(*old, 1.0f, 1e-3);
}

BOOST_AUTO_TEST_CASE(past_the_overlay_bound_an_update_waits_for_the_checkpoint) {
  temp_dir dir{"full-overlay"};
  held_checkpoint f{dir.path(), 2};
  caf::scoped_actor self{*f.sys};
  auto chunk = spread_vectors(64, held_checkpoint::dim);
  ask<atom::ok>(self, f.index, atom::update_v, update_of(1, chunk, 0, 60));
  f.entered.get_future().wait();
  ask<atom::ok>(self, f.index, atom::update_v, update_of(2, chunk, 60, 62));
  // The overlay holds 2: the next update is acknowledged only after the save ended.
  auto pending =
      self->request(f.index, std::chrono::seconds(60), atom::update_v, update_of(3, chunk, 62, 64));
  f.let_go();
  pending.receive([](atom::ok) {}, [](caf::error& err) { BOOST_FAIL(to_string(err)); });
  auto marker = f.shard.snapshots->marker(0);
  BOOST_REQUIRE(marker);
  BOOST_CHECK_EQUAL(marker->sequence, 1u);
  auto info = ask<index_info>(self, f.index, atom::stats_v);
  BOOST_CHECK_EQUAL(info.checkpoints, 1u);
  BOOST_CHECK_EQUAL(info.vectors, 64u);
  BOOST_CHECK(f.handle->overlay.empty());
  for (size_t i = 58; i < 64; ++i) {
    auto hits =
        ask<std::vector<hit>>(self, f.index, atom::search_v, chunk.embeddings[i], 1u, filter{});
    BOOST_REQUIRE_EQUAL(hits.size(), 1u);
    BOOST_CHECK(hits[0].id == chunk.ids[i]);
  }
}

BOOST_AUTO_TEST_CASE(filtered_searches_see_the_overlay_through_the_filter) {
  // Index 0..3; the overlay removes 0, gives 1 the values of 5, and adds 4 and 5. Even ids are in
  // namespace "b", odd ones in "a".
  index_handle handle;
  handle.index =
      storage::make_vector_index({"e", embedder_kind::dense, 8, metric::cosine}, handle.options);
  auto chunk = spread_vectors(6, 8);
  record_catalog catalog;
  std::vector<fact_change> facts;
  for (size_t i = 0; i < 6; ++i) {
    memory m;
    m.id = chunk.ids[i];
    m.ns = i % 2 ? "a" : "b";
    facts.emplace_back(m.id, make_fact(m));
  }
  catalog.apply(facts);
  for (size_t i = 0; i < 4; ++i)
    handle.index->upsert(chunk.ids[i], chunk.embeddings[i]);
  handle.overlay.remove(*handle.index, chunk.ids[0]);
  handle.overlay.upsert(*handle.index, chunk.ids[1], chunk.embeddings[5]);
  handle.overlay.upsert(*handle.index, chunk.ids[4], chunk.embeddings[4]);
  handle.overlay.upsert(*handle.index, chunk.ids[5], chunk.embeddings[5]);
  filter in_a;
  in_a.ns = "a";
  filter in_b;
  in_b.ns = "b";
  // "a": 1 (now with 5's values) and 3 from the index side, 5 from the overlay.
  auto a = ids_of(search_handle(handle, catalog, chunk.embeddings[5], 10, in_a));
  BOOST_CHECK_EQUAL(a.size(), 3u);
  BOOST_CHECK(has(a, chunk.ids[1]) && has(a, chunk.ids[3]) && has(a, chunk.ids[5]));
  // "b": 2 and 4; 0 was removed.
  auto b = ids_of(search_handle(handle, catalog, chunk.embeddings[0], 10, in_b));
  BOOST_CHECK_EQUAL(b.size(), 2u);
  BOOST_CHECK(has(b, chunk.ids[2]) && has(b, chunk.ids[4]));
  // Scores: 1 by its new values, 0 absent.
  auto scores = score_handle(handle, chunk.embeddings[5], {chunk.ids[0], chunk.ids[1]});
  BOOST_REQUIRE_EQUAL(scores.size(), 1u);
  BOOST_CHECK_CLOSE(scores[0].score, 1.0f, 1e-3);
  // Applied, the index alone answers the same.
  auto before = search_handle(handle, catalog, chunk.embeddings[5], 10, filter{});
  handle.overlay.apply_to(*handle.index);
  BOOST_CHECK(handle.overlay.empty());
  auto after = search_handle(handle, catalog, chunk.embeddings[5], 10, filter{});
  BOOST_CHECK(ids_of(before) == ids_of(after));
  BOOST_CHECK_EQUAL(handle.index->size(), 5u);
}

BOOST_AUTO_TEST_CASE(updates_are_acknowledged_while_the_index_trains_on_a_thread_of_its_own) {
  caf::actor_system_config cfg;
  register_telos(cfg);
  caf::actor_system sys{cfg};
  constexpr uint32_t dim = 16;
  embedder spec{"e", embedder_kind::dense, dim, metric::cosine};
  spec.index.structure = index_structure::ivf;
  auto handle = std::make_shared<index_handle>();
  handle->options.hnsw_threshold = 40;
  handle->options.ivf_lists = 4;
  handle->index = storage::make_vector_index(spec, handle->options);
  // The same vectors through an index whose maintain() steps its training: the reference.
  auto stepped = storage::make_vector_index(spec, handle->options);
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  index_actor_config ic;
  ic.handle = handle;
  ic.catalog = std::make_shared<record_catalog>();
  ic.max_fresh = 8;
  ic.before_training = [&entered, released] {
    entered.set_value();
    released.wait();
  };
  auto index = spawn_index(sys, ic);
  caf::scoped_actor self{sys};
  auto chunk = spread_vectors(44, dim);
  // 40 vectors reach the threshold: the training goes to its thread, which holds in the hook,
  // and the update is acknowledged all the same (its backpressure owes no training steps).
  ask<atom::ok>(self, index, atom::update_v, update_of(1, chunk, 0, 40));
  entered.get_future().wait();
  for (size_t i = 0; i < 40; ++i)
    stepped->upsert(chunk.ids[i], chunk.embeddings[i]);
  BOOST_CHECK_EQUAL(stepped->maintain(1), 1u); // sampled at the same 40 vectors
  // Training: the next update is acknowledged too, every vector is fresh and found exactly.
  ask<atom::ok>(self, index, atom::update_v, update_of(2, chunk, 40, 44));
  for (size_t i = 40; i < 44; ++i)
    stepped->upsert(chunk.ids[i], chunk.embeddings[i]);
  auto info = ask<index_info>(self, index, atom::stats_v);
  BOOST_CHECK_EQUAL(info.structure, "flat");
  BOOST_CHECK_EQUAL(info.fresh, 44u);
  BOOST_CHECK_EQUAL(info.sequence, 2u);
  for (size_t i = 0; i < 44; i += 5) {
    auto hits =
        ask<std::vector<hit>>(self, index, atom::search_v, chunk.embeddings[i], 1u, filter{});
    BOOST_REQUIRE_EQUAL(hits.size(), 1u);
    BOOST_CHECK(hits[0].id == chunk.ids[i]);
  }
  // Released, the thread ends, the actor installs the lists and files every vector. (The thread
  // runs on its own: the test asks until that shows, for a minute at most.)
  release.set_value();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {
    info = ask<index_info>(self, index, atom::stats_v);
  } while ((info.structure != "ivf" || info.fresh != 0) &&
           std::chrono::steady_clock::now() < deadline);
  BOOST_CHECK_EQUAL(info.structure, "ivf");
  BOOST_CHECK_EQUAL(info.fresh, 0u);
  BOOST_CHECK_EQUAL(info.vectors, 44u);
  while (stepped->maintain(64) > 0) {
  }
  // The same lists as the stepped training: with one list probed, the same answers.
  {
    std::unique_lock guard{handle->lock};
    handle->index->set_nprobe(1);
  }
  stepped->set_nprobe(1);
  for (size_t i = 0; i < 44; ++i) {
    auto got =
        ask<std::vector<hit>>(self, index, atom::search_v, chunk.embeddings[i], 10u, filter{});
    auto want = stepped->search(chunk.embeddings[i], 10);
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (size_t r = 0; r < got.size(); ++r) {
      BOOST_CHECK(got[r].id == want[r].id);
      BOOST_CHECK_EQUAL(got[r].score, want[r].score);
    }
  }
  ask<atom::ok>(self, index, atom::close_v);
}

BOOST_AUTO_TEST_SUITE_END()
