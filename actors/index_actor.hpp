// The index actor: owns one embedder's vector index of one shard. Updates arrive in sequence
// order and are searchable once acknowledged; fresh vectors move into the ANN graph in small
// budgets the actor sends itself, so graph insertion never delays an acknowledgement.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/shard/shard_storage.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace telos {

struct index_actor_config {
  uint32_t shard = 0;
  /// Shared with the shard's owner, which snapshots the index once the actor stopped.
  std::shared_ptr<index_handle> handle;
  /// The shard's record facts, read to judge search filters.
  std::shared_ptr<const record_catalog> catalog;
  /// Vectors moved into the ANN graph per maintenance step; small, so searches queued behind a
  /// step wait little.
  size_t maintain_budget = 64;
};

struct index_state {
  static inline const char* name = "index";
  index_actor_config config;
  /// A maintain message is in the mailbox.
  bool maintenance_scheduled = false;

  storage::vector_index& index() { return *config.handle->index; }
  /// Applies an update in place.
  void apply(const index_update& update);
  /// Exact search among the ids the filter admits.
  std::vector<hit> search(const embedding& query, uint32_t k, const filter& f) const;
};

index_actor::behavior_type index_behavior(index_actor::stateful_pointer<index_state> self,
                                          index_actor_config config);

index_actor spawn_index(caf::actor_system& sys, index_actor_config config);

} // namespace telos
