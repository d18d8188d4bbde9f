// The coordinator: validation, routing, scatter-gather of writes, reads and searches. Each
// message has one handler function below (coordinator_behavior only maps messages to them);
// searches run the one search routine (shard/search_run.hpp) by messages to the shards.
#include "telos/actors/coordinator.hpp"

#include "telos/actors/fan_out.hpp"
#include "telos/actors/shard_plan.hpp"
#include "telos/actors/test_hooks.hpp"
#include "telos/shard/search_run.hpp"
#include "telos/shard/verify.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <unordered_set>

namespace telos {

namespace {

using coordinator_self = coordinator_actor::stateful_pointer<coordinator_state>;

// -- answering ------------------------------------------------------------------------------------

caf::error store_closing() {
  return make_error(ec::closed, "the store is closing");
}

/// Delivers the value `result` holds, or its error.
template <class T, class U>
void deliver_result(caf::typed_response_promise<T>& rp, caf::expected<U>&& result) {
  if (result)
    rp.deliver(std::move(*result));
  else
    rp.deliver(std::move(result.error()));
}

/// Delivers `value` when `result` holds a value, else the error of `result`.
template <class T, class U, class V>
void deliver_if_ok(caf::typed_response_promise<T>& rp, const caf::expected<U>& result, V&& value) {
  if (result)
    rp.deliver(std::forward<V>(value));
  else
    rp.deliver(result.error());
}

/// Sends the same request to every shard; done gets the answers in shard order, or the first
/// error.
template <class T, class Done, class Atom, class... Ts>
void ask_all_shards(coordinator_self self, Done done, Atom, Ts... xs) {
  gather<T>(
      self->state.config.shards.size(),
      [self, xs...](size_t i) {
        // Atom{} rather than a captured copy, as in ask_by_shard.
        return self->request(self->state.config.shards[i], caf::infinite, Atom{}, xs...);
      },
      std::move(done));
}

// -- write admission ------------------------------------------------------------------------------

/// Runs the waiters whose condition holds: checkpoints wait for no dispatched write, close for
/// no write at all.
void check_waiters(coordinator_self self) {
  auto& st = self->state;
  if (st.dispatched == 0 && !st.on_quiet.empty()) {
    auto waiting = std::move(st.on_quiet);
    st.on_quiet.clear();
    for (auto& f : waiting)
      f();
  }
  if (st.inflight == 0 && !st.on_idle.empty()) {
    auto waiting = std::move(st.on_idle);
    st.on_idle.clear();
    for (auto& f : waiting)
      f();
  }
}

caf::error admit_write(coordinator_self self) {
  auto& st = self->state;
  if (st.closing) return store_closing();
  if (st.inflight >= st.config.max_inflight_writes)
    return make_error(ec::overloaded, std::to_string(st.inflight) +
                                          " writes in flight, the limit (max_inflight_writes)");
  ++st.inflight;
  return {};
}

/// One client write split by shard: only shards with work appear.
struct write_plan {
  std::vector<size_t> shards;
  std::vector<shard_write> parts;
  /// Per part: the client positions of its puts or removes.
  std::vector<std::vector<size_t>> positions;

  /// The plan built by shard_plan.hpp (the one place a write is split by shard), in shard order.
  static std::shared_ptr<write_plan> of(shard_plan built) {
    auto plan = std::make_shared<write_plan>();
    for (auto& [shard, part] : built.parts) {
      plan->shards.push_back(shard);
      plan->parts.push_back(std::move(part));
      plan->positions.push_back(std::move(built.positions[shard]));
    }
    return plan;
  }

