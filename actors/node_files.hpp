// A node's files on disk (owns their formats): the shard host's binding to one cluster
// (<data-dir>/NODE), the coordinator's cluster map (<data-dir>/CLUSTER), the staged parts of
// two-phase commit (<data-dir>/prepared/shard-<i>/<tx>), a node's part of a checkpoint (its
// directory, copies of MANIFEST and NODE), and the checks and directory swap of a shard restored
// from a checkpoint. Plain, blocking file work, no actors: the node runs it off its own thread.
#pragma once

#include "telos/actors/network.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/shard/manifest.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace telos {

// -- node binding ---------------------------------------------------------------------------------

/// A node's binding of its data directory to one cluster, in <data-dir>/NODE.
struct node_binding {
  uuid cluster;
  uint32_t shard_count = 0;
};
expected<std::optional<node_binding>> read_node_binding(const std::string& data_dir);
expected<void> write_node_binding(const std::string& data_dir, const node_binding& b);

// -- cluster map ----------------------------------------------------------------------------------

/// The coordinator's persisted shard map, <data-dir>/CLUSTER (text, one fact a line).
struct cluster_map {
  uuid cluster;
  std::string backend;
  /// Empty name until a shard told it.
  telos::profile profile;
  struct entry {
    endpoint where;
    /// Attached at least once: its node's data directory is bound to this cluster.
    bool bound = false;
  };
  std::vector<entry> shards;
};
expected<std::optional<cluster_map>> read_cluster_map(const std::string& data_dir);
expected<void> write_cluster_map(const std::string& data_dir, const cluster_map& m);

// -- prepared parts (two-phase commit) ------------------------------------------------------------

/// Where the prepared parts of shard `shard`'s transactions wait for their outcome.
std::string prepared_dir(const std::string& data_dir, uint32_t shard);

/// Stages the encoded part of transaction `tx` durably: the file and its directory are synced
/// before this returns. Blocking: call it from a detached actor.
expected<void> write_prepared_part(const std::string& data_dir, uint32_t shard, const uuid& tx,
                                   const std::string& bytes);

/// The encoded part of `tx`, or nothing when none is staged (applied and dropped already).
expected<std::optional<std::string>> read_prepared_part(const std::string& data_dir, uint32_t shard,
                                                        const uuid& tx);

/// Drops the staged part of `tx`; nothing when there is none.
void remove_prepared_part(const std::string& data_dir, uint32_t shard, const uuid& tx);

/// The transactions that have a part staged for `shard`.
std::vector<uuid> prepared_parts(const std::string& data_dir, uint32_t shard);

// -- checkpoint -----------------------------------------------------------------------------------

/// Before a node writes shard `shard` into checkpoint `dir`: DIR/shard-<i> must not exist yet
/// (ec::already_exists), and DIR is created (ec::io_error).
expected<void> prepare_checkpoint_directory(const std::string& dir, uint32_t shard);

/// After it: copies of the node's MANIFEST and NODE binding (those it has) make DIR a data dir
/// that telosd serves as it is.
expected<void> copy_node_files(const std::string& data_dir, const std::string& dir);

// -- restore --------------------------------------------------------------------------------------

/// Checks that `dir` is a checkpoint of a store like `m` (backend, shard count, profile) holding
/// `shards` (DIR/shard-<i>); ec::invalid_argument or ec::not_found naming what is wrong.
expected<void> check_checkpoint(const std::string& dir, const store_manifest& m,
                                const std::vector<uint32_t>& shards);

/// Replaces shard `shard` of the store in `data_dir` with its copy in checkpoint `dir`: its
/// backend directory is swapped, its index snapshots (rebuilt at the next open) and staged
/// two-phase-commit parts dropped. The shard must be closed.
expected<void> replace_shard_directory(const std::string& data_dir, const std::string& dir,
                                       uint32_t shard);

} // namespace telos
