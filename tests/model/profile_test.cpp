// Profiles: the teleo13 layout, names, lookup, validation and the JSON form with its errors.
#include "telos/messages/profile.hpp"

#include "telos/messages/envelope.hpp"

#include "model/fixtures.hpp"

#include <boost/test/unit_test.hpp>

using namespace telos;
using telos::test::check_invalid;

BOOST_AUTO_TEST_SUITE(profile_suite)

BOOST_AUTO_TEST_CASE(teleo13_has_the_documented_layout) {
  struct row {
    const char* name;
    embedder_kind kind;
    uint32_t dim;
  };
  const row expected_rows[] = {
      {"E1", embedder_kind::dense, 1024},    {"E2", embedder_kind::dense, 512},
      {"E3", embedder_kind::dense, 512},     {"E4", embedder_kind::dense, 512},
      {"E5", embedder_kind::dense, 768},     {"E6", embedder_kind::sparse, 30522},
      {"E7", embedder_kind::dense, 1536},    {"E8", embedder_kind::dense, 1024},
      {"E9", embedder_kind::dense, 1024},    {"E10", embedder_kind::dense, 768},
      {"E11", embedder_kind::dense, 768},    {"E12", embedder_kind::multi, 128},
      {"E13", embedder_kind::sparse, 30522},
  };
  auto p = profile::teleo13();
  BOOST_CHECK_EQUAL(p.name, "teleo13");
  BOOST_REQUIRE_EQUAL(p.embedders.size(), 13u);
  for (size_t i = 0; i < 13; ++i) {
    BOOST_TEST_CONTEXT("embedder " << i) {
      BOOST_CHECK_EQUAL(p.embedders[i].name, expected_rows[i].name);
      BOOST_CHECK(p.embedders[i].kind == expected_rows[i].kind);
      BOOST_CHECK_EQUAL(p.embedders[i].dim, expected_rows[i].dim);
      BOOST_CHECK(p.embedders[i].metric == metric::cosine);
      // Dense embedders default to int8 codes in an inverted file (exact below the threshold);
      // the others to their exact structures (docs/ENGINE.md "Index policy").
      bool dense = expected_rows[i].kind == embedder_kind::dense;
      BOOST_CHECK(p.embedders[i].index.quantization ==
                  (dense ? quantization::int8 : quantization::none));
      BOOST_CHECK(p.embedders[i].index.structure ==
                  (dense ? index_structure::ivf : index_structure::hnsw));
      // An inverted file takes no graph parameters.
      BOOST_CHECK_EQUAL(p.embedders[i].index.m, 0u);
      BOOST_CHECK_EQUAL(p.embedders[i].index.ef_construction, 0u);
      BOOST_CHECK_EQUAL(p.embedders[i].index.oversample, 0u);
    }
  }
  BOOST_CHECK(p.validate());
}

BOOST_AUTO_TEST_CASE(kind_and_metric_names_round_trip) {
  for (auto kind : {embedder_kind::dense, embedder_kind::sparse, embedder_kind::multi})
    BOOST_CHECK(parse_embedder_kind(to_string(kind)) == kind);
  for (auto m : {metric::cosine, metric::dot, metric::l2})
    BOOST_CHECK(parse_metric(to_string(m)) == m);
  BOOST_CHECK_EQUAL(std::string{to_string(embedder_kind::sparse)}, "sparse");
  BOOST_CHECK_EQUAL(std::string{to_string(metric::l2)}, "l2");
  BOOST_CHECK(!parse_embedder_kind("Dense"));
  BOOST_CHECK(!parse_metric("euclid"));
  BOOST_CHECK_EQUAL(std::string{to_string(static_cast<embedder_kind>(9))}, "invalid");
}

BOOST_AUTO_TEST_CASE(index_of_finds_embedders_and_names_the_known_ones) {
  auto p = profile::teleo13();
  BOOST_CHECK_EQUAL(*p.index_of("E1"), 0u);
  BOOST_CHECK_EQUAL(*p.index_of("E13"), 12u);
  check_invalid(p.index_of("E99"), "unknown embedder E99 (profile has E1..E13)");
  check_invalid(test::small_profile().index_of("x"), "unknown embedder x (profile has d, l, s, m)");
  BOOST_CHECK(p.find("E12") == &p.embedders[11]);
  BOOST_CHECK(p.find("e12") == nullptr);
}