  shard_write& part(size_t shard) {
    for (size_t i = 0; i < shards.size(); ++i)
      if (shards[i] == shard) return parts[i];
    shards.push_back(shard);
    parts.emplace_back();
    positions.emplace_back();
    return parts.back();
  }
};

using write_done = std::function<void(caf::expected<std::vector<shard_write_result>>)>;

/// The first error of a write, naming the shard that failed when the store has several (a node
/// whose disk fails answers with its error; the client learns which shard it was), and the shards
/// whose part committed anyway: each shard commits its part atomically, the parts together are
/// not (see docs/ENGINE.md).
caf::error partial_write_error(const write_plan& plan,
                               const std::vector<caf::expected<shard_write_result>>& answers,
                               size_t shard_count) {
  caf::error first;
  std::string committed;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i]) {
      if (!first) {
        first = answers[i].error();
        const auto& ctx = first.context();
        if (shard_count > 1 && first.category() == caf::atom("telos") &&
            ctx.match_elements<std::string>())
          first = make_error(code_of(first), "shard " + std::to_string(plan.shards[i]) + ": " +
                                                 ctx.get_as<std::string>(0));
      }
    } else {
      committed += (committed.empty() ? "" : ", ") + std::to_string(plan.shards[i]);
    }
  }
  if (committed.empty()) return first;
  return make_error(code_of(first), describe(first) + "; the parts on shard(s) " + committed +
                                        " committed (a batch is atomic per shard)");
}

/// Sends every part of a plan (now, or once a checkpoint let go) and answers through `done`.
void dispatch(coordinator_self self, std::shared_ptr<write_plan> plan, write_done done) {
  auto job = [self, plan, done] {
    ++self->state.dispatched;
    gather_all<shard_write_result>(
        plan->shards.size(),
        [self, plan](size_t i) {
          return self->request(self->state.config.shards[plan->shards[i]], caf::infinite,
                               atom::write_v, std::move(plan->parts[i]));
        },
        [self, plan, done](std::vector<caf::expected<shard_write_result>> answers) {
          auto& st = self->state;
          --st.dispatched;
          --st.inflight;
          bool failed =
              std::any_of(answers.begin(), answers.end(), [](const auto& x) { return !x; });
          if (failed)
            done(partial_write_error(*plan, answers, st.config.shards.size()));
          else
            done(first_error_or_values(std::move(answers)));
          check_waiters(self);
        });
  };
  if (self->state.paused)
    self->state.held.push_back(std::move(job));
  else
    job();
}

/// Admits, dispatches and answers a write whose answer follows from the shards' results alone.
template <class T, class Answer>
caf::result<T> write_and_answer(coordinator_self self, std::shared_ptr<write_plan> plan,
                                Answer answer) {
  if (auto err = admit_write(self)) return err;
  auto rp = self->make_response_promise<T>();
  dispatch(self, plan,
           [rp, answer](caf::expected<std::vector<shard_write_result>> results) mutable {
             if (results)
               rp.deliver(answer(*results));
             else
               rp.deliver(results.error());
           });
  return rp;
}

// -- reads by id ----------------------------------------------------------------------------------

/// Groups ids by shard: per shard the ids and their positions in `ids`.
struct by_shard {
  std::vector<size_t> shards;
  std::vector<std::vector<uuid>> ids;
  std::vector<std::vector<size_t>> positions;
};

by_shard group_by_shard(const coordinator_state& st, const std::vector<uuid>& ids) {
  by_shard g;
  std::vector<size_t> slot(st.config.shards.size(), SIZE_MAX);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto s = st.shard_of(ids[i]);
    if (slot[s] == SIZE_MAX) {
      slot[s] = g.shards.size();
      g.shards.push_back(s);
      g.ids.emplace_back();
      g.positions.emplace_back();
    }
    g.ids[slot[s]].push_back(ids[i]);
    g.positions[slot[s]].push_back(i);
  }
  return g;
}

/// The list a shard answers for each of several ids: memories as a vector, yes/no answers as a
/// flag_list (messages/flag_list.hpp says why not std::vector<bool>).
template <class T>
struct answer_list_of {
  using type = std::vector<T>;
};
template <>
struct answer_list_of<bool> {
  using type = flag_list;
};
template <class T>
using answer_list = typename answer_list_of<T>::type;

