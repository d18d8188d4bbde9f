// A store's profile: the ordered list of embedders every memory carries one embedding for.
// Fixed at creation and persisted in the store's metadata.
#pragma once

#include "telos/messages/error.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
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
  /// Parses {"embedders":[{"name":"E1","kind":"dense","dim":1024,"metric":"cosine"},...]}.
  /// Errors name the offending entry and field.
  static expected<profile> from_json(std::string_view json);
  std::string to_json() const;

  /// Position of the named embedder, or ec::invalid_argument naming it and the known names.
  expected<size_t> index_of(std::string_view embedder_name) const;
  /// Checks names (non-empty, unique, [A-Za-z0-9_.-], <= 64 chars), dims (> 0, dense <= 65536),
  /// at least one and at most 64 embedders.
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
