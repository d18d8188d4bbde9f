// Group 2, range scans: every combination of inclusive, exclusive and open bounds, ordering as
// unsigned bytes, empty and inverted ranges, snapshots, and 100k keys scanned in order.
#include "store_fixture.hpp"

using namespace conformance;

namespace {

/// Keys "b", "d", "f", "h" in alpha; the gaps let bounds fall between stored keys.
void put_sparse_keys(backend& db) {
  for (auto key : {"b", "d", "f", "h"})
    put(db, alpha_ks, key, std::string{"v"} + key);
}

std::vector<std::string> scanned_keys(const backend& db, const key_range& r) {
  return keys_of(scan(db, alpha_ks, r));
}

using keys = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(range_scan)

BOOST_AUTO_TEST_CASE_TEMPLATE(full_range_yields_every_entry_in_key_order, Backend, all_backends) {
  fresh_store<Backend> s;
  for (auto key : {"m", "c", "x", "a", "q"})
    put(*s.db, alpha_ks, key, std::string{"v"} + key);
  BOOST_TEST(scan_all(*s.db, alpha_ks) ==
             (entries{{"a", "va"}, {"c", "vc"}, {"m", "vm"}, {"q", "vq"}, {"x", "vx"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(half_open_range_includes_begin_and_excludes_end, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, key_range::half_open("d", "h")) == (keys{"d", "f"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(inclusive_end_includes_the_end_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, range("d", true, "h", true)) == (keys{"d", "f", "h"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(exclusive_begin_skips_the_begin_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, range("d", false, "h", true)) == (keys{"f", "h"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(both_bounds_exclusive_keeps_only_the_inside, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, range("b", false, "h", false)) == (keys{"d", "f"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(open_begin_starts_at_the_first_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, range(std::nullopt, true, "f", false)) == (keys{"b", "d"}));
  BOOST_TEST(scanned_keys(*s.db, range(std::nullopt, false, "f", true)) == (keys{"b", "d", "f"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(open_end_runs_to_the_last_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, range("d", true, std::nullopt, false)) == (keys{"d", "f", "h"}));
  BOOST_TEST(scanned_keys(*s.db, range("d", false, std::nullopt, true)) == (keys{"f", "h"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bounds_between_stored_keys_ignore_inclusiveness, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  for (bool begin_inclusive : {true, false})
    for (bool end_inclusive : {true, false})
      BOOST_TEST(scanned_keys(*s.db, range("c", begin_inclusive, "g", end_inclusive)) ==
                     (keys{"d", "f"}),
                 "begin_inclusive=" << begin_inclusive << " end_inclusive=" << end_inclusive);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bounds_outside_the_stored_keys_clip_to_them, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, key_range::half_open("a", "z")) == (keys{"b", "d", "f", "h"}));
  BOOST_TEST(scanned_keys(*s.db, key_range::half_open("i", "z")).empty());
  BOOST_TEST(scanned_keys(*s.db, key_range::half_open("\x01", "b")).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(order_is_by_unsigned_bytes, Backend, all_backends) {
  fresh_store<Backend> s;
  // Signed char comparison would put 0x80..0xff before 0x00..0x7f.
  std::vector<std::string> sorted{
      std::string(1, '\0'), "\x01", "A", "Z", "a", "z", "\x7f", "\x80", "\xc3\xa9", "\xfe", "\xff"};
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it)
    put(*s.db, alpha_ks, *it, "v");
  BOOST_TEST(keys_of(scan_all(*s.db, alpha_ks)) == sorted);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_key_sorts_before_its_extensions, Backend, all_backends) {
  fresh_store<Backend> s;
  std::vector<std::string> sorted{
      "a", std::string("a\0", 2), std::string("a\0\0", 3), "a\x01", "aa", "ab", "a\xff", "b"};
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it)
    put(*s.db, alpha_ks, *it, "v");
  BOOST_TEST(keys_of(scan_all(*s.db, alpha_ks)) == sorted);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bounds_with_high_bytes_are_compared_unsigned, Backend, all_backends) {
  fresh_store<Backend> s;
  for (auto key : {"\x7f", "\x80", "\xfe", "\xff", "\xff\xff"})
    put(*s.db, alpha_ks, key, "v");
  put(*s.db, alpha_ks, std::string("\xff\x00", 2), "v");
  BOOST_TEST(scanned_keys(*s.db, key_range::half_open("\x80", "\xff")) == (keys{"\x80", "\xfe"}));
  BOOST_TEST(scanned_keys(*s.db, range("\xff", true, std::nullopt, false)) ==
             (keys{"\xff", std::string("\xff\x00", 2), "\xff\xff"}));
  BOOST_TEST(scanned_keys(*s.db, range("\xff", false, "\xff\xff", false)) ==
             (keys{std::string("\xff\x00", 2)}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_keyspace_scans_empty, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, beta_ks, "elsewhere", "v");
  BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
  BOOST_TEST(scan(*s.db, alpha_ks, key_range::half_open("a", "z")).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(range_without_stored_keys_inside_is_empty, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, range("d", false, "f", false)).empty());
  BOOST_TEST(scanned_keys(*s.db, range("da", true, "e", true)).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(begin_equal_to_end_is_empty_unless_both_inclusive, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  BOOST_TEST(scanned_keys(*s.db, key_range::half_open("d", "d")).empty());
  BOOST_TEST(scanned_keys(*s.db, range("d", false, "d", true)).empty());
  BOOST_TEST(scanned_keys(*s.db, range("d", false, "d", false)).empty());
  BOOST_TEST(scanned_keys(*s.db, range("d", true, "d", true)) == (keys{"d"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(begin_after_end_is_an_empty_range, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  for (bool inclusive : {true, false}) {
    auto inverted = s.db->scan(alpha_ks, range("h", inclusive, "b", inclusive));
    BOOST_REQUIRE_MESSAGE(inverted, error_text(inverted));
    BOOST_TEST(drain(std::move(*inverted)).empty(), "inclusive=" << inclusive);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bounds_may_be_empty_or_longer_than_any_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put_sparse_keys(*s.db);
  // Bounds are not keys: the empty string and strings over max_key_size are valid bounds.
  std::string long_d = "d" + std::string(max_key_size + 100, '\0');
  BOOST_TEST(scanned_keys(*s.db, range("", true, "c", false)) == (keys{"b"}));
  BOOST_TEST(scanned_keys(*s.db, range("", false, std::nullopt, false)).size() == 4u);
  BOOST_TEST(scanned_keys(*s.db, range(long_d, true, std::nullopt, false)) == (keys{"f", "h"}));
  BOOST_TEST(scanned_keys(*s.db, range(std::nullopt, true, long_d, false)) == (keys{"b", "d"}));
  BOOST_TEST(scanned_keys(*s.db, range("", true, "", true)).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(scan_sees_only_its_own_keyspace, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k1", "a");
  put(*s.db, beta_ks, "k0", "b");
  put(*s.db, beta_ks, "k2", "b");
  put(*s.db, gamma_ks, "k1", "c");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k1", "a"}}));
  BOOST_TEST(scan_all(*s.db, beta_ks) == (entries{{"k0", "b"}, {"k2", "b"}}));
  BOOST_TEST(scan_all(*s.db, gamma_ks) == (entries{{"k1", "c"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(scan_skips_deleted_keys_and_shows_latest_values, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 10);
  for (uint64_t i = 0; i < 10; i += 2)
    del(*s.db, alpha_ks, numbered_key("k", i));
  put(*s.db, alpha_ks, numbered_key("k", 3), "rewritten");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{numbered_key("k", 1), "v1"},
                                                   {numbered_key("k", 3), "rewritten"},
                                                   {numbered_key("k", 5), "v5"},
                                                   {numbered_key("k", 7), "v7"},
                                                   {numbered_key("k", 9), "v9"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(hundred_thousand_keys_scan_in_order, Backend, all_backends) {
  fresh_store<Backend> s;
  constexpr uint64_t count = 100000;
  // Written in a scrambled order so the store, not the writer, has to sort them.
  write_batch batch;
  batch.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t n = (i * 7919) % count;
    batch.put(alpha_ks, numbered_key("key", n), std::to_string(n));
  }
  write(*s.db, batch);
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan of 100k keys");
  uint64_t expected = 0;
  for (; it->valid(); it->next(), ++expected) {
    if (it->key() != numbered_key("key", expected) || it->value() != std::to_string(expected)) {
      BOOST_ERROR("entry " << expected << " is '" << telos::printable_key(it->key()) << "'");
      break;
    }
  }
  BOOST_TEST(!it->status());
  BOOST_TEST(expected == count);
  auto middle = scan(*s.db, alpha_ks,
                     key_range::half_open(numbered_key("key", 50000), numbered_key("key", 50100)));
  BOOST_REQUIRE(middle.size() == 100u);
  BOOST_TEST(middle.front().first == numbered_key("key", 50000));
  BOOST_TEST(middle.back().first == numbered_key("key", 50099));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(iterator_is_a_snapshot_of_its_creation, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 5);
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  put(*s.db, alpha_ks, numbered_key("k", 0), "changed");
  del(*s.db, alpha_ks, numbered_key("k", 2));
  put(*s.db, alpha_ks, numbered_key("k", 3) + "x", "inserted");
  put(*s.db, alpha_ks, "zzz", "appended");
  auto seen = drain(std::move(it));
  entries expected;
  for (uint64_t i = 0; i < 5; ++i)
    expected.emplace_back(numbered_key("k", i), "v" + std::to_string(i));
  BOOST_TEST(seen == expected);
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 6u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(dropping_an_iterator_early_leaves_the_store_usable, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 1000);
  for (int round = 0; round < 20; ++round) {
    auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
    BOOST_REQUIRE(it->valid());
    it->next();
    BOOST_REQUIRE(it->valid());
    BOOST_TEST(it->key() == numbered_key("k", 1));
    // The iterator is destroyed here, mid-way, while a write follows.
    put(*s.db, alpha_ks, numbered_key("k", 1), "round" + std::to_string(round));
  }
  BOOST_TEST(get(*s.db, alpha_ks, numbered_key("k", 1)) == std::optional<std::string>{"round19"});
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 1000u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(many_iterators_advance_independently, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 100);
  std::vector<std::unique_ptr<telos::storage::iterator>> its;
  for (uint64_t i = 0; i < 8; ++i)
    its.push_back(require_value(
        s.db->scan(alpha_ks, range(numbered_key("k", i * 10), true, std::nullopt, false)), "scan"));
  // Advance them round-robin: each must keep its own position.
  for (uint64_t step = 0; step < 20; ++step)
    for (uint64_t i = 0; i < its.size(); ++i) {
      BOOST_REQUIRE(its[i]->valid());
      BOOST_REQUIRE(its[i]->key() == numbered_key("k", i * 10 + step));
      its[i]->next();
    }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(exhausted_iterator_stays_invalid_without_error, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "only", "1");
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  BOOST_REQUIRE(it->valid());
  BOOST_TEST(it->key() == "only");
  BOOST_TEST(it->value() == "1");
  it->next();
  BOOST_TEST(!it->valid());
  BOOST_TEST(!it->status());
  auto empty = require_value(s.db->scan(beta_ks, key_range::all()), "scan of empty keyspace");
  BOOST_TEST(!empty->valid());
  BOOST_TEST(!empty->status());
}

BOOST_AUTO_TEST_SUITE_END()
