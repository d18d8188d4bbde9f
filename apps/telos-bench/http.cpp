// telos-bench http: upsert and search over telosd's HTTP API (Qdrant dialect) against the same
// operations through the blocking facade, in one process, on the same data: requests/s and
// latency percentiles of each, and the ratio HTTP/facade. The server is the one telosd --http
// runs (collection registry, qdrant_api, http_server on a loopback port); the clients are
// Boost.Beast connections with keep-alive, one thread each. Data: seeded Gaussian vectors, or
// Fashion-MNIST (--fashion-mnist). docs/BENCHMARKS.md, "HTTP".
#include "bench_command.hpp"
#include "idx_images.hpp"
#include "timing.hpp"

#include "telos/actors/config.hpp"
#include "telos/messages/json_value.hpp"
#include "telos/server/collections.hpp"
#include "telos/server/http_metrics.hpp"
#include "telos/server/http_server.hpp"
#include "telos/server/qdrant_api.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>

namespace telos::bench {
namespace {

namespace fs = std::filesystem;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

struct http_bench_options {
  std::string data_dir = "bench-http-data";
  std::string backend = "rocksdb";
  uint64_t points = 20000;
  uint64_t batch = 100;
  uint64_t queries = 2000;
  uint32_t dim = 100;
  uint32_t k = 10;
  uint32_t clients = 4;
  size_t server_threads = 4;
  uint64_t seed = 1;
  /// Empty: seeded Gaussian vectors of --dim; else Fashion-MNIST's directory (784-d images).
  std::string fashion_mnist;
  std::string json_path;
};

struct http_bench_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Per-request latencies (seconds) of one phase and its wall time.
struct phase_result {
  std::vector<double> latency;
  double wall = 0;
  uint64_t items = 0;

  double percentile(double p) const {
    if (latency.empty()) return 0;
    auto xs = latency;
    std::sort(xs.begin(), xs.end());
    return xs[std::min(xs.size() - 1, static_cast<size_t>(p * static_cast<double>(xs.size())))];
  }
  double requests_per_second() const {
    return wall > 0 ? static_cast<double>(latency.size()) / wall : 0;
  }
};

/// Runs `requests` requests on `clients` threads; `one(client, i)` performs request i on the
/// client's own connection state. Records each request's latency.
template <class Client>
phase_result run_phase(std::vector<Client>& clients, uint64_t requests,
                       const std::function<void(Client&, uint64_t)>& one) {
  phase_result r;
  std::atomic<uint64_t> next{0};
  std::vector<std::vector<double>> lat(clients.size());
  std::vector<std::string> errors(clients.size());
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < clients.size(); ++c)
    threads.emplace_back([&, c] {
      try {
        for (uint64_t i = next++; i < requests; i = next++) {
          auto t0 = std::chrono::steady_clock::now();
          one(clients[c], i);
          lat[c].push_back(seconds_since(t0));
        }
      } catch (const std::exception& e) {
        errors[c] = e.what();
        next = requests;
      }
    });
  for (auto& t : threads)
    t.join();
  r.wall = seconds_since(start);
  for (auto& e : errors)
    if (!e.empty()) throw http_bench_failure(e);
  for (auto& l : lat)
    r.latency.insert(r.latency.end(), l.begin(), l.end());
  return r;
}

/// One keep-alive HTTP/1.1 connection to the server.
struct http_client {
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream{ioc};
  boost::beast::flat_buffer buffer;

  explicit http_client(uint16_t port) {
    stream.connect(tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), port});
  }

  /// Sends a request and returns the answer's body; throws unless the status is 200.
  std::string call(bhttp::verb verb, const std::string& target, const std::string& body) {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(stream, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    if (res.result_int() != 200)
      throw http_bench_failure(std::string(req.method_string()) + " " + target + ": " +
                               std::to_string(res.result_int()) + " " + res.body());
    return std::move(res.body());
  }
};

struct facade_client {
  store* db = nullptr;
};

std::vector<float> random_vector(std::mt19937_64& rng, uint32_t dim) {
  std::normal_distribution<float> n;
  std::vector<float> v(dim);
  for (auto& x : v)
    x = n(rng);
  return v;
}

/// The ids of the points of a search answer (HTTP) in order.
std::vector<uint64_t> answer_ids(const std::string& body) {
  auto doc = parse_json(body);
  if (!doc) throw http_bench_failure("search answer: " + describe(doc.error()));
  std::vector<uint64_t> ids;
  for (const auto& p : (*doc)["result"])
    ids.push_back(p["id"].get<uint64_t>());
  return ids;
}

