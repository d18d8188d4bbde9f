// uuid text form, generation and ordering.
#include "telos/messages/uuid.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

using namespace telos;

BOOST_AUTO_TEST_SUITE(uuid_suite)

BOOST_AUTO_TEST_CASE(random_ids_are_version4_and_distinct) {
  std::set<uuid> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = uuid::random();
    BOOST_CHECK_EQUAL(id.bytes[6] >> 4, 4);
    BOOST_CHECK_EQUAL(id.bytes[8] >> 6, 2);
    seen.insert(id);
  }
  BOOST_CHECK_EQUAL(seen.size(), 10000u);
}

BOOST_AUTO_TEST_CASE(time_ordered_ids_are_version7_ascending_and_carry_the_time) {
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  // More ids than one millisecond's counter holds, so the counter's overflow is crossed too.
  std::vector<uuid> ids;
  for (int i = 0; i < 20000; ++i)
    ids.push_back(uuid::time_ordered());
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  for (size_t i = 0; i < ids.size(); ++i) {
    BOOST_CHECK_EQUAL(ids[i].bytes[6] >> 4, 7);
    BOOST_CHECK_EQUAL(ids[i].bytes[8] >> 6, 2);
    if (i > 0) BOOST_CHECK(ids[i - 1] < ids[i]);
  }
  auto millis = [](const uuid& id) {
    int64_t ms = 0;
    for (size_t i = 0; i < 6; ++i)
      ms = (ms << 8) | id.bytes[i];
    return ms;
  };
  BOOST_CHECK_GE(millis(ids.front()), before);
  // A counter overflow may run up to a few milliseconds ahead of the clock, never further.
  BOOST_CHECK_LE(millis(ids.back()), after + 20000 / 4096 + 1);
  // Another thread's ids are distinct from these.
  std::vector<uuid> other;
  std::thread t{[&] {
    for (int i = 0; i < 1000; ++i)
      other.push_back(uuid::time_ordered());
  }};
  t.join();
  std::set<uuid> seen(ids.begin(), ids.end());
  seen.insert(other.begin(), other.end());
  BOOST_CHECK_EQUAL(seen.size(), ids.size() + other.size());
}

BOOST_AUTO_TEST_CASE(text_round_trips_and_accepts_upper_case) {
  auto id = uuid::random();
  auto parsed = uuid::parse(id.to_string());
  BOOST_REQUIRE(parsed);
  BOOST_CHECK(*parsed == id);
  auto upper = uuid::parse("0123ABCD-4567-89ab-CDEF-0123456789AB");
  BOOST_REQUIRE(upper);
  BOOST_CHECK_EQUAL(upper->to_string(), "0123abcd-4567-89ab-cdef-0123456789ab");
}

BOOST_AUTO_TEST_CASE(invalid_text_is_an_error_that_names_it) {
  for (auto bad :
       {"", "0123abcd", "0123abcd-4567-89ab-cdef-0123456789ag",
        "0123abcd+4567-89ab-cdef-0123456789ab", "0123abcd-4567-89ab-cdef-0123456789abc"}) {
    auto parsed = uuid::parse(bad);
    BOOST_REQUIRE_MESSAGE(!parsed, bad);
    BOOST_CHECK(code_of(parsed.error()) == ec::invalid_argument);
    BOOST_CHECK(describe(parsed.error()).find("invalid id") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(byte_order_is_text_order) {
  auto a = uuid::parse("00000000-0000-4000-8000-000000000001").value();
  auto b = uuid::parse("00000000-0000-4000-8000-000000000002").value();
  auto c = uuid::parse("10000000-0000-4000-8000-000000000000").value();
  BOOST_CHECK(a < b);
  BOOST_CHECK(b < c);
  BOOST_CHECK(a.view() < c.view());
}

BOOST_AUTO_TEST_SUITE_END()
