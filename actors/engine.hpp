// Wiring: spawns the actors of a store over shards opened with open_shard (one backend actor,
// one index actor per embedder and one shard actor per shard, one coordinator), so the facade,
// the node server and the actor tests all start the same topology.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/memory.hpp"
#include "telos/shard/local_indexes.hpp"
#include "telos/shard/open_shard.hpp"
#include "telos/storage/layout.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace telos {

struct engine_options {
  telos::limits limits;
  size_t max_inflight_writes = 256;
  /// Estimated bytes of one commit group (shard_actor_config::max_group_bytes).
  size_t max_group_bytes = size_t{1} << 20;
  uint32_t fused_depth = 100;
  /// fsync every write before acknowledging it (store_options::sync_writes).
  bool sync_writes = true;
  std::vector<std::shared_ptr<storage::row_contributor>> row_contributors;
  /// Backend actors on threads of their own; deterministic tests turn it off.
  bool detached_backends = true;
  /// Most vectors, and most time, per index maintenance step (index_actor_config).
  size_t maintain_budget = 64;
  std::chrono::microseconds maintain_time{2000};
  /// Fresh vectors per index beyond which acknowledgements wait for graph work
  /// (index_actor_config::max_fresh); 0 = no bound.
  size_t max_fresh = 10000;
  /// Each index saves a snapshot of itself after this many changed vectors (index_actor_config);
  /// 0 = at close only.
  size_t checkpoint_every = 250000;
  double checkpoint_fraction = 1.0;
  /// Milliseconds since the epoch for unset timestamps; empty = the system clock.
  std::function<int64_t()> clock;
  /// Called from a shard actor with the shard's id and the error of each of its backend writes
  /// that failed (shard_actor_config::on_write_error); may be empty.
  std::function<void(uint32_t shard, const caf::error&)> on_write_error;
};

/// The actors of a running store.
struct engine_actors {
  coordinator_actor coordinator;
  std::vector<shard_actor> shards;
  /// Per shard, one per embedder in profile order: the blocking facade asks them directly for the
  /// top lists of a search that needs no record and has more than one list (several shards or
  /// embedders): two thread hand-offs per query instead of five through the coordinator, and the
  /// lists are searched in parallel.
  std::vector<std::vector<index_actor>> indexes;
  /// The same shards' indexes for searches on the caller's thread (one list, no record); close it
  /// before close_shard.
  std::shared_ptr<local_indexes> local;
};

/// Spawns every actor over `shards` (which stay owned by the caller and must outlive the
/// actors: close the coordinator before close_shard).
engine_actors spawn_engine(caf::actor_system& sys, const std::vector<opened_shard>& shards,
                           const telos::profile& p, const engine_options& opts);

} // namespace telos