void print_row(const char* what, const phase_result& facade, const phase_result& http) {
  auto ms = [](double s) { return s * 1000; };
  std::printf("%-7s %-7s %10.0f %9.3f %9.3f %9.3f\n", what, "facade", facade.requests_per_second(),
              ms(facade.percentile(0.5)), ms(facade.percentile(0.95)), ms(facade.percentile(0.99)));
  std::printf("%-7s %-7s %10.0f %9.3f %9.3f %9.3f\n", what, "http", http.requests_per_second(),
              ms(http.percentile(0.5)), ms(http.percentile(0.95)), ms(http.percentile(0.99)));
  std::printf("%-7s %-7s %10.2f %9.2f %9.2f %9.2f\n", what, "ratio",
              http.requests_per_second() / facade.requests_per_second(),
              http.percentile(0.5) / facade.percentile(0.5),
              http.percentile(0.95) / facade.percentile(0.95),
              http.percentile(0.99) / facade.percentile(0.99));
}

json_value phase_json(const phase_result& r) {
  return {{"requests_per_s", r.requests_per_second()},
          {"items_per_s", r.wall > 0 ? static_cast<double>(r.items) / r.wall : 0},
          {"p50_ms", r.percentile(0.5) * 1000},
          {"p95_ms", r.percentile(0.95) * 1000},
          {"p99_ms", r.percentile(0.99) * 1000}};
}

