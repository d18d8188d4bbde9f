// telos-bench sparse: the sparse index (E6 and E13's inverted index) against an exact scan of the
// same documents, in one process, one thread, on the clustered synthetic sparse data of the engine
// and scale benchmarks (synthetic.hpp: 64 clusters, a pool of 256 terms each, 48 draws per
// document): query time per k as a ratio to the scan's, the first search apart (it makes the
// process's first scratch of sums), and whether every answer equals the scan's.
#include "bench_command.hpp"
#include "synthetic.hpp"
#include "timing.hpp"

#include "telos/storage/vector_index.hpp"
#include "telos/storage/vector_kernels.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace telos::bench {

namespace {

using json = nlohmann::json;

struct sparse_bench_options {
  size_t n = 1000000;
  size_t queries = 200;
  /// Queries also answered by the exact scan (its time and the answers' check).
  size_t exact_queries = 10;
  std::vector<size_t> k = {10, 100};
  uint32_t vocabulary = 30522;
  size_t clusters = 64;
  size_t pool = 256;
  size_t draws = 48;
  size_t repeat = 5;
  uint32_t seed = 42;
  std::string json_path;
  /// When set: the index is saved here, then loaded into a fresh index `loads` times (save and
  /// load timed, each loaded index's answers compared with the built one's); the file is removed.
  std::string snapshot_path;
  size_t loads = 3;
};

uuid document_id(size_t i) {
  uuid id;
  auto n = static_cast<uint64_t>(i) + 1;
  for (size_t b = 0; b < 8; ++b)
    id.bytes[15 - b] = static_cast<uint8_t>(n >> (8 * b));
  return id;
}

/// Saves `index` to o.snapshot_path and loads it o.loads times into fresh indexes: times into
/// `out`, true when every loaded index answers every query (at the largest k) as `index` does.
bool time_snapshot(const sparse_bench_options& o, const embedder& spec,
                   const storage::vector_index& index, const std::vector<embedding>& queries,
                   json& out) {
  auto started = std::chrono::steady_clock::now();
  if (auto saved = index.save(o.snapshot_path); !saved)
    throw std::runtime_error{"save: " + telos::describe(saved.error())};
  const double save_s = seconds_since(started);
  const size_t k = *std::max_element(o.k.begin(), o.k.end());
  std::vector<std::vector<hit>> want;
  for (const auto& q : queries)
    want.push_back(index.search(q, k));
  json loads = json::array();
  bool same = true;
  for (size_t l = 0; l < o.loads; ++l) {
    auto loaded = storage::make_vector_index(spec, storage::index_options{});
    started = std::chrono::steady_clock::now();
    if (auto done = loaded->load(o.snapshot_path); !done)
      throw std::runtime_error{"load: " + telos::describe(done.error())};
    const double load_s = seconds_since(started);
    const size_t mapped = loaded->stats().mapped_bytes;
    auto equal_answers = [&] {
      size_t equal = 0;
      for (size_t q = 0; q < queries.size(); ++q) {
        auto got = loaded->search(queries[q], k);
        bool eq = got.size() == want[q].size();
        for (size_t i = 0; eq && i < got.size(); ++i)
          eq = got[i].id == want[q][i].id && got[i].score == want[q][i].score;
        equal += eq ? 1 : 0;
      }
      return equal;
    };
    const size_t equal = equal_answers();
    // What the index actor does in the background after an open: maintain() until it has copied
    // what the load left mapped.
    started = std::chrono::steady_clock::now();
    while (loaded->maintain(64) > 0) {
    }
    const double settle_s = seconds_since(started);
    const size_t equal_settled = equal_answers();
    same = same && equal == queries.size() && equal_settled == queries.size();
    loads.push_back({{"load_s", load_s},
                     {"mapped_bytes", mapped},
                     {"settle_s", settle_s},
                     {"answers_equal_to_the_built_index", equal},
                     {"answers_equal_after_settling", equal_settled}});
    std::printf("snapshot load %zu: %.3f s (%.1f MB left mapped, copied by maintain() in %.3f s); "
                "%zu and %zu of %zu answers (k %zu) equal to the built index's\n",
                l + 1, load_s, static_cast<double>(mapped) / 1e6, settle_s, equal, equal_settled,
                queries.size(), k);
  }
  std::error_code ignored;
  const auto bytes = std::filesystem::file_size(o.snapshot_path, ignored);
  std::filesystem::remove(o.snapshot_path, ignored);
  std::printf("snapshot save: %.3f s, %.1f MB\n", save_s, static_cast<double>(bytes) / 1e6);
  out["snapshot"] = {{"save_s", save_s}, {"bytes", bytes}, {"loads", loads}};
  return same;
}

int run_sparse_bench(const sparse_bench_options& o) {
  profile one;
  one.embedders.push_back(embedder{"E6", embedder_kind::sparse, o.vocabulary, metric::dot});
  auto index = storage::make_vector_index(one.embedders[0], storage::index_options{});
  synthetic data{one, o.clusters, o.seed, synthetic_sparse_shape{o.pool, o.draws}};
  // The documents in CSR form for the exact scan.
  std::vector<uint32_t> terms;
  std::vector<float> weights;
  std::vector<size_t> starts{0};
  auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < o.n; ++i) {
    auto e = data.make(0, i % o.clusters);
    terms.insert(terms.end(), e.indices.begin(), e.indices.end());
    weights.insert(weights.end(), e.values.begin(), e.values.end());
    starts.push_back(terms.size());
    index->upsert(document_id(i), e);
  }
  const double build_s = seconds_since(started);
  std::vector<embedding> queries;
  for (size_t q = 0; q < o.queries; ++q)
    queries.push_back(data.make(0, q % o.clusters));

