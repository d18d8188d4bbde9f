// The one order-preserving binary key encoder of Telos: every keyspace builds its keys with
// key_builder and takes them apart with key_reader, so byte order of encoded keys equals the
// order of the encoded tuples (big-endian integers, sign-flipped signed integers, escaped and
// terminated strings, raw 16-byte uuids).
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/storage/backend.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace telos::storage {

/// Appends fields to a key. Each field keeps the tuple order under bytewise comparison:
/// * u8/u32/u64: big-endian;
/// * i64: big-endian with the sign bit flipped, so negative values sort first;
/// * string: bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x01, so a string sorts
///   before every longer string it prefixes and may contain any byte;
/// * uuid: its 16 bytes (already in id order);
/// * raw: bytes as given (only as the last field, or of fixed length).
class key_builder {
public:
  key_builder() = default;
  explicit key_builder(size_t reserve) { key_.reserve(reserve); }

  key_builder& u8(uint8_t x) {
    key_.push_back(static_cast<char>(x));
    return *this;
  }
  key_builder& u32(uint32_t x);
  key_builder& u64(uint64_t x);
  key_builder& i64(int64_t x);
  key_builder& string(std::string_view x);
  key_builder& id(const uuid& x) {
    key_.append(x.view());
    return *this;
  }
  key_builder& raw(std::string_view x) {
    key_.append(x);
    return *this;
  }

  const std::string& str() const& { return key_; }
  /// Moves the key out; the builder is empty afterwards.
  std::string take() { return std::move(key_); }

private:
  std::string key_;
};

/// Reads the fields written by key_builder, in the same order. Every read checks the bytes
/// that remain; a short or malformed key is ec::corrupt_value naming the keyspace and the key.
class key_reader {
public:
  /// `what` names the key's keyspace in error messages.
  key_reader(std::string_view key, std::string_view what) : key_(key), what_(what) {}

  expected<uint8_t> u8();
  expected<uint32_t> u32();
  expected<uint64_t> u64();
  expected<int64_t> i64();
  expected<std::string> string();
  expected<uuid> id();
  /// Everything not read yet.
  std::string_view rest() const { return key_.substr(pos_); }
  bool done() const { return pos_ == key_.size(); }
  /// ec::corrupt_value unless every byte was read.
  expected<void> expect_done() const;

private:
  caf::error fail(const std::string& why) const;
  expected<uint64_t> unsigned_be(size_t width);

  std::string_view key_;
  std::string_view what_;
  size_t pos_ = 0;
};

/// Writes x big-endian into 8 bytes at out.
void store_u64_be(char* out, uint64_t x);
/// Reads 8 big-endian bytes at in (the caller checked the length).
uint64_t load_u64_be(const char* in);

/// The smallest key greater than every key that starts with `prefix`, or nullopt when no such
/// key exists (the prefix is empty or all 0xFF bytes).
std::optional<std::string> prefix_end(std::string_view prefix);

/// The range of all keys that start with `prefix`.
key_range prefix_range(std::string_view prefix);

/// The keys that start with `prefix` and sort strictly after `after` (itself such a key).
key_range prefix_range_after(std::string_view prefix, std::string after);

} // namespace telos::storage
