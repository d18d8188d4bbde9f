// Search requests, filters and results.
#pragma once

#include "telos/messages/memory.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/wire_float.hpp"

#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// attribute key ∈ values (equality when one value). With no values nothing matches: the set
/// of allowed values is empty.
struct attribute_predicate {
  std::string key;
  std::vector<std::string> values;

  friend bool operator==(const attribute_predicate& a, const attribute_predicate& b) {
    return a.key == b.key && a.values == b.values;
  }
  friend bool operator!=(const attribute_predicate& a, const attribute_predicate& b) {
    return !(a == b);
  }

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

  friend bool operator==(const filter& a, const filter& b) {
    return a.ns == b.ns && a.where == b.where && a.created_after == b.created_after &&
           a.created_before == b.created_before;
  }
  friend bool operator!=(const filter& a, const filter& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, filter& x) {
  // CAF 0.17 cannot inspect std::optional, so each bound travels as (present, value) and is
  // rebuilt once loaded.
  bool has_after = x.created_after.has_value();
  int64_t after = x.created_after.value_or(0);
  bool has_before = x.created_before.has_value();
  int64_t before = x.created_before.value_or(0);
  auto rebuild = caf::meta::load_callback([&]() -> caf::error {
    x.created_after = has_after ? std::optional<int64_t>{after} : std::nullopt;
    x.created_before = has_before ? std::optional<int64_t>{before} : std::nullopt;
    return caf::none;
  });
  return f(caf::meta::type_name("filter"), x.ns, x.where, has_after, after, has_before, before,
           rebuild);
}

/// One scored result. Higher score is better (cosine similarity, dot product, negative L2
/// distance, MaxSim, fused score).
struct hit {
  uuid id;
  float score = 0;

  friend bool operator==(const hit& a, const hit& b) { return a.id == b.id && a.score == b.score; }
  friend bool operator!=(const hit& a, const hit& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hit& x) {
  auto score = bits_of(x.score); // wire_float.hpp: CAF cannot write an infinite float
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.score = float_of(score);
    return caf::none;
  });
  return f(caf::meta::type_name("hit"), x.id, score, load);
}

/// Result order: score descending, ties by id ascending.
inline bool better(const hit& a, const hit& b) {
  return a.score != b.score ? a.score > b.score : a.id < b.id;
}

/// The k best of several lists in result order (each list may be in any order).
std::vector<hit> merge_top(std::vector<std::vector<hit>>& lists, size_t k);

/// A query for one embedder of the profile: its index in the profile, ec::not_found for an
/// unknown embedder, ec::invalid_argument naming the embedder for a query that is not valid for it.
expected<size_t> check_query(const profile& p, const limits& lim, const std::string& embedder,
                             const embedding& query);

enum class fusion : uint8_t {
  /// Weighted reciprocal rank fusion: sum over embedders of weight / (rrf_k + rank), rank from 1.
  rrf = 0,
  /// Sum over embedders of weight × score.
  weighted_sum = 1,
};

/// "rrf" or "weighted_sum".
const char* to_string(fusion f);
/// Inverse of to_string; nullopt for anything else.
std::optional<fusion> parse_fusion(std::string_view text);

struct search_request {
  std::string embedder;
  embedding query;
  uint32_t k = 10;
  telos::filter filter;
  /// Also return the records of the hits.
  bool with_records = true;

  friend bool operator==(const search_request& a, const search_request& b) {
    return a.embedder == b.embedder && a.query == b.query && a.k == b.k && a.filter == b.filter &&
           a.with_records == b.with_records;
  }
  friend bool operator!=(const search_request& a, const search_request& b) { return !(a == b); }
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

  friend bool operator==(const fused_search_request& a, const fused_search_request& b) {
    return a.queries == b.queries && a.weights == b.weights && a.fusion == b.fusion &&
           a.rrf_k == b.rrf_k && a.k == b.k && a.filter == b.filter &&
           a.with_records == b.with_records;
  }
  friend bool operator!=(const fused_search_request& a, const fused_search_request& b) {
    return !(a == b);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fused_search_request& x) {
  auto weights = bits_of(x.weights); // wire_float.hpp: CAF cannot write an infinite float
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.weights = floats_of(weights);
    return caf::none;
  });
  return f(caf::meta::type_name("fused_search_request"), x.queries, weights, x.fusion, x.rrf_k, x.k,
           x.filter, x.with_records, load);
}

struct search_result {
  /// Sorted by `better`.
  std::vector<hit> hits;
  /// Parallel to hits when records were asked for.
  std::vector<memory> records;

  friend bool operator==(const search_result& a, const search_result& b) {
    return a.hits == b.hits && a.records == b.records;
  }
  friend bool operator!=(const search_result& a, const search_result& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_result& x) {
  return f(caf::meta::type_name("search_result"), x.hits, x.records);
}

} // namespace telos
