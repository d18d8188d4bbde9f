// The coordinator's side of a remote shard: attach, and the stand-in actor (see remote_shard.hpp).
#include "telos/actors/remote_shard.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_map>

namespace telos {

namespace {

/// The text of any error: Telos errors through describe(), CAF's own through the system.
std::string text_of(caf::actor_system& sys, const caf::error& err) {
  if (err.category() == caf::atom("telos")) return describe(err);
  return sys.render(err);
}

bool is_telos(const caf::error& err) {
  return err.category() == caf::atom("telos");
}

} // namespace

expected<attached_shard> attach_shard(caf::actor_system& sys, const cluster_map& map,
                                      uint32_t shard, bool tls) {
  const auto& entry = map.shards.at(shard);
  auto node = connect_node(sys, entry.where, tls);
  if (!node) return std::move(node.error());
  caf::scoped_actor self{sys};
  expected<attached_shard> result{make_error(ec::internal, "the node did not answer")};
  self->request(*node, std::chrono::seconds(30), atom::attach_v, shard, map.cluster,
                static_cast<uint32_t>(map.shards.size()), entry.bound)
      .receive(
          [&](caf::actor& a, shard_identity& id) {
            result = attached_shard{*node, caf::actor_cast<shard_actor>(a), std::move(id)};
          },
          [&](caf::error& err) {
            result = is_telos(err)
                         ? std::move(err)
                         : make_error(ec::unavailable, "shard " + std::to_string(shard) + " at " +
                                                           entry.where.to_string() + ": " +
                                                           sys.render(err));
          });
  if (!result) return result;
  const auto& id = result->identity;
  if (!map.profile.embedders.empty() && id.profile != map.profile)
    return make_error(ec::format_mismatch, "shard " + std::to_string(shard) + " at " +
                                               entry.where.to_string() + " has " +
                                               describe_profile(id.profile) + ", the cluster " +
                                               describe_profile(map.profile));
  if (!map.backend.empty() && id.backend != map.backend)
    return make_error(ec::format_mismatch, "shard " + std::to_string(shard) + " at " +
                                               entry.where.to_string() + " runs " + id.backend +
                                               ", the cluster " + map.backend);
  return result;
}

// -- remote shard ---------------------------------------------------------------------------------

namespace {

struct remote_shard_state {
  static inline const char* name = "remote_shard";
  remote_shard_config config;
  /// Null while the node is unreachable.
  shard_actor remote;
  /// The node's participant side (two-phase commit); null with `remote`.
  participant_actor participant;
  /// Why `remote` is null.
  std::string reason;
  bool connecting = false;
  /// Attached, but the node left a ping unanswered: requests fail at once until it answers.
  bool hung = false;
  /// The heartbeat chain runs (one ping in flight or one beat scheduled).
  bool beating = false;
  /// A live restore runs on the node: the shard actor going down is expected (the node answers
  /// with its successor), the node going down is not.
  bool restoring = false;
  std::chrono::milliseconds backoff{0};
  uint64_t next_request = 0;
  /// Requests forwarded and not answered: how to fail each when the node goes down.
  std::unordered_map<uint64_t, std::function<void(const caf::error&)>> pending;

