// Typed, weighted edges between memories, stored as quads (source, type, target, namespace) of
// interned terms: neighbours in either direction, removal of every edge of a deleted memory in
// the deleting batch, and bounded breadth-first traversal that returns paths. An edge, a direction
// and a path are the message protocol's (messages/graph.hpp: edge_data, edge_dir, graph_path):
// one vocabulary from the client to the rows.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/graph.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/storage/interner.hpp"
#include "telos/storage/quad_store.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace telos::storage {

/// What identifies an edge: the same endpoints and type in two namespaces are two edges.
struct edge_key {
  uuid source;
  std::string type;
  uuid target;
  std::string ns = "default";

  friend bool operator==(const edge_key& a, const edge_key& b) {
    return a.source == b.source && a.type == b.type && a.target == b.target && a.ns == b.ns;
  }
  friend bool operator!=(const edge_key& a, const edge_key& b) { return !(a == b); }
};

/// An edge's identity.
inline edge_key key_of(const edge_data& e) {
  return {e.source, e.type, e.target, e.ns};
}

/// The value of an edge's quad rows (Cereal in an envelope, schema 1).
struct edge_properties {
  double weight = 1.0;
  std::map<std::string, std::string> attributes;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(weight, attributes);
  }
};

const char* to_string(edge_dir dir);

/// One edge seen from one of its endpoints.
struct neighbour {
  /// The other endpoint.
  uuid node;
  std::string type;
  std::string ns;
  /// out: the edge leaves the queried node; in: it arrives there.
  edge_dir direction = edge_dir::out;
  double weight = 1.0;
  std::map<std::string, std::string> attributes;
};

struct neighbour_query {
  edge_dir direction = edge_dir::out;
  /// Only these edge types; empty = every type.
  std::vector<std::string> types;
  /// Only edges of this namespace; empty = every namespace.
  std::optional<std::string> ns;
  size_t limit = std::numeric_limits<size_t>::max();
};

struct traversal_query {
  edge_dir direction = edge_dir::out;
  std::vector<std::string> types;
  std::optional<std::string> ns;
  /// Hops from the start (0 returns nothing).
  size_t max_depth = 2;
  /// Paths returned at most.
  size_t limit = 100;
};

/// The neighbours of a node, for traverse() over any graph (one edge store, or every shard).
using neighbour_source = std::function<expected<std::vector<neighbour>>(const uuid& node)>;

/// Breadth-first traversal. Returns one path per node reachable from `start` in 1..max_depth
/// hops (the start itself excluded): the shortest path, and among shortest paths the least one
/// comparing hop by hop (type, node, direction). Paths come ordered by depth, then by that same
/// comparison; the first `limit` are returned. Each node's neighbours are loaded whole when the
/// node is expanded.
expected<std::vector<graph_path>> traverse(const uuid& start, size_t max_depth, size_t limit,
                                           const neighbour_source& neighbours);

/// Edges over one backend (one shard): an interner and the quad store of that backend.
/// Endpoints and namespaces are interned as memory and namespace terms, types as edge-type
/// terms. A quad whose endpoints are not both memories, or whose predicate is not an edge type,
/// is not an edge: neighbour queries skip it (remove_all still deletes it).
class edge_store {
public:
  edge_store(const quad_store& quads, interner& terms) : quads_(quads), terms_(terms) {}

  /// Appends the rows of `e` (replacing its weight and attributes if it exists). Errors:
  /// ec::invalid_argument for a nil endpoint, an empty type or a non-finite weight.
  expected<void> add(const edge_data& e, write_batch& batch, interner::staging& staged) const;
  /// Appends the deletion of the edge's rows; false (nothing appended) when one of its terms
  /// was never interned, so the edge cannot exist.
  expected<bool> remove(const edge_key& e, write_batch& batch) const;
  /// Appends the deletion of every quad that has `memory` as source or target (both
  /// directions, self-loops once) and returns the edges among them in the order appended.
  expected<std::vector<edge_key>> remove_all(const uuid& memory, write_batch& batch) const;

  expected<std::optional<edge_data>> get(const edge_key& e) const;
  /// The edges at `node`, in storage order: out before in; within a direction by type id, then
  /// other endpoint id, then namespace id (term ids, so the order is stable but not alphabetic).
  expected<std::vector<neighbour>> neighbours(const uuid& node, const neighbour_query& q) const;
  /// traverse() over this store's neighbours.
  expected<std::vector<graph_path>> traverse(const uuid& start, const traversal_query& q) const;

private:
  /// Scans `pattern` and appends the edges it finds, resolving terms (at most `limit` in all).
  expected<void> collect(const quad_pattern& pattern, edge_dir direction, size_t limit,
                         std::vector<neighbour>& out) const;

  const quad_store& quads_;
  interner& terms_;
};

} // namespace telos::storage
