// The coordinator: validation, routing, scatter-gather of writes, reads and searches.
#include "telos/actors/coordinator.hpp"

#include "telos/actors/fan_out.hpp"
#include "telos/actors/test_hooks.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace telos {

namespace {

using coordinator_self = coordinator_actor::stateful_pointer<coordinator_state>;

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
  if (st.closing) return make_error(ec::closed, "the store is closing");
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

  shard_write& part(size_t shard) {
    for (size_t i = 0; i < shards.size(); ++i)
      if (shards[i] == shard) return parts[i];
    shards.push_back(shard);
    parts.emplace_back();
    positions.emplace_back();
    return parts.back();
  }
  std::vector<size_t>& positions_of(size_t shard) {
    for (size_t i = 0; i < shards.size(); ++i)
      if (shards[i] == shard) return positions[i];
    part(shard);
    return positions.back();
  }
};

using write_done = std::function<void(caf::expected<std::vector<shard_write_result>>)>;

/// The first error of a multi-shard write, naming the shards whose part committed anyway:
/// each shard commits its part atomically, the parts together are not (see docs/ENGINE.md).
caf::error partial_write_error(const write_plan& plan, const std::vector<caf::error>& errors) {
  caf::error first;
  std::string committed;
  for (size_t i = 0; i < errors.size(); ++i) {
    if (errors[i]) {
      if (!first) first = errors[i];
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
    struct outcomes {
      std::vector<shard_write_result> results;
      std::vector<caf::error> errors;
      size_t pending = 0;
    };
    auto n = plan->shards.size();
    auto out = std::make_shared<outcomes>();
    out->results.resize(n);
    out->errors.resize(n);
    out->pending = n;
    auto finish = [self, plan, out, done] {
      auto& st = self->state;
      --st.dispatched;
      --st.inflight;
      bool failed = std::any_of(out->errors.begin(), out->errors.end(),
                                [](const caf::error& e) { return static_cast<bool>(e); });
      if (failed)
        done(partial_write_error(*plan, out->errors));
      else
        done(std::move(out->results));
      check_waiters(self);
    };
    if (n == 0) {
      finish();
      return;
    }
    for (size_t i = 0; i < n; ++i)
      self->request(self->state.config.shards[plan->shards[i]], caf::infinite, atom::write_v,
                    std::move(plan->parts[i]))
          .then(
              [out, i, finish](shard_write_result& r) {
                out->results[i] = std::move(r);
                if (--out->pending == 0) finish();
              },
              [out, i, finish](caf::error& err) {
                out->errors[i] = std::move(err);
                if (--out->pending == 0) finish();
              });
  };
  if (self->state.paused)
    self->state.held.push_back(std::move(job));
  else
    job();
}

// -- searches -------------------------------------------------------------------------------------

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

/// Memories by id across shards, in the order asked; nil id = absent.
void fetch(coordinator_self self, const std::vector<uuid>& ids,
           std::function<void(caf::expected<std::vector<memory>>)> done) {
  auto groups = std::make_shared<by_shard>(group_by_shard(self->state, ids));
  auto n = ids.size();
  gather<std::vector<memory>>(
      groups->shards.size(),
      [self, groups](size_t i) {
        return self->request(self->state.config.shards[groups->shards[i]], caf::infinite,
                             atom::get_v, groups->ids[i]);
      },
      [groups, n, done](caf::expected<std::vector<std::vector<memory>>> parts) {
        if (!parts) {
          done(parts.error());
          return;
        }
        std::vector<memory> result(n);
        for (size_t i = 0; i < parts->size(); ++i)
          for (size_t k = 0; k < (*parts)[i].size(); ++k)
            result[groups->positions[i][k]] = std::move((*parts)[i][k]);
        done(std::move(result));
      });
}

/// Fetches the records of the hits when asked (or when attribute predicates must be confirmed on
/// the records) and drops hits whose memory vanished or does not match.
void finish_search(coordinator_self self, std::vector<hit> hits, const filter& f, bool with_records,
                   caf::typed_response_promise<search_result> rp) {
  bool confirm = !f.where.empty();
  if (!with_records && !confirm) {
    rp.deliver(search_result{std::move(hits), {}});
    return;
  }
  std::vector<uuid> ids;
  ids.reserve(hits.size());
  for (const auto& h : hits)
    ids.push_back(h.id);
  fetch(self, ids,
        [hits = std::move(hits), f, with_records,
         rp](caf::expected<std::vector<memory>> records) mutable {
          if (!records) {
            rp.deliver(records.error());
            return;
          }
          search_result result;
          for (size_t i = 0; i < hits.size(); ++i) {
            auto& m = (*records)[i];
            if (m.id.is_nil()) continue;
            if (!f.empty() && !f.matches(m)) continue;
            result.hits.push_back(hits[i]);
            if (with_records) result.records.push_back(std::move(m));
          }
          rp.deliver(std::move(result));
        });
}

expected<size_t> check_query(const coordinator_config& c, const std::string& embedder,
                             const embedding& query) {
  return telos::check_query(c.profile, c.limits, embedder, query);
}

struct fused_run {
  fused_search_request req;
  std::vector<std::string> embedders;
  std::vector<float> weights;
  std::vector<std::vector<hit>> lists;
  std::vector<std::vector<hit>> exact;
};

void fuse_and_finish(coordinator_self self, std::shared_ptr<fused_run> run,
                     caf::typed_response_promise<search_result> rp) {
  auto hits = fuse(run->lists, run->weights, run->req.fusion, run->req.rrf_k, run->req.k,
                   run->req.fusion == fusion::weighted_sum ? &run->exact : nullptr);
  finish_search(self, std::move(hits), run->req.filter, run->req.with_records, rp);
}

/// Weighted sum: the exact score of every candidate some embedder's list lacks.
void rescore(coordinator_self self, std::shared_ptr<fused_run> run,
             caf::typed_response_promise<search_result> rp) {
  std::vector<uuid> candidates;
  {
    std::unordered_set<uuid> seen;
    for (const auto& l : run->lists)
      for (const auto& h : l)
        if (seen.insert(h.id).second) candidates.push_back(h.id);
  }
  struct request_slot {
    size_t embedder;
    size_t shard;
    std::vector<uuid> ids;
  };
  auto slots = std::make_shared<std::vector<request_slot>>();
  for (size_t e = 0; e < run->lists.size(); ++e) {
    std::unordered_set<uuid> listed;
    for (const auto& h : run->lists[e])
      listed.insert(h.id);
    std::vector<uuid> missing;
    for (const auto& id : candidates)
      if (!listed.count(id)) missing.push_back(id);
    auto groups = group_by_shard(self->state, missing);
    for (size_t i = 0; i < groups.shards.size(); ++i)
      slots->push_back(request_slot{e, groups.shards[i], std::move(groups.ids[i])});
  }
  run->exact.assign(run->lists.size(), {});
  gather<std::vector<hit>>(
      slots->size(),
      [self, run, slots](size_t i) {
        auto& slot = (*slots)[i];
        return self->request(self->state.config.shards[slot.shard], caf::infinite, atom::score_v,
                             run->embedders[slot.embedder],
                             run->req.queries[run->embedders[slot.embedder]], std::move(slot.ids));
      },
      [self, run, slots, rp](caf::expected<std::vector<std::vector<hit>>> scores) mutable {
        if (!scores) {
          rp.deliver(scores.error());
          return;
        }
        for (size_t i = 0; i < scores->size(); ++i) {
          auto& target = run->exact[(*slots)[i].embedder];
          target.insert(target.end(), (*scores)[i].begin(), (*scores)[i].end());
        }
        fuse_and_finish(self, run, rp);
      });
}

// -- graph ----------------------------------------------------------------------------------------

/// A write that was admitted but is abandoned before dispatch.
void drop_write(coordinator_self self) {
  --self->state.inflight;
  check_waiters(self);
}

expected<void> check_edge(edge_data& e) {
  auto name = "edge " + e.source.to_string() + " -[" + e.type + "]-> " + e.target.to_string();
  if (e.source.is_nil() || e.target.is_nil())
    return make_error(ec::invalid_argument, name + " has a nil endpoint");
  if (e.type.empty()) return make_error(ec::invalid_argument, name + " has an empty type");
  if (e.ns.empty()) return make_error(ec::invalid_argument, name + " has an empty namespace");
  if (!std::isfinite(e.weight))
    return make_error(ec::invalid_argument, name + " has a non-finite weight");
  return {};
}

/// The shards an edge is stored on: its source's and, when different, its target's.
std::vector<size_t> edge_shards(const coordinator_state& st, const edge_data& e) {
  auto a = st.shard_of(e.source);
  auto b = st.shard_of(e.target);
  if (a == b) return {a};
  return {a, b};
}

/// The intent of `part` addressed to shard `target` (added when it has none yet).
shard_intent& intend(shard_write& part, size_t target) {
  for (auto& intent : part.intents)
    if (intent.shard == target) return intent;
  part.intents.emplace_back();
  part.intents.back().shard = static_cast<uint32_t>(target);
  return part.intents.back();
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

// -- roll-forward intents -------------------------------------------------------------------------

/// Applies the intents shard `origin` recorded, each on its shard (concurrently, each in order
/// with the writes sent there before), then deletes them on `origin` in one batch that also
/// deletes origin's copy of every added edge whose endpoint on the other shard was gone (so
/// neither copy stays). Intents are counted as writes in flight, so close and checkpoint wait
/// for them. On an error the intents stay recorded and the next open applies them.
void apply_intents(coordinator_self self, size_t origin, std::vector<shard_intent> intents,
                   std::function<void(caf::error)> done) {
  if (intents.empty()) {
    done({});
    return;
  }
  // Test hook: TELOS_TEST_CRASH=after-intent kills the process like kill -9 right after a first
  // shard committed a write with intents and before any intent is applied (tests/cli prove the
  // recovery at the next open with it).
  detail::crash_point("after-intent");
  struct outcomes {
    std::vector<shard_intent> intents;
    std::vector<edge_data> skipped;
    caf::error error;
    size_t pending = 0;
  };
  auto out = std::make_shared<outcomes>();
  out->intents = std::move(intents);
  out->pending = out->intents.size();
  auto fail = [origin](const caf::error& err) {
    return make_error(code_of(err),
                      describe(err) + "; the write committed on shard " + std::to_string(origin) +
                          ", its copies on other shards are applied at the next open");
  };
  auto resolve = [self, origin, out, done, fail] {
    if (out->error) {
      done(fail(out->error));
      return;
    }
    auto plan = std::make_shared<write_plan>();
    auto& part = plan->part(origin);
    for (const auto& intent : out->intents)
      part.intents_done.push_back(intent.id);
    part.graph.edge_removes = std::move(out->skipped);
    ++self->state.inflight;
    dispatch(self, plan, [done, fail](caf::expected<std::vector<shard_write_result>> r) {
      done(r ? caf::error{} : fail(r.error()));
    });
  };
  for (const auto& intent : out->intents) {
    auto plan = std::make_shared<write_plan>();
    auto& part = plan->part(intent.shard);
    part.graph = intent.graph;
    part.applies_intent = true;
    ++self->state.inflight;
    dispatch(self, plan, [out, resolve](caf::expected<std::vector<shard_write_result>> r) {
      if (!r) {
        if (!out->error) out->error = r.error();
      } else {
        for (auto& e : r->front().skipped_edges)
          out->skipped.push_back(std::move(e));
      }
      if (--out->pending == 0) resolve();
    });
  }
}

/// The completion of apply_all_intents for a request whose answer is `value`: the error if
/// applying failed, else the answer.
template <class Promise, class T>
auto deliver_when_applied(Promise rp, T value) {
  return [rp, value = std::move(value)](caf::error err) mutable {
    if (err)
      rp.deliver(std::move(err));
    else
      rp.deliver(std::move(value));
  };
}

/// Applies the intents of every result of a write (results[i] came from shard shards[i]), then
/// calls done with the first error.
void apply_all_intents(coordinator_self self, const std::vector<size_t>& shards,
                       std::vector<shard_write_result>& results,
                       std::function<void(caf::error)> done) {
  struct progress {
    size_t pending = 0;
    caf::error error;
  };
  auto p = std::make_shared<progress>();
  std::vector<size_t> origins;
  for (size_t i = 0; i < results.size(); ++i)
    if (!results[i].intents.empty()) origins.push_back(i);
  if (origins.empty()) {
    done({});
    return;
  }
  p->pending = origins.size();
  for (auto i : origins)
    apply_intents(self, shards[i], std::move(results[i].intents), [p, done](caf::error err) {
      if (err && !p->error) p->error = std::move(err);
      if (--p->pending == 0) done(p->error);
    });
}

/// One page of `list` over every shard: each shard sends up to limit + 1 memories after `after`
/// that `selector` (a namespace or a filter) admits; the page is the first `limit` in id order.
template <class Selector>
caf::result<list_page> list_across_shards(coordinator_self self, const Selector& selector,
                                          uuid after, uint64_t limit) {
  if (self->state.closing) return make_error(ec::closed, "the store is closing");
  if (limit == 0) return list_page{};
  auto rp = self->make_response_promise<list_page>();
  // One more than asked tells whether another page follows.
  auto ask = limit == std::numeric_limits<uint64_t>::max() ? limit : limit + 1;
  gather<std::vector<memory>>(
      self->state.config.shards.size(),
      [self, selector, after, ask](size_t i) {
        return self->request(self->state.config.shards[i], caf::infinite, atom::list_v, selector,
                             after, ask);
      },
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
      });
  return rp;
}

/// The sum of every shard's count of the memories `selector` (a namespace or a filter) admits.
template <class Selector>
caf::result<uint64_t> count_across_shards(coordinator_self self, const Selector& selector) {
  if (self->state.closing) return make_error(ec::closed, "the store is closing");
  auto rp = self->make_response_promise<uint64_t>();
  gather<uint64_t>(
      self->state.config.shards.size(),
      [self, selector](size_t i) {
        return self->request(self->state.config.shards[i], caf::infinite, atom::count_v, selector);
      },
      [rp](caf::expected<std::vector<uint64_t>> counts) mutable {
        if (!counts) {
          rp.deliver(counts.error());
          return;
        }
        uint64_t total = 0;
        for (auto n : *counts)
          total += n;
        rp.deliver(total);
      });
  return rp;
}

} // namespace

