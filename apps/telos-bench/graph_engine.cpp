// telos-bench graph-engine: the graph through the actors (blocking store facade → coordinator →
// shard → backend actor): load memories and edges as engine writes, then single-hop neighbour
// latency and 3-hop traversal latency, p50/p99, as a client of the store sees them.
#include "bench_command.hpp"
#include "timing.hpp"

#include "telos/actors/store.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace telos::bench {

namespace {

using steady = std::chrono::steady_clock;

struct graph_engine_options {
  std::string backend = "rocksdb";
  uint32_t shards = 1;
  size_t edges = 1'000'000;
  size_t degree = 10;
  size_t types = 4;
  size_t hop_queries = 20'000;
  size_t traversals = 200;
  size_t traversal_limit = 1000;
  uint64_t seed = 1;
  std::string dir;
  /// Single-edge adds from one memory, alternating between a target on its shard and one on
  /// another shard (with shards > 1): the cost of one write spanning shards.
  size_t single_edges = 0;
};

struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T graph_engine_must(expected<T> x, const std::string& what) {
  if (!x) throw failure(what + ": " + describe(x.error()));
  return std::move(*x);
}

void graph_engine_must(expected<void> x, const std::string& what) {
  if (!x) throw failure(what + ": " + describe(x.error()));
}

struct percentiles {
  double p50 = 0, p99 = 0, max = 0;
};

percentiles of(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))];
  };
  return {at(0.50), at(0.99), us.back()};
}

/// Single-edge adds, one call each, alternating same-shard and cross-shard targets of one source.
void single_edge_adds(store& db, const std::vector<uuid>& ids, const graph_engine_options& o) {
  auto shard = [&](const uuid& id) { return stable_hash(id) % o.shards; };
  const auto& source = ids.front();
  uuid same, cross;
  for (size_t i = 1; i < ids.size() && (same.is_nil() || cross.is_nil()); ++i)
    (shard(ids[i]) == shard(source) ? same : cross) = ids[i];
  std::vector<double> same_us, cross_us;
  for (size_t i = 0; i < o.single_edges; ++i)
    for (const auto& [target, us] : {std::pair{same, &same_us}, std::pair{cross, &cross_us}}) {
      if (target.is_nil()) continue;
      auto s = steady::now();
      graph_engine_must(
          db.edge_add(edge_data{source, "single" + std::to_string(i), target, "default", 1.0, {}}),
          "single edge_add");
      us->push_back(seconds_since(s) * 1e6);
    }
  auto mean = [](const std::vector<double>& us) {
    double sum = 0;
    for (auto x : us)
      sum += x;
    return us.empty() ? 0.0 : sum / us.size();
  };
  auto line = [&](const char* what, const std::vector<double>& us) {
    if (us.empty()) return;
    auto p = of(us);
    std::cout << std::setprecision(0) << "  single edge add, " << what << ": mean " << mean(us)
              << " us, p50 " << p.p50 << " us, p99 " << p.p99 << " us (" << us.size()
              << " calls)\n";
  };
  line("target on the source's shard", same_us);
  line("target on another shard", cross_us);
}

