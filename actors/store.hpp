// The blocking facade over the Telos actors, for ordinary (non-actor) code: every call sends one
// request to the coordinator and waits for the answer. Actor applications talk to the coordinator
// directly with the same messages (telos/messages/actor_interfaces.hpp).
#pragma once

#include "telos/actors/cluster.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/graph.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/read_pool.hpp"
#include "telos/storage/shard_graph.hpp"
#include "telos/storage/vector_index.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace telos {

struct cluster_identity;

/// How the scheduler of a store's own actor system hands work to its threads (CAF's policies).
enum class scheduler_policy : uint8_t {
  /// CAF's default: one queue per worker; an idle worker polls (spins, then sleeps 50 µs, then
  /// 10 ms at a time) and steals from the others.
  stealing,
  /// One shared queue; an idle worker sleeps until a job arrives. No polling, so no CPU spent
  /// waiting; every hand-off goes through one lock.
  sharing,
};

/// Makes the scheduler threads of the actor system `cfg` configures run as batch threads (Linux
/// SCHED_BATCH; elsewhere, or where the kernel refuses, nothing changes). store::open(opts) does
/// this for its own actor system unless store_options::batch_workers is off; an application with
/// its own system may call it before creating the system. Not for a system that loads CAF's
/// network layer: its thread has the name CAF gives the scheduler threads, and it would become a
/// batch thread as well.
void use_batch_workers(caf::actor_system_config& cfg);

