// Deterministic ids, memories, queries and writer operation sequences for telos-stress.
#include "workload.hpp"

#include <xxhash.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace telos::stress {

namespace {

/// Clusters per embedder: memories of one cluster are near each other, so searches have real
/// neighbourhoods to find instead of uniform noise where every answer is equally far.
constexpr uint64_t cluster_count = 16;
/// Terms each sparse cluster favours.
constexpr uint64_t terms_per_pool = 64;

} // namespace

uint64_t mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t words[4] = {a, b, c, d};
  return XXH3_64bits_withSeed(words, sizeof(words), 0x7e105);
}

expected<profile> load_profile(const std::string& name_or_file) {
  if (name_or_file == "teleo13") return profile::teleo13();
  if (name_or_file == "small") {
    profile p;
    p.name = "small";
    p.embedders = {
        {"E1", embedder_kind::dense, 64, metric::cosine},
        {"E2", embedder_kind::dense, 32, metric::dot},
        {"E3", embedder_kind::dense, 16, metric::l2},
        {"E4", embedder_kind::sparse, 5000, metric::dot},
        {"E5", embedder_kind::multi, 16, metric::cosine},
    };
    return p;
  }
  return profile::load(name_or_file);
}

generator::generator(telos::profile p, uint64_t seed, uint64_t memories)
    : profile_(std::move(p)), seed_(seed) {
  ids_.reserve(memories);
  for (uint64_t n = 0; n < memories; ++n) {
    auto h = XXH3_128bits_withSeed(&n, sizeof(n), seed);
    uuid id;
    for (size_t i = 0; i < 8; ++i) {
      id.bytes[i] = static_cast<uint8_t>(h.high64 >> (56 - 8 * i));
      id.bytes[8 + i] = static_cast<uint8_t>(h.low64 >> (56 - 8 * i));
    }
    id.bytes[6] = static_cast<uint8_t>((id.bytes[6] & 0x0F) | 0x40);
    id.bytes[8] = static_cast<uint8_t>((id.bytes[8] & 0x3F) | 0x80);
    numbers_.emplace(id, n);
    ids_.push_back(id);
  }
  centres_.resize(profile_.embedders.size());
  term_pools_.resize(profile_.embedders.size());
  for (size_t e = 0; e < profile_.embedders.size(); ++e) {
    const auto& spec = profile_.embedders[e];
    for (uint64_t c = 0; c < cluster_count; ++c) {
      rng r{mix(seed_, 0xC0FFEE, e, c)};
      if (spec.kind == embedder_kind::sparse) {
        std::vector<uint32_t> pool;
        for (uint64_t t = 0; t < terms_per_pool; ++t)
          pool.push_back(static_cast<uint32_t>(r.below(spec.dim)));
        term_pools_[e].push_back(std::move(pool));
      } else {
        std::vector<float> centre(spec.dim);
        for (auto& x : centre)
          x = r.uniform(-1.0f, 1.0f);
        centres_[e].push_back(std::move(centre));
      }
    }
  }
}

int64_t generator::number(const uuid& id) const {
  auto i = numbers_.find(id);
  return i == numbers_.end() ? -1 : static_cast<int64_t>(i->second);
}

embedding generator::make_embedding(size_t e, uint64_t cluster, uint64_t noise_seed) const {
  const auto& spec = profile_.embedders[e];
  rng r{noise_seed};
  switch (spec.kind) {
  case embedder_kind::dense: {
    const auto& centre = centres_[e][cluster];
    std::vector<float> v(spec.dim);
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = centre[i] + 0.6f * r.uniform(-1.0f, 1.0f);
    return embedding::dense(std::move(v));
  }
  case embedder_kind::sparse: {
    const auto& pool = term_pools_[e][cluster];
    std::set<uint32_t> terms;
    auto wanted = 8 + r.below(24);
    while (terms.size() < wanted) {
      // Two thirds of the terms from the cluster's pool, the rest from the whole vocabulary.
      if (r.below(3) < 2)
        terms.insert(pool[r.below(pool.size())]);
      else
        terms.insert(static_cast<uint32_t>(r.below(spec.dim)));
    }
    std::vector<uint32_t> indices(terms.begin(), terms.end());
    std::vector<float> weights(indices.size());
    for (auto& w : weights)
      w = r.uniform(0.05f, 1.0f);
    return embedding::sparse(std::move(indices), std::move(weights));
  }
  case embedder_kind::multi: {
    const auto& centre = centres_[e][cluster];
    auto tokens = 2 + r.below(7);
    std::vector<float> values;
    values.reserve(tokens * spec.dim);
    for (uint64_t t = 0; t < tokens; ++t)
      for (size_t i = 0; i < spec.dim; ++i)
        values.push_back(centre[i] + 0.8f * r.uniform(-1.0f, 1.0f));
    return embedding{std::move(values), {}};
  }
  }
  return {};
}

