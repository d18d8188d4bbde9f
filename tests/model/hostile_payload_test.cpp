// CAF payloads a peer could send that no Telos node wrote (found by fuzz_caf_message,
// docs/FUZZ.md): a truncated id is an error, a garbage element count ends at the end of the
// bytes instead of looping through billions of elements, and a garbage count of flags allocates
// nothing.
#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/flag_list.hpp"
#include "telos/messages/graph.hpp"
#include "telos/messages/search.hpp"
#include "telos/messages/type_ids.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace telos;

namespace {

/// Reads `T` from `bytes` without an actor system (none of these types holds an actor handle).
template <class T>
caf::error read_payload(const std::string& bytes, T& out) {
  caf::binary_deserializer source{nullptr, bytes.data(), bytes.size()};
  return source(out);
}

} // namespace

BOOST_AUTO_TEST_SUITE(hostile_payload_suite)

BOOST_AUTO_TEST_CASE(a_truncated_id_does_not_read) {
  uuid id;
  BOOST_CHECK(read_payload(std::string(15, '\x07'), id));
  BOOST_CHECK(!read_payload(std::string(16, '\x07'), id));
  BOOST_CHECK_EQUAL(id.bytes[15], 7);
}

// fuzz_caf_message timeout-1eafac79d835e3971739bf95ce5a56d610796da0: a graph_path whose node count
// is 2^32-1 (a varint of 100 0xFF bytes) followed by 3 bytes.
BOOST_AUTO_TEST_CASE(a_garbage_count_of_ids_ends_with_the_bytes) {
  std::string bytes(100, '\xff');
  bytes.append(3, '\0');
  auto start = std::chrono::steady_clock::now();
  graph_path path;
  BOOST_CHECK(read_payload(bytes, path));
  std::vector<uuid> ids;
  BOOST_CHECK(read_payload(std::string{"\xff\xff\xff\xff\x0f\x01\x02", 7}, ids));
  BOOST_CHECK(ids.empty() || ids.size() < 2);
  BOOST_CHECK_MESSAGE(std::chrono::steady_clock::now() - start < std::chrono::seconds{5},
                      "reading a garbage count takes no longer than reading its bytes");
}

BOOST_AUTO_TEST_CASE(ids_still_round_trip_through_caf) {
  std::vector<uuid> ids{uuid::random(), uuid::random()};
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(ids));
  std::vector<uuid> back;
  BOOST_REQUIRE(!read_payload(std::string{buf.begin(), buf.end()}, back));
  BOOST_CHECK(back == ids);
  BOOST_CHECK_EQUAL(buf.size(), 1u + 2 * 16); // varint count, then 16 raw bytes per id
}

// fuzz_caf_message (2026-12-02, seed 1): a shard_write_result whose flags (then a
// std::vector<bool>) claimed 2^32-1 elements, a varint of 0xFF bytes, made CAF 0.17.6's own
// vector<bool> reader resize a byte vector to the count before reading it: 4 GiB from 12 bytes.
// As a flag_list the count must match packed bytes that are there.
BOOST_AUTO_TEST_CASE(a_garbage_count_of_flags_allocates_nothing) {
  const std::string garbage{"\xff\xff\xff\xff\x0f\xff\xff\xff\xff\x0f\x01\x02", 12};
  auto start = std::chrono::steady_clock::now();
  shard_write_result result;
  BOOST_CHECK(read_payload(garbage, result));
  BOOST_CHECK(result.removed.empty());
  graph_write_result graph;
  BOOST_CHECK(read_payload(garbage, graph));
  flag_list flags;
  BOOST_CHECK(read_payload(garbage, flags));
  BOOST_CHECK(flags.empty());
  BOOST_CHECK_MESSAGE(std::chrono::steady_clock::now() - start < std::chrono::seconds{5},
                      "reading a garbage count of flags takes no longer than reading its bytes");
}

