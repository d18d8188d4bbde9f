// fuzz_envelope: the value envelope and every Cereal/raw value decoder the storage layer reads
// back from a backend (records, vectors per embedder kind, profiles, changelog entries, snapshot
// markers, counters, edge properties). Input: [selector][value]. Selector bit 7 set: the value is
// passed as stored bytes (checks the envelope itself); clear: the value is [format][schema
// u16][payload] and gets a valid length and checksum (fuzz_common.hpp), so the payload decoders
// see hostile payloads. Each decoder must return a value or a clear error naming the key, and a
// decoded value must encode and decode back to the same bytes.
#include "fuzz_common.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/storage/edges.hpp"
#include "telos/storage/layout.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace telos::fuzz {
namespace {

constexpr std::string_view fuzz_key = "fuzz-key";

/// An error about a value must name its key (printable_key leaves "fuzz-key" as it is).
void require_names_key(const caf::error& err, std::string_view key) {
  auto text = describe(err);
  require(code_of(err) == ec::corrupt_value, "a bad value is ec::corrupt_value");
  require(text.find(printable_key(key)) != std::string::npos, "the error names the key");
}

template <class T>
void check_value(std::string_view value, uint16_t schema) {
  auto decoded = decode_value<T>(value, fuzz_key, schema);
  if (!decoded) return require_names_key(decoded.error(), fuzz_key);
  auto again = encode_value(*decoded, schema);
  auto round = decode_value<T>(again, fuzz_key, schema);
  require(static_cast<bool>(round), "a decoded value decodes again after encoding");
  require(encode_value(*round, schema) == again, "encoding is stable across a round trip");
}

void check_vector(const embedder& spec, std::string_view value) {
  auto decoded = storage::decode_vector(spec, value, fuzz_key);
  if (!decoded) return require_names_key(decoded.error(), fuzz_key);
  auto round = storage::decode_vector(spec, storage::encode_vector(spec, *decoded), fuzz_key);
  require(static_cast<bool>(round), "a decoded vector decodes again after encoding");
  require(storage::encode_vector(spec, *round) == storage::encode_vector(spec, *decoded),
          "vector encoding is stable across a round trip");
}

void check_record(std::string_view value) {
  // decode_record insists that the record's id equals its key: use the id the payload holds.
  std::string key = value.size() >= envelope_header_size + 16
                        ? std::string{value.substr(envelope_header_size, 16)}
                        : std::string{fuzz_key};
  auto decoded = storage::decode_record(value, key);
  if (!decoded) return require_names_key(decoded.error(), key);
  auto round = storage::decode_record(storage::encode_record(*decoded), key);
  require(round && *round == *decoded, "a decoded record round-trips");
}

void check_all(uint8_t which, std::string_view value) {
  switch (which % 12) {
  case 0:
    return check_value<memory>(value, 1);
  case 1: {
    check_value<profile>(value, 1);
    auto p = storage::decode_profile(value, fuzz_key);
    if (!p) require_names_key(p.error(), fuzz_key);
    return;
  }
  case 2:
    return check_value<embedding>(value, 1);
  case 3:
    return check_value<limits>(value, 1);
  case 4:
    return check_record(value);
  case 5:
    return check_vector({"d", embedder_kind::dense, 4, metric::cosine}, value);
  case 6:
    return check_vector({"s", embedder_kind::sparse, 100, metric::dot}, value);
  case 7:
    return check_vector({"m", embedder_kind::multi, 3, metric::cosine}, value);
  case 8: {
    auto e = storage::decode_changelog_entry(value, fuzz_key);
    if (!e) return require_names_key(e.error(), fuzz_key);
    auto round = storage::decode_changelog_entry(storage::encode_changelog_entry(*e), fuzz_key);
    require(round && round->written == e->written && round->removed == e->removed,
            "a changelog entry round-trips");
    return;
  }
  case 9: {
    auto m = storage::decode_snapshot_marker(value, fuzz_key);
    if (!m) return require_names_key(m.error(), fuzz_key);
    auto round = storage::decode_snapshot_marker(storage::encode_snapshot_marker(*m), fuzz_key);
    require(round && *round == *m, "a snapshot marker round-trips");
    return;
  }
  case 10: {
    auto n = storage::decode_counter(value, fuzz_key);
    if (!n) return require_names_key(n.error(), fuzz_key);
    auto round = storage::decode_counter(storage::encode_counter(*n), fuzz_key);
    require(round && *round == *n, "a counter round-trips");
    return;
  }
  default:
    return check_value<storage::edge_properties>(value, 1);
  }
}

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos::fuzz;
  if (size == 0) return 0;
  std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  if (data[0] & 0x80) {
    auto env = telos::decode_envelope(input, fuzz_key);
    if (env) {
      require(env->payload.size() + telos::envelope_overhead == input.size(),
              "the payload is the value less the envelope");
    } else {
      require_names_key(env.error(), fuzz_key);
    }
    check_all(data[0], input);
  } else {
    check_all(data[0], envelope_of(input));
  }
  return 0;
}
