// Roll-forward intents: how a write that spans shards becomes crash-atomic. The first shard's
// batch stores, next to its own rows, the write every other shard must apply (one row per target
// shard in the `intents` keyspace); that batch is the commit point. The coordinator then applies
// each intent on its shard (idempotently) and deletes it on the first shard; intents found at
// open are applied the same way before the store serves (docs/GRAPH.md).
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/storage/backend.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// The keyspace of a shard's pending intents (declared with the graph's keyspaces).
inline constexpr std::string_view intents_keyspace = "intents";
/// Meta row: above every intent id this shard has handed out (u64 counter).
inline constexpr std::string_view intents_next_key = "intents/next";

/// Key of intent `id`: u64 big-endian, so a scan yields intents in the order they were recorded.
std::string intent_key(uint64_t id);
expected<uint64_t> decode_intent_key(std::string_view key);

/// The intent as a checksummed envelope around its CAF binary encoding.
std::string encode_intent(const shard_intent& intent);
/// ec::corrupt_value naming the key when the value does not decode.
expected<shard_intent> decode_intent(std::string_view value, std::string_view key);

/// What a shard holds at open: its pending intents in id order and the next id to hand out.
struct stored_intents {
  std::vector<shard_intent> pending;
  uint64_t next_id = 1;
};

/// Reads the pending intents and the id counter (meta row `intents/next`, or past the largest
/// stored id when that is larger).
expected<stored_intents> load_intents(const storage::backend& db, keyspace_id intents,
                                      keyspace_id meta);

} // namespace telos
