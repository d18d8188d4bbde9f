// The on-disk value envelope and the Cereal archives that fill it.
//
// Layout of an encoded value (all integers little-endian):
//   [0]       format byte (value_format)
//   [1..2]    schema version (u16)
//   [3..6]    payload length (u32)
//   [7..7+n)  payload
//   [7+n..)   XXH3-64 of bytes [0, 7+n)  (u64)
// A value whose size, format byte, length or checksum disagree is rejected with ec::corrupt_value
// naming the key before the payload is looked at. The input archive bounds every length it reads
// by the bytes that remain, so even a well-formed envelope around a hostile payload cannot make
// it allocate more than the value's own size.
#pragma once

#include "telos/messages/error.hpp"

#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace telos {

/// What the payload of an envelope is.
enum class value_format : uint8_t {
  cereal_binary = 0xC1,
  raw = 0xC2,
};

inline constexpr size_t envelope_header_size = 7;
inline constexpr size_t envelope_trailer_size = 8;
inline constexpr size_t envelope_overhead = envelope_header_size + envelope_trailer_size;

/// A decoded envelope; `payload` points into the decoded value.
struct envelope_view {
  value_format format;
  uint16_t schema_version;
  std::string_view payload;
};

/// Wraps a payload into an envelope.
std::string encode_envelope(value_format format, uint16_t schema_version, std::string_view payload);

/// Builds an envelope in place, without a separate payload string: begin_envelope writes the
/// header and reserves room for `payload_hint` payload bytes, the caller appends the payload to
/// the returned string, and finish_envelope fills in the length and appends the checksum. The
/// result equals encode_envelope of the same payload.
std::string begin_envelope(value_format format, uint16_t schema_version, size_t payload_hint);
void finish_envelope(std::string& out);

/// Checks and unwraps an envelope; errors name `key` (printed safely, binary bytes escaped).
expected<envelope_view> decode_envelope(std::string_view value, std::string_view key);

/// Printable form of a binary key for error messages: printable ASCII kept, the rest as \xNN,
/// cut after 64 bytes.
std::string printable_key(std::string_view key);

/// Appends Cereal output to a string, little-endian, no stream in between.
class value_output_archive
    : public cereal::OutputArchive<value_output_archive, cereal::AllowEmptyClassElision> {
public:
  explicit value_output_archive(std::string& out)
      : cereal::OutputArchive<value_output_archive, cereal::AllowEmptyClassElision>(this),
        out_(out) {}
  void save_binary(const void* data, size_t size) {
    out_.append(static_cast<const char*>(data), size);
  }

private:
  std::string& out_;
};

/// Reads Cereal input from a byte range; throws cereal::Exception on overrun, never over-reads,
/// and refuses any element count larger than the bytes left.
class value_input_archive
    : public cereal::InputArchive<value_input_archive, cereal::AllowEmptyClassElision> {
public:
  explicit value_input_archive(std::string_view in)
      : cereal::InputArchive<value_input_archive, cereal::AllowEmptyClassElision>(this), in_(in) {}
  void load_binary(void* data, size_t size) {
    if (size > in_.size() - pos_) throw cereal::Exception("value truncated");
    // An empty container hands over no buffer (data may be null): nothing to copy.
    if (size == 0) return;
    std::memcpy(data, in_.data() + pos_, size);
    pos_ += size;
  }
  void check_count(uint64_t count) const {
    if (count > in_.size() - pos_)
      throw cereal::Exception("element count " + std::to_string(count) + " exceeds value size");
  }
  size_t remaining() const { return in_.size() - pos_; }

private:
  std::string_view in_;
  size_t pos_ = 0;
};

/// Encodes `x` with Cereal into an envelope of the given schema version.
template <class T>
std::string encode_value(const T& x, uint16_t schema_version = 1) {
  auto out = begin_envelope(value_format::cereal_binary, schema_version, 0);
  {
    value_output_archive ar{out};
    ar(x);
  }
  finish_envelope(out);
  return out;
}

/// Decodes a value written by encode_value; any defect is ec::corrupt_value naming the key.
template <class T>
expected<T> decode_value(std::string_view value, std::string_view key,
                         uint16_t expected_schema_version = 1) {
  auto env = decode_envelope(value, key);
  if (!env) return std::move(env.error());
  if (env->format != value_format::cereal_binary || env->schema_version != expected_schema_version)
    return make_error(ec::corrupt_value, "value of key '" + printable_key(key) + "' has format " +
                                             std::to_string(static_cast<int>(env->format)) +
                                             " schema " + std::to_string(env->schema_version) +
                                             ", expected cereal schema " +
                                             std::to_string(expected_schema_version));
  T result{};
  try {
    value_input_archive ar{env->payload};
    ar(result);
    if (ar.remaining() != 0)
      return make_error(ec::corrupt_value, "value of key '" + printable_key(key) + "' has " +
                                               std::to_string(ar.remaining()) + " trailing bytes");
  } catch (const std::exception& e) {
    return make_error(ec::corrupt_value,
                      "value of key '" + printable_key(key) + "' does not decode: " + e.what());
  }
  return result;
}

} // namespace telos

namespace cereal {

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(telos::value_output_archive& ar,
                                                                    const T& t) {
  ar.save_binary(std::addressof(t), sizeof(t));
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(telos::value_input_archive& ar,
                                                                    T& t) {
  ar.load_binary(std::addressof(t), sizeof(t));
}

/// A bool is one byte, 0 or 1: any other byte is a damaged value (and copying it into a bool would
/// make a bool that is neither, which is undefined behaviour to read).
inline void CEREAL_LOAD_FUNCTION_NAME(telos::value_input_archive& ar, bool& t) {
  uint8_t byte = 0;
  static_assert(sizeof(bool) == sizeof(byte));
  ar.load_binary(&byte, sizeof(byte));
  if (byte > 1) throw cereal::Exception("a bool holds " + std::to_string(byte));
  t = byte == 1;
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(telos::value_output_archive& ar, const NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(telos::value_input_archive& ar, NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(telos::value_output_archive& ar, const SizeTag<T>& t) {
  uint64_t n = static_cast<uint64_t>(t.size);
  ar.save_binary(&n, sizeof(n));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(telos::value_input_archive& ar, SizeTag<T>& t) {
  uint64_t n = 0;
  ar.load_binary(&n, sizeof(n));
  ar.check_count(n);
  t.size = static_cast<std::remove_reference_t<T>>(n);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(telos::value_output_archive& ar, const BinaryData<T>& bd) {
  ar.save_binary(bd.data, static_cast<size_t>(bd.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(telos::value_input_archive& ar, BinaryData<T>& bd) {
  ar.load_binary(bd.data, static_cast<size_t>(bd.size));
}

} // namespace cereal

CEREAL_REGISTER_ARCHIVE(telos::value_output_archive)
CEREAL_REGISTER_ARCHIVE(telos::value_input_archive)
CEREAL_SETUP_ARCHIVE_TRAITS(telos::value_input_archive, telos::value_output_archive)
