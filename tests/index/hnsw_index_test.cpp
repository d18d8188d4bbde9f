// Dense indexes above the HNSW threshold: recall on clustered data, the fresh buffer, exact
// scores for graph hits, replacement and removal without stale hits (also while a graph is
// rebuilt), filtered search.
#include "index_reference.hpp"

#include "telos/storage/vector_index.hpp"

using namespace index_test;
using telos::metric;
using telos::storage::id_predicate;
using telos::storage::index_options;
using telos::storage::make_vector_index;

namespace {

/// A dense index with a low HNSW threshold over clustered data, plus the reference copy.
struct hnsw_fixture {
  hnsw_fixture(metric m, uint32_t dim, size_t threshold, uint32_t seed)
      : m(m), dim(dim), data(dim, 40, seed) {
    index_options opts;
    opts.hnsw_threshold = threshold;
    opts.hnsw_ef_construction = 100;
    index = make_vector_index(dense_spec(dim, m), opts);
  }

  void put(const uuid& id, std::vector<float> v) {
    index->upsert(id, embedding::dense(v));
    stored[id] = embedding::dense(std::move(v));
  }

  void erase(const uuid& id) {
    BOOST_CHECK(index->remove(id));
    stored.erase(id);
  }

  void fill(uint64_t first, size_t n) {
    for (uint64_t i = first; i < first + n; ++i)
      put(id_of(i), data.next());
  }

  /// Calls maintain() until it has nothing left to do; returns how many vectors it inserted.
  size_t drain(size_t budget = 500) {
    size_t total = 0;
    while (size_t moved = index->maintain(budget))
      total += moved;
    return total;
  }

  std::vector<scored> truth(const std::vector<float>& q,
                            const std::function<bool(const uuid&)>& allow = nullptr) const {
    return brute_force(
        stored, [&](const embedding& e) { return reference_dense(m, q, e.values); },
        [&](const uuid& id, const embedding&) { return !allow || allow(id); });
  }

  /// Mean recall@k over `queries` queries; every hit must carry its exact score and no hit
  /// may be an id that is not stored.
  double mean_recall(size_t queries, size_t k, const id_predicate* allow = nullptr) {
    double sum = 0;
    for (size_t i = 0; i < queries; ++i) {
      auto q = data.next();
      auto got = index->search(embedding::dense(q), k, allow);
      BOOST_CHECK(std::is_sorted(got.begin(), got.end(), telos::better));
      for (const auto& h : got) {
        auto it = stored.find(h.id);
        BOOST_REQUIRE_MESSAGE(it != stored.end(), "a hit is not a stored id");
        if (allow) BOOST_CHECK((*allow)(h.id));
        double expected = reference_dense(m, q, it->second.values);
        BOOST_CHECK_SMALL(h.score - expected, tolerance(expected));
      }
      sum += recall(got, allow ? truth(q, *allow) : truth(q), k);
    }
    return sum / static_cast<double>(queries);
  }

  metric m;
  uint32_t dim;
  clustered_data data;
  std::unique_ptr<telos::storage::vector_index> index;
  std::map<uuid, embedding> stored;
};

} // namespace

BOOST_AUTO_TEST_SUITE(hnsw_index)

BOOST_AUTO_TEST_CASE(hnsw_recall_at_10_is_at_least_0_95_on_clustered_data) {
  // 5000 vectors for l2; fewer for the other metrics, which share the graph code, to keep the
  // suite quick under sanitizers.
  for (auto [m, n] : {std::pair{metric::l2, 5000u}, std::pair{metric::cosine, 2000u},
                      std::pair{metric::dot, 2000u}}) {
    BOOST_TEST_CONTEXT("metric " << telos::to_string(m)) {
      hnsw_fixture f{m, 64, 1000, 11};
      f.fill(0, n);
      BOOST_CHECK_EQUAL(f.index->stats().fresh, n);
      BOOST_CHECK_EQUAL(f.drain(), n);
      auto stats = f.index->stats();
      BOOST_CHECK_EQUAL(stats.structure, "hnsw");
      BOOST_CHECK_EQUAL(stats.fresh, 0u);
      BOOST_CHECK_EQUAL(stats.vectors, n);
      // The graph holds each vector and at least its level-0 links.
      BOOST_CHECK_GE(stats.memory_bytes, n * (64 * sizeof(float) + 32 * sizeof(uint32_t)));
      double r = f.mean_recall(100, 10);
      BOOST_TEST_MESSAGE("recall@10 " << telos::to_string(m) << " = " << r);
      BOOST_CHECK_GE(r, 0.95);
    }
  }
}