BOOST_AUTO_TEST_CASE(name_list_abbreviates_only_consecutive_numbering) {
  profile gap{"custom",
              {{"E1", embedder_kind::dense, 2, metric::cosine},
               {"E2", embedder_kind::dense, 2, metric::cosine},
               {"E4", embedder_kind::dense, 2, metric::cosine}}};
  BOOST_CHECK_EQUAL(gap.name_list(), "E1, E2, E4");
  gap.embedders[2].name = "E3";
  BOOST_CHECK_EQUAL(gap.name_list(), "E1..E3");
  gap.embedders[2].name = "F3";
  BOOST_CHECK_EQUAL(gap.name_list(), "E1, E2, F3");
  BOOST_CHECK_EQUAL(profile{}.name_list(), "no embedders");
}

BOOST_AUTO_TEST_CASE(validate_names_the_entry_and_field) {
  auto with = [](auto change) {
    auto p = test::small_profile();
    change(p);
    return p.validate();
  };
  check_invalid(with([](profile& p) { p.embedders.clear(); }),
                "embedders: a profile needs at least one embedder");
  check_invalid(
      with([](profile& p) {
        p.embedders.resize(65);
        for (size_t i = 0; i < 65; ++i)
          p.embedders[i] = {"e" + std::to_string(i), embedder_kind::dense, 2, metric::cosine};
      }),
      "embedders: 65 embedders, limit 64");
  check_invalid(with([](profile& p) { p.embedders[1].name = ""; }), "embedders[1].name: empty");
  check_invalid(with([](profile& p) { p.embedders[1].name = std::string(65, 'x'); }),
                "embedders[1].name: 65 bytes, limit 64");
  check_invalid(with([](profile& p) { p.embedders[2].name = "a b"; }),
                "embedders[2].name: character 1 is not one of [A-Za-z0-9_.-]");
  check_invalid(with([](profile& p) { p.embedders[3].name = "d"; }),
                "embedders[3].name: d is already the name of embedders[0]");
  check_invalid(with([](profile& p) { p.embedders[1].kind = static_cast<embedder_kind>(7); }),
                "embedders[1].kind: l has unknown kind 7");
  check_invalid(with([](profile& p) { p.embedders[1].metric = static_cast<metric>(5); }),
                "embedders[1].metric: l has unknown metric 5");
  check_invalid(with([](profile& p) { p.embedders[0].dim = 0; }),
                "embedders[0].dim: d has dimension 0");
  check_invalid(with([](profile& p) { p.embedders[0].dim = 65537; }),
                "embedders[0].dim: d has dimension 65537, limit 65536 for dense embedders");
  check_invalid(with([](profile& p) { p.embedders[3].dim = 70000; }),
                "embedders[3].dim: m has dimension 70000, limit 65536 for multi embedders");
  check_invalid(with([](profile& p) { p.name = std::string(65, 'n'); }),
                "name: 65 bytes, limit 64");
  check_invalid(with([](profile& p) { p.name = "\xff"; }), "name: not valid UTF-8");
  // A large vocabulary is fine: sparse dims are term-id bounds, not vector sizes.
  BOOST_CHECK(with([](profile& p) { p.embedders[2].dim = 1u << 30; }));
  BOOST_CHECK(with([](profile& p) { p.embedders[0].name = "Z_9.a-b"; }));
}

BOOST_AUTO_TEST_CASE(json_round_trips_and_omits_metric_for_sparse_and_multi) {
  for (auto p : {profile::teleo13(), test::small_profile()}) {
    auto text = p.to_json();
    auto back = profile::from_json(text);
    BOOST_REQUIRE_MESSAGE(back, test::why(back));
    BOOST_CHECK(*back == p);
  }
  auto text = test::small_profile().to_json();
  BOOST_CHECK_EQUAL(text, R"({"name":"custom","embedders":[)"
                          R"({"name":"d","kind":"dense","dim":4,"metric":"cosine"},)"
                          R"({"name":"l","kind":"dense","dim":3,"metric":"l2"},)"
                          R"({"name":"s","kind":"sparse","dim":100},)"
                          R"({"name":"m","kind":"multi","dim":2}]})");
}

