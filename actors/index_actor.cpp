// The index actor.
#include "telos/actors/index_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <mutex>

namespace telos {

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

index_actor::behavior_type index_behavior(index_actor::stateful_pointer<index_state> self,
                                          index_actor_config config) {
  self->state.config = std::move(config);
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
        if (!update.upsert_ids.empty()) schedule_maintenance();
        return atom::ok_v;
      },
      [=](atom::search, const embedding& query, uint32_t k, const filter& f) {
        return self->state.search(query, k, f);
      },
      [=](atom::score, const embedding& query, const std::vector<uuid>& ids) {
        std::vector<hit> hits;
        hits.reserve(ids.size());
        for (const auto& id : ids)
          if (auto s = self->state.index().score(query, id)) hits.push_back(hit{id, *s});
        return hits;
      },
      [=](atom::check, const std::vector<uuid>& ids) {
        index_check result;
        auto& idx = self->state.index();
        result.size = idx.size();
        for (const auto& id : ids)
          if (!idx.contains(id)) result.missing.push_back(id);
        return result;
      },
      [=](atom::clear) -> atom::ok {
        auto& h = *self->state.config.handle;
        auto fresh = storage::make_vector_index(h.index->spec(), h.options);
        std::unique_lock guard{h.lock};
        h.index = std::move(fresh);
        h.replaced = true;
        return atom::ok_v;
      },
      [=](atom::load, const vector_chunk& chunk) -> atom::ok {
        std::unique_lock guard{self->state.config.handle->lock};
        auto& idx = self->state.index();
        for (size_t i = 0; i < chunk.ids.size(); ++i)
          idx.upsert(chunk.ids[i], chunk.embeddings[i]);
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
        return info;
      },
      [=](atom::maintain) {
        size_t moved = 0;
        {
          std::unique_lock guard{self->state.config.handle->lock};
          moved = self->state.index().maintain(self->state.config.maintain_budget);
        }
        self->state.maintenance_scheduled = false;
        // Another step goes to the back of the mailbox: queued updates and searches come first.
        if (moved > 0) schedule_maintenance();
      },
      [=](atom::close) -> atom::ok {
        self->quit();
        return atom::ok_v;
      },
  };
}

index_actor spawn_index(caf::actor_system& sys, index_actor_config config) {
  return sys.spawn(index_behavior, std::move(config));
}

} // namespace telos
