// The plan of a write over the shards (owns): which part of a client write each shard commits,
// and where each answer comes from. Built once here for the transaction front (two-phase commit
// over a cluster's shards) and the checks the coordinator shares; see docs/CLUSTER.md,
// "Cross-shard batches", and docs/GRAPH.md, "Edges across shards".
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace telos {

/// The shard a memory id lives on.
using shard_of_fn = std::function<size_t(const uuid&)>;

/// Per shard (in shard order) its part of one client write.
struct shard_plan {
  std::map<size_t, shard_write> parts;
  /// Removes: per shard, the client positions of its removes (parallel to part.removes).
  std::map<size_t, std::vector<size_t>> positions;
  /// Edge removes: per client edge, the shard whose answer counts (the source's) and the edge's
  /// position in that part's graph.edge_removes.
  std::vector<std::pair<size_t, size_t>> answers;

  /// Every memory id the plan writes or names: puts, removes and edge endpoints.
  std::set<uuid> ids() const;
  /// Parallel to the client's ids: whether each was stored.
  flag_list removed(const std::map<size_t, shard_write_result>& results, size_t n) const;
  /// Parallel to the client's edges: whether each existed (on its source's shard).
  flag_list edges_existed(const std::map<size_t, shard_write_result>& results) const;
};

/// A nil endpoint, an empty type or namespace, a non-finite weight: ec::invalid_argument.
expected<void> check_edge(const edge_data& e);

/// Gives each memory without an id a fresh one and validates the batch as a whole (one invalid
/// memory rejects it); the ids of the batch in order.
expected<std::vector<uuid>> name_and_validate(std::vector<memory>& batch,
                                              const telos::profile& profile,
                                              const telos::limits& limits);

/// Each memory on its shard.
shard_plan plan_puts(std::vector<memory> batch, const shard_of_fn& shard_of);

/// Each id removed on its shard; `edges` are the edges of the removed memories (both
/// directions): the copy of each on the shard of its other endpoint is removed in the same write
/// (an edge whose other endpoint is removed too goes with that memory).
shard_plan plan_removes(const std::vector<uuid>& ids, const std::vector<edge_data>& edges,
                        const shard_of_fn& shard_of);

/// Each edge on its source's shard and, when different, its target's.
shard_plan plan_edge_puts(const std::vector<edge_data>& edges, const shard_of_fn& shard_of);

/// As plan_edge_puts; the answer of each edge is its source's shard's.
shard_plan plan_edge_removes(const std::vector<edge_data>& edges, const shard_of_fn& shard_of);

} // namespace telos
