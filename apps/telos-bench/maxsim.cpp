// telos-bench maxsim: the multi-vector (E12) index above its threshold (token centroids, probed
// lists re-scored exactly) against the exact MaxSim scan, in one process, on the same synthetic
// clustered multi-vector data, one thread: recall@k against the exact answer and query time as a
// ratio to the exact scan's, per nprobe and oversample, plus the time to train and file. The
// centroid index is built once and saved; each (nprobe, oversample) pair loads that snapshot into
// an index with those options, so every setting searches the same centroids. --reader re-scores
// from a reader of the originals (as a shard does) instead of f32 rows in the index; --train-n
// trains the centroids on the first memories only and files the rest under them (drift).
#include "bench_command.hpp"
#include "timing.hpp"

#include "telos/storage/vector_index.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <unistd.h>

namespace telos::bench {

namespace {

using json = nlohmann::json;

struct maxsim_bench_options {
  size_t n = 50000;
  size_t queries = 200;
  size_t k = 10;
  uint32_t dim = 128;
  /// Tokens per memory, uniform in [min_tokens, max_tokens] (the benchmarks' E12: 4-8).
  size_t min_tokens = 4;
  size_t max_tokens = 8;
  /// Query tokens, uniform in the same way.
  size_t min_query_tokens = 4;
  size_t max_query_tokens = 8;
  /// Topics (a memory's tokens come from its topic's token centres) and token centres in all.
  size_t topics = 1000;
  size_t token_centres = 4096;
  size_t centres_per_topic = 8;
  float noise = 0.6f;
  std::vector<size_t> nprobe = {1, 2, 4, 8};
  std::vector<size_t> oversample = {8, 32, 128};
  /// 0: the index's default (4 x the square root of the token count).
  size_t centroids = 0;
  size_t repeat = 3;
  uint32_t seed = 7;
  /// Re-score from a reader of an in-memory copy of the originals, as a shard's index does from
  /// its vector keyspace (the copy costs a lookup and a copy per candidate, no disk read).
  bool reader = false;
  /// Train the centroids once the index holds this many memories (0: all n), then add and file
  /// the rest under them.
  size_t train_n = 0;
  /// index_options::maxsim_retrain_growth (0: the centroids are never retrained).
  size_t retrain_growth = storage::index_options{}.maxsim_retrain_growth;
  std::string json_path;
};

/// Multi-vector data with topic structure: every memory belongs to a topic, each of its tokens is
/// one of the topic's token centres plus Gaussian noise, as a passage's tokens come from the
/// vocabulary of its subject and the same token recurs across subjects. Queries are drawn alike.
class topic_tokens {
public:
  explicit topic_tokens(const maxsim_bench_options& o) : o_(o), rng_(o.seed) {
    std::normal_distribution<float> normal{0.0f, 1.0f};
    centres_.resize(o.token_centres * o.dim);
    for (auto& x : centres_)
      x = normal(rng_);
    std::uniform_int_distribution<size_t> pick{0, o.token_centres - 1};
    topics_.resize(o.topics);
    for (auto& t : topics_)
      for (size_t i = 0; i < o.centres_per_topic; ++i)
        t.push_back(pick(rng_));
  }

