// The whole message protocol of Telos: every typed actor interface (engine and cluster), with the
// payload types only actors exchange; the atoms are in atoms.hpp. Reading this file tells you who
// talks to whom and what each answer means.
//
//   client ─▶ coordinator ─▶ shard ─▶ backend (detached: every blocking storage call)
//                                  └▶ index × embedder
//
// A shard and its backend and index actors always live in one process; the coordinator may talk
// to shards on other nodes, so shard_actor and coordinator_actor carry only serialisable data.
#pragma once

#include "telos/messages/atoms.hpp"
#include "telos/messages/flag_list.hpp"
#include "telos/messages/graph.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/messages/write_volume.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace telos {

// -- payloads -------------------------------------------------------------------------------------

/// One shard's part of a client write: the memories to store (in order) and the ids to remove,
/// committed as one atomic batch.
struct shard_write {
  std::vector<memory> puts;
  std::vector<uuid> removes;
  /// Every put must replace a stored memory (update); otherwise ec::not_found, nothing written.
  bool must_exist = false;
  /// Edges and quads, applied after the puts and removes, in the same batch. Every endpoint of
  /// an added edge that lives on this shard must be stored; ec::not_found otherwise.
  graph_write graph;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_write& x) {
  return f(caf::meta::type_name("shard_write"), x.puts, x.removes, x.must_exist, x.graph);
}

/// What a committed shard_write changed.
struct shard_write_result {
  /// Parallel to shard_write::removes: whether the id was stored.
  flag_list removed;
  graph_write_result graph;
  /// Edges deleted because one of their endpoints was removed (both directions), so the
  /// coordinator can delete the copies on the other endpoints' shards.
  std::vector<edge_data> dropped_edges;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_write_result& x) {
  return f(caf::meta::type_name("shard_write_result"), x.removed, x.graph, x.dropped_edges);
}

/// One committed sequence's changes to one embedder's index: the final state of every id the
/// commit touched (an id appears at most once).
struct index_update {
  uint64_t sequence = 0;
  std::vector<uuid> upsert_ids;
  /// Parallel to upsert_ids.
  std::vector<embedding> upserts;
  std::vector<uuid> removes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_update& x) {
  return f(caf::meta::type_name("index_update"), x.sequence, x.upsert_ids, x.upserts, x.removes);
}

/// A page of vectors of one embedder, in id order (index rebuilds stream these).
struct vector_chunk {
  std::vector<uuid> ids;
  /// Parallel to ids.
  std::vector<embedding> embeddings;
  /// True when the keyspace has no vectors after the last id of this chunk.
  bool last = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vector_chunk& x) {
  return f(caf::meta::type_name("vector_chunk"), x.ids, x.embeddings, x.last);
}

/// A page of list results; next_after is nil on the last page.
struct list_page {
  std::vector<memory> items;
  uuid next_after;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_page& x) {
  return f(caf::meta::type_name("list_page"), x.items, x.next_after);
}

/// The filter-relevant facts of one stored memory.
struct record_fact {
  uuid id;
  std::string ns;
  int64_t created_at = 0;
  /// attribute_hash of every attribute, sorted.
  std::vector<uint64_t> attribute_hashes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_fact& x) {
  return f(caf::meta::type_name("record_fact"), x.id, x.ns, x.created_at, x.attribute_hashes);
}

/// The backend's half of a verify: what the rows of one shard say.
struct storage_check {
  uint64_t records_checked = 0;
  /// One line per inconsistency found in the rows.
  std::vector<std::string> problems;
  /// Rows changed by the repair (0 without repair).
  uint64_t repaired = 0;
  /// Facts of every complete, decodable memory after the repair, in id order.
  std::vector<record_fact> facts;
  /// Per-namespace memory counts the facts imply.
  std::map<std::string, uint64_t> per_namespace;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_check& x) {
  return f(caf::meta::type_name("storage_check"), x.records_checked, x.problems, x.repaired,
           x.facts, x.per_namespace);
}

