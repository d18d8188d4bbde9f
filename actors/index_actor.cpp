// The index actor: applies updates, answers searches, checkpoints its index; verify's index
// steps (check, clear, load) are shard/verify.hpp's.
#include "telos/actors/index_actor.hpp"

#include "telos/shard/search_run.hpp"
#include "telos/shard/verify.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <mutex>

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

} // namespace

void index_state::apply(const index_update& update) {
  std::unique_lock guard{config.handle->lock};
  auto& idx = index();
  for (const auto& id : update.removes)
    idx.remove(id);
  for (size_t i = 0; i < update.upsert_ids.size(); ++i)
    idx.upsert(update.upsert_ids[i], update.upserts[i]);
  config.handle->applied = std::max(config.handle->applied.load(), update.sequence);
}

std::vector<hit> index_state::search(const embedding& query, uint32_t k, const filter& f) const {
  return search_index(*config.handle->index, *config.catalog, query, k, f);
}

size_t index_state::maintain() {
  // One vector per call, so the clock is read between insertions and the facade's searches on
  // other threads wait for one insertion at most.
  auto deadline = std::chrono::steady_clock::now() + config.maintain_time;
  size_t moved = 0;
  while (moved < config.maintain_budget) {
    size_t n = 0;
    {
      std::unique_lock guard{config.handle->lock};
      n = index().maintain(1);
    }
    if (n == 0) break;
    moved += n;
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  return moved;
}

size_t index_state::drain(size_t upserts) {
  if (config.max_fresh == 0 || upserts == 0) return 0;
  auto fresh = index().stats().fresh;
  if (fresh <= config.max_fresh) return 0;
  const size_t owed = std::min(fresh - config.max_fresh, config.drain_per_upsert * upserts);
  size_t moved = 0;
  while (moved < owed) {
    // One vector per lock, as in maintain(): the facade's searches wait for one insertion at most.
    std::unique_lock guard{config.handle->lock};
    auto n = index().maintain(1);
    if (n == 0) break;
    moved += n;
  }
  return moved;
}

size_t index_state::checkpoint_interval() const {
  const size_t every = config.checkpoint_every;
  return std::max<size_t>(1,
                          std::min(every, std::max(every / 20, config.handle->index->size() / 4)));
}

bool index_state::checkpoint_due() const {
  // An index cleared and reloaded by a repair is only snapshotted at close: until the reload
  // ends it holds part of the vectors, and the actor cannot tell when it ended.
  return config.checkpoint_every > 0 && config.snapshots && config.snapshots->persistent() &&
         !checkpoint_scheduled && changed >= next_checkpoint && !config.handle->replaced;
}

void index_state::checkpoint() {
  auto done = config.snapshots->checkpoint(config.embedder, *config.handle);
  if (done) {
    changed = 0;
    next_checkpoint = checkpoint_interval();
    ++checkpoints;
    checkpoint_error.clear();
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
  // Vectors left fresh by a snapshot load move into the graph in the background from the start.
  schedule_maintenance();
  return {
      [=](atom::update, const index_update& update) -> atom::ok {
        self->state.apply(update);
        self->state.drain(update.upsert_ids.size());
        if (!update.upsert_ids.empty()) schedule_maintenance();
        self->state.changed += update.upsert_ids.size() + update.removes.size();
        schedule_checkpoint();
        return atom::ok_v;
      },
      [=](atom::search, const embedding& query, uint32_t k, const filter& f) {
        return self->state.search(query, k, f);
      },
      [=](atom::score, const embedding& query, const std::vector<uuid>& ids) {
        return score_ids(self->state.index(), query, ids);
      },
      [=](atom::check, const std::vector<uuid>& ids) {
        return check_index(self->state.index(), ids);
      },
      [=](atom::clear) -> atom::ok {
        clear_index(*self->state.config.handle);
        return atom::ok_v;
      },
      [=](atom::load, const vector_chunk& chunk) -> atom::ok {
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
        info.memory_bytes = s.memory_bytes;
        info.structure = s.structure;
        info.sequence = c.handle->applied;
        if (c.snapshots)
          if (auto m = c.snapshots->marker(c.embedder)) info.snapshot_sequence = m->sequence;
        info.checkpoints = self->state.checkpoints;
        info.checkpoint_error = self->state.checkpoint_error;
        return info;
      },
      [=](atom::maintain) {
        auto moved = self->state.maintain();
        self->state.maintenance_scheduled = false;
        // The actor now gives its worker back (index_actor_impl); the next step goes to the back
        // of the mailbox, so queued updates and searches come first.
        self->state.stepped = true;
        if (moved > 0) schedule_maintenance();
      },
      [=](atom::checkpoint) {
        self->state.checkpoint_scheduled = false;
        if (self->state.config.handle->replaced) return;
        self->state.checkpoint();
        // Saving took a while: give the worker back, as after a maintenance step.
        self->state.stepped = true;
      },
      [=](atom::close) -> atom::ok {
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
