// Group 3, prefix scans: exactly the keys that start with the prefix, in order, including binary
// prefixes and the 0xFF edges where "the next prefix" does not exist.
#include "store_fixture.hpp"

using namespace conformance;

namespace {

using keys = std::vector<std::string>;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values)
    out.push_back(static_cast<char>(v));
  return out;
}

void put_keys(backend& db, keyspace_id ks, const keys& ks_keys) {
  for (const auto& key : ks_keys)
    put(db, ks, key, "v:" + key);
}

keys prefixed(const backend& db, std::string_view prefix) {
  return keys_of(scan_prefix(db, alpha_ks, prefix));
}

} // namespace

BOOST_AUTO_TEST_SUITE(prefix_scan)

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_yields_exactly_the_matching_keys_in_order, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"app", "apple", "apply", "apricot", "ap", "b", "aq", "a"});
  BOOST_TEST(scan_prefix(*s.db, alpha_ks, "app") ==
             (entries{{"app", "v:app"}, {"apple", "v:apple"}, {"apply", "v:apply"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_without_matches_is_empty, Backend, all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"apple", "banana", "cherry"});
  BOOST_TEST(prefixed(*s.db, "b_").empty());
  BOOST_TEST(prefixed(*s.db, "0").empty());
  BOOST_TEST(prefixed(*s.db, "zzz").empty());
  BOOST_TEST(prefixed(*s.db, "\xff").empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_with_one_match_yields_it, Backend, all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"apple", "banana", "cherry"});
  BOOST_TEST(prefixed(*s.db, "ban") == (keys{"banana"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_with_many_matches_yields_all_of_them, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "a/", 1000);
  fill(*s.db, alpha_ks, "b/", 1000);
  fill(*s.db, alpha_ks, "c/", 1000);
  auto matched = scan_prefix(*s.db, alpha_ks, "b/");
  BOOST_REQUIRE(matched.size() == 1000u);
  for (uint64_t i = 0; i < 1000; ++i)
    BOOST_REQUIRE(matched[i] == (entry{numbered_key("b/", i), "v" + std::to_string(i)}));
  BOOST_TEST(prefixed(*s.db, numbered_key("b/", 12).substr(0, 9)).size() == 10u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_prefix_yields_the_whole_keyspace, Backend, all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {bytes({0}), "m", "\xff\xff"});
  put_keys(*s.db, beta_ks, {"other"});
  BOOST_TEST(prefixed(*s.db, "") == (keys{bytes({0}), "m", "\xff\xff"}));
  BOOST_TEST(scan_prefix(*s.db, alpha_ks, "") == scan_all(*s.db, alpha_ks));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_of_a_single_ff_byte_reaches_the_keyspace_end, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_keys(
      *s.db, alpha_ks,
      {"\xfe", "\xfe\xff", "\xff", bytes({0xff, 0x00}), "\xff\x01", "\xff\xff", "\xff\xff\xff"});
  BOOST_TEST(prefixed(*s.db, "\xff") ==
             (keys{"\xff", bytes({0xff, 0x00}), "\xff\x01", "\xff\xff", "\xff\xff\xff"}));
  BOOST_TEST(prefixed(*s.db, "\xfe") == (keys{"\xfe", "\xfe\xff"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_ending_in_ff_bytes_stops_before_the_next_key, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  // A naive "increment the last byte" upper bound for "a\xff\xff" would be "b" or overflow.
  put_keys(*s.db, alpha_ks,
           {"a\xff\xfe", "a\xff\xff", bytes({'a', 0xff, 0xff, 0}), "a\xff\xff\xff", "b",
            bytes({'b', 0}), "a\xff"});
  BOOST_TEST(prefixed(*s.db, "a\xff\xff") ==
             (keys{"a\xff\xff", bytes({'a', 0xff, 0xff, 0}), "a\xff\xff\xff"}));
  BOOST_TEST(prefixed(*s.db, "a\xff") == (keys{"a\xff", "a\xff\xfe", "a\xff\xff",
                                               bytes({'a', 0xff, 0xff, 0}), "a\xff\xff\xff"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_of_only_ff_bytes_matches_longer_ff_runs, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"\xff", "\xff\xff", "\xff\xff\xff", "\xff\xff\xff\xff", "\xff\xfe"});
  BOOST_TEST(prefixed(*s.db, "\xff\xff\xff") == (keys{"\xff\xff\xff", "\xff\xff\xff\xff"}));
  BOOST_TEST(prefixed(*s.db, "\xff\xff\xff\xff\xff").empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(binary_prefix_with_nul_bytes_matches_exactly, Backend, all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks,
           {"a", bytes({'a', 0}), bytes({'a', 0, 0}), bytes({'a', 0, 'x'}), bytes({'a', 1}), "ab"});
  BOOST_TEST(prefixed(*s.db, bytes({'a', 0})) ==
             (keys{bytes({'a', 0}), bytes({'a', 0, 0}), bytes({'a', 0, 'x'})}));
  BOOST_TEST(prefixed(*s.db, bytes({0})).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_equal_to_a_whole_key_includes_that_key, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"user", "user/1", "users"});
  BOOST_TEST(prefixed(*s.db, "user/1") == (keys{"user/1"}));
  BOOST_TEST(prefixed(*s.db, "user") == (keys{"user", "user/1", "users"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_longer_than_every_key_matches_nothing, Backend, all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"ab", "abc"});
  BOOST_TEST(prefixed(*s.db, "abcd").empty());
  // Prefixes are not keys: longer than the maximum key size is allowed and matches nothing.
  BOOST_TEST(prefixed(*s.db, std::string(max_key_size + 100, 'a')).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_scan_stays_in_its_keyspace, Backend, all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"p1"});
  put_keys(*s.db, beta_ks, {"p0", "p2", "q"});
  BOOST_TEST(prefixed(*s.db, "p") == (keys{"p1"}));
  BOOST_TEST(keys_of(scan_prefix(*s.db, beta_ks, "p")) == (keys{"p0", "p2"}));
  BOOST_TEST(scan_prefix(*s.db, gamma_ks, "p").empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(dropping_a_prefix_iterator_early_is_safe, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "p", 500);
  for (int round = 0; round < 10; ++round) {
    auto it = require_value(s.db->scan_prefix(alpha_ks, "p"), "scan_prefix");
    for (int step = 0; step < round; ++step) {
      BOOST_REQUIRE(it->valid());
      it->next();
    }
    BOOST_REQUIRE(it->valid());
    BOOST_TEST(it->key() == numbered_key("p", static_cast<uint64_t>(round)));
    del(*s.db, alpha_ks, numbered_key("p", 499 - static_cast<uint64_t>(round)));
  }
  BOOST_TEST(scan_prefix(*s.db, alpha_ks, "p").size() == 490u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_iterator_is_a_snapshot_of_its_creation, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_keys(*s.db, alpha_ks, {"p/a", "p/c"});
  auto it = require_value(s.db->scan_prefix(alpha_ks, "p/"), "scan_prefix");
  put(*s.db, alpha_ks, "p/b", "new");
  del(*s.db, alpha_ks, "p/c");
  BOOST_TEST(drain(std::move(it)) == (entries{{"p/a", "v:p/a"}, {"p/c", "v:p/c"}}));
  BOOST_TEST(prefixed(*s.db, "p/") == (keys{"p/a", "p/b"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unicode_prefix_matches_byte_wise, Backend, all_backends) {
  fresh_store<Backend> s;
  const std::string nihon = "\xe6\x97\xa5\xe6\x9c\xac"; // 日本
  put_keys(*s.db, alpha_ks, {nihon, nihon + "\xe8\xaa\x9e", "\xe6\x97\xa5", "\xe6\x97\xa6"});
  BOOST_TEST(prefixed(*s.db, nihon) == (keys{nihon, nihon + "\xe8\xaa\x9e"}));
  // A prefix may end inside a UTF-8 sequence; matching is on bytes.
  BOOST_TEST(prefixed(*s.db, "\xe6\x97").size() == 4u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_of_the_maximum_key_size_matches_that_key, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  std::string longest(max_key_size, '\xff');
  put(*s.db, alpha_ks, longest, "longest");
  put(*s.db, alpha_ks, longest.substr(0, max_key_size - 1), "shorter");
  BOOST_TEST(scan_prefix(*s.db, alpha_ks, longest) == (entries{{longest, "longest"}}));
  BOOST_TEST(prefixed(*s.db, longest.substr(0, 10)).size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(prefix_scan_skips_deleted_keys, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "p", 20);
  for (uint64_t i = 0; i < 20; ++i)
    if (i % 3 != 0) del(*s.db, alpha_ks, numbered_key("p", i));
  keys expected;
  for (uint64_t i = 0; i < 20; i += 3)
    expected.push_back(numbered_key("p", i));
  BOOST_TEST(prefixed(*s.db, "p") == expected);
}

BOOST_AUTO_TEST_SUITE_END()
