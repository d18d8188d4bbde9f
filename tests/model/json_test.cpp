// The JSON codec: memory round trips for every kind, the printed form, defaults, every parse
// error path, queries, results and errors.
#include "telos/messages/json.hpp"
#include "telos/messages/json_value.hpp"

#include "model/fixtures.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>

using namespace telos;
using telos::test::check_invalid;

namespace {

const char* small_text =
    R"({"id":"0123abcd-4567-89ab-cdef-0123456789ab","namespace":"notes","content":"Grüße, 世界",)"
    R"("attributes":{"lang":"de","topic":"greeting"},"created_at":1700000000000,)"
    R"("updated_at":1700000000500,"embeddings":{"d":[0.1,-0.25,3.5,1e-07],"l":[0.0,0.0,0.0],)"
    R"("s":{"indices":[3,17,99],"values":[0.5,0.2,1.25]},"m":[[1.0,2.0],[3.0,4.0],[-5.5,6.0]]}})";

/// A memory document for small_profile() whose "embeddings" member is `embeddings`.
std::string with_embeddings(const std::string& embeddings) {
  return R"({"embeddings":)" + embeddings + "}";
}

expected<memory> parse_small(const std::string& text) {
  return memory_from_json(text, test::small_profile());
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_suite)

BOOST_AUTO_TEST_CASE(memory_prints_in_field_order_with_shortest_floats) {
  BOOST_CHECK_EQUAL(to_json(test::small_memory(), test::small_profile()), small_text);
}

BOOST_AUTO_TEST_CASE(memory_round_trips_dense_sparse_and_multi) {
  auto p = test::small_profile();
  auto m = test::small_memory();
  auto back = memory_from_json(to_json(m, p), p);
  BOOST_REQUIRE_MESSAGE(back, test::why(back));
  BOOST_CHECK(*back == m);
  auto parsed = memory_from_json(small_text, p);
  BOOST_REQUIRE_MESSAGE(parsed, test::why(parsed));
  BOOST_CHECK(*parsed == m);
  BOOST_CHECK(validate(*parsed, p, limits{}));

  auto full = test::teleo13_memory();
  auto full_back = memory_from_json(to_json(full, profile::teleo13()), profile::teleo13());
  BOOST_REQUIRE_MESSAGE(full_back, test::why(full_back));
  BOOST_CHECK(*full_back == full);
}

BOOST_AUTO_TEST_CASE(floats_round_trip_bit_exactly) {
  // Random bit patterns cover denormals, extremes and every exponent; the printed text is the
  // shortest that reads back to the same float.
  embedder spec{"v", embedder_kind::dense, 4096, metric::dot};
  std::mt19937 gen{42};
  embedding e;
  while (e.values.size() < spec.dim) {
    uint32_t bits = gen();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (std::isfinite(f)) e.values.push_back(f);
  }
  e.values[0] = std::numeric_limits<float>::max();
  e.values[1] = std::numeric_limits<float>::denorm_min();
  e.values[2] = -0.0f;
  e.values[3] = 0.1f;
  auto text = dump(to_json_value(e, spec));
  auto doc = parse_json(text);
  BOOST_REQUIRE(doc);
  auto back = embedding_from_json_value(*doc, spec);
  BOOST_REQUIRE_MESSAGE(back, test::why(back));
  BOOST_REQUIRE_EQUAL(back->values.size(), e.values.size());
  BOOST_CHECK(std::memcmp(back->values.data(), e.values.data(), e.values.size() * 4) == 0);
  BOOST_CHECK(text.find("0.1,") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_fields_take_their_defaults) {
  auto m = parse_small(with_embeddings("{}"));
  BOOST_REQUIRE_MESSAGE(m, test::why(m));
  BOOST_CHECK(m->id.is_nil());
  BOOST_CHECK_EQUAL(m->ns, "default");
  BOOST_CHECK_EQUAL(m->content, "");
  BOOST_CHECK(m->attributes.empty());
  BOOST_CHECK_EQUAL(m->created_at, 0);
  BOOST_CHECK_EQUAL(m->updated_at, 0);
  BOOST_CHECK(m->embeddings.empty());
  auto null_id = parse_small(R"({"id":null,"embeddings":{}})");
  BOOST_REQUIRE(null_id);
  BOOST_CHECK(null_id->id.is_nil());
}

BOOST_AUTO_TEST_CASE(parse_errors_name_the_field_path) {
  check_invalid(parse_small(with_embeddings(R"({"d":[0.1,0.2,0.3,"x"]})")),
                "embeddings.d[3]: expected a number, got string \"x\"");
  check_invalid(parse_small(with_embeddings(R"({"d":[0.1,null]})")),
                "embeddings.d[1]: expected a number, got null");
  check_invalid(parse_small(with_embeddings(R"({"d":[true]})")),
                "embeddings.d[0]: expected a number, got true");
  check_invalid(parse_small(with_embeddings(R"({"d":[1e39]})")),
                "embeddings.d[0]: 1e+39 is outside the float range");
  check_invalid(parse_small(with_embeddings(R"({"d":{"values":[1]}})")),
                "embeddings.d: expected an array of numbers (dense), got an object");
  check_invalid(parse_small(with_embeddings(R"({"E99":[1]})")),
                "embeddings.E99: unknown embedder E99 (profile has d, l, s, m)");
  check_invalid(parse_small(with_embeddings(R"({"s":[1,2]})")),
                "embeddings.s: expected an object of indices and values (sparse), got an array "
                "of 2");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":[1]}})")),
                "embeddings.s.values: missing");
  check_invalid(parse_small(with_embeddings(R"({"s":{"values":[1]}})")),
                "embeddings.s.indices: missing");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":[1],"values":[1],"w":[]}})")),
                "embeddings.s: unknown field 'w' (expected indices, values)");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":[1,-2],"values":[1,1]}})")),
                "embeddings.s.indices[1]: expected a non-negative integer, got -2");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":[1.5],"values":[1]}})")),
                "embeddings.s.indices[0]: expected a non-negative integer, got 1.5");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":[5000000000],"values":[1]}})")),
                "embeddings.s.indices[0]: 5000000000 is too large (limit 4294967295)");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":3,"values":[1]}})")),
                "embeddings.s.indices: expected an array of term ids, got 3");
  check_invalid(parse_small(with_embeddings(R"({"s":{"indices":[3],"values":["a"]}})")),
                "embeddings.s.values[0]: expected a number, got string \"a\"");
  check_invalid(parse_small(with_embeddings(R"({"m":[[1,2],[3]]})")),
                "embeddings.m[1]: token of 1 values, expected 2");
  check_invalid(parse_small(with_embeddings(R"({"m":[[1,2],[3,4,5]]})")),
                "embeddings.m[1]: token of 3 values, expected 2");
  check_invalid(parse_small(with_embeddings(R"({"m":[1,2]})")),
                "embeddings.m[0]: expected an array of numbers, got 1");
  check_invalid(parse_small(with_embeddings(R"({"m":[[1,"2"]]})")),
                "embeddings.m[0][1]: expected a number, got string \"2\"");
  check_invalid(parse_small(with_embeddings(R"({"m":{}})")),
                "embeddings.m: expected an array of tokens (multi, arrays of 2 numbers), got an "
                "object");
  check_invalid(parse_small(with_embeddings("[]")),
                "embeddings: expected an object, got an array of 0");
  check_invalid(parse_small("{}"), "embeddings: missing");
  check_invalid(parse_small(R"({"id":"nope","embeddings":{}})"),
                "id: invalid id 'nope': wrong length (expected "
                "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  check_invalid(parse_small(R"({"id":12,"embeddings":{}})"), "id: expected a string, got 12");
  check_invalid(parse_small(R"({"namespace":["a"],"embeddings":{}})"),
                "namespace: expected a string, got an array of 1");
  check_invalid(parse_small(R"({"content":false,"embeddings":{}})"),
                "content: expected a string, got false");
  check_invalid(parse_small(R"({"attributes":[],"embeddings":{}})"),
                "attributes: expected an object, got an array of 0");
  check_invalid(parse_small(R"({"attributes":{"k":1},"embeddings":{}})"),
                "attributes.k: expected a string, got 1");
  check_invalid(parse_small(R"({"created_at":1.5,"embeddings":{}})"),
                "created_at: expected an integer (milliseconds since the epoch), got 1.5");
  check_invalid(parse_small(R"({"updated_at":"now","embeddings":{}})"),
                "updated_at: expected an integer (milliseconds since the epoch), got string "
                "\"now\"");
  check_invalid(parse_small(R"({"created_at":9223372036854775808,"embeddings":{}})"),
                "created_at: 9223372036854775808 is too large (limit 9223372036854775807)");
  check_invalid(parse_small(R"({"contents":"x","embeddings":{}})"),
                "unknown field 'contents' (expected id, namespace, content, attributes, "
                "created_at, updated_at, embeddings)");
  check_invalid(parse_small(R"("text")"), "expected a JSON object, got string \"text\"");
  check_invalid(parse_small(R"({"content":"a very long string that goes on and on"})"),
                "embeddings: missing");
  check_invalid(parse_small("{\"content\":\"\xff\"}"),
                "invalid JSON: parse error at line 1, column 13: syntax error while parsing "
                "value - invalid string: ill-formed UTF-8 byte; last read: '\"\xff'");
  check_invalid(parse_small(""),
                "invalid JSON: parse error at line 1, column 1: syntax error while parsing value "
                "- unexpected end of input; expected '[', '{', or a literal");
  check_invalid(parse_small(R"({"embeddings":{}} trailing)"),
                "invalid JSON: parse error at line 1, column 21: syntax error while parsing value "
                "- invalid literal; last read: '\"embeddings\":{}} tra'; expected end of input");
}

