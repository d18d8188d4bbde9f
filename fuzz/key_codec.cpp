// fuzz_key_codec: the order-preserving key codec (storage/key_codec.*) and the key decoders of the
// shard layout. Input: [n][n field kinds][key bytes]. The key is read as that tuple of fields;
// whatever reads must re-encode to exactly the bytes it consumed (the encoding is canonical), a
// malformed key is ec::corrupt_value naming the keyspace, and two keys split from the input that
// both read completely must compare as bytes exactly as their tuples compare.
#include "fuzz_common.hpp"

#include "telos/storage/key_codec.hpp"
#include "telos/storage/layout.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace telos::fuzz {
namespace {

using field = std::variant<uint8_t, uint32_t, uint64_t, int64_t, std::string, uuid>;

constexpr std::string_view keyspace_name = "fuzz_keyspace";

/// Reads the fields of `kinds` from `key`; nullopt when the key does not hold them (after
/// checking the error), else the fields and how many bytes they took.
std::optional<std::pair<std::vector<field>, size_t>> read_fields(std::string_view key,
                                                                 std::string_view kinds) {
  storage::key_reader in{key, keyspace_name};
  std::vector<field> out;
  auto take = [&](auto x) {
    if (!x) {
      require(code_of(x.error()) == ec::corrupt_value, "a bad key is ec::corrupt_value");
      require(describe(x.error()).find(keyspace_name) != std::string::npos,
              "a key error names the keyspace");
      return false;
    }
    out.emplace_back(std::move(*x));
    return true;
  };
  for (char k : kinds) {
    bool ok = false;
    switch (static_cast<uint8_t>(k) % 6) {
    case 0:
      ok = take(in.u8());
      break;
    case 1:
      ok = take(in.u32());
      break;
    case 2:
      ok = take(in.u64());
      break;
    case 3:
      ok = take(in.i64());
      break;
    case 4:
      ok = take(in.string());
      break;
    default:
      ok = take(in.id());
      break;
    }
    if (!ok) return std::nullopt;
  }
  return std::make_pair(std::move(out), key.size() - in.rest().size());
}

std::string encode_fields(const std::vector<field>& fields) {
  storage::key_builder out;
  for (const auto& f : fields)
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, uint8_t>)
            out.u8(x);
          else if constexpr (std::is_same_v<T, uint32_t>)
            out.u32(x);
          else if constexpr (std::is_same_v<T, uint64_t>)
            out.u64(x);
          else if constexpr (std::is_same_v<T, int64_t>)
            out.i64(x);
          else if constexpr (std::is_same_v<T, std::string>)
            out.string(x);
          else
            out.id(x);
        },
        f);
  return out.take();
}

/// Tuple order with strings compared as unsigned bytes, the order the codec promises.
int compare_fields(const std::vector<field>& a, const std::vector<field>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    int c = std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          const auto& y = std::get<T>(b[i]);
          if constexpr (std::is_same_v<T, std::string>)
            return x.compare(y) < 0 ? -1 : (x.compare(y) > 0 ? 1 : 0);
          else if constexpr (std::is_same_v<T, uuid>)
            return x < y ? -1 : (y < x ? 1 : 0);
          else
            return x < y ? -1 : (y < x ? 1 : 0);
        },
        a[i]);
    if (c != 0) return c;
  }
  return 0;
}

void check_layout_keys(std::string_view key) {
  auto corrupt_or = [](const auto& x) {
    require(x || code_of(x.error()) == ec::corrupt_value, "a bad layout key is ec::corrupt_value");
  };
  auto id = storage::decode_id_key(key, keyspace_name);
  corrupt_or(id);
  if (id) require(storage::id_key(*id) == key, "an id key round-trips");
  auto ns = storage::decode_namespace_key(key);
  corrupt_or(ns);
  if (ns) require(storage::namespace_key(ns->ns, ns->id) == key, "a namespace key round-trips");
  auto seq = storage::decode_changelog_key(key);
  corrupt_or(seq);
  if (seq) require(storage::changelog_key(*seq) == key, "a changelog key round-trips");
  auto count = storage::decode_namespace_count_key(key);
  corrupt_or(count);
  if (count)
    require(storage::namespace_count_key(*count) == key, "a namespace count key round-trips");
  if (auto end = storage::prefix_end(key)) {
    require(*end > key, "prefix_end is above the prefix");
    require(std::string{key} + "\xff\xff\xff" < *end, "prefix_end is above every extension");
  } else {
    require(key.find_first_not_of('\xff') == std::string_view::npos,
            "only empty or all-0xFF prefixes have no end");
  }
}

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos::fuzz;
  if (size == 0) return 0;
  size_t n = data[0] % 8;
  if (size < 1 + n) return 0;
  std::string_view kinds{reinterpret_cast<const char*>(data) + 1, n};
  std::string_view key{reinterpret_cast<const char*>(data) + 1 + n, size - 1 - n};
  check_layout_keys(key);
  if (auto read = read_fields(key, kinds))
    require(encode_fields(read->first) == key.substr(0, read->second),
            "fields re-encode to the bytes they were read from");
  // Two keys of the same shape: byte order must be tuple order.
  auto half = key.size() / 2;
  auto a = read_fields(key.substr(0, half), kinds);
  auto b = read_fields(key.substr(half), kinds);
  if (a && b && a->second == half && b->second == key.size() - half) {
    auto bytes = key.substr(0, half).compare(key.substr(half));
    auto tuples = compare_fields(a->first, b->first);
    require((bytes < 0) == (tuples < 0) && (bytes == 0) == (tuples == 0),
            "byte order of keys equals the order of their tuples");
  }
  return 0;
}
