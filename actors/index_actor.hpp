// The index actor: owns one embedder's vector index of one shard. Updates arrive in sequence
// order and are searchable once acknowledged; fresh vectors move into the ANN graph in short steps
// the actor sends itself, and after each step it gives its scheduler worker back, so graph
// insertion neither delays an acknowledgement nor starves the other actors of the system.
// Periodic snapshots are written by a thread of their own while the index is frozen and updates
// wait in an overlay, so no acknowledgement waits for a snapshot file. k-means trainings (ivf
// lists, MaxSim token centroids) run on a thread of their own too, so no acknowledgement waits for
// one: the index keeps filing and serving meanwhile, and the actor installs the centroids when the
// thread is done.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/index_handle.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/shard/snapshot_book.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace telos {

struct index_actor_config {
  uint32_t shard = 0;
  /// Shared with the shard's owner, which snapshots the index once the actor stopped.
  std::shared_ptr<index_handle> handle;
  /// The shard's record facts, read to judge search filters.
  std::shared_ptr<const record_catalog> catalog;
  /// Most vectors moved into the ANN graph per maintenance step.
  size_t maintain_budget = 64;
  /// A maintenance step stops inserting once it took this long (at least one vector moves): an
  /// HNSW insertion of a teleo13 vector takes about a millisecond at 100k vectors, so 64 of them
  /// would hold a scheduler worker for tens of milliseconds.
  std::chrono::microseconds maintain_time{2000};
  /// Backpressure: while more than this many vectors are outside the ANN graph (0 = no bound),
  /// an update is acknowledged only after `drain_per_upsert` fresh vectors per vector it upserted
  /// moved into the graph. Writers then slow down to the rate at which graphs are built, smoothly
  /// (each acknowledgement waits for a bounded amount of graph work, never for the whole
  /// backlog), and the fresh buffer, which every search scans exactly, shrinks back to the bound.
  size_t max_fresh = 0;
  size_t drain_per_upsert = 2;
  /// The shard's snapshots. With `checkpoint_every` > 0 the actor saves its index as a new
  /// snapshot once checkpoint_interval() vectors were upserted or removed since the last one,
  /// which bounds what a restart after a crash replays; 0: snapshots at close only.
  std::shared_ptr<snapshot_book> snapshots;
  /// This index's position in the profile (its snapshot's name).
  size_t embedder = 0;
  size_t checkpoint_every = 0;
  /// The interval is this fraction of the index's size, within checkpoint_every / 20 and
  /// checkpoint_every (checkpoint_interval()).
  double checkpoint_fraction = 1.0;
  /// The first checkpoint comes after this fraction of the interval, (0, 1]: spread across the
  /// indexes of a store, so that they do not all save at once.
  double checkpoint_phase = 1.0;
  /// A checkpoint is saved by a thread of its own while the index is frozen; the updates the
  /// actor acknowledges meanwhile wait in the handle's overlay (searched exactly). Past this many
  /// ids in the overlay (0 = no bound) an update waits until the save is done.
  size_t max_overlay = 10000;
  /// Test hook: runs on the saving thread before it writes the snapshot (a test holds the save
  /// there to prove what is answered meanwhile).
  std::function<void()> before_save;
  /// k-means trainings (vector_index::begin_training) run on a thread of their own, so that no
  /// update waits for one; false: maintain() steps them (each step counts 1 of the budget).
  bool background_training = true;
  /// Added to the training thread's nice value (Linux: per thread; 0 = as the process). Not
  /// raised by default: at +10, on a machine loaded by other processes, E12's first training (tens
  /// of seconds of CPU) got so little of it that it had not ended after 100,000 memories, and
  /// every E12 search stayed exact meanwhile (docs/BENCHMARKS.md, "Training off the
  /// acknowledgement path").
  int training_nice = 0;
  /// Test hook: runs on the training thread before it trains.
  std::function<void()> before_training;
};

/// A k-means training of the index running on a thread of its own
/// (index_state::start_training).
struct background_training {
  background_training() = default;
  background_training(const background_training&) = delete;
  background_training& operator=(const background_training&) = delete;
  /// Stops the training after its current step and joins the thread.
  ~background_training();
  /// Numbers the trainings of an actor: the thread's message names its training.
  uint64_t number = 0;
  /// The index that handed it out: a repair's clear replaces the index, and the training of the
  /// old one is then dropped.
  const storage::vector_index* index = nullptr;
  /// The thread's until it sent its message.
  std::unique_ptr<storage::kmeans_training> training;
  std::atomic<bool> stop{false};
  /// The thread is done but the index was frozen: the centroids are installed after the save.
  bool finished = false;
  std::thread thread;
};

