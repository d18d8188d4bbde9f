// Search requests, filters and results.
#pragma once

#include "telos/messages/memory.hpp"
#include "telos/messages/uuid.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace telos {

/// attribute key ∈ values (equality when one value).
struct attribute_predicate {
  std::string key;
  std::vector<std::string> values;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(key, values);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attribute_predicate& x) {
  return f(caf::meta::type_name("attribute_predicate"), x.key, x.values);
}

/// Conditions a memory must meet to be returned; all present conditions must hold.
struct filter {
  /// Empty = any namespace.
  std::string ns;
  std::vector<attribute_predicate> where;
  /// created_at >= after (inclusive), when set.
  std::optional<int64_t> created_after;
  /// created_at < before (exclusive), when set.
  std::optional<int64_t> created_before;

  bool empty() const { return ns.empty() && where.empty() && !created_after && !created_before; }
  /// True when the memory meets every condition.
  bool matches(const memory& m) const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, filter& x) {
  return f(caf::meta::type_name("filter"), x.ns, x.where, x.created_after, x.created_before);
}

/// One scored result. Higher score is better (cosine similarity, dot product, negative L2
/// distance, MaxSim, fused score).
struct hit {
  uuid id;
  float score = 0;

  friend bool operator==(const hit& a, const hit& b) { return a.id == b.id && a.score == b.score; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hit& x) {
  return f(caf::meta::type_name("hit"), x.id, x.score);
}

/// Result order: score descending, ties by id ascending.
inline bool better(const hit& a, const hit& b) {
  return a.score != b.score ? a.score > b.score : a.id < b.id;
}

enum class fusion : uint8_t {
  /// Weighted reciprocal rank fusion: sum over embedders of weight / (rrf_k + rank), rank from 1.
  rrf = 0,
  /// Sum over embedders of weight × score.
  weighted_sum = 1,
};

struct search_request {
  std::string embedder;
  embedding query;
  uint32_t k = 10;
  telos::filter filter;
  /// Also return the records of the hits.
  bool with_records = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(caf::meta::type_name("search_request"), x.embedder, x.query, x.k, x.filter,
           x.with_records);
}

struct fused_search_request {
  /// Embedder name → query embedding; only these embedders take part.
  std::map<std::string, embedding> queries;
  /// Embedder name → weight; a missing weight is 1.
  std::map<std::string, float> weights;
  telos::fusion fusion = fusion::rrf;
  /// The k of reciprocal rank fusion.
  uint32_t rrf_k = 60;
  uint32_t k = 10;
  telos::filter filter;
  bool with_records = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fused_search_request& x) {
  return f(caf::meta::type_name("fused_search_request"), x.queries, x.weights, x.fusion, x.rrf_k,
           x.k, x.filter, x.with_records);
}

struct search_result {
  /// Sorted by `better`.
  std::vector<hit> hits;
  /// Parallel to hits when records were asked for.
  std::vector<memory> records;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_result& x) {
  return f(caf::meta::type_name("search_result"), x.hits, x.records);
}

} // namespace telos
