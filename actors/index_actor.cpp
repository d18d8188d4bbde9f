// The index actor: applies updates, answers searches, checkpoints its index (saved by a thread of
// its own while updates wait in the handle's overlay), trains its k-means centroids on a thread of
// their own; verify's index steps (check, clear, load) are shard/verify.hpp's.
#include "telos/actors/index_actor.hpp"

#include "telos/actors/trace.hpp"

#include "telos/shard/index_overlay.hpp"
#include "telos/shard/verify.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <system_error>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace telos {

namespace {

/// The index actor's type. CAF 0.17.6 runs a scheduled actor until its mailbox is empty or it
/// handled `scheduler.max-throughput` messages in a row, which is unlimited by default; an actor
/// that keeps sending itself `maintain` never empties its mailbox, so it would hold its worker
/// thread for as long as there is graph work, and the actors queued behind it (the shard and
/// coordinator that acknowledge writes) would wait for all of it. This one ends its turn after
/// every maintenance step, whatever the application configured: it handles one message at a time
/// and gives the worker back once that message was a step; the scheduler puts it at the end of
/// the worker's queue.
class index_actor_impl : public caf::stateful_actor<index_state, index_actor::base> {
public:
  using super = caf::stateful_actor<index_state, index_actor::base>;
  using super::super;

  caf::resumable::resume_result resume(caf::execution_unit* ctx, size_t max_throughput) override {
    for (size_t handled = 0;;) {
      state.stepped = false;
      auto result = super::resume(ctx, 1);
      if (result != caf::resumable::resume_later || state.stepped || ++handled >= max_throughput)
        return result;
    }
  }
};

/// Adds `nice` to the calling thread's nice value (Linux keeps one per thread); nothing where the
/// system refuses or has no per-thread priority.
void lower_thread_priority(int nice) {
#ifdef __linux__
  if (nice <= 0) return;
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int current = ::getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return;
  ::setpriority(PRIO_PROCESS, tid, std::min(current + nice, 19));
#else
  (void)nice;
#endif
}

/// At most this many trainings of a process run at once; the others wait, idle. Measured on 2
/// cores: ten dense indexes and E12 reach their threshold together, and eleven training threads
/// took the CPU from the threads that acknowledge writes.
class training_slots {
public:
  explicit training_slots(size_t slots) : free_(slots) {}
  /// Waits for a free slot; false once `stop` was set meanwhile.
  bool acquire(const std::atomic<bool>& stop) {
    std::unique_lock guard{mutex_};
    while (free_ == 0) {
      if (stop) return false;
      freed_.wait_for(guard, std::chrono::milliseconds(20));
    }
    --free_;
    return true;
  }
  void release() {
    {
      std::lock_guard guard{mutex_};
      ++free_;
    }
    freed_.notify_one();
  }

private:
  std::mutex mutex_;
  std::condition_variable freed_;
  size_t free_;
};

training_slots& process_training_slots() {
  static training_slots slots{1};
  return slots;
}

/// With TELOS_TRACE_INDEX set, the index actors write a line to stderr for each checkpoint save
/// (start, end), each update that waited for a save (the overlay was full), each training
/// installed and each update or maintenance step that took longer than the variable's value in
/// seconds (0.1 when it is no positive number): to attribute the gaps between acknowledgements of
/// a long ingest (telos-bench scale). Off by default: one branch on a flag read once.
const char* trace_setting() {
  static const char* setting = std::getenv("TELOS_TRACE_INDEX");
  return setting;
}

bool tracing() {
  return trace_setting() != nullptr;
}

/// Updates and maintenance steps slower than this are traced.
double trace_slow() {
  static const double slow = [] {
    const double given = trace_setting() != nullptr ? std::atof(trace_setting()) : 0;
    return given > 0 ? given : 0.1;
  }();
  return slow;
}

using trace::steady_seconds;

/// The hits `run` returns for a step of a search, traced when TELOS_TRACE_SEARCH asks for it
/// (trace::searches()).
template <class Run>
std::vector<hit> traced_step(const index_actor_config& c, const char* step, size_t depth, Run run) {
  if (!trace::searches()) return run();
  const double t0 = steady_seconds();
  auto hits = run();
  trace::list_line(t0, steady_seconds(), c.shard, c.handle->index->spec().name.c_str(), step, depth,
                   hits.size());
  return hits;
}

void trace_line(const index_actor_config& c, const char* what, double took, size_t overlay) {
  std::fprintf(stderr, "telos-trace %.6f shard %u %s %s vectors %zu overlay %zu took %.3f s\n",
               steady_seconds(), c.shard, c.handle->index->spec().name.c_str(), what,
               c.handle->index->size(), overlay, took);
}

} // namespace

