// The participant half of two-phase commit: the keeper of staged parts, their encoding and the
// local participant of a store in one process (see participant.hpp).
#include "telos/actors/participant.hpp"

#include "telos/actors/node_files.hpp"
#include "telos/actors/test_hooks.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>

namespace telos {

namespace {

/// Staged parts of a store without a directory, by shard and transaction.
using parts_in_memory = std::map<std::pair<uint32_t, uuid>, std::string>;

prepared_parts_actor::behavior_type parts_keeper(prepared_parts_actor::pointer self,
                                                 std::string data_dir) {
  auto memory = std::make_shared<parts_in_memory>();
  bool on_disk = !data_dir.empty();
  return {
      [=](atom::prepare_tx, uint32_t shard, const uuid& tx,
          const std::string& bytes) -> caf::result<atom::ok> {
        if (!on_disk)
          (*memory)[{shard, tx}] = bytes;
        else if (auto ok = write_prepared_part(data_dir, shard, tx, bytes); !ok)
          return std::move(ok.error());
        detail::crash_point("after-prepare");
        return atom::ok_v;
      },
      [=](atom::get, uint32_t shard, const uuid& tx) -> caf::result<bool, std::string> {
        if (!on_disk) {
          auto it = memory->find({shard, tx});
          if (it == memory->end()) return {false, std::string{}};
          return {true, it->second};
        }
        auto bytes = read_prepared_part(data_dir, shard, tx);
        if (!bytes) return std::move(bytes.error());
        if (!*bytes) return {false, std::string{}};
        return {true, std::move(**bytes)};
      },
      [=](atom::remove, uint32_t shard, const uuid& tx) {
        if (!on_disk)
          memory->erase({shard, tx});
        else
          remove_prepared_part(data_dir, shard, tx);
        return atom::ok_v;
      },
      [=](atom::prepared_tx, uint32_t shard) {
        if (on_disk) return prepared_parts(data_dir, shard);
        std::vector<uuid> txs;
        for (const auto& [key, bytes] : *memory)
          if (key.first == shard) txs.push_back(key.second);
        return txs;
      },
      [self](atom::close) {
        self->quit();
        return atom::ok_v;
      },
  };
}

struct local_participant_state {
  static inline const char* name = "local_participant";
  shard_actor shard;
  prepared_parts_actor parts;
  uint32_t id = 0;
  std::string where;
  staged_commits commits;
};

transaction_shard_actor::behavior_type
local_participant(transaction_shard_actor::stateful_pointer<local_participant_state> self,
                  shard_actor shard, prepared_parts_actor parts, uint32_t id, std::string where) {
  auto& st = self->state;
  st.shard = std::move(shard);
  st.parts = std::move(parts);
  st.id = id;
  st.where = std::move(where);
  auto no_restore = [] {
    return make_error(ec::invalid_argument,
                      "a store in one process is restored by store::restore, not live");
  };
  return {
      [self](atom::prepare_tx, const uuid& tx, const shard_write& part) -> caf::result<atom::ok> {
        auto bytes = encode_part(self->system(), part);
        if (!bytes) return std::move(bytes.error());
        auto rp = self->make_response_promise<atom::ok>();
        self->request(self->state.parts, caf::infinite, atom::prepare_tx_v, self->state.id, tx,
                      std::move(*bytes))
            .then([rp](atom::ok) mutable { rp.deliver(atom::ok_v); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::commit_tx, const uuid& tx) -> caf::result<shard_write_result> {
        auto& st = self->state;
        auto target = [self]() -> caf::expected<shard_actor> { return self->state.shard; };
        return commit_staged(self, st.commits, st.parts, st.id, tx,
                             st.where + " (transaction " + tx.to_string() + ")", target);
      },
      [self](atom::abort_tx, const uuid& tx) -> caf::result<atom::ok> {
        auto rp = self->make_response_promise<atom::ok>();
        self->request(self->state.parts, caf::infinite, atom::remove_v, self->state.id, tx)
            .then([rp](atom::ok) mutable { rp.deliver(atom::ok_v); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [no_restore](atom::restore_check, const std::string&) -> caf::result<atom::ok> {
        return no_restore();
      },
      [no_restore](atom::restore_live, const std::string&) -> caf::result<atom::ok> {
        return no_restore();
      },
  };
}

} // namespace

prepared_parts_actor spawn_parts_keeper(caf::actor_system& sys, std::string data_dir) {
  return sys.spawn<caf::detached>(parts_keeper, std::move(data_dir));
}

expected<std::string> encode_part(caf::actor_system& sys, const shard_write& part) {
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  if (auto err = sink(const_cast<shard_write&>(part)))
    return make_error(ec::internal, "cannot encode the prepared part: " + sys.render(err));
  return std::string{bytes.begin(), bytes.end()};
}

expected<shard_write> decode_part(caf::actor_system& sys, const std::string& bytes,
                                  const std::string& where) {
  shard_write part;
  caf::binary_deserializer source{sys, bytes.data(), bytes.size()};
  if (auto err = source(part))
    return make_error(ec::corrupt_value,
                      "prepared part '" + where + "' does not decode: " + sys.render(err));
  return part;
}

transaction_shard_actor spawn_local_participant(caf::actor_system& sys, shard_actor shard,
                                                prepared_parts_actor parts, uint32_t id,
                                                std::string where) {
  return sys.spawn(local_participant, std::move(shard), std::move(parts), id, std::move(where));
}

} // namespace telos
