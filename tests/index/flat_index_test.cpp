// Dense indexes below the HNSW threshold: exact search for every metric, order and ties,
// replacement, removal, filters, score(), exact_score() and the kernels against the reference.
#include "index_reference.hpp"

#include "telos/storage/vector_index.hpp"
#include "telos/storage/vector_kernels.hpp"

using namespace index_test;
using telos::metric;
using telos::storage::id_predicate;
using telos::storage::index_options;
using telos::storage::make_vector_index;

namespace {

const metric all_metrics[] = {metric::cosine, metric::dot, metric::l2};

/// A flat dense index with `n` random vectors of `dim` (not a multiple of 16, so the kernels'
/// tails run), and the same vectors for the reference.
struct flat_fixture {
  flat_fixture(metric m, size_t n, uint32_t dim, uint32_t seed) : m(m), dim(dim), rng(seed) {
    index = make_vector_index(dense_spec(dim, m), index_options{});
    for (size_t i = 0; i < n; ++i)
      put(id_of(i), gaussian(rng, dim));
  }

  void put(const uuid& id, std::vector<float> v) {
    index->upsert(id, embedding::dense(v));
    stored[id] = embedding::dense(std::move(v));
  }

  std::vector<scored> truth(const std::vector<float>& q,
                            const std::function<bool(const uuid&)>& allow = nullptr) const {
    return brute_force(
        stored, [&](const embedding& e) { return reference_dense(m, q, e.values); },
        [&](const uuid& id, const embedding&) { return !allow || allow(id); });
  }

  metric m;
  uint32_t dim;
  std::mt19937 rng;
  std::unique_ptr<telos::storage::vector_index> index;
  std::map<uuid, embedding> stored;
};

} // namespace

BOOST_AUTO_TEST_SUITE(flat_index)

BOOST_AUTO_TEST_CASE(flat_search_is_the_exact_top_k_for_every_metric) {
  for (auto m : all_metrics) {
    BOOST_TEST_CONTEXT("metric " << telos::to_string(m)) {
      flat_fixture f{m, 700, 37, 1};
      for (int query = 0; query < 20; ++query) {
        auto q = gaussian(f.rng, f.dim);
        auto truth = f.truth(q);
        for (size_t k : {1, 10, 50})
          check_exact_top_k(f.index->search(embedding::dense(q), k), truth, k);
      }
      auto stats = f.index->stats();
      BOOST_CHECK_EQUAL(stats.structure, "flat");
      BOOST_CHECK_EQUAL(stats.vectors, 700u);
      BOOST_CHECK_EQUAL(stats.fresh, 0u);
      BOOST_CHECK_GE(stats.memory_bytes, 700u * 37 * sizeof(float));
    }
  }
}

BOOST_AUTO_TEST_CASE(l2_scores_are_negated_euclidean_distances) {
  flat_fixture f{metric::l2, 0, 3, 2};
  f.put(id_of(1), {3, 4, 0});
  f.put(id_of(2), {1, 0, 0});
  auto got = f.index->search(embedding::dense({0, 0, 0}), 2);
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_CHECK(got[0].id == id_of(2));
  BOOST_CHECK_CLOSE(got[0].score, -1.0f, 1e-4);
  BOOST_CHECK(got[1].id == id_of(1));
  BOOST_CHECK_CLOSE(got[1].score, -5.0f, 1e-4);
}

BOOST_AUTO_TEST_CASE(equal_scores_are_ordered_by_id) {
  for (auto m : all_metrics) {
    flat_fixture f{m, 0, 20, 3};
    auto v = gaussian(f.rng, 20);
    // Identical vectors inserted in scrambled id order, plus a worse one in between.
    for (uint64_t n : {7, 3, 11, 5, 1, 9})
      f.put(id_of(n), v);
    auto other = gaussian(f.rng, 20);
    f.put(id_of(2), other);
    auto got = f.index->search(embedding::dense(v), 4);
    BOOST_REQUIRE_EQUAL(got.size(), 4u);
    uint64_t expected_order[] = {1, 3, 5, 7};
    for (size_t i = 0; i < 4; ++i) {
      BOOST_CHECK(got[i].id == id_of(expected_order[i]));
      BOOST_CHECK_EQUAL(got[i].score, got[0].score);
    }
  }
}