background_training::~background_training() {
  stop = true;
  if (thread.joinable()) thread.join();
}

background_save::~background_save() {
  if (!thread.joinable()) return;
  if (thread.get_id() == std::this_thread::get_id())
    thread.detach();
  else
    thread.join();
}

void index_state::apply(const index_update& update) {
  auto& handle = *config.handle;
  if (frozen() && config.max_overlay > 0 &&
      handle.overlay.size() + update.upsert_ids.size() + update.removes.size() >
          config.max_overlay) {
    // The overlay is full: this update waits for the save.
    const double t0 = tracing() ? steady_seconds() : 0;
    const size_t overlay = handle.overlay.size();
    finish_checkpoint();
    if (tracing()) trace_line(config, "overlay-full-wait", steady_seconds() - t0, overlay);
  }
  if (frozen()) {
    std::unique_lock guard{handle.overlay_lock};
    for (const auto& id : update.removes)
      handle.overlay.remove(*handle.index, id);
    for (size_t i = 0; i < update.upsert_ids.size(); ++i)
      handle.overlay.upsert(*handle.index, update.upsert_ids[i], update.upserts[i]);
    handle.applied = std::max(handle.applied.load(), update.sequence);
    return;
  }
  std::unique_lock guard{config.handle->lock};
  auto& idx = index();
  for (const auto& id : update.removes)
    idx.remove(id);
  for (size_t i = 0; i < update.upsert_ids.size(); ++i)
    idx.upsert(update.upsert_ids[i], update.upserts[i]);
  config.handle->applied = std::max(config.handle->applied.load(), update.sequence);
}

std::vector<hit> index_state::search(const embedding& query, uint32_t k, const filter& f) const {
  // One list of a fused or multi-shard search: the others keep the cores busy.
  storage::unsplit_searches here;
  return search_handle(*config.handle, *config.catalog, query, k, f);
}

size_t index_state::maintain() {
  if (frozen()) return 0; // the graph work goes on once the snapshot is saved
  // One vector per call, so the clock is read between insertions and the facade's searches on
  // other threads wait for one insertion at most.
  auto deadline = std::chrono::steady_clock::now() + config.maintain_time;
  size_t moved = 0;
  while (moved < config.maintain_budget) {
    size_t n = 0;
    {
      std::unique_lock guard{config.handle->lock};
      // Before each vector: the last fresh one filed may make a retraining due.
      start_training();
      n = index().maintain(1);
    }
    if (n == 0) break;
    moved += n;
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  return moved;
}

size_t index_state::drain(size_t upserts) {
  if (config.max_fresh == 0 || upserts == 0 || frozen()) return 0;
  auto fresh = index().fresh_count();
  if (fresh <= config.max_fresh) return 0;
  const size_t owed = std::min(fresh - config.max_fresh, config.drain_per_upsert * upserts);
  size_t moved = 0;
  while (moved < owed) {
    // One vector per lock, as in maintain(): the facade's searches wait for one insertion at most.
    std::unique_lock guard{config.handle->lock};
    start_training(); // a training is no work an acknowledgement waits for
    auto n = index().maintain(1);
    if (n == 0) break;
    moved += n;
  }
  return moved;
}

size_t index_state::checkpoint_interval() const {
  const size_t every = config.checkpoint_every;
  const auto share = static_cast<size_t>(static_cast<double>(config.handle->index->size()) *
                                         config.checkpoint_fraction);
  return std::max<size_t>(1, std::min(every, std::max(every / 20, share)));
}

bool index_state::checkpoint_due() const {
  // An index cleared and reloaded by a repair is only snapshotted at close: until the reload
  // ends it holds part of the vectors, and the actor cannot tell when it ended.
  return config.checkpoint_every > 0 && config.snapshots && config.snapshots->persistent() &&
         !checkpoint_scheduled && !frozen() && changed >= next_checkpoint &&
         !config.handle->replaced;
}

void index_state::start_training() {
  if (!config.background_training || training || frozen()) return;
  auto handed = index().begin_training();
  if (!handed) return;
  auto job = std::make_unique<background_training>();
  job->number = ++trainings_started;
  job->index = config.handle->index.get();
  job->training = std::move(handed);
  try {
    job->thread = std::thread{
        [job = job.get(), nice = config.training_nice, hook = config.before_training, weak = self] {
          lower_thread_priority(nice);
          if (hook) hook();
          auto& slots = process_training_slots();
          if (slots.acquire(job->stop)) {
            job->training->run(job->stop);
            slots.release();
          }
          if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak))
            caf::anon_send(caf::actor_cast<index_actor>(strong), atom::maintain_v, job->number);
        }};
  } catch (const std::system_error&) {
    // No thread to be had: the index gets its training back (unfinished, so dropped) and
    // maintain() steps its trainings from now on.
    config.background_training = false;
    index().end_training(std::move(job->training));
    return;
  }
  training = std::move(job);
}

