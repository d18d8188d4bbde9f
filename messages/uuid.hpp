// 16-byte ids: random version-4 and time-ordered version-7 generation, canonical text form, order
// and hashing.
#pragma once

#include "telos/messages/error.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace telos {

struct uuid {
  std::array<uint8_t, 16> bytes{};

  /// A random version-4 (RFC 4122) id from a per-thread generator seeded by the OS.
  static uuid random();
  /// A time-ordered version-7 (RFC 9562) id: 48 bits of Unix milliseconds, then a 12-bit counter
  /// that keeps the ids one thread makes strictly ascending within a millisecond (method 1 of
  /// RFC 9562 §6.2), then 62 random bits. The engine names memories with these: their keys then
  /// arrive in ascending order, and RocksDB moves flushed tables down its levels instead of
  /// merging (rewriting) them (docs/STORAGE.md, "Keys in time order").
  static uuid time_ordered();
  /// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits of either case).
  static expected<uuid> parse(std::string_view text);
  /// Reads 16 raw bytes, e.g. from a key.
  static uuid from_bytes(std::string_view raw);

  /// Lower-case canonical text.
  std::string to_string() const;
  /// The 16 bytes as a string_view (big-endian order, so byte order = id order).
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  bool is_nil() const;

  friend bool operator==(const uuid& a, const uuid& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const uuid& a, const uuid& b) { return a.bytes != b.bytes; }
  friend bool operator<(const uuid& a, const uuid& b) { return a.bytes < b.bytes; }
  friend bool operator>(const uuid& a, const uuid& b) { return b < a; }
  friend bool operator<=(const uuid& a, const uuid& b) { return !(b < a); }
  friend bool operator>=(const uuid& a, const uuid& b) { return !(a < b); }

  /// For Cereal only (values on disk). A member, not a free serialize(ar, x): CAF 0.17 prefers a
  /// free serialize over inspect and ignores the error of a read inside it, so a truncated id
  /// read successfully and a message with a garbage element count looped through billions of
  /// ids (found by fuzz_caf_message). CAF uses inspect below.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(bytes);
  }
};

inline std::string to_string(const uuid& x) {
  return x.to_string();
}

/// A stable 64-bit hash of the id (the same on every machine and run); used for shard routing.
uint64_t stable_hash(const uuid& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, uuid& x) {
  return f(caf::meta::type_name("uuid"), x.bytes);
}

} // namespace telos

template <>
struct std::hash<telos::uuid> {
  size_t operator()(const telos::uuid& x) const noexcept { return telos::stable_hash(x); }
};