  embedding make(size_t min_tokens, size_t max_tokens) {
    std::uniform_int_distribution<size_t> count{min_tokens, max_tokens};
    std::uniform_int_distribution<size_t> topic{0, topics_.size() - 1};
    std::normal_distribution<float> noise{0.0f, o_.noise};
    const auto& pool = topics_[topic(rng_)];
    std::uniform_int_distribution<size_t> pick{0, pool.size() - 1};
    embedding e;
    auto tokens = count(rng_);
    e.values.reserve(tokens * o_.dim);
    for (size_t t = 0; t < tokens; ++t) {
      const float* centre = centres_.data() + pool[pick(rng_)] * o_.dim;
      for (size_t i = 0; i < o_.dim; ++i)
        e.values.push_back(centre[i] + noise(rng_));
    }
    return e;
  }

private:
  const maxsim_bench_options& o_;
  std::mt19937 rng_;
  std::vector<float> centres_;
  std::vector<std::vector<size_t>> topics_;
};

uuid maxsim_id_of(size_t n) {
  uuid id;
  id.bytes[0] = 0x42;
  for (int i = 0; i < 8; ++i)
    id.bytes[15 - i] = static_cast<uint8_t>(static_cast<uint64_t>(n) >> (8 * i));
  return id;
}

/// CPU seconds per query of a pass over all queries (this thread's CPU time: the machine may be
/// shared, and time other processes held the core is not the index's).
double time_pass(const storage::vector_index& index, const std::vector<embedding>& queries,
                 size_t k, std::vector<std::vector<hit>>* answers) {
  auto start = thread_cpu_seconds();
  for (size_t q = 0; q < queries.size(); ++q) {
    auto hits = index.search(queries[q], k);
    if (answers != nullptr) (*answers)[q] = std::move(hits);
  }
  return (thread_cpu_seconds() - start) / static_cast<double>(queries.size());
}

double mean_recall(const std::vector<std::vector<hit>>& got,
                   const std::vector<std::vector<hit>>& truth) {
  double sum = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    std::set<uuid> expected;
    for (const auto& h : truth[q])
      expected.insert(h.id);
    size_t found = 0;
    for (const auto& h : got[q])
      found += expected.count(h.id);
    sum +=
        expected.empty() ? 1.0 : static_cast<double>(found) / static_cast<double>(expected.size());
  }
  return sum / static_cast<double>(got.size());
}

int run_maxsim_bench(const maxsim_bench_options& o) {
  embedder spec{"E12", embedder_kind::multi, o.dim, metric::cosine};
  topic_tokens data{o};
  storage::index_options exact_options;
  exact_options.maxsim_threshold = std::numeric_limits<size_t>::max();
  storage::index_options centroid_options;
  centroid_options.maxsim_threshold = 1;
  centroid_options.maxsim_centroids = o.centroids;
  centroid_options.maxsim_retrain_growth = o.retrain_growth;
  std::unordered_map<uuid, embedding> originals;
  if (o.reader)
    centroid_options.originals = [&originals](const embedder&, const std::vector<uuid>& ids)
        -> expected<std::vector<std::optional<embedding>>> {
      std::vector<std::optional<embedding>> out;
      out.reserve(ids.size());
      for (const auto& id : ids) {
        auto it = originals.find(id);
        out.push_back(it == originals.end() ? std::nullopt : std::optional<embedding>{it->second});
      }
      return out;
    };
  auto exact = storage::make_vector_index(spec, exact_options);
  auto built = storage::make_vector_index(spec, centroid_options);
  size_t tokens = 0;
  double generate_s = 0, build_s = 0, build_cpu_s = 0, trained_s = 0;
  size_t steps = 0;
  const size_t train_n = o.train_n == 0 ? o.n : std::min(o.train_n, o.n);
  // Adds memories [from, to), then trains (the first time) and files, in maintain() steps as an
  // index actor runs them.
  auto add = [&](size_t from, size_t to) {
    auto start = std::chrono::steady_clock::now();
    for (size_t i = from; i < to; ++i) {
      auto e = data.make(o.min_tokens, o.max_tokens);
      tokens += e.values.size() / o.dim;
      exact->upsert(maxsim_id_of(i), e);
      built->upsert(maxsim_id_of(i), e);
      if (o.reader) originals[maxsim_id_of(i)] = std::move(e);
    }
    generate_s += seconds_since(start);
    start = std::chrono::steady_clock::now();
    double cpu = thread_cpu_seconds();
    while (built->maintain(64) > 0) {
      ++steps;
      if (trained_s == 0 && built->stats().structure == "maxsim-centroids")
        trained_s = seconds_since(start);
    }
    build_s += seconds_since(start);
    build_cpu_s += thread_cpu_seconds() - cpu;
  };
  add(0, train_n);
  if (train_n < o.n) add(train_n, o.n);
  auto stats = built->stats();
  if (stats.structure != "maxsim-centroids" || stats.fresh != 0)
    throw std::runtime_error("the centroid index did not finish: structure " + stats.structure +
                             ", " + std::to_string(stats.fresh) + " fresh");
  // The serving centroids (trained at train_n, or retrained since as the index grew).
  size_t centroids = stats.centroids;
  auto snapshot = (std::filesystem::temp_directory_path() /
                   ("telos-bench-maxsim-" + std::to_string(::getpid()) + ".idx"))
                      .string();
  if (auto saved = built->save(snapshot); !saved)
    throw std::runtime_error("saving the centroid index failed: " + describe(saved.error()));
  built.reset();

  std::vector<embedding> queries;
  for (size_t q = 0; q < o.queries; ++q)
    queries.push_back(data.make(o.min_query_tokens, o.max_query_tokens));
  std::vector<std::vector<hit>> truth(queries.size());
  time_pass(*exact, queries, o.k, &truth);

  double load = 0;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = 0;
    std::fclose(f);
  }
  std::cout << "telos-bench maxsim: " << o.n << " memories, " << tokens << " tokens of " << o.dim
            << " (" << o.min_tokens << "-" << o.max_tokens << " per memory), " << o.queries
            << " queries of " << o.min_query_tokens << "-" << o.max_query_tokens << " tokens, k "
            << o.k << ", load average " << load << "\n"
            << "  centroid index: " << stats.memory_bytes / (1 << 20) << " MiB, exact index "
            << exact->stats().memory_bytes / (1 << 20) << " MiB; trained in " << std::fixed
            << std::setprecision(2) << trained_s << " s, trained and filed in " << build_s << " s ("
            << build_cpu_s << " s CPU, " << steps << " maintain calls, " << centroids
            << " centroids"
            << (train_n < o.n ? ", first trained at " + std::to_string(train_n) +
                                    (o.retrain_growth == 0 ? ", not retrained" : ", retrained")
                              : "")
            << (o.reader ? "; re-scored from a reader" : "; re-scored from f32 rows in RAM")
            << "); data made in " << generate_s << " s\n";
  std::cout << "  nprobe  oversample  recall@" << o.k
            << "   ms/query  exact ms/query  time ratio (centroids / exact; CPU time)\n";
  json out;
  out["n"] = o.n;
  out["tokens"] = tokens;
  out["dim"] = o.dim;
  out["k"] = o.k;
  out["queries"] = o.queries;
  out["load_average"] = load;
  out["train_s"] = trained_s;
  out["build_s"] = build_s;
  out["build_cpu_s"] = build_cpu_s;
  out["centroids"] = centroids;
  out["memory_bytes"] = stats.memory_bytes;
  out["memory_bytes_per_memory"] =
      static_cast<double>(stats.memory_bytes) / static_cast<double>(o.n);
  out["reader"] = o.reader;
  out["train_n"] = train_n;
  out["results"] = json::array();
  for (auto nprobe : o.nprobe)
    for (auto oversample : o.oversample) {
      auto options = centroid_options;
      options.maxsim_nprobe = nprobe;
      options.maxsim_oversample = oversample;
      auto index = storage::make_vector_index(spec, options);
      if (auto loaded = index->load(snapshot); !loaded) {
        std::remove(snapshot.c_str());
        throw std::runtime_error("loading the centroid index failed: " + describe(loaded.error()));
      }
      std::vector<std::vector<hit>> got(queries.size());
      // Alternating passes, the best of each side: the machine is shared.
      double ours = std::numeric_limits<double>::max();
      double theirs = std::numeric_limits<double>::max();
      for (size_t r = 0; r < o.repeat; ++r) {
        theirs = std::min(theirs, time_pass(*exact, queries, o.k, nullptr));
        ours = std::min(ours, time_pass(*index, queries, o.k, &got));
      }
      auto recall = mean_recall(got, truth);
      std::cout << "  " << std::setw(6) << nprobe << "  " << std::setw(10) << oversample << "  "
                << std::setprecision(4) << std::setw(9) << recall << "  " << std::setprecision(3)
                << std::setw(9) << ours * 1e3 << "  " << std::setw(14) << theirs * 1e3 << "  "
                << std::setw(10) << ours / theirs << "\n";
      out["results"].push_back({{"nprobe", nprobe},
                                {"oversample", oversample},
                                {"recall", recall},
                                {"ms_per_query", ours * 1e3},
                                {"exact_ms_per_query", theirs * 1e3},
                                {"time_ratio", ours / theirs}});
    }
  std::remove(snapshot.c_str());
  if (!o.json_path.empty()) {
    std::ofstream file{o.json_path};
    file << out.dump(2) << "\n";
    if (!file) throw std::runtime_error("cannot write " + o.json_path);
  }
  return 0;
}

