// Every data-model type registered in type_ids.hpp survives CAF's binary serialization, alone
// and inside a caf::message (the form it crosses the wire in between cluster nodes).
#include "telos/messages/search.hpp"
#include "telos/messages/type_ids.hpp"

#include "model/fixtures.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/make_message.hpp>

#include <boost/test/unit_test.hpp>

using namespace telos;

// A named namespace, not an anonymous one: the test cases derive from the fixture, and GCC's
// -Wsubobject-linkage rejects a base from an anonymous namespace in a file that is not the main
// file, which this one is not in a unity build.
namespace serialization_test {

struct actor_system_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& configure(caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", 1);
    cfg.add_message_types<caf::id_block::telos>();
    return cfg;
  }

  actor_system_fixture() : sys(configure(cfg)) {}

  /// Serializes and deserializes x; the copy must equal the original.
  template <class T>
  void check_round_trip(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto save_err = sink(x);
    BOOST_REQUIRE_MESSAGE(!save_err, sys.render(save_err));
    T copy{};
    caf::binary_deserializer source{sys, buf};
    auto load_err = source(copy);
    BOOST_REQUIRE_MESSAGE(!load_err, sys.render(load_err));
    BOOST_CHECK_MESSAGE(copy == x, caf::deep_to_string(copy) + " != " + caf::deep_to_string(x));
    BOOST_CHECK_EQUAL(source.remaining(), 0u);
  }
};

} // namespace serialization_test

namespace {

filter sample_filter() {
  filter f;
  f.ns = "notes";
  f.where = {{"lang", {"de", "en"}}, {"topic", {"greeting"}}};
  f.created_after = -5;
  f.created_before = 1700000000000;
  return f;
}

search_request sample_request() {
  search_request r;
  r.embedder = "s";
  r.query = embedding::sparse({1, 7}, {0.5f, 0.25f});
  r.k = 17;
  r.filter = sample_filter();
  r.with_records = false;
  return r;
}

fused_search_request sample_fused_request() {
  fused_search_request r;
  r.queries = test::small_memory().embeddings;
  r.weights = {{"d", 2.0f}, {"m", 0.5f}};
  r.fusion = fusion::weighted_sum;
  r.rrf_k = 30;
  r.k = 5;
  r.filter.created_before = 12;
  return r;
}

std::vector<hit> sample_hits() {
  return {{*uuid::parse("0123abcd-4567-89ab-cdef-0123456789ab"), 0.75f}, {uuid::random(), -3.5f}};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(serialization_suite, serialization_test::actor_system_fixture)

BOOST_AUTO_TEST_CASE(enums_round_trip) {
  check_round_trip(embedder_kind::multi);
  check_round_trip(metric::l2);
  check_round_trip(fusion::weighted_sum);
}

BOOST_AUTO_TEST_CASE(profile_types_round_trip) {
  check_round_trip(embedder{"E6", embedder_kind::sparse, 30522, metric::dot});
  check_round_trip(profile::teleo13());
  check_round_trip(test::small_profile());
}

BOOST_AUTO_TEST_CASE(memory_types_round_trip) {
  check_round_trip(embedding::sparse({1, 2, 3}, {0.5f, -0.5f, 1e-30f}));
  check_round_trip(test::small_memory());
  check_round_trip(test::teleo13_memory());
  check_round_trip(std::vector<memory>{test::small_memory(), memory{}});
  limits lim;
  lim.max_tokens = 3;
  lim.max_batch = 7;
  check_round_trip(lim);
}

BOOST_AUTO_TEST_CASE(filter_round_trips_with_and_without_bounds) {
  check_round_trip(attribute_predicate{"k", {"a", "b"}});
  check_round_trip(sample_filter());
  check_round_trip(filter{});
  filter only_before;
  only_before.created_before = 0;
  check_round_trip(only_before);
}

BOOST_AUTO_TEST_CASE(search_types_round_trip) {
  check_round_trip(hit{uuid::random(), 0.5f});
  check_round_trip(sample_hits());
  check_round_trip(sample_request());
  check_round_trip(sample_fused_request());
  search_result r;
  r.hits = sample_hits();
  r.records = {test::small_memory(), test::small_memory()};
  check_round_trip(r);
}

BOOST_AUTO_TEST_CASE(messages_of_registered_types_round_trip) {
  auto original = caf::make_message(test::small_memory(), profile::teleo13(), sample_request(),
                                    sample_fused_request(), sample_hits(), metric::dot);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto save_err = sink(original);
  BOOST_REQUIRE_MESSAGE(!save_err, sys.render(save_err));
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  auto load_err = source(copy);
  BOOST_REQUIRE_MESSAGE(!load_err, sys.render(load_err));
  BOOST_REQUIRE((copy.match_elements<memory, profile, search_request, fused_search_request,
                                     std::vector<hit>, metric>()));
  BOOST_CHECK(copy.get_as<memory>(0) == test::small_memory());
  BOOST_CHECK(copy.get_as<profile>(1) == profile::teleo13());
  BOOST_CHECK(copy.get_as<search_request>(2) == sample_request());
  BOOST_CHECK(copy.get_as<fused_search_request>(3) == sample_fused_request());
  BOOST_CHECK(copy.get_as<std::vector<hit>>(4) == original.get_as<std::vector<hit>>(4));
  BOOST_CHECK(copy.get_as<metric>(5) == metric::dot);
  // Rendering for logs goes through the same inspect functions.
  BOOST_CHECK(caf::to_string(copy).find("profile(\"teleo13\"") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
