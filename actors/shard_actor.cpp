// The shard actor: group commit, index fan-out, reads, and the routing of verify (shard/verify.hpp)
// and close.
#include "telos/actors/shard_actor.hpp"

#include "telos/actors/backend_actor.hpp"
#include "telos/actors/fan_out.hpp"
#include "telos/shard/manifest.hpp"
#include "telos/shard/verify.hpp"
#include "telos/shard/write_group.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>
#include <unordered_set>

namespace telos {

/// A group built and not yet committed.
struct built_group {
  std::shared_ptr<std::vector<queued_write>> writes;
  std::shared_ptr<write_group> g;
  storage::shard_graph::group_stagings stagings;
  /// Ids the group writes; set (with `plain`) only for groups that may overlap with the next one.
  std::unordered_set<uuid> ids;
  /// Inserts and replacements only: no removes, no updates, no edge or quad writes.
  bool plain = false;
  /// Estimated size of its writes.
  size_t bytes = 0;
  /// Sent to the backend behind the group in flight, whose write failed: the backend refuses it.
  bool doomed = false;
  /// The batch in the backend's own form (storage::backend::prepare), kept until the write's
  /// answer: the backend hands it the batch's operations, so both are freed here.
  std::shared_ptr<prepared_batch> prepared;
};

namespace {

using shard_self = shard_actor::stateful_pointer<shard_state>;

void pump(shard_self self);

size_t estimated_bytes(const shard_write& w) {
  size_t n = 64 * w.removes.size();
  for (const auto& m : w.puts) {
    n += 256 + m.content.size();
    for (const auto& [name, e] : m.embeddings)
      n += 4 * (e.values.size() + e.indices.size());
  }
  return n;
}

/// Answers every write of a group that was not rejected on its own.
void deliver(std::vector<queued_write>& group, const write_group& g, const caf::error& err) {
  for (size_t i = 0; i < group.size(); ++i) {
    const auto& outcome = g.outcomes[i];
    if (outcome.error) continue;
    if (err)
      group[i].promise.deliver(err);
    else
      group[i].promise.deliver(outcome.result);
  }
}

/// After the commit: every index applies its update; the writes are answered once all acked.
void fan_out(shard_self self, std::shared_ptr<std::vector<queued_write>> group,
             std::shared_ptr<write_group> g) {
  auto& st = self->state;
  ++st.unacked_groups;
  std::vector<size_t> targets;
  for (size_t j = 0; j < g->index_updates.size(); ++j) {
    const auto& u = g->index_updates[j];
    if (!u.upsert_ids.empty() || !u.removes.empty()) targets.push_back(j);
  }
  auto updates = std::make_shared<std::vector<index_update>>(std::move(g->index_updates));
  gather<atom::ok>(
      targets.size(),
      [self, updates, targets](size_t i) {
        auto j = targets[i];
        return self->request(self->state.config.indexes[j], caf::infinite, atom::update_v,
                             std::move((*updates)[j]));
      },
      [self, group, g](caf::expected<std::vector<atom::ok>> acks) {
        // The batch is committed either way; an index that failed is rebuilt at the next open.
        deliver(*group, *g, acks ? caf::error{} : acks.error());
        --self->state.unacked_groups;
        pump(self);
      });
}

/// Whether building a group needs the stored record of an id it replaces or removes: row
/// contributors see it, and the graph's attribute index rows name its attribute values. Without
/// either, the record catalog's facts (namespace, created_at) are all the graph needs of it.
bool needs_stored_records(const shard_state& st) {
  return !st.config.contributors.empty() ||
         (st.config.graph && !st.config.graph->options().indexed_attributes.empty());
}

/// The record fields of `id` that the catalog knows (no attributes: none is indexed), in
/// `previous`; true when the id is stored.
bool previous_from_catalog(const shard_state& st, const uuid& id,
                           std::map<uuid, memory>& previous) {
  auto fact = st.config.catalog->find(id);
  if (!fact) return false;
  memory m;
  m.id = id;
  m.ns = fact->ns;
  m.created_at = fact->created_at;
  previous.emplace(id, std::move(m));
  return true;
}

bool plain_write(const shard_write& w) {
  return w.removes.empty() && !w.must_exist && w.graph.empty();
}

/// Builds a group; answers the requests it rejected. Null when nothing is left to commit.
std::shared_ptr<built_group> build_group(shard_self self,
                                         std::shared_ptr<std::vector<queued_write>> writes,
                                         std::map<uuid, memory>* previous,
                                         const built_group* pending) {
  auto& st = self->state;
  auto plain = std::all_of(writes->begin(), writes->end(),
                           [](const queued_write& q) { return plain_write(q.request); });
  std::vector<shard_write> requests;
  requests.reserve(writes->size());
  for (auto& q : *writes)
    requests.push_back(std::move(q.request));
  std::unordered_set<uuid> ids;
  if (plain)
    for (const auto& r : requests)
      for (const auto& m : r.puts)
        ids.insert(m.id);
  write_group_context ctx;
  ctx.layout = &st.config.layout;
  ctx.catalog = st.config.catalog.get();
  ctx.sequence = (pending ? pending->g->sequence : st.config.sequence) + 1;
  ctx.pending = pending ? &pending->g->counts : nullptr;
  ctx.now_ms = st.config.clock();
  ctx.contributors = &st.config.contributors;
  ctx.previous = previous;
  ctx.graph = st.config.graph.get();
  if (st.config.shard_count > 1)
    ctx.owns = [id = st.config.id, n = st.config.shard_count](const uuid& x) {
      return stable_hash(x) % n == id;
    };
  auto b = std::make_shared<built_group>();
  for (const auto& r : requests)
    b->bytes += estimated_bytes(r);
  b->writes = std::move(writes);
  b->g = std::make_shared<write_group>(build_write_group(ctx, requests));
  if (st.config.storage && !b->g->batch.empty()) {
    b->prepared = st.config.storage->prepare(b->g->batch);
    b->g->batch.attach(b->prepared);
  }
  if (st.config.graph) b->stagings = st.config.graph->take_group();
  b->ids = std::move(ids);
  b->plain = plain;
  auto& g = *b->g;
  for (size_t i = 0; i < b->writes->size(); ++i)
    if (g.outcomes[i].error) (*b->writes)[i].promise.deliver(g.outcomes[i].error);
  if (g.batch.empty()) {
    if (st.config.graph) st.config.graph->settle(b->stagings, false);
    deliver(*b->writes, g, {});
    return nullptr;
  }
  return b;
}

void write_group_out(shard_self self, std::shared_ptr<built_group> b);
void send_group(shard_self self, std::shared_ptr<built_group> b, bool after_previous);

/// Takes the queued writes of the next group: at most `max_writes`, bounded by count and bytes.
std::shared_ptr<std::vector<queued_write>> take_writes(shard_state& st, size_t max_writes) {
  auto group = std::make_shared<std::vector<queued_write>>();
  size_t bytes = 0;
  while (!st.queue.empty() && group->size() < std::min(max_writes, st.config.max_group_writes) &&
         (group->empty() || bytes < st.config.max_group_bytes)) {
    bytes += estimated_bytes(st.queue.front().request);
    group->push_back(std::move(st.queue.front()));
    st.queue.pop_front();
  }
  return group;
}

/// While `st.writing` is written: builds the next group from the queued writes if it cannot
/// depend on the one in flight (both plain, disjoint ids, nothing stored to read first), so its
/// write can follow at once. Anything else waits for the commit as before.
void prepare_next(shard_self self) {
  auto& st = self->state;
  if (!st.writing || st.ready || st.queue.empty() || !st.exclusive.empty()) return;
  auto& writing = *st.writing;
  if (!writing.plain || writing.doomed) return;
  // The candidates: the plain writes at the head of the queue whose ids are all fresh to the
  // group in flight and, where contributors or the graph need the stored record, not stored
  // (or, with the graph alone, known well enough from the catalog).
  bool needs_previous = !st.config.contributors.empty() || st.config.graph;
  bool needs_records = needs_stored_records(st);
  size_t n = 0;
  for (const auto& q : st.queue) {
    if (!plain_write(q.request) || n == st.config.max_group_writes) break;
    bool ok = true;
    for (const auto& m : q.request.puts)
      if (writing.ids.count(m.id) || (needs_records && st.config.catalog->contains(m.id))) {
        ok = false;
        break;
      }
    if (!ok) break;
    ++n;
  }
  if (n == 0) return;
  // Ids repeated inside the new group are fine: the builder sees its own overlay.
  auto group = take_writes(st, n);
  std::map<uuid, memory> previous;
  if (needs_previous)
    for (const auto& q : *group)
      for (const auto& m : q.request.puts)
        previous_from_catalog(st, m.id, previous);
  st.ready =
      build_group(self, std::move(group), needs_previous ? &previous : nullptr, st.writing.get());
  // Sent at once: the backend takes it the moment the write in flight ends, without waiting for
  // this actor to hear of that end (a worker may be busy with index updates meanwhile). The
  // backend writes it only if the write before it succeeded.
  if (st.ready) send_group(self, st.ready, true);
}

/// After a write ended: the group sent behind it (if any) is the one in flight now, and the next
/// one may be built behind that; or the writer is idle.
void next_after_write(shard_self self) {
  auto& st = self->state;
  if (st.ready) {
    st.writing = std::move(st.ready);
    st.ready = nullptr;
    prepare_next(self);
    return;
  }
  st.writing = nullptr;
  st.committing = false;
  pump(self);
}

/// Sends a group's batch to the backend. `after_previous`: it goes behind the group in flight,
/// and the backend writes it only if that one's write succeeded. Answers arrive in order of the
/// sends, so the group a reply is for is always `st.writing`.
void send_group(shard_self self, std::shared_ptr<built_group> b, bool after_previous) {
  auto& st = self->state;
  auto batch = std::move(b->g->batch);
  self->request(st.config.backend, caf::infinite, atom::write_v, std::move(batch), after_previous)
      .then(
          [self, b](atom::ok) {
            auto& st = self->state;
            if (st.config.graph) st.config.graph->settle(b->stagings, true);
            st.config.sequence = b->g->sequence;
            st.config.catalog->apply(b->g->changes);
            fan_out(self, b->writes, b->g);
            next_after_write(self);
          },
          [self, b](caf::error& err) {
            auto& st = self->state;
            // A doomed group's error is the backend's refusal, naming the failure before it.
            if (!b->doomed && st.config.on_write_error) st.config.on_write_error(err);
            if (st.config.graph) st.config.graph->settle(b->stagings, false);
            deliver(*b->writes, *b->g, err);
            if (st.ready) {
              // The group sent behind this one counted on it: the backend refuses it, and its own
              // answer ends this write.
              st.writing = std::move(st.ready);
              st.ready = nullptr;
              st.writing->doomed = true;
              return;
            }
            st.writing = nullptr;
            st.committing = false;
            pump(self);
          });
}

void write_group_out(shard_self self, std::shared_ptr<built_group> b) {
  self->state.writing = b;
  send_group(self, std::move(b), false);
  prepare_next(self);
}

void start_group(shard_self self) {
  auto& st = self->state;
  auto group = take_writes(st, st.config.max_group_writes);
  st.committing = true;
  if (st.config.contributors.empty() && !st.config.graph) {
    auto b = build_group(self, group, nullptr, nullptr);
    if (b)
      write_group_out(self, std::move(b));
    else
      next_after_write(self);
    return;
  }
  // Contributors (and the graph's attribute index) see the record a write replaces, so read those
  // first. With the graph alone, the catalog's facts stand in for the record: no read.
  std::vector<uuid> stored;
  std::map<uuid, memory> known;
  bool read = needs_stored_records(st);
  for (const auto& q : *group) {
    for (const auto& m : q.request.puts)
      if (read ? st.config.catalog->contains(m.id) : previous_from_catalog(st, m.id, known))
        stored.push_back(m.id);
    for (const auto& id : q.request.removes)
      if (read ? st.config.catalog->contains(id) : previous_from_catalog(st, id, known))
        stored.push_back(id);
  }
  if (!read) {
    auto b = build_group(self, group, &known, nullptr);
    if (b)
      write_group_out(self, std::move(b));
    else
      next_after_write(self);
    return;
  }
  auto build_and_write = [self, group](std::map<uuid, memory>& previous) {
    auto b = build_group(self, group, &previous, nullptr);
    if (b)
      write_group_out(self, std::move(b));
    else
      next_after_write(self);
  };
  if (stored.empty()) {
    std::map<uuid, memory> previous;
    build_and_write(previous);
    return;
  }
  self->request(st.config.backend, caf::infinite, atom::get_v, std::move(stored), false)
      .then(
          [build_and_write](std::vector<memory>& records) mutable {
            std::map<uuid, memory> previous;
            for (auto& m : records)
              if (!m.id.is_nil()) {
                auto id = m.id;
                previous.emplace(id, std::move(m));
              }
            build_and_write(previous);
          },
          [self, group](caf::error& err) {
            for (auto& q : *group)
              q.promise.deliver(err);
            self->state.committing = false;
            pump(self);
          });
}

/// Starts whatever can run now: an exclusive job once the writer is idle, else the next group.
void pump(shard_self self) {
  auto& st = self->state;
  if (st.committing) {
    // Writes that arrive during a write are built as the next group once they amount to as much
    // as the group in flight (or a full group): groups stay as large as the load makes them, up
    // to max_group_bytes, and the backend gets the next batch the moment it is done with this one.
    if (st.writing && !st.ready) {
      size_t queued = 0;
      for (const auto& q : st.queue)
        queued += estimated_bytes(q.request);
      if (queued >= std::min(st.writing->bytes, st.config.max_group_bytes)) prepare_next(self);
    }
    return;
  }
  if (st.exclusive_running) return;
  if (!st.exclusive.empty() && !(st.exclusive.front().after_queue && !st.queue.empty())) {
    if (st.unacked_groups > 0) return;
    auto job = std::move(st.exclusive.front());
    st.exclusive.pop_front();
    st.exclusive_running = true;
    job.run([self] {
      self->state.exclusive_running = false;
      pump(self);
    });
    return;
  }
  if (!st.queue.empty()) start_group(self);
}

// -- filtered list and count
// -----------------------------------------------------------------------

struct filtered_list {
  filter f;
  uuid after;
  uint64_t limit = 0;
  bool count_only = false;
  std::vector<memory> found;
  uint64_t counted = 0;
  /// From the secondary index (ascending), when it serves the filter; else the catalog is asked.
  std::optional<std::vector<uuid>> candidates;
};

/// The next candidates after run->after, in id order: from the index rows when the filter names
/// an indexed attribute or a time range, else from the catalog.
std::vector<uuid> next_candidates(const record_catalog& catalog, filtered_list& run, size_t n) {
  if (!run.candidates) return catalog.admitted_ids(run.f, run.after, n);
  const auto& all = *run.candidates;
  auto from =
      run.after.is_nil() ? all.begin() : std::upper_bound(all.begin(), all.end(), run.after);
  auto to = from + static_cast<std::ptrdiff_t>(
                       std::min(n, static_cast<size_t>(std::distance(from, all.end()))));
  return {from, to};
}

/// Answers a filtered list or count with an error.
void fail_filtered(const filtered_list& run, caf::typed_response_promise<std::vector<memory>>& rp,
                   caf::typed_response_promise<uint64_t>& count_rp, const caf::error& err) {
  if (run.count_only)
    count_rp.deliver(err);
  else
    rp.deliver(err);
}

/// Candidates in id order (index rows or catalog), confirmed on the records, until `limit`
/// matched.
void list_filtered(shard_self self, std::shared_ptr<filtered_list> run,
                   caf::typed_response_promise<std::vector<memory>> rp,
                   caf::typed_response_promise<uint64_t> count_rp = {}) {
  constexpr size_t chunk = 512;
  auto ids = next_candidates(*self->state.config.catalog, *run, chunk);
  if (ids.empty()) {
    if (run->count_only)
      count_rp.deliver(run->counted);
    else
      rp.deliver(std::move(run->found));
    return;
  }
  run->after = ids.back();
  self->request(self->state.config.backend, caf::infinite, atom::get_v, std::move(ids), false)
      .then(
          [self, run, rp, count_rp](std::vector<memory>& records) mutable {
            for (auto& m : records) {
              if (m.id.is_nil() || !run->f.matches(m)) continue;
              if (run->count_only) {
                ++run->counted;
                continue;
              }
              run->found.push_back(std::move(m));
              if (run->found.size() >= run->limit) {
                rp.deliver(std::move(run->found));
                return;
              }
            }
            list_filtered(self, run, rp, count_rp);
          },
          [rp, count_rp, run](caf::error& err) mutable { fail_filtered(*run, rp, count_rp, err); });
}

/// Starts a filtered list or count: first the candidates from the index rows when they serve the
/// filter (one read by the backend actor), then list_filtered.
void start_filtered(shard_self self, std::shared_ptr<filtered_list> run,
                    caf::typed_response_promise<std::vector<memory>> rp,
                    caf::typed_response_promise<uint64_t> count_rp = {}) {
  const auto& graph = self->state.config.graph;
  if (!graph || !index_serves(graph->options(), run->f)) {
    list_filtered(self, run, rp, count_rp);
    return;
  }
  self->request(self->state.config.backend, caf::infinite, atom::scan_v, run->f)
      .then(
          [self, run, rp, count_rp](std::vector<uuid>& ids) mutable {
            run->candidates = std::move(ids);
            list_filtered(self, run, rp, count_rp);
          },
          [rp, count_rp, run](caf::error& err) mutable { fail_filtered(*run, rp, count_rp, err); });
}

// -- verify ---------------------------------------------------------------------------------------

struct verify_run {
  bool repair = false;
  storage_check rows;
  shard_verdict verdict;
};

/// Streams an embedder's vector keyspace into its (cleared) index, chunk by chunk.
void reload_index(shard_self self, size_t j, uuid after, std::function<void(caf::error)> done) {
  auto& c = self->state.config;
  self->request(c.backend, caf::infinite, atom::scan_v, static_cast<uint32_t>(j), after,
                c.rebuild_chunk)
      .then(
          [self, j, done](vector_chunk& chunk) {
            auto last = chunk.last;
            auto next = chunk.ids.empty() ? uuid{} : chunk.ids.back();
            self->request(self->state.config.indexes[j], caf::infinite, atom::load_v,
                          std::move(chunk))
                .then(
                    [self, j, done, last, next](atom::ok) {
                      if (last)
                        done({});
                      else
                        reload_index(self, j, next, done);
                    },
                    [done](caf::error& err) { done(std::move(err)); });
          },
          [done](caf::error& err) { done(std::move(err)); });
}

void rebuild_indexes(shard_self self, std::shared_ptr<verify_run> run, size_t next,
                     std::function<void(caf::error)> done) {
  const auto& rebuild = run->verdict.rebuild;
  if (next == rebuild.size()) {
    done({});
    return;
  }
  auto j = rebuild[next];
  self->request(self->state.config.indexes[j], caf::infinite, atom::clear_v)
      .then(
          [self, run, next, j, done](atom::ok) {
            reload_index(self, j, uuid{}, [self, run, next, done](caf::error err) {
              if (err)
                done(std::move(err));
              else
                rebuild_indexes(self, run, next + 1, done);
            });
          },
          [done](caf::error& err) { done(std::move(err)); });
}

void run_verify(shard_self self, bool repair, caf::typed_response_promise<verify_result> rp,
                std::function<void()> done) {
  auto run = std::make_shared<verify_run>();
  run->repair = repair;
  auto finish = [rp, done](caf::expected<verify_result> x) mutable {
    if (x)
      rp.deliver(std::move(*x));
    else
      rp.deliver(x.error());
    done();
  };
  self->request(self->state.config.backend, caf::infinite, atom::verify_v, repair)
      .then(
          [self, run, finish](storage_check& rows) {
            run->rows = std::move(rows);
            auto ids = std::make_shared<std::vector<uuid>>(checked_ids(run->rows));
            auto& indexes = self->state.config.indexes;
            gather<index_check>(
                indexes.size(),
                [self, ids](size_t j) {
                  return self->request(self->state.config.indexes[j], caf::infinite, atom::check_v,
                                       *ids);
                },
                [self, run, finish](caf::expected<std::vector<index_check>> checks) mutable {
                  if (!checks) {
                    finish(checks.error());
                    return;
                  }
                  auto& c = self->state.config;
                  run->verdict =
                      judge_shard(c.id, c.layout, *c.catalog, run->rows, *checks, run->repair);
                  if (!run->repair || run->verdict.rebuild.empty()) {
                    finish(std::move(run->verdict.result));
                    return;
                  }
                  rebuild_indexes(self, run, 0, [run, finish](caf::error err) mutable {
                    if (err)
                      finish(std::move(err));
                    else
                      finish(std::move(run->verdict.result));
                  });
                });
          },
          [finish](caf::error& err) mutable { finish(std::move(err)); });
}

// -- close ----------------------------------------------------------------------------------------

void run_close(shard_self self, caf::typed_response_promise<atom::ok> rp) {
  auto& c = self->state.config;
  gather<atom::ok>(
      c.indexes.size() + 1,
      [self](size_t i) {
        auto& c = self->state.config;
        if (i < c.indexes.size()) return self->request(c.indexes[i], caf::infinite, atom::close_v);
        return self->request(c.backend, caf::infinite, atom::close_v);
      },
      [self, rp](caf::expected<std::vector<atom::ok>> acks) mutable {
        if (acks)
          rp.deliver(atom::ok_v);
        else
          rp.deliver(acks.error());
        self->quit();
      });
}

} // namespace

shard_actor::behavior_type shard_behavior(shard_self self, shard_actor_config config) {
  if (!config.clock)
    config.clock = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  self->state.config = std::move(config);
  return {
      [=](atom::write, shard_write& w) -> caf::result<shard_write_result> {
        auto& st = self->state;
        if (st.closing)
          return make_error(ec::closed, "shard " + std::to_string(st.config.id) + " is closing");
        auto rp = self->make_response_promise<shard_write_result>();
        st.queue.push_back(queued_write{std::move(w), rp});
        pump(self);
        return rp;
      },
      [=](atom::get, std::vector<uuid>& ids) {
        return self->delegate(self->state.config.backend, atom::get_v, std::move(ids), true);
      },
      [=](atom::exists, const std::vector<uuid>& ids) {
        flag_list result;
        result.reserve(ids.size());
        for (const auto& id : ids)
          result.push_back(self->state.config.catalog->contains(id));
        return result;
      },
      [=](atom::list, std::string& ns, uuid after, uint64_t limit) {
        return self->delegate(self->state.config.backend, atom::list_v, std::move(ns), after,
                              limit);
      },
      [=](atom::count, const std::string& ns) -> uint64_t {
        return self->state.config.catalog->count(ns);
      },
      [=](atom::list, filter& f, uuid after, uint64_t limit) -> caf::result<std::vector<memory>> {
        if (limit == 0) return std::vector<memory>{};
        auto rp = self->make_response_promise<std::vector<memory>>();
        auto run = std::make_shared<filtered_list>();
        run->f = std::move(f);
        run->after = after;
        run->limit = limit;
        start_filtered(self, run, rp);
        return rp;
      },
      [=](atom::count, filter& f) -> caf::result<uint64_t> {
        auto& c = *self->state.config.catalog;
        // Namespace and created_at are exact in the catalog; attributes are hashes there, so a
        // `where` is confirmed on the records.
        if (f.where.empty()) return c.count_admitted(f);
        auto rp = self->make_response_promise<uint64_t>();
        auto run = std::make_shared<filtered_list>();
        run->f = std::move(f);
        run->limit = UINT64_MAX;
        run->count_only = true;
        start_filtered(self, run, caf::typed_response_promise<std::vector<memory>>{}, rp);
        return rp;
      },
      [=](atom::edges, neighbour_request& q) {
        return self->delegate(self->state.config.backend, atom::edges_v, std::move(q));
      },
      [=](atom::traverse, traverse_request& q) {
        return self->delegate(self->state.config.backend, atom::traverse_v, std::move(q));
      },
      [=](atom::quads, quad_match_request& q) {
        return self->delegate(self->state.config.backend, atom::quads_v, std::move(q));
      },
      [=](atom::search, const std::string& embedder, embedding& query, uint32_t k,
          filter& f) -> caf::result<std::vector<hit>> {
        auto& c = self->state.config;
        auto j = c.layout.profile().index_of(embedder);
        if (!j) return std::move(j.error());
        return self->delegate(c.indexes[*j], atom::search_v, std::move(query), k, std::move(f));
      },
      [=](atom::score, const std::string& embedder, embedding& query,
          std::vector<uuid>& ids) -> caf::result<std::vector<hit>> {
        auto& c = self->state.config;
        auto j = c.layout.profile().index_of(embedder);
        if (!j) return std::move(j.error());
        return self->delegate(c.indexes[*j], atom::score_v, std::move(query), std::move(ids));
      },
      [=](atom::flush) { return self->delegate(self->state.config.backend, atom::flush_v); },
      [=](atom::compact) { return self->delegate(self->state.config.backend, atom::compact_v); },
      [=](atom::checkpoint, const std::string& dir) {
        return self->delegate(self->state.config.backend, atom::checkpoint_v,
                              backend_directory(dir, self->state.config.id));
      },
      [=](atom::stats) -> caf::result<shard_info> {
        auto rp = self->make_response_promise<shard_info>();
        auto& c = self->state.config;
        auto info = std::make_shared<shard_info>();
        info->shard = c.id;
        info->sequence = c.sequence;
        info->memories = c.catalog->count();
        info->per_namespace = c.catalog->per_namespace();
        self->request(c.backend, caf::infinite, atom::stats_v)
            .then(
                [self, rp, info](const backend_info& backend) mutable {
                  info->disk_bytes = backend.disk_bytes;
                  info->written = backend.written;
                  gather<index_info>(
                      self->state.config.indexes.size(),
                      [self](size_t j) {
                        return self->request(self->state.config.indexes[j], caf::infinite,
                                             atom::stats_v);
                      },
                      [rp, info](caf::expected<std::vector<index_info>> indexes) mutable {
                        if (!indexes) {
                          rp.deliver(indexes.error());
                          return;
                        }
                        info->indexes = std::move(*indexes);
                        rp.deliver(std::move(*info));
                      });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [=](atom::verify, bool repair) -> caf::result<verify_result> {
        auto rp = self->make_response_promise<verify_result>();
        self->state.exclusive.push_back(
            exclusive_job{false, [self, repair, rp](std::function<void()> done) {
                            run_verify(self, repair, rp, std::move(done));
                          }});
        pump(self);
        return rp;
      },
      [=](atom::close) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (st.closing)
          return make_error(ec::closed,
                            "shard " + std::to_string(st.config.id) + " is already closing");
        st.closing = true;
        auto rp = self->make_response_promise<atom::ok>();
        st.exclusive.push_back(
            exclusive_job{true, [self, rp](std::function<void()>) { run_close(self, rp); }});
        pump(self);
        return rp;
      },
  };
}

shard_actor spawn_shard(caf::actor_system& sys, shard_actor_config config) {
  return sys.spawn(shard_behavior, std::move(config));
}

} // namespace telos