/// Asks each shard holding some of `ids` about its ids (`what`: get or exists) and gives `done`
/// the answers in the order of `ids`.
template <class T, class Atom>
void ask_by_shard(coordinator_self self, const std::vector<uuid>& ids, Atom,
                  std::function<void(caf::expected<answer_list<T>>)> done) {
  auto groups = std::make_shared<by_shard>(group_by_shard(self->state, ids));
  auto n = ids.size();
  gather<answer_list<T>>(
      groups->shards.size(),
      [self, groups](size_t i) {
        // A fresh Atom, not a captured copy: GCC's -Wmaybe-uninitialized takes the copy of the
        // empty atom type for uninitialized at -O2.
        return self->request(self->state.config.shards[groups->shards[i]], caf::infinite, Atom{},
                             groups->ids[i]);
      },
      [groups, n, done](caf::expected<std::vector<answer_list<T>>> parts) {
        if (!parts) {
          done(parts.error());
          return;
        }
        answer_list<T> result(n);
        for (size_t i = 0; i < parts->size(); ++i)
          for (size_t k = 0; k < (*parts)[i].size(); ++k)
            result[groups->positions[i][k]] = std::move((*parts)[i][k]);
        done(std::move(result));
      });
}

/// Memories by id across shards, in the order asked; nil id = absent.
void fetch(coordinator_self self, const std::vector<uuid>& ids,
           std::function<void(caf::expected<std::vector<memory>>)> done) {
  ask_by_shard<memory>(self, ids, atom::get_v, std::move(done));
}

// -- searches -------------------------------------------------------------------------------------

/// The coordinator's driver of search_run: each step's requests go to the shard actors (local
/// or remote), then the records are fetched when the answer needs them.
void run_search(coordinator_self self, std::shared_ptr<search_run> run,
                caf::typed_response_promise<search_result> rp) {
  gather<std::vector<hit>>(
      run->list_count(),
      [self, run](size_t i) {
        const auto& part = run->list_part(i);
        return self->request(self->state.config.shards[run->list_shard(i)], caf::infinite,
                             atom::search_v, part.name, part.query, run->depth(),
                             run->request_filter());
      },
      [self, run, rp](caf::expected<std::vector<std::vector<hit>>> lists) mutable {
        if (!lists) {
          rp.deliver(lists.error());
          return;
        }
        run->take_lists(std::move(*lists));
        auto asked =
            std::make_shared<std::vector<search_run::score_request>>(run->missing_scores());
        gather<std::vector<hit>>(
            asked->size(),
            [self, run, asked](size_t i) {
              const auto& a = (*asked)[i];
              const auto& part = run->parts()[a.part];
              return self->request(self->state.config.shards[a.shard], caf::infinite, atom::score_v,
                                   part.name, part.query, a.ids);
            },
            [self, run, asked, rp](caf::expected<std::vector<std::vector<hit>>> scores) mutable {
              if (!scores) {
                rp.deliver(scores.error());
                return;
              }
              run->take_scores(*asked, std::move(*scores));
              if (!run->needs_records()) {
                rp.deliver(run->finish());
                return;
              }
              fetch(self, run->record_ids(),
                    [run, rp](caf::expected<std::vector<memory>> records) mutable {
                      if (records)
                        rp.deliver(run->finish(std::move(*records)));
                      else
                        rp.deliver(records.error());
                    });
            });
      });
}

// -- graph ----------------------------------------------------------------------------------------

/// A write that was admitted but is abandoned before dispatch.
void drop_write(coordinator_self self) {
  --self->state.inflight;
  check_waiters(self);
}

/// The state of a breadth-first traversal that asks each hop's node's shard.
struct traversal_run {
  traverse_request q;
  std::unordered_set<uuid> visited;
  std::vector<graph_path> frontier;
  std::vector<graph_path> result;
  uint32_t depth = 0;
  caf::typed_response_promise<std::vector<graph_path>> rp;
};

