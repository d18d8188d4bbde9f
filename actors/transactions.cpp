// Two-phase commit at the coordinator: the decision log and the transaction front.
#include "telos/actors/transactions.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace telos {

// -- decision log ---------------------------------------------------------------------------------

expected<std::shared_ptr<decision_log>> decision_log::open(const std::string& data_dir) {
  std::shared_ptr<decision_log> log{new decision_log};
  log->path_ = data_dir + "/DECISIONS";
  {
    std::ifstream in{log->path_};
    std::string line;
    while (std::getline(in, line)) {
      // A line cut short by a crash has no newline and no valid id: it never was a decision.
      if (line.rfind("commit ", 0) != 0) continue;
      if (auto id = uuid::parse(line.substr(7))) log->committed_.insert(*id);
    }
  }
  log->fd_ = ::open(log->path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log->fd_ < 0)
    return make_error(ec::io_error, "cannot open '" + log->path_ + "': " + std::strerror(errno));
  return log;
}

decision_log::~decision_log() {
  if (fd_ >= 0) ::close(fd_);
}

expected<void> decision_log::record_commit(const uuid& tx) {
  auto line = "commit " + tx.to_string() + "\n";
  std::lock_guard guard{mutex_};
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fdatasync(fd_) != 0)
    return make_error(ec::io_error, "cannot record the decision for transaction " + tx.to_string() +
                                        " in '" + path_ + "': " + std::strerror(errno));
  committed_.insert(tx);
  return {};
}

bool decision_log::committed(const uuid& tx) const {
  std::lock_guard guard{mutex_};
  return committed_.count(tx) != 0;
}

// -- transaction front ----------------------------------------------------------------------------

namespace {

/// What a read may observe: the ids it names (get, exists), or everything (searches, lists,
/// counts, graph reads, stats, verify, checkpoint).
struct footprint {
  bool all = false;
  std::set<uuid> ids;

