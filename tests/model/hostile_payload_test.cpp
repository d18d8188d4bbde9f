// CAF payloads a peer could send that no Telos node wrote (found by fuzz_caf_message,
// docs/FUZZ.md): a truncated id is an error, and a garbage element count ends at the end of the
// bytes instead of looping through billions of elements.
#include "telos/messages/graph.hpp"
#include "telos/messages/type_ids.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
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

BOOST_AUTO_TEST_SUITE_END()
