// The coordinator: the entry point of a store. Validates every write (telos::validate), routes
// each memory to shard stable_hash(id) % shards, and answers once every shard involved answered;
// runs searches (shard/search_run.hpp: per-shard top lists, merge per embedder, fusion across
// embedders) by messages to every shard and fetches the records. Bounds writes in flight
// (ec::overloaded beyond the limit).
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

namespace telos {

struct coordinator_config {
  telos::profile profile;
  telos::limits limits;
  /// Shard i holds the ids with stable_hash(id) % shards.size() == i.
  std::vector<shard_actor> shards;
  /// Client writes (put, update, remove calls) in flight beyond this fail with ec::overloaded.
  size_t max_inflight_writes = 256;
  /// Each embedder of a fused search contributes its top max(k, fused_depth) candidates.
  uint32_t fused_depth = 100;
};

struct coordinator_state {
  static inline const char* name = "coordinator";
  coordinator_config config;
  /// Client writes accepted and not answered yet (held ones included).
  size_t inflight = 0;
  /// Client writes sent to shards and not answered yet.
  size_t dispatched = 0;
  /// A checkpoint holds new writes back until it is done.
  bool paused = false;
  std::deque<std::function<void()>> held;
  /// Run once no write is dispatched any more (checkpoint).
  std::vector<std::function<void()>> on_quiet;
  /// Run once no write is in flight at all, held ones included (close).
  std::vector<std::function<void()>> on_idle;
  bool closing = false;

  /// The shard that holds `id`.
  size_t shard_of(const uuid& id) const;
};

coordinator_actor::behavior_type
coordinator_behavior(coordinator_actor::stateful_pointer<coordinator_state> self,
                     coordinator_config config);

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_config config);

} // namespace telos