  bool overlaps(const std::set<uuid>& other) const {
    if (all) return !other.empty();
    for (const auto& id : ids)
      if (other.count(id) != 0) return true;
    return false;
  }
};

/// A cross-shard batch past its commit point: waiting for the reads in flight that overlap it, or
/// running its commit phase.
struct commit_phase {
  uuid tx;
  std::set<uuid> ids;
  bool running = false;
  std::function<void()> start;
};

struct held_read {
  footprint reads;
  std::function<void()> start;
};

struct front_state {
  static inline const char* name = "transaction_front";
  coordinator_actor coordinator;
  std::vector<transaction_shard_actor> shards;
  telos::profile profile;
  telos::limits limits;
  std::shared_ptr<decision_log> decisions;
  /// Ids of every cross-shard batch from its prepare until its commit phase ended: writes to them
  /// fail with ec::conflict meanwhile.
  std::map<uuid, std::set<uuid>> locked;
  /// Reads handed to the coordinator and not answered yet.
  std::map<uint64_t, footprint> reads;
  uint64_t next_read = 0;
  /// Reads that overlap a commit phase, started in arrival order once it ended.
  std::deque<held_read> held;
  /// Commit phases waiting or running, in decision order.
  std::vector<commit_phase> commits;
};

using front_ptr = coordinator_actor::stateful_pointer<front_state>;

/// A write naming an id of a cross-shard batch in flight: ec::conflict naming both.
caf::error locked_conflict(const front_state& st, const std::vector<uuid>& ids) {
  for (const auto& [tx, locked] : st.locked)
    for (const auto& id : ids)
      if (locked.count(id) != 0)
        return make_error(ec::conflict,
                          "memory " + id.to_string() + " is part of cross-shard transaction " +
                              tx.to_string() + ", which is being committed; retry the write");
  return {};
}

/// Starts the commit phases that no read in flight overlaps (a waiting phase holds back the new
/// reads that overlap it, so the reads it waits for only finish).
void start_commits(front_ptr self) {
  auto& st = self->state;
  for (auto& c : st.commits) {
    if (c.running) continue;
    bool blocked = false;
    for (const auto& [id, fp] : st.reads)
      if (fp.overlaps(c.ids)) {
        blocked = true;
        break;
      }
    if (blocked) continue;
    c.running = true;
    auto start = std::move(c.start);
    start();
  }
}

bool held_back(const front_state& st, const footprint& fp) {
  for (const auto& c : st.commits)
    if (fp.overlaps(c.ids)) return true;
  return false;
}

/// Ends tx's commit phase: its ids are free again and the reads it held start.
void end_commit(front_ptr self, const uuid& tx) {
  auto& st = self->state;
  st.locked.erase(tx);
  st.commits.erase(std::remove_if(st.commits.begin(), st.commits.end(),
                                  [&](const commit_phase& c) { return c.tx == tx; }),
                   st.commits.end());
  std::deque<held_read> still;
  auto held = std::move(st.held);
  st.held.clear();
  for (auto& h : held) {
    if (held_back(st, h.reads))
      still.push_back(std::move(h));
    else
      h.start();
  }
  for (auto& h : st.held)
    still.push_back(std::move(h));
  st.held = std::move(still);
}

/// Hands a read to the coordinator once no commit phase it overlaps is waiting or running, and
/// keeps it counted until it is answered, so no commit phase starts under it.
template <class R, class... Ts>
caf::typed_response_promise<R> read(front_ptr self, footprint fp, Ts... xs) {
  auto rp = self->make_response_promise<R>();
  auto start = [self, rp, fp, xs...]() mutable {
    auto& st = self->state;
    auto id = st.next_read++;
    st.reads.emplace(id, fp);
    auto finished = [self, id] {
      self->state.reads.erase(id);
      start_commits(self);
    };
    self->request(st.coordinator, caf::infinite, xs...)
        .then(
            [rp, finished](R& r) mutable {
              rp.deliver(std::move(r));
              finished();
            },
            [rp, finished](caf::error& err) mutable {
              rp.deliver(std::move(err));
              finished();
            });
  };
  if (held_back(self->state, fp))
    self->state.held.push_back({std::move(fp), std::move(start)});
  else
    start();
  return rp;
}

footprint everything() {
  footprint fp;
  fp.all = true;
  return fp;
}

footprint of_ids(const std::vector<uuid>& ids) {
  footprint fp;
  fp.ids.insert(ids.begin(), ids.end());
  return fp;
}

/// Per shard (in shard order) its part of a client batch, and the client positions of its ids.
struct tx_plan {
  std::map<size_t, shard_write> parts;
  std::map<size_t, std::vector<size_t>> positions;
};

using tx_done = std::function<void(caf::expected<std::map<size_t, shard_write_result>>)>;

std::string shard_names(const std::vector<size_t>& shards) {
  std::string names;
  for (auto s : shards)
    names += (names.empty() ? "" : ", ") + std::to_string(s);
  return names;
}

/// Phase 2: every participant applies its staged part.
void commit_all(front_ptr self, uuid tx, std::shared_ptr<tx_plan> plan, tx_done done) {
  struct outcome {
    std::map<size_t, shard_write_result> results;
    std::vector<size_t> failed;
    caf::error first;
    size_t pending = 0;
  };
  auto out = std::make_shared<outcome>();
  out->pending = plan->parts.size();
  for (auto& [shard, part] : plan->parts) {
    auto s = shard;
    auto finish = [out, tx, done] {
      if (--out->pending > 0) return;
      if (out->failed.empty()) {
        done(std::move(out->results));
        return;
      }
      done(make_error(code_of(out->first),
                      "the batch is committed (transaction " + tx.to_string() +
                          " decided), but shard(s) " + shard_names(out->failed) +
                          " did not apply their part yet: " + describe(out->first) +
                          "; they apply it when the coordinator reaches them again"));
    };
    self->request(self->state.shards[s], caf::infinite, atom::commit_tx_v, tx)
        .then(
            [out, s, finish](shard_write_result& r) {
              out->results[s] = std::move(r);
              finish();
            },
            [out, s, finish](caf::error& err) {
              out->failed.push_back(s);
              if (!out->first) out->first = std::move(err);
              finish();
            });
  }
}

/// Every id a plan writes.
std::set<uuid> ids_of(const tx_plan& plan) {
  std::set<uuid> ids;
  for (const auto& [shard, part] : plan.parts) {
    for (const auto& m : part.puts)
      ids.insert(m.id);
    for (const auto& id : part.removes)
      ids.insert(id);
  }
  return ids;
}

/// Both phases over the plan's parts; `done` gets the per-shard results or the error. The plan's
/// ids are locked from prepare to the end of the commit phase; the commit phase starts once no
/// read in flight overlaps it, and overlapping reads arriving meanwhile wait for its end.
void two_phase(front_ptr self, std::shared_ptr<tx_plan> plan, tx_done done) {
  auto tx = uuid::random();
  self->state.locked.emplace(tx, ids_of(*plan));
  struct votes {
    std::vector<size_t> prepared;
    caf::error first;
    size_t pending = 0;
  };
  auto v = std::make_shared<votes>();
  v->pending = plan->parts.size();
  auto decide = [self, tx, plan, v, done] {
    if (--v->pending > 0) return;
    caf::error failed = std::move(v->first);
    if (!failed)
      if (auto logged = self->state.decisions->record_commit(tx); !logged)
        failed = std::move(logged.error());
    if (failed) {
      // No decision was logged: the transaction is aborted everywhere. A participant that cannot
      // be told now drops its staged part when the coordinator reaches it again.
      for (auto s : v->prepared)
        self->request(self->state.shards[s], caf::infinite, atom::abort_tx_v, tx)
            .then([](atom::ok) {}, [](caf::error&) {});
      self->state.locked.erase(tx);
      done(make_error(code_of(failed), describe(failed) +
                                           "; nothing of the batch was committed (transaction " +
                                           tx.to_string() + " aborted)"));
      return;
    }
    commit_phase phase;
    phase.tx = tx;
    phase.ids = self->state.locked[tx];
    phase.start = [self, tx, plan, done] {
      commit_all(self, tx, plan, [self, tx, done](auto r) {
        end_commit(self, tx);
        done(std::move(r));
      });
    };
    self->state.commits.push_back(std::move(phase));
    start_commits(self);
  };
  for (auto& [shard, part] : plan->parts) {
    auto s = shard;
    self->request(self->state.shards[s], caf::infinite, atom::prepare_tx_v, tx, part)
        .then(
            [v, s, decide](atom::ok) {
              v->prepared.push_back(s);
              decide();
            },
            [v, decide](caf::error& err) {
              if (!v->first) v->first = std::move(err);
              decide();
            });
  }
}

coordinator_actor::behavior_type transaction_front(front_ptr self, coordinator_actor coordinator,
                                                   std::vector<transaction_shard_actor> shards,
                                                   telos::profile profile, telos::limits limits,
                                                   std::shared_ptr<decision_log> decisions) {
  auto& st = self->state;
  st.coordinator = std::move(coordinator);
  st.shards = std::move(shards);
  st.profile = std::move(profile);
  st.limits = limits;
  st.decisions = std::move(decisions);
  auto shard_of = [self](const uuid& id) {
    return static_cast<size_t>(stable_hash(id) % self->state.shards.size());
  };
  auto& c = st.coordinator;
  return {
      [=](atom::put, std::vector<memory>& batch) -> caf::result<std::vector<uuid>> {
        auto& st = self->state;
        for (auto& m : batch)
          if (m.id.is_nil()) m.id = uuid::random();
        if (auto ok = validate(batch, st.profile, st.limits); !ok) return std::move(ok.error());
        auto plan = std::make_shared<tx_plan>();
        std::vector<uuid> ids;
        for (auto& m : batch)
          ids.push_back(m.id);
        if (auto err = locked_conflict(st, ids)) return err;
        ids.clear();
        for (auto& m : batch)
          plan->parts[shard_of(m.id)];
        if (plan->parts.size() <= 1) return self->delegate(st.coordinator, atom::put_v, batch);
        for (auto& m : batch) {
          ids.push_back(m.id);
          plan->parts[shard_of(m.id)].puts.push_back(std::move(m));
        }
        auto rp = self->make_response_promise<std::vector<uuid>>();
        two_phase(self, plan,
                  [rp, ids](caf::expected<std::map<size_t, shard_write_result>> r) mutable {
                    if (r)
                      rp.deliver(ids);
                    else
                      rp.deliver(r.error());
                  });
        return rp;
      },
      [=](atom::remove, std::vector<uuid>& ids) -> caf::result<std::vector<bool>> {
        if (auto err = locked_conflict(self->state, ids)) return err;
        auto plan = std::make_shared<tx_plan>();
        for (size_t i = 0; i < ids.size(); ++i) {
          auto s = shard_of(ids[i]);
          plan->parts[s].removes.push_back(ids[i]);
          plan->positions[s].push_back(i);
        }
        if (plan->parts.size() <= 1)
          return self->delegate(self->state.coordinator, atom::remove_v, ids);
        auto rp = self->make_response_promise<std::vector<bool>>();
        auto n = ids.size();
        two_phase(self, plan,
                  [rp, plan, n](caf::expected<std::map<size_t, shard_write_result>> r) mutable {
                    if (!r) {
                      rp.deliver(r.error());
                      return;
                    }
                    std::vector<bool> removed(n, false);
                    for (auto& [s, result] : *r)
                      for (size_t k = 0; k < result.removed.size(); ++k)
                        removed[plan->positions[s][k]] = result.removed[k];
                    rp.deliver(std::move(removed));
                  });
        return rp;
      },
      [=](atom::update, memory& m) -> caf::result<atom::ok> {
        if (auto err = locked_conflict(self->state, {m.id})) return err;
        return self->delegate(c, atom::update_v, std::move(m));
      },
      [=](atom::get, std::vector<uuid>& ids) {
        auto fp = of_ids(ids); // before ids is moved into the request
        return read<std::vector<memory>>(self, std::move(fp), atom::get_v, std::move(ids));
      },
      [=](atom::exists, std::vector<uuid>& ids) {
        auto fp = of_ids(ids);
        return read<std::vector<bool>>(self, std::move(fp), atom::exists_v, std::move(ids));
      },
      [=](atom::list, std::string& ns, uuid& after, uint64_t limit) {
        return read<list_page>(self, everything(), atom::list_v, std::move(ns), after, limit);
      },
      [=](atom::count, std::string& ns) {
        return read<uint64_t>(self, everything(), atom::count_v, std::move(ns));
      },
      [=](atom::list, filter& f, uuid& after, uint64_t limit) {
        return read<list_page>(self, everything(), atom::list_v, std::move(f), after, limit);
      },
      [=](atom::count, filter& f) {
        return read<uint64_t>(self, everything(), atom::count_v, std::move(f));
      },
      // Graph writes go straight to the coordinator: atomic per shard, with the cross-shard rules
      // of docs/GRAPH.md (they do not take part in the two-phase commit yet).
      [=](atom::edges, atom::put, std::vector<edge_data>& edges) {
        return self->delegate(c, atom::edges_v, atom::put_v, std::move(edges));
      },
      [=](atom::edges, atom::remove, std::vector<edge_data>& edges) {
        return self->delegate(c, atom::edges_v, atom::remove_v, std::move(edges));
      },
      [=](atom::edges, neighbour_request& req) {
        return read<std::vector<edge_data>>(self, everything(), atom::edges_v, std::move(req));
      },
      [=](atom::traverse, traverse_request& req) {
        return read<std::vector<graph_path>>(self, everything(), atom::traverse_v, std::move(req));
      },
      [=](atom::quads, atom::put, std::vector<quad_text>& quads) {
        return self->delegate(c, atom::quads_v, atom::put_v, std::move(quads));
      },
      [=](atom::quads, atom::remove, std::vector<quad_text>& quads) {
        return self->delegate(c, atom::quads_v, atom::remove_v, std::move(quads));
      },
      [=](atom::quads, quad_match_request& req) {
        return read<quad_match_page>(self, everything(), atom::quads_v, std::move(req));
      },
      // A search is held whole while any commit phase runs: which ids it returns is known only
      // at its end, and its record fetch must not see half a batch.
      [=](atom::search, search_request& r) {
        return read<search_result>(self, everything(), atom::search_v, std::move(r));
      },
      [=](atom::search, fused_search_request& r) {
        return read<search_result>(self, everything(), atom::search_v, std::move(r));
      },
      [=](atom::flush) { return self->delegate(c, atom::flush_v); },
      [=](atom::compact) { return self->delegate(c, atom::compact_v); },
      // A checkpoint is a read of everything: it never holds half of a cross-shard batch.
      [=](atom::checkpoint, std::string& dir) {
        return read<atom::ok>(self, everything(), atom::checkpoint_v, std::move(dir));
      },
      [=](atom::stats) { return read<std::vector<shard_info>>(self, everything(), atom::stats_v); },
      [=](atom::verify, bool repair) {
        return read<verify_result>(self, everything(), atom::verify_v, repair);
      },
      [=](atom::recover) { return self->delegate(c, atom::recover_v); },
      [=](atom::close) {
        // Clients on other nodes keep references to the front: it must quit by itself.
        auto closing = self->delegate(c, atom::close_v);
        self->quit();
        return closing;
      },
  };
}

} // namespace

coordinator_actor spawn_transaction_front(caf::actor_system& sys, coordinator_actor coordinator,
                                          std::vector<transaction_shard_actor> shards,
                                          telos::profile profile, telos::limits limits,
                                          std::shared_ptr<decision_log> decisions) {
  return sys.spawn(transaction_front, std::move(coordinator), std::move(shards), std::move(profile),
                   limits, std::move(decisions));
}

} // namespace telos
