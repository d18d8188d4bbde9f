// telos-bench graph: the storage-level graph (interner, quads, edges) on one backend, against the
// raw backend calls it is built from, measured in the same process on the same rows: load rate,
// quad pattern scan rate vs raw iteration, interner lookups vs raw point reads, single-hop
// neighbour latency vs a raw prefix scan, and 3-hop traversal latency.
#include "bench_command.hpp"
#include "timing.hpp"

#include "telos/storage/backend.hpp"
#include "telos/storage/edges.hpp"
#include "telos/storage/interner.hpp"
#include "telos/storage/key_codec.hpp"
#include "telos/storage/quad_store.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace telos::bench {

namespace {

using steady = std::chrono::steady_clock;
using json = nlohmann::json;
using namespace telos::storage;

struct graph_bench_options {
  std::string backends = "rocksdb,lmdb";
  size_t edges = 1'000'000;
  size_t degree = 10;
  size_t types = 4;
  size_t hop_queries = 20'000;
  size_t lookups = 200'000;
  size_t traversals = 200;
  size_t traversal_limit = 1000;
  uint64_t seed = 1;
  std::string dir;
  std::string json_path;
};

struct graph_bench_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T must(expected<T> x, const std::string& what) {
  if (!x) throw graph_bench_failure(what + ": " + describe(x.error()));
  return std::move(*x);
}

void must(expected<void> x, const std::string& what) {
  if (!x) throw graph_bench_failure(what + ": " + describe(x.error()));
}

/// Latencies in microseconds.
struct latencies {
  std::vector<double> us;