struct store_options {
  /// Store directory (one subdirectory per shard); ignored by the memory backend.
  std::string path = "telos-data";
  storage::backend_kind backend = storage::backend_kind::rocksdb;
  /// The profile for a new store. When opening an existing store: if set, it must equal the
  /// stored profile (else ec::format_mismatch); if unset, the stored profile is used.
  std::optional<telos::profile> profile;
  /// Number of shards of a new store (persisted; an existing store keeps its own).
  uint32_t shards = 1;
  bool create_if_missing = true;
  /// fsync every write before acknowledging it (RocksDB WAL sync / LMDB durable commit), so an
  /// acknowledged write survives a power loss. On by default; off, a write is acknowledged once it
  /// is in the OS page cache: it survives a process crash, not a power loss (docs/STORAGE.md).
  bool sync_writes = true;
  telos::limits limits;
  storage::backend_options backend_options;
  storage::index_options index_options;
  /// Writes in flight beyond this wait (facade) or fail with ec::overloaded (actor clients).
  size_t max_inflight_writes = 256;
  /// With several shards, a put batch whose memories fall on more than one shard commits by
  /// two-phase commit, as every other write that spans shards does: after a crash at any instant
  /// either the whole batch is there or none of it. Off, each shard's part of the batch commits
  /// on its own (atomic per shard), which costs less per batch (docs/ENGINE.md "Writes that span
  /// shards"). A store with one shard has nothing to choose.
  bool atomic_batches = true;
  /// A shard commits the writes that queued up meanwhile as one group (one batch, one backend
  /// write) of at most this many estimated bytes; a single write larger than that is a group of its
  /// own. Groups of about 1 MiB keep several in the pipeline, so the backend's writer always has
  /// the next one ready (docs/ENGINE.md, "Group size").
  size_t max_group_bytes = size_t{1} << 20;
  /// Each embedder of a fused search contributes its top max(k, fused_depth) candidates.
  uint32_t fused_depth = 100;
  /// Scheduler threads of the actor system that store::open(opts) creates; 0 = CAF's default (the
  /// number of cores, at least 4). Fewer threads than that leave more of a small machine to the
  /// backend's writing thread (docs/ENGINE.md, "Scheduler"). Ignored by open(sys, opts): an
  /// application that brings its own actor system configures its scheduler itself.
  size_t worker_threads = 0;
  /// The scheduling policy of that actor system (ignored by open(sys, opts) as well).
  telos::scheduler_policy scheduler = telos::scheduler_policy::stealing;
  /// Whether that actor system's scheduler threads run as batch threads (Linux SCHED_BATCH, which
  /// needs no privilege; use_batch_workers() below). A batch thread that wakes up does not preempt
  /// a running thread: it runs on an idle core, or when the running thread blocks or its time
  /// slice ends. So the actors no longer interrupt the backend's writing thread, which every
  /// acknowledgement waits for (docs/ENGINE.md, "Scheduler"). Ignored by open(sys, opts).
  bool batch_workers = true;
  /// Threads of the store's read pool (storage::read_pool, shared by its shards): a quantised or
  /// MaxSim index's re-score read of its candidates' f32 originals is split into parts of at least
  /// read_part_keys keys read at once, so when the vector keyspaces outgrow the page cache the
  /// device serves those reads side by side instead of one after another (docs/ENGINE.md,
  /// "Searches"). 0: each re-score read is one multi_get on the searching thread. The threads
  /// mostly wait on the device; persistent backends only.
  size_t read_threads = 16;
  /// Least keys in one part of a split re-score read (at least 1).
  size_t read_part_keys = storage::read_pool::default_min_part;
  /// Re-score reads are split only while recent ones fetched at least this many bytes per key from
  /// the device (not the page cache); 0 = always split.
  double read_split_device_bytes = storage::read_pool::default_split_device_bytes;
  /// Secondary structures (attribute/time indexes, graph) whose rows commit in the same batch
  /// as each memory; their keyspaces are declared after the engine's own.
  std::vector<std::shared_ptr<storage::row_contributor>> row_contributors;
  /// What the graph of a new store indexes (attributes with attribute/value rows, time bucket
  /// width). An existing store keeps what it was created with; if set, it must match
  /// (ec::format_mismatch). Every store has a graph: edges, quads and these index rows commit in
  /// the same batch as the memories.
  std::optional<storage::graph_options> graph;
  /// Each index saves a snapshot of itself (a checkpoint) after at most this many of its vectors
  /// were upserted or removed, so a restart after a crash replays at most about that many changes
  /// per index instead of everything since the last close; 0 = snapshots at close only. The
  /// indexes of a store take their turns (docs/ENGINE.md, "Recovery").
  size_t checkpoint_every = 250000;
  /// An index checkpoints after this fraction of its size in changes, within the bounds
  /// checkpoint_every / 20 and checkpoint_every. A checkpoint rewrites the whole index, so this
  /// trades write amplification against replay after a crash: 1 (the default) and a 250,000 cap
  /// measured 2.89 and a 35 s worst restart at 1M teleo13 memories, 0.25 and 100,000 3.93 and
  /// 31.5 s; with deltas (a dense ivf index that only grew writes what it added) 2.76 at the
  /// defaults (docs/ENGINE.md, "Recovery"; docs/BENCHMARKS.md).
  double checkpoint_fraction = 1.0;
  /// Backpressure: while an index holds more than this many vectors outside its ANN graph (they
  /// are searched exactly, so searches slow down as they pile up), each write it applies is
  /// acknowledged only after two fresh vectors per vector written moved into the graph. Writers
  /// then go at the speed graphs are built instead of outrunning it; 0 = no bound.
  size_t max_fresh = 10000;
};

/// A page of list results; pass next_after to continue.
struct memory_page {
  std::vector<memory> items;
  std::optional<uuid> next_after;
};

struct index_report {
  std::string embedder;
  uint32_t shard = 0;
  storage::index_stats stats;
  /// Sequence the index's snapshot on disk covers (0: none yet).
  uint64_t snapshot_sequence = 0;
  /// Snapshots written while the store ran, and the last one's error (empty when it succeeded).
  uint64_t checkpoints = 0;
  std::string checkpoint_error;
  /// Changes since the last checkpoint, the count at which the next one is due and the full
  /// interval (index_info: 0 and 0 without checkpoints while running).
  uint64_t changes_since_checkpoint = 0;
  uint64_t next_checkpoint = 0;
  uint64_t checkpoint_interval = 0;
};

