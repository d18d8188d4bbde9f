// The backend actor: the one place a shard's blocking storage calls run. Spawned detached (its
// own thread), so RocksDB and LMDB I/O never occupies a scheduler worker.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"

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
};

struct backend_state {
  static inline const char* name = "backend";
  backend_actor_config config;
};

backend_actor::behavior_type backend_behavior(backend_actor::stateful_pointer<backend_state> self,
                                              backend_actor_config config);

/// Spawns the backend actor; `detached` is turned off only by deterministic tests, which run
/// every actor on CAF's test scheduler.
backend_actor spawn_backend(caf::actor_system& sys, backend_actor_config config,
                            bool detached = true);

} // namespace telos
