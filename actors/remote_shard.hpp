// The coordinator's side of a shard on another node (owns): attaching to it, and the remote shard
// actor that stands in for it, failing requests fast while its node is gone, reconnecting on its
// own and settling two-phase-commit parts its node still holds.
#pragma once

#include "telos/actors/network.hpp"
#include "telos/actors/node_files.hpp"
#include "telos/actors/transactions.hpp"
#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/uuid.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace telos {

struct attached_shard {
  node_actor node;
  shard_actor shard;
  shard_identity identity;
};

/// Attaches to shard `shard` at `where` (blocking), checking its identity against the map.
expected<attached_shard> attach_shard(caf::actor_system& sys, const cluster_map& map,
                                      uint32_t shard, bool tls);

struct remote_shard_config {
  uint32_t shard = 0;
  uint32_t shard_count = 0;
  uuid cluster;
  endpoint where;
  bool tls = false;
  telos::profile profile;
  /// Already attached (may be null: the remote shard connects on its own).
  shard_actor initial;
  node_actor initial_node;
  /// Resolves the transactions a participant still holds prepared, whenever it attaches.
  std::shared_ptr<decision_log> decisions;
  /// Writes the log (spawn_decision_writer): what a participant applied is recorded through it.
  decision_log_actor decision_writer;
  /// Why `initial` is null, for the first errors.
  std::string initial_error;
  /// Reconnect delays double from min to max.
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  /// Heartbeat: a ping to the node every interval; a node that leaves one unanswered for
  /// ping_timeout is hung (stopped, stuck) and treated as unavailable until it answers again.
  std::chrono::milliseconds ping_interval{1000};
  std::chrono::milliseconds ping_timeout{3000};
};

/// A shard on another node, as the coordinator sees it: forwards every request, fails the ones in
/// flight with ec::unavailable naming the shard as soon as the node goes down, answers new ones
/// with that error at once while it is gone, and reconnects with backoff. `close` does not close
/// the remote shard (its node owns it). A heartbeat pings the node: a node that does not answer
/// within ping_timeout (SIGSTOP, a stuck machine) fails the requests in flight and new ones at once
/// like a dead one, until it answers a ping again. The actor also takes the transaction_shard_actor
/// messages (two-phase commit), forwarded to the node's participant.
shard_actor spawn_remote_shard(caf::actor_system& sys, remote_shard_config config);

} // namespace telos
