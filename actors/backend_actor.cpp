// The backend actor: thin glue from messages to the blocking calls of shard_storage.hpp.
#include "telos/actors/backend_actor.hpp"

#include "telos/actors/shard_storage.hpp"

#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <filesystem>

namespace telos {

namespace {

template <class T>
caf::result<T> lift(expected<T>&& x) {
  if (!x) return std::move(x.error());
  return std::move(*x);
}

caf::result<atom::ok> lift(expected<void>&& x) {
  if (!x) return std::move(x.error());
  return atom::ok_v;
}

} // namespace

backend_actor::behavior_type backend_behavior(backend_actor::stateful_pointer<backend_state> self,
                                              backend_actor_config config) {
  self->state.config = std::move(config);
  return {
      [=](atom::write, const write_batch& batch) -> caf::result<atom::ok> {
        const auto& c = self->state.config;
        return lift(c.backend->write(batch, storage::write_options{c.sync_writes}));
      },
      [=](atom::get, const std::vector<uuid>& ids,
          bool with_embeddings) -> caf::result<std::vector<memory>> {
        const auto& c = self->state.config;
        return lift(read_memories(*c.backend, c.layout, ids, with_embeddings));
      },
      [=](atom::list, const std::string& ns, const uuid& after,
          uint64_t limit) -> caf::result<std::vector<memory>> {
        const auto& c = self->state.config;
        return lift(list_memories(*c.backend, c.layout, ns, after, limit));
      },
      [=](atom::scan, uint32_t embedder, const uuid& after,
          uint64_t limit) -> caf::result<vector_chunk> {
        const auto& c = self->state.config;
        if (embedder >= c.layout.embedders())
          return make_error(ec::invalid_argument, "no embedder at position " +
                                                      std::to_string(embedder) + " of " +
                                                      std::to_string(c.layout.embedders()));
        return lift(scan_vectors(*c.backend, c.layout, embedder, after, limit));
      },
      [=](atom::verify, bool repair) -> caf::result<storage_check> {
        const auto& c = self->state.config;
        return lift(check_storage(*c.backend, c.layout, c.shard, repair));
      },
      [=](atom::flush) -> caf::result<atom::ok> {
        return lift(self->state.config.backend->flush());
      },
      [=](atom::compact) -> caf::result<atom::ok> {
        return lift(self->state.config.backend->compact());
      },
      [=](atom::checkpoint, const std::string& dir) -> caf::result<atom::ok> {
        // The backend wants `dir` itself not to exist, but its parent must.
        std::error_code ec;
        auto parent = std::filesystem::path{dir}.parent_path();
        if (!parent.empty()) std::filesystem::create_directories(parent, ec);
        if (ec)
          return make_error(ec::io_error,
                            "cannot create '" + parent.string() + "': " + ec.message());
        return lift(self->state.config.backend->checkpoint(dir));
      },
      [=](atom::stats) -> caf::result<uint64_t> {
        auto stats = self->state.config.backend->stats();
        if (!stats) return std::move(stats.error());
        return stats->disk_bytes;
      },
      [=](atom::close) -> caf::result<atom::ok> {
        self->quit();
        return atom::ok_v;
      },
  };
}

backend_actor spawn_backend(caf::actor_system& sys, backend_actor_config config, bool detached) {
  if (detached) return sys.spawn<caf::detached>(backend_behavior, std::move(config));
  return sys.spawn(backend_behavior, std::move(config));
}

} // namespace telos