BOOST_AUTO_TEST_CASE(maintain_honours_its_budget_and_reports_the_fresh_depth) {
  hnsw_fixture f{metric::l2, 16, 100, 12};
  f.fill(0, 99);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
  BOOST_CHECK_EQUAL(f.index->maintain(10), 0u);
  f.fill(99, 151);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 250u);
  BOOST_CHECK_EQUAL(f.index->maintain(100), 100u);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 150u);
  BOOST_CHECK_EQUAL(f.index->stats().structure, "hnsw");
  BOOST_CHECK_EQUAL(f.index->maintain(1000), 150u);
  BOOST_CHECK_EQUAL(f.index->maintain(1000), 0u);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
}

BOOST_AUTO_TEST_CASE(fresh_vectors_are_found_exactly_before_and_after_maintain) {
  hnsw_fixture f{metric::cosine, 32, 500, 13};
  f.fill(0, 1000);
  f.drain();
  // New vectors: each is its own nearest neighbour; they must be found before maintain().
  std::vector<uuid> fresh;
  for (uint64_t i = 10000; i < 10050; ++i) {
    f.put(id_of(i), f.data.next());
    fresh.push_back(id_of(i));
  }
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 50u);
  for (const auto& id : fresh) {
    auto got = f.index->search(f.stored[id], 1);
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    BOOST_CHECK(got[0].id == id);
    BOOST_CHECK_CLOSE(got[0].score, 1.0f, 1e-3);
  }
  BOOST_CHECK_EQUAL(f.drain(7), 50u);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
  for (const auto& id : fresh) {
    auto got = f.index->search(f.stored[id], 1);
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    BOOST_CHECK(got[0].id == id);
  }
  BOOST_CHECK_GE(f.mean_recall(50, 10), 0.95);
}

BOOST_AUTO_TEST_CASE(replaced_and_removed_graph_vectors_never_show_up_stale) {
  hnsw_fixture f{metric::l2, 24, 200, 14};
  f.fill(0, 800);
  f.drain();
  std::mt19937 rng{15};
  // Replace every 5th vector by one far away and remove every 7th; searching at an old
  // position must find neither (a replaced one's new vector is far from every old position).
  std::vector<std::pair<uuid, std::vector<float>>> old_positions;
  for (uint64_t n = 0; n < 800; n += 5) {
    old_positions.emplace_back(id_of(n), f.stored[id_of(n)].values);
    f.put(id_of(n), gaussian(rng, 24, 10.0f));
  }
  for (uint64_t n = 1; n < 800; n += 7) {
    old_positions.emplace_back(id_of(n), f.stored[id_of(n)].values);
    f.erase(id_of(n));
  }
  BOOST_CHECK_EQUAL(f.index->size(), f.stored.size());
  auto check_no_stale = [&] {
    for (const auto& [id, position] : old_positions) {
      for (const auto& h : f.index->search(embedding::dense(position), 10))
        BOOST_CHECK_MESSAGE(!(h.id == id), "stale hit " << id.to_string());
    }
    BOOST_CHECK_GE(f.mean_recall(50, 10), 0.9);
  };
  check_no_stale();
  f.drain(100);
  check_no_stale();
  for (uint64_t n = 1; n < 800; n += 7) {
    BOOST_CHECK(!f.index->contains(id_of(n)));
    BOOST_CHECK(!f.index->score(embedding::dense(std::vector<float>(24, 0.0f)), id_of(n)));
  }
}

