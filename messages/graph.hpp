// The graph part of the message protocol: edges between memories, quads of free text, and the
// requests that read them (neighbours, traversal, quad patterns). Plain data, serialisable, so a
// coordinator can ask shards on other nodes.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/flag_list.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/wire_float.hpp"

#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace telos {

/// A typed, weighted edge from one memory to another within a namespace. (source, type, target,
/// ns) identify it; adding it again replaces weight and attributes.
struct edge_data {
  uuid source;
  std::string type;
  uuid target;
  std::string ns = "default";
  double weight = 1.0;
  std::map<std::string, std::string> attributes;

  friend bool operator==(const edge_data& a, const edge_data& b) {
    return a.source == b.source && a.type == b.type && a.target == b.target && a.ns == b.ns &&
           a.weight == b.weight && a.attributes == b.attributes;
  }
  friend bool operator!=(const edge_data& a, const edge_data& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, edge_data& x) {
  auto weight = bits_of(x.weight); // wire_float.hpp: CAF cannot write an infinite double
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.weight = double_of(weight);
    return caf::none;
  });
  return f(caf::meta::type_name("edge_data"), x.source, x.type, x.target, x.ns, weight,
           x.attributes, load);
}

/// Which edges of a node: leaving it, arriving at it, or both.
enum class edge_dir : uint8_t { out = 0, in = 1, both = 2 };

/// The edges at one node.
struct neighbour_request {
  uuid node;
  edge_dir direction = edge_dir::out;
  /// Only these edge types; empty = every type.
  std::vector<std::string> types;
  /// Only this namespace; empty = every namespace.
  std::string ns;
  uint64_t limit = UINT64_MAX;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, neighbour_request& x) {
  return f(caf::meta::type_name("neighbour_request"), x.node, x.direction, x.types, x.ns, x.limit);
}

/// Breadth-first traversal from `start` over edges of the given direction, types and namespace.
struct traverse_request {
  uuid start;
  edge_dir direction = edge_dir::out;
  std::vector<std::string> types;
  std::string ns;
  /// Hops at most (1..16).
  uint32_t depth = 2;
  /// Paths at most.
  uint64_t limit = 100;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, traverse_request& x) {
  return f(caf::meta::type_name("traverse_request"), x.start, x.direction, x.types, x.ns, x.depth,
           x.limit);
}

/// ec::invalid_argument unless 1 <= depth <= 16, limit >= 1 and the start is not nil.
inline expected<void> check_traverse(const traverse_request& q) {
  if (q.start.is_nil()) return make_error(ec::invalid_argument, "traverse needs a start id");
  if (q.depth < 1 || q.depth > 16)
    return make_error(ec::invalid_argument,
                      "traverse depth " + std::to_string(q.depth) + " is outside 1..16");
  if (q.limit < 1) return make_error(ec::invalid_argument, "traverse limit must be at least 1");
  return {};
}

/// A path from a traversal's start: nodes[0] is the start; hop i goes from nodes[i] to
/// nodes[i+1] over an edge of types[i], followed in directions[i] (out or in).
struct graph_path {
  std::vector<uuid> nodes;
  std::vector<std::string> types;
  std::vector<edge_dir> directions;

  friend bool operator==(const graph_path& a, const graph_path& b) {
    return a.nodes == b.nodes && a.types == b.types && a.directions == b.directions;
  }
  friend bool operator!=(const graph_path& a, const graph_path& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, graph_path& x) {
  return f(caf::meta::type_name("graph_path"), x.nodes, x.types, x.directions);
}

/// A quad of free-text terms (subject, predicate, object, context).
struct quad_text {
  std::string s;
  std::string p;
  std::string o;
  std::string c;

  friend bool operator==(const quad_text& a, const quad_text& b) {
    return a.s == b.s && a.p == b.p && a.o == b.o && a.c == b.c;
  }
  friend bool operator!=(const quad_text& a, const quad_text& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quad_text& x) {
  return f(caf::meta::type_name("quad_text"), x.s, x.p, x.o, x.c);
}

/// A quad pattern: each term is bound when its flag is set (an empty string is a valid term).
struct quad_match_request {
  quad_text terms;
  bool has_s = false;
  bool has_p = false;
  bool has_o = false;
  bool has_c = false;
  /// Continuation of a previous page (empty = from the start).
  std::string after;
  /// Quads per page (1..100000).
  uint64_t limit = 1000;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quad_match_request& x) {
  return f(caf::meta::type_name("quad_match_request"), x.terms, x.has_s, x.has_p, x.has_o, x.has_c,
           x.after, x.limit);
}

/// One page of a quad match, in a stable order; `next` continues it (empty on the last page).
struct quad_match_page {
  std::vector<quad_text> quads;
  std::string next;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quad_match_page& x) {
  return f(caf::meta::type_name("quad_match_page"), x.quads, x.next);
}

/// Graph writes, committed by the shard in the same batch as its memory writes.
struct graph_write {
  std::vector<edge_data> edge_puts;
  /// Only the key fields (source, type, target, ns) count.
  std::vector<edge_data> edge_removes;
  std::vector<quad_text> quad_puts;
  std::vector<quad_text> quad_removes;

  bool empty() const {
    return edge_puts.empty() && edge_removes.empty() && quad_puts.empty() && quad_removes.empty();
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, graph_write& x) {
  return f(caf::meta::type_name("graph_write"), x.edge_puts, x.edge_removes, x.quad_puts,
           x.quad_removes);
}

/// Edge count and quad count a graph write changed.
struct graph_write_result {
  /// Parallel to edge_removes: whether the edge existed.
  flag_list edges_removed;
  /// Parallel to quad_removes: whether the quad existed.
  flag_list quads_removed;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, graph_write_result& x) {
  return f(caf::meta::type_name("graph_write_result"), x.edges_removed, x.quads_removed);
}

} // namespace telos