/// An index's half of a verify.
struct index_check {
  /// Vectors the index holds.
  uint64_t size = 0;
  /// Ids asked about that the index lacks.
  std::vector<uuid> missing;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_check& x) {
  return f(caf::meta::type_name("index_check"), x.size, x.missing);
}

/// Counters of one index actor.
struct index_info {
  std::string embedder;
  uint32_t shard = 0;
  uint64_t vectors = 0;
  uint64_t fresh = 0;
  uint64_t memory_bytes = 0;
  /// storage::index_stats::mapped_bytes: still used from a mapped snapshot, copied by maintain().
  uint64_t mapped_bytes = 0;
  std::string structure;
  /// Sequence of the last update the index applied.
  uint64_t sequence = 0;
  /// Sequence the index's snapshot on disk covers (0: none yet); a restart after a crash replays
  /// the changelog after it.
  uint64_t snapshot_sequence = 0;
  /// Snapshots written while the store ran (checkpoints), and why the last one failed (empty when
  /// it did not; the previous snapshot then stays in force and the actor tries again later).
  uint64_t checkpoints = 0;
  std::string checkpoint_error;
  /// Vectors upserted or removed since the last checkpoint (what a restart after a crash now
  /// replays, about), the count at which the next checkpoint is due, and the index's full
  /// interval between two checkpoints (0 and 0 when it takes none while running). The first
  /// checkpoint after an open comes early (index_actor_config::checkpoint_phase), so an index
  /// is at its worst point, the most to replay, just before a checkpoint due after a full
  /// interval.
  uint64_t changes_since_checkpoint = 0;
  uint64_t next_checkpoint = 0;
  uint64_t checkpoint_interval = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_info& x) {
  return f(caf::meta::type_name("index_info"), x.embedder, x.shard, x.vectors, x.fresh,
           x.memory_bytes, x.mapped_bytes, x.structure, x.sequence, x.snapshot_sequence,
           x.checkpoints, x.checkpoint_error, x.changes_since_checkpoint, x.next_checkpoint,
           x.checkpoint_interval);
}

/// What a backend actor says about its store: only what needs no scan.
struct backend_info {
  /// Bytes of the store's directory.
  uint64_t disk_bytes = 0;
  /// Bytes written since the store was opened (RocksDB; zeros elsewhere).
  write_volume written;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backend_info& x) {
  return f(caf::meta::type_name("backend_info"), x.disk_bytes, x.written);
}

/// Counters of one shard.
struct shard_info {
  uint32_t shard = 0;
  /// Last committed changelog sequence.
  uint64_t sequence = 0;
  uint64_t memories = 0;
  std::map<std::string, uint64_t> per_namespace;
  uint64_t disk_bytes = 0;
  std::vector<index_info> indexes;
  /// Bytes written since the shard's backend was opened (backend_info::written).
  write_volume written;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_info& x) {
  return f(caf::meta::type_name("shard_info"), x.shard, x.sequence, x.memories, x.per_namespace,
           x.disk_bytes, x.indexes, x.written);
}

/// The outcome of verify over one shard or the whole store.
struct verify_result {
  uint64_t records_checked = 0;
  /// One line per inconsistency: what, which id or key, which shard.
  std::vector<std::string> problems;
  /// Problems repaired (verify with repair only).
  uint64_t repaired = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verify_result& x) {
  return f(caf::meta::type_name("verify_result"), x.records_checked, x.problems, x.repaired);
}

/// What a telosd node says about one shard it hosts, when a coordinator attaches to it.
struct shard_identity {
  uint32_t shard = 0;
  /// Shards of the store the shard belongs to (its routing modulus).
  uint32_t shard_count = 0;
  /// The backend's name (rocksdb, lmdb, memory).
  std::string backend;
  telos::profile profile;
  /// Where the node keeps the shard (for error messages).
  std::string data_dir;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_identity& x) {
  return f(caf::meta::type_name("shard_identity"), x.shard, x.shard_count, x.backend, x.profile,
           x.data_dir);
}

