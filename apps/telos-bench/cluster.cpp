// telos-bench cluster: ingest and search throughput, and per-request latency, of a store reached
// through the blocking facade: either in this process (--local-shards N) or a telosd cluster
// (--connect HOST:PORT of its coordinator). scripts/bench-cluster.sh runs both for 1, 2 and 4
// shards and prints one JSON line per run (docs/BENCHMARKS.md, "Cluster").
#include "bench_command.hpp"
#include "timing.hpp"

#include "telos/actors/store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

namespace telos::bench {
namespace {

struct cluster_options {
  std::string connect;
  uint32_t local_shards = 0;
  std::string backend = "rocksdb";
  std::string data_dir = "bench-cluster-data";
  uint64_t memories = 20000;
  uint64_t batch = 100;
  uint32_t clients = 4;
  uint64_t queries = 2000;
  uint32_t dim = 128;
  uint64_t latency_samples = 1000;
};

using clock_type = std::chrono::steady_clock;

telos::profile bench_profile(uint32_t dim) {
  telos::profile p;
  p.name = "bench-cluster";
  embedder e1;
  e1.name = "E1";
  e1.kind = embedder_kind::dense;
  e1.dim = dim;
  e1.metric = metric::cosine;
  embedder e2;
  e2.name = "E2";
  e2.kind = embedder_kind::sparse;
  e2.dim = 30522;
  p.embedders = {e1, e2};
  return p;
}

embedding dense(std::mt19937_64& rng, uint32_t dim) {
  std::uniform_real_distribution<float> u{-1, 1};
  std::vector<float> v(dim);
  for (auto& x : v)
    x = u(rng);
  return embedding::dense(std::move(v));
}

embedding sparse(std::mt19937_64& rng) {
  std::uniform_int_distribution<uint32_t> term{0, 30521};
  std::uniform_real_distribution<float> w{0.1f, 1.0f};
  std::vector<uint32_t> terms;
  while (terms.size() < 16) {
    auto t = term(rng);
    if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
  }
  std::sort(terms.begin(), terms.end());
  std::vector<float> weights;
  for (size_t i = 0; i < terms.size(); ++i)
    weights.push_back(w(rng));
  return embedding::sparse(std::move(terms), std::move(weights));
}

memory make(std::mt19937_64& rng, uint64_t i, uint32_t dim) {
  memory m;
  m.id = uuid::random();
  m.ns = "ns" + std::to_string(i % 4);
  m.content = "memory " + std::to_string(i);
  m.created_at = m.updated_at = 1700000000000 + static_cast<int64_t>(i);
  m.embeddings = {{"E1", dense(rng, dim)}, {"E2", sparse(rng)}};
  return m;
}

double cluster_percentile(std::vector<double> xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  return xs[std::min(xs.size() - 1, static_cast<size_t>(p * static_cast<double>(xs.size())))];
}

int run_cluster(const cluster_options& o) {
  std::unique_ptr<store> db;
  std::string target;
  if (!o.connect.empty()) {
    auto where = parse_endpoint(o.connect);
    if (!where) {
      std::cerr << describe(where.error()) << '\n';
      return 1;
    }
    auto c = store::connect(where->host, where->port);
    if (!c) {
      std::cerr << describe(c.error()) << '\n';
      return 1;
    }
    db = std::move(*c);
    target = "cluster";
  } else {
    std::filesystem::remove_all(o.data_dir);
    store_options so;
    so.path = o.data_dir;
    auto kind = storage::parse_backend_kind(o.backend);
    if (!kind) return 1;
    so.backend = *kind;
    so.shards = std::max<uint32_t>(1, o.local_shards);
    so.profile = bench_profile(o.dim);
    auto opened = store::open(so);
    if (!opened) {
      std::cerr << describe(opened.error()) << '\n';
      return 1;
    }
    db = std::move(*opened);
    target = "local";
  }
  auto shards = db->stats();
  if (!shards) {
    std::cerr << describe(shards.error()) << '\n';
    return 1;
  }
  // Ingest: clients put batches concurrently.
  std::atomic<uint64_t> next{0}, failed{0};
  auto t0 = clock_type::now();
  std::vector<std::thread> threads;
  for (uint32_t c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] {
      std::mt19937_64 rng{c + 1};
      for (;;) {
        auto first = next.fetch_add(o.batch);
        if (first >= o.memories) return;
        std::vector<memory> batch;
        for (uint64_t i = first; i < std::min(o.memories, first + o.batch); ++i)
          batch.push_back(make(rng, i, o.dim));
        if (!db->put_batch(std::move(batch))) ++failed;
      }
    });
  for (auto& t : threads)
    t.join();
  threads.clear();
  double ingest_s = seconds_since(t0);
  // Search throughput: clients run top-10 queries of E1 concurrently.
  std::atomic<uint64_t> done{0};
  t0 = clock_type::now();
  for (uint32_t c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] {
      std::mt19937_64 rng{1000 + c};
      while (done.fetch_add(1) < o.queries) {
        search_request r;
        r.embedder = "E1";
        r.query = dense(rng, o.dim);
        r.k = 10;
        r.with_records = false;
        if (!db->search(std::move(r))) ++failed;
      }
    });
  for (auto& t : threads)
    t.join();
  double search_s = seconds_since(t0);
  // Latency: one client, one request at a time.
  std::mt19937_64 rng{7};
  auto page = db->list("", 256);
  std::vector<double> get_us, search_us, count_us;
  for (uint64_t i = 0; page && !page->items.empty() && i < o.latency_samples; ++i) {
    auto t = clock_type::now();
    if (!db->get(page->items[i % page->items.size()].id)) ++failed;
    get_us.push_back(seconds_since(t) * 1e6);
    t = clock_type::now();
    if (!db->count()) ++failed;
    count_us.push_back(seconds_since(t) * 1e6);
    search_request r;
    r.embedder = "E1";
    r.query = dense(rng, o.dim);
    r.k = 10;
    r.with_records = false;
    t = clock_type::now();
    if (!db->search(std::move(r))) ++failed;
    search_us.push_back(seconds_since(t) * 1e6);
  }
  auto count = db->count();
  std::cout << "{\"target\":\"" << target << "\",\"shards\":" << shards->shards
            << ",\"memories\":" << (count ? *count : 0) << ",\"failed\":" << failed.load()
            << ",\"ingest_per_s\":" << static_cast<uint64_t>(o.memories / ingest_s)
            << ",\"search_per_s\":" << static_cast<uint64_t>(o.queries / search_s)
            << ",\"get_p50_us\":" << cluster_percentile(get_us, 0.5)
            << ",\"get_p99_us\":" << cluster_percentile(get_us, 0.99)
            << ",\"count_p50_us\":" << cluster_percentile(count_us, 0.5)
            << ",\"search_p50_us\":" << cluster_percentile(search_us, 0.5)
            << ",\"search_p99_us\":" << cluster_percentile(search_us, 0.99) << "}" << std::endl;
  db->close();
  if (o.connect.empty()) std::filesystem::remove_all(o.data_dir);
  return failed == 0 ? 0 : 1;
}

