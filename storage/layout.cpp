// Keys and values of the shard layout (see layout.hpp for the table of keyspaces).
#include "telos/storage/layout.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

#include <cstring>
#include <set>

namespace telos::storage {

namespace {

constexpr uint16_t record_schema = 1;
constexpr uint16_t vector_schema = 1;

constexpr bool little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

void append_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

uint32_t read_u32(const char* in) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return x;
}

// Floats and u32 arrays travel as little-endian blocks; on little-endian hosts that is a copy.
template <class T>
void append_block(std::string& out, const T* data, size_t n) {
  static_assert(sizeof(T) == 4);
  if constexpr (little_endian) {
    out.append(reinterpret_cast<const char*>(data), n * 4);
  } else {
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, data + i, 4);
      append_u32(out, bits);
    }
  }
}

template <class T>
void read_block(const char* in, T* out, size_t n) {
  static_assert(sizeof(T) == 4);
  // An empty vector's data() may be null, and memcpy from or to null is undefined even for 0
  // bytes (a sparse embedding without entries; found by fuzz_envelope).
  if (n == 0) return;
  if constexpr (little_endian) {
    std::memcpy(out, in, n * 4);
  } else {
    for (size_t i = 0; i < n; ++i) {
      auto bits = read_u32(in + 4 * i);
      std::memcpy(out + i, &bits, 4);
    }
  }
}

std::string describe_spec(const embedder& spec) {
  return "embedder '" + spec.name + "' (" + to_string(spec.kind) + ", dim " +
         std::to_string(spec.dim) + ")";
}

template <class T>
expected<T> decode_meta_value(std::string_view value, std::string_view key) {
  return decode_value<T>(value, key);
}

} // namespace

std::string vector_keyspace(std::string_view embedder_name) {
  std::string name{vector_keyspace_prefix};
  name.append(embedder_name);
  return name;
}

expected<shard_layout> shard_layout::make(const telos::profile& p,
                                          const std::vector<std::string>& extra) {
  shard_layout result;
  result.profile_ = p;
  result.names_ = {std::string{records_keyspace}, std::string{namespaces_keyspace},
                   std::string{meta_keyspace}, std::string{changelog_keyspace}};
  for (const auto& e : p.embedders)
    result.names_.push_back(vector_keyspace(e.name));
  std::set<std::string> seen{result.names_.begin(), result.names_.end()};
  if (seen.size() != result.names_.size())
    return make_error(ec::invalid_argument,
                      "profile '" + p.name + "' names an embedder twice: keyspaces would collide");
  for (const auto& name : extra) {
    if (!seen.insert(name).second)
      return make_error(ec::invalid_argument,
                        "row contributor keyspace '" + name +
                            "' is declared twice or collides with a core keyspace");
    result.names_.push_back(name);
  }
  return result;
}

expected<keyspace_id> shard_layout::keyspace(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<keyspace_id>(i);
  return make_error(ec::unknown_keyspace,
                    "keyspace '" + std::string{name} + "' is not part of this shard's layout");
}

// -- keys -----------------------------------------------------------------------------------------

std::string_view id_key(const uuid& id) {
  return id.view();
}

expected<uuid> decode_id_key(std::string_view key, std::string_view keyspace_name) {
  if (key.size() != 16)
    return make_error(ec::corrupt_value, "key '" + printable_key(key) + "' in keyspace '" +
                                             std::string{keyspace_name} + "' has " +
                                             std::to_string(key.size()) +
                                             " bytes, expected a 16-byte id");
  return uuid::from_bytes(key);
}

std::string namespace_key(std::string_view ns, const uuid& id) {
  return key_builder{ns.size() + 20}.string(ns).id(id).take();
}

std::string namespace_prefix(std::string_view ns) {
  return key_builder{ns.size() + 2}.string(ns).take();
}

expected<namespace_row> decode_namespace_key(std::string_view key) {
  key_reader reader{key, namespaces_keyspace};
  auto ns = reader.string();
  if (!ns) return std::move(ns.error());
  auto id = reader.id();
  if (!id) return std::move(id.error());
  if (auto done = reader.expect_done(); !done) return std::move(done.error());
  return namespace_row{std::move(*ns), *id};
}

std::string changelog_key(uint64_t sequence) {
  return key_builder{8}.u64(sequence).take();
}

expected<uint64_t> decode_changelog_key(std::string_view key) {
  key_reader reader{key, changelog_keyspace};
  auto seq = reader.u64();
  if (!seq) return seq;
  if (auto done = reader.expect_done(); !done) return std::move(done.error());
  return seq;
}

std::string namespace_count_key(std::string_view ns) {
  return key_builder{ns.size() + 8}.raw(meta_keys::namespace_count_prefix).string(ns).take();
}