const registrar maxsim_registration{command{
    "maxsim",
    "Multi-vector (E12) index with token centroids vs the exact MaxSim scan on synthetic "
    "clustered multi-vector data (same process, one thread): recall@k and query time ratio per "
    "nprobe and oversample, training and filing time",
    [](CLI::App& sub) {
      auto options = std::make_shared<maxsim_bench_options>();
      sub.add_option("--n", options->n, "Memories")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{10000000}));
      sub.add_option("--queries", options->queries, "Queries")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100000}));
      sub.add_option("--k", options->k, "Results per query")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{1000}));
      sub.add_option("--dim", options->dim, "Token dimension")
          ->capture_default_str()
          ->check(CLI::Range(uint32_t{1}, uint32_t{4096}));
      sub.add_option("--min-tokens", options->min_tokens, "Fewest tokens per memory")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{4096}));
      sub.add_option("--max-tokens", options->max_tokens, "Most tokens per memory")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{4096}));
      sub.add_option("--min-query-tokens", options->min_query_tokens, "Fewest tokens per query")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{4096}));
      sub.add_option("--max-query-tokens", options->max_query_tokens, "Most tokens per query")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{4096}));
      sub.add_option("--topics", options->topics, "Topics of the synthetic data")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{1} << 20));
      sub.add_option("--token-centres", options->token_centres,
                     "Token centres the topics draw from")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{1} << 20));
      sub.add_option("--centres-per-topic", options->centres_per_topic,
                     "Token centres of one topic")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{4096}));
      sub.add_option("--noise", options->noise, "Standard deviation of a token around its centre")
          ->capture_default_str()
          ->check(CLI::Range(0.0f, 100.0f));
      sub.add_option("--nprobe", options->nprobe, "Centroids probed per query token")
          ->capture_default_str()
          ->delimiter(',');
      sub.add_option("--oversample", options->oversample,
                     "Candidates re-scored exactly per result (k * oversample)")
          ->capture_default_str()
          ->delimiter(',');
      sub.add_option("--centroids", options->centroids,
                     "Centroids to train (0: the index's default, 4 x sqrt of the token count)")
          ->capture_default_str();
      sub.add_option("--repeat", options->repeat, "Alternating passes per setting (best counts)")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100}));
      sub.add_option("--seed", options->seed, "Data seed")->capture_default_str();
      sub.add_option("--json", options->json_path, "Also write the results as JSON here");
      sub.add_flag("--reader", options->reader,
                   "Re-score from a reader of the originals (an in-memory copy, as a shard's "
                   "vector keyspace) instead of f32 rows held by the index");
      sub.add_option("--train-n", options->train_n,
                     "Train the centroids at this many memories and file the rest under them "
                     "(0: train at --n)")
          ->capture_default_str();
      sub.add_option("--retrain-growth", options->retrain_growth,
                     "Retrain the centroids once the tokens grew this many times since training "
                     "(0: never)")
          ->capture_default_str();
      return [options] {
        if (options->min_tokens > options->max_tokens ||
            options->min_query_tokens > options->max_query_tokens) {
          std::cerr << "telos-bench maxsim: --min-tokens/--min-query-tokens exceed their maximum\n";
          return 2;
        }
        try {
          return run_maxsim_bench(*options);
        } catch (const std::exception& e) {
          std::cerr << "telos-bench maxsim: " << e.what() << "\n";
          return 2;
        }
      };
    }}};

} // namespace

} // namespace telos::bench
