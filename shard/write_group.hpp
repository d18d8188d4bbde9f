// Turns a group of queued shard writes into one atomic write batch: records, vector rows,
// namespace rows, row-contributor rows, counters, the sequence and a changelog entry, plus the
// index updates and catalog changes to apply once the batch committed. Plain C++: the shard actor
// calls it, tests call it directly.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/shard_graph.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace telos {

/// What one request of a group came to.
struct request_outcome {
  /// Set when the request was rejected; none of its rows are in the batch.
  caf::error error;
  shard_write_result result;
};

/// The counter changes of a group that is built but not yet committed: the next group, built while
/// it is written, counts on top of them.
struct pending_counts {
  int64_t total = 0;
  std::map<std::string, int64_t> per_namespace;
};

struct write_group {
  /// Empty when every request was rejected: then there is nothing to commit.
  write_batch batch;
  uint64_t sequence = 0;
  /// One per embedder, in profile order; an update may be empty.
  std::vector<index_update> index_updates;
  /// Final facts of every id the group touched, to apply to the catalog after the commit.
  std::vector<fact_change> changes;
  /// Parallel to the requests.
  std::vector<request_outcome> outcomes;
  /// This group's own counter changes (the next group's `write_group_context::pending`).
  pending_counts counts;
};

struct write_group_context {
  const storage::shard_layout* layout = nullptr;
  const record_catalog* catalog = nullptr;
  /// The sequence this group commits as (the last committed one + 1, or the pending group's + 1).
  uint64_t sequence = 0;
  /// The counter changes of a group built before this one and not committed yet (its write is in
  /// flight; it commits first). The caller guarantees that the two groups touch disjoint ids and
  /// that the earlier one has no graph writes, so the catalog and the stored records are current
  /// for every id of this group.
  const pending_counts* pending = nullptr;
  /// Stamped into created_at / updated_at where a memory leaves them 0.
  int64_t now_ms = 0;
  const std::vector<std::shared_ptr<storage::row_contributor>>* contributors = nullptr;
  /// With contributors: the stored record (fields only) of every id the group touches that
  /// exists; updated as the group is built.
  std::map<uuid, memory>* previous = nullptr;
  /// The shard's graph (index rows, edges, quads), or null for a shard without one. The caller
  /// settles it (shard_graph::settle) once the group's batch was written.
  storage::shard_graph* graph = nullptr;
  /// Whether a memory id lives on this shard (edge endpoints elsewhere are checked by the
  /// coordinator); empty = every id.
  std::function<bool(const uuid&)> owns;
};

/// The record fields of `m`, without embeddings.
memory record_fields(const memory& m);

/// Builds the group. Requests are consumed (their embeddings move into the index updates).
/// Each request either contributes all of its rows or is rejected alone: an update of an absent
/// id (ec::not_found), a key beyond the backend's limit or a contributor error
/// (ec::invalid_argument or the contributor's error).
write_group build_write_group(const write_group_context& ctx, std::vector<shard_write>& requests);

} // namespace telos