bool index_state::finish_training() {
  if (!training) return false;
  if (frozen()) {
    // Installing changes the index: it waits for the save.
    training->finished = true;
    return false;
  }
  auto job = std::move(training);
  if (job->thread.joinable()) job->thread.join();
  std::unique_lock guard{config.handle->lock};
  if (config.handle->index.get() == job->index) index().end_training(std::move(job->training));
  return true;
}

void index_state::stop_training() {
  if (!training) return;
  auto job = std::move(training);
  job->stop = true;
  if (job->thread.joinable()) job->thread.join();
  std::unique_lock guard{config.handle->lock};
  if (config.handle->index.get() == job->index) index().end_training(std::move(job->training));
}

void index_state::start_checkpoint(index_actor self) {
  auto job = std::make_unique<background_save>();
  job->number = ++saves_started;
  // From here until finish_checkpoint() nothing changes the index: updates go to the overlay,
  // graph work waits. So the snapshot holds exactly what the index applied up to now.
  job->sequence = config.handle->applied.load();
  job->changed = changed;
  job->fresh = index().stats().fresh;
  std::promise<expected<std::optional<storage::snapshot_marker>>> done;
  job->result = done.get_future();
  try {
    job->thread = std::thread{
        [handle = config.handle, snapshots = config.snapshots, embedder = config.embedder,
         sequence = job->sequence, number = job->number, hook = config.before_save,
         weak = caf::actor_cast<caf::weak_actor_ptr>(self), done = std::move(done)]() mutable {
          if (hook) hook();
          {
            // Shared, like a search: the actor takes the lock exclusively only after this thread
            // ended.
            std::shared_lock guard{handle->lock};
            const double t0 = tracing() ? steady_seconds() : 0;
            done.set_value(snapshots->checkpoint(embedder, *handle->index, sequence));
            if (tracing())
              std::fprintf(stderr, "telos-trace %.6f %s save-end vectors %zu took %.3f s\n",
                           steady_seconds(), handle->index->spec().name.c_str(),
                           handle->index->size(), steady_seconds() - t0);
          }
          if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak))
            caf::anon_send(caf::actor_cast<index_actor>(strong), atom::checkpoint_v, number);
        }};
  } catch (const std::system_error& e) {
    // No thread to be had: the previous snapshot stays in force; try again later.
    checkpoint_error = std::string{"cannot start a thread to save the snapshot: "} + e.what();
    next_checkpoint = changed + std::max<size_t>(checkpoint_interval() / 4, 1);
    return;
  }
  saving = std::move(job);
  if (tracing()) trace_line(config, "save-start", 0, 0);
}