/// What a coordinator node tells a client that attaches to it.
struct cluster_identity {
  uuid cluster;
  uint32_t shards = 0;
  std::string backend;
  telos::profile profile;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_identity& x) {
  return f(caf::meta::type_name("cluster_identity"), x.cluster, x.shards, x.backend, x.profile);
}

// -- actors ---------------------------------------------------------------------------------------

/// The maintenance every store-holding actor (backend, shard, coordinator) answers alike.
using maintenance_actor = caf::typed_actor<
    /// Makes every committed (acknowledged) write durable.
    caf::replies_to<atom::flush>::with<atom::ok>,
    /// Full compaction of the backend(s).
    caf::replies_to<atom::compact>::with<atom::ok>,
    /// A consistent copy of what the actor holds under a directory that does not exist yet (a
    /// shard: DIR/shard-<id>; the coordinator: every shard, writes held back meanwhile).
    caf::replies_to<atom::checkpoint, std::string>::with<atom::ok>,
    /// Finishes queued work, stops what the actor owns (a backend: stops using it; its owner
    /// closes it) and quits.
    caf::replies_to<atom::close>::with<atom::ok>>;

/// Owns one shard's backend and runs every blocking call on it; spawned detached, so disk I/O
/// never stalls the scheduler. Answers in arrival order.
using backend_actor = caf::typed_actor<
    /// Commits a batch atomically (fsync when the store syncs writes). With the flag set, only if
    /// the write before it succeeded: else it fails with ec::io_error naming that failure, and
    /// nothing is written.
    caf::replies_to<atom::write, write_batch, bool>::with<atom::ok>,
    /// Reads memories from one snapshot, with their embeddings when the flag is set; a memory with
    /// a nil id stands for an absent one.
    caf::replies_to<atom::get, std::vector<uuid>, bool>::with<std::vector<memory>>,
    /// Up to `limit` memories of namespace ns ("" = all) with ids after `after`, in id order.
    caf::replies_to<atom::list, std::string, uuid, uint64_t>::with<std::vector<memory>>,
    /// Up to `limit` vectors of the embedder at a profile position, ids after `after`, in id order.
    caf::replies_to<atom::scan, uint32_t, uuid, uint64_t>::with<vector_chunk>,
    /// The candidates of a filter from the secondary index rows (indexed attributes, else the
    /// created_at range), ascending; every admitted id is among them.
    caf::replies_to<atom::scan, filter>::with<std::vector<uuid>>,
    /// Checks every row; with repair, fixes rows and drops the index snapshot markers.
    caf::replies_to<atom::verify, bool>::with<storage_check>,
    /// Bytes on disk and bytes written since open (no scan: cheap enough to ask every second).
    caf::replies_to<atom::stats>::with<backend_info>,
    /// The edges at a node, from the shard's graph (out before in; by type, then endpoint).
    caf::replies_to<atom::edges, neighbour_request>::with<std::vector<edge_data>>,
    /// Breadth-first traversal over this shard's edges only.
    caf::replies_to<atom::traverse, traverse_request>::with<std::vector<graph_path>>,
    /// One page of the quads matching a pattern.
    caf::replies_to<atom::quads,
                    quad_match_request>::with<quad_match_page>>::extend_with<maintenance_actor>;