memory generator::make(uint64_t n, uint32_t version) const {
  memory m;
  m.id = ids_[n];
  m.ns = namespace_of(n);
  m.content = "stress memory " + std::to_string(n) + " version " + std::to_string(version);
  m.attributes = {{"n", std::to_string(n)}, {"v", std::to_string(version)}};
  m.created_at = 1700000000000 + static_cast<int64_t>(n) * 1000;
  m.updated_at = m.created_at + version;
  auto cluster = mix(seed_, n) % cluster_count;
  for (size_t e = 0; e < profile_.embedders.size(); ++e)
    m.embeddings[profile_.embedders[e].name] =
        make_embedding(e, cluster, mix(seed_, n, version, e));
  return m;
}

embedding generator::make_embedding_of(uint64_t n, uint32_t version, size_t e) const {
  return make_embedding(e, mix(seed_, n) % cluster_count, mix(seed_, n, version, e));
}

embedding generator::make_query(size_t embedder_index, uint64_t salt) const {
  rng r{mix(seed_, 0x9E7, embedder_index, salt)};
  auto cluster = r.below(cluster_count);
  return make_embedding(embedder_index, cluster, r.next());
}

bool generator::decode(const memory& m, uint64_t& n, uint32_t& version) {
  auto ni = m.attributes.find("n");
  auto vi = m.attributes.find("v");
  if (ni == m.attributes.end() || vi == m.attributes.end()) return false;
  try {
    n = std::stoull(ni->second);
    version = static_cast<uint32_t>(std::stoul(vi->second));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

const char* to_string(op_kind kind) {
  switch (kind) {
  case op_kind::put:
    return "put";
  case op_kind::batch:
    return "batch";
  case op_kind::update:
    return "update";
  case op_kind::remove:
    return "delete";
  }
  return "?";
}

writer_script::writer_script(uint64_t seed, uint32_t writer, uint32_t writers, uint64_t memories,
                             uint32_t max_batch)
    : rng_(mix(seed, 0x3417E5, writer)), writer_(writer), writers_(writers), memories_(memories),
      max_batch_(max_batch < 2 ? 2 : max_batch) {}

std::vector<uint64_t> writer_script::owned() const {
  std::vector<uint64_t> result;
  for (uint64_t n = writer_; n < memories_; n += writers_)
    result.push_back(n);
  return result;
}

write_op writer_script::next(const std::vector<id_state>& state) {
  auto owned_count = (memories_ - writer_ + writers_ - 1) / writers_;
  auto pick = [&] { return writer_ + rng_.below(owned_count) * writers_; };
  auto current = [&](uint64_t n) { return state[n]; };
  write_op op;
  auto roll = rng_.below(100);
  if (roll < 40) {
    op.kind = op_kind::put;
  } else if (roll < 60) {
    op.kind = op_kind::batch;
  } else if (roll < 85) {
    op.kind = op_kind::update;
  } else {
    op.kind = op_kind::remove;
  }
  if (op.kind == op_kind::batch) {
    auto size = std::min<uint64_t>(2 + rng_.below(max_batch_ - 1), owned_count);
    std::set<uint64_t> chosen;
    // Bounded attempts keep next() finite even when the writer owns very few ids.
    for (int attempt = 0; chosen.size() < size && attempt < 64; ++attempt)
      chosen.insert(pick());
    for (auto n : chosen) {
      op.ids.push_back(n);
      op.versions.push_back(current(n).version + 1);
    }
    return op;
  }
  auto n = pick();
  // Update and delete need a present memory: a few more draws find one while the store fills
  // up; failing that they become a put.
  if (op.kind == op_kind::update || op.kind == op_kind::remove)
    for (int attempt = 0; attempt < 8 && !current(n).present; ++attempt)
      n = pick();
  auto now = current(n);
  if ((op.kind == op_kind::update || op.kind == op_kind::remove) && !now.present)
    op.kind = op_kind::put;
  op.ids.push_back(n);
  op.versions.push_back(op.kind == op_kind::remove ? now.version : now.version + 1);
  return op;
}

void writer_script::apply(const write_op& op, std::vector<id_state>& state) {
  for (size_t i = 0; i < op.ids.size(); ++i) {
    auto& s = state.at(op.ids[i]);
    if (op.kind == op_kind::remove) {
      s.present = false;
    } else {
      s.version = op.versions[i];
      s.present = true;
    }
  }
}

} // namespace telos::stress
