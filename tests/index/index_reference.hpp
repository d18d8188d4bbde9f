// What the vector index tests compare against: scores computed here, independently of the
// library (double precision, written from the definitions), brute-force top-k, deterministic
// data, and checks that a result is an exact top-k.
#pragma once

#include "telos/messages/search.hpp"
#include "telos/storage/vector_index.hpp"

#include <boost/test/unit_test.hpp>

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace index_test {

using telos::embedding;
using telos::hit;
using telos::uuid;

/// A deterministic, non-nil id; ids compare like their numbers.
inline uuid id_of(uint64_t n) {
  uuid id;
  id.bytes[0] = 0x42;
  for (int i = 0; i < 8; ++i)
    id.bytes[15 - i] = static_cast<uint8_t>(n >> (8 * i));
  return id;
}

inline telos::embedder dense_spec(uint32_t dim, telos::metric m) {
  telos::embedder e;
  e.name = "dense";
  e.kind = telos::embedder_kind::dense;
  e.dim = dim;
  e.metric = m;
  return e;
}

inline telos::embedder sparse_spec(uint32_t vocabulary) {
  telos::embedder e;
  e.name = "sparse";
  e.kind = telos::embedder_kind::sparse;
  e.dim = vocabulary;
  e.metric = telos::metric::dot;
  return e;
}

inline telos::embedder multi_spec(uint32_t dim) {
  telos::embedder e;
  e.name = "multi";
  e.kind = telos::embedder_kind::multi;
  e.dim = dim;
  e.metric = telos::metric::cosine;
  return e;
}

// --- Reference scores, straight from the definitions ---------------------------------------

inline double reference_dense(telos::metric m, const std::vector<float>& q,
                              const std::vector<float>& v) {
  double dot = 0, qq = 0, vv = 0, squared_distance = 0;
  // Plain pointers: in the sanitizer trees (-O0) the vectors' operator[] calls were most of the
  // time of the index suites' brute-force references.
  const float* a = q.data();
  const float* b = v.data();
  for (size_t i = 0, n = q.size(); i < n; ++i) {
    const double x = a[i], y = b[i];
    dot += x * y;
    qq += x * x;
    vv += y * y;
    const double d = x - y;
    squared_distance += d * d;
  }
  switch (m) {
  case telos::metric::cosine:
    return qq == 0 || vv == 0 ? 0 : dot / std::sqrt(qq * vv);
  case telos::metric::dot:
    return dot;
  case telos::metric::l2:
    return -std::sqrt(squared_distance);
  }
  return 0;
}

inline double reference_sparse(const embedding& q, const embedding& v) {
  std::map<uint32_t, double> weights;
  for (size_t i = 0; i < v.indices.size(); ++i)
    weights[v.indices[i]] = v.values[i];
  double sum = 0;
  for (size_t i = 0; i < q.indices.size(); ++i) {
    auto it = weights.find(q.indices[i]);
    if (it != weights.end()) sum += q.values[i] * it->second;
  }
  return sum;
}

/// True when the two share a term (only then is a sparse vector a candidate).
inline bool shares_term(const embedding& q, const embedding& v) {
  std::set<uint32_t> terms(v.indices.begin(), v.indices.end());
  return std::any_of(q.indices.begin(), q.indices.end(),
                     [&](uint32_t t) { return terms.count(t) != 0; });
}

inline double reference_maxsim(const embedding& q, const embedding& v, size_t dim) {
  size_t nq = q.values.size() / dim, nv = v.values.size() / dim;
  double total = 0;
  for (size_t i = 0; i < nq; ++i) {
    std::vector<float> qi(q.values.begin() + i * dim, q.values.begin() + (i + 1) * dim);
    double best = -1e300;
    for (size_t j = 0; j < nv; ++j) {
      std::vector<float> vj(v.values.begin() + j * dim, v.values.begin() + (j + 1) * dim);
      best = std::max(best, reference_dense(telos::metric::cosine, qi, vj));
    }
    total += best;
  }
  return total / static_cast<double>(nq);
}

// --- Brute force ---------------------------------------------------------------------------

struct scored {
  uuid id;
  double score;
};

/// Everything scored, best first (score descending, ties by id ascending).
inline std::vector<scored> rank(std::vector<scored> all) {
  std::sort(all.begin(), all.end(), [](const scored& a, const scored& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  return all;
}

/// Scores every stored embedding with `reference`, keeping those `keep` accepts.
inline std::vector<scored>
brute_force(const std::map<uuid, embedding>& stored,
            const std::function<double(const embedding&)>& reference,
            const std::function<bool(const uuid&, const embedding&)>& keep = nullptr) {
  std::vector<scored> all;
  for (const auto& [id, e] : stored)
    if (!keep || keep(id, e)) all.push_back(scored{id, reference(e)});
  return rank(std::move(all));
}

inline double tolerance(double score) {
  return 2e-4 * std::max(1.0, std::abs(score));
}

/// `got` is an exact top-k of `ranked`: the right length, sorted by telos::better, no
/// duplicates, every hit a candidate scored correctly, and position by position the score of
/// the exact top-k (so ids may differ only among equal scores, up to rounding).
inline void check_exact_top_k(const std::vector<hit>& got, const std::vector<scored>& ranked,
                              size_t k) {
  BOOST_REQUIRE_EQUAL(got.size(), std::min(k, ranked.size()));
  BOOST_CHECK(std::is_sorted(got.begin(), got.end(), telos::better));
  std::map<uuid, double> truth;
  for (const auto& s : ranked)
    truth[s.id] = s.score;
  std::set<uuid> seen;
  for (size_t i = 0; i < got.size(); ++i) {
    BOOST_CHECK(seen.insert(got[i].id).second);
    auto it = truth.find(got[i].id);
    BOOST_REQUIRE_MESSAGE(it != truth.end(), "hit " << i << " is not a candidate");
    BOOST_CHECK_SMALL(got[i].score - it->second, tolerance(it->second));
    BOOST_CHECK_SMALL(got[i].score - ranked[i].score, tolerance(ranked[i].score));
  }
}

/// Share of the exact top-k ids that `got` contains.
inline double recall(const std::vector<hit>& got, const std::vector<scored>& ranked, size_t k) {
  size_t n = std::min(k, ranked.size());
  if (n == 0) return 1;
  std::set<uuid> truth;
  for (size_t i = 0; i < n; ++i)
    truth.insert(ranked[i].id);
  size_t found = 0;
  for (const auto& h : got)
    found += truth.count(h.id);
  return static_cast<double>(found) / static_cast<double>(n);
}

// --- Data ----------------------------------------------------------------------------------

inline std::vector<float> gaussian(std::mt19937& rng, size_t dim, float sigma = 1.0f) {
  std::normal_distribution<float> normal{0.0f, sigma};
  std::vector<float> v(dim);
  for (auto& x : v)
    x = normal(rng);
  return v;
}

/// Points around `clusters` Gaussian centres (spread 0.35 per coordinate around unit-variance
/// centres), as embeddings.
class clustered_data {
public:
  clustered_data(size_t dim, size_t clusters, uint32_t seed) : dim_(dim), rng_(seed) {
    for (size_t c = 0; c < clusters; ++c)
      centres_.push_back(gaussian(rng_, dim));
  }

  std::vector<float> next() {
    std::uniform_int_distribution<size_t> pick{0, centres_.size() - 1};
    const auto& centre = centres_[pick(rng_)];
    auto v = gaussian(rng_, dim_, 0.35f);
    for (size_t i = 0; i < dim_; ++i)
      v[i] += centre[i];
    return v;
  }

private:
  size_t dim_;
  std::mt19937 rng_;
  std::vector<std::vector<float>> centres_;
};

inline embedding random_sparse(std::mt19937& rng, uint32_t vocabulary, size_t terms) {
  std::uniform_int_distribution<uint32_t> term{0, vocabulary - 1};
  std::uniform_real_distribution<float> weight{0.05f, 2.0f};
  std::set<uint32_t> chosen;
  while (chosen.size() < terms)
    chosen.insert(term(rng));
  embedding e;
  for (auto t : chosen) {
    e.indices.push_back(t);
    e.values.push_back(weight(rng));
  }
  return e;
}

inline embedding random_multi(std::mt19937& rng, size_t dim, size_t tokens) {
  embedding e;
  for (size_t t = 0; t < tokens; ++t) {
    auto v = gaussian(rng, dim);
    e.values.insert(e.values.end(), v.begin(), v.end());
  }
  return e;
}

/// A fresh directory under the system temp dir, removed with everything in it at the end.
/// The whole file at `path`.
inline std::string file_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A version-2 index snapshot's bytes as version 1 wrote them: without the zero padding after
/// the meta data, with version 1 in the header and the checksum computed again. Empty when
/// `v2` is not a version-2 snapshot with zero padding.
inline std::string as_version_1(const std::string& v2) {
  constexpr size_t header = 17; // magic, u32 version, u8 structure, u32 meta length
  if (v2.size() < header + 8) return {};
  uint32_t version = 0;
  uint32_t meta_length = 0;
  std::memcpy(&version, v2.data() + 8, sizeof(version));
  std::memcpy(&meta_length, v2.data() + 13, sizeof(meta_length));
  const size_t meta_end = header + meta_length;
  const size_t padded = (meta_end + 63) / 64 * 64;
  if (version != 2 || padded + 8 > v2.size()) return {};
  for (size_t i = meta_end; i < padded; ++i)
    if (v2[i] != '\0') return {};
  std::string old = v2.substr(0, meta_end) + v2.substr(padded, v2.size() - padded - 8);
  version = 1;
  std::memcpy(old.data() + 8, &version, sizeof(version));
  const uint64_t digest = XXH3_64bits(old.data(), old.size());
  old.append(reinterpret_cast<const char*>(&digest), sizeof(digest));
  return old;
}

class temp_dir {
public:
  temp_dir()
      : path_(std::filesystem::temp_directory_path() /
              ("telos-index-test-" + uuid::random().to_string())) {
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

/// Both indexes answer every query with the same top `k` hits, scores included.
inline void check_same_results(size_t k, const telos::storage::vector_index& a,
                               const telos::storage::vector_index& b,
                               const std::vector<embedding>& queries) {
  for (const auto& q : queries) {
    auto x = a.search(q, k);
    auto y = b.search(q, k);
    BOOST_REQUIRE_EQUAL(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      BOOST_CHECK(x[i].id == y[i].id);
      BOOST_CHECK_EQUAL(x[i].score, y[i].score);
    }
  }
}

/// maintain() until nothing is left to do, as an index actor does it: every training the index
/// hands out (begin_training) runs to its end at once and goes back. Returns how many went out.
inline size_t drain_handing_out_trainings(telos::storage::vector_index& index) {
  size_t handed_out = 0;
  for (;;) {
    if (auto training = index.begin_training()) {
      ++handed_out;
      // One at a time.
      BOOST_CHECK(!index.begin_training());
      std::atomic<bool> stop{false};
      BOOST_REQUIRE(training->run(stop));
      index.end_training(std::move(training));
      continue;
    }
    if (index.maintain(1) == 0) return handed_out;
  }
}

/// A dense embedder of dimension `dim` with index policy structure `s` and quantisation `q`.
inline telos::embedder policy_spec(uint32_t dim, telos::metric m, telos::quantization q,
                                   telos::index_structure s) {
  auto spec = dense_spec(dim, m);
  spec.index.quantization = q;
  spec.index.structure = s;
  return spec;
}

/// The bits of a float, to compare scores exactly.
inline uint32_t float_bits_of(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

/// An originals_visitor over `stored` (as a shard's vector keyspace serves it): each original is
/// copied into one scratch reused from id to id, as the shard's decodes it; counts the originals
/// it visited in `visited`; fails (ec::io_error, after visiting the first half) while `failing`.
inline telos::storage::originals_visitor visitor_over(const std::map<uuid, embedding>& stored,
                                                      size_t& visited, const bool& failing) {
  return [&stored, &visited,
          &failing](const telos::embedder&, const std::vector<uuid>& ids,
                    const telos::storage::original_visit& visit) -> telos::expected<void> {
    std::vector<float> scratch;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (failing && i >= ids.size() / 2)
        return telos::make_error(telos::ec::io_error, "visitor fails (test)");
      auto it = stored.find(ids[i]);
      if (it == stored.end()) continue;
      scratch.assign(it->second.values.begin(), it->second.values.end());
      visit(i, scratch.data(), scratch.size());
      ++visited;
    }
    return {};
  };
}

/// A dense index over a map of originals its reader serves, as a shard's vector keyspace does;
/// counts the ids it was asked for.
struct originals_fixture {
  originals_fixture(const telos::embedder& spec, telos::storage::index_options opts) : spec(spec) {
    opts.originals = [this](const telos::embedder&, const std::vector<uuid>& ids) {
      std::vector<std::optional<embedding>> out;
      for (const auto& id : ids) {
        auto it = stored.find(id);
        out.push_back(it == stored.end() ? std::nullopt : std::optional<embedding>{it->second});
      }
      fetched += ids.size();
      return telos::expected<std::vector<std::optional<embedding>>>{std::move(out)};
    };
    index = telos::storage::make_vector_index(spec, opts);
  }

  void put(const uuid& id, std::vector<float> v) {
    index->upsert(id, embedding::dense(v));
    stored[id] = embedding::dense(std::move(v));
  }

  void drop(const uuid& id) {
    BOOST_CHECK(index->remove(id));
    stored.erase(id);
  }

  void drain() {
    while (index->maintain(1000) > 0) {
    }
  }

  std::vector<scored> truth(const std::vector<float>& q) const {
    return brute_force(
        stored, [&](const embedding& e) { return reference_dense(spec.metric, q, e.values); });
  }

  /// Mean recall@10 over `queries` drawn by `next`; every reported score must be exact.
  template <class Next>
  double mean_recall(Next next, int queries) {
    double sum = 0;
    for (int query = 0; query < queries; ++query) {
      auto qv = next();
      auto got = index->search(embedding::dense(qv), 10);
      for (const auto& h : got) {
        BOOST_REQUIRE(stored.count(h.id) == 1);
        auto exact = reference_dense(spec.metric, qv, stored.at(h.id).values);
        BOOST_CHECK_SMALL(h.score - exact, tolerance(exact));
      }
      sum += recall(got, truth(qv), 10);
    }
    return sum / queries;
  }

  telos::embedder spec;
  std::unique_ptr<telos::storage::vector_index> index;
  std::map<uuid, embedding> stored;
  size_t fetched = 0;
};

/// An index_options::run_parts that runs every part on a thread of its own (as a shard's read
/// pool runs them at once) and counts the splits and the parts. Shared, so that copies of the
/// options count into the same place.
struct threaded_parts {
  std::shared_ptr<std::atomic<size_t>> runs = std::make_shared<std::atomic<size_t>>(0);
  std::shared_ptr<std::atomic<size_t>> parts_run = std::make_shared<std::atomic<size_t>>(0);

  telos::storage::parts_runner runner() const {
    return [runs = runs, parts_run = parts_run](size_t parts,
                                                const std::function<void(size_t)>& part) {
      ++*runs;
      std::vector<std::thread> threads;
      for (size_t i = 0; i < parts; ++i)
        threads.emplace_back([&, i] {
          part(i);
          ++*parts_run;
        });
      for (auto& t : threads)
        t.join();
    };
  }
};

} // namespace index_test