/// Holds one embedder's index of one shard. Updates arrive in sequence order; an acknowledged
/// update is searchable. Fresh vectors move into the ANN graph while the actor is idle.
using index_actor = caf::typed_actor<
    /// Applies one committed sequence; replies once its vectors are searchable.
    caf::replies_to<atom::update, index_update>::with<atom::ok>,
    /// Top-k among the ids the filter admits (judged on the shard's record facts).
    caf::replies_to<atom::search, embedding, uint32_t, filter>::with<std::vector<hit>>,
    /// Exact scores of those of the ids the index holds.
    caf::replies_to<atom::score, embedding, std::vector<uuid>>::with<std::vector<hit>>,
    /// Which of the ids the index lacks, and how many vectors it holds.
    caf::replies_to<atom::check, std::vector<uuid>>::with<index_check>,
    /// Drops every vector (a rebuild starts).
    caf::replies_to<atom::clear>::with<atom::ok>,
    /// Adds a chunk of vectors (a rebuild continues).
    caf::replies_to<atom::load, vector_chunk>::with<atom::ok>,
    /// Counters.
    caf::replies_to<atom::stats>::with<index_info>,
    /// Moves one budget of fresh vectors into the ANN graph; the actor sends this to itself.
    caf::reacts_to<atom::maintain>,
    /// The background training with this number is done (sent by its thread).
    caf::reacts_to<atom::maintain, uint64_t>,
    /// Starts saving the index as the shard's snapshot of it in the background; the actor sends
    /// this to itself once enough vectors changed since the last one.
    caf::reacts_to<atom::checkpoint>,
    /// The background save with this number is done (sent by its thread).
    caf::reacts_to<atom::checkpoint, uint64_t>,
    /// Replies once no snapshot is being saved and none is due.
    caf::replies_to<atom::flush>::with<atom::ok>,
    /// Stops touching the index (its owner snapshots it) and quits.
    caf::replies_to<atom::close>::with<atom::ok>>;

/// One shard: the single writer of its backend, which commits each group of writes as one batch
/// and then fans the vectors out to its index actors. What a node publishes to remote
/// coordinators, hence message-only.
using shard_actor = caf::typed_actor<
    /// Commits puts and removes atomically; replies after every index acknowledged.
    caf::replies_to<atom::write, shard_write>::with<shard_write_result>,
    /// Memories with embeddings, from one snapshot; nil id = absent.
    caf::replies_to<atom::get, std::vector<uuid>>::with<std::vector<memory>>,
    /// Whether each id is stored.
    caf::replies_to<atom::exists, std::vector<uuid>>::with<flag_list>,
    /// Up to `limit` memories of namespace ns ("" = all) with ids after `after`, in id order.
    caf::replies_to<atom::list, std::string, uuid, uint64_t>::with<std::vector<memory>>,
    /// Memories in namespace ns ("" = all), from counters.
    caf::replies_to<atom::count, std::string>::with<uint64_t>,
    /// Up to `limit` memories the filter admits with ids after `after`, in id order.
    caf::replies_to<atom::list, filter, uuid, uint64_t>::with<std::vector<memory>>,
    /// Memories the filter admits.
    caf::replies_to<atom::count, filter>::with<uint64_t>,
    /// The edges at a node stored on this shard (every edge of a memory of this shard).
    caf::replies_to<atom::edges, neighbour_request>::with<std::vector<edge_data>>,
    /// Breadth-first traversal over this shard's edges (the whole graph when it is the only one).
    caf::replies_to<atom::traverse, traverse_request>::with<std::vector<graph_path>>,
    /// One page of this shard's quads matching a pattern.
    caf::replies_to<atom::quads, quad_match_request>::with<quad_match_page>,
    /// Top-k of one embedder's index among memories the filter admits.
    caf::replies_to<atom::search, std::string, embedding, uint32_t, filter>::with<std::vector<hit>>,
    /// Exact scores of one embedder for those of the ids the shard holds.
    caf::replies_to<atom::score, std::string, embedding, std::vector<uuid>>::with<std::vector<hit>>,
    /// Counters of the shard and its indexes.
    caf::replies_to<atom::stats>::with<shard_info>,
    /// Checks rows, counters and indexes with writes held back; with repair, fixes and rebuilds.
    caf::replies_to<atom::verify, bool>::with<verify_result>>::extend_with<maintenance_actor>;

