// Group 1, basic CRUD: get / put / del / multi_get / contains behave identically on every backend,
// for empty, binary, Unicode, maximal and multi-megabyte keys and values.
#include "store_fixture.hpp"

using namespace conformance;

BOOST_AUTO_TEST_SUITE(basic_crud)

BOOST_AUTO_TEST_CASE_TEMPLATE(put_then_get_returns_the_value, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "key", "value");
  BOOST_TEST(get(*s.db, alpha_ks, "key") == std::optional<std::string>{"value"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(get_of_absent_key_is_empty_not_an_error, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "present", "1");
  auto absent = s.db->get(alpha_ks, "absent");
  BOOST_REQUIRE_MESSAGE(absent, error_text(absent));
  BOOST_TEST(!absent->has_value());
  BOOST_TEST(!get(*s.db, beta_ks, "present").has_value());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(overwrite_replaces_the_value, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "key", "first");
  put(*s.db, alpha_ks, "key", "second, longer than the first");
  BOOST_TEST(get(*s.db, alpha_ks, "key") ==
             std::optional<std::string>{"second, longer than the first"});
  put(*s.db, alpha_ks, "key", "3");
  BOOST_TEST(get(*s.db, alpha_ks, "key") == std::optional<std::string>{"3"});
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 1u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(delete_removes_only_that_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, alpha_ks, "b", "2");
  del(*s.db, alpha_ks, "a");
  BOOST_TEST(!get(*s.db, alpha_ks, "a").has_value());
  BOOST_TEST(get(*s.db, alpha_ks, "b") == std::optional<std::string>{"2"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(delete_of_absent_key_succeeds_and_changes_nothing, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "kept", "1");
  auto deleted = s.db->del(alpha_ks, "never-written");
  BOOST_TEST(error_of(deleted) == ec::none);
  auto deleted_again = s.db->del(beta_ks, "kept");
  BOOST_TEST(error_of(deleted_again) == ec::none);
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"kept", "1"}}));
  BOOST_TEST(scan_all(*s.db, beta_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(put_after_delete_restores_the_key, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "old");
  del(*s.db, alpha_ks, "k");
  put(*s.db, alpha_ks, "k", "new");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == std::optional<std::string>{"new"});
  BOOST_TEST(contains(*s.db, alpha_ks, "k"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_value_is_stored_and_differs_from_absent, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "empty", "");
  auto value = get(*s.db, alpha_ks, "empty");
  BOOST_REQUIRE(value.has_value());
  BOOST_TEST(value->empty());
  BOOST_TEST(contains(*s.db, alpha_ks, "empty"));
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"empty", ""}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_key_is_rejected_by_every_write, Backend, all_backends) {
  fresh_store<Backend> s;
  check_fails_with(s.db->put(alpha_ks, "", "v"), ec::invalid_argument, "put of an empty key");
  check_fails_with(s.db->del(alpha_ks, ""), ec::invalid_argument, "del of an empty key");
  write_batch batch;
  batch.put(beta_ks, "", "v");
  check_fails_with(s.db->write(batch), ec::invalid_argument, "batch putting an empty key");
  BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
  BOOST_TEST(scan_all(*s.db, beta_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_and_oversized_keys_are_rejected_by_reads, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  const std::string oversized(max_key_size + 1, 'k');
  for (const auto& key : {std::string{}, oversized}) {
    auto what = std::to_string(key.size()) + "-byte key";
    check_fails_with(s.db->get(alpha_ks, key), ec::invalid_argument, "get of a " + what);
    check_fails_with(s.db->contains(alpha_ks, key), ec::invalid_argument, "contains of a " + what);
    check_fails_with(s.db->multi_get(alpha_ks, {"k", key}), ec::invalid_argument,
                     "multi_get including a " + what);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(key_of_the_maximum_size_round_trips, Backend, all_backends) {
  fresh_store<Backend> s;
  auto longest = pattern_value(max_key_size, 1);
  auto shorter = longest.substr(0, max_key_size - 1);
  put(*s.db, alpha_ks, longest, "longest");
  put(*s.db, alpha_ks, shorter, "shorter");
  BOOST_TEST(get(*s.db, alpha_ks, longest) == std::optional<std::string>{"longest"});
  BOOST_TEST(get(*s.db, alpha_ks, shorter) == std::optional<std::string>{"shorter"});
  // The shorter key is a prefix of the longer one, so it sorts first.
  BOOST_TEST(keys_of(scan_all(*s.db, alpha_ks)) == (std::vector<std::string>{shorter, longest}));
  del(*s.db, alpha_ks, longest);
  BOOST_TEST(!contains(*s.db, alpha_ks, longest));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(key_longer_than_the_maximum_is_rejected_and_not_stored, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  for (size_t size : {max_key_size + 1, max_key_size * 4, size_t{1} << 20}) {
    std::string key(size, 'k');
    check_fails_with(s.db->put(alpha_ks, key, "v"), ec::invalid_argument,
                     "put of a " + std::to_string(size) + "-byte key");
  }
  BOOST_TEST(scan_all(*s.db, alpha_ks).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_megabyte_value_round_trips_byte_exact, Backend, all_backends) {
  fresh_store<Backend> s;
  auto big = pattern_value(8u << 20, 7);
  auto other = pattern_value(3u << 20, 8);
  put(*s.db, alpha_ks, "big", big);
  put(*s.db, beta_ks, "other", other);
  auto read = get(*s.db, alpha_ks, "big");
  BOOST_REQUIRE(read.has_value());
  BOOST_TEST(read->size() == big.size());
  BOOST_TEST((*read == big));
  auto read_other = get(*s.db, beta_ks, "other");
  BOOST_REQUIRE(read_other.has_value());
  BOOST_TEST((*read_other == other));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(values_of_every_size_class_round_trip, Backend, all_backends) {
  fresh_store<Backend> s;
  // Sizes around page and overflow thresholds of the on-disk formats.
  std::vector<size_t> sizes{0,    1,    2,    15,   16,    255,   256,     1000,
                            2000, 4095, 4096, 4097, 65535, 65536, 1u << 20};
  for (size_t i = 0; i < sizes.size(); ++i)
    put(*s.db, alpha_ks, numbered_key("size", i),
        pattern_value(sizes[i], static_cast<uint32_t>(i)));
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto value = get(*s.db, alpha_ks, numbered_key("size", i));
    BOOST_REQUIRE(value.has_value());
    BOOST_TEST((*value == pattern_value(sizes[i], static_cast<uint32_t>(i))),
               "value of " << sizes[i] << " bytes differs");
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(growing_and_shrinking_a_value_in_place, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "small");
  auto large = pattern_value(2u << 20, 3);
  put(*s.db, alpha_ks, "k", large);
  BOOST_TEST((get(*s.db, alpha_ks, "k") == std::optional<std::string>{large}));
  put(*s.db, alpha_ks, "k", "tiny");
  BOOST_TEST(get(*s.db, alpha_ks, "k") == std::optional<std::string>{"tiny"});
  put(*s.db, alpha_ks, "neighbour", "n");
  BOOST_TEST(scan_all(*s.db, alpha_ks) == (entries{{"k", "tiny"}, {"neighbour", "n"}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(binary_keys_with_nul_and_high_bytes_round_trip, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  std::vector<std::string> keys{std::string(1, '\0'),
                                std::string(3, '\0'),
                                std::string("a\0b", 3),
                                "\x01",
                                "\x7f",
                                "\x80",
                                "\xfe\xff",
                                "\xff",
                                "\xff\xff\xff"};
  for (size_t i = 0; i < keys.size(); ++i)
    put(*s.db, alpha_ks, keys[i], "value" + std::to_string(i));
  for (size_t i = 0; i < keys.size(); ++i)
    BOOST_TEST(get(*s.db, alpha_ks, keys[i]) ==
                   std::optional<std::string>{"value" + std::to_string(i)},
               "key '" << telos::printable_key(keys[i]) << "'");
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == keys.size());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(keys_differing_only_in_a_trailing_nul_are_distinct, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "plain");
  put(*s.db, alpha_ks, std::string("a\0", 2), "nul");
  put(*s.db, alpha_ks, std::string("a\0\0", 3), "two nuls");
  BOOST_TEST(get(*s.db, alpha_ks, "a") == std::optional<std::string>{"plain"});
  BOOST_TEST(get(*s.db, alpha_ks, std::string("a\0", 2)) == std::optional<std::string>{"nul"});
  del(*s.db, alpha_ks, std::string("a\0", 2));
  BOOST_TEST(get(*s.db, alpha_ks, "a") == std::optional<std::string>{"plain"});
  BOOST_TEST(get(*s.db, alpha_ks, std::string("a\0\0", 3)) ==
             std::optional<std::string>{"two nuls"});
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 2u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unicode_keys_are_stored_byte_exact_without_normalisation, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  const std::string precomposed = "caf\xc3\xa9"; // "café" with U+00E9
  const std::string decomposed = "cafe\xcc\x81"; // "café" with e + U+0301
  const std::string japanese = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
  const std::string emoji = "\xf0\x9f\x98\x80";
  put(*s.db, alpha_ks, precomposed, "nfc");
  put(*s.db, alpha_ks, decomposed, "nfd");
  put(*s.db, alpha_ks, japanese, "ja");
  put(*s.db, alpha_ks, emoji, "grin");
  BOOST_TEST(get(*s.db, alpha_ks, precomposed) == std::optional<std::string>{"nfc"});
  BOOST_TEST(get(*s.db, alpha_ks, decomposed) == std::optional<std::string>{"nfd"});
  BOOST_TEST(get(*s.db, alpha_ks, japanese) == std::optional<std::string>{"ja"});
  BOOST_TEST(get(*s.db, alpha_ks, emoji) == std::optional<std::string>{"grin"});
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == 4u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(values_holding_every_byte_value_round_trip, Backend, all_backends) {
  fresh_store<Backend> s;
  std::string all_bytes;
  for (int b = 0; b < 256; ++b)
    all_bytes.push_back(static_cast<char>(b));
  put(*s.db, alpha_ks, "bytes", all_bytes);
  put(*s.db, alpha_ks, "nuls", std::string(100, '\0'));
  BOOST_TEST((get(*s.db, alpha_ks, "bytes") == std::optional<std::string>{all_bytes}));
  BOOST_TEST((get(*s.db, alpha_ks, "nuls") == std::optional<std::string>{std::string(100, '\0')}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(keyspaces_hold_independent_values_for_one_key, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "shared", "in alpha");
  put(*s.db, beta_ks, "shared", "in beta");
  BOOST_TEST(get(*s.db, alpha_ks, "shared") == std::optional<std::string>{"in alpha"});
  BOOST_TEST(get(*s.db, beta_ks, "shared") == std::optional<std::string>{"in beta"});
  BOOST_TEST(!get(*s.db, gamma_ks, "shared").has_value());
  del(*s.db, alpha_ks, "shared");
  BOOST_TEST(!contains(*s.db, alpha_ks, "shared"));
  BOOST_TEST(get(*s.db, beta_ks, "shared") == std::optional<std::string>{"in beta"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_get_answers_in_request_order, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, alpha_ks, "b", "2");
  put(*s.db, alpha_ks, "c", "3");
  auto values = require_value(s.db->multi_get(alpha_ks, {"c", "a", "b"}), "multi_get");
  BOOST_TEST(values == (std::vector<std::optional<std::string>>{"3", "1", "2"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_get_reports_missing_keys_in_place, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, alpha_ks, "c", "");
  put(*s.db, beta_ks, "b", "in beta");
  auto values = require_value(s.db->multi_get(alpha_ks, {"x", "a", "b", "c", "zz"}), "multi_get");
  BOOST_TEST(values == (std::vector<std::optional<std::string>>{std::nullopt, "1", std::nullopt, "",
                                                                std::nullopt}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_get_visit_sees_what_multi_get_returns, Backend, all_backends) {
  // The visiting read hands over each present value where the store holds it: the same bytes as
  // multi_get's, missing keys not visited, repeated keys each time, an empty value as one.
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 500);
  put(*s.db, alpha_ks, "empty", "");
  put(*s.db, beta_ks, "only-in-beta", "b");
  std::vector<std::string> keys{"empty", "only-in-beta", "missing"};
  for (uint64_t i = 700; i-- > 0;)
    keys.push_back(numbered_key("k", i % 3 == 0 ? i / 3 : i));
  auto expected = require_value(s.db->multi_get(alpha_ks, keys), "multi_get");
  std::vector<std::optional<std::string>> visited(keys.size());
  size_t visits = 0;
  auto done = s.db->multi_get_visit(alpha_ks, keys, [&](size_t i, std::string_view value) {
    BOOST_REQUIRE_LT(i, keys.size());
    BOOST_CHECK_MESSAGE(!visited[i], "key " << i << " visited twice");
    visited[i].emplace(value);
    ++visits;
  });
  BOOST_REQUIRE_MESSAGE(done, error_text(done));
  BOOST_TEST(visited == expected);
  BOOST_TEST(visits == static_cast<size_t>(std::count_if(expected.begin(), expected.end(),
                                                         [](const auto& v) { return v; })));
  BOOST_TEST(visited[0] == std::optional<std::string>{""});
  // No keys: no visit. A bad key: the error, and nothing visited.
  auto nothing = s.db->multi_get_visit(alpha_ks, {}, [&](size_t, std::string_view) { ++visits; });
  BOOST_CHECK_MESSAGE(nothing, error_text(nothing));
  const std::string oversized(max_key_size + 1, 'k');
  check_fails_with(s.db->multi_get_visit(alpha_ks, {numbered_key("k", 1), oversized},
                                         [&](size_t, std::string_view) { ++visits; }),
                   ec::invalid_argument, "multi_get_visit including an oversized key");
  BOOST_TEST(visits == static_cast<size_t>(std::count_if(expected.begin(), expected.end(),
                                                         [](const auto& v) { return v; })));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_get_of_no_keys_is_empty, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  auto values = require_value(s.db->multi_get(alpha_ks, {}), "multi_get of nothing");
  BOOST_TEST(values.empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_get_answers_repeated_keys_each_time, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  auto values = require_value(s.db->multi_get(alpha_ks, {"a", "missing", "a", "a"}), "multi_get");
  BOOST_TEST(values == (std::vector<std::optional<std::string>>{"1", std::nullopt, "1", "1"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(multi_get_of_many_keys_matches_single_gets, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 2000);
  std::vector<std::string> keys;
  std::vector<std::optional<std::string>> expected;
  // Every third key is missing; the request runs backwards so order matters.
  for (uint64_t i = 3000; i-- > 0;) {
    keys.push_back(numbered_key("k", i));
    expected.push_back(i < 2000 ? std::optional<std::string>{"v" + std::to_string(i)}
                                : std::nullopt);
  }
  auto values = require_value(s.db->multi_get(alpha_ks, keys), "multi_get of 3000 keys");
  BOOST_TEST(values == expected);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(contains_follows_puts_and_deletes, Backend, all_backends) {
  fresh_store<Backend> s;
  BOOST_TEST(!contains(*s.db, alpha_ks, "k"));
  put(*s.db, alpha_ks, "k", "v");
  BOOST_TEST(contains(*s.db, alpha_ks, "k"));
  BOOST_TEST(!contains(*s.db, beta_ks, "k"));
  BOOST_TEST(!contains(*s.db, alpha_ks, "k2"));
  BOOST_TEST(!contains(*s.db, alpha_ks, std::string("k\0", 2)));
  del(*s.db, alpha_ks, "k");
  BOOST_TEST(!contains(*s.db, alpha_ks, "k"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(introspection_names_kind_and_keyspaces, Backend, all_backends) {
  fresh_store<Backend> s;
  BOOST_TEST((s.db->kind() == Backend::kind));
  BOOST_TEST(s.db->keyspaces() == (std::vector<std::string>{"alpha", "beta", "gamma"}));
  BOOST_TEST(require_value(s.db->keyspace("gamma"), "keyspace gamma") == gamma_ks);
  BOOST_TEST(require_value(s.db->keyspace("alpha"), "keyspace alpha") == alpha_ks);
  check_fails_with(s.db->keyspace("delta"), ec::unknown_keyspace, "keyspace delta");
  check_fails_with(s.db->keyspace(""), ec::unknown_keyspace, "keyspace with an empty name");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(thousands_of_keys_each_read_back, Backend, all_backends) {
  fresh_store<Backend> s;
  for (uint64_t i = 0; i < 3000; ++i)
    put(*s.db, beta_ks, numbered_key("item", i), pattern_value(i % 300, static_cast<uint32_t>(i)));
  for (uint64_t i = 0; i < 3000; ++i) {
    auto value = get(*s.db, beta_ks, numbered_key("item", i));
    BOOST_REQUIRE(value.has_value());
    BOOST_REQUIRE((*value == pattern_value(i % 300, static_cast<uint32_t>(i))));
  }
  BOOST_TEST(scan_all(*s.db, beta_ks).size() == 3000u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(returned_value_is_a_copy_unaffected_by_later_writes, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "before");
  auto read = get(*s.db, alpha_ks, "k");
  put(*s.db, alpha_ks, "k", "after the overwrite");
  del(*s.db, alpha_ks, "k");
  BOOST_TEST(read == std::optional<std::string>{"before"});
}

BOOST_AUTO_TEST_SUITE_END()
