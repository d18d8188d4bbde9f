// The shard node (owns): the node actor a telosd shard host publishes. It answers the attach
// handshake for the shards it hosts, is the participant of two-phase commit (stages parts in
// prepared/, applies or drops them, through actors/participant.hpp), writes checkpoints and
// restores a shard live.
#pragma once

#include "telos/actors/engine.hpp"
#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"
#include "telos/shard/open_shard.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace telos {

struct shard_host {
  /// Owned by the caller; a live restore, and a reopen after a write error, replace what it holds
  /// (close_shard, then open_shard).
  opened_shard* storage = nullptr;
  /// Null while the shard is being restored or reopened, or after a restore or reopen that
  /// failed. The node spawns it (and `engine`) when it starts.
  shard_actor actor;
  /// The engine coordinator over this shard alone (spawn_engine): closing it stops the shard's
  /// actors (shard, backend, indexes).
  coordinator_actor engine;
};

struct shard_node_config {
  std::string data_dir;
  std::string backend;
  telos::profile profile;
  uint32_t shard_count = 0;
  /// How the node (re)opens a shard after a live restore or a write error (`shard` is set per
  /// shard).
  shard_open_options open;
  engine_options engine;
  /// A shard whose store asked to be reopened (storage::asks_for_reopen) probes its disk at most
  /// this long apart until the disk takes writes again, then is reopened.
  std::chrono::milliseconds max_probe_wait{1000};
};

/// The node actor of a telosd shard host: spawns the actors of the shards it hosts (opened, their
/// `actor` and `engine` null), answers attach for them, takes part in two-phase commit, writes
/// checkpoints and restores them live. When a shard's store stops writes after an error it
/// cannot recover from while open (RocksDB's fatal background error, LMDB's MDB_PANIC), the node
/// keeps serving the shard's reads, probes the disk (a small file written and fsynced beside the
/// store) and, once that succeeds, closes and reopens the shard by itself.
node_actor spawn_shard_node(caf::actor_system& sys, shard_node_config config,
                            std::vector<shard_host> shards);

/// Stops a shard node: waits for a restore in progress, closes the actors of every hosted shard
/// and lets the node quit. Afterwards the caller closes the storage (close_shard).
expected<void> stop_shard_node(caf::actor_system& sys, const node_actor& node);

} // namespace telos