  caf::error unavailable() const {
    return make_error(ec::unavailable, "shard " + std::to_string(config.shard) + " at " +
                                           config.where.to_string() + " is unavailable: " + reason);
  }
};

using remote_ptr = remote_shard_actor::stateful_pointer<remote_shard_state>;

void connect(remote_ptr self);

void retry_later(remote_ptr self, std::string why) {
  auto& st = self->state;
  st.connecting = false;
  st.reason = std::move(why) + " (reconnecting)";
  st.backoff = std::clamp(st.backoff * 2, st.config.min_backoff, st.config.max_backoff);
  self->delayed_send(self, st.backoff, atom::reconnect_v);
}

/// Settles what the participant still holds prepared: commit what the decision log says was
/// decided, abort the rest (no decision logged = aborted), except transactions still waiting for
/// their decision (their staged part may yet be committed).
void resolve_prepared(remote_ptr self) {
  auto& st = self->state;
  if (!st.participant || !st.config.decisions) return;
  self->request(st.participant, std::chrono::seconds(30), atom::prepared_tx_v, st.config.shard)
      .then(
          [self](std::vector<uuid>& txs) {
            auto& st = self->state;
            for (auto& tx : txs) {
              if (st.config.decisions->undecided(tx)) continue;
              if (st.config.decisions->committed(tx))
                self->request(st.participant, caf::infinite, atom::commit_tx_v, st.config.shard, tx)
                    .then(
                        [self, tx](shard_write_result&) {
                          auto& st = self->state;
                          if (st.config.decision_writer)
                            self->request(st.config.decision_writer, caf::infinite,
                                          atom::applied_tx_v, tx, st.config.shard)
                                .then([](atom::ok) {}, [](caf::error&) {});
                        },
                        [](caf::error&) {});
              else
                self->request(st.participant, caf::infinite, atom::abort_tx_v, st.config.shard, tx)
                    .then([](atom::ok) {}, [](caf::error&) {});
            }
          },
          [](caf::error&) {});
}

/// Fails every request in flight with the shard's current error.
void fail_pending(remote_ptr self) {
  auto& st = self->state;
  auto pending = std::move(st.pending);
  st.pending.clear();
  auto err = st.unavailable();
  for (auto& [id, fail] : pending)
    fail(err);
}

/// One heartbeat: pings the node; a timeout marks it hung, an answer marks it alive again. The
/// next beat follows the answer (or the timeout), so at most one ping is in flight.
void beat(remote_ptr self) {
  auto& st = self->state;
  if (!st.participant) {
    st.beating = false;
    return;
  }
  auto node = st.participant;
  auto next = [self] {
    self->delayed_send(self, self->state.config.ping_interval, atom::heartbeat_v);
  };
  self->request(node, st.config.ping_timeout, atom::ping_v)
      .then(
          [self, node, next](atom::ok) {
            auto& st = self->state;
            if (st.hung && st.participant == node) {
              st.hung = false;
              st.reason.clear();
              // Commits or aborts that timed out while it hung are settled now.
              resolve_prepared(self);
            }
            next();
          },
          [self, node, next](caf::error& err) {
            auto& st = self->state;
            if (err == caf::sec::request_timeout && st.participant == node && !st.hung) {
              st.hung = true;
              st.reason = "its node did not answer a ping within " +
                          std::to_string(st.config.ping_timeout.count()) +
                          " ms (stopped or stuck?); a write in flight to it may still be applied "
                          "when it resumes";
              fail_pending(self);
              st.reason = "its node did not answer a ping within " +
                          std::to_string(st.config.ping_timeout.count()) +
                          " ms (stopped or stuck?; probing)";
            }
            next();
          });
}

void attached(remote_ptr self, shard_actor remote, node_actor node) {
  auto& st = self->state;
  st.connecting = false;
  st.hung = false;
  st.remote = std::move(remote);
  st.participant = caf::actor_cast<participant_actor>(node);
  st.reason.clear();
  st.backoff = std::chrono::milliseconds{0};
  self->monitor(st.remote);
  resolve_prepared(self);
  if (!st.beating) {
    st.beating = true;
    self->delayed_send(self, st.config.ping_interval, atom::heartbeat_v);
  }
}

void lost(remote_ptr self, const std::string& why) {
  auto& st = self->state;
  st.remote = nullptr;
  st.participant = nullptr;
  st.hung = false;
  st.reason = why + " (reconnecting)";
  fail_pending(self);
  retry_later(self, why);
}

void connect(remote_ptr self) {
  auto& st = self->state;
  if (st.connecting || st.remote) return;
  st.connecting = true;
  auto& sys = self->system();
  auto mm = st.config.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  self->request(mm, std::chrono::seconds(10), caf::connect_atom_v, st.config.where.host,
                st.config.where.port)
      .then(
          [self](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr) {
              retry_later(self, "nothing is published at the node's port");
              return;
            }
            auto& st = self->state;
            auto node = caf::actor_cast<node_actor>(ptr);
            self->request(node, std::chrono::seconds(10), atom::attach_v, st.config.shard,
                          st.config.cluster, st.config.shard_count, true)
                .then(
                    [self, node](caf::actor& a, shard_identity& id) {
                      auto& st = self->state;
                      if (id.profile != st.config.profile) {
                        retry_later(self, "the node has " + describe_profile(id.profile) +
                                              ", the cluster " +
                                              describe_profile(st.config.profile));
                        return;
                      }
                      attached(self, caf::actor_cast<shard_actor>(a), node);
                    },
                    [self](caf::error& err) { retry_later(self, text_of(self->system(), err)); });
          },
          [self](caf::error& err) {
            retry_later(self, "cannot connect: " + text_of(self->system(), err));
          });
}

/// Has the node replace the shard (restore phase 2) and attaches to the shard actor it answers
/// with at once. A node that goes down or hangs meanwhile fails the restore like any request.
caf::typed_response_promise<atom::ok> restore_live(remote_ptr self, std::string dir) {
  auto rp = self->make_response_promise<atom::ok>();
  auto& st = self->state;
  if (!st.participant || st.hung) {
    rp.deliver(st.unavailable());
    return rp;
  }
  if (st.restoring) {
    rp.deliver(make_error(ec::overloaded, "shard " + std::to_string(st.config.shard) +
                                              " is being restored already"));
    return rp;
  }
  auto node = st.participant;
  st.restoring = true;
  self->monitor(node);
  auto id = st.next_request++;
  // Ends the restore; after a failure the shard actor may be gone (the node closed it): it is
  // dropped and attached again (a node refuses a shard that does not serve until a restore
  // succeeds). A node that went down is reconnected to by lost() already.
  auto end = [self, node](const std::string* failure) {
    auto& st = self->state;
    st.restoring = false;
    self->demonitor(node.address());
    if (failure == nullptr || !st.participant) return;
    if (st.remote) self->demonitor(st.remote.address());
    st.remote = nullptr;
    st.backoff = std::chrono::milliseconds{0};
    retry_later(self, "the restore failed: " + *failure);
  };
  st.pending.emplace(id, [self, rp, end](const caf::error& err) mutable {
    auto why = text_of(self->system(), err);
    end(&why);
    rp.deliver(err);
  });
  self->request(node, caf::infinite, atom::restore_live_v, st.config.shard, std::move(dir))
      .then(
          [self, id, rp, end, node](caf::actor& a) mutable {
            if (self->state.pending.erase(id) == 0) return;
            end(nullptr);
            attached(self, caf::actor_cast<shard_actor>(a), caf::actor_cast<node_actor>(node));
            rp.deliver(atom::ok_v);
          },
          [self, id, rp, end](caf::error& err) mutable {
            if (self->state.pending.erase(id) == 0) return;
            auto why = text_of(self->system(), err);
            end(&why);
            auto& st = self->state;
            rp.deliver(is_telos(err)
                           ? std::move(err)
                           : make_error(ec::unavailable,
                                        "shard " + std::to_string(st.config.shard) + " at " +
                                            st.config.where.to_string() + ": " + why));
          });
  return rp;
}

/// Forwards one request to the remote shard and relays the answer, or fails it with
/// ec::unavailable when the node is (or goes) down first.
/// With NeedShard false, only the node must be reachable (the shard may be closed by a restore).
template <class R, bool NeedShard = true, class Dest, class... Ts>
caf::typed_response_promise<R> forward_to(remote_ptr self, const Dest& dest, Ts&&... xs) {
  auto rp = self->template make_response_promise<R>();
  auto& st = self->state;
  if ((NeedShard && !st.remote) || !dest || st.hung) {
    rp.deliver(st.unavailable());
    return rp;
  }
  auto id = st.next_request++;
  st.pending.emplace(id, [rp](const caf::error& err) mutable { rp.deliver(err); });
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
      .then(
          [self, id, rp](R& r) mutable {
            if (self->state.pending.erase(id) > 0) rp.deliver(std::move(r));
          },
          [self, id, rp](caf::error& err) mutable {
            if (self->state.pending.erase(id) == 0) return;
            if (is_telos(err))
              rp.deliver(std::move(err));
            else
              rp.deliver(
                  make_error(ec::unavailable, "shard " + std::to_string(self->state.config.shard) +
                                                  " at " + self->state.config.where.to_string() +
                                                  ": " + self->system().render(err)));
          });
  return rp;
}

template <class R, class... Ts>
caf::typed_response_promise<R> forward(remote_ptr self, Ts&&... xs) {
  auto remote = self->state.remote;
  return forward_to<R>(self, remote, std::forward<Ts>(xs)...);
}

remote_shard_actor::behavior_type remote_shard(remote_ptr self, remote_shard_config config) {
  auto& st = self->state;
  st.config = std::move(config);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.remote && dm.source == st.remote.address() && !st.restoring)
      lost(self, "its node went down (" + self->system().render(dm.reason) + ")");
    else if (st.restoring && st.participant && dm.source == st.participant.address())
      lost(self,
           "its node went down during the restore (" + self->system().render(dm.reason) + ")");
  });
  if (st.config.initial) {
    attached(self, std::move(st.config.initial), std::move(st.config.initial_node));
  } else {
    st.reason = st.config.initial_error.empty() ? "not connected yet" : st.config.initial_error;
    connect(self);
  }
  return {
      [self](atom::write, shard_write& w) {
        return forward<shard_write_result>(self, atom::write_v, std::move(w));
      },
      [self](atom::get, std::vector<uuid>& ids) {
        return forward<std::vector<memory>>(self, atom::get_v, std::move(ids));
      },
      [self](atom::exists, std::vector<uuid>& ids) {
        return forward<flag_list>(self, atom::exists_v, std::move(ids));
      },
      [self](atom::list, std::string& ns, uuid& after, uint64_t limit) {
        return forward<std::vector<memory>>(self, atom::list_v, std::move(ns), after, limit);
      },
      [self](atom::count, std::string& ns) {
        return forward<uint64_t>(self, atom::count_v, std::move(ns));
      },
      [self](atom::list, filter& f, uuid& after, uint64_t limit) {
        return forward<std::vector<memory>>(self, atom::list_v, std::move(f), after, limit);
      },
      [self](atom::count, filter& f) {
        return forward<uint64_t>(self, atom::count_v, std::move(f));
      },
      [self](atom::edges, neighbour_request& req) {
        return forward<std::vector<edge_data>>(self, atom::edges_v, std::move(req));
      },
      [self](atom::traverse, traverse_request& req) {
        return forward<std::vector<graph_path>>(self, atom::traverse_v, std::move(req));
      },
      [self](atom::quads, quad_match_request& req) {
        return forward<quad_match_page>(self, atom::quads_v, std::move(req));
      },
      [self](atom::search, std::string& embedder, embedding& q, uint32_t k, filter& f) {
        return forward<std::vector<hit>>(self, atom::search_v, std::move(embedder), std::move(q), k,
                                         std::move(f));
      },
      [self](atom::score, std::string& embedder, embedding& q, std::vector<uuid>& ids) {
        return forward<std::vector<hit>>(self, atom::score_v, std::move(embedder), std::move(q),
                                         std::move(ids));
      },
      [self](atom::flush) { return forward<atom::ok>(self, atom::flush_v); },
      [self](atom::compact) { return forward<atom::ok>(self, atom::compact_v); },
      // Through the node: it adds its MANIFEST and binding to the shard's copy.
      [self](atom::checkpoint, std::string& dir) {
        auto participant = self->state.participant;
        return forward_to<atom::ok>(self, participant, atom::checkpoint_v, self->state.config.shard,
                                    std::move(dir));
      },
      [self](atom::stats) { return forward<shard_info>(self, atom::stats_v); },
      [self](atom::verify, bool repair) {
        return forward<verify_result>(self, atom::verify_v, repair);
      },
      // The node owns its shard: a closing coordinator lets go of it and leaves it running.
      [self](atom::close) {
        self->quit();
        return atom::ok_v;
      },
      [self](atom::reconnect) { connect(self); },
      [self](atom::heartbeat) { beat(self); },
      [self](atom::prepare_tx, uuid& tx, shard_write& part) {
        auto participant = self->state.participant;
        return forward_to<atom::ok>(self, participant, atom::prepare_tx_v, self->state.config.shard,
                                    tx, std::move(part));
      },
      [self](atom::commit_tx, uuid& tx) {
        auto participant = self->state.participant;
        return forward_to<shard_write_result>(self, participant, atom::commit_tx_v,
                                              self->state.config.shard, tx);
      },
      [self](atom::abort_tx, uuid& tx) {
        auto participant = self->state.participant;
        return forward_to<atom::ok>(self, participant, atom::abort_tx_v, self->state.config.shard,
                                    tx);
      },
      [self](atom::restore_check, std::string& dir) {
        auto participant = self->state.participant;
        return forward_to<atom::ok, false>(self, participant, atom::restore_check_v,
                                           self->state.config.shard, std::move(dir));
      },
      [self](atom::restore_live, std::string& dir) { return restore_live(self, std::move(dir)); },
  };
}

} // namespace

shard_actor spawn_remote_shard(caf::actor_system& sys, remote_shard_config config) {
  return caf::actor_cast<shard_actor>(sys.spawn(remote_shard, std::move(config)));
}

} // namespace telos
