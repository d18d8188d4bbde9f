// Clustered synthetic teleo13-style data shared by telos-bench's engine and scale benchmarks:
// seeded, so the same seed gives the same memories in the same order in every process.
#pragma once

#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace telos::bench {

/// The shape of synthetic sparse embeddings: each cluster's pool of terms, and the terms drawn from
/// it per embedding (duplicates then removed).
struct synthetic_sparse_shape {
  size_t pool = 256;
  size_t draws = 48;
};

/// Clustered synthetic embeddings: every memory belongs to a cluster, and each of its embeddings
/// lies near that cluster's centre for the embedder (dense and multi tokens: centre + noise;
/// sparse: terms drawn from the cluster's term pool).
class synthetic {
public:
  synthetic(profile p, size_t clusters, uint32_t seed, synthetic_sparse_shape sparse = {})
      : profile_(std::move(p)), sparse_(sparse), gen_(seed) {
    std::normal_distribution<float> normal{0.0f, 1.0f};
    std::uniform_int_distribution<uint32_t> term;
    for (const auto& spec : profile_.embedders) {
      std::vector<std::vector<float>> centres(clusters);
      std::vector<std::vector<uint32_t>> pools(clusters);
      for (size_t c = 0; c < clusters; ++c) {
        if (spec.kind == embedder_kind::sparse) {
          std::uniform_int_distribution<uint32_t> any{0, spec.dim - 1};
          for (size_t t = 0; t < sparse_.pool; ++t)
            pools[c].push_back(any(gen_));
        } else {
          centres[c].resize(spec.dim);
          for (auto& x : centres[c])
            x = normal(gen_);
        }
      }
      centres_.push_back(std::move(centres));
      pools_.push_back(std::move(pools));
    }
  }

  embedding make(size_t embedder, size_t cluster) {
    const auto& spec = profile_.embedders[embedder];
    std::normal_distribution<float> noise{0.0f, 0.6f};
    embedding e;
    switch (spec.kind) {
    case embedder_kind::dense:
      e.values = centres_[embedder][cluster];
      for (auto& x : e.values)
        x += noise(gen_);
      break;
    case embedder_kind::multi: {
      auto tokens = std::uniform_int_distribution<int>{4, 8}(gen_);
      for (int t = 0; t < tokens; ++t)
        for (auto x : centres_[embedder][cluster])
          e.values.push_back(x + noise(gen_));
      break;
    }
    case embedder_kind::sparse: {
      std::vector<uint32_t> terms;
      std::uniform_int_distribution<size_t> pick{0, pools_[embedder][cluster].size() - 1};
      for (size_t t = 0; t < sparse_.draws; ++t)
        terms.push_back(pools_[embedder][cluster][pick(gen_)]);
      std::sort(terms.begin(), terms.end());
      terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
      std::uniform_real_distribution<float> weight{0.1f, 1.0f};
      e.indices = terms;
      for (size_t i = 0; i < terms.size(); ++i)
        e.values.push_back(weight(gen_));
      break;
    }
    }
    return e;
  }

  memory make_memory(size_t i) {
    memory m;
    m.id = uuid::random();
    m.ns = "bench";
    m.content = "synthetic memory " + std::to_string(i);
    m.attributes["cluster"] = std::to_string(i % centres_[0].size());
    m.created_at = 1'700'000'000'000 + static_cast<int64_t>(i);
    m.updated_at = m.created_at;
    for (size_t e = 0; e < profile_.embedders.size(); ++e)
      m.embeddings[profile_.embedders[e].name] = make(e, i % centres_[0].size());
    return m;
  }

  const profile& prof() const { return profile_; }
  size_t clusters() const { return centres_[0].size(); }
  /// Restarts the noise (not the centres) from `seed`: queries near the same clusters as the data,
  /// drawn independently of it.
  void reseed(uint32_t seed) { gen_.seed(seed); }

private:
  profile profile_;
  synthetic_sparse_shape sparse_;
  std::mt19937 gen_;
  std::vector<std::vector<std::vector<float>>> centres_;
  std::vector<std::vector<std::vector<uint32_t>>> pools_;
};

} // namespace telos::bench
