// The backend actor: the one place a shard's blocking storage calls run. Spawned detached (its
// own thread), so RocksDB and LMDB I/O never occupies a scheduler worker.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/shard_graph.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace telos {

struct backend_actor_config {
  uint32_t shard = 0;
  /// Shared with the shard's owner, which closes it once the actor stopped.
  std::shared_ptr<storage::backend> backend;
  storage::shard_layout layout;
  /// fsync every committed write.
  bool sync_writes = false;
  /// The shard's graph (read here, written by the shard actor); null without one.
  std::shared_ptr<storage::shard_graph> graph;
  /// Shards of the store (verify checks edge endpoints that live on this one).
  uint32_t shard_count = 1;
  /// The backend's directory, whose size `stats` reports; empty for the memory backend.
  std::string directory;
};

/// Graph reads of one shard, as the backend actor runs them (tests call them directly).
expected<std::vector<edge_data>> read_neighbours(const storage::shard_graph& g,
                                                 const neighbour_request& q);
expected<std::vector<graph_path>> read_traversal(const storage::shard_graph& g,
                                                 const traverse_request& q);
expected<quad_match_page> read_quads(const storage::shard_graph& g, const quad_match_request& q);

/// Whether the graph's secondary index can supply the candidates of `f`: a `where` on an indexed
/// attribute, or a created_at bound.
bool index_serves(const storage::graph_options& g, const filter& f);
/// The candidates of `f` from the secondary index rows, ascending and unique: the intersection of
/// the attribute rows of every predicate on an indexed attribute, or without one the time rows
/// of the created_at range. A superset of the ids `f` admits (the caller confirms each on its
/// record); ec::invalid_argument when !index_serves.
expected<std::vector<uuid>> indexed_candidates(const storage::shard_graph& g, const filter& f);

struct backend_state {
  static inline const char* name = "backend";
  backend_actor_config config;
  /// The error of the last write, none when it succeeded: a write sent behind it is refused.
  caf::error failed_write;
};

backend_actor::behavior_type backend_behavior(backend_actor::stateful_pointer<backend_state> self,
                                              backend_actor_config config);

/// Spawns the backend actor; `detached` is turned off only by deterministic tests, which run
/// every actor on CAF's test scheduler.
backend_actor spawn_backend(caf::actor_system& sys, backend_actor_config config,
                            bool detached = true);

} // namespace telos