  void add(steady::time_point start) {
    us.push_back(std::chrono::duration<double, std::micro>(steady::now() - start).count());
  }
  double percentile(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    auto rank = static_cast<size_t>(p * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(rank, us.size() - 1)];
  }
};

std::vector<std::string> keyspace_names() {
  std::vector<std::string> names;
  for (const auto* list : {&interner_keyspaces::names(), &quad_keyspaces::names()})
    names.insert(names.end(), list->begin(), list->end());
  return names;
}

json run_one(backend_kind kind, const graph_bench_options& o, const std::string& dir) {
  backend_options bo;
  bo.path = dir;
  bo.keyspaces = keyspace_names();
  auto db = must(make_backend(kind, bo), std::string{"opening "} + to_string(kind));
  auto terms = must(interner::open(*db, must(interner_keyspaces::resolve(*db), "keyspaces")),
                    "opening the interner");
  quad_store quads{*db, must(quad_keyspaces::resolve(*db), "keyspaces")};
  edge_store edges{quads, *terms};
  json doc{{"backend", to_string(kind)}};
  std::cout << "\n== " << to_string(kind) << "\n";

  // -- load: `degree` out-edges per memory, random targets and types --------------------------
  std::mt19937_64 rng{o.seed};
  size_t nodes = std::max<size_t>(1, o.edges / o.degree);
  std::vector<uuid> ids(nodes);
  for (auto& id : ids)
    for (auto& b : id.bytes)
      b = static_cast<uint8_t>(rng());
  std::vector<std::string> types;
  for (size_t t = 0; t < o.types; ++t)
    types.push_back("type" + std::to_string(t));
  auto load_start = steady::now();
  size_t written = 0;
  write_batch batch;
  interner::staging staged;
  for (size_t i = 0; i < nodes; ++i) {
    for (size_t k = 0; k < o.degree; ++k) {
      edge_data e;
      e.source = ids[i];
      e.target = ids[rng() % nodes];
      e.type = types[rng() % types.size()];
      e.weight = static_cast<double>(rng() % 100);
      must(edges.add(e, batch, staged), "adding an edge");
      ++written;
    }
    if (batch.size() >= 40'000 || i + 1 == nodes) {
      must(db->write(batch), "writing a batch");
      terms->confirm(staged);
      batch.clear();
    }
  }
  auto load_s = seconds_since(load_start);
  must(db->flush(), "flush");
  std::cout << "load: " << written << " edges in " << std::fixed << std::setprecision(2) << load_s
            << " s = " << std::setprecision(0) << static_cast<double>(written) / load_s
            << " edges/s (4 quad rows each + interner rows)\n";
  doc["load"] = {{"edges", written},
                 {"seconds", load_s},
                 {"edges_per_s", static_cast<double>(written) / load_s}};

  // -- quad pattern scans vs raw iteration of the same keyspace rows ----------------------------
  auto scan_rate = [&](const quad_pattern& pattern, const char* label) {
    auto plan = plan_for(pattern);
    size_t quads_seen = 0;
    auto start = steady::now();
    auto cursor = must(quads.scan(pattern), "quad scan");
    for (; cursor.valid(); cursor.next())
      ++quads_seen;
    if (auto err = cursor.status()) throw graph_bench_failure("quad scan: " + describe(err));
    auto quad_s = seconds_since(start);
    // The same rows through the backend alone (no key decoding, no pattern check).
    std::string prefix;
    if (pattern.p) prefix = quad_key(plan.order, quad{0, *pattern.p, 0, 0}).substr(0, 8);
    size_t raw_seen = 0;
    start = steady::now();
    auto rows = must(db->scan_prefix(quads.keyspaces().of(plan.order), prefix), "raw scan");
    for (; rows->valid(); rows->next())
      ++raw_seen;
    auto raw_s = seconds_since(start);
    if (raw_seen != quads_seen)
      throw graph_bench_failure(std::string{"scan "} + label + " saw " +
                                std::to_string(quads_seen) + " quads but " +
                                std::to_string(raw_seen) + " raw rows");
    double rate = static_cast<double>(quads_seen) / quad_s;
    double raw_rate = static_cast<double>(raw_seen) / raw_s;
    std::cout << "scan " << label << " (" << to_string(plan.order) << "): " << quads_seen
              << " quads, " << std::setprecision(0) << rate << " quads/s; raw iteration "
              << raw_rate << " rows/s; ratio " << std::setprecision(2) << rate / raw_rate << "\n";
    return json{{"pattern", label},           {"order", to_string(plan.order)},
                {"quads", quads_seen},        {"quads_per_s", rate},
                {"raw_rows_per_s", raw_rate}, {"ratio", rate / raw_rate}};
  };
  auto type0 = must(terms->find(make_term(term_kind::edge_type, types[0])), "type term");
  doc["scans"] = {
      scan_rate(quad_pattern{}, "all (____)"),
      scan_rate(quad_pattern{std::nullopt, *type0, std::nullopt, std::nullopt}, "one type (_P__)")};

  // -- interner: find(text) cached and uncached, lookup(id) vs raw get --------------------------
  auto probe_interner = [&](const interner& in, const char* label) {
    std::mt19937_64 pick{o.seed + 1};
    std::vector<std::string> texts;
    for (size_t i = 0; i < o.lookups; ++i)
      texts.push_back(make_term(ids[pick() % nodes]));
    std::vector<term_id> found_ids;
    found_ids.reserve(texts.size());
    auto start = steady::now();
    for (const auto& t : texts) {
      auto id = must(in.find(t), "interner find");
      if (!id) throw graph_bench_failure("a memory term is not interned");
      found_ids.push_back(*id);
    }
    double find_rate = static_cast<double>(texts.size()) / seconds_since(start);
    start = steady::now();
    for (auto id : found_ids)
      if (!must(in.lookup(id), "interner lookup"))
        throw graph_bench_failure("an interned id has no text");
    double lookup_rate = static_cast<double>(found_ids.size()) / seconds_since(start);
    start = steady::now();
    for (auto id : found_ids)
      if (!must(db->get(in.keyspaces().reverse, interner::reverse_key(id)), "raw get"))
        throw graph_bench_failure("an interned id has no intern_rev row");
    double raw_rate = static_cast<double>(found_ids.size()) / seconds_since(start);
    std::cout << "interner " << label << ": find " << std::setprecision(0) << find_rate
              << "/s, lookup " << lookup_rate << "/s; raw get of the same rows " << raw_rate
              << "/s; lookup ratio " << std::setprecision(2) << lookup_rate / raw_rate << "\n";
    return json{{"cache", label},
                {"find_per_s", find_rate},
                {"lookup_per_s", lookup_rate},
                {"raw_get_per_s", raw_rate},
                {"lookup_ratio", lookup_rate / raw_rate}};
  };
  interner_options no_cache;
  no_cache.cache_entries = 0;
  auto uncached = must(interner::open(*db, terms->keyspaces(), no_cache), "uncached interner");
  // Warm the cached interner over every memory first, as a long-running shard would be.
  for (const auto& id : ids)
    must(terms->find(make_term(id)), "warming the cache");
  doc["interner"] = {probe_interner(*terms, "cached"), probe_interner(*uncached, "uncached")};

  // -- single hop: neighbours(out / both) vs raw prefix scan of the node's spoc rows ------------
  auto hop = [&](edge_dir direction) {
    std::mt19937_64 pick{o.seed + 2};
    latencies ours, raw;
    size_t found = 0;
    size_t raw_rows = 0;
    neighbour_query q;
    q.direction = direction;
    for (size_t i = 0; i < o.hop_queries; ++i) {
      const auto& node = ids[pick() % nodes];
      auto start = steady::now();
      found += must(edges.neighbours(node, q), "neighbours").size();
      ours.add(start);
      auto term = must(terms->find(make_term(node)), "node term");
      // The baseline: the node's out rows alone, through the backend, nothing decoded.
      start = steady::now();
      auto rows = must(db->scan_prefix(quads.keyspaces().of(quad_order::spoc),
                                       key_builder{8}.u64(term.value_or(0)).take()),
                       "raw prefix scan");
      for (; rows->valid(); rows->next())
        ++raw_rows;
      raw.add(start);
    }
    auto p50 = ours.percentile(0.5), p99 = ours.percentile(0.99);
    auto raw50 = raw.percentile(0.5), raw99 = raw.percentile(0.99);
    std::cout << "neighbours " << to_string(direction) << ": p50 " << std::setprecision(1) << p50
              << " us, p99 " << p99 << " us (" << std::setprecision(1)
              << static_cast<double>(found) / static_cast<double>(o.hop_queries)
              << " per node); raw spoc prefix scan p50 " << raw50 << " us, p99 " << raw99 << " us ("
              << static_cast<double>(raw_rows) / static_cast<double>(o.hop_queries)
              << " rows per node)\n";
    return json{
        {"direction", to_string(direction)},
        {"p50_us", p50},
        {"p99_us", p99},
        {"mean_neighbours", static_cast<double>(found) / static_cast<double>(o.hop_queries)},
        {"raw_p50_us", raw50},
        {"raw_p99_us", raw99}};
  };
  doc["single_hop"] = {hop(edge_dir::out), hop(edge_dir::both)};

  // -- 3-hop traversal
  // -----------------------------------------------------------------------------
  {
    std::mt19937_64 pick{o.seed + 3};
    latencies lat;
    size_t reached = 0;
    traversal_query q;
    q.direction = edge_dir::out;
    q.max_depth = 3;
    q.limit = o.traversal_limit;
    auto start_all = steady::now();
    for (size_t i = 0; i < o.traversals; ++i) {
      auto start = steady::now();
      reached += must(edges.traverse(ids[pick() % nodes], q), "traverse").size();
      lat.add(start);
    }
    auto total_s = seconds_since(start_all);
    auto p50 = lat.percentile(0.5), p99 = lat.percentile(0.99);
    std::cout << "traverse out depth 3 limit " << o.traversal_limit << ": p50 "
              << std::setprecision(2) << p50 / 1000 << " ms, p99 " << p99 / 1000 << " ms, "
              << std::setprecision(0) << static_cast<double>(reached) / total_s << " paths/s ("
              << std::setprecision(1)
              << static_cast<double>(reached) / static_cast<double>(o.traversals)
              << " paths per traversal)\n";
    doc["traversal"] = {
        {"depth", 3},
        {"limit", o.traversal_limit},
        {"p50_ms", p50 / 1000},
        {"p99_ms", p99 / 1000},
        {"paths_per_s", static_cast<double>(reached) / total_s},
        {"mean_paths", static_cast<double>(reached) / static_cast<double>(o.traversals)}};
  }
  must(db->close(), "close");
  return doc;
}

int run_graph(const graph_bench_options& o) {
  std::vector<backend_kind> kinds;
  std::stringstream list{o.backends};
  for (std::string name; std::getline(list, name, ',');)
    kinds.push_back(must(parse_backend_kind(name), "--backends"));
  bool own_dir = o.dir.empty();
  auto root = own_dir ? (std::filesystem::temp_directory_path() /
                         ("telos-bench-graph-" + std::to_string(::getpid())))
                            .string()
                      : o.dir;
  std::filesystem::create_directories(root);
  std::cout << "telos-bench graph: " << o.edges << " edges (" << o.degree << " out per memory, "
            << o.types << " types), seed " << o.seed << "\n";
  json doc{{"edges", o.edges}, {"degree", o.degree}, {"types", o.types}, {"seed", o.seed}};
  for (auto kind : kinds) {
    auto dir = root + "/" + to_string(kind);
    std::filesystem::remove_all(dir);
    doc["runs"].push_back(run_one(kind, o, dir));
    std::filesystem::remove_all(dir);
  }
  if (own_dir) std::filesystem::remove_all(root);
  if (!o.json_path.empty()) {
    std::ofstream out{o.json_path};
    out << doc.dump(2) << "\n";
    if (!out) throw graph_bench_failure("cannot write " + o.json_path);
  }
  return 0;
}

const registrar graph_registration{command{
    "graph",
    "Storage-level graph on one backend vs the raw backend calls under it: load, quad scans, "
    "interner lookups, single-hop neighbour latency, 3-hop traversal",
    [](CLI::App& sub) {
      auto o = std::make_shared<graph_bench_options>();
      sub.add_option("--backends", o->backends, "Comma-separated: memory, rocksdb, lmdb")
          ->capture_default_str();
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
          ->capture_default_str();
      sub.add_option("--lookups", o->lookups, "Interner lookups")->capture_default_str();
      sub.add_option("--traversals", o->traversals, "3-hop traversals")->capture_default_str();
      sub.add_option("--traversal-limit", o->traversal_limit, "Paths per traversal at most")
          ->capture_default_str();
      sub.add_option("--seed", o->seed, "Seed of ids, edges and query order")
          ->capture_default_str();
      sub.add_option("--dir", o->dir, "Directory for the stores (default: a temporary one)");
      sub.add_option("--json", o->json_path, "Also write a machine-readable report here");
      return [o]() -> int {
        try {
          return run_graph(*o);
        } catch (const std::exception& e) {
          std::cerr << "\ntelos-bench graph: " << e.what() << "\n";
          return 1;
        }
      };
    }}};

} // namespace

} // namespace telos::bench
