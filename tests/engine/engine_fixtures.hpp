// Shared helpers of the engine tests: small profiles, seeded random memories, brute-force
// reference scoring written independently of the engine's kernels, temporary directories, and a
// deterministic actor fixture on CAF's test coordinator.
#pragma once

#include "telos/actors/config.hpp"
#include "telos/actors/engine.hpp"
#include "telos/actors/store.hpp"
#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/open_shard.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace telos::test {

/// One embedder of each kind and metric, all small.
inline profile mixed_profile() {
  profile p;
  p.name = "custom";
  p.embedders = {
      {"cos", embedder_kind::dense, 8, metric::cosine},
      {"dot", embedder_kind::dense, 6, metric::dot},
      {"l2", embedder_kind::dense, 5, metric::l2},
      {"sparse", embedder_kind::sparse, 40, metric::dot},
      {"multi", embedder_kind::multi, 4, metric::cosine},
  };
  return p;
}

/// Seeded generator of valid memories for a profile.
class memory_maker {
public:
  explicit memory_maker(profile p, uint32_t seed = 7) : profile_(std::move(p)), gen_(seed) {}

  float value() { return std::uniform_real_distribution<float>{-1.0f, 1.0f}(gen_); }

  embedding make_embedding(const embedder& spec) {
    embedding e;
    switch (spec.kind) {
    case embedder_kind::dense:
      for (uint32_t i = 0; i < spec.dim; ++i)
        e.values.push_back(value());
      break;
    case embedder_kind::sparse: {
      for (uint32_t i = 0; i < spec.dim; ++i)
        if (std::uniform_int_distribution<int>{0, 3}(gen_) == 0) {
          e.indices.push_back(i);
          e.values.push_back(value());
        }
      if (e.indices.empty()) {
        e.indices.push_back(spec.dim / 2);
        e.values.push_back(0.5f);
      }
      break;
    }
    case embedder_kind::multi: {
      auto tokens = std::uniform_int_distribution<int>{1, 3}(gen_);
      for (int t = 0; t < tokens; ++t)
        for (uint32_t i = 0; i < spec.dim; ++i)
          e.values.push_back(value());
      break;
    }
    }
    return e;
  }

  memory make(const std::string& ns = "default", int64_t created_at = 1000) {
    memory m;
    m.id = uuid::random();
    m.ns = ns;
    m.content = "memory " + std::to_string(counter_++);
    m.attributes["color"] = colors_[counter_ % 3];
    m.created_at = created_at;
    m.updated_at = created_at;
    for (const auto& spec : profile_.embedders)
      m.embeddings[spec.name] = make_embedding(spec);
    return m;
  }

  const profile& prof() const { return profile_; }

private:
  profile profile_;
  std::mt19937 gen_;
  size_t counter_ = 0;
  std::vector<std::string> colors_{"red", "green", "blue"};
};

// -- brute-force reference, written from the definitions --------------------------------------

inline double dot_product(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += static_cast<double>(a[i]) * b[i];
  return s;
}

inline double norm(const float* a, size_t n) {
  return std::sqrt(dot_product(a, a, n));
}

inline double reference_score(const embedder& spec, const embedding& q, const embedding& x) {
  switch (spec.kind) {
  case embedder_kind::dense:
    switch (spec.metric) {
    case metric::cosine:
      return dot_product(q.values.data(), x.values.data(), spec.dim) /
             (norm(q.values.data(), spec.dim) * norm(x.values.data(), spec.dim));
    case metric::dot:
      return dot_product(q.values.data(), x.values.data(), spec.dim);
    case metric::l2: {
      double s = 0;
      for (size_t i = 0; i < spec.dim; ++i) {
        double d = static_cast<double>(q.values[i]) - x.values[i];
        s += d * d;
      }
      return -std::sqrt(s);
    }
    }
    return 0;
  case embedder_kind::sparse: {
    double s = 0;
    for (size_t i = 0; i < q.indices.size(); ++i)
      for (size_t k = 0; k < x.indices.size(); ++k)
        if (q.indices[i] == x.indices[k]) s += static_cast<double>(q.values[i]) * x.values[k];
    return s;
  }
  case embedder_kind::multi: {
    auto dim = spec.dim;
    auto qt = q.values.size() / dim;
    auto xt = x.values.size() / dim;
    double total = 0;
    for (size_t i = 0; i < qt; ++i) {
      double best = -1e30;
      for (size_t k = 0; k < xt; ++k) {
        const float* a = q.values.data() + i * dim;
        const float* b = x.values.data() + k * dim;
        best = std::max(best, dot_product(a, b, dim) / (norm(a, dim) * norm(b, dim)));
      }
      total += best;
    }
    return total / static_cast<double>(qt);
  }
  }
  return 0;
}

