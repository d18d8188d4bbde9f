// The graph of one shard as the engine uses it: interner, quads, edges and secondary indexes over
// the shard's backend, with the write protocol of a shard's commit group (rows appended to the
// group's batch, interner stagings kept per request and settled once the batch's write
// returned) and the reads the shard answers. Plain C++: the shard actor writes, the backend
// actor reads.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/edges.hpp"
#include "telos/storage/graph_verifier.hpp"
#include "telos/storage/interner.hpp"
#include "telos/storage/quad_store.hpp"
#include "telos/storage/secondary_index.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace telos::storage {

/// What a store indexes; fixed when the store is created.
struct graph_options {
  /// Attributes that get attribute/value index rows.
  std::set<std::string> indexed_attributes;
  /// Width of a created_at bucket in milliseconds (> 0).
  int64_t time_bucket_ms = 3'600'000;

  friend bool operator==(const graph_options& a, const graph_options& b) {
    return a.indexed_attributes == b.indexed_attributes && a.time_bucket_ms == b.time_bucket_ms;
  }
  friend bool operator!=(const graph_options& a, const graph_options& b) { return !(a == b); }
};

/// The keyspaces of a shard's graph: interner, the four quad orders, the two index keyspaces.
const std::vector<std::string>& graph_keyspace_names();

/// A quad of free-text terms (interned as term_kind::text).
struct text_quad {
  std::string s;
  std::string p;
  std::string o;
  std::string c;
};

/// A pattern over text quads; an unset term matches anything.
struct text_pattern {
  std::optional<std::string> s;
  std::optional<std::string> p;
  std::optional<std::string> o;
  std::optional<std::string> c;
};

struct text_quad_page {
  std::vector<text_quad> quads;
  /// Pass as `after` for the next page; empty on the last one. Opaque (32 bytes of term ids).
  std::string next;
};

class shard_graph {
public:
  /// Resolves the keyspaces (declared at the backend's open) and opens the interner.
  static expected<std::unique_ptr<shard_graph>> open(const backend& db, graph_options opts,
                                                     interner_options io = {});

  shard_graph(const shard_graph&) = delete;
  shard_graph& operator=(const shard_graph&) = delete;

  // -- writes: the shard's single writer, one commit group at a time ---------------------------
  //
  // For each request of a group: begin_request(), then the calls below (in the request's
  // order), then end_request(accepted). A rejected request's rows are dropped by the caller and
  // its stagings abandoned here. Once the group's batch was written: settle(committed).

  void begin_request();
  void end_request(bool accepted);
  void settle(bool committed);

  /// The interner stagings of the group built last. A shard that builds its next group while the
  /// previous one is written takes each group's stagings and settles them when its write ended
  /// (the groups must hold no edge or quad writes: those are only seen within one group).
  struct group_stagings {
    std::vector<interner::staging> stagings;
  };
  group_stagings take_group();
  void settle(group_stagings& group, bool committed);

  /// Index rows of storing `now` over `before` (nullptr when new).
  expected<void> on_put(const memory* before, const memory& now, write_batch& rows);
  /// Deletes the index rows of `before` and every edge of the memory, both directions (also
  /// edges added earlier in this group); appends the removed edges to `removed`.
  expected<void> on_remove(const memory& before, write_batch& rows, std::vector<edge_key>& removed);
  expected<void> add_edge(const edge_data& e, write_batch& rows);
  /// Whether the edge existed (committed or added earlier in this group).
  expected<bool> remove_edge(const edge_key& e, write_batch& rows);
  /// ec::invalid_argument when a term is longer than the attribute limit of 64 KiB.
  expected<void> add_quad(const text_quad& q, write_batch& rows);
  expected<bool> remove_quad(const text_quad& q, write_batch& rows);

  // -- reads: any thread -----------------------------------------------------------------------

  expected<std::vector<neighbour>> neighbours(const uuid& node, const neighbour_query& q) const;
  expected<std::vector<graph_path>> traverse(const uuid& start, const traversal_query& q) const;
  /// Up to `limit` quads matching the pattern after the continuation `after`, in the storage
  /// order of the pattern's plan (stable).
  expected<text_quad_page> match(const text_pattern& pattern, const std::string& after,
                                 size_t limit) const;
  expected<graph_report> verify(const memory_exists& exists) const;
  /// Repair (writer idle): appends the deletion of every index row and every edge that names a
  /// memory `exists` denies, and the rows `memories` (stored, record fields) lack. Returns the
  /// rows changed; the caller writes `rows` and then settles `staged`.
  expected<uint64_t> repair(const memory_exists& exists, const std::vector<memory>& memories,
                            write_batch& rows, interner::staging& staged);

  const graph_options& options() const { return opts_; }
  const secondary_index& index() const { return index_; }
  const edge_store& edges() const { return edges_; }
  interner& terms() { return *terms_; }

private:
  using edge_id = std::tuple<uuid, std::string, uuid, std::string>;
  using quad_id = std::tuple<std::string, std::string, std::string, std::string>;

  shard_graph(graph_options opts, std::unique_ptr<interner> terms, quad_store quads,
              secondary_index index);

  /// The request's view of an edge or quad written in this group: true = present.
  std::optional<bool> staged_edge(const edge_id& e) const;
  std::optional<bool> staged_quad(const quad_id& q) const;

  graph_options opts_;
  std::unique_ptr<interner> terms_;
  quad_store quads_;
  edge_store edges_;
  secondary_index index_;

  /// Stagings of the accepted requests of the group, and of the request being built.
  std::vector<interner::staging> group_stagings_;
  interner::staging request_staging_;
  /// Edges and quads written in this group (accepted requests) and by the current request.
  std::map<edge_id, bool> group_edges_, request_edges_;
  std::map<quad_id, bool> group_quads_, request_quads_;
};

} // namespace telos::storage