  json out;
  out["n"] = o.n;
  out["queries"] = o.queries;
  out["terms_per_document"] = static_cast<double>(terms.size()) / static_cast<double>(o.n);
  out["build_s"] = build_s;
  std::cerr << "telos-bench sparse: " << o.n << " documents, "
            << static_cast<double>(terms.size()) / static_cast<double>(o.n)
            << " terms each on average, built in " << build_s << " s\n";

  // The process's first sparse search makes and sizes a scratch (later ones reuse it): timed apart.
  started = std::chrono::steady_clock::now();
  auto first = index->search(queries[0], o.k.front());
  out["first_search_ms"] = seconds_since(started) * 1000;

  json per_k = json::array();
  bool all_equal = true;
  for (auto k : o.k) {
    double best_ms = 0;
    for (size_t r = 0; r < o.repeat; ++r) {
      started = std::chrono::steady_clock::now();
      size_t found = 0;
      for (const auto& q : queries)
        found += index->search(q, k).size();
      double ms = seconds_since(started) * 1000 / static_cast<double>(queries.size());
      if (r == 0 || ms < best_ms) best_ms = ms;
      if (found == 0) throw std::runtime_error{"the index found nothing"};
    }
    const size_t exact_n = std::min(o.exact_queries, queries.size());
    double exact_ms = 0;
    size_t equal = 0;
    for (size_t q = 0; q < exact_n; ++q) {
      const auto& query = queries[q];
      started = std::chrono::steady_clock::now();
      storage::kernels::top_k best{k};
      for (size_t d = 0; d < o.n; ++d) {
        float s = storage::kernels::sparse_dot(
            query.indices.data(), query.values.data(), query.indices.size(),
            terms.data() + starts[d], weights.data() + starts[d], starts[d + 1] - starts[d]);
        if (s != 0.0f && best.admits(s)) best.push(document_id(d), s);
      }
      auto exact = best.take();
      exact_ms += seconds_since(started) * 1000;
      auto got = index->search(query, k);
      bool same = got.size() == exact.size();
      for (size_t i = 0; same && i < got.size(); ++i)
        same = got[i].id == exact[i].id && got[i].score == exact[i].score;
      equal += same ? 1 : 0;
    }
    exact_ms /= static_cast<double>(std::max<size_t>(exact_n, 1));
    all_equal = all_equal && equal == exact_n;
    per_k.push_back({{"k", k},
                     {"index_ms_per_search", best_ms},
                     {"exact_scan_ms_per_search", exact_ms},
                     {"ratio_to_exact_scan", best_ms / exact_ms},
                     {"answers_equal_to_the_scan", equal},
                     {"answers_checked", exact_n}});
    std::printf("k %zu: index %.3f ms per search (best of %zu passes over %zu queries), exact scan "
                "%.2f ms (%zu queries), ratio %.4f; %zu of %zu answers equal to the scan's\n",
                k, best_ms, o.repeat, queries.size(), exact_ms, exact_n, best_ms / exact_ms, equal,
                exact_n);
  }
  std::printf("first search (makes the scratch of sums): %.3f ms\n",
              out["first_search_ms"].get<double>());
  out["per_k"] = per_k;
  if (!o.snapshot_path.empty())
    all_equal = time_snapshot(o, one.embedders[0], *index, queries, out) && all_equal;
  if (!o.json_path.empty()) std::ofstream{o.json_path} << out.dump(2) << "\n";
  std::cout << out.dump(2) << "\n";
  return all_equal && !first.empty() ? 0 : 1;
}

const registrar sparse_command{
    {"sparse",
     "sparse index (E6, E13) vs an exact scan of the same documents: query time per k, the "
     "first search apart, answers checked",
     [](CLI::App& sub) -> std::function<int()> {
       auto options = std::make_shared<sparse_bench_options>();
       sub.add_option("--n", options->n, "Documents")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{100000000}));
       sub.add_option("--queries", options->queries, "Queries timed")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{100000}));
       sub.add_option("--exact-queries", options->exact_queries,
                      "Of those, answered by the exact scan too (timed, answers compared)")
           ->capture_default_str();
       sub.add_option("--k", options->k, "Results per search, values to measure")
           ->capture_default_str()
           ->delimiter(',');
       sub.add_option("--vocabulary", options->vocabulary, "Vocabulary size (the embedder's dim)")
           ->capture_default_str()
           ->check(CLI::Range(uint32_t{1}, uint32_t{1} << 30));
       sub.add_option("--clusters", options->clusters, "Clusters of the data")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{1} << 20));
       sub.add_option("--pool", options->pool, "Terms in each cluster's pool")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{1} << 20));
       sub.add_option("--draws", options->draws, "Terms drawn per document (before duplicates go)")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{1} << 16));
       sub.add_option("--repeat", options->repeat, "Passes over the queries per k (best counts)")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{100}));
       sub.add_option("--seed", options->seed, "Data seed")->capture_default_str();
       sub.add_option("--json", options->json_path, "Also write the results as JSON here");
       sub.add_option("--snapshot", options->snapshot_path,
                      "Also save the index to this file and time loads of it (answers compared "
                      "with the built index's; the file is removed)");
       sub.add_option("--loads", options->loads, "Loads of the snapshot to time")
           ->capture_default_str()
           ->check(CLI::Range(size_t{1}, size_t{100}));
       return [options] {
         try {
           return run_sparse_bench(*options);
         } catch (const std::exception& e) {
           std::cerr << "telos-bench sparse: " << e.what() << "\n";
           return 2;
         }
       };
     }}};

} // namespace

} // namespace telos::bench
