// The participant half of two-phase commit (owns), one unit for a telosd shard node and for a
// store in one process with several shards: the detached keeper of staged parts
// (<dir>/prepared/shard-<i>/<tx>, node_files.hpp has the format; in memory for a memory store),
// the encoding of a staged part, the apply of a committed part through its shard actor (once,
// however often its commit is asked) and the local participant a store in one process hands the
// transaction front (actors/transactions.hpp). See docs/GRAPH.md, "Edges across shards in the
// engine".
#pragma once

#include "telos/actors/test_hooks.hpp"
#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace telos {

/// Spawns the keeper of staged parts (detached: it writes and fsyncs them off the scheduler's
/// threads). One mailbox, so a part's write, read, removal and listing happen in the order asked.
/// An empty `data_dir` keeps the parts in memory (a store without a directory).
prepared_parts_actor spawn_parts_keeper(caf::actor_system& sys, std::string data_dir);

/// A part as the keeper stores it (CAF's binary encoding), and back; `where` names the part in
/// the error of one that does not decode.
expected<std::string> encode_part(caf::actor_system& sys, const shard_write& part);
expected<shard_write> decode_part(caf::actor_system& sys, const std::string& bytes,
                                  const std::string& where);

/// The shard actor that applies a committed part, looked up when the part is applied (a shard
/// node's shard may be restored or reopened meanwhile): the actor, or why there is none.
using apply_target = std::function<caf::expected<shard_actor>()>;

/// Commits being applied, by shard and transaction: a repeated commit (the coordinator retries
/// after a lost answer) waits for the first instead of applying the part twice.
struct staged_commits {
  std::map<std::pair<uint32_t, uuid>, std::vector<caf::typed_response_promise<shard_write_result>>>
      applying;
};

/// Commits shard `shard`'s staged part of `tx`: reads it from `parts`, writes it through the
/// target's shard actor, then drops it; a part that is not staged was applied already (an empty
/// result). `commits` lives in the state of `self`, which answers through the returned promise.
template <class Self>
caf::typed_response_promise<shard_write_result>
commit_staged(Self* self, staged_commits& commits, prepared_parts_actor parts, uint32_t shard,
              uuid tx, std::string where, apply_target target);

/// The participant of shard `shard` of a store in one process: stages its parts with `parts`
/// and applies them through `shard_actor`. Restores are the facade's (store::restore), not its.
/// It stops when sent an exit.
transaction_shard_actor spawn_local_participant(caf::actor_system& sys, shard_actor shard,
                                                prepared_parts_actor parts, uint32_t id,
                                                std::string where);

// -- implementation -------------------------------------------------------------------------------

template <class Self>
caf::typed_response_promise<shard_write_result>
commit_staged(Self* self, staged_commits& commits, prepared_parts_actor parts, uint32_t shard,
              uuid tx, std::string where, apply_target target) {
  auto rp = self->template make_response_promise<shard_write_result>();
  auto key = std::make_pair(shard, tx);
  if (auto it = commits.applying.find(key); it != commits.applying.end()) {
    it->second.push_back(rp);
    return rp;
  }
  commits.applying[key].push_back(rp);
  auto answer = [&commits, key](auto result) {
    auto waiting = std::move(commits.applying[key]);
    commits.applying.erase(key);
    for (auto& w : waiting)
      w.deliver(result);
  };
  auto apply = [self, answer, parts, shard, tx, where, target](bool staged,
                                                               std::string& bytes) mutable {
    // Applied and dropped already (a repeated commit after a lost answer).
    if (!staged) {
      answer(shard_write_result{});
      return;
    }
    auto part = decode_part(self->system(), bytes, where);
    if (!part) {
      answer(caf::error{std::move(part.error())});
      return;
    }
    auto actor = target();
    if (!actor) {
      answer(actor.error());
      return;
    }
    self->request(*actor, caf::infinite, atom::write_v, std::move(*part))
        .then(
            [self, answer, parts, shard, tx](shard_write_result& r) mutable {
              self->request(parts, caf::infinite, atom::remove_v, shard, tx)
                  .then(
                      [answer, r](atom::ok) mutable {
                        detail::pause_point("after-commit");
                        answer(r);
                      },
                      [answer, r](caf::error&) mutable { answer(r); });
            },
            [answer](caf::error& err) mutable { answer(err); });
  };
  self->request(parts, caf::infinite, atom::get_v, shard, tx)
      .then(apply, [answer](caf::error& err) mutable { answer(err); });
  return rp;
}

} // namespace telos