BOOST_AUTO_TEST_CASE(a_graph_with_many_deletions_is_rebuilt_while_it_keeps_answering) {
  hnsw_fixture f{metric::l2, 16, 100, 16};
  f.fill(0, 1200);
  f.drain();
  auto before = f.index->stats().memory_bytes;
  for (uint64_t n = 0; n < 1200; n += 2)
    f.erase(id_of(n));
  // The first maintain() starts a replacement graph; replace and remove vectors while it is
  // half copied, then let it finish.
  BOOST_CHECK_EQUAL(f.index->maintain(300), 300u);
  for (uint64_t n = 1; n < 400; n += 4)
    f.erase(id_of(n));
  std::mt19937 rng{17};
  for (uint64_t n = 3; n < 1200; n += 8)
    f.put(id_of(n), gaussian(rng, 16, 5.0f));
  BOOST_CHECK_GE(f.mean_recall(30, 10), 0.9);
  f.drain(250);
  auto after = f.index->stats();
  BOOST_CHECK_EQUAL(after.structure, "hnsw");
  BOOST_CHECK_EQUAL(after.fresh, 0u);
  BOOST_CHECK_EQUAL(after.vectors, f.stored.size());
  BOOST_CHECK_LT(after.memory_bytes, before);
  BOOST_CHECK_GE(f.mean_recall(50, 10), 0.95);
  for (const auto& [id, e] : f.stored) {
    auto s = f.index->score(e, id);
    BOOST_REQUIRE(s);
    BOOST_CHECK_SMALL(*s, 1e-4f);
  }
}

BOOST_AUTO_TEST_CASE(filtered_hnsw_search_has_high_recall_and_only_allowed_hits) {
  hnsw_fixture f{metric::cosine, 32, 500, 18};
  f.fill(0, 3000);
  f.drain();
  for (uint64_t modulus : {2, 10, 100, 1000}) {
    BOOST_TEST_CONTEXT("ids whose last byte is a multiple of " << modulus) {
      id_predicate allow = [modulus](const uuid& id) { return id.bytes[15] % modulus == 0; };
      BOOST_CHECK_GE(f.mean_recall(30, 10, &allow), 0.9);
    }
  }
  // A very selective filter ends in an exact scan: the result is exact.
  id_predicate rare = [](const uuid& id) { return id.bytes[15] == 7 && id.bytes[14] % 4 == 0; };
  for (int query = 0; query < 10; ++query) {
    auto q = f.data.next();
    check_exact_top_k(f.index->search(embedding::dense(q), 5, &rare), f.truth(q, rare), 5);
  }
}

BOOST_AUTO_TEST_CASE(the_default_search_ef_grows_with_the_graph) {
  using telos::storage::default_search_ef;
  BOOST_CHECK_EQUAL(default_search_ef(0), 64u);
  BOOST_CHECK_EQUAL(default_search_ef(50000), 64u);
  BOOST_CHECK_EQUAL(default_search_ef(100000), 108u);
  BOOST_CHECK_EQUAL(default_search_ef(200000), 182u);
  BOOST_CHECK_EQUAL(default_search_ef(1000000), 512u);
  BOOST_CHECK_EQUAL(default_search_ef(100000000), 512u);
  size_t last = 0;
  for (size_t n = 0; n <= 2000000; n += 25000) {
    BOOST_CHECK_GE(default_search_ef(n), last);
    last = default_search_ef(n);
  }
  // The option's default (0) is the growing ef; a graph searched with it answers as one with the
  // same ef set by hand.
  BOOST_CHECK_EQUAL(index_options{}.hnsw_ef_search, 0u);
  hnsw_fixture f{metric::l2, 16, 100, 29};
  f.fill(0, 600);
  f.drain();
  auto q = f.data.next();
  auto automatic = f.index->search(embedding::dense(q), 10, nullptr);
  f.index->set_ef_search(64);
  auto fixed = f.index->search(embedding::dense(q), 10, nullptr);
  BOOST_REQUIRE_EQUAL(automatic.size(), fixed.size());
  for (size_t i = 0; i < fixed.size(); ++i)
    BOOST_CHECK(automatic[i].id == fixed[i].id);
}

BOOST_AUTO_TEST_CASE(set_ef_search_trades_recall_for_speed) {
  hnsw_fixture f{metric::l2, 32, 100, 19};
  f.fill(0, 1500);
  f.drain();
  f.index->set_ef_search(10);
  double low = f.mean_recall(50, 10);
  f.index->set_ef_search(200);
  double high = f.mean_recall(50, 10);
  BOOST_TEST_MESSAGE("recall@10 at ef 10: " << low << ", at ef 200: " << high);
  BOOST_CHECK_GE(high, low);
  BOOST_CHECK_GE(high, 0.98);
}

BOOST_AUTO_TEST_SUITE_END()
