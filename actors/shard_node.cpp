// The shard node: the node actor of a telosd shard host (see shard_node.hpp).
#include "telos/actors/shard_node.hpp"

#include "telos/actors/node_files.hpp"
#include "telos/actors/participant.hpp"
#include "telos/actors/test_hooks.hpp"
#include "telos/shard/durable_file.hpp"
#include "telos/storage/backend_checks.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>

namespace fs = std::filesystem;

namespace telos {

namespace {

std::string shard_list(const std::vector<shard_host>& shards) {
  std::string names;
  for (const auto& s : shards)
    names += (names.empty() ? "" : ", ") + std::to_string(s.storage->id);
  return names;
}

struct shard_node_state {
  static inline const char* name = "shard_node";
  std::string data_dir;
  std::string backend;
  telos::profile profile;
  uint32_t shard_count = 0;
  shard_node_config config;
  std::vector<shard_host> shards;
  /// Shards being restored (their actor is null meanwhile).
  std::set<uint32_t> restoring;
  /// Shards a restore closed and could not reopen: why (they serve nothing until a restore
  /// succeeds).
  std::map<uint32_t, std::string> broken;
  /// Run once no restore is in progress (stop_shard_node).
  std::vector<std::function<void()>> after_restores;
  /// Commits being applied (participant.hpp).
  staged_commits commits;
  /// Keeps the staged parts in prepared/ (detached: writes and fsyncs them off the scheduler).
  prepared_parts_actor parts;
  /// Shards whose store asked to be reopened after a write error, with the wait before the next
  /// probe of the disk (or the next attempt to open, after a reopen that failed).
  std::map<uint32_t, std::chrono::milliseconds> recovering;
  /// Shards being closed and reopened after such an error (their actor is null meanwhile).
  std::set<uint32_t> reopening;
  /// close began: no recovery starts any more.
  bool stopping = false;
};

using attach_reply = caf::result<caf::actor, shard_identity>;

using shard_node_ptr = shard_node_actor::stateful_pointer<shard_node_state>;

shard_host* hosted(shard_node_state& st, uint32_t shard) {
  for (auto& h : st.shards)
    if (h.storage->id == shard) return &h;
  return nullptr;
}

/// ec::unavailable for a hosted shard that has no actor now (being restored, or a restore failed).
caf::error not_serving(const shard_node_state& st, uint32_t shard) {
  auto name = "shard " + std::to_string(shard) + " on the node with data dir '" + st.data_dir + "'";
  if (st.restoring.count(shard) != 0)
    return make_error(ec::unavailable, name + " is being restored");
  auto why = st.broken.find(shard);
  if (st.reopening.count(shard) != 0)
    return make_error(ec::unavailable, name + " is being reopened after a write error its store "
                                              "could not recover from while open");
  if (st.recovering.count(shard) != 0)
    return make_error(ec::unavailable,
                      name +
                          " was closed after a write error and is reopened once its disk takes "
                          "writes again (last attempt: " +
                          (why == st.broken.end() ? std::string{"unknown"} : why->second) + ")");
  return make_error(ec::unavailable,
                    name + " serves nothing: a restore closed it and could not reopen it (" +
                        (why == st.broken.end() ? std::string{"unknown reason"} : why->second) +
                        "); run the restore again");
}

/// Restore phase 1 on this node: what check_checkpoint says about DIR for `shard`.
caf::error check_restore(const shard_node_state& st, uint32_t shard, const std::string& dir) {
  auto name = "shard " + std::to_string(shard) + " on the node with data dir '" + st.data_dir + "'";
  auto m = read_manifest(st.data_dir);
  if (!m) return make_error(code_of(m.error()), name + ": " + describe(m.error()));
  if (!*m)
    return make_error(ec::invalid_argument,
                      name + ": the node's store has no MANIFEST (a memory store has nothing to "
                             "restore into)");
  if (auto ok = check_checkpoint(dir, **m, {shard}); !ok)
    return make_error(code_of(ok.error()), name + ": " + describe(ok.error()));
  return {};
}

/// The blocking part of a live restore, run on a thread of its own so that the node keeps
/// answering (pings, other shards): closes the shard's storage, swaps its directory, reopens it.
struct restore_job {
  opened_shard* storage = nullptr;
  std::string data_dir;
  std::string dir;
  shard_open_options open;
  expected<opened_shard> result{make_error(ec::internal, "the restore did not run")};