/// One level: the neighbours of every frontier node at once, then the same expansion as
/// storage::traverse (hops in (type, node, direction) order; first reach wins).
void traverse_level(coordinator_self self, std::shared_ptr<traversal_run> run) {
  if (run->depth >= run->q.depth || run->frontier.empty()) {
    run->rp.deliver(std::move(run->result));
    return;
  }
  ++run->depth;
  gather<std::vector<edge_data>>(
      run->frontier.size(),
      [self, run](size_t i) {
        auto node = run->frontier[i].nodes.back();
        neighbour_request nr{node, run->q.direction, run->q.types, run->q.ns, UINT64_MAX};
        return self->request(self->state.config.shards[self->state.shard_of(node)], caf::infinite,
                             atom::edges_v, std::move(nr));
      },
      [self, run](caf::expected<std::vector<std::vector<edge_data>>> lists) {
        if (!lists) {
          run->rp.deliver(lists.error());
          return;
        }
        struct hop {
          std::string type;
          uuid node;
          edge_dir direction;
        };
        std::vector<graph_path> next;
        for (size_t i = 0; i < run->frontier.size(); ++i) {
          const auto& from = run->frontier[i];
          auto here = from.nodes.back();
          std::vector<hop> hops;
          for (auto& e : (*lists)[i]) {
            bool out = e.source == here;
            hops.push_back(hop{std::move(e.type), out ? e.target : e.source,
                               out ? edge_dir::out : edge_dir::in});
          }
          std::sort(hops.begin(), hops.end(), [](const hop& a, const hop& b) {
            return std::tie(a.type, a.node, a.direction) < std::tie(b.type, b.node, b.direction);
          });
          for (auto& h : hops) {
            if (!run->visited.insert(h.node).second) continue;
            graph_path p = from;
            p.nodes.push_back(h.node);
            p.types.push_back(h.type);
            p.directions.push_back(h.direction);
            run->result.push_back(p);
            if (run->result.size() >= run->q.limit) {
              run->rp.deliver(std::move(run->result));
              return;
            }
            next.push_back(std::move(p));
          }
        }
        run->frontier = std::move(next);
        traverse_level(self, run);
      });
}

/// One page of `list` over every shard: each shard sends up to limit + 1 memories after `after`
/// that `selector` (a namespace or a filter) admits; the page is the first `limit` in id order.
template <class Selector>
caf::result<list_page> list_across_shards(coordinator_self self, const Selector& selector,
                                          uuid after, uint64_t limit) {
  if (self->state.closing) return store_closing();
  if (limit == 0) return list_page{};
  auto rp = self->make_response_promise<list_page>();
  // One more than asked tells whether another page follows.
  auto ask = limit == std::numeric_limits<uint64_t>::max() ? limit : limit + 1;
  ask_all_shards<std::vector<memory>>(
      self,
      [rp, limit](caf::expected<std::vector<std::vector<memory>>> parts) mutable {
        if (!parts) {
          rp.deliver(parts.error());
          return;
        }
        list_page page;
        for (auto& part : *parts)
          for (auto& m : part)
            page.items.push_back(std::move(m));
        std::sort(page.items.begin(), page.items.end(),
                  [](const memory& a, const memory& b) { return a.id < b.id; });
        if (page.items.size() > limit) {
          page.items.resize(limit);
          page.next_after = page.items.back().id;
        }
        rp.deliver(std::move(page));
      },
      atom::list_v, selector, after, ask);
  return rp;
}

/// The sum of every shard's count of the memories `selector` (a namespace or a filter) admits.
template <class Selector>
caf::result<uint64_t> count_across_shards(coordinator_self self, const Selector& selector) {
  if (self->state.closing) return store_closing();
  auto rp = self->make_response_promise<uint64_t>();
  ask_all_shards<uint64_t>(
      self,
      [rp](caf::expected<std::vector<uint64_t>> counts) mutable {
        if (!counts) {
          rp.deliver(counts.error());
          return;
        }
        uint64_t total = 0;
        for (auto n : *counts)
          total += n;
        rp.deliver(total);
      },
      atom::count_v, selector);
  return rp;
}

/// One handler per message of coordinator_actor (Broker's master has one method per command).
struct coordinator_commands {
  coordinator_self self;

  // -- memories -----------------------------------------------------------------------------------

  caf::result<std::vector<uuid>> put(std::vector<memory>& batch) const {
    auto& st = self->state;
    auto ids = name_and_validate(batch, st.config.profile, st.config.limits);
    if (!ids) return std::move(ids.error());
    auto plan = write_plan::of(
        plan_puts(std::move(batch), [&st](const uuid& id) { return st.shard_of(id); }));
    return write_and_answer<std::vector<uuid>>(
        self, plan,
        [ids = std::move(*ids)](const std::vector<shard_write_result>&) { return ids; });
  }