struct store_stats {
  uint64_t memories = 0;
  std::map<std::string, uint64_t> per_namespace;
  uint64_t disk_bytes = 0;
  /// Bytes written since each shard's backend was opened, summed over the shards (RocksDB; zeros
  /// elsewhere): written.amplification() is the store's write amplification.
  write_volume written;
  std::vector<index_report> indexes;
  storage::backend_kind backend = storage::backend_kind::rocksdb;
  uint32_t shards = 1;
  /// Last committed changelog sequence per shard.
  std::vector<uint64_t> sequences;
};

struct verify_report {
  bool consistent = true;
  uint64_t records_checked = 0;
  /// One line per inconsistency: what, which id/key, which shard.
  std::vector<std::string> problems;
  /// Number of problems repaired (verify with repair only).
  uint64_t repaired = 0;
};

/// What a store directory holds, read from its manifest without opening the store.
struct store_description {
  storage::backend_kind backend = storage::backend_kind::rocksdb;
  telos::profile profile;
  uint32_t shards = 1;
};

class store {
public:
  /// The description of the store at `path`; an empty optional when `path` holds no Telos store.
  static expected<std::optional<store_description>> inspect(const std::string& path);
  /// Opens or creates a store, with an actor system of its own.
  static expected<std::unique_ptr<store>> open(store_options opts);
  /// Opens or creates a store inside an existing actor system (which must have been configured
  /// with telos::register_telos).
  static expected<std::unique_ptr<store>> open(caf::actor_system& sys, store_options opts);
  /// Connects to the coordinator a `telosd --coordinator` node publishes at host:port (TLS when
  /// `tls` names certificates), with an actor system of its own. Every call then goes over the
  /// network; close() lets go of the coordinator and leaves the cluster running. Requests that
  /// get no answer within `timeout` fail with ec::unavailable.
  static expected<std::unique_ptr<store>>
  connect(const std::string& host, uint16_t port, const tls_options& tls = {},
          std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// A facade over a coordinator actor of this actor system that belongs to someone else (the
  /// transaction front of `telosd --coordinator`, for its HTTP port): calls behave as over
  /// connect(); close() lets go of the coordinator and leaves it running. `identity` gives the
  /// profile, shard count and backend; `name` names the coordinator in errors.
  static std::unique_ptr<store>
  attach(caf::actor_system& sys, const caf::actor& coordinator, const cluster_identity& identity,
         const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// Replaces the store at `target.path` with the checkpoint in `checkpoint_dir` and opens it.
  static expected<std::unique_ptr<store>> restore(const std::string& checkpoint_dir,
                                                  store_options target);

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // -- writes: acknowledged only after the record and every index committed ---------------------

  /// Inserts or replaces. A nil id gets a fresh one; returns the id.
  expected<uuid> put(memory m);
  /// All or nothing: one invalid memory rejects the whole batch and changes nothing.
  expected<std::vector<uuid>> put_batch(std::vector<memory> batch);
  /// Replaces an existing memory; ec::not_found when absent.
  expected<void> update(memory m);
  /// Returns whether the memory existed.
  expected<bool> remove(const uuid& id);

  // -- reads -------------------------------------------------------------------------------------

  /// Empty optional when absent (not an error).
  expected<std::optional<memory>> get(const uuid& id);
  expected<std::vector<std::optional<memory>>> get_batch(const std::vector<uuid>& ids);
  expected<bool> exists(const uuid& id);
  /// In id order, after `after` (exclusive) when given; `ns` empty = all namespaces.
  expected<memory_page> list(const std::string& ns, size_t limit,
                             std::optional<uuid> after = std::nullopt);
  /// O(1); `ns` empty = all namespaces.
  expected<uint64_t> count(const std::string& ns = {});
  expected<search_result> search(search_request req);
  expected<search_result> search_fused(fused_search_request req);
  /// The memories the filter admits (namespace, attribute predicates, created_at range), in id
  /// order, after `after` (exclusive) when given.
  expected<memory_page> list_matching(const filter& f, size_t limit,
                                      std::optional<uuid> after = std::nullopt);
  /// How many memories the filter admits.
  expected<uint64_t> count_matching(const filter& f);

  // -- graph -------------------------------------------------------------------------------------

  /// Adds or replaces edges (by source, type, target, namespace); both endpoints must be stored
  /// (ec::not_found), weights finite, types and namespaces non-empty (ec::invalid_argument).
  expected<void> edge_add(std::vector<edge_data> edges);
  expected<void> edge_add(edge_data e);
  /// Whether the edge (key fields) existed.
  expected<bool> edge_remove(const edge_data& e);
  /// The edges at a node (out before in; within each by type, then endpoint; stable).
  expected<std::vector<edge_data>> neighbours(neighbour_request q);
  /// Breadth-first paths from a start: one shortest path per node reached within the depth,
  /// ordered by depth, then hop by hop (type, node, direction); at most `limit`.
  expected<std::vector<graph_path>> traverse(traverse_request q);
  expected<void> quad_add(std::vector<quad_text> quads);
  /// Whether each quad existed.
  expected<std::vector<bool>> quad_remove(std::vector<quad_text> quads);
  /// One page of the quads matching a pattern; pass the page's `next` as `after` to continue.
  expected<quad_match_page> quad_match(quad_match_request q);

  // -- maintenance -------------------------------------------------------------------------------

  expected<void> flush();
  expected<void> compact();
  /// A consistent copy of every shard, openable with restore(). Over store::connect every shard
  /// node writes its shards and MANIFEST under `dir` on its own disk (docs/CLUSTER.md).
  expected<void> checkpoint(const std::string& dir);
  expected<store_stats> stats();
  expected<uint64_t> storage_size();
  storage::backend_kind backend() const;
  const telos::profile& profile() const;
  /// Checks records, embeddings, index rows, changelog and checksums; with repair, rebuilds what
  /// differs from the records.
  expected<verify_report> verify(bool repair = false);
  /// How each shard's indexes came back at open (snapshot + replay, rebuild or new) and the rows
  /// skipped because they did not decode.
  std::vector<std::string> recovery_report() const;
  /// The same, counted over every index of every shard.
  struct recovery_summary {
    /// Indexes loaded from a snapshot, and the changelog ids they replayed after it (in all,
    /// and the most one index replayed).
    uint32_t from_snapshot = 0;
    uint64_t replayed = 0;
    uint64_t max_replayed = 0;
    /// Indexes rebuilt from the vector keyspace (no usable snapshot) and new ones.
    uint32_t rebuilt = 0;
    uint32_t created = 0;
    /// Where the open's time went, in seconds, summed over the shards (they open one after
    /// another): the backend's own open (RocksDB replays its write-ahead log here), and loading
    /// the record catalog and the indexes side by side (wall time).
    double backend_seconds = 0;
    double load_seconds = 0;
    /// Of load_seconds: the record catalogs' scans and the backends opening their table files
    /// (store_options' backend open_table_files), each beside the index loads.
    double catalog_seconds = 0;
    double table_files_seconds = 0;
    /// One line per index of every shard, in shard and profile order: how it came back and how
    /// long its loading thread spent on it (`snapshot_seconds` reading the snapshot or scanning
    /// the vector keyspace; `replay_seconds` the changelog replay, of which `read_seconds`
    /// reading the changelog and the vectors and `apply_seconds` decoding and applying them).
    struct index_line {
      uint32_t shard = 0;
      std::string embedder;
      std::string method;
      uint64_t replayed = 0;
      double snapshot_seconds = 0;
      double replay_seconds = 0;
      double read_seconds = 0;
      double apply_seconds = 0;
    };
    std::vector<index_line> indexes;
  };
  recovery_summary recovered() const;
  /// Snapshots the indexes and closes every backend. Idempotent; the destructor calls it.
  expected<void> close();

  /// The coordinator actor, for actor clients sharing this store.
  caf::actor coordinator() const;
  /// The actor system the store runs in (its own, or the one passed to open).
  caf::actor_system& system() const;

  struct impl;

private:
  explicit store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace telos
