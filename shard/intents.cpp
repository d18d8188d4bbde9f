// Keys, values and loading of a shard's roll-forward intents.
#include "telos/shard/intents.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"
#include "telos/storage/layout.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <algorithm>

namespace telos {

namespace {

constexpr uint16_t intent_schema = 1;

} // namespace

std::string intent_key(uint64_t id) {
  return storage::key_builder{8}.u64(id).take();
}

expected<uint64_t> decode_intent_key(std::string_view key) {
  storage::key_reader reader{key, intents_keyspace};
  auto id = reader.u64();
  if (!id) return id;
  if (auto done = reader.expect_done(); !done) return std::move(done.error());
  return id;
}

std::string encode_intent(const shard_intent& intent) {
  std::vector<char> bytes;
  caf::binary_serializer sink{static_cast<caf::execution_unit*>(nullptr), bytes};
  // Serializing plain data into a vector cannot fail.
  static_cast<void>(sink(const_cast<shard_intent&>(intent)));
  return encode_envelope(value_format::raw, intent_schema,
                         std::string_view{bytes.data(), bytes.size()});
}

expected<shard_intent> decode_intent(std::string_view value, std::string_view key) {
  auto env = decode_envelope(value, key);
  if (!env) return std::move(env.error());
  if (env->format != value_format::raw || env->schema_version != intent_schema)
    return make_error(ec::corrupt_value, "intent " + printable_key(key) +
                                             ": unknown format or schema version " +
                                             std::to_string(env->schema_version));
  shard_intent intent;
  caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), env->payload.data(),
                                  env->payload.size()};
  if (auto err = source(intent))
    return make_error(ec::corrupt_value, "intent " + printable_key(key) + " does not decode");
  return intent;
}

expected<stored_intents> load_intents(const storage::backend& db, keyspace_id intents,
                                      keyspace_id meta) {
  stored_intents result;
  auto next = db.get(meta, intents_next_key);
  if (!next) return std::move(next.error());
  if (*next) {
    auto n = storage::decode_counter(**next, intents_next_key);
    if (!n) return std::move(n.error());
    result.next_id = std::max<uint64_t>(*n, 1);
  }
  auto it = db.scan_prefix(intents, {});
  if (!it) return std::move(it.error());
  for (auto& i = *it; i->valid(); i->next()) {
    auto id = decode_intent_key(i->key());
    if (!id) return std::move(id.error());
    auto intent = decode_intent(i->value(), i->key());
    if (!intent) return std::move(intent.error());
    intent->id = *id;
    result.next_id = std::max(result.next_id, *id + 1);
    result.pending.push_back(std::move(*intent));
  }
  if (auto err = (*it)->status()) return err;
  return result;
}

} // namespace telos