  caf::result<atom::ok> update(memory& m) const {
    auto& st = self->state;
    if (m.id.is_nil())
      return make_error(ec::invalid_argument, "update needs the id of a stored memory");
    if (auto ok = validate(m, st.config.profile, st.config.limits); !ok)
      return std::move(ok.error());
    auto plan = std::make_shared<write_plan>();
    auto& part = plan->part(st.shard_of(m.id));
    part.must_exist = true;
    part.puts.push_back(std::move(m));
    return write_and_answer<atom::ok>(
        self, plan, [](const std::vector<shard_write_result>&) { return atom::ok_v; });
  }

  /// Each id removed on its shard with its edges there. A remove whose memories have edges on
  /// other shards comes through the transaction front (two-phase commit), which plans their
  /// copies into the same write (shard_plan.hpp); here each shard's part is atomic on its own.
  caf::result<flag_list> remove(const std::vector<uuid>& ids) const {
    auto& st = self->state;
    auto plan =
        write_plan::of(plan_removes(ids, {}, [&st](const uuid& id) { return st.shard_of(id); }));
    auto n = ids.size();
    return write_and_answer<flag_list>(self, plan,
                                       [plan, n](const std::vector<shard_write_result>& results) {
                                         flag_list removed(n, false);
                                         for (size_t i = 0; i < results.size(); ++i)
                                           for (size_t k = 0; k < results[i].removed.size(); ++k)
                                             removed[plan->positions[i][k]] = results[i].removed[k];
                                         return removed;
                                       });
  }

  template <class T, class Atom>
  caf::result<answer_list<T>> by_id(const std::vector<uuid>& ids, Atom what) const {
    if (self->state.closing) return store_closing();
    auto rp = self->make_response_promise<answer_list<T>>();
    ask_by_shard<T>(self, ids, what, [rp](caf::expected<answer_list<T>> result) mutable {
      deliver_result(rp, std::move(result));
    });
    return rp;
  }

  // -- graph --------------------------------------------------------------------------------------

  /// Each edge on its source's shard and, when different, its target's (shard_plan.hpp). Edges
  /// across shards come through the transaction front (two-phase commit) in a store with several
  /// shards; here each shard's part is atomic on its own.
  caf::result<atom::ok> add_edges(std::vector<edge_data>& edges) const {
    for (auto& e : edges)
      if (auto ok = check_edge(e); !ok) return std::move(ok.error());
    if (auto err = admit_write(self)) return err;
    auto& st = self->state;
    // Every endpoint must exist; each shard checks its own again inside its batch.
    std::vector<uuid> endpoints;
    for (const auto& e : edges)
      endpoints.insert(endpoints.end(), {e.source, e.target});
    auto plan =
        write_plan::of(plan_edge_puts(edges, [&st](const uuid& id) { return st.shard_of(id); }));
    auto rp = self->make_response_promise<atom::ok>();
    auto me = self;
    ask_by_shard<bool>(
        self, endpoints, atom::exists_v,
        [me, endpoints, plan, rp](caf::expected<flag_list> found) mutable {
          if (!found) {
            drop_write(me);
            rp.deliver(found.error());
            return;
          }
          for (size_t i = 0; i < found->size(); ++i)
            if (!(*found)[i]) {
              drop_write(me);
              rp.deliver(make_error(ec::not_found, "edge endpoint memory " +
                                                       endpoints[i].to_string() +
                                                       " is not stored"));
              return;
            }
          dispatch(me, plan, [rp](caf::expected<std::vector<shard_write_result>> results) mutable {
            deliver_if_ok(rp, results, atom::ok_v);
          });
        });
    return rp;
  }

  /// As add_edges; whether each edge existed is its source's shard's answer.
  caf::result<flag_list> remove_edges(std::vector<edge_data>& edges) const {
    for (auto& e : edges)
      if (auto ok = check_edge(e); !ok) return std::move(ok.error());
    auto& st = self->state;
    auto built = plan_edge_removes(edges, [&st](const uuid& id) { return st.shard_of(id); });
    auto answers = built.answers;
    auto plan = write_plan::of(std::move(built));
    return write_and_answer<flag_list>(
        self, plan, [plan, answers](const std::vector<shard_write_result>& results) {
          flag_list existed;
          for (auto [shard, k] : answers)
            for (size_t i = 0; i < plan->shards.size(); ++i)
              if (plan->shards[i] == shard) existed.push_back(results[i].graph.edges_removed.at(k));
          return existed;
        });
  }