int run_http_bench(const http_bench_options& o) {
  if (o.points == 0 || o.batch == 0 || o.clients == 0 || o.dim == 0 || o.k == 0)
    throw http_bench_failure("--points, --batch, --clients, --dim and --k must be positive");
  auto backend = storage::parse_backend_kind(o.backend);
  if (!backend) throw http_bench_failure("--backend: " + describe(backend.error()));
  fs::remove_all(o.data_dir);

  // The data: Fashion-MNIST (training images as points, test images as queries), or seeded
  // Gaussian vectors (uniform on the sphere once normalised for Cosine); a small payload per point.
  uint32_t dim = o.dim;
  std::vector<std::vector<float>> vectors(o.points);
  std::vector<std::vector<float>> queries(o.queries);
  if (!o.fashion_mnist.empty()) {
    auto base = read_idx_images(o.fashion_mnist + "/train-images-idx3-ubyte.gz", o.points);
    auto tests = read_idx_images(o.fashion_mnist + "/t10k-images-idx3-ubyte.gz", o.queries);
    if (base.count < o.points || tests.count < o.queries)
      throw http_bench_failure("Fashion-MNIST has " + std::to_string(base.count) +
                               " training and " + std::to_string(tests.count) +
                               " test images: lower --points or --queries");
    dim = static_cast<uint32_t>(base.dim);
    for (size_t i = 0; i < o.points; ++i)
      vectors[i].assign(base.row(i), base.row(i) + dim);
    for (size_t i = 0; i < o.queries; ++i)
      queries[i].assign(tests.row(i), tests.row(i) + dim);
  } else {
    std::mt19937_64 rng{o.seed};
    for (auto& v : vectors)
      v = random_vector(rng, dim);
    for (auto& q : queries)
      q = random_vector(rng, dim);
  }
  auto payload = [](uint64_t i) {
    return json_value{{"text", "point " + std::to_string(i)}, {"group", i % 8}};
  };
  uint64_t batches = (o.points + o.batch - 1) / o.batch;

  caf::actor_system_config cfg;
  register_telos(cfg);
  caf::actor_system sys{cfg};
  server::collection_options co;
  co.data_dir = o.data_dir;
  co.backend = *backend;
  server::collection_registry registry{sys, co};
  server::http_metrics metrics;
  server::qdrant_api api{registry, metrics};
  server::http_options ho;
  ho.port = 0;
  ho.worker_threads = o.server_threads;
  ho.max_body_bytes = size_t{1} << 30;
  // The client connections are opened once and idle while the facade runs its phases: the
  // server's deadline for slow clients must not cut them.
  ho.timeout = std::chrono::hours(24);
  auto srv = server::http_server::start(
      ho, [&api](const server::http_request& r) { return api.handle(r); }, metrics);
  if (!srv) throw http_bench_failure(describe(srv.error()));
  auto port = (*srv)->port();

  json_value config = {{"vectors", {{"size", dim}, {"distance", "Cosine"}}}};
  {
    http_client setup{port};
    setup.call(bhttp::verb::put, "/collections/facade", dump(config));
    setup.call(bhttp::verb::put, "/collections/http", dump(config));
  }
  auto facade_collection = registry.get("facade");
  const auto& slot = facade_collection->schema.slot("", "vector");
  std::vector<facade_client> facade(o.clients, facade_client{facade_collection->store.get()});
  std::vector<std::unique_ptr<http_client>> http;
  for (uint32_t c = 0; c < o.clients; ++c)
    http.push_back(std::make_unique<http_client>(port));

  // Requests are prepared before the clock starts on both sides: the facade gets memories built
  // as the server builds them (point ids, normalised vectors, payload as content), HTTP gets the
  // JSON bodies a client would send.
  std::vector<std::vector<memory>> facade_batches(batches);
  std::vector<std::string> http_batches(batches);
  for (uint64_t b = 0; b < batches; ++b) {
    json_value points = json_value::array();
    for (uint64_t i = b * o.batch; i < std::min(o.points, (b + 1) * o.batch); ++i) {
      json_value id = i;
      json_value vec = vectors[i];
      memory m;
      m.id = server::point_uuid(id, "id");
      m.embeddings[slot.embedder] = server::read_vector(vec, slot, "vector");
      m.content = server::payload_text(payload(i));
      m.created_at = m.updated_at = 1700000000000;
      facade_batches[b].push_back(std::move(m));
      points.push_back({{"id", i}, {"vector", std::move(vec)}, {"payload", payload(i)}});
    }
    http_batches[b] = dump(json_value{{"points", std::move(points)}});
  }
  std::vector<embedding> facade_queries;
  std::vector<std::string> http_queries;
  for (const auto& q : queries) {
    json_value vec = q;
    facade_queries.push_back(server::read_vector(vec, slot, "vector"));
    http_queries.push_back(
        dump(json_value{{"vector", std::move(vec)}, {"limit", o.k}, {"with_payload", true}}));
  }

  std::cerr << "telos-bench http: " << o.points << " points of " << dim << " dims ("
            << (o.fashion_mnist.empty() ? "seeded Gaussian" : "Fashion-MNIST") << ") in batches of "
            << o.batch << ", " << o.queries << " searches (k " << o.k << "), " << o.clients
            << " client threads, " << o.server_threads << " server threads, " << o.backend << '\n';

  // Upserts: facade first, then HTTP (each into its own collection, the same points).
  auto facade_upsert = run_phase<facade_client>(facade, batches, [&](facade_client& c, uint64_t b) {
    auto ok = c.db->put_batch(std::move(facade_batches[b]));
    if (!ok) throw http_bench_failure("put_batch: " + describe(ok.error()));
  });
  facade_upsert.items = o.points;
  auto http_upsert = run_phase<std::unique_ptr<http_client>>(
      http, batches, [&](std::unique_ptr<http_client>& c, uint64_t b) {
        c->call(bhttp::verb::put, "/collections/http/points?wait=true", http_batches[b]);
      });
  http_upsert.items = o.points;

  // Searches: the same query vectors against each collection. The answers are kept and compared
  // after the clock stops (both sides search the same points; HNSW graphs built concurrently may
  // differ slightly, so the figure is an overlap, not an equality).
  std::vector<std::vector<uint64_t>> facade_ids(o.queries);
  std::vector<std::string> http_answers(o.queries);
  auto facade_search =
      run_phase<facade_client>(facade, o.queries, [&](facade_client& c, uint64_t i) {
        search_request req;
        req.embedder = slot.embedder;
        req.query = facade_queries[i];
        req.k = o.k;
        req.with_records = true;
        auto r = c.db->search(std::move(req));
        if (!r) throw http_bench_failure("search: " + describe(r.error()));
        for (const auto& h : r->hits)
          facade_ids[i].push_back(server::point_id_json(h.id).get<uint64_t>());
      });
  facade_search.items = o.queries;
  auto http_search = run_phase<std::unique_ptr<http_client>>(
      http, o.queries, [&](std::unique_ptr<http_client>& c, uint64_t i) {
        http_answers[i] =
            c->call(bhttp::verb::post, "/collections/http/points/search", http_queries[i]);
      });
  http_search.items = o.queries;

  uint64_t shared = 0, total = 0;
  for (uint64_t i = 0; i < o.queries; ++i) {
    auto ids = answer_ids(http_answers[i]);
    if (ids.size() != std::min<uint64_t>(o.k, o.points))
      throw http_bench_failure("search " + std::to_string(i) + " over HTTP answered " +
                               std::to_string(ids.size()) + " points, expected " +
                               std::to_string(o.k));
    for (auto id : ids)
      shared += std::count(facade_ids[i].begin(), facade_ids[i].end(), id);
    total += ids.size();
  }
  auto count = facade_collection->store->count();
  auto http_count = registry.get("http")->store->count();
  if (!count || !http_count || *count != o.points || *http_count != o.points)
    throw http_bench_failure("a collection does not hold every point after the upserts");

  std::printf("%-7s %-7s %10s %9s %9s %9s\n", "op", "path", "req/s", "p50 ms", "p95 ms", "p99 ms");
  print_row("upsert", facade_upsert, http_upsert);
  print_row("search", facade_search, http_search);
  double overlap = total ? static_cast<double>(shared) / static_cast<double>(total) : 0;
  std::printf("points/s upserted: facade %.0f, http %.0f; search answers shared: %.3f\n",
              static_cast<double>(o.points) / facade_upsert.wall,
              static_cast<double>(o.points) / http_upsert.wall, overlap);
  json_value out = {
      {"points", o.points},
      {"dim", dim},
      {"data", o.fashion_mnist.empty() ? "gaussian" : "fashion-mnist"},
      {"batch", o.batch},
      {"queries", o.queries},
      {"k", o.k},
      {"clients", o.clients},
      {"server_threads", o.server_threads},
      {"backend", o.backend},
      {"upsert", {{"facade", phase_json(facade_upsert)}, {"http", phase_json(http_upsert)}}},
      {"search", {{"facade", phase_json(facade_search)}, {"http", phase_json(http_search)}}},
      {"upsert_rate_ratio",
       http_upsert.requests_per_second() / facade_upsert.requests_per_second()},
      {"search_rate_ratio",
       http_search.requests_per_second() / facade_search.requests_per_second()},
      {"search_overlap", overlap}};
  std::cout << dump(out) << std::endl;
  if (!o.json_path.empty()) {
    std::FILE* f = std::fopen(o.json_path.c_str(), "w");
    if (!f) throw http_bench_failure("cannot write " + o.json_path);
    auto text = dump(out, 2) + "\n";
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  http.clear();
  facade_collection.reset();
  (*srv)->stop();
  registry.close_all();
  fs::remove_all(o.data_dir);
  return 0;
}

registrar http_command{
    {"http",
     "upsert and search over the HTTP API (Qdrant dialect) against the same operations through "
     "the facade: requests/s, latency percentiles, ratio",
     [](CLI::App& sub) {
       auto o = std::make_shared<http_bench_options>();
       sub.add_option("--data-dir", o->data_dir, "scratch directory of both collections (removed)")
           ->capture_default_str();
       sub.add_option("--backend", o->backend, "rocksdb | lmdb | memory")->capture_default_str();
       sub.add_option("--points", o->points, "points upserted into each collection")
           ->capture_default_str();
       sub.add_option("--batch", o->batch, "points per upsert request / put_batch")
           ->capture_default_str();
       sub.add_option("--queries", o->queries, "searches on each side")->capture_default_str();
       sub.add_option("--dim", o->dim, "vector dimension (Cosine)")->capture_default_str();
       sub.add_option("--k", o->k, "limit of each search")->capture_default_str();
       sub.add_option("--clients", o->clients, "client threads (one connection each over HTTP)")
           ->capture_default_str();
       sub.add_option("--server-threads", o->server_threads,
                      "worker threads of the HTTP server (telosd --http-threads)")
           ->capture_default_str();
       sub.add_option("--seed", o->seed, "data seed")->capture_default_str();
       sub.add_option(
           "--fashion-mnist", o->fashion_mnist,
           "use Fashion-MNIST from this directory (e.g. /usr/share/datasets/fashion-mnist, "
           "Debian package dataset-fashion-mnist): 784-d images instead of --dim");
       sub.add_option("--json", o->json_path, "also write the results as JSON here");
       return [o] {
         try {
           return run_http_bench(*o);
         } catch (const std::exception& e) {
           std::cerr << "telos-bench http: " << e.what() << '\n';
           return 1;
         }
       };
     }}};

} // namespace
} // namespace telos::bench