  void run() {
    if (auto ok = close_shard(*storage); !ok) {
      result = make_error(code_of(ok.error()), "closing the shard: " + describe(ok.error()));
      return;
    }
    if (detail::fail_point("restore-copy")) {
      result = make_error(ec::io_error, "cannot copy '" + backend_directory(dir, open.shard) +
                                            "': failure injected by TELOS_TEST_FAIL");
      return;
    }
    if (auto ok = replace_shard_directory(data_dir, dir, open.shard); !ok) {
      result = std::move(ok.error());
      return;
    }
    auto opened = open_shard(open);
    if (!opened) {
      result = make_error(code_of(opened.error()),
                          "reopening the restored shard: " + describe(opened.error()));
      return;
    }
    result = std::move(*opened);
  }
};

void restores_done(shard_node_state& st) {
  if (!st.restoring.empty() || !st.reopening.empty()) return;
  auto waiting = std::move(st.after_restores);
  st.after_restores.clear();
  for (auto& f : waiting)
    f();
}

caf::error not_hosted(const shard_node_state& st, uint32_t shard) {
  return make_error(ec::not_found, "the node with data dir '" + st.data_dir + "' hosts shard(s) " +
                                       shard_list(st.shards) + ", not shard " +
                                       std::to_string(shard));
}

/// Runs `work` on a thread of its own (blocking file I/O must not stall the node, which keeps
/// answering pings and serving its other shards), then `then` in the node actor.
void run_blocking(shard_node_ptr self, std::function<void()> work, std::function<void()> then) {
  // (The work goes in as an argument: CAF 0.17 dereferences an empty argument tuple when a
  // function-based actor takes none, which UBSan rejects.)
  auto worker = self->system().spawn<caf::detached>(
      [](caf::event_based_actor* w, std::shared_ptr<std::function<void()>> job) -> caf::behavior {
        return {[job, w](atom::run_job) {
          (*job)();
          w->quit();
          return atom::ok_v;
        }};
      },
      std::make_shared<std::function<void()>>(std::move(work)));
  self->request(worker, caf::infinite, atom::run_job_v)
      .then([then](atom::ok) { then(); }, [then](caf::error&) { then(); });
}

/// Spawns the actors of a hosted shard over its opened storage. A write of the shard that fails
/// with an error asking for a reopen tells the node (atom::reopen).
void serve(shard_node_ptr self, shard_host& host) {
  auto& st = self->state;
  auto opts = st.config.engine;
  opts.on_write_error = [node = self->address()](uint32_t shard, const caf::error& err) {
    if (!storage::asks_for_reopen(err)) return;
    if (auto handle = caf::actor_cast<caf::actor>(node))
      caf::anon_send(handle, atom::reopen_v, shard, false);
  };
  std::vector<opened_shard> one;
  one.push_back(std::move(*host.storage));
  auto actors = spawn_engine(self->system(), one, st.profile, opts);
  *host.storage = std::move(one.front());
  host.actor = actors.shards.front();
  host.engine = actors.coordinator;
}

/// Whether the disk under the node's data dir takes writes: a small file written, fsynced and
/// removed again (through the same seams as every own file, so an injected fault fails it too).
expected<void> probe_disk(const std::string& data_dir, uint32_t shard) {
  auto path = data_dir + "/.write-probe-shard-" + std::to_string(shard);
  auto ok = replace_file(path, "telosd write probe\n", true);
  std::error_code ec;
  fs::remove(path, ec);
  return ok;
}

/// Closes a shard whose store stopped writes and opens it again, on a thread of its own; its
/// actors are stopped first. A reopen that fails is tried again after a wait.
void reopen_shard(shard_node_ptr self, uint32_t shard) {
  auto& st = self->state;
  auto* host = hosted(st, shard);
  st.reopening.insert(shard);
  auto open = st.config.open;
  open.shard = shard;
  open.backend_options.create_if_missing = false;
  auto result =
      std::make_shared<expected<opened_shard>>(make_error(ec::internal, "the reopen did not run"));
  auto storage = host->storage;
  auto finish = [self, shard, result] {
    auto& st = self->state;
    st.reopening.erase(shard);
    auto* host = hosted(st, shard);
    if (!*result) {
      st.broken[shard] = describe(result->error());
      std::cerr << "telosd: reopening shard " << shard << " failed: " << st.broken[shard]
                << "; trying again\n";
      auto& wait = st.recovering[shard];
      wait = std::clamp(wait * 2, std::chrono::milliseconds{50}, st.config.max_probe_wait);
      if (!st.stopping) self->delayed_send(self, wait, atom::reopen_v, shard, true);
      restores_done(st);
      return;
    }
    st.broken.erase(shard);
    st.recovering.erase(shard);
    *host->storage = std::move(**result);
    serve(self, *host);
    std::cerr << "telosd: shard " << shard << " reopened; it takes writes again\n";
    restores_done(st);
  };
  auto run = [self, storage, open, result, finish] {
    run_blocking(
        self,
        [storage, open, result] {
          // A store that stopped writes cannot save its index snapshots: the close reports that,
          // and the open replays the changelog after the last snapshot instead. Nothing is lost.
          if (auto ok = close_shard(*storage); !ok)
            std::cerr << "telosd: closing shard " << open.shard
                      << " to reopen it: " << describe(ok.error()) << '\n';
          *result = open_shard(open);
        },
        finish);
  };
  if (!host->engine) {
    run();
    return;
  }
  auto engine = host->engine;
  host->actor = nullptr;
  host->engine = nullptr;
  self->request(engine, caf::infinite, atom::close_v)
      .then([run](atom::ok) { run(); },
            [run](caf::error&) {
              // The storage is closed below whatever the actors said.
              run();
            });
}

/// A write of `shard` failed with an error asking for a reopen (`retry` false), or a wait of its
/// recovery ended (`retry` true). While the shard still serves reads it probes the disk first and
/// reopens only once the disk takes writes again; otherwise it tries the reopen again at once.
void recover(shard_node_ptr self, uint32_t shard, bool retry) {
  auto& st = self->state;
  auto* host = hosted(st, shard);
  if (host == nullptr || st.stopping) return;
  // A second report while the recovery runs, or a retry of a recovery that ended, changes nothing.
  if (retry != (st.recovering.count(shard) != 0)) return;
  if (st.restoring.count(shard) != 0 || st.reopening.count(shard) != 0) return;
  if (!retry) {
    st.recovering[shard] = std::chrono::milliseconds{0};
    std::cerr << "telosd: shard " << shard
              << " stopped writes after an error its store cannot recover from while open; it is "
                 "reopened once its disk takes writes again\n";
  }
  if (!host->engine) {
    reopen_shard(self, shard);
    return;
  }
  auto probe = std::make_shared<expected<void>>();
  run_blocking(
      self, [probe, dir = st.data_dir, shard] { *probe = probe_disk(dir, shard); },
      [self, shard, probe] {
        auto& st = self->state;
        auto it = st.recovering.find(shard);
        if (it == st.recovering.end() || st.stopping) return;
        if (!*probe) {
          it->second =
              std::clamp(it->second * 2, std::chrono::milliseconds{50}, st.config.max_probe_wait);
          self->delayed_send(self, it->second, atom::reopen_v, shard, true);
          return;
        }
        auto* host = hosted(st, shard);
        if (host == nullptr || !host->engine || st.restoring.count(shard) != 0) {
          st.recovering.erase(it);
          return;
        }
        reopen_shard(self, shard);
      });
}

shard_node_actor::behavior_type shard_node(shard_node_ptr self, shard_node_config config,
                                           std::vector<shard_host> shards) {
  auto& st = self->state;
  st.config = std::move(config);
  st.data_dir = st.config.data_dir;
  st.backend = st.config.backend;
  st.profile = st.config.profile;
  st.shard_count = st.config.shard_count;
  st.shards = std::move(shards);
  st.parts = spawn_parts_keeper(self->system(), st.data_dir);
  self->link_to(st.parts);
  for (auto& h : st.shards)
    if (!h.engine) serve(self, h);
  return {
      [self](atom::reopen, uint32_t shard, bool retry) { recover(self, shard, retry); },
      [self](atom::attach, uint32_t shard, const uuid& cluster, uint32_t count,
             bool bound_before) -> attach_reply {
        auto& st = self->state;
        auto it = std::find_if(st.shards.begin(), st.shards.end(),
                               [&](const shard_host& h) { return h.storage->id == shard; });
        if (it == st.shards.end())
          return make_error(ec::format_mismatch,
                            "the node with data dir '" + st.data_dir + "' hosts shard(s) " +
                                shard_list(st.shards) + ", not shard " + std::to_string(shard) +
                                " (wrong --shard-id, or wrong position in --shards)");
        if (!it->actor) return not_serving(st, shard);
        if (count != st.shard_count)
          return make_error(ec::format_mismatch,
                            "shard " + std::to_string(shard) + " in '" + st.data_dir +
                                "' belongs to a store of " + std::to_string(st.shard_count) +
                                " shards, the coordinator routes over " + std::to_string(count));
        auto binding = read_node_binding(st.data_dir);
        if (!binding) return std::move(binding.error());
        if (*binding) {
          if ((*binding)->cluster != cluster)
            return make_error(ec::format_mismatch,
                              "data dir '" + st.data_dir + "' belongs to cluster " +
                                  (*binding)->cluster.to_string() + ", not to cluster " +
                                  cluster.to_string() + " (wrong --data-dir?)");
        } else {
          if (bound_before)
            return make_error(ec::format_mismatch,
                              "data dir '" + st.data_dir + "' is bound to no cluster, but shard " +
                                  std::to_string(shard) + " of cluster " + cluster.to_string() +
                                  " was attached before (wrong or wiped --data-dir?)");
          if (auto ok = write_node_binding(st.data_dir, node_binding{cluster, count}); !ok)
            return std::move(ok.error());
        }
        shard_identity id;
        id.shard = shard;
        id.shard_count = st.shard_count;
        id.backend = st.backend;
        id.profile = st.profile;
        id.data_dir = st.data_dir;
        return attach_reply{caf::actor_cast<caf::actor>(it->actor), std::move(id)};
      },
      [self](atom::attach) -> caf::result<caf::actor, cluster_identity> {
        return make_error(ec::invalid_argument,
                          "this telosd hosts shard(s) " + shard_list(self->state.shards) +
                              "; clients connect to the coordinator node (telosd --coordinator)");
      },
      [self](atom::prepare_tx, uint32_t shard, const uuid& tx,
             const shard_write& part) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        auto bytes = encode_part(self->system(), part);
        if (!bytes) return std::move(bytes.error());
        // Written and synced by the detached keeper of the parts, off the scheduler's threads.
        auto rp = self->make_response_promise<atom::ok>();
        self->request(st.parts, caf::infinite, atom::prepare_tx_v, shard, tx, std::move(*bytes))
            .then([rp](atom::ok) mutable { rp.deliver(atom::ok_v); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::commit_tx, uint32_t shard, const uuid& tx) -> caf::result<shard_write_result> {
        detail::crash_point("before-commit");
        detail::pause_point("before-commit");
        auto& st = self->state;
        auto* host = hosted(st, shard);
        if (host == nullptr) return not_hosted(st, shard);
        if (!host->actor) return not_serving(st, shard);
        auto target = [self, shard]() -> caf::expected<shard_actor> {
          auto& st = self->state;
          auto* host = hosted(st, shard);
          if (host == nullptr) return not_hosted(st, shard);
          if (!host->actor) return not_serving(st, shard);
          return host->actor;
        };
        return commit_staged(self, st.commits, st.parts, shard, tx,
                             prepared_dir(st.data_dir, shard) + "/" + tx.to_string(), target);
      },
      [self](atom::abort_tx, uint32_t shard, const uuid& tx) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        auto rp = self->make_response_promise<atom::ok>();
        self->request(st.parts, caf::infinite, atom::remove_v, shard, tx)
            .then([rp](atom::ok) mutable { rp.deliver(atom::ok_v); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [](atom::ping) { return atom::ok_v; },
      [self](atom::checkpoint, uint32_t shard, std::string& dir) -> caf::result<atom::ok> {
        auto& st = self->state;
        auto* host = hosted(st, shard);
        if (host == nullptr) return not_hosted(st, shard);
        if (!host->actor) return not_serving(st, shard);
        auto rp = self->make_response_promise<atom::ok>();
        // The directory checks, and the copies of MANIFEST and NODE after the shard's own copy,
        // are file work (fsync included): run off the node's thread, as a restore's is.
        auto prepared = std::make_shared<expected<void>>(
            make_error(ec::internal, "the checkpoint's directory check did not run"));
        run_blocking(
            self, [prepared, dir, shard] { *prepared = prepare_checkpoint_directory(dir, shard); },
            [self, rp, prepared, dir, shard]() mutable {
              if (!*prepared) {
                rp.deliver(std::move(prepared->error()));
                return;
              }
              auto& st = self->state;
              auto* host = hosted(st, shard);
              if (host == nullptr || !host->actor) {
                rp.deliver(host == nullptr ? not_hosted(st, shard) : not_serving(st, shard));
                return;
              }
              self->request(host->actor, caf::infinite, atom::checkpoint_v, dir)
                  .then(
                      [self, rp, dir](atom::ok) mutable {
                        auto copied = std::make_shared<expected<void>>(
                            make_error(ec::internal, "the copy of the node's files did not run"));
                        run_blocking(
                            self,
                            [copied, data_dir = self->state.data_dir, dir] {
                              *copied = copy_node_files(data_dir, dir);
                            },
                            [rp, copied]() mutable {
                              if (*copied)
                                rp.deliver(atom::ok_v);
                              else
                                rp.deliver(std::move(copied->error()));
                            });
                      },
                      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
            });
        return rp;
      },
      [self](atom::prepared_tx, uint32_t shard) -> caf::result<std::vector<uuid>> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        auto rp = self->make_response_promise<std::vector<uuid>>();
        self->request(st.parts, caf::infinite, atom::prepared_tx_v, shard)
            .then([rp](std::vector<uuid>& txs) mutable { rp.deliver(std::move(txs)); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::restore_check, uint32_t shard, std::string& dir) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        if (st.restoring.count(shard) != 0) return not_serving(st, shard);
        if (auto err = check_restore(st, shard, dir)) return err;
        return atom::ok_v;
      },
      [self](atom::restore_live, uint32_t shard, std::string& dir) -> caf::result<caf::actor> {
        auto& st = self->state;
        auto* host = hosted(st, shard);
        if (host == nullptr) return not_hosted(st, shard);
        if (st.restoring.count(shard) != 0 || st.reopening.count(shard) != 0)
          return not_serving(st, shard);
        if (auto err = check_restore(st, shard, dir)) return err;
        st.restoring.insert(shard);
        auto job = std::make_shared<restore_job>();
        job->storage = host->storage;
        job->data_dir = st.data_dir;
        job->dir = dir;
        job->open = st.config.open;
        job->open.shard = shard;
        job->open.backend_options.create_if_missing = false;
        auto rp = self->make_response_promise<caf::actor>();
        // Reopened: the shard serves again through actors of its own.
        auto finish = [self, shard, job, rp]() mutable {
          auto& st = self->state;
          st.restoring.erase(shard);
          auto* host = hosted(st, shard);
          if (!job->result) {
            st.broken[shard] = describe(job->result.error());
            std::cerr << "telosd: restoring shard " << shard << " from '" << job->dir
                      << "' failed: " << st.broken[shard] << '\n';
            rp.deliver(make_error(code_of(job->result.error()),
                                  "shard " + std::to_string(shard) +
                                      " on the node with data dir '" + st.data_dir +
                                      "' was closed but not restored: " + st.broken[shard]));
            restores_done(st);
            return;
          }
          st.broken.erase(shard);
          st.recovering.erase(shard);
          *host->storage = std::move(*job->result);
          serve(self, *host);
          std::cerr << "telosd: shard " << shard << " restored live from '" << job->dir << "'\n";
          rp.deliver(caf::actor_cast<caf::actor>(host->actor));
          restores_done(st);
        };
        // The blocking part runs on a thread of its own once the shard's actors stopped.
        auto run = [self, job, finish] {
          run_blocking(
              self, [job] { job->run(); }, finish);
        };
        if (!host->actor) {
          run();
          return rp;
        }
        auto engine = host->engine;
        host->actor = nullptr;
        host->engine = nullptr;
        self->request(engine, caf::infinite, atom::close_v)
            .then([run](atom::ok) { run(); },
                  [run, shard](caf::error& err) {
                    // The storage is closed below whatever the actors said.
                    std::cerr << "telosd: stopping shard " << shard
                              << " for the restore: " << to_string(err) << '\n';
                    run();
                  });
        return rp;
      },
      [self](atom::close) -> caf::result<atom::ok> {
        auto rp = self->make_response_promise<atom::ok>();
        auto close_all = [self, rp]() mutable {
          auto& st = self->state;
          auto left = std::make_shared<size_t>(1);
          auto done = [self, rp, left]() mutable {
            if (--*left > 0) return;
            caf::anon_send(self->state.parts, atom::close_v);
            rp.deliver(atom::ok_v);
            self->quit();
          };
          for (auto& h : st.shards) {
            if (!h.engine) continue;
            ++*left;
            auto engine = std::move(h.engine);
            h.actor = nullptr;
            self->request(engine, caf::infinite, atom::close_v)
                .then([done](atom::ok) mutable { done(); },
                      [done](caf::error& err) mutable {
                        std::cerr << "telosd: closing: " << to_string(err) << '\n';
                        done();
                      });
          }
          done();
        };
        self->state.stopping = true;
        if (self->state.restoring.empty() && self->state.reopening.empty())
          close_all();
        else
          self->state.after_restores.push_back(close_all);
        return rp;
      },
  };
}

} // namespace

node_actor spawn_shard_node(caf::actor_system& sys, shard_node_config config,
                            std::vector<shard_host> shards) {
  return caf::actor_cast<node_actor>(sys.spawn(shard_node, std::move(config), std::move(shards)));
}

expected<void> stop_shard_node(caf::actor_system& sys, const node_actor& node) {
  caf::scoped_actor self{sys};
  expected<void> result;
  self->request(caf::actor_cast<caf::actor>(node), caf::infinite, atom::close_v)
      .receive([](atom::ok) {},
               [&](caf::error& err) { result = make_error(ec::internal, sys.render(err)); });
  return result;
}

} // namespace telos