size_t coordinator_state::shard_of(const uuid& id) const {
  return static_cast<size_t>(stable_hash(id) % config.shards.size());
}

std::vector<hit> fuse(const std::vector<std::vector<hit>>& lists, const std::vector<float>& weights,
                      fusion method, uint32_t rrf_k, size_t k,
                      const std::vector<std::vector<hit>>* exact) {
  std::unordered_map<uuid, float> total;
  for (size_t e = 0; e < lists.size(); ++e) {
    auto w = weights[e];
    const auto& list = lists[e];
    for (size_t r = 0; r < list.size(); ++r) {
      auto contribution = method == fusion::rrf
                              ? w / (static_cast<float>(rrf_k) + static_cast<float>(r + 1))
                              : w * list[r].score;
      total[list[r].id] += contribution;
    }
    if (method == fusion::weighted_sum && exact && e < exact->size())
      for (const auto& h : (*exact)[e])
        total[h.id] += w * h.score;
  }
  std::vector<hit> hits;
  hits.reserve(total.size());
  for (const auto& [id, score] : total)
    hits.push_back(hit{id, score});
  std::sort(hits.begin(), hits.end(), better);
  if (hits.size() > k) hits.resize(k);
  return hits;
}

coordinator_actor::behavior_type coordinator_behavior(coordinator_self self,
                                                      coordinator_config config) {
  self->state.config = std::move(config);
  return {
      [=](atom::put, std::vector<memory>& batch) -> caf::result<std::vector<uuid>> {
        auto& st = self->state;
        for (auto& m : batch)
          if (m.id.is_nil()) m.id = uuid::random();
        if (auto ok = validate(batch, st.config.profile, st.config.limits); !ok)
          return std::move(ok.error());
        if (auto err = admit_write(self)) return err;
        auto ids = std::vector<uuid>{};
        ids.reserve(batch.size());
        auto plan = std::make_shared<write_plan>();
        for (auto& m : batch) {
          ids.push_back(m.id);
          plan->part(st.shard_of(m.id)).puts.push_back(std::move(m));
        }
        auto rp = self->make_response_promise<std::vector<uuid>>();
        dispatch(self, plan,
                 [rp, ids = std::move(ids)](
                     caf::expected<std::vector<shard_write_result>> results) mutable {
                   if (results)
                     rp.deliver(std::move(ids));
                   else
                     rp.deliver(results.error());
                 });
        return rp;
      },
      [=](atom::update, memory& m) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (m.id.is_nil())
          return make_error(ec::invalid_argument, "update needs the id of a stored memory");
        if (auto ok = validate(m, st.config.profile, st.config.limits); !ok)
          return std::move(ok.error());
        if (auto err = admit_write(self)) return err;
        auto plan = std::make_shared<write_plan>();
        auto& part = plan->part(st.shard_of(m.id));
        part.must_exist = true;
        part.puts.push_back(std::move(m));
        auto rp = self->make_response_promise<atom::ok>();
        dispatch(self, plan, [rp](caf::expected<std::vector<shard_write_result>> results) mutable {
          if (results)
            rp.deliver(atom::ok_v);
          else
            rp.deliver(results.error());
        });
        return rp;
      },
      [=](atom::remove, std::vector<uuid>& ids) -> caf::result<flag_list> {
        auto& st = self->state;
        if (auto err = admit_write(self)) return err;
        auto plan = std::make_shared<write_plan>();
        for (size_t i = 0; i < ids.size(); ++i) {
          auto s = st.shard_of(ids[i]);
          plan->part(s).removes.push_back(ids[i]);
          plan->part(s).intend_edge_copies = st.config.shards.size() > 1;
          plan->positions_of(s).push_back(i);
        }
        auto rp = self->make_response_promise<flag_list>();
        auto n = ids.size();
        dispatch(
            self, plan,
            [self, rp, plan, n](caf::expected<std::vector<shard_write_result>> results) mutable {
              if (!results) {
                rp.deliver(results.error());
                return;
              }
              flag_list removed(n, false);
              for (size_t i = 0; i < results->size(); ++i)
                for (size_t k = 0; k < (*results)[i].removed.size(); ++k)
                  removed[plan->positions[i][k]] = (*results)[i].removed[k];
              // Each memory's batch recorded intents deleting its edges' copies on other shards.
              apply_all_intents(self, plan->shards, *results,
                                deliver_when_applied(rp, std::move(removed)));
            });
        return rp;
      },
      [=](atom::get, const std::vector<uuid>& ids) -> caf::result<std::vector<memory>> {
        if (self->state.closing) return make_error(ec::closed, "the store is closing");
        auto rp = self->make_response_promise<std::vector<memory>>();
        fetch(self, ids, [rp](caf::expected<std::vector<memory>> result) mutable {
          if (result)
            rp.deliver(std::move(*result));
          else
            rp.deliver(result.error());
        });
        return rp;
      },
      [=](atom::exists, const std::vector<uuid>& ids) -> caf::result<flag_list> {
        if (self->state.closing) return make_error(ec::closed, "the store is closing");
        auto groups = std::make_shared<by_shard>(group_by_shard(self->state, ids));
        auto rp = self->make_response_promise<flag_list>();
        auto n = ids.size();
        gather<flag_list>(
            groups->shards.size(),
            [self, groups](size_t i) {
              return self->request(self->state.config.shards[groups->shards[i]], caf::infinite,
                                   atom::exists_v, groups->ids[i]);
            },
            [groups, n, rp](caf::expected<std::vector<flag_list>> parts) mutable {
              if (!parts) {
                rp.deliver(parts.error());
                return;
              }
              flag_list result(n, false);
              for (size_t i = 0; i < parts->size(); ++i)
                for (size_t k = 0; k < (*parts)[i].size(); ++k)
                  result[groups->positions[i][k]] = (*parts)[i][k];
              rp.deliver(std::move(result));
            });
        return rp;
      },
      [=](atom::list, const std::string& ns, uuid after, uint64_t limit) -> caf::result<list_page> {
        return list_across_shards(self, ns, after, limit);
      },
      [=](atom::count, const std::string& ns) -> caf::result<uint64_t> {
        return count_across_shards(self, ns);
      },
      [=](atom::list, filter& f, uuid after, uint64_t limit) -> caf::result<list_page> {
        return list_across_shards(self, f, after, limit);
      },
      [=](atom::count, filter& f) -> caf::result<uint64_t> { return count_across_shards(self, f); },
      [=](atom::edges, atom::put, std::vector<edge_data>& edges) -> caf::result<atom::ok> {
        for (auto& e : edges)
          if (auto ok = check_edge(e); !ok) return std::move(ok.error());
        if (auto err = admit_write(self)) return err;
        auto& st = self->state;
        // Every endpoint must exist; each shard checks its own again inside its batch.
        std::vector<uuid> endpoints;
        for (const auto& e : edges)
          endpoints.insert(endpoints.end(), {e.source, e.target});
        // Each edge's batch on its source's shard is the commit point: it holds the source's copy
        // and an intent for the copy on the target's shard.
        auto plan = std::make_shared<write_plan>();
        for (auto& e : edges) {
          auto shards = edge_shards(st, e);
          auto& part = plan->part(shards.front());
          part.graph.edge_puts.push_back(e);
          if (shards.size() > 1) intend(part, shards.back()).graph.edge_puts.push_back(e);
        }
        auto groups = std::make_shared<by_shard>(group_by_shard(st, endpoints));
        auto rp = self->make_response_promise<atom::ok>();
        gather<flag_list>(
            groups->shards.size(),
            [self, groups](size_t i) {
              return self->request(self->state.config.shards[groups->shards[i]], caf::infinite,
                                   atom::exists_v, groups->ids[i]);
            },
            [self, groups, plan, rp](caf::expected<std::vector<flag_list>> found) mutable {
              if (!found) {
                drop_write(self);
                rp.deliver(found.error());
                return;
              }
              for (size_t i = 0; i < found->size(); ++i)
                for (size_t k = 0; k < (*found)[i].size(); ++k)
                  if (!(*found)[i][k]) {
                    drop_write(self);
                    rp.deliver(make_error(ec::not_found, "edge endpoint memory " +
                                                             groups->ids[i][k].to_string() +
                                                             " is not stored"));
                    return;
                  }
              dispatch(
                  self, plan,
                  [self, plan, rp](caf::expected<std::vector<shard_write_result>> results) mutable {
                    if (!results) {
                      rp.deliver(results.error());
                      return;
                    }
                    apply_all_intents(self, plan->shards, *results,
                                      deliver_when_applied(rp, atom::ok_v));
                  });
            });
        return rp;
      },
      [=](atom::edges, atom::remove, std::vector<edge_data>& edges) -> caf::result<flag_list> {
        for (auto& e : edges)
          if (auto ok = check_edge(e); !ok) return std::move(ok.error());
        if (auto err = admit_write(self)) return err;
        auto& st = self->state;
        auto plan = std::make_shared<write_plan>();
        // Where each edge's answer comes from: its source's shard, position in that part.
        auto answers = std::make_shared<std::vector<std::pair<size_t, size_t>>>();
        // As for adds: the source's shard deletes its copy and records an intent for the other.
        for (auto& e : edges) {
          auto shards = edge_shards(st, e);
          auto& part = plan->part(shards.front());
          answers->emplace_back(shards.front(), part.graph.edge_removes.size());
          part.graph.edge_removes.push_back(e);
          if (shards.size() > 1) intend(part, shards.back()).graph.edge_removes.push_back(e);
        }
        auto rp = self->make_response_promise<flag_list>();
        dispatch(self, plan,
                 [self, rp, plan,
                  answers](caf::expected<std::vector<shard_write_result>> results) mutable {
                   if (!results) {
                     rp.deliver(results.error());
                     return;
                   }
                   flag_list existed;
                   for (auto [shard, k] : *answers)
                     for (size_t i = 0; i < plan->shards.size(); ++i)
                       if (plan->shards[i] == shard)
                         existed.push_back((*results)[i].graph.edges_removed.at(k));
                   apply_all_intents(self, plan->shards, *results,
                                     deliver_when_applied(rp, std::move(existed)));
                 });
        return rp;
      },
      [=](atom::edges, neighbour_request& q) -> caf::result<std::vector<edge_data>> {
        if (self->state.closing) return make_error(ec::closed, "the store is closing");
        if (q.node.is_nil()) return make_error(ec::invalid_argument, "neighbours need a node id");
        auto& st = self->state;
        return self->delegate(st.config.shards[st.shard_of(q.node)], atom::edges_v, std::move(q));
      },
      [=](atom::traverse, traverse_request& q) -> caf::result<std::vector<graph_path>> {
        auto& st = self->state;
        if (st.closing) return make_error(ec::closed, "the store is closing");
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
      },
      [=](atom::quads, atom::put, std::vector<quad_text>& quads) -> caf::result<atom::ok> {
        if (auto err = admit_write(self)) return err;
        auto plan = std::make_shared<write_plan>();
        plan->part(0).graph.quad_puts = std::move(quads);
        auto rp = self->make_response_promise<atom::ok>();
        dispatch(self, plan, [rp](caf::expected<std::vector<shard_write_result>> results) mutable {
          if (results)
            rp.deliver(atom::ok_v);
          else
            rp.deliver(results.error());
        });
        return rp;
      },
      [=](atom::quads, atom::remove, std::vector<quad_text>& quads) -> caf::result<flag_list> {
        if (auto err = admit_write(self)) return err;
        auto plan = std::make_shared<write_plan>();
        plan->part(0).graph.quad_removes = std::move(quads);
        auto rp = self->make_response_promise<flag_list>();
        dispatch(self, plan, [rp](caf::expected<std::vector<shard_write_result>> results) mutable {
          if (results)
            rp.deliver(std::move(results->front().graph.quads_removed));
          else
            rp.deliver(results.error());
        });
        return rp;
      },
      [=](atom::quads, quad_match_request& q) -> caf::result<quad_match_page> {
        if (self->state.closing) return make_error(ec::closed, "the store is closing");
        // Quads of free text live on shard 0, so a pattern's pages keep one storage order.
        return self->delegate(self->state.config.shards.front(), atom::quads_v, std::move(q));
      },
      [=](atom::search, search_request& req) -> caf::result<search_result> {
        auto& st = self->state;
        if (st.closing) return make_error(ec::closed, "the store is closing");
        if (auto ok = check_query(st.config, req.embedder, req.query); !ok)
          return std::move(ok.error());
        if (req.k == 0) return search_result{};
        auto rp = self->make_response_promise<search_result>();
        auto shared = std::make_shared<search_request>(std::move(req));
        gather<std::vector<hit>>(
            st.config.shards.size(),
            [self, shared](size_t i) {
              return self->request(self->state.config.shards[i], caf::infinite, atom::search_v,
                                   shared->embedder, shared->query, shared->k, shared->filter);
            },
            [self, shared, rp](caf::expected<std::vector<std::vector<hit>>> lists) mutable {
              if (!lists) {
                rp.deliver(lists.error());
                return;
              }
              auto hits = merge_top(*lists, shared->k);
              finish_search(self, std::move(hits), shared->filter, shared->with_records, rp);
            });
        return rp;
      },
      [=](atom::search, fused_search_request& req) -> caf::result<search_result> {
        auto& st = self->state;
        if (st.closing) return make_error(ec::closed, "the store is closing");
        if (req.queries.empty())
          return make_error(ec::invalid_argument, "a fused search needs at least one query");
        for (const auto& [name, query] : req.queries)
          if (auto ok = check_query(st.config, name, query); !ok) return std::move(ok.error());
        for (const auto& [name, weight] : req.weights) {
          if (!req.queries.count(name))
            return make_error(ec::invalid_argument,
                              "weight given for embedder '" + name + "', which has no query");
          if (!std::isfinite(weight))
            return make_error(ec::invalid_argument,
                              "weight of embedder '" + name + "' is not a finite number");
        }
        if (req.k == 0) return search_result{};
        auto run = std::make_shared<fused_run>();
        run->req = std::move(req);
        for (const auto& kv : run->req.queries) {
          run->embedders.push_back(kv.first);
          auto w = run->req.weights.find(kv.first);
          run->weights.push_back(w == run->req.weights.end() ? 1.0f : w->second);
        }
        auto depth = std::max(run->req.k, st.config.fused_depth);
        auto shards = st.config.shards.size();
        auto rp = self->make_response_promise<search_result>();
        gather<std::vector<hit>>(
            run->embedders.size() * shards,
            [self, run, depth, shards](size_t i) {
              const auto& name = run->embedders[i / shards];
              return self->request(self->state.config.shards[i % shards], caf::infinite,
                                   atom::search_v, name, run->req.queries[name], depth,
                                   run->req.filter);
            },
            [self, run, depth, shards,
             rp](caf::expected<std::vector<std::vector<hit>>> lists) mutable {
              if (!lists) {
                rp.deliver(lists.error());
                return;
              }
              for (size_t e = 0; e < run->embedders.size(); ++e) {
                std::vector<std::vector<hit>> per_shard(
                    std::make_move_iterator(lists->begin() + e * shards),
                    std::make_move_iterator(lists->begin() + (e + 1) * shards));
                run->lists.push_back(merge_top(per_shard, depth));
              }
              if (run->req.fusion == fusion::weighted_sum)
                rescore(self, run, rp);
              else
                fuse_and_finish(self, run, rp);
            });
        return rp;
      },
      [=](atom::flush) -> caf::result<atom::ok> {
        auto rp = self->make_response_promise<atom::ok>();
        gather<atom::ok>(
            self->state.config.shards.size(),
            [self](size_t i) {
              return self->request(self->state.config.shards[i], caf::infinite, atom::flush_v);
            },
            [rp](caf::expected<std::vector<atom::ok>> acks) mutable {
              if (acks)
                rp.deliver(atom::ok_v);
              else
                rp.deliver(acks.error());
            });
        return rp;
      },
      [=](atom::compact) -> caf::result<atom::ok> {
        auto rp = self->make_response_promise<atom::ok>();
        gather<atom::ok>(
            self->state.config.shards.size(),
            [self](size_t i) {
              return self->request(self->state.config.shards[i], caf::infinite, atom::compact_v);
            },
            [rp](caf::expected<std::vector<atom::ok>> acks) mutable {
              if (acks)
                rp.deliver(atom::ok_v);
              else
                rp.deliver(acks.error());
            });
        return rp;
      },
      [=](atom::checkpoint, const std::string& dir) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (st.closing) return make_error(ec::closed, "the store is closing");
        if (st.paused) return make_error(ec::overloaded, "another checkpoint is in progress");
        // Writes already sent finish first and new ones wait, so every shard's copy shows the
        // same set of acknowledged writes.
        st.paused = true;
        auto rp = self->make_response_promise<atom::ok>();
        st.on_quiet.push_back([self, dir, rp]() mutable {
          gather<atom::ok>(
              self->state.config.shards.size(),
              [self, dir](size_t i) {
                return self->request(self->state.config.shards[i], caf::infinite,
                                     atom::checkpoint_v, dir);
              },
              [self, rp](caf::expected<std::vector<atom::ok>> acks) mutable {
                auto& st = self->state;
                st.paused = false;
                auto held = std::move(st.held);
                st.held.clear();
                for (auto& job : held)
                  job();
                if (acks)
                  rp.deliver(atom::ok_v);
                else
                  rp.deliver(acks.error());
              });
        });
        check_waiters(self);
        return rp;
      },
      [=](atom::stats) -> caf::result<std::vector<shard_info>> {
        auto rp = self->make_response_promise<std::vector<shard_info>>();
        gather<shard_info>(
            self->state.config.shards.size(),
            [self](size_t i) {
              return self->request(self->state.config.shards[i], caf::infinite, atom::stats_v);
            },
            [rp](caf::expected<std::vector<shard_info>> infos) mutable {
              if (infos)
                rp.deliver(std::move(*infos));
              else
                rp.deliver(infos.error());
            });
        return rp;
      },
      [=](atom::verify, bool repair) -> caf::result<verify_result> {
        auto rp = self->make_response_promise<verify_result>();
        gather<verify_result>(
            self->state.config.shards.size(),
            [self, repair](size_t i) {
              return self->request(self->state.config.shards[i], caf::infinite, atom::verify_v,
                                   repair);
            },
            [rp](caf::expected<std::vector<verify_result>> parts) mutable {
              if (!parts) {
                rp.deliver(parts.error());
                return;
              }
              verify_result total;
              for (auto& p : *parts) {
                total.records_checked += p.records_checked;
                total.repaired += p.repaired;
                for (auto& line : p.problems)
                  total.problems.push_back(std::move(line));
              }
              rp.deliver(std::move(total));
            });
        return rp;
      },
      [=](atom::recover) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (st.closing) return make_error(ec::closed, "the store is closing");
        auto rp = self->make_response_promise<uint64_t>();
        gather<std::vector<shard_intent>>(
            st.config.shards.size(),
            [self](size_t i) {
              return self->request(self->state.config.shards[i], caf::infinite, atom::intents_v);
            },
            [self, rp](caf::expected<std::vector<std::vector<shard_intent>>> pending) mutable {
              if (!pending) {
                rp.deliver(pending.error());
                return;
              }
              std::vector<size_t> origins;
              std::vector<shard_write_result> results;
              uint64_t total = 0;
              for (size_t i = 0; i < pending->size(); ++i) {
                if ((*pending)[i].empty()) continue;
                total += (*pending)[i].size();
                origins.push_back(i);
                results.emplace_back();
                results.back().intents = std::move((*pending)[i]);
              }
              apply_all_intents(self, origins, results, deliver_when_applied(rp, total));
            });
        return rp;
      },
      [=](atom::close) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (st.closing) return make_error(ec::closed, "the store is already closing");
        st.closing = true;
        auto rp = self->make_response_promise<atom::ok>();
        auto close_shards = [self, rp]() mutable {
          gather<atom::ok>(
              self->state.config.shards.size(),
              [self](size_t i) {
                return self->request(self->state.config.shards[i], caf::infinite, atom::close_v);
              },
              [self, rp](caf::expected<std::vector<atom::ok>> acks) mutable {
                if (acks)
                  rp.deliver(atom::ok_v);
                else
                  rp.deliver(acks.error());
                self->quit();
              });
        };
        // Every accepted write is answered before the shards close.
        st.on_idle.push_back(std::move(close_shards));
        check_waiters(self);
        return rp;
      },
  };
}

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_config config) {
  return sys.spawn(coordinator_behavior, std::move(config));
}

} // namespace telos
