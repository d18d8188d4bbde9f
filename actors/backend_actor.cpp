// The backend actor: thin glue from messages to the blocking calls of shard/reads.hpp,
// shard/verify.hpp (the rows' half of a verify) and the shard's graph.
#include "telos/actors/backend_actor.hpp"

#include "telos/shard/reads.hpp"
#include "telos/shard/verify.hpp"
#include "telos/storage/backend_checks.hpp"

#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iterator>

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

caf::error no_graph(uint32_t shard) {
  return make_error(ec::invalid_argument, "shard " + std::to_string(shard) + " has no graph");
}

} // namespace

expected<std::vector<edge_data>> read_neighbours(const storage::shard_graph& g,
                                                 const neighbour_request& q) {
  storage::neighbour_query nq;
  nq.direction = q.direction;
  nq.types = q.types;
  if (!q.ns.empty()) nq.ns = q.ns;
  nq.limit = q.limit > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(q.limit);
  auto found = g.neighbours(q.node, nq);
  if (!found) return std::move(found.error());
  std::vector<edge_data> result;
  result.reserve(found->size());
  for (auto& n : *found) {
    bool out = n.direction == edge_dir::out;
    result.push_back(edge_data{out ? q.node : n.node, std::move(n.type), out ? n.node : q.node,
                               std::move(n.ns), n.weight, std::move(n.attributes)});
  }
  return result;
}

expected<std::vector<graph_path>> read_traversal(const storage::shard_graph& g,
                                                 const traverse_request& q) {
  if (auto ok = check_traverse(q); !ok) return std::move(ok.error());
  storage::traversal_query tq;
  tq.direction = q.direction;
  tq.types = q.types;
  if (!q.ns.empty()) tq.ns = q.ns;
  tq.max_depth = q.depth;
  tq.limit = q.limit > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(q.limit);
  return g.traverse(q.start, tq);
}

expected<quad_match_page> read_quads(const storage::shard_graph& g, const quad_match_request& q) {
  if (q.limit < 1 || q.limit > 100000)
    return make_error(ec::invalid_argument,
                      "quad match limit " + std::to_string(q.limit) + " is outside 1..100000");
  storage::text_pattern pattern;
  if (q.has_s) pattern.s = q.terms.s;
  if (q.has_p) pattern.p = q.terms.p;
  if (q.has_o) pattern.o = q.terms.o;
  if (q.has_c) pattern.c = q.terms.c;
  auto page = g.match(pattern, q.after, static_cast<size_t>(q.limit));
  if (!page) return std::move(page.error());
  quad_match_page result;
  result.quads.reserve(page->quads.size());
  for (auto& t : page->quads)
    result.quads.push_back(
        quad_text{std::move(t.s), std::move(t.p), std::move(t.o), std::move(t.c)});
  result.next = std::move(page->next);
  return result;
}

bool index_serves(const storage::graph_options& g, const filter& f) {
  if (f.created_after || f.created_before) return true;
  for (const auto& p : f.where)
    if (g.indexed_attributes.count(p.key)) return true;
  return false;
}

expected<std::vector<uuid>> indexed_candidates(const storage::shard_graph& g, const filter& f) {
  if (!index_serves(g.options(), f))
    return make_error(ec::invalid_argument,
                      "the filter names no indexed attribute and no created_at range");
  std::optional<std::vector<uuid>> result;
  for (const auto& p : f.where) {
    if (!g.options().indexed_attributes.count(p.key)) continue;
    auto ids = g.index().ids_with_attribute(p.key, p.values);
    if (!ids) return std::move(ids.error());
    if (!result) {
      result = std::move(*ids);
      continue;
    }
    std::vector<uuid> both;
    std::set_intersection(result->begin(), result->end(), ids->begin(), ids->end(),
                          std::back_inserter(both));
    *result = std::move(both);
  }
  if (result) return std::move(*result);
  auto ids = g.index().ids_in_time_range(f.created_after.value_or(INT64_MIN),
                                         f.created_before.value_or(INT64_MAX));
  if (!ids) return std::move(ids.error());
  std::sort(ids->begin(), ids->end());
  return std::move(*ids);
}

backend_actor::behavior_type backend_behavior(backend_actor::stateful_pointer<backend_state> self,
                                              backend_actor_config config) {
  self->state.config = std::move(config);
  return {
      [=](atom::write, write_batch& batch, bool after_previous) -> caf::result<atom::ok> {
        auto& st = self->state;
        // A prepared batch's sender keeps the prepared form until the answer: the operations go
        // to it, to be freed there, not on this (the writing) thread.
        struct retire_after {
          write_batch& b;
          ~retire_after() { b.retire(); }
        } retire{batch};
        if (after_previous && st.failed_write)
          return make_error(ec::io_error, "not written: the write before it in the same shard "
                                          "failed: " +
                                              describe(st.failed_write));
        auto written =
            st.config.backend->write(batch, storage::write_options{st.config.sync_writes});
        st.failed_write = written ? caf::error{} : written.error();
        return lift(std::move(written));
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
      [=](atom::scan, const filter& f) -> caf::result<std::vector<uuid>> {
        const auto& c = self->state.config;
        if (!c.graph) return no_graph(c.shard);
        return lift(indexed_candidates(*c.graph, f));
      },
      [=](atom::verify, bool repair) -> caf::result<storage_check> {
        const auto& c = self->state.config;
        return lift(
            check_rows(*c.backend, c.layout, c.graph.get(), c.shard, c.shard_count, repair));
      },
      [=](atom::edges, const neighbour_request& q) -> caf::result<std::vector<edge_data>> {
        const auto& c = self->state.config;
        if (!c.graph) return no_graph(c.shard);
        return lift(read_neighbours(*c.graph, q));
      },
      [=](atom::traverse, const traverse_request& q) -> caf::result<std::vector<graph_path>> {
        const auto& c = self->state.config;
        if (!c.graph) return no_graph(c.shard);
        return lift(read_traversal(*c.graph, q));
      },
      [=](atom::quads, const quad_match_request& q) -> caf::result<quad_match_page> {
        const auto& c = self->state.config;
        if (!c.graph) return no_graph(c.shard);
        return lift(read_quads(*c.graph, q));
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
      [=](atom::stats) -> caf::result<backend_info> {
        // Only the size on disk and the write counters: backend::stats() also counts every key and
        // byte of every keyspace with a full scan, which from ~17,000 teleo13 memories on held this
        // actor (and so every commit of the shard) for about a second per call; telos-stress asks
        // once a second, and its writes fell to one a second (docs/BENCHMARKS.md).
        backend_info info;
        auto written = self->state.config.backend->written();
        if (!written) return std::move(written.error());
        info.written = *written;
        const auto& dir = self->state.config.directory;
        if (!dir.empty()) info.disk_bytes = storage::detail::directory_bytes(dir);
        return info;
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
