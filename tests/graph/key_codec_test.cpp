// The key encoder preserves tuple order under bytewise comparison and reads back what it wrote.
#include "telos/storage/key_codec.hpp"

#include "graph_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <tuple>

using namespace telos;
using namespace telos::storage;
using telos::graph_test::code;
using telos::graph_test::why;

namespace {

using tuple = std::tuple<uint64_t, int64_t, std::string, uint32_t>;

std::string encode(const tuple& t) {
  return key_builder{}
      .u64(std::get<0>(t))
      .i64(std::get<1>(t))
      .string(std::get<2>(t))
      .u32(std::get<3>(t))
      .take();
}

/// Strings over a tiny alphabet that includes the escape byte, so prefixes and zeros abound.
std::string random_string(std::mt19937_64& rng) {
  static const char alphabet[] = {'\0', '\x01', 'a', '\xFF'};
  std::string s(rng() % 4, ' ');
  for (auto& c : s)
    c = alphabet[rng() % 4];
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(key_codec_suite)

BOOST_AUTO_TEST_CASE(encoded_order_equals_tuple_order_and_decodes_back) {
  std::mt19937_64 rng{42};
  std::vector<tuple> tuples;
  const int64_t signed_values[] = {std::numeric_limits<int64_t>::min(), -2, -1, 0, 1,
                                   std::numeric_limits<int64_t>::max()};
  for (int i = 0; i < 2000; ++i)
    tuples.emplace_back(rng() % 3 == 0 ? ~uint64_t{0} : rng() % 3, signed_values[rng() % 6],
                        random_string(rng), static_cast<uint32_t>(rng() % 3));
  for (size_t i = 0; i + 1 < tuples.size(); ++i) {
    const auto& a = tuples[i];
    const auto& b = tuples[i + 1];
    BOOST_TEST_CONTEXT("pair " << i) {
      BOOST_CHECK_EQUAL(a < b, encode(a) < encode(b));
      BOOST_CHECK_EQUAL(a == b, encode(a) == encode(b));
    }
  }
  for (const auto& t : tuples) {
    auto key = encode(t);
    key_reader r{key, "test"};
    auto u = r.u64();
    auto s = r.i64();
    auto str = r.string();
    auto small = r.u32();
    BOOST_REQUIRE(u && s && str && small);
    BOOST_CHECK(tuple(*u, *s, *str, *small) == t);
    BOOST_CHECK(r.done());
  }
}

BOOST_AUTO_TEST_CASE(uuid_fields_keep_id_order) {
  auto a = graph_test::id_of(5);
  auto b = graph_test::id_of(300);
  auto ka = key_builder{}.id(a).u8(7).take();
  auto kb = key_builder{}.id(b).u8(1).take();
  BOOST_CHECK(ka < kb);
  key_reader r{ka, "test"};
  auto id = r.id();
  BOOST_REQUIRE(id);
  BOOST_CHECK(*id == a);
  BOOST_CHECK_EQUAL(*r.u8(), 7);
}

BOOST_AUTO_TEST_CASE(short_or_malformed_keys_are_corrupt_value_naming_the_keyspace) {
  std::string three_bytes = "abc";
  key_reader r{three_bytes, "idx_time"};
  auto x = r.u64();
  BOOST_REQUIRE(!x);
  BOOST_CHECK_EQUAL(code(x), "corrupt_value");
  BOOST_CHECK_NE(why(x).find("idx_time"), std::string::npos);

  std::string unterminated{"ab\0", 3};
  key_reader s{unterminated, "ns"};
  BOOST_CHECK_EQUAL(code(s.string()), "corrupt_value");

  std::string bad_escape{"a\0\x07", 3};
  key_reader t{bad_escape, "ns"};
  BOOST_CHECK_EQUAL(code(t.string()), "corrupt_value");

  auto trailing = key_builder{}.u32(1).u8(0).take();
  key_reader u{trailing, "ns"};
  BOOST_REQUIRE(u.u32());
  BOOST_CHECK_EQUAL(code(u.expect_done()), "corrupt_value");
}

BOOST_AUTO_TEST_CASE(prefix_end_bounds_exactly_the_keys_with_the_prefix) {
  BOOST_CHECK_EQUAL(*prefix_end("ab"), "ac");
  BOOST_CHECK_EQUAL(*prefix_end(std::string{"a\xFF\xFF", 3}), "b");
  BOOST_CHECK(!prefix_end(std::string{"\xFF\xFF", 2}));
  BOOST_CHECK(!prefix_end(""));
  auto range = prefix_range(std::string{"a\xFF", 2});
  BOOST_CHECK_EQUAL(*range.begin, std::string("a\xFF", 2));
  BOOST_CHECK_EQUAL(*range.end, "b");
  BOOST_CHECK(!range.end_inclusive);
}

BOOST_AUTO_TEST_SUITE_END()