void index_state::finish_checkpoint() {
  if (!saving) return;
  auto job = std::move(saving);
  auto done = job->result.get();
  job->thread.join();
  auto& handle = *config.handle;
  {
    // Searches on other threads see the overlay until it is in the index, never neither.
    std::unique_lock guard{handle.lock};
    std::unique_lock overlay_guard{handle.overlay_lock};
    // A whole snapshot this save wrote and whose marker is in force now is the base of the
    // index's next deltas (vector_index::base_kept). A delta, or a save whose marker was not
    // written, leaves the base as it was.
    if (config.snapshots)
      if (auto in_force = config.snapshots->marker(config.embedder);
          in_force && !in_force->has_delta() && in_force->sequence == job->sequence)
        handle.index->base_kept();
    const double t0 = tracing() ? steady_seconds() : 0;
    const size_t overlay = tracing() ? handle.overlay.size() : 0;
    handle.overlay.apply_to(*handle.index);
    if (tracing()) trace_line(config, "overlay-applied", steady_seconds() - t0, overlay);
  }
  if (done) {
    // Changes acknowledged during the save are not in this snapshot: they count toward the next.
    changed -= std::min(changed, job->changed);
    next_checkpoint = checkpoint_interval();
    ++checkpoints;
    checkpoint_error.clear();
    handle.fresh_at_snapshot = job->fresh;
  } else {
    // Disk full or an I/O error: the previous snapshot stays in force (a restart replays more);
    // try again after another quarter of the interval.
    checkpoint_error = describe(done.error());
    next_checkpoint = changed + std::max<size_t>(checkpoint_interval() / 4, 1);
  }
}