std::function<int()> cluster_setup(CLI::App& sub) {
  auto o = std::make_shared<cluster_options>();
  sub.add_option("--connect", o->connect, "HOST:PORT of a telosd coordinator");
  sub.add_option("--local-shards", o->local_shards, "Shards of an in-process store instead");
  sub.add_option("--backend", o->backend, "Backend of the in-process store")->capture_default_str();
  sub.add_option("--data-dir", o->data_dir, "Directory of the in-process store (wiped)")
      ->capture_default_str();
  sub.add_option("--memories", o->memories, "Memories to ingest")->capture_default_str();
  sub.add_option("--batch", o->batch, "Memories per put_batch")->capture_default_str();
  sub.add_option("--clients", o->clients, "Concurrent client threads")->capture_default_str();
  sub.add_option("--queries", o->queries, "Searches for the throughput phase")
      ->capture_default_str();
  sub.add_option("--dim", o->dim,
                 "Dimension of the dense embedder (the cluster's profile must "
                 "match: E1 dense DIM cosine, E2 sparse 30522)")
      ->capture_default_str();
  sub.add_option("--latency-samples", o->latency_samples, "Sequential requests per latency figure")
      ->capture_default_str();
  return [o] { return run_cluster(*o); };
}

registrar cluster_command{{"cluster",
                           "Ingest/search throughput and request latency, in process or over a "
                           "telosd cluster",
                           cluster_setup}};

} // namespace
} // namespace telos::bench
