// uuid generation, parsing and printing.
#include "telos/messages/uuid.hpp"

#include <xxhash.h>

#include <chrono>
#include <random>

namespace telos {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::mt19937_64& thread_generator() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  return gen;
}

} // namespace

uuid uuid::time_ordered() {
  auto& gen = thread_generator();
  // Per thread: the last millisecond used and the counter within it. A clock that steps back
  // keeps the last millisecond, and a counter that runs out (4,096 ids in one millisecond) moves
  // on to the next one, so one thread's ids never descend.
  thread_local uint64_t last_ms = 0;
  thread_local uint32_t counter = 0;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto ms = now > 0 ? static_cast<uint64_t>(now) & 0xFFFF'FFFF'FFFFull : 0;
  if (ms > last_ms) {
    last_ms = ms;
    counter = static_cast<uint32_t>(gen() & 0x7FF); // random start, half the range left
  } else if (++counter > 0xFFF) {
    ++last_ms;
    counter = 0;
  }
  uuid result;
  for (size_t i = 0; i < 6; ++i)
    result.bytes[i] = static_cast<uint8_t>(last_ms >> (8 * (5 - i)));
  result.bytes[6] = static_cast<uint8_t>(0x70 | (counter >> 8)); // version 7
  result.bytes[7] = static_cast<uint8_t>(counter);
  auto word = gen();
  for (size_t j = 0; j < 8; ++j)
    result.bytes[8 + j] = static_cast<uint8_t>(word >> (8 * j));
  result.bytes[8] = static_cast<uint8_t>((result.bytes[8] & 0x3F) | 0x80); // RFC 4122 variant
  return result;
}

uuid uuid::random() {
  auto& gen = thread_generator();
  uuid result;
  for (size_t i = 0; i < 16; i += 8) {
    auto word = gen();
    for (size_t j = 0; j < 8; ++j)
      result.bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
  }
  result.bytes[6] = static_cast<uint8_t>((result.bytes[6] & 0x0F) | 0x40); // version 4
  result.bytes[8] = static_cast<uint8_t>((result.bytes[8] & 0x3F) | 0x80); // RFC 4122 variant
  return result;
}

expected<uuid> uuid::parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(ec::invalid_argument, "invalid id '" + std::string{text.substr(0, 64)} +
                                                "': " + why +
                                                " (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  };
  if (text.size() != 36) return bad("wrong length");
  uuid result;
  size_t out = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad("dash expected at position " + std::to_string(i));
      ++i;
      continue;
    }
    auto hi = hex_value(text[i]);
    auto lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return bad("not a hex digit");
    result.bytes[out++] = static_cast<uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return result;
}

uuid uuid::from_bytes(std::string_view raw) {
  uuid result;
  for (size_t i = 0; i < 16 && i < raw.size(); ++i)
    result.bytes[i] = static_cast<uint8_t>(raw[i]);
  return result;
}

std::string uuid::to_string() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 0x0F]);
  }
  return out;
}

bool uuid::is_nil() const {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

uint64_t stable_hash(const uuid& x) {
  return XXH3_64bits(x.bytes.data(), x.bytes.size());
}

} // namespace telos