  caf::result<std::vector<edge_data>> neighbours(neighbour_request& q) const {
    if (self->state.closing) return store_closing();
    if (q.node.is_nil()) return make_error(ec::invalid_argument, "neighbours need a node id");
    auto& st = self->state;
    return self->delegate(st.config.shards[st.shard_of(q.node)], atom::edges_v, std::move(q));
  }

  caf::result<std::vector<graph_path>> traverse(traverse_request& q) const {
    auto& st = self->state;
    if (st.closing) return store_closing();
    if (auto ok = check_traverse(q); !ok) return std::move(ok.error());
    if (st.config.shards.size() == 1)
      return self->delegate(st.config.shards.front(), atom::traverse_v, std::move(q));
    auto run = std::make_shared<traversal_run>();
    run->rp = self->make_response_promise<std::vector<graph_path>>();
    run->visited.insert(q.start);
    run->frontier.push_back(graph_path{{q.start}, {}, {}});
    run->q = std::move(q);
    traverse_level(self, run);
    return run->rp;
  }

  // Quads of free text live on shard 0, so a pattern's pages keep one storage order.

  caf::result<atom::ok> add_quads(std::vector<quad_text>& quads) const {
    auto plan = std::make_shared<write_plan>();
    plan->part(0).graph.quad_puts = std::move(quads);
    return write_and_answer<atom::ok>(
        self, plan, [](const std::vector<shard_write_result>&) { return atom::ok_v; });
  }

  caf::result<flag_list> remove_quads(std::vector<quad_text>& quads) const {
    auto plan = std::make_shared<write_plan>();
    plan->part(0).graph.quad_removes = std::move(quads);
    return write_and_answer<flag_list>(self, plan, [](std::vector<shard_write_result>& results) {
      return std::move(results.front().graph.quads_removed);
    });
  }

  caf::result<quad_match_page> match_quads(quad_match_request& q) const {
    if (self->state.closing) return store_closing();
    return self->delegate(self->state.config.shards.front(), atom::quads_v, std::move(q));
  }

  // -- searches -----------------------------------------------------------------------------------

  /// A single-embedder or a fused search, both run by search_run.
  template <class Request>
  caf::result<search_result> search(Request& req) const {
    auto& st = self->state;
    if (st.closing) return store_closing();
    auto run = plan(std::move(req));
    if (!run) return std::move(run.error());
    if (run->empty()) return search_result{};
    auto rp = self->make_response_promise<search_result>();
    run_search(self, std::make_shared<search_run>(std::move(*run)), rp);
    return rp;
  }

  expected<search_run> plan(search_request req) const {
    const auto& c = self->state.config;
    return search_run::plan(c.profile, c.limits, std::move(req), c.shards.size());
  }

  expected<search_run> plan(fused_search_request req) const {
    const auto& c = self->state.config;
    return search_run::plan(c.profile, c.limits, std::move(req), c.fused_depth, c.shards.size());
  }

  // -- maintenance --------------------------------------------------------------------------------

  /// Flush or compact: every shard does it, the answer is ok once all did.
  template <class Atom>
  caf::result<atom::ok> on_every_shard(Atom what) const {
    auto rp = self->make_response_promise<atom::ok>();
    ask_all_shards<atom::ok>(
        self,
        [rp](caf::expected<std::vector<atom::ok>> acks) mutable {
          deliver_if_ok(rp, acks, atom::ok_v);
        },
        what);
    return rp;
  }

  caf::result<atom::ok> checkpoint(const std::string& dir) const {
    auto& st = self->state;
    if (st.closing) return store_closing();
    if (st.paused) return make_error(ec::overloaded, "another checkpoint is in progress");
    // Writes already sent finish first and new ones wait, so every shard's copy shows the
    // same set of acknowledged writes.
    st.paused = true;
    auto rp = self->make_response_promise<atom::ok>();
    auto me = self;
    st.on_quiet.push_back([me, dir, rp]() mutable {
      ask_all_shards<atom::ok>(
          me,
          [me, rp](caf::expected<std::vector<atom::ok>> acks) mutable {
            auto& st = me->state;
            st.paused = false;
            auto held = std::move(st.held);
            st.held.clear();
            for (auto& job : held)
              job();
            deliver_if_ok(rp, acks, atom::ok_v);
          },
          atom::checkpoint_v, dir);
    });
    check_waiters(self);
    return rp;
  }

