// Envelope encoding and checking.
#include "telos/messages/envelope.hpp"

#include <xxhash.h>

namespace telos {

namespace {

void put_le(std::string& out, uint64_t x, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

uint64_t get_le(std::string_view in, size_t offset, size_t bytes) {
  uint64_t x = 0;
  for (size_t i = 0; i < bytes; ++i)
    x |= static_cast<uint64_t>(static_cast<uint8_t>(in[offset + i])) << (8 * i);
  return x;
}

} // namespace

std::string printable_key(std::string_view key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  auto n = std::min<size_t>(key.size(), 64);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0x0F]);
    }
  }
  if (key.size() > 64) out += "...";
  return out;
}

std::string encode_envelope(value_format format, uint16_t schema_version,
                            std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + envelope_overhead);
  out.push_back(static_cast<char>(format));
  put_le(out, schema_version, 2);
  put_le(out, payload.size(), 4);
  out.append(payload);
  put_le(out, XXH3_64bits(out.data(), out.size()), 8);
  return out;
}

std::string begin_envelope(value_format format, uint16_t schema_version, size_t payload_hint) {
  std::string out;
  out.reserve(payload_hint + envelope_overhead);
  out.push_back(static_cast<char>(format));
  put_le(out, schema_version, 2);
  put_le(out, 0, 4);
  return out;
}

void finish_envelope(std::string& out) {
  uint64_t length = out.size() - envelope_header_size;
  for (size_t i = 0; i < 4; ++i)
    out[3 + i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  put_le(out, XXH3_64bits(out.data(), out.size()), 8);
}

expected<envelope_view> decode_envelope(std::string_view value, std::string_view key) {
  auto fail = [&](const std::string& why) {
    return make_error(ec::corrupt_value, "value of key '" + printable_key(key) + "' (" +
                                             std::to_string(value.size()) + " bytes) " + why);
  };
  if (value.size() < envelope_overhead)
    return fail("is shorter than an envelope (" + std::to_string(envelope_overhead) + " bytes)");
  auto format = static_cast<uint8_t>(value[0]);
  if (format != static_cast<uint8_t>(value_format::cereal_binary) &&
      format != static_cast<uint8_t>(value_format::raw))
    return fail("has unknown format byte " + std::to_string(format) + ": not a Telos value");
  auto length = get_le(value, 3, 4);
  if (length != value.size() - envelope_overhead)
    return fail("declares a payload of " + std::to_string(length) + " bytes but holds " +
                std::to_string(value.size() - envelope_overhead) + ": truncated or corrupt");
  auto body = value.size() - envelope_trailer_size;
  auto stored = get_le(value, body, 8);
  auto actual = XXH3_64bits(value.data(), body);
  if (stored != actual) return fail("fails its checksum: corrupt");
  return envelope_view{static_cast<value_format>(format),
                       static_cast<uint16_t>(get_le(value, 1, 2)),
                       value.substr(envelope_header_size, length)};
}

} // namespace telos
