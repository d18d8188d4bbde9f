// The blocking reads of a shard's rows, run by the backend actor on its own thread (and by
// open_shard and verify): memories by id, a namespace's memories in id order, an embedder's
// vectors chunk by chunk, and counters in the meta keyspace.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/memory.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// The u64 meta row `key` of a shard; `fallback` when absent.
expected<uint64_t> read_counter(const storage::backend& db, const storage::shard_layout& layout,
                                std::string_view key, uint64_t fallback);

/// Memories by id from the backend; a memory with a nil id stands for an absent one. Without
/// embeddings only the records are read.
expected<std::vector<memory>> read_memories(const storage::backend& db,
                                            const storage::shard_layout& layout,
                                            const std::vector<uuid>& ids, bool with_embeddings);

/// Up to `limit` memories of namespace ns ("" = all) with ids after `after` (nil = from the
/// start), in id order.
expected<std::vector<memory>> list_memories(const storage::backend& db,
                                            const storage::shard_layout& layout,
                                            const std::string& ns, const uuid& after,
                                            uint64_t limit);

/// Up to `limit` vectors of the embedder at `embedder_index` with ids after `after`; rows that
/// do not decode are skipped (verify reports them).
expected<vector_chunk> scan_vectors(const storage::backend& db, const storage::shard_layout& layout,
                                    size_t embedder_index, const uuid& after, uint64_t limit);

} // namespace telos