int run(const graph_engine_options& o) {
  auto kind = graph_engine_must(storage::parse_backend_kind(o.backend), "--backend");
  bool own_dir = o.dir.empty();
  auto dir = own_dir ? (std::filesystem::temp_directory_path() /
                        ("telos-bench-graph-engine-" + std::to_string(::getpid())))
                           .string()
                     : o.dir;
  std::filesystem::remove_all(dir);
  store_options opts;
  opts.path = dir;
  opts.backend = kind;
  opts.shards = o.shards;
  profile p;
  p.name = "bench-graph";
  p.embedders.push_back(embedder{"E1", embedder_kind::dense, 4, metric::cosine});
  opts.profile = p;
  auto db = graph_engine_must(store::open(opts), "open");
  size_t nodes = std::max<size_t>(2, o.edges / o.degree);
  std::cout << "telos-bench graph-engine: " << o.edges << " edges over " << nodes << " memories ("
            << o.degree << " out each, " << o.types << " types), backend " << o.backend << ", "
            << o.shards << " shard(s), seed " << o.seed << "\n";
  std::mt19937_64 gen{o.seed};
  std::vector<uuid> ids(nodes);
  auto t0 = steady::now();
  for (size_t first = 0; first < nodes; first += 1000) {
    std::vector<memory> batch;
    for (size_t i = first; i < std::min(nodes, first + 1000); ++i) {
      memory m;
      m.id = uuid::random();
      ids[i] = m.id;
      m.content = "node " + std::to_string(i);
      m.embeddings["E1"].values = {1.0f, static_cast<float>(i % 7), 0.5f, 0.25f};
      batch.push_back(std::move(m));
    }
    graph_engine_must(db->put_batch(std::move(batch)), "put_batch");
  }
  auto load_nodes = seconds_since(t0);
  t0 = steady::now();
  std::uniform_int_distribution<size_t> any(0, nodes - 1);
  std::vector<edge_data> batch;
  size_t added = 0;
  for (size_t i = 0; i < nodes && added < o.edges; ++i)
    for (size_t d = 0; d < o.degree && added < o.edges; ++d, ++added) {
      batch.push_back(
          edge_data{ids[i], "t" + std::to_string(d % o.types), ids[any(gen)], "default", 1.0, {}});
      if (batch.size() == 10'000) {
        graph_engine_must(db->edge_add(std::move(batch)), "edge_add");
        batch.clear();
      }
    }
  if (!batch.empty()) graph_engine_must(db->edge_add(std::move(batch)), "edge_add");
  auto load_edges = seconds_since(t0);
  std::cout << std::fixed << std::setprecision(1) << "  load: " << nodes << " memories in "
            << load_nodes << " s, " << added << " edges in " << load_edges << " s ("
            << std::setprecision(0) << added / load_edges << " edges/s through the actors)\n";
  // Queries measure the loaded graph, not the load's background compactions.
  t0 = steady::now();
  graph_engine_must(db->compact(), "compact");
  std::cout << std::setprecision(1) << "  compacted in " << seconds_since(t0) << " s\n";
  std::vector<double> hop_us;
  size_t seen = 0;
  for (size_t q = 0; q < o.hop_queries; ++q) {
    neighbour_request r;
    r.node = ids[any(gen)];
    r.direction = q % 2 ? edge_dir::out : edge_dir::both;
    auto s = steady::now();
    auto found = graph_engine_must(db->neighbours(r), "neighbours");
    hop_us.push_back(seconds_since(s) * 1e6);
    seen += found.size();
  }
  auto hop = of(hop_us);
  std::cout << std::setprecision(1) << "  single hop (out / both alternating): p50 " << hop.p50
            << " us, p99 " << hop.p99 << " us, max " << hop.max << " us, " << std::setprecision(1)
            << static_cast<double>(seen) / o.hop_queries << " edges per answer\n";
  std::vector<double> trav_ms;
  size_t paths = 0;
  for (size_t q = 0; q < o.traversals; ++q) {
    traverse_request r;
    r.start = ids[any(gen)];
    r.depth = 3;
    r.limit = o.traversal_limit;
    auto s = steady::now();
    auto found = graph_engine_must(db->traverse(r), "traverse");
    trav_ms.push_back(seconds_since(s) * 1e3);
    paths += found.size();
  }
  auto trav = of(trav_ms);
  std::cout << std::setprecision(2) << "  3-hop traversal (out, limit " << o.traversal_limit
            << "): p50 " << trav.p50 << " ms, p99 " << trav.p99 << " ms, max " << trav.max
            << " ms, " << std::setprecision(0) << static_cast<double>(paths) / o.traversals
            << " paths per answer\n";
  if (o.single_edges > 0) single_edge_adds(*db, ids, o);
  graph_engine_must(db->close(), "close");
  db.reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}

const registrar graph_engine_registration{command{
    "graph-engine",
    "The graph through the actors (store facade): edge load, single-hop neighbour and 3-hop "
    "traversal latency p50/p99",
    [](CLI::App& sub) {
      auto o = std::make_shared<graph_engine_options>();
      sub.add_option("--backend", o->backend, "memory, rocksdb or lmdb")->capture_default_str();
      sub.add_option("--shards", o->shards, "Shards")
          ->capture_default_str()
          ->check(CLI::Range(1, 64));
      sub.add_option("--edges", o->edges, "Edges to load")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
      sub.add_option("--degree", o->degree, "Out-edges per memory")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100'000}));
      sub.add_option("--types", o->types, "Edge types")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{1000}));
      sub.add_option("--hops", o->hop_queries, "Single-hop neighbour queries")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
      sub.add_option("--traversals", o->traversals, "3-hop traversals")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100'000'000}));
      sub.add_option("--traversal-limit", o->traversal_limit, "Paths per traversal at most")
          ->capture_default_str();
      sub.add_option("--seed", o->seed, "Seed of edges and query order")->capture_default_str();
      sub.add_option("--dir", o->dir, "Store directory (default: a temporary one, removed)");
      sub.add_option("--single-edges", o->single_edges,
                     "Single-edge adds per kind at the end, alternating a same-shard and a "
                     "cross-shard target (0: none)")
          ->capture_default_str();
      return [o]() -> int {
        try {
          return run(*o);
        } catch (const std::exception& e) {
          std::cerr << "\ntelos-bench graph-engine: " << e.what() << "\n";
          return 1;
        }
      };
    }}};

} // namespace

} // namespace telos::bench
