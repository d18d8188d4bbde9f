// Order-preserving key encoding (see key_codec.hpp for the layout of each field).
#include "telos/storage/key_codec.hpp"

#include "telos/messages/envelope.hpp"

namespace telos::storage {

namespace {

constexpr char string_escape = '\x00';
constexpr char escaped_zero = '\xFF';
constexpr char string_terminator = '\x01';
constexpr uint64_t sign_bit = uint64_t{1} << 63;

} // namespace

void store_u64_be(char* out, uint64_t x) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xFF);
    x >>= 8;
  }
}

uint64_t load_u64_be(const char* in) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

key_builder& key_builder::u32(uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8)
    key_.push_back(static_cast<char>((x >> shift) & 0xFF));
  return *this;
}

key_builder& key_builder::u64(uint64_t x) {
  char buf[8];
  store_u64_be(buf, x);
  key_.append(buf, 8);
  return *this;
}

key_builder& key_builder::i64(int64_t x) {
  return u64(static_cast<uint64_t>(x) ^ sign_bit);
}

key_builder& key_builder::string(std::string_view x) {
  for (char c : x) {
    key_.push_back(c);
    if (c == string_escape) key_.push_back(escaped_zero);
  }
  key_.push_back(string_escape);
  key_.push_back(string_terminator);
  return *this;
}

caf::error key_reader::fail(const std::string& why) const {
  return make_error(ec::corrupt_value, "key '" + printable_key(key_) + "' in keyspace '" +
                                           std::string{what_} + "' at byte " +
                                           std::to_string(pos_) + ": " + why);
}

expected<uint64_t> key_reader::unsigned_be(size_t width) {
  if (key_.size() - pos_ < width)
    return fail("expected a " + std::to_string(width) + "-byte integer, found " +
                std::to_string(key_.size() - pos_) + " bytes");
  uint64_t x = 0;
  for (size_t i = 0; i < width; ++i)
    x = (x << 8) | static_cast<uint8_t>(key_[pos_ + i]);
  pos_ += width;
  return x;
}

expected<uint8_t> key_reader::u8() {
  auto x = unsigned_be(1);
  if (!x) return std::move(x.error());
  return static_cast<uint8_t>(*x);
}

expected<uint32_t> key_reader::u32() {
  auto x = unsigned_be(4);
  if (!x) return std::move(x.error());
  return static_cast<uint32_t>(*x);
}

expected<uint64_t> key_reader::u64() {
  return unsigned_be(8);
}

expected<int64_t> key_reader::i64() {
  auto x = unsigned_be(8);
  if (!x) return std::move(x.error());
  return static_cast<int64_t>(*x ^ sign_bit);
}

expected<std::string> key_reader::string() {
  std::string out;
  for (size_t i = pos_; i < key_.size(); ++i) {
    if (key_[i] != string_escape) {
      out.push_back(key_[i]);
      continue;
    }
    if (i + 1 == key_.size()) break;
    if (key_[i + 1] == string_terminator) {
      pos_ = i + 2;
      return out;
    }
    if (key_[i + 1] != escaped_zero)
      return fail("string holds the invalid escape 0x00 0x" + printable_key(key_.substr(i + 1, 1)));
    out.push_back('\0');
    ++i;
  }
  return fail("string has no terminator");
}

expected<uuid> key_reader::id() {
  if (key_.size() - pos_ < 16)
    return fail("expected a 16-byte id, found " + std::to_string(key_.size() - pos_) + " bytes");
  auto x = uuid::from_bytes(key_.substr(pos_, 16));
  pos_ += 16;
  return x;
}

expected<void> key_reader::expect_done() const {
  if (done()) return {};
  return fail(std::to_string(key_.size() - pos_) + " unexpected trailing bytes");
}

std::optional<std::string> prefix_end(std::string_view prefix) {
  std::string end{prefix};
  while (!end.empty()) {
    auto last = static_cast<uint8_t>(end.back());
    if (last != 0xFF) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

key_range prefix_range(std::string_view prefix) {
  key_range range;
  if (!prefix.empty()) range.begin = std::string{prefix};
  range.end = prefix_end(prefix);
  return range;
}

key_range prefix_range_after(std::string_view prefix, std::string after) {
  key_range range;
  range.begin = std::move(after);
  range.begin_inclusive = false;
  range.end = prefix_end(prefix);
  return range;
}

} // namespace telos::storage