/// The entry point of a store: validates, routes by stable_hash(id) % shards, fans out and
/// merges. Writes beyond the in-flight limit fail with ec::overloaded.
using coordinator_actor = caf::typed_actor<
    /// Stores or replaces memories (nil ids get fresh ones), all or nothing per shard; replies with
    /// the ids once every index of every shard involved acknowledged.
    caf::replies_to<atom::put, std::vector<memory>>::with<std::vector<uuid>>,
    /// Replaces a stored memory; ec::not_found when absent.
    caf::replies_to<atom::update, memory>::with<atom::ok>,
    /// Removes memories; replies whether each existed.
    caf::replies_to<atom::remove, std::vector<uuid>>::with<flag_list>,
    /// Memories with embeddings; nil id = absent.
    caf::replies_to<atom::get, std::vector<uuid>>::with<std::vector<memory>>,
    /// Whether each id is stored.
    caf::replies_to<atom::exists, std::vector<uuid>>::with<flag_list>,
    /// A page of memories of namespace ns ("" = all) with ids after `after`, in id order.
    caf::replies_to<atom::list, std::string, uuid, uint64_t>::with<list_page>,
    /// Memories in namespace ns ("" = all), O(shards).
    caf::replies_to<atom::count, std::string>::with<uint64_t>,
    /// A page of the memories the filter admits (namespace, where, created_at range), id order.
    caf::replies_to<atom::list, filter, uuid, uint64_t>::with<list_page>,
    /// Memories the filter admits.
    caf::replies_to<atom::count, filter>::with<uint64_t>,
    /// Adds or replaces edges; each is stored on the shards of both endpoints, which must exist
    /// (ec::not_found); all or nothing per shard.
    caf::replies_to<atom::edges, atom::put, std::vector<edge_data>>::with<atom::ok>,
    /// Removes edges (key fields only); replies whether each existed.
    caf::replies_to<atom::edges, atom::remove, std::vector<edge_data>>::with<flag_list>,
    /// The edges at a node: out, in or both, filtered by type and namespace.
    caf::replies_to<atom::edges, neighbour_request>::with<std::vector<edge_data>>,
    /// Breadth-first traversal to a depth, one shortest path per reached node, at most `limit`.
    caf::replies_to<atom::traverse, traverse_request>::with<std::vector<graph_path>>,
    /// Adds quads of free-text terms (kept on shard 0); all or nothing.
    caf::replies_to<atom::quads, atom::put, std::vector<quad_text>>::with<atom::ok>,
    /// Removes quads; replies whether each existed.
    caf::replies_to<atom::quads, atom::remove, std::vector<quad_text>>::with<flag_list>,
    /// One page of the quads matching a pattern, in a stable order.
    caf::replies_to<atom::quads, quad_match_request>::with<quad_match_page>,
    /// Top-k of one embedder across shards, filtered, with records.
    caf::replies_to<atom::search, search_request>::with<search_result>,
    /// Top-k fused over several embedders (weighted RRF or weighted score sum).
    caf::replies_to<atom::search, fused_search_request>::with<search_result>,
    /// Counters of every shard.
    caf::replies_to<atom::stats>::with<std::vector<shard_info>>,
    /// Checks (and with the flag repairs) every shard.
    caf::replies_to<atom::verify, bool>::with<verify_result>>::extend_with<maintenance_actor>;

/// What a telosd process publishes on its port (actors/cluster.hpp): it hands out the shard
/// actors or the coordinator it hosts, after checking who asks for what.
using node_actor = caf::typed_actor<
    /// A coordinator attaches to shard `shard` of cluster `cluster` with `count` shards; the
    /// node checks it hosts that shard with that count and binds its data directory to the
    /// cluster (or checks the binding), then answers with the shard actor. With the flag set the
    /// coordinator has attached this shard before, so an unbound data directory is refused.
    caf::replies_to<atom::attach, uint32_t, uuid, uint32_t, bool>::with<caf::actor, shard_identity>,
    /// A client attaches to the coordinator a coordinator node runs.
    caf::replies_to<atom::attach>::with<caf::actor, cluster_identity>>;

// -- the cluster: nodes, remote shards, two-phase commit (actors/cluster.hpp) ---------------------

/// The participant side of two-phase commit and the node's own jobs for a shard it hosts, served
/// by a shard host's node actor (the shard's id comes first).
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