BOOST_AUTO_TEST_CASE(upsert_replaces_the_previous_vector) {
  for (auto m : all_metrics) {
    flat_fixture f{m, 200, 16, 4};
    auto q = gaussian(f.rng, 16);
    auto best = f.index->search(embedding::dense(q), 1);
    BOOST_REQUIRE_EQUAL(best.size(), 1u);
    // Move the best hit far away: it must not be found with its old score any more.
    auto far = q;
    for (auto& x : far)
      x = -x * 3;
    f.put(best[0].id, far);
    BOOST_CHECK_EQUAL(f.index->size(), 200u);
    auto got = f.index->search(embedding::dense(q), 200);
    check_exact_top_k(got, f.truth(q), 200);
    for (const auto& h : got)
      if (h.id == best[0].id)
        BOOST_CHECK_SMALL(h.score - reference_dense(m, q, far), tolerance(h.score));
  }
}

BOOST_AUTO_TEST_CASE(removed_ids_are_never_found_again) {
  flat_fixture f{metric::cosine, 300, 24, 5};
  for (uint64_t n = 0; n < 300; n += 3) {
    BOOST_CHECK(f.index->remove(id_of(n)));
    f.stored.erase(id_of(n));
  }
  BOOST_CHECK(!f.index->remove(id_of(0)));
  BOOST_CHECK(!f.index->contains(id_of(3)));
  BOOST_CHECK(f.index->contains(id_of(4)));
  BOOST_CHECK_EQUAL(f.index->size(), 200u);
  for (int query = 0; query < 10; ++query) {
    auto q = gaussian(f.rng, 24);
    auto got = f.index->search(embedding::dense(q), 300);
    check_exact_top_k(got, f.truth(q), 300);
  }
}

BOOST_AUTO_TEST_CASE(filtered_search_equals_filtering_then_searching) {
  for (auto m : all_metrics) {
    flat_fixture f{m, 500, 30, 6};
    std::set<uuid> allowed;
    for (uint64_t n = 0; n < 500; n += 7)
      allowed.insert(id_of(n));
    id_predicate allow = [&](const uuid& id) { return allowed.count(id) != 0; };
    for (int query = 0; query < 10; ++query) {
      auto q = gaussian(f.rng, 30);
      auto got = f.index->search(embedding::dense(q), 10, &allow);
      check_exact_top_k(got, f.truth(q, allow), 10);
    }
    id_predicate none = [](const uuid&) { return false; };
    BOOST_CHECK(f.index->search(embedding::dense(gaussian(f.rng, 30)), 10, &none).empty());
  }
}

BOOST_AUTO_TEST_CASE(score_is_the_exact_score_of_one_stored_id) {
  for (auto m : all_metrics) {
    flat_fixture f{m, 50, 19, 7};
    auto q = gaussian(f.rng, 19);
    for (const auto& [id, e] : f.stored) {
      auto s = f.index->score(embedding::dense(q), id);
      BOOST_REQUIRE(s);
      double expected = reference_dense(m, q, e.values);
      BOOST_CHECK_SMALL(*s - expected, tolerance(expected));
      float library = telos::storage::exact_score(dense_spec(19, m), embedding::dense(q), e);
      BOOST_CHECK_SMALL(library - expected, tolerance(expected));
    }
    BOOST_CHECK(!f.index->score(embedding::dense(q), id_of(999)));
  }
}

BOOST_AUTO_TEST_CASE(a_query_of_the_wrong_dimension_finds_nothing) {
  flat_fixture f{metric::cosine, 10, 8, 8};
  BOOST_CHECK(f.index->search(embedding::dense(std::vector<float>(7, 1.0f)), 5).empty());
  BOOST_CHECK(!f.index->score(embedding::dense(std::vector<float>(9, 1.0f)), id_of(1)));
  BOOST_CHECK(f.index->search(embedding::dense(std::vector<float>(8, 1.0f)), 0).empty());
}

BOOST_AUTO_TEST_CASE(maintain_below_the_threshold_builds_no_graph) {
  flat_fixture f{metric::dot, 100, 8, 9};
  BOOST_CHECK_EQUAL(f.index->maintain(1000), 0u);
  BOOST_CHECK_EQUAL(f.index->stats().structure, "flat");
}

BOOST_AUTO_TEST_CASE(kernels_agree_with_the_definitions_for_every_length) {
  std::mt19937 rng{10};
  for (size_t n : {0, 1, 3, 15, 16, 17, 31, 32, 33, 100, 784}) {
    auto a = gaussian(rng, n);
    auto b = gaussian(rng, n);
    double dot = 0, squared = 0;
    for (size_t i = 0; i < n; ++i) {
      dot += double{a[i]} * b[i];
      squared += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    }
    BOOST_CHECK_SMALL(telos::storage::kernels::dot(a.data(), b.data(), n) - dot,
                      1e-4 * std::max(1.0, std::sqrt(double(n))));
    BOOST_CHECK_SMALL(telos::storage::kernels::squared_l2(a.data(), b.data(), n) - squared,
                      1e-4 * std::max(1.0, squared));
  }
}

BOOST_AUTO_TEST_SUITE_END()