BOOST_AUTO_TEST_CASE(json_defaults_name_and_metric) {
  auto p = profile::from_json(R"({"embedders":[{"name":"E1","kind":"dense","dim":1024},
                                                {"name":"E6","kind":"sparse","dim":30522},
                                                {"name":"E12","kind":"multi","dim":128}]})");
  BOOST_REQUIRE_MESSAGE(p, test::why(p));
  BOOST_CHECK_EQUAL(p->name, "custom");
  BOOST_REQUIRE_EQUAL(p->embedders.size(), 3u);
  BOOST_CHECK(p->embedders[0].metric == metric::cosine);
  BOOST_CHECK(p->embedders[1].kind == embedder_kind::sparse);
  BOOST_CHECK_EQUAL(p->embedders[2].dim, 128u);
  auto named = profile::from_json(
      R"({"name":"mine","embedders":[{"name":"a","kind":"dense","dim":2,"metric":"dot"}]})");
  BOOST_REQUIRE(named);
  BOOST_CHECK_EQUAL(named->name, "mine");
  BOOST_CHECK(named->embedders[0].metric == metric::dot);
}

BOOST_AUTO_TEST_CASE(json_errors_name_entry_and_field) {
  auto entries = [](const std::string& third) {
    return R"({"embedders":[{"name":"a","kind":"dense","dim":2},)"
           R"({"name":"b","kind":"sparse","dim":10},)" +
           third + "]}";
  };
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense","dim":-3})")),
                "embedders[2].dim: expected a positive integer, got -3");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense","dim":0})")),
                "embedders[2].dim: expected a positive integer, got 0");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense","dim":2.5})")),
                "embedders[2].dim: expected a positive integer, got 2.5");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense","dim":"8"})")),
                "embedders[2].dim: expected a positive integer, got string \"8\"");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense","dim":4294967296})")),
                "embedders[2].dim: 4294967296 is too large (limit 4294967295)");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense"})")),
                "embedders[2].dim: missing");
  check_invalid(profile::from_json(entries(R"({"kind":"dense","dim":2})")),
                "embedders[2].name: missing");
  check_invalid(profile::from_json(entries(R"({"name":7,"kind":"dense","dim":2})")),
                "embedders[2].name: expected a string, got 7");
  check_invalid(profile::from_json(entries(R"({"name":"c","dim":2})")),
                "embedders[2].kind: missing");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dens","dim":2})")),
                "embedders[2].kind: expected dense, sparse or multi, got string \"dens\"");
  check_invalid(
      profile::from_json(entries(R"({"name":"c","kind":"dense","dim":2,"metric":"euclid"})")),
      "embedders[2].metric: expected cosine, dot or l2, got string \"euclid\"");
  check_invalid(
      profile::from_json(entries(R"({"name":"c","kind":"sparse","dim":2,"metric":"dot"})")),
      "embedders[2].metric: only dense embedders take a metric (sparse scores by dot product)");
  check_invalid(
      profile::from_json(entries(R"({"name":"c","kind":"multi","dim":2,"metric":"cosine"})")),
      "embedders[2].metric: only dense embedders take a metric (multi scores by cosine MaxSim)");
  check_invalid(profile::from_json(entries(R"({"name":"c","kind":"dense","dim":2,"dims":3})")),
                "embedders[2]: unknown field 'dims' (expected name, kind, dim, metric, index, "
                "quantization, m, ef_construction, oversample)");
  check_invalid(profile::from_json(entries(R"([1])")),
                "embedders[2]: expected an object, got an array of 1");
  // Checks of validate() come through with the same path language.
  check_invalid(profile::from_json(entries(R"({"name":"a","kind":"dense","dim":2})")),
                "embedders[2].name: a is already the name of embedders[0]");
  check_invalid(profile::from_json(R"({"embedders":[]})"),
                "embedders: a profile needs at least one embedder");
  check_invalid(profile::from_json(R"({"embedders":{}})"),
                "embedders: expected an array of embedders, got an object");
  check_invalid(profile::from_json(R"({"name":"x"})"), "embedders: missing");
  check_invalid(profile::from_json(R"({"name":1,"embedders":[]})"),
                "name: expected a string, got 1");
  check_invalid(profile::from_json(R"({"embeders":[]})"),
                "unknown field 'embeders' (expected name, embedders)");
  check_invalid(profile::from_json("[]"), "expected a JSON object, got an array of 0");
  check_invalid(profile::from_json(R"({"embedders":[)"),
                "invalid JSON: parse error at line 1, column 15: syntax error while parsing value "
                "- unexpected end of input; expected '[', '{', or a literal");
}