BOOST_AUTO_TEST_CASE(long_strings_are_cut_in_messages) {
  check_invalid(parse_small(R"({"created_at":"a very long string that goes on and on and on",)"
                            R"("embeddings":{}})"),
                "created_at: expected an integer (milliseconds since the epoch), got string "
                "\"a very long string that goes on and...\"");
}

BOOST_AUTO_TEST_CASE(float_range_ends_where_rounding_overflows) {
  // 3.4028235e+38 is FLT_MAX printed shortest; 3.40282356e+38 still rounds to it; 3.4028236e+38
  // lies past the halfway point to 2^128 (3.40282356779...e+38) and would become infinity.
  auto max_text = with_embeddings(R"({"l":[3.4028235e+38,-3.40282356e+38,0]})");
  auto m = parse_small(max_text);
  BOOST_REQUIRE_MESSAGE(m, test::why(m));
  BOOST_CHECK_EQUAL(m->embeddings["l"].values[0], std::numeric_limits<float>::max());
  BOOST_CHECK_EQUAL(m->embeddings["l"].values[1], -std::numeric_limits<float>::max());
  check_invalid(parse_small(with_embeddings(R"({"l":[0,3.4028236e+38]})")),
                "embeddings.l[1]: 3.4028236e+38 is outside the float range");
}