/// A snapshot save in progress on a thread of its own (index_state::start_checkpoint).
struct background_save {
  background_save() = default;
  background_save(const background_save&) = delete;
  background_save& operator=(const background_save&) = delete;
  /// Joins the thread (an actor that ends abnormally waits for its save).
  ~background_save();
  /// Numbers the saves of an actor: the thread's message names its save.
  uint64_t number = 0;
  /// The sequence the frozen index applied, the changes counted and the fresh vectors then.
  uint64_t sequence = 0;
  uint64_t changed = 0;
  size_t fresh = 0;
  std::future<expected<std::optional<storage::snapshot_marker>>> result;
  std::thread thread;
};

struct index_state {
  static inline const char* name = "index";
  index_actor_config config;
  /// A maintain message is in the mailbox.
  bool maintenance_scheduled = false;
  /// The message just handled was a maintenance step: the actor yields its worker.
  bool stepped = false;
  /// Vectors upserted or removed since the last snapshot, and how many trigger the next one.
  uint64_t changed = 0;
  uint64_t next_checkpoint = 0;
  /// A checkpoint message is in the mailbox.
  bool checkpoint_scheduled = false;
  uint64_t checkpoints = 0;
  std::string checkpoint_error;
  /// The save in progress; the index is frozen while there is one.
  std::unique_ptr<background_save> saving;
  uint64_t saves_started = 0;
  /// Flush requests that wait until no checkpoint is saved or due.
  std::vector<caf::typed_response_promise<atom::ok>> flushes;
  /// The training in progress (config.background_training), and how many were started.
  std::unique_ptr<background_training> training;
  uint64_t trainings_started = 0;
  /// The actor itself, for the threads' messages.
  caf::weak_actor_ptr self;

  storage::vector_index& index() { return *config.handle->index; }
  bool frozen() const { return saving != nullptr; }
  /// Applies an update in place, or to the overlay while the index is frozen.
  void apply(const index_update& update);
  /// Exact search among the ids the filter admits.
  std::vector<hit> search(const embedding& query, uint32_t k, const filter& f) const;
  /// One maintenance step: moves fresh vectors into the graph until the budget of vectors or of
  /// time is spent. Returns how many moved (0: nothing left to do).
  size_t maintain();
  /// Backpressure after an update of `upserts` vectors (max_fresh); returns how many moved. A
  /// training is no work it waits for (start_training takes it off the actor).
  size_t drain(size_t upserts);
  /// With config.background_training: hands a training the index has due to a thread of its
  /// own, which sends the actor (maintain, number) when it is done. Nothing while one runs or the
  /// index is frozen. The caller holds the handle's lock exclusively.
  void start_training();
  /// The training thread is done: installs its centroids (after the save, when the index is
  /// frozen). True when installed.
  bool finish_training();
  /// Ends a training in progress at once (clear, close): its thread stops after its current step;
  /// finished centroids are installed, unfinished ones dropped.
  void stop_training();
  /// Changes between two checkpoints: checkpoint_fraction f of the index, at least
  /// checkpoint_every / 20 and at most checkpoint_every. A checkpoint rewrites the whole index
  /// (unless it is a delta: vector_index::save_delta), so a fixed interval would cost
  /// writes in proportion to the index's size for every change; f keeps that to about 1 / f index
  /// rows per change (over a growing ingest the snapshots total (1 + f) / f times the final
  /// index), and a restart replays at most f of the index.
  size_t checkpoint_interval() const;
  /// Whether enough changed for a checkpoint (and one may be taken now).
  bool checkpoint_due() const;
  /// Freezes the index and starts saving it as the shard's snapshot of it on a thread of its own,
  /// which sends `self` (checkpoint, number) when it is done.
  void start_checkpoint(index_actor self);
  /// Ends the save in progress: waits for its thread if it is still writing, applies the overlay
  /// to the index and records the outcome. Nothing to do without one.
  void finish_checkpoint();
};

index_actor::behavior_type index_behavior(index_actor::stateful_pointer<index_state> self,
                                          index_actor_config config);

index_actor spawn_index(caf::actor_system& sys, index_actor_config config);

} // namespace telos