index_actor::behavior_type index_behavior(index_actor::stateful_pointer<index_state> self,
                                          index_actor_config config) {
  self->state.config = std::move(config);
  self->state.self = caf::actor_cast<caf::weak_actor_ptr>(self);
  if (self->state.config.checkpoint_every > 0)
    self->state.next_checkpoint = std::max<uint64_t>(
        1, static_cast<uint64_t>(static_cast<double>(self->state.checkpoint_interval()) *
                                 self->state.config.checkpoint_phase));
  auto schedule_checkpoint = [self] {
    if (!self->state.checkpoint_due()) return;
    self->state.checkpoint_scheduled = true;
    self->send(self, atom::checkpoint_v);
  };
  auto schedule_maintenance = [self] {
    if (self->state.maintenance_scheduled) return;
    self->state.maintenance_scheduled = true;
    self->send(self, atom::maintain_v);
  };
  // Answers the flush requests once no checkpoint is saved or due.
  auto answer_flushes = [self] {
    auto& st = self->state;
    if (st.frozen() || st.checkpoint_scheduled) return;
    for (auto& rp : st.flushes)
      rp.deliver(atom::ok_v);
    st.flushes.clear();
  };
  // Ends the save in progress (waiting for it if need be) and goes on with what it held back.
  auto end_save = [self, schedule_maintenance, schedule_checkpoint, answer_flushes] {
    if (!self->state.frozen()) return;
    self->state.finish_checkpoint();
    // A training that ended during the save installs its centroids now.
    if (self->state.training && self->state.training->finished) self->state.finish_training();
    schedule_maintenance();
    schedule_checkpoint();
    answer_flushes();
  };
  // Vectors left fresh by a snapshot load move into the graph in the background from the start.
  schedule_maintenance();
  return {
      [=](atom::update, const index_update& update) -> atom::ok {
        const double t0 = tracing() ? steady_seconds() : 0;
        const bool was_frozen = self->state.frozen();
        self->state.apply(update);
        // apply() ends the save when the overlay is full: then what it held back goes on.
        if (was_frozen && !self->state.frozen()) {
          schedule_maintenance();
          answer_flushes();
        }
        if (!self->state.frozen()) {
          // An update that makes a training due (the index reached its threshold) hands it to
          // a thread before the backpressure below, which then does not wait for it.
          std::unique_lock guard{self->state.config.handle->lock};
          self->state.start_training();
        }
        self->state.drain(update.upsert_ids.size());
        if (!update.upsert_ids.empty() && !self->state.frozen()) schedule_maintenance();
        self->state.changed += update.upsert_ids.size() + update.removes.size();
        schedule_checkpoint();
        if (tracing() && steady_seconds() - t0 > trace_slow())
          trace_line(self->state.config, "slow-update", steady_seconds() - t0,
                     self->state.config.handle->overlay.size());
        return atom::ok_v;
      },
      [=](atom::search, const embedding& query, uint32_t k, const filter& f) {
        return traced_step(self->state.config, "list", k,
                           [&] { return self->state.search(query, k, f); });
      },
      [=](atom::score, const embedding& query, const std::vector<uuid>& ids) {
        return traced_step(self->state.config, "score", ids.size(),
                           [&] { return score_handle(*self->state.config.handle, query, ids); });
      },
      // Verify's steps see the index alone: a save in progress ends first (verify is rare, and
      // the shard holds writes back meanwhile).
      [=](atom::check, const std::vector<uuid>& ids) {
        end_save();
        return check_index(self->state.index(), ids);
      },
      [=](atom::clear) -> atom::ok {
        end_save();
        self->state.stop_training();
        clear_index(*self->state.config.handle);
        return atom::ok_v;
      },
      [=](atom::load, const vector_chunk& chunk) -> atom::ok {
        end_save();
        load_index_chunk(*self->state.config.handle, chunk);
        if (!chunk.ids.empty()) schedule_maintenance();
        return atom::ok_v;
      },
      [=](atom::stats) {
        const auto& c = self->state.config;
        auto s = c.handle->index->stats();
        index_info info;
        info.embedder = c.handle->index->spec().name;
        info.shard = c.shard;
        info.vectors = s.vectors;
        info.fresh = s.fresh;
        if (self->state.frozen()) {
          // The overlay's vectors count, and are searched exactly as fresh ones are.
          const auto& overlay = c.handle->overlay;
          info.vectors = overlay.vectors(*c.handle->index);
          info.fresh += overlay.upserted();
        }
        info.memory_bytes = s.memory_bytes;
        info.mapped_bytes = s.mapped_bytes;
        info.structure = s.structure;
        info.sequence = c.handle->applied;
        if (c.snapshots)
          if (auto m = c.snapshots->marker(c.embedder)) info.snapshot_sequence = m->sequence;
        info.checkpoints = self->state.checkpoints;
        info.checkpoint_error = self->state.checkpoint_error;
        info.changes_since_checkpoint = self->state.changed;
        if (c.checkpoint_every > 0 && c.snapshots && c.snapshots->persistent()) {
          info.next_checkpoint = self->state.next_checkpoint;
          info.checkpoint_interval = self->state.checkpoint_interval();
        }
        return info;
      },
      [=](atom::maintain) {
        const double t0 = tracing() ? steady_seconds() : 0;
        auto moved = self->state.maintain();
        if (tracing() && steady_seconds() - t0 > trace_slow())
          trace_line(self->state.config, "slow-maintain", steady_seconds() - t0, 0);
        self->state.maintenance_scheduled = false;
        // The actor now gives its worker back (index_actor_impl); the next step goes to the back
        // of the mailbox, so queued updates and searches come first.
        self->state.stepped = true;
        if (moved > 0) schedule_maintenance();
      },
      [=](atom::maintain, uint64_t number) {
        // The training thread with this number is done (one stopped by clear was handled).
        auto& st = self->state;
        const double t0 = tracing() ? steady_seconds() : 0;
        if (st.training && st.training->number == number && st.finish_training()) {
          if (tracing()) trace_line(st.config, "training-installed", steady_seconds() - t0, 0);
          schedule_maintenance();
        }
      },
      [=](atom::checkpoint) {
        auto& st = self->state;
        st.checkpoint_scheduled = false;
        if (!st.frozen() && !st.config.handle->replaced && st.checkpoint_due())
          st.start_checkpoint(caf::actor_cast<index_actor>(self));
        answer_flushes();
      },
      [=](atom::checkpoint, uint64_t number) {
        // A save that already ended (an update or verify waited for it) is not ended twice.
        if (self->state.frozen() && self->state.saving->number == number) end_save();
      },
      [=](atom::flush) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (!st.frozen() && !st.checkpoint_scheduled) return atom::ok_v;
        auto rp = self->make_response_promise<atom::ok>();
        st.flushes.push_back(rp);
        return rp;
      },
      [=](atom::close) -> atom::ok {
        // The shard snapshots the index once every actor stopped: the save in progress ends and
        // the overlay goes into the index first; a training in progress stops (the index keeps the
        // centroids in force; a later open trains anew).
        end_save();
        self->state.stop_training();
        for (auto& rp : self->state.flushes)
          rp.deliver(atom::ok_v);
        self->state.flushes.clear();
        self->quit();
        return atom::ok_v;
      },
  };
}

index_actor spawn_index(caf::actor_system& sys, index_actor_config config) {
  return sys.spawn([](index_actor_impl* self,
                      index_actor_config c) { return index_behavior(self, std::move(c)); },
                   std::move(config));
}

} // namespace telos
