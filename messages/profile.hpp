// A store's profile: the ordered list of embedders every memory carries one embedding for.
// Fixed at creation and persisted in the store's metadata.
#pragma once

#include "telos/messages/error.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

const char* to_string(embedder_kind kind);
const char* to_string(metric m);
/// Inverse of to_string ("dense", "sparse", "multi"); nullopt for anything else.
std::optional<embedder_kind> parse_embedder_kind(std::string_view text);
/// Inverse of to_string ("cosine", "dot", "l2"); nullopt for anything else.
std::optional<metric> parse_metric(std::string_view text);

struct embedder {
  std::string name;
  embedder_kind kind = embedder_kind::dense;
  /// dense: dimension; sparse: vocabulary size; multi: token dimension.
  uint32_t dim = 0;
  /// Meaningful for dense; sparse is always dot, multi always cosine MaxSim.
  telos::metric metric = metric::cosine;

  friend bool operator==(const embedder& a, const embedder& b) {
    return a.name == b.name && a.kind == b.kind && a.dim == b.dim && a.metric == b.metric;
  }
  friend bool operator!=(const embedder& a, const embedder& b) { return !(a == b); }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, kind, dim, metric);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, embedder& x) {
  return f(caf::meta::type_name("embedder"), x.name, x.kind, x.dim, x.metric);
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
  /// "embedders[2].dim: expected a positive integer, got -3".
  static expected<profile> from_json(std::string_view json);
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
  /// the profile name (<= 64 bytes of UTF-8). Errors name the entry and field, like from_json.
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