  caf::result<std::vector<shard_info>> stats() const {
    auto rp = self->make_response_promise<std::vector<shard_info>>();
    ask_all_shards<shard_info>(
        self,
        [rp](caf::expected<std::vector<shard_info>> infos) mutable {
          deliver_result(rp, std::move(infos));
        },
        atom::stats_v);
    return rp;
  }

  caf::result<verify_result> verify(bool repair) const {
    auto rp = self->make_response_promise<verify_result>();
    ask_all_shards<verify_result>(
        self,
        [rp](caf::expected<std::vector<verify_result>> parts) mutable {
          if (!parts) {
            rp.deliver(parts.error());
            return;
          }
          rp.deliver(merge_verify(std::move(*parts)));
        },
        atom::verify_v, repair);
    return rp;
  }

  caf::result<atom::ok> close() const {
    auto& st = self->state;
    if (st.closing) return make_error(ec::closed, "the store is already closing");
    st.closing = true;
    auto rp = self->make_response_promise<atom::ok>();
    auto me = self;
    // Every accepted write is answered before the shards close.
    st.on_idle.push_back([me, rp]() mutable {
      ask_all_shards<atom::ok>(
          me,
          [me, rp](caf::expected<std::vector<atom::ok>> acks) mutable {
            deliver_if_ok(rp, acks, atom::ok_v);
            me->quit();
          },
          atom::close_v);
    });
    check_waiters(self);
    return rp;
  }
};

} // namespace

size_t coordinator_state::shard_of(const uuid& id) const {
  return static_cast<size_t>(stable_hash(id) % config.shards.size());
}

coordinator_actor::behavior_type coordinator_behavior(coordinator_self self,
                                                      coordinator_config config) {
  self->state.config = std::move(config);
  coordinator_commands c{self};
  return {
      [=](atom::put, std::vector<memory>& batch) { return c.put(batch); },
      [=](atom::update, memory& m) { return c.update(m); },
      [=](atom::remove, std::vector<uuid>& ids) { return c.remove(ids); },
      [=](atom::get, const std::vector<uuid>& ids) { return c.by_id<memory>(ids, atom::get_v); },
      [=](atom::exists, const std::vector<uuid>& ids) {
        return c.by_id<bool>(ids, atom::exists_v);
      },
      [=](atom::list, const std::string& ns, uuid after, uint64_t limit) {
        return list_across_shards(self, ns, after, limit);
      },
      [=](atom::count, const std::string& ns) { return count_across_shards(self, ns); },
      [=](atom::list, filter& f, uuid after, uint64_t limit) {
        return list_across_shards(self, f, after, limit);
      },
      [=](atom::count, filter& f) { return count_across_shards(self, f); },
      [=](atom::edges, atom::put, std::vector<edge_data>& edges) { return c.add_edges(edges); },
      [=](atom::edges, atom::remove, std::vector<edge_data>& edges) {
        return c.remove_edges(edges);
      },
      [=](atom::edges, neighbour_request& q) { return c.neighbours(q); },
      [=](atom::traverse, traverse_request& q) { return c.traverse(q); },
      [=](atom::quads, atom::put, std::vector<quad_text>& quads) { return c.add_quads(quads); },
      [=](atom::quads, atom::remove, std::vector<quad_text>& quads) {
        return c.remove_quads(quads);
      },
      [=](atom::quads, quad_match_request& q) { return c.match_quads(q); },
      [=](atom::search, search_request& req) { return c.search(req); },
      [=](atom::search, fused_search_request& req) { return c.search(req); },
      [=](atom::flush) { return c.on_every_shard(atom::flush_v); },
      [=](atom::compact) { return c.on_every_shard(atom::compact_v); },
      [=](atom::checkpoint, const std::string& dir) { return c.checkpoint(dir); },
      [=](atom::stats) { return c.stats(); },
      [=](atom::verify, bool repair) { return c.verify(repair); },
      [=](atom::close) { return c.close(); },
  };
}

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_config config) {
  return sys.spawn(coordinator_behavior, std::move(config));
}

} // namespace telos
