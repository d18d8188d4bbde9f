// A store's profile: the ordered list of embedders every memory carries one embedding for.
// Fixed at creation and persisted in the store's metadata.
#pragma once

#include "telos/messages/error.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace telos {

enum class embedder_kind : uint8_t {
  /// A fixed-size float vector.
  dense = 0,
  /// Term ids (< dim, the vocabulary size) with weights; scored by dot product.
  sparse = 1,
  /// A list of token vectors of size dim; scored by MaxSim (late interaction).
  multi = 2,
};

enum class metric : uint8_t { cosine = 0, dot = 1, l2 = 2 };

/// How a dense embedder's index is organised: "hnsw" is exact flat search below
/// index_options::hnsw_threshold vectors and an HNSW graph above it; "flat" stays exact; "ivf" is
/// exact below the threshold and an inverted file above it (k-means centroids, the vectors' codes
/// in one list per centroid, a search scans the lists of the centroids nearest to the query).
enum class index_structure : uint8_t { hnsw = 0, flat = 1, ivf = 2 };

/// The in-memory form of a dense embedder's vectors: f32 ("none"), int8 codes with one scale per
/// vector, or one sign bit per dimension ("binary"). A quantised index re-scores its candidates
/// from the f32 originals in the vector keyspace, so reported scores stay exact.
enum class quantization : uint8_t { none = 0, int8 = 1, binary = 2 };

/// An embedder's index policy. Zero numbers mean the engine's defaults (index_options).
struct index_policy {
  index_structure structure = index_structure::hnsw;
  telos::quantization quantization = quantization::none;
  /// HNSW links per node; 0 = index_options::hnsw_m.
  uint32_t m = 0;
  /// HNSW construction breadth; 0 = index_options::hnsw_ef_construction.
  uint32_t ef_construction = 0;
  /// A quantised search re-scores k * oversample candidates; 0 = the measured default of the
  /// quantisation and structure (int8: 2 for ivf and flat, 3 for hnsw, or
  /// index_options::int8_oversample; binary: 10; docs/ENGINE.md).
  uint32_t oversample = 0;

  friend bool operator==(const index_policy& a, const index_policy& b) {
    return a.structure == b.structure && a.quantization == b.quantization && a.m == b.m &&
           a.ef_construction == b.ef_construction && a.oversample == b.oversample;
  }
  friend bool operator!=(const index_policy& a, const index_policy& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_policy& x) {
  return f(caf::meta::type_name("index_policy"), x.structure, x.quantization, x.m,
           x.ef_construction, x.oversample);
}

const char* to_string(embedder_kind kind);
const char* to_string(metric m);
const char* to_string(index_structure s);
const char* to_string(quantization q);
/// Inverse of to_string ("dense", "sparse", "multi"); nullopt for anything else.
std::optional<embedder_kind> parse_embedder_kind(std::string_view text);
/// Inverse of to_string ("cosine", "dot", "l2"); nullopt for anything else.
std::optional<metric> parse_metric(std::string_view text);
/// Inverse of to_string ("hnsw", "flat", "ivf"); nullopt for anything else.
std::optional<index_structure> parse_index_structure(std::string_view text);
/// Inverse of to_string ("none", "int8", "binary"); nullopt for anything else.
std::optional<quantization> parse_quantization(std::string_view text);

struct embedder {
  embedder() = default;
  embedder(std::string name, embedder_kind kind, uint32_t dim, telos::metric metric,
           index_policy index = {})
      : name(std::move(name)), kind(kind), dim(dim), metric(metric), index(index) {}

  std::string name;
  embedder_kind kind = embedder_kind::dense;
  /// dense: dimension; sparse: vocabulary size; multi: token dimension.
  uint32_t dim = 0;
  /// Meaningful for dense; sparse is always dot, multi always cosine MaxSim.
  telos::metric metric = metric::cosine;
  /// Meaningful for dense; sparse and multi keep the default (validate() says so).
  index_policy index;

