// Edges as quads: term mapping, neighbour scans, memory removal and breadth-first traversal.
#include "telos/storage/edges.hpp"

#include "telos/messages/envelope.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <tuple>
#include <unordered_set>

namespace telos::storage {

namespace {

constexpr uint16_t edge_schema = 1;
/// Quads resolved per interner round trip while scanning.
constexpr size_t resolve_batch = 256;

/// The name of a term of the given kind, or nullopt when the term is of another kind.
std::optional<std::string> name_of(const std::optional<std::string>& term, term_kind kind) {
  if (!term || term->empty() || (*term)[0] != static_cast<char>(kind)) return std::nullopt;
  return term->substr(1);
}

std::string describe_quad(const quad& q) {
  return "(" + std::to_string(q.s) + ", " + std::to_string(q.p) + ", " + std::to_string(q.o) +
         ", " + std::to_string(q.c) + ")";
}

/// ec::corrupt_value when one of texts[first, first + count) is missing: a quad references a
/// term id that intern_rev does not hold.
expected<void> missing_term(const std::vector<std::optional<std::string>>& texts, size_t first,
                            size_t count, const quad& q) {
  for (size_t i = first; i < first + count; ++i)
    if (!texts[i])
      return make_error(ec::corrupt_value, "quad " + describe_quad(q) +
                                               " references a term id missing from intern_rev");
  return {};
}

} // namespace

const char* to_string(edge_dir dir) {
  switch (dir) {
  case edge_dir::out:
    return "out";
  case edge_dir::in:
    return "in";
  case edge_dir::both:
    return "both";
  }
  return "unknown";
}

// -- traversal -----------------------------------------------------------------------------------

expected<std::vector<graph_path>> traverse(const uuid& start, size_t max_depth, size_t limit,
                                           const neighbour_source& neighbours) {
  std::vector<graph_path> result;
  if (limit == 0 || max_depth == 0) return result;
  std::unordered_set<uuid> visited{start};
  // The frontier stays sorted by path: it is built by expanding the previous (sorted) frontier
  // in order, each node's hops in ascending (type, node, direction). So the first time a node
  // is reached is over its least shortest path.
  std::vector<graph_path> frontier{graph_path{{start}, {}, {}}};
  for (size_t depth = 1; depth <= max_depth && !frontier.empty(); ++depth) {
    std::vector<graph_path> next;
    for (const auto& from : frontier) {
      auto found = neighbours(from.nodes.back());
      if (!found) return std::move(found.error());
      auto& hops = *found;
      std::sort(hops.begin(), hops.end(), [](const neighbour& a, const neighbour& b) {
        return std::tie(a.type, a.node, a.direction) < std::tie(b.type, b.node, b.direction);
      });
      for (const auto& hop : hops) {
        if (!visited.insert(hop.node).second) continue;
        graph_path p = from;
        p.nodes.push_back(hop.node);
        p.types.push_back(hop.type);
        p.directions.push_back(hop.direction);
        result.push_back(p);
        if (result.size() == limit) return result;
        next.push_back(std::move(p));
      }
    }
    frontier = std::move(next);
  }
  return result;
}

// -- edge_store ----------------------------------------------------------------------------------

expected<void> edge_store::add(const edge_data& e, write_batch& batch,
                               interner::staging& staged) const {
  if (e.source.is_nil() || e.target.is_nil())
    return make_error(ec::invalid_argument, "edge " + e.source.to_string() + " -[" + e.type +
                                                "]-> " + e.target.to_string() +
                                                " has a nil endpoint");
  if (e.type.empty())
    return make_error(ec::invalid_argument, "edge " + e.source.to_string() + " -> " +
                                                e.target.to_string() + " has an empty type");
  if (!std::isfinite(e.weight))
    return make_error(ec::invalid_argument, "edge " + e.source.to_string() + " -[" + e.type +
                                                "]-> " + e.target.to_string() +
                                                " has a non-finite weight");
  quad q;
  for (auto [term, slot] :
       {std::pair{make_term(e.source), &q.s},
        std::pair{make_term(term_kind::edge_type, e.type), &q.p},
        std::pair{make_term(e.target), &q.o}, std::pair{make_term(term_kind::ns, e.ns), &q.c}}) {
    auto id = terms_.intern(term, batch, staged);
    if (!id) return std::move(id.error());
    *slot = *id;
  }
  quads_.add(q, encode_value(edge_properties{e.weight, e.attributes}, edge_schema), batch);
  return {};
}

namespace {

/// The quad of an edge whose terms are all interned, or nullopt.
expected<std::optional<quad>> find_quad(const interner& terms, const edge_key& e) {
  quad q;
  for (auto [term, slot] :
       {std::pair{make_term(e.source), &q.s},
        std::pair{make_term(term_kind::edge_type, e.type), &q.p},
        std::pair{make_term(e.target), &q.o}, std::pair{make_term(term_kind::ns, e.ns), &q.c}}) {
    auto id = terms.find(term);
    if (!id) return std::move(id.error());
    if (!*id) return std::optional<quad>{};
    *slot = **id;
  }
  return std::optional<quad>{q};
}

} // namespace

expected<bool> edge_store::remove(const edge_key& e, write_batch& batch) const {
  auto q = find_quad(terms_, e);
  if (!q) return std::move(q.error());
  if (!*q) return false;
  quads_.remove(**q, batch);
  return true;
}

expected<std::optional<edge_data>> edge_store::get(const edge_key& e) const {
  auto q = find_quad(terms_, e);
  if (!q) return std::move(q.error());
  if (!*q) return std::optional<edge_data>{};
  auto value = quads_.get(**q);
  if (!value) return std::move(value.error());
  if (!*value) return std::optional<edge_data>{};
  auto props = decode_value<edge_properties>(**value, quad_key(quad_order::spoc, **q), edge_schema);
  if (!props) return std::move(props.error());
  return std::optional<edge_data>{
      edge_data{e.source, e.type, e.target, e.ns, props->weight, std::move(props->attributes)}};
}

expected<void> edge_store::collect(const quad_pattern& pattern, edge_dir direction, size_t limit,
                                   std::vector<neighbour>& out) const {
  auto cursor = quads_.scan(pattern);
  if (!cursor) return std::move(cursor.error());
  std::vector<std::pair<quad, std::string>> rows;
  // Resolves one batch of rows into neighbours.
  auto flush = [&]() -> expected<void> {
    // Types and namespaces repeat on almost every row: resolve each distinct id once.
    std::vector<term_id> ids;
    ids.reserve(rows.size() * 3);
    for (auto& [q, value] : rows)
      ids.insert(ids.end(), {direction == edge_dir::out ? q.o : q.s, q.p, q.c});
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    auto unique_texts = terms_.lookup(ids);
    if (!unique_texts) return std::move(unique_texts.error());
    auto text_of = [&](term_id id) -> const std::optional<std::string>& {
      return (*unique_texts)[std::lower_bound(ids.begin(), ids.end(), id) - ids.begin()];
    };
    out.reserve(out.size() + rows.size());
    for (size_t i = 0; i < rows.size() && out.size() < limit; ++i) {
      const auto& q = rows[i].first;
      const auto& node_text = text_of(direction == edge_dir::out ? q.o : q.s);
      const auto& type_text = text_of(q.p);
      const auto& ns_text = text_of(q.c);
      if (!node_text || !type_text || !ns_text)
        return make_error(ec::corrupt_value, "quad " + describe_quad(q) +
                                                 " references a term id missing from intern_rev");
      auto node = memory_of_term(*node_text);
      auto type = name_of(type_text, term_kind::edge_type);
      auto ns = name_of(ns_text, term_kind::ns);
      if (!node || !type || !ns) continue;
      auto props = decode_value<edge_properties>(
          rows[i].second, quad_key(quad_order::spoc, rows[i].first), edge_schema);
      if (!props) return std::move(props.error());
      out.push_back(neighbour{*node, std::move(*type), std::move(*ns), direction, props->weight,
                              std::move(props->attributes)});
    }
    rows.clear();
    return {};
  };
  for (; cursor->valid() && out.size() < limit; cursor->next()) {
    rows.emplace_back(cursor->current(), std::string{cursor->value()});
    if (rows.size() == resolve_batch)
      if (auto flushed = flush(); !flushed) return flushed;
  }
  if (auto err = cursor->status()) return err;
  return flush();
}

expected<std::vector<neighbour>> edge_store::neighbours(const uuid& node,
                                                        const neighbour_query& q) const {
  std::vector<neighbour> result;
  auto node_term = terms_.find(make_term(node));
  if (!node_term) return std::move(node_term.error());
  if (!*node_term || q.limit == 0) return result;
  std::optional<term_id> ns_term;
  if (q.ns) {
    auto id = terms_.find(make_term(term_kind::ns, *q.ns));
    if (!id) return std::move(id.error());
    if (!*id) return result;
    ns_term = **id;
  }
  // Every type asked for that was ever interned; none at all means no edge can match.
  std::vector<std::optional<term_id>> type_terms;
  if (q.types.empty()) {
    type_terms.emplace_back();
  } else {
    for (const auto& type : q.types) {
      auto id = terms_.find(make_term(term_kind::edge_type, type));
      if (!id) return std::move(id.error());
      if (*id && std::find(type_terms.begin(), type_terms.end(), *id) == type_terms.end())
        type_terms.emplace_back(**id);
    }
    std::sort(type_terms.begin(), type_terms.end());
  }
  for (auto direction : {edge_dir::out, edge_dir::in}) {
    if (q.direction != edge_dir::both && q.direction != direction) continue;
    for (const auto& type : type_terms) {
      quad_pattern pattern;
      pattern.p = type;
      pattern.c = ns_term;
      (direction == edge_dir::out ? pattern.s : pattern.o) = **node_term;
      if (auto found = collect(pattern, direction, q.limit, result); !found)
        return std::move(found.error());
      if (result.size() >= q.limit) return result;
    }
  }
  return result;
}

expected<std::vector<edge_key>> edge_store::remove_all(const uuid& memory,
                                                       write_batch& batch) const {
  std::vector<edge_key> removed;
  auto node_term = terms_.find(make_term(memory));
  if (!node_term) return std::move(node_term.error());
  if (!*node_term) return removed;
  std::vector<quad> quads;
  for (auto direction : {edge_dir::out, edge_dir::in}) {
    quad_pattern pattern;
    (direction == edge_dir::out ? pattern.s : pattern.o) = **node_term;
    auto cursor = quads_.scan(pattern);
    if (!cursor) return std::move(cursor.error());
    for (; cursor->valid(); cursor->next()) {
      const auto& q = cursor->current();
      // A self-loop shows up in both scans; delete and report it once.
      if (direction == edge_dir::in && q.s == **node_term) continue;
      quads.push_back(q);
    }
    if (auto err = cursor->status()) return err;
  }
  std::vector<term_id> ids;
  ids.reserve(quads.size() * 4);
  for (const auto& q : quads) {
    quads_.remove(q, batch);
    ids.insert(ids.end(), {q.s, q.p, q.o, q.c});
  }
  auto texts = terms_.lookup(ids);
  if (!texts) return std::move(texts.error());
  for (size_t i = 0; i < quads.size(); ++i) {
    auto source = (*texts)[4 * i] ? memory_of_term(*(*texts)[4 * i]) : std::nullopt;
    auto type = name_of((*texts)[4 * i + 1], term_kind::edge_type);
    auto target = (*texts)[4 * i + 2] ? memory_of_term(*(*texts)[4 * i + 2]) : std::nullopt;
    auto ns = name_of((*texts)[4 * i + 3], term_kind::ns);
    if (auto missing = missing_term(*texts, 4 * i, 4, quads[i]); !missing)
      return std::move(missing.error());
    if (source && type && target && ns)
      removed.push_back(edge_key{*source, std::move(*type), *target, std::move(*ns)});
  }
  return removed;
}

expected<std::vector<graph_path>> edge_store::traverse(const uuid& start,
                                                       const traversal_query& q) const {
  neighbour_query nq;
  nq.direction = q.direction;
  nq.types = q.types;
  nq.ns = q.ns;
  return storage::traverse(start, q.max_depth, q.limit,
                           [&](const uuid& node) { return neighbours(node, nq); });
}

} // namespace telos::storage