BOOST_AUTO_TEST_CASE(index_policies_parse_round_trip_and_are_checked_per_kind) {
  auto p = profile::from_json(
      R"({"embedders":[{"name":"E1","kind":"dense","dim":64,"index":"flat","quantization":"int8"},)"
      R"({"name":"E2","kind":"dense","dim":64,"quantization":"binary","m":24,)"
      R"("ef_construction":80,"oversample":12},{"name":"E3","kind":"dense","dim":8}]})");
  BOOST_REQUIRE_MESSAGE(p, test::why(p));
  const auto& e1 = p->embedders[0].index;
  BOOST_CHECK(e1.structure == index_structure::flat);
  BOOST_CHECK(e1.quantization == quantization::int8);
  const auto& e2 = p->embedders[1].index;
  BOOST_CHECK(e2.structure == index_structure::hnsw);
  BOOST_CHECK(e2.quantization == quantization::binary);
  BOOST_CHECK_EQUAL(e2.m, 24u);
  BOOST_CHECK_EQUAL(e2.ef_construction, 80u);
  BOOST_CHECK_EQUAL(e2.oversample, 12u);
  BOOST_CHECK(p->embedders[2].index == index_policy{});
  auto back = profile::from_json(p->to_json());
  BOOST_REQUIRE_MESSAGE(back, test::why(back));
  BOOST_CHECK(*back == *p);
  // Only what differs from the defaults is printed (json_round_trips_... shows a profile
  // without policies prints as before).
  BOOST_CHECK(p->to_json().find(R"({"name":"E3","kind":"dense","dim":8,"metric":"cosine"})") !=
              std::string::npos);

  auto entry = [](const std::string& e) { return R"({"embedders":[)" + e + "]}"; };
  check_invalid(
      profile::from_json(entry(R"({"name":"E1","kind":"dense","dim":4,"index":"annoy"})")),
      "embedders[0].index: E1: expected hnsw, flat or ivf, got string \"annoy\"");
  check_invalid(
      profile::from_json(entry(R"({"name":"E1","kind":"dense","dim":4,"quantization":"pq"})")),
      "embedders[0].quantization: E1: expected none, int8 or binary, got string \"pq\"");
  check_invalid(
      profile::from_json(entry(R"({"name":"E6","kind":"sparse","dim":4,"quantization":"binary"})")),
      "embedders[0].quantization: E6 is sparse and cannot have binary quantization (it uses an "
      "exact inverted index; quantization applies to dense embedders)");
  check_invalid(
      profile::from_json(entry(R"({"name":"E12","kind":"multi","dim":4,"quantization":"int8"})")),
      "embedders[0].quantization: E12 is multi and cannot have int8 quantization (it uses exact "
      "MaxSim over f32 tokens; quantization applies to dense embedders)");
  check_invalid(
      profile::from_json(entry(R"({"name":"E6","kind":"sparse","dim":4,"index":"flat"})")),
      "embedders[0].index: E6 is sparse and takes no index policy (it uses an exact inverted "
      "index)");
  check_invalid(
      profile::from_json(
          entry(R"({"name":"L","kind":"dense","dim":4,"metric":"l2","quantization":"binary"})")),
      "embedders[0].quantization: L uses metric l2; binary codes rank by angle, so they "
      "need cosine or dot (int8 suits l2)");
  check_invalid(profile::from_json(entry(R"({"name":"E1","kind":"dense","dim":4,"m":1})")),
                "embedders[0].m: E1 has m 1, allowed 2..128");
  check_invalid(profile::from_json(entry(R"({"name":"E1","kind":"dense","dim":4,"m":0})")),
                "embedders[0].m: expected a positive integer, got 0");
  check_invalid(profile::from_json(entry(R"({"name":"E1","kind":"dense","dim":4,"oversample":4})")),
                "embedders[0].oversample: E1 has oversample 4 without quantization (f32 scores "
                "need no re-scoring)");
  // validate() refuses the same when a profile is built in code (store creation calls it).
  auto built = test::small_profile();
  built.embedders[2].index.quantization = quantization::int8;
  check_invalid(built.validate(),
                "embedders[2].quantization: s is sparse and cannot have int8 quantization (it "
                "uses an exact inverted index; quantization applies to dense embedders)");
  built = test::small_profile();
  built.embedders[0].index.structure = static_cast<index_structure>(9);
  check_invalid(built.validate(),
                "embedders[0].index: d has unknown index structure 9 (hnsw, flat or ivf)");
}