  friend bool operator==(const embedder& a, const embedder& b) {
    return a.name == b.name && a.kind == b.kind && a.dim == b.dim && a.metric == b.metric &&
           a.index == b.index;
  }
  friend bool operator!=(const embedder& a, const embedder& b) { return !(a == b); }

  /// Set in the stored kind byte when an index policy follows the metric. Embedders with the
  /// default policy are written exactly as before policies existed, so stores and snapshots of
  /// the previous format read back with the default policy (their old behaviour), and a build
  /// that predates policies refuses a store with one (unknown kind) instead of misreading it.
  static constexpr uint8_t policy_flag = 0x80;

  template <class Archive>
  void save(Archive& ar) const {
    bool with_policy = index != index_policy{};
    auto stored_kind =
        static_cast<uint8_t>(static_cast<uint8_t>(kind) | (with_policy ? policy_flag : 0));
    ar(name, stored_kind, dim, metric);
    if (with_policy)
      ar(index.structure, index.quantization, index.m, index.ef_construction, index.oversample);
  }

  template <class Archive>
  void load(Archive& ar) {
    uint8_t stored_kind = 0;
    ar(name, stored_kind, dim, metric);
    kind = static_cast<embedder_kind>(stored_kind & ~policy_flag);
    index = index_policy{};
    if ((stored_kind & policy_flag) != 0)
      ar(index.structure, index.quantization, index.m, index.ef_construction, index.oversample);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, embedder& x) {
  return f(caf::meta::type_name("embedder"), x.name, x.kind, x.dim, x.metric, x.index);
}

struct profile {
  /// "teleo13" for the built-in default, "custom" otherwise.
  std::string name;
  std::vector<embedder> embedders;

  /// The 13-embedder default layout (ARCHITECTURE.md).
  static profile teleo13();
  /// Parses {"name":"custom","embedders":[{"name":"E1","kind":"dense","dim":1024,
  /// "metric":"cosine"},{"name":"E6","kind":"sparse","dim":30522},...]}. "name" is optional
  /// (default "custom"), "metric" is optional (default cosine) and only allowed for dense
  /// embedders. The result is validated. Errors name the offending entry and field, e.g.
  /// "embedders[2].dim: expected a positive integer, got -3". A dense embedder may carry an index
  /// policy: "index" ("hnsw", "flat" or "ivf"), "quantization" ("none", "int8", "binary"), "m",
  /// "ef_construction", "oversample" (positive integers); absent fields keep the defaults.
  static expected<profile> from_json(std::string_view json);
  /// "teleo13" (the built-in layout) or the path of a profile JSON file, read and parsed as
  /// from_json does; errors name the file ("profile file 'p.json': embedders[2].dim: ...").
  static expected<profile> load(const std::string& name_or_path);
  /// The form from_json reads, on one line.
  std::string to_json() const;

  /// Position of the named embedder, or ec::invalid_argument naming it and the known names.
  expected<size_t> index_of(std::string_view embedder_name) const;
  /// The named embedder, or nullptr.
  const embedder* find(std::string_view embedder_name) const;
  /// The embedder names for messages: "E1..E13" when they are one prefix numbered
  /// consecutively, else all names separated by ", ".
  std::string name_list() const;
  /// Checks names (non-empty, unique, [A-Za-z0-9_.-], <= 64 chars), kinds and metrics (known
  /// values), dims (> 0; dense and multi <= 65536), at least one and at most 64 embedders, and
  /// the profile name (<= 64 bytes of UTF-8), and index policies (only dense embedders take one;
  /// binary needs cosine or dot; ivf takes no m or ef_construction; m in [2, 128], ef_construction
  /// in [1, 4096], oversample in [1, 1000] when set). Errors name the entry, the embedder and the
  /// field, like from_json.
  expected<void> validate() const;

  friend bool operator==(const profile& a, const profile& b) {
    return a.name == b.name && a.embedders == b.embedders;
  }
  friend bool operator!=(const profile& a, const profile& b) { return !(a == b); }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, embedders);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile& x) {
  return f(caf::meta::type_name("profile"), x.name, x.embedders);
}

} // namespace telos