BOOST_AUTO_TEST_CASE(parsing_decodes_but_leaves_checks_to_validate) {
  // Wrong dimension and a missing embedder parse fine; validate() reports them.
  auto m = parse_small(R"({"id":"0123abcd-4567-89ab-cdef-0123456789ab","embeddings":{"d":[1]}})");
  BOOST_REQUIRE_MESSAGE(m, test::why(m));
  check_invalid(validate(*m, test::small_profile(), limits{}),
                "memory 0123abcd-4567-89ab-cdef-0123456789ab: missing embedders l, s, m");
}

BOOST_AUTO_TEST_CASE(query_takes_some_embedders) {
  auto p = test::small_profile();
  auto q = parse_query(with_embeddings(R"({"d":[1,0,0,0],"s":{"indices":[4],"values":[2]}})"), p);
  BOOST_REQUIRE_MESSAGE(q, test::why(q));
  BOOST_REQUIRE_EQUAL(q->size(), 2u);
  BOOST_CHECK(q->at("d") == embedding::dense({1, 0, 0, 0}));
  BOOST_CHECK(q->at("s") == embedding::sparse({4}, {2}));
  // A whole stored memory serves as a query.
  auto whole = parse_query(small_text, p);
  BOOST_REQUIRE_MESSAGE(whole, test::why(whole));
  BOOST_CHECK(*whole == test::small_memory().embeddings);

  check_invalid(parse_query(with_embeddings(R"({"E7":[1]})"), p),
                "embeddings.E7: unknown embedder E7 (profile has d, l, s, m)");
  check_invalid(parse_query(with_embeddings("{}"), p),
                "embeddings: a query needs at least one embedder (profile has d, l, s, m)");
  check_invalid(parse_query("{}", p), "embeddings: missing");
  check_invalid(parse_query(R"({"query":{}})", p),
                "unknown field 'query' (expected id, namespace, content, attributes, created_at, "
                "updated_at, embeddings)");
  check_invalid(parse_query(with_embeddings(R"({"m":[[1,2,3]]})"), p),
                "embeddings.m[0]: token of 3 values, expected 2");
  check_invalid(parse_query("nope", p),
                "invalid JSON: parse error at line 1, column 2: syntax error while parsing value "
                "- invalid literal; last read: 'no'");
}