expected<std::string> decode_namespace_count_key(std::string_view key) {
  auto prefix = meta_keys::namespace_count_prefix;
  if (key.substr(0, prefix.size()) != prefix)
    return make_error(ec::corrupt_value, "key '" + printable_key(key) +
                                             "' in keyspace 'meta' is not a namespace counter");
  key_reader reader{key.substr(prefix.size()), meta_keyspace};
  auto ns = reader.string();
  if (!ns) return ns;
  if (auto done = reader.expect_done(); !done) return std::move(done.error());
  return ns;
}

std::string snapshot_key(std::string_view embedder_name) {
  std::string key{meta_keys::snapshot_prefix};
  key.append(embedder_name);
  return key;
}

// -- values ---------------------------------------------------------------------------------------

std::string encode_record(const memory& m) {
  auto out = begin_envelope(value_format::cereal_binary, record_schema,
                            64 + m.ns.size() + m.content.size());
  {
    value_output_archive ar{out};
    ar(m.id, m.ns, m.content, m.attributes, m.created_at, m.updated_at);
  }
  finish_envelope(out);
  return out;
}

expected<memory> decode_record(std::string_view value, std::string_view key) {
  auto env = decode_envelope(value, key);
  if (!env) return std::move(env.error());
  if (env->format != value_format::cereal_binary || env->schema_version != record_schema)
    return make_error(ec::corrupt_value, "record of key '" + printable_key(key) + "' has format " +
                                             std::to_string(static_cast<int>(env->format)) +
                                             " schema " + std::to_string(env->schema_version) +
                                             ", expected cereal schema " +
                                             std::to_string(record_schema));
  memory m;
  try {
    value_input_archive ar{env->payload};
    ar(m.id, m.ns, m.content, m.attributes, m.created_at, m.updated_at);
    if (ar.remaining() != 0)
      return make_error(ec::corrupt_value, "record of key '" + printable_key(key) + "' has " +
                                               std::to_string(ar.remaining()) + " trailing bytes");
  } catch (const std::exception& e) {
    return make_error(ec::corrupt_value,
                      "record of key '" + printable_key(key) + "' does not decode: " + e.what());
  }
  if (m.id.view() != key)
    return make_error(ec::corrupt_value, "record of key '" + printable_key(key) +
                                             "' holds the id " + m.id.to_string() +
                                             " of another key");
  return m;
}

std::string encode_vector(const embedder& spec, const embedding& e) {
  std::string out;
  switch (spec.kind) {
  case embedder_kind::dense:
    out = begin_envelope(value_format::raw, vector_schema, e.values.size() * 4);
    append_block(out, e.values.data(), e.values.size());
    break;
  case embedder_kind::sparse:
    out = begin_envelope(value_format::raw, vector_schema, 4 + e.indices.size() * 8);
    append_u32(out, static_cast<uint32_t>(e.indices.size()));
    append_block(out, e.indices.data(), e.indices.size());
    append_block(out, e.values.data(), e.values.size());
    break;
  case embedder_kind::multi:
    out = begin_envelope(value_format::raw, vector_schema, 4 + e.values.size() * 4);
    append_u32(out, static_cast<uint32_t>(e.tokens(spec.dim)));
    append_block(out, e.values.data(), e.values.size());
    break;
  }
  finish_envelope(out);
  return out;
}

namespace {

caf::error vector_error(const embedder& spec, std::string_view key, const std::string& why) {
  return make_error(ec::corrupt_value, "vector of key '" + printable_key(key) + "' for " +
                                           describe_spec(spec) + " " + why);
}

/// The payload of a vector block: its envelope checked, raw format of the vector schema.
expected<std::string_view> vector_payload(const embedder& spec, std::string_view value,
                                          std::string_view key) {
  auto env = decode_envelope(value, key);
  if (!env) return std::move(env.error());
  if (env->format != value_format::raw || env->schema_version != vector_schema)
    return vector_error(spec, key,
                        "has format " + std::to_string(static_cast<int>(env->format)) + " schema " +
                            std::to_string(env->schema_version) + ", expected raw schema " +
                            std::to_string(vector_schema));
  return env->payload;
}

} // namespace

expected<size_t> decode_vector_floats(const embedder& spec, std::string_view value,
                                      std::string_view key, std::vector<float>& out) {
  auto payload = vector_payload(spec, value, key);
  if (!payload) return std::move(payload.error());
  size_t floats = 0;
  const char* first = payload->data();
  switch (spec.kind) {
  case embedder_kind::dense:
    floats = spec.dim;
    if (payload->size() != floats * 4)
      return vector_error(spec, key,
                          "has " + std::to_string(payload->size()) + " bytes, expected " +
                              std::to_string(floats * 4));
    break;
  case embedder_kind::multi: {
    if (payload->size() < 4)
      return vector_error(spec, key, "is shorter than its 4-byte token count");
    auto tokens = static_cast<size_t>(read_u32(payload->data()));
    floats = tokens * spec.dim;
    if (tokens == 0 || payload->size() != 4 + floats * 4)
      return vector_error(spec, key,
                          "declares " + std::to_string(tokens) + " tokens but has " +
                              std::to_string(payload->size()) + " bytes");
    first += 4;
    break;
  }
  case embedder_kind::sparse:
    return make_error(ec::invalid_argument,
                      "decode_vector_floats: " + describe_spec(spec) + " is not dense or multi");
  }
  if (out.size() < floats) out.resize(floats);
  read_block(first, out.data(), floats);
  return floats;
}