BOOST_AUTO_TEST_CASE(flags_round_trip_through_caf_packed_eight_to_a_byte) {
  for (size_t n : {0u, 1u, 7u, 8u, 9u, 100u}) {
    flag_list flags;
    for (size_t i = 0; i < n; ++i)
      flags.push_back(i % 3 == 0);
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    BOOST_REQUIRE(!sink(flags));
    // A u32 count, then the packed bytes as a string (varint length).
    BOOST_CHECK_EQUAL(buf.size(), 4u + 1u + (n + 7) / 8);
    flag_list back{true};
    BOOST_REQUIRE(!read_payload(std::string{buf.begin(), buf.end()}, back));
    BOOST_CHECK(back == flags);
  }
}

BOOST_AUTO_TEST_CASE(flags_whose_count_does_not_match_their_bytes_do_not_read) {
  flag_list three{true, false, true};
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(three));
  std::string bytes{buf.begin(), buf.end()};
  flag_list back;
  BOOST_REQUIRE(!read_payload(bytes, back));
  BOOST_CHECK(back == three);
  // A bit set beyond the count: a second form of the same list.
  auto high_bit = bytes;
  high_bit.back() = static_cast<char>(high_bit.back() | 0x80);
  BOOST_CHECK(read_payload(high_bit, back));
  // One packed byte more than the count needs.
  flag_list nine(9, true);
  std::vector<char> nine_buf;
  caf::binary_serializer nine_sink{nullptr, nine_buf};
  BOOST_REQUIRE(!nine_sink(nine));
  auto more = std::string{nine_buf.begin(), nine_buf.end()};
  more.replace(0, 4, std::string(4, '\0')); // count 0 with 2 packed bytes
  BOOST_CHECK(read_payload(more, back));
}

/// Writes `x` with CAF's binary serializer and reads it back into `back`.
template <class T>
void round_trip(T& x, T& back) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(x));
  BOOST_REQUIRE(!read_payload(std::string{buf.begin(), buf.end()}, back));
}

// fuzz_caf_message timeout-ca85e60347aac9bcc3ffa69dc9255adf083975cb: a hit whose score bytes read
// as +infinity; writing it again hung in CAF 0.17.6's pack754, which halves the value until it is
// below 2. Floats now travel as bit patterns (messages/wire_float.hpp).
BOOST_AUTO_TEST_CASE(infinite_floats_read_and_write_again) {
  const std::string found{"\x00\x00\x60\x20\x00\x07\x4b\x57\x05\x00\x00\xe0\x9f\xff\xff\xff"
                          "\xff\xfb\x00\xf0\x00",
                          21};
  hit h;
  if (!read_payload(found, h)) {
    hit again;
    round_trip(h, again);
    BOOST_CHECK(std::memcmp(&again.score, &h.score, sizeof(float)) == 0);
  }
  const float inf = std::numeric_limits<float>::infinity();
  hit big{uuid::random(), inf};
  hit back;
  round_trip(big, back);
  BOOST_CHECK(back == big);
  auto v = embedding::dense({1.5f, -inf, std::numeric_limits<float>::quiet_NaN(), 0.0f});
  embedding v_back;
  round_trip(v, v_back);
  BOOST_REQUIRE_EQUAL(v_back.values.size(), 4u);
  BOOST_CHECK_EQUAL(v_back.values[0], 1.5f);
  BOOST_CHECK_EQUAL(v_back.values[1], -inf);
  BOOST_CHECK(std::isnan(v_back.values[2]));
  edge_data e{
      uuid::random(), "t", uuid::random(), "ns", std::numeric_limits<double>::infinity(), {}};
  edge_data e_back;
  round_trip(e, e_back);
  BOOST_CHECK(e_back == e);
  fused_search_request q;
  q.weights = {{"a", inf}, {"b", 0.25f}};
  fused_search_request q_back;
  round_trip(q, q_back);
  BOOST_CHECK(q_back.weights == q.weights);
}

BOOST_AUTO_TEST_SUITE_END()