struct ref_hit {
  uuid id;
  double score;
};

/// Every memory ranked by one embedder: score descending, ties by id.
inline std::vector<ref_hit> reference_ranking(const std::vector<memory>& all, const embedder& spec,
                                              const embedding& q, const filter* f = nullptr) {
  std::vector<ref_hit> ranked;
  for (const auto& m : all) {
    if (f && !f->matches(m)) continue;
    auto s = reference_score(spec, q, m.embeddings.at(spec.name));
    // A sparse index only finds memories sharing a term with the query.
    if (spec.kind == embedder_kind::sparse) {
      bool shared = false;
      for (auto i : q.indices)
        for (auto k : m.embeddings.at(spec.name).indices)
          shared = shared || i == k;
      if (!shared) continue;
    }
    ranked.push_back({m.id, s});
  }
  std::sort(ranked.begin(), ranked.end(), [](const ref_hit& a, const ref_hit& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  return ranked;
}

/// Asserts hits equal the reference's first k, ids in order and scores within tolerance.
inline void check_hits(const std::vector<hit>& hits, std::vector<ref_hit> reference, size_t k,
                       const std::string& what) {
  if (reference.size() > k) reference.resize(k);
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE_EQUAL(hits.size(), reference.size());
    for (size_t i = 0; i < hits.size(); ++i) {
      BOOST_TEST_CONTEXT("rank " << i) {
        BOOST_CHECK(hits[i].id == reference[i].id);
        BOOST_CHECK_CLOSE_FRACTION(static_cast<double>(hits[i].score), reference[i].score + 0.0,
                                   1e-4);
      }
    }
    for (size_t i = 1; i < hits.size(); ++i)
      BOOST_CHECK(!better(hits[i], hits[i - 1]));
  }
}

/// A directory under the temp dir, removed with everything in it when the test ends.
class temp_dir {
public:
  explicit temp_dir(const std::string& name) {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("telos-engine-" + name + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// Opens a store or fails the test with the error's text.
inline std::unique_ptr<store> open_store(store_options opts) {
  auto s = store::open(std::move(opts));
  BOOST_REQUIRE_MESSAGE(s, "open: " << (s ? std::string{} : describe(s.error())));
  return std::move(*s);
}

template <class T>
T require(expected<T> x, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(x, what << ": " << (x ? std::string{} : describe(x.error())));
  return std::move(*x);
}

inline void require(expected<void> x, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(x, what << ": " << (x ? std::string{} : describe(x.error())));
}

/// A backend whose writes fail with ec::io_error (as a full disk would); reads pass through.
class failing_writes : public storage::backend {
public:
  explicit failing_writes(std::shared_ptr<storage::backend> inner) : inner_(std::move(inner)) {}

  storage::backend_kind kind() const override { return inner_->kind(); }
  const std::vector<std::string>& keyspaces() const override { return inner_->keyspaces(); }
  expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) const override {
    return inner_->get(ks, key);
  }
  expected<std::vector<std::optional<std::string>>>
  multi_get(keyspace_id ks, const std::vector<std::string>& keys) const override {
    return inner_->multi_get(ks, keys);
  }
  expected<bool> contains(keyspace_id ks, std::string_view key) const override {
    return inner_->contains(ks, key);
  }
  expected<std::unique_ptr<storage::iterator>> scan(keyspace_id ks,
                                                    const storage::key_range& r) const override {
    return inner_->scan(ks, r);
  }
  expected<std::unique_ptr<storage::iterator>> scan_prefix(keyspace_id ks,
                                                           std::string_view p) const override {
    return inner_->scan_prefix(ks, p);
  }
  expected<void> write(const write_batch& batch, storage::write_options o) override {
    if (failures_left == 0) return inner_->write(batch, o);
    if (failures_left != SIZE_MAX) --failures_left;
    return make_error(ec::io_error, "test: the disk is full");
  }
  expected<std::unique_ptr<storage::transaction>> begin() override { return inner_->begin(); }
  expected<void> flush() override { return inner_->flush(); }
  bool syncs_beside_writes() const override { return inner_->syncs_beside_writes(); }
  expected<void> sync_written() override { return inner_->sync_written(); }
  expected<void> compact() override { return inner_->compact(); }
  expected<void> checkpoint(const std::string& dir) override { return inner_->checkpoint(dir); }
  expected<storage::backend_stats> stats() const override { return inner_->stats(); }
  expected<write_volume> written() const override { return inner_->written(); }
  expected<void> close() override { return inner_->close(); }

  /// Writes that fail before the disk takes them again (SIZE_MAX: every one).
  size_t failures_left = SIZE_MAX;

private:
  std::shared_ptr<storage::backend> inner_;
};

// -- deterministic actors ---------------------------------------------------------------------

/// An actor system on CAF's test coordinator over memory-backend shards: every actor (backends
/// included, spawned without detached) runs only inside run(), on the test's thread.
struct actor_fixture {
  struct config : caf::actor_system_config {
    config() {
      set("scheduler.policy", caf::atom("testing"));
      register_telos(*this);
    }
  };

  config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  profile prof = mixed_profile();
  std::vector<opened_shard> shards;
  engine_actors actors;
  /// The shards' graph (none unless set before start).
  std::optional<storage::graph_options> graph;

  /// Opens `n` memory shards and spawns the engine over them; the shards listed in
  /// `failing_shards` fail every write.
  void start(uint32_t n, engine_options opts = {}, std::vector<uint32_t> failing_shards = {}) {
    for (uint32_t i = 0; i < n; ++i) {
      shard_open_options so;
      so.shard = i;
      so.shard_count = n;
      so.backend = storage::backend_kind::memory;
      so.profile = prof;
      if (graph) {
        so.graph = true;
        so.graph_options = *graph;
      }
      for (const auto& c : opts.row_contributors)
        for (auto& ks : c->keyspaces())
          so.extra_keyspaces.push_back(ks);
      auto s = open_shard(so);
      BOOST_REQUIRE_MESSAGE(s, "open_shard: " << (s ? std::string{} : describe(s.error())));
      if (std::count(failing_shards.begin(), failing_shards.end(), i))
        s->backend = std::make_shared<failing_writes>(s->backend);
      shards.push_back(std::move(*s));
    }
    opts.detached_backends = false;
    if (!opts.clock) opts.clock = [] { return int64_t{424242}; };
    actors = spawn_engine(sys, shards, prof, opts);
  }

  ~actor_fixture() {
    if (actors.coordinator) {
      caf::scoped_actor self{sys};
      self->send(actors.coordinator, atom::close_v);
      sched.run();
    }
    actors = {};
    sched.run();
    for (auto& s : shards)
      close_shard(s);
  }

  /// Sends one request to the coordinator, runs every actor until idle, returns the answer.
  template <class T, class... Ts>
  expected<T> call(Ts&&... xs) {
    caf::scoped_actor self{sys};
    auto handle = self->request(actors.coordinator, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    expected<T> result{make_error(ec::internal, "no answer")};
    handle.receive([&](T& x) { result = std::move(x); },
                   [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace telos::test