expected<embedding> decode_vector(const embedder& spec, std::string_view value,
                                  std::string_view key) {
  auto checked = vector_payload(spec, value, key);
  if (!checked) return std::move(checked.error());
  auto fail = [&](const std::string& why) { return vector_error(spec, key, why); };
  auto payload = *checked;
  embedding result;
  switch (spec.kind) {
  case embedder_kind::dense: {
    auto expected_size = static_cast<size_t>(spec.dim) * 4;
    if (payload.size() != expected_size)
      return fail("has " + std::to_string(payload.size()) + " bytes, expected " +
                  std::to_string(expected_size));
    result.values.resize(spec.dim);
    read_block(payload.data(), result.values.data(), spec.dim);
    break;
  }
  case embedder_kind::sparse: {
    if (payload.size() < 4) return fail("is shorter than its 4-byte entry count");
    auto count = static_cast<size_t>(read_u32(payload.data()));
    if (payload.size() != 4 + count * 8)
      return fail("declares " + std::to_string(count) + " entries (" +
                  std::to_string(4 + count * 8) + " bytes) but has " +
                  std::to_string(payload.size()) + " bytes");
    result.indices.resize(count);
    result.values.resize(count);
    read_block(payload.data() + 4, result.indices.data(), count);
    read_block(payload.data() + 4 + count * 4, result.values.data(), count);
    for (size_t i = 0; i < count; ++i) {
      if (result.indices[i] >= spec.dim)
        return fail("has index " + std::to_string(result.indices[i]) + " beyond the vocabulary");
      if (i > 0 && result.indices[i] <= result.indices[i - 1])
        return fail("has indices out of order at entry " + std::to_string(i));
    }
    break;
  }
  case embedder_kind::multi: {
    if (payload.size() < 4) return fail("is shorter than its 4-byte token count");
    auto tokens = static_cast<size_t>(read_u32(payload.data()));
    auto floats = tokens * spec.dim;
    if (tokens == 0 || payload.size() != 4 + floats * 4)
      return fail("declares " + std::to_string(tokens) + " tokens but has " +
                  std::to_string(payload.size()) + " bytes");
    result.values.resize(floats);
    read_block(payload.data() + 4, result.values.data(), floats);
    break;
  }
  }
  return result;
}

std::string encode_counter(uint64_t x) {
  return encode_value(x);
}

expected<uint64_t> decode_counter(std::string_view value, std::string_view key) {
  return decode_meta_value<uint64_t>(value, key);
}

std::string encode_changelog_entry(const changelog_entry& e) {
  return encode_value(e);
}

expected<changelog_entry> decode_changelog_entry(std::string_view value, std::string_view key) {
  return decode_meta_value<changelog_entry>(value, key);
}

namespace {

/// Schema 1 of a snapshot marker: sequence and token.
struct marker_v1 {
  uint64_t sequence = 0;
  uuid token;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(sequence, token);
  }
};

/// Schema 2: and the delta's token.
struct marker_v2 {
  uint64_t sequence = 0;
  uuid token;
  uuid delta;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(sequence, token, delta);
  }
};

} // namespace

std::string encode_snapshot_marker(const snapshot_marker& m) {
  if (!m.has_delta()) return encode_value(marker_v1{m.sequence, m.token});
  return encode_value(marker_v2{m.sequence, m.token, m.delta}, 2);
}

expected<snapshot_marker> decode_snapshot_marker(std::string_view value, std::string_view key) {
  auto env = decode_envelope(value, key);
  if (env && env->schema_version == 2) {
    auto m = decode_value<marker_v2>(value, key, 2);
    if (!m) return std::move(m.error());
    return snapshot_marker{m->sequence, m->token, m->delta};
  }
  auto m = decode_meta_value<marker_v1>(value, key);
  if (!m) return std::move(m.error());
  return snapshot_marker{m->sequence, m->token, uuid{}};
}

std::string encode_profile(const telos::profile& p) {
  return encode_value(p);
}

expected<telos::profile> decode_profile(std::string_view value, std::string_view key) {
  return decode_meta_value<telos::profile>(value, key);
}

} // namespace telos::storage
