// Two-phase commit for cluster writes that span shards, at the coordinator (owns): the durable
// decision log, the detached actor that writes it, and the transaction front that a coordinator
// node publishes in front of the coordinator. The participant side is the shard node
// (shard_node.hpp); the protocol is in messages/actor_interfaces.hpp. See docs/CLUSTER.md,
// "Cross-shard batches".
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace telos {

/// A committed cross-shard batch that some shard has not applied yet.
struct pending_decision {
  uuid tx;
  /// The shards whose part is still to apply.
  std::set<uint32_t> shards;
  /// The memory ids of the whole batch (locked until every shard applied its part).
  std::vector<uuid> ids;
};

/// The coordinator's decisions, <data-dir>/DECISIONS: a transaction is committed exactly when its
/// line was written and synced; anything else prepared is aborted. A decision is forgotten once
/// every shard applied its part, and the file is rewritten (temporary file, fsync, rename,
/// directory fsync) at open and whenever `compact_every` lines are dead, so it holds only the
/// decisions some shard still has to apply.
class decision_log {
public:
  /// Opens (creates) the log of a cluster (or a store in one process) of `shard_count` shards and
  /// compacts it. An empty `data_dir` keeps the decisions in memory (a store without a directory).
  static expected<std::shared_ptr<decision_log>>
  open(const std::string& data_dir, uint32_t shard_count, size_t compact_every = 1024);
  ~decision_log();
  /// The commit point of a cross-shard batch over `shards` writing `ids`: appends its line and
  /// fsyncs. Blocking: the decision writer (spawn_decision_writer) calls it.
  expected<void> record_commit(const uuid& tx, const std::set<uint32_t>& shards,
                               const std::vector<uuid>& ids);
  /// `shard` applied its part of tx (not synced: a lost line only keeps the decision longer).
  /// Compacts the file when enough decisions are forgotten.
  expected<void> record_applied(const uuid& tx, uint32_t shard);
  /// Committed and not applied everywhere yet (a forgotten decision is applied everywhere).
  bool committed(const uuid& tx) const;
  std::vector<pending_decision> pending() const;
  /// Marks tx between its first prepare and its decision: a participant's staged part of it is
  /// neither committed nor aborted by recovery meanwhile.
  void begin(const uuid& tx);
  void end(const uuid& tx);
  bool undecided(const uuid& tx) const;
  /// Lines in the file now.
  size_t lines() const;

private:
  decision_log() = default;
  expected<void> append(const std::string& line, bool sync);
  expected<void> compact();
  std::string data_dir_;
  std::string path_;
  uint32_t shard_count_ = 0;
  size_t compact_every_ = 1024;
  int fd_ = -1;
  size_t lines_ = 0;
  mutable std::mutex mutex_;
  std::map<uuid, pending_decision> pending_;
  std::set<uuid> undecided_;
};

/// The detached actor that writes `log` (record_commit's fsync, record_applied's compaction) for
/// the transaction front and the remote shards, off the scheduler's threads. The front closes it.
decision_log_actor spawn_decision_writer(caf::actor_system& sys, std::shared_ptr<decision_log> log);

/// Restores the checkpoint DIR on a live cluster through its transaction front (`front`, the actor
/// a coordinator node hands to clients): new writes and reads wait, the ones in flight finish,
/// every node checks its part of DIR, then every shard is replaced and reopened. Replies with the
/// number of memories after the restore. See docs/CLUSTER.md, "Checkpoint and restore".
expected<uint64_t> restore_cluster(caf::actor_system& sys, const caf::actor& front,
                                   const std::string& dir, std::chrono::milliseconds timeout);

/// What a coordinator node publishes instead of the bare coordinator, and what a store in one
/// process with several shards puts in front of its coordinator: edge writes, and removes of
/// memories whose edges have copies on other shards, that span shards (with `two_phase_puts`,
/// put batches over several shards too) go through two-phase commit over `shards` (the remote
/// shard actors, or the local participants, in shard order); everything else is handed to the
/// coordinator unchanged. `writer` (spawn_decision_writer over `decisions`) writes the log; the
/// front closes it when it closes.
coordinator_actor spawn_transaction_front(caf::actor_system& sys, coordinator_actor coordinator,
                                          std::vector<transaction_shard_actor> shards,
                                          telos::profile profile, telos::limits limits,
                                          std::shared_ptr<decision_log> decisions,
                                          decision_log_actor writer, bool two_phase_puts = true);

} // namespace telos