BOOST_AUTO_TEST_CASE(ivf_is_a_dense_policy_and_refused_elsewhere) {
  auto entry = [](const std::string& e) { return R"({"embedders":[)" + e + "]}"; };
  auto p = profile::from_json(
      entry(R"({"name":"E1","kind":"dense","dim":8,"index":"ivf","quantization":"int8"})"));
  BOOST_REQUIRE_MESSAGE(p, test::why(p));
  BOOST_CHECK(p->embedders[0].index.structure == index_structure::ivf);
  BOOST_CHECK(p->to_json().find(R"("index":"ivf")") != std::string::npos);
  auto back = profile::from_json(p->to_json());
  BOOST_REQUIRE_MESSAGE(back, test::why(back));
  BOOST_CHECK(*back == *p);
  auto decoded = decode_value<embedder>(encode_value(p->embedders[0]), "ivf");
  BOOST_REQUIRE(decoded);
  BOOST_CHECK(*decoded == p->embedders[0]);

  check_invalid(profile::from_json(entry(R"({"name":"E6","kind":"sparse","dim":4,"index":"ivf"})")),
                "embedders[0].index: E6 is sparse and cannot have index ivf (it uses an exact "
                "inverted index; ivf applies to dense embedders)");
  check_invalid(
      profile::from_json(entry(R"({"name":"E12","kind":"multi","dim":4,"index":"ivf"})")),
      "embedders[0].index: E12 is multi and cannot have index ivf (it uses exact MaxSim over f32 "
      "tokens; ivf applies to dense embedders)");
  check_invalid(
      profile::from_json(entry(R"({"name":"E1","kind":"dense","dim":4,"index":"ivf","m":8})")),
      "embedders[0].m: E1 has index ivf and m 8 (m is an HNSW graph parameter; ivf has no graph)");
  check_invalid(profile::from_json(entry(
                    R"({"name":"E1","kind":"dense","dim":4,"index":"ivf","ef_construction":50})")),
                "embedders[0].ef_construction: E1 has index ivf and ef_construction 50 (an HNSW "
                "graph parameter; ivf has no graph)");
  // validate() (store creation, init) refuses the same for a profile built in code.
  auto built = test::small_profile();
  built.embedders[2].index.structure = index_structure::ivf;
  check_invalid(built.validate(), "embedders[2].index: s is sparse and cannot have index ivf (it "
                                  "uses an exact inverted index; ivf applies to dense embedders)");
}

BOOST_AUTO_TEST_CASE(an_embedder_without_a_policy_is_stored_as_before_policies) {
  // The Cereal bytes of a default-policy embedder are those of the previous format, so stores
  // written before policies decode with the default (old) behaviour.
  embedder plain{"E1", embedder_kind::dense, 8, metric::dot};
  auto bytes = encode_value(plain);
  std::string legacy;
  {
    legacy = begin_envelope(value_format::cereal_binary, 1, 0);
    value_output_archive ar{legacy};
    ar(std::string{"E1"}, uint8_t{0}, uint32_t{8}, metric::dot);
  }
  finish_envelope(legacy);
  BOOST_CHECK(bytes == legacy);
  auto decoded = decode_value<embedder>(legacy, "legacy");
  BOOST_REQUIRE(decoded);
  BOOST_CHECK(*decoded == plain);
  // With a policy, the kind byte carries a flag and the policy follows; it round-trips.
  embedder quantised = plain;
  quantised.index.quantization = quantization::int8;
  quantised.index.m = 12;
  auto with_policy = encode_value(quantised);
  BOOST_CHECK(with_policy != legacy);
  auto back = decode_value<embedder>(with_policy, "policy");
  BOOST_REQUIRE(back);
  BOOST_CHECK(*back == quantised);
  BOOST_CHECK(*back != plain);
}

BOOST_AUTO_TEST_SUITE_END()