BOOST_AUTO_TEST_CASE(results_and_errors_print) {
  hit a{*uuid::parse("0123abcd-4567-89ab-cdef-0123456789ab"), 0.93f};
  hit b{*uuid::parse("11111111-2222-4333-8444-555555555555"), -1.5f};
  BOOST_CHECK_EQUAL(to_json(std::vector<hit>{a, b}),
                    R"({"results":[{"id":"0123abcd-4567-89ab-cdef-0123456789ab","score":0.93},)"
                    R"({"id":"11111111-2222-4333-8444-555555555555","score":-1.5}]})");
  BOOST_CHECK_EQUAL(to_json(std::vector<hit>{}), R"({"results":[]})");

  search_result r;
  r.hits = {a};
  r.records = {test::small_memory()};
  json_style no_vectors;
  no_vectors.embeddings = false;
  BOOST_CHECK_EQUAL(
      to_json(r, test::small_profile(), no_vectors),
      R"({"results":[{"id":"0123abcd-4567-89ab-cdef-0123456789ab","score":0.93,"memory":)"
      R"({"id":"0123abcd-4567-89ab-cdef-0123456789ab","namespace":"notes","content":"Grüße, 世界",)"
      R"("attributes":{"lang":"de","topic":"greeting"},"created_at":1700000000000,)"
      R"("updated_at":1700000000500}}]})");
  auto with_vectors = parse_json(to_json(r, test::small_profile()));
  BOOST_REQUIRE(with_vectors);
  auto record =
      memory_from_json_value((*with_vectors)["results"][0]["memory"], test::small_profile());
  BOOST_REQUIRE(record);
  BOOST_CHECK(*record == test::small_memory());

  BOOST_CHECK_EQUAL(error_to_json(make_error(ec::not_found, "memory x")),
                    R"({"error":"not_found: memory x","code":"not_found"})");
  json_style indented;
  indented.indent = 2;
  BOOST_CHECK_EQUAL(error_to_json(make_error(ec::conflict, "c"), indented),
                    "{\n  \"error\": \"conflict: c\",\n  \"code\": \"conflict\"\n}");
}

BOOST_AUTO_TEST_CASE(printing_never_throws_on_bad_data) {
  // An unvalidated memory: invalid UTF-8, NaN, a ragged multi embedding, an unknown embedder.
  auto m = test::small_memory();
  m.content = "bad \xff byte";
  m.embeddings["d"].values[0] = std::nanf("");
  m.embeddings["m"].values.push_back(7);
  m.embeddings["extra"] = embedding::sparse({1}, {2});
  auto text = to_json(m, test::small_profile());
  BOOST_CHECK(text.find("\"content\":\"bad \xef\xbf\xbd byte\"") != std::string::npos);
  BOOST_CHECK(text.find("\"d\":[null,") != std::string::npos);
  BOOST_CHECK(text.find("[-5.5,6.0],[7.0]]") != std::string::npos);
  BOOST_CHECK(text.find("\"extra\":{\"indices\":[1],\"values\":[2.0]}") != std::string::npos);
  // What was printed is rejected with a precise message when read back.
  check_invalid(parse_small(text), "embeddings.d[0]: expected a number, got null");
}

BOOST_AUTO_TEST_CASE(profile_documents_convert_both_ways) {
  auto doc = to_json_value(profile::teleo13());
  BOOST_CHECK_EQUAL(doc["embedders"].size(), 13u);
  BOOST_CHECK_EQUAL(doc["embedders"][5]["kind"].get<std::string>(), "sparse");
  auto back = profile_from_json_value(doc);
  BOOST_REQUIRE(back);
  BOOST_CHECK(*back == profile::teleo13());
  BOOST_CHECK_EQUAL(to_json(profile::teleo13()), profile::teleo13().to_json());
  check_invalid(profile_from_json_value(json_value(3)), "expected a JSON object, got 3");
}

BOOST_AUTO_TEST_SUITE_END()
