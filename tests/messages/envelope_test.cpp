// The value envelope rejects every corruption and truncation with an error naming the key.
#include "telos/messages/envelope.hpp"

#include <boost/test/unit_test.hpp>
#include <xxhash.h>

#include <map>
#include <vector>

using namespace telos;

namespace {

struct sample {
  std::string text;
  std::vector<float> numbers;
  std::map<std::string, std::string> attributes;
  uint64_t stamp = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(text, numbers, attributes, stamp);
  }

  friend bool operator==(const sample& a, const sample& b) {
    return a.text == b.text && a.numbers == b.numbers && a.attributes == b.attributes &&
           a.stamp == b.stamp;
  }
};

sample make_sample() {
  return {"héllo wörld", {1.5f, -2.0f, 3.25f}, {{"k", "v"}, {"lang", "de"}}, 1700000000000};
}

} // namespace

BOOST_AUTO_TEST_SUITE(envelope)

BOOST_AUTO_TEST_CASE(round_trip_gives_back_the_value) {
  auto encoded = encode_value(make_sample());
  auto decoded = decode_value<sample>(encoded, "k1");
  BOOST_REQUIRE(decoded);
  BOOST_CHECK(*decoded == make_sample());
}

// The stored checksum is plain XXH3-64 of the bytes before it (envelope.hpp), over a value long
// enough for XXH3's vectorised long-input path.
BOOST_AUTO_TEST_CASE(checksum_is_plain_xxh3_of_the_bytes_before_it) {
  auto value = make_sample();
  value.numbers.assign(4096, 0.25f); // 16 KiB: XXH3's long-input (vectorised) path
  for (size_t i = 0; i < value.numbers.size(); ++i)
    value.numbers[i] += static_cast<float>(i % 97);
  auto encoded = encode_value(value);
  BOOST_REQUIRE_GT(encoded.size(), 16384u + 8);
  auto body = encoded.size() - 8;
  uint64_t stored = 0;
  for (size_t i = 0; i < 8; ++i)
    stored |= static_cast<uint64_t>(static_cast<uint8_t>(encoded[body + i])) << (8 * i);
  BOOST_CHECK_EQUAL(stored, XXH3_64bits(encoded.data(), body));
  BOOST_CHECK(decode_value<sample>(encoded, "k"));
}

BOOST_AUTO_TEST_CASE(every_flipped_byte_is_detected_and_names_the_key) {
  auto encoded = encode_value(make_sample());
  for (size_t i = 0; i < encoded.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      auto bad = encoded;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      auto decoded = decode_value<sample>(bad, std::string{"rec\x01"});
      BOOST_REQUIRE_MESSAGE(!decoded, "flip at " << i << " went unnoticed");
      BOOST_CHECK(code_of(decoded.error()) == ec::corrupt_value);
      BOOST_CHECK(describe(decoded.error()).find("rec\\x01") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(every_truncation_is_detected) {
  auto encoded = encode_value(make_sample());
  for (size_t n = 0; n < encoded.size(); ++n) {
    auto decoded = decode_value<sample>(std::string_view{encoded}.substr(0, n), "k");
    BOOST_REQUIRE_MESSAGE(!decoded, "truncation to " << n << " went unnoticed");
    BOOST_CHECK(code_of(decoded.error()) == ec::corrupt_value);
  }
}

BOOST_AUTO_TEST_CASE(foreign_bytes_are_not_a_telos_value) {
  auto decoded = decode_value<sample>("just some text that is long enough", "k");
  BOOST_REQUIRE(!decoded);
  BOOST_CHECK(describe(decoded.error()).find("not a Telos value") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_valid_envelope_around_a_hostile_length_does_not_allocate) {
  // A payload claiming a string of 2^60 bytes, wrapped in a correct envelope and checksum.
  std::string payload(8, '\0');
  payload[7] = 0x10;
  auto value = encode_envelope(value_format::cereal_binary, 1, payload);
  auto decoded = decode_value<sample>(value, "k");
  BOOST_REQUIRE(!decoded);
  BOOST_CHECK(describe(decoded.error()).find("exceeds value size") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bool_that_is_neither_0_nor_1_is_a_damaged_value) {
  // A correct envelope and checksum around a bool byte of 2 (found by fuzz_index_snapshot: a
  // snapshot's meta data with such a byte became a bool that was neither).
  for (uint8_t byte : {0, 1, 2, 0x46, 0xFF}) {
    BOOST_TEST_CONTEXT("byte " << int{byte}) {
      auto value =
          encode_envelope(value_format::cereal_binary, 1, std::string(1, static_cast<char>(byte)));
      auto decoded = decode_value<bool>(value, "k");
      if (byte <= 1) {
        BOOST_REQUIRE(decoded);
        BOOST_CHECK_EQUAL(*decoded, byte == 1);
      } else {
        BOOST_REQUIRE(!decoded);
        BOOST_CHECK(code_of(decoded.error()) == ec::corrupt_value);
        BOOST_CHECK_NE(describe(decoded.error()).find("a bool holds " + std::to_string(byte)),
                       std::string::npos);
      }
    }
  }
  BOOST_CHECK(*decode_value<bool>(encode_value(true), "k"));
  BOOST_CHECK(!*decode_value<bool>(encode_value(false), "k"));
}

BOOST_AUTO_TEST_CASE(an_envelope_built_in_place_equals_one_built_around_a_payload) {
  for (size_t size : {0, 1, 7, 300, 70000}) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i)
      payload[i] = static_cast<char>(i * 31 + 7);
    for (size_t hint : {size_t{0}, size}) {
      auto in_place = begin_envelope(value_format::raw, 3, hint);
      in_place.append(payload);
      finish_envelope(in_place);
      BOOST_CHECK(in_place == encode_envelope(value_format::raw, 3, payload));
      auto decoded = decode_envelope(in_place, "k");
      BOOST_REQUIRE(decoded);
      BOOST_CHECK(decoded->payload == payload);
    }
  }
}

BOOST_AUTO_TEST_CASE(wrong_schema_version_is_reported) {
  auto encoded = encode_value(make_sample(), 2);
  auto decoded = decode_value<sample>(encoded, "k", 1);
  BOOST_REQUIRE(!decoded);
  BOOST_CHECK(describe(decoded.error()).find("schema 2") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
