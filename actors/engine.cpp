// Spawning the actor topology of a store.
#include "telos/actors/engine.hpp"

#include "telos/actors/backend_actor.hpp"
#include "telos/actors/coordinator.hpp"
#include "telos/actors/index_actor.hpp"
#include "telos/actors/shard_actor.hpp"

#include <caf/actor_system.hpp>

namespace telos {

engine_actors spawn_engine(caf::actor_system& sys, const std::vector<opened_shard>& shards,
                           const telos::profile& p, const engine_options& opts) {
  engine_actors result;
  for (size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    backend_actor_config bc;
    bc.shard = s.id;
    bc.backend = s.backend;
    bc.layout = s.layout;
    bc.sync_writes = opts.sync_writes;
    bc.graph = s.graph;
    bc.shard_count = s.count;
    if (!s.root.empty()) bc.directory = backend_directory(s.root, s.id);
    shard_actor_config sc;
    sc.id = s.id;
    sc.layout = s.layout;
    sc.catalog = s.catalog;
    sc.sequence = s.sequence;
    sc.storage = s.backend;
    sc.backend = spawn_backend(sys, std::move(bc), opts.detached_backends);
    const size_t embedders = s.indexes.size();
    for (size_t j = 0; j < embedders; ++j) {
      const auto& handle = s.indexes[j];
      index_actor_config ic;
      ic.shard = s.id;
      ic.handle = handle;
      ic.snapshots = s.snapshots;
      ic.embedder = j;
      ic.checkpoint_every = opts.checkpoint_every;
      ic.checkpoint_fraction = opts.checkpoint_fraction;
      // Index j of shard i takes its first snapshot after (j * shards + i + 1) / (embedders *
      // shards) of its interval: one index of the store saves at a time.
      ic.checkpoint_phase = static_cast<double>(j * shards.size() + i + 1) /
                            static_cast<double>(embedders * shards.size());
      ic.catalog = s.catalog;
      ic.maintain_budget = opts.maintain_budget;
      ic.maintain_time = opts.maintain_time;
      ic.max_fresh = opts.max_fresh;
      // The overlay of a background snapshot save is searched exactly, as the fresh buffer is:
      // the same bound keeps searches during a save as fast as below it.
      ic.max_overlay = opts.max_fresh;
      sc.indexes.push_back(spawn_index(sys, std::move(ic)));
    }
    result.indexes.push_back(sc.indexes);
    sc.contributors = opts.row_contributors;
    sc.graph = s.graph;
    sc.shard_count = s.count;
    sc.clock = opts.clock;
    sc.max_group_bytes = opts.max_group_bytes;
    if (opts.on_write_error)
      sc.on_write_error = [f = opts.on_write_error, id = s.id](const caf::error& err) {
        f(id, err);
      };
    result.shards.push_back(spawn_shard(sys, std::move(sc)));
  }
  result.local = std::make_shared<local_indexes>(shards);
  coordinator_config cc;
  cc.profile = p;
  cc.limits = opts.limits;
  cc.shards = result.shards;
  cc.max_inflight_writes = opts.max_inflight_writes;
  cc.fused_depth = opts.fused_depth;
  result.coordinator = spawn_coordinator(sys, std::move(cc));
  return result;
}

} // namespace telos
