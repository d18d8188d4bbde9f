// A shard's verify in one place: what it checks and what its repair changes. The actors only
// route the request; each step runs where its data lives, in this order:
//  1. the rows (check_rows, on the backend actor's thread): records, vectors, namespace rows,
//     counters and changelog entries, and with the graph its rows (storage/graph_verifier.cpp,
//     through shard_graph::verify) and every memory's secondary-index rows;
//  2. the indexes (check_index, in each index actor): each holds every memory and nothing else;
//  3. the verdict (judge_shard, in the shard actor): the record catalog and the indexes against
//     the rows; with repair the catalog is reset and the indexes that differ are named, which the
//     shard actor then has cleared (clear_index) and reloaded from the vector keyspace
//     (load_index_chunk, chunks from scan_vectors).
// merge_verify adds up the shards' results for the coordinator. docs/ENGINE.md, "Verify".
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/index_handle.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/shard_graph.hpp"

#include <cstdint>
#include <vector>

namespace telos {

// -- 1. rows --------------------------------------------------------------------------------------

/// Checks every row of a shard: records decode, every record has every vector and its namespace
/// row, every vector and namespace row has a record, counters match, changelog entries decode.
/// With repair: removes rows without a record, memories that are incomplete or do not decode,
/// adds missing namespace rows, rewrites counters and drops index snapshot markers (so the next
/// open rebuilds the indexes from the repaired rows).
expected<storage_check> check_storage(storage::backend& db, const storage::shard_layout& layout,
                                      uint32_t shard, bool repair);

/// check_storage, then with a graph (`graph` not null) its rows: every stored memory has its
/// secondary-index rows, and edges whose endpoint lives on this shard (of `shard_count`) name a
/// stored memory (endpoints on other shards are checked there). With repair, dangling graph
/// rows are removed and missing index rows added (not disagreeing quad orders).
expected<storage_check> check_rows(storage::backend& db, const storage::shard_layout& layout,
                                   storage::shard_graph* graph, uint32_t shard,
                                   uint32_t shard_count, bool repair);

/// The ids of the memories the rows hold (in id order): what every index must hold.
std::vector<uuid> checked_ids(const storage_check& rows);

// -- 2. indexes -----------------------------------------------------------------------------------

/// Which of `ids` the index lacks, and how many vectors it holds.
index_check check_index(const storage::vector_index& index, const std::vector<uuid>& ids);

/// Repair: replaces the handle's index by an empty one made alike (under its exclusive lock) and
/// marks it replaced, so it is snapshotted at close only.
void clear_index(index_handle& handle);

/// Repair: adds a chunk of the vector keyspace to the handle's index (under its exclusive lock).
void load_index_chunk(index_handle& handle, const vector_chunk& chunk);

// -- 3. verdict -----------------------------------------------------------------------------------

struct shard_verdict {
  verify_result result;
  /// Embedders (profile positions) whose index the repair clears and reloads.
  std::vector<size_t> rebuild;
};

/// The shard's result: the rows' problems, then the catalog and each index compared with the
/// rows. With repair the catalog is reset to the rows, and every index that differs (all of
/// them when rows were repaired) is named for a rebuild.
shard_verdict judge_shard(uint32_t shard, const storage::shard_layout& layout,
                          record_catalog& catalog, const storage_check& rows,
                          const std::vector<index_check>& indexes, bool repair);

/// The store's result from its shards' (in shard order).
verify_result merge_verify(std::vector<verify_result> parts);

} // namespace telos
