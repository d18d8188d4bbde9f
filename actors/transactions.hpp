// Two-phase commit for cluster writes that span shards: the participant protocol a shard host
// serves (prepared writes staged durably next to the shard), the coordinator's durable decision
// log, and the transaction front that a coordinator node publishes in front of the coordinator.
// See docs/CLUSTER.md, "Cross-shard batches".
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace telos {

namespace atom {
// Atoms of the two-phase commit protocol; CAF 0.17 atoms need no type IDs.
using prepare_tx = caf::atom_constant<caf::atom("prepare")>;
constexpr prepare_tx prepare_tx_v{};
using commit_tx = caf::atom_constant<caf::atom("commit")>;
constexpr commit_tx commit_tx_v{};
using abort_tx = caf::atom_constant<caf::atom("abort")>;
constexpr abort_tx abort_tx_v{};
using prepared_tx = caf::atom_constant<caf::atom("prepared")>;
constexpr prepared_tx prepared_tx_v{};
// Liveness of a shard node (the coordinator's heartbeat).
using ping = caf::atom_constant<caf::atom("ping")>;
constexpr ping ping_v{};
using heartbeat = caf::atom_constant<caf::atom("heartbeat")>;
constexpr heartbeat heartbeat_v{};
// Live restore of a checkpoint over a running cluster (docs/CLUSTER.md).
using restore_check = caf::atom_constant<caf::atom("rstcheck")>;
constexpr restore_check restore_check_v{};
using restore_live = caf::atom_constant<caf::atom("rstlive")>;
constexpr restore_live restore_live_v{};
} // namespace atom

/// The participant side, served by a shard host's node actor for each shard it hosts.
using participant_actor = caf::typed_actor<
    /// Stages a shard's part of transaction tx durably (fsync) and votes yes.
    caf::replies_to<atom::prepare_tx, uint32_t, uuid, shard_write>::with<atom::ok>,
    /// Applies the staged part through the shard (an unknown tx was applied already).
    caf::replies_to<atom::commit_tx, uint32_t, uuid>::with<shard_write_result>,
    /// Drops the staged part.
    caf::replies_to<atom::abort_tx, uint32_t, uuid>::with<atom::ok>,
    /// The transactions staged and not resolved yet.
    caf::replies_to<atom::prepared_tx, uint32_t>::with<std::vector<uuid>>,
    /// Answers at once: the coordinator's heartbeat (a node that stops answering is hung).
    caf::replies_to<atom::ping>::with<atom::ok>,
    /// Checkpoints the shard into DIR/shard-<i> on the node's own disk, and puts the node's
    /// MANIFEST and cluster binding beside it (DIR then is a data dir for `telosd`).
    caf::replies_to<atom::checkpoint, uint32_t, std::string>::with<atom::ok>,
    /// Restore phase 1: checks that DIR (on the node's disk) holds the shard as a checkpoint of a
    /// store like the node's (backend, shard count, profile); changes nothing.
    caf::replies_to<atom::restore_check, uint32_t, std::string>::with<atom::ok>,
    /// Restore phase 2: stops the shard's actors, replaces its directory with DIR/shard-<i>, drops
    /// its index snapshots and staged parts, reopens it (indexes rebuilt) and answers with the new
    /// shard actor.
    caf::replies_to<atom::restore_live, uint32_t, std::string>::with<caf::actor>>;

/// The same protocol as the coordinator's remote shard actors take it (they add the shard id).
using transaction_shard_actor =
    caf::typed_actor<caf::replies_to<atom::prepare_tx, uuid, shard_write>::with<atom::ok>,
                     caf::replies_to<atom::commit_tx, uuid>::with<shard_write_result>,
                     caf::replies_to<atom::abort_tx, uuid>::with<atom::ok>,
                     /// Restore phase 1 for this shard on its node.
                     caf::replies_to<atom::restore_check, std::string>::with<atom::ok>,
                     /// Restore phase 2: answers once the shard serves the restored data and the
                     /// remote shard is attached to its new actor.
                     caf::replies_to<atom::restore_live, std::string>::with<atom::ok>>;

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
  /// Opens (creates) the log of a cluster of `shard_count` shards and compacts it.
  static expected<std::shared_ptr<decision_log>>
  open(const std::string& data_dir, uint32_t shard_count, size_t compact_every = 1024);
  ~decision_log();
  /// The commit point of a cross-shard batch over `shards` writing `ids`: appends its line and
  /// fsyncs.
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

/// Restores the checkpoint DIR on a live cluster through its transaction front (`front`, the actor
/// a coordinator node hands to clients): new writes and reads wait, the ones in flight finish,
/// every node checks its part of DIR, then every shard is replaced and reopened. Replies with the
/// number of memories after the restore. See docs/CLUSTER.md, "Checkpoint and restore".
expected<uint64_t> restore_cluster(caf::actor_system& sys, const caf::actor& front,
                                   const std::string& dir, std::chrono::milliseconds timeout);

/// What a coordinator node publishes instead of the bare coordinator: put and remove batches
/// whose ids fall on several shards go through two-phase commit over `shards` (the remote shard
/// actors, in shard order); everything else is handed to the coordinator unchanged.
coordinator_actor spawn_transaction_front(caf::actor_system& sys, coordinator_actor coordinator,
                                          std::vector<transaction_shard_actor> shards,
                                          telos::profile profile, telos::limits limits,
                                          std::shared_ptr<decision_log> decisions);

} // namespace telos