/// A shard host's node actor (actors/shard_node.hpp): the attach handshake plus the participant
/// side. Published as a node_actor; coordinators cast it to participant_actor.
using shard_node_actor = node_actor::extend_with<participant_actor>::extend<
    /// Waits for a restore in progress, closes every hosted shard's actors and quits.
    caf::replies_to<atom::close>::with<atom::ok>,
    /// A shard's write failed with an error that asks for a reopen (`false`), or the wait of
    /// that shard's recovery ended (`true`): sent by the node to itself.
    caf::reacts_to<atom::reopen, uint32_t, bool>>;

/// Keeps a shard host's staged two-phase-commit parts, <data-dir>/prepared/shard-<i>/<tx>;
/// spawned detached by the shard node, so their writes and fsyncs never stall the scheduler.
using prepared_parts_actor = caf::typed_actor<
    /// Stores shard i's encoded part of tx durably (file and directory synced).
    caf::replies_to<atom::prepare_tx, uint32_t, uuid, std::string>::with<atom::ok>,
    /// Shard i's encoded part of tx; false when none is stored (applied and dropped already).
    caf::replies_to<atom::get, uint32_t, uuid>::with<bool, std::string>,
    /// Drops shard i's part of tx (absent is fine).
    caf::replies_to<atom::remove, uint32_t, uuid>::with<atom::ok>,
    /// The transactions with a part of shard i stored.
    caf::replies_to<atom::prepared_tx, uint32_t>::with<std::vector<uuid>>,
    /// Quits.
    caf::replies_to<atom::close>::with<atom::ok>>;

/// Writes a coordinator node's decision log (actors/transactions.hpp); spawned detached, so the
/// fsync of a decision never stalls the scheduler.
using decision_log_actor = caf::typed_actor<
    /// The commit point of cross-shard transaction tx over the shards, writing the ids: appends its
    /// decision and syncs.
    caf::replies_to<atom::commit_tx, uuid, std::vector<uint32_t>,
                    std::vector<uuid>>::with<atom::ok>,
    /// A shard applied its part of tx (not synced; may compact the log).
    caf::replies_to<atom::applied_tx, uuid, uint32_t>::with<atom::ok>,
    /// Quits.
    caf::replies_to<atom::close>::with<atom::ok>>;

/// The participant protocol as the coordinator's remote shard actors take it (they add the shard
/// id and forward to the node).
using transaction_shard_actor = caf::typed_actor<
    /// Stages this shard's part of transaction tx on its node and votes yes.
    caf::replies_to<atom::prepare_tx, uuid, shard_write>::with<atom::ok>,
    /// Applies the staged part (an unknown tx was applied already).
    caf::replies_to<atom::commit_tx, uuid>::with<shard_write_result>,
    /// Drops the staged part.
    caf::replies_to<atom::abort_tx, uuid>::with<atom::ok>,
    /// Restore phase 1 for this shard on its node.
    caf::replies_to<atom::restore_check, std::string>::with<atom::ok>,
    /// Restore phase 2: answers once the shard serves the restored data and the remote shard is
    /// attached to its new actor.
    caf::replies_to<atom::restore_live, std::string>::with<atom::ok>>;

/// The coordinator's stand-in for a shard on another node (actors/remote_shard.hpp): a shard_actor
/// that forwards, plus the two-phase-commit messages, forwarded to the node's participant.
using remote_shard_actor = shard_actor::extend<
    /// Tries to reach the node again (sent to itself with backoff).
    caf::reacts_to<atom::reconnect>,
    /// Pings the node (sent to itself every ping interval).
    caf::reacts_to<atom::heartbeat>>::extend_with<transaction_shard_actor>;

/// What a coordinator node hands to clients in front of the coordinator (actors/transactions.hpp):
/// the coordinator's protocol, with cross-shard put and remove batches committed in two phases.
using transaction_front_actor = coordinator_actor::extend<
    /// Retries the commit of a decided transaction on the shards that did not apply it.
    caf::reacts_to<atom::retry_commit, uuid>,
    /// Restores checkpoint DIR on the live cluster; replies with the memories after it.
    caf::replies_to<atom::restore_live, std::string>::with<uint64_t>>;

} // namespace telos
