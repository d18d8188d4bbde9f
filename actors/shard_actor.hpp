// The shard actor: the single writer of one shard. Writes queue up while a commit is in flight
// and then commit together as one group (one write batch, one sequence number); once the backend
// acknowledged, the vectors fan out to the index actors, and each write is answered after every
// index acknowledged. Indexes therefore never show an uncommitted memory, and a replaced vector
// leaves an index only when its replacement is committed. Reads go to the backend actor or the
// indexes; verify and close run when the writer is idle.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/shard_graph.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace telos {

struct shard_actor_config {
  uint32_t id = 0;
  storage::shard_layout layout;
  std::shared_ptr<record_catalog> catalog;
  /// Last committed sequence.
  uint64_t sequence = 0;
  backend_actor backend;
  /// The backend behind `backend`, for prepare() only: each group is converted into the backend's
  /// own form on this actor's thread, not on the writer's. May be null (converted when written).
  std::shared_ptr<storage::backend> storage;
  /// One per embedder, in profile order.
  std::vector<index_actor> indexes;
  std::vector<std::shared_ptr<storage::row_contributor>> contributors;
  /// The shard's graph (index rows, edges, quads); null for a shard without one.
  std::shared_ptr<storage::shard_graph> graph;
  /// Shards of the store: an id lives here when stable_hash(id) % shard_count == id.
  uint32_t shard_count = 1;
  /// Limits of one commit group (the first write of a group always joins it, whatever its size).
  size_t max_group_writes = 512;
  size_t max_group_bytes = size_t{1} << 20;
  /// Vectors per message when an index is rebuilt by verify.
  uint64_t rebuild_chunk = 1024;
  /// Milliseconds since the epoch, stamped into unset timestamps; tests may fix it.
  std::function<int64_t()> clock;
  /// Called with the error of every backend write that failed (a telosd node reopens the shard
  /// when the error asks for it: storage::asks_for_reopen); may be empty.
  std::function<void(const caf::error&)> on_write_error;
};

struct queued_write {
  shard_write request;
  caf::typed_response_promise<shard_write_result> promise;
};

/// Work that needs the writer idle: no commit in flight and every index caught up.
struct exclusive_job {
  /// Let queued writes go first (close); otherwise the job goes before them (verify).
  bool after_queue = false;
  /// Runs the job; it calls the given function exactly once when done.
  std::function<void(std::function<void()>)> run;
};

/// A commit group built and not yet committed (shard_actor.cpp).
struct built_group;

struct shard_state {
  static inline const char* name = "shard";
  shard_actor_config config;
  std::deque<queued_write> queue;
  /// A group is being built or committed.
  bool committing = false;
  /// The group whose write is in flight, and the next one, built meanwhile when it cannot depend
  /// on it (shard_actor.cpp, prepare_next) and sent behind it at once; the backend writes it only
  /// if the first one's write succeeded.
  std::shared_ptr<built_group> writing;
  std::shared_ptr<built_group> ready;
  /// Committed groups whose index acknowledgements are outstanding.
  size_t unacked_groups = 0;
  std::deque<exclusive_job> exclusive;
  bool exclusive_running = false;
  /// close started: new writes fail with ec::closed.
  bool closing = false;
};

shard_actor::behavior_type shard_behavior(shard_actor::stateful_pointer<shard_state> self,
                                          shard_actor_config config);

shard_actor spawn_shard(caf::actor_system& sys, shard_actor_config config);

} // namespace telos
