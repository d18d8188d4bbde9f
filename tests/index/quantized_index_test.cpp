// Quantised dense indexes: the binary kernels and int8 codes against a scalar reference, search
// that re-scores from the f32 originals (the exact answer in flat mode, recall on a test-sized
// HNSW), snapshots that round-trip and refuse another policy, and what the index does without
// originals.
#include "index_reference.hpp"

#include "telos/storage/vector_index.hpp"
#include "telos/storage/vector_kernels.hpp"

using namespace index_test;
using telos::ec;
using telos::index_structure;
using telos::metric;
using telos::quantization;
using telos::storage::index_options;
using telos::storage::make_vector_index;
using telos::storage::vector_index;
namespace kernels = telos::storage::kernels;

namespace {

telos::embedder quantised_spec(uint32_t dim, metric m, quantization q,
                               index_structure s = index_structure::hnsw) {
  return policy_spec(dim, m, q, s);
}

using quantised_fixture = originals_fixture;

/// Centred data with close neighbours, what binary codes can rank: `families` random Gaussian
/// anchors, each the centre of near copies (noise 0.1 per coordinate); next() cycles through the
/// families, so a query drawn the same way has its family as its nearest neighbours.
class family_data {
public:
  family_data(size_t dim, size_t families, uint32_t seed) : dim_(dim), rng_(seed) {
    for (size_t f = 0; f < families; ++f)
      anchors_.push_back(gaussian(rng_, dim));
  }

  std::vector<float> next() {
    const auto& anchor = anchors_[next_++ % anchors_.size()];
    auto v = gaussian(rng_, dim_, 0.1f);
    for (size_t i = 0; i < dim_; ++i)
      v[i] += anchor[i];
    return v;
  }

private:
  size_t dim_;
  std::mt19937 rng_;
  std::vector<std::vector<float>> anchors_;
  size_t next_ = 0;
};

} // namespace

BOOST_AUTO_TEST_SUITE(quantised_index)

BOOST_AUTO_TEST_CASE(hamming_counts_differing_bits_for_every_length) {
  std::mt19937_64 rng{5};
  for (size_t words : {0, 1, 7, 8, 9, 16, 24, 100}) {
    std::vector<uint64_t> a(words), b(words);
    for (size_t i = 0; i < words; ++i) {
      a[i] = rng();
      b[i] = rng();
    }
    uint32_t expected = 0;
    for (size_t i = 0; i < words; ++i)
      for (int bit = 0; bit < 64; ++bit)
        expected += ((a[i] >> bit) & 1) != ((b[i] >> bit) & 1) ? 1 : 0;
    BOOST_TEST_CONTEXT("words " << words) {
      BOOST_CHECK_EQUAL(kernels::hamming(a.data(), b.data(), words), expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(int8_codes_are_within_half_a_step_and_binary_codes_are_the_signs) {
  std::mt19937 rng{7};
  auto x = gaussian(rng, 70);
  x[13] = 0;
  std::vector<int8_t> codes(x.size());
  float scale = kernels::quantize_int8(x.data(), x.size(), codes.data());
  float largest = 0;
  for (float v : x)
    largest = std::max(largest, std::fabs(v));
  BOOST_CHECK_CLOSE(scale, largest / 127.0f, 1e-4);
  int extreme = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    BOOST_CHECK_LE(std::fabs(x[i] - scale * codes[i]), scale * 0.5f + 1e-6f);
    BOOST_CHECK_GE(codes[i], -127);
    extreme = std::max(extreme, std::abs(int{codes[i]}));
  }
  BOOST_CHECK_EQUAL(extreme, 127);
  std::vector<float> zero(9, 0.0f);
  std::vector<int8_t> zero_codes(9, 1);
  BOOST_CHECK_EQUAL(kernels::quantize_int8(zero.data(), zero.size(), zero_codes.data()), 0.0f);
  BOOST_CHECK(std::all_of(zero_codes.begin(), zero_codes.end(), [](int8_t c) { return c == 0; }));

  std::vector<uint64_t> bits(kernels::binary_words(x.size()), ~uint64_t{0});
  kernels::binarize(x.data(), x.size(), bits.data());
  BOOST_REQUIRE_EQUAL(bits.size(), 2u);
  for (size_t i = 0; i < 128; ++i) {
    bool set = ((bits[i / 64] >> (i % 64)) & 1) != 0;
    BOOST_CHECK_EQUAL(set, i < x.size() && x[i] > 0);
  }
}

BOOST_AUTO_TEST_CASE(quantised_flat_search_after_rescoring_is_the_exact_top_k) {
  // Binary codes keep one sign per dimension: they tell close neighbours from far vectors in
  // centred data, not the order among points that differ by noise alone (docs/ENGINE.md,
  // "Index policy"), so they are tested on data with close neighbours.
  struct variant {
    metric m;
    quantization q;
    uint32_t dim;
    bool centred;
  };
  for (auto v : {variant{metric::cosine, quantization::int8, 37, false},
                 variant{metric::dot, quantization::int8, 37, false},
                 variant{metric::l2, quantization::int8, 37, false},
                 variant{metric::cosine, quantization::binary, 256, true},
                 variant{metric::dot, quantization::binary, 256, true}}) {
    BOOST_TEST_CONTEXT(telos::to_string(v.m) << " " << telos::to_string(v.q)) {
      quantised_fixture f{quantised_spec(v.dim, v.m, v.q), index_options{}};
      clustered_data clustered{v.dim, 8, 11};
      family_data families{v.dim, 60, 11};
      auto next = [&] { return v.centred ? families.next() : clustered.next(); };
      for (uint64_t i = 0; i < 600; ++i)
        f.put(id_of(i), next());
      BOOST_CHECK_EQUAL(f.index->stats().structure, "flat");
      for (int query = 0; query < 20; ++query) {
        auto q = next();
        auto truth = f.truth(q);
        for (size_t k : {1, 10})
          check_exact_top_k(f.index->search(embedding::dense(q), k), truth, k);
      }
      // score() of a stored id is exact too.
      auto q = next();
      auto exact = reference_dense(v.m, q, f.stored.at(id_of(5)).values);
      auto got = f.index->score(embedding::dense(q), id_of(5));
      BOOST_REQUIRE(got);
      BOOST_CHECK_SMALL(*got - exact, tolerance(exact));
      BOOST_CHECK(!f.index->score(embedding::dense(q), id_of(100000)));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_quantised_index_rescores_k_times_oversample_candidates) {
  auto spec = quantised_spec(32, metric::cosine, quantization::int8);
  spec.index.oversample = 5;
  quantised_fixture f{spec, index_options{}};
  std::mt19937 rng{13};
  for (uint64_t i = 0; i < 200; ++i)
    f.put(id_of(i), gaussian(rng, 32));
  f.fetched = 0;
  auto hits = f.index->search(embedding::dense(gaussian(rng, 32)), 4);
  BOOST_CHECK_EQUAL(hits.size(), 4u);
  BOOST_CHECK_EQUAL(f.fetched, 20u);
  // An id whose original is gone (removed from the store, not yet from the index) is dropped.
  auto q = gaussian(rng, 32);
  auto first = f.index->search(embedding::dense(q), 1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  f.stored.erase(first[0].id);
  auto again = f.index->search(embedding::dense(q), 1);
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_CHECK(again[0].id != first[0].id);
}

BOOST_AUTO_TEST_CASE(int8_oversample_defaults_by_structure_and_a_policy_or_the_options_say) {
  // An int8 policy that names no oversample re-scores k * 3 candidates in a graph (whose own
  // misses come on top of the codes') and k * 2 where every scanned vector is ranked by code (ivf,
  // flat); index_options::int8_oversample overrides both, a policy's own oversample wins over it,
  // and binary keeps its own default of 10.
  auto graph = quantised_spec(32, metric::cosine, quantization::int8);
  auto flat = quantised_spec(32, metric::cosine, quantization::int8, index_structure::flat);
  auto ivf = quantised_spec(32, metric::cosine, quantization::int8, index_structure::ivf);
  auto named = graph;
  named.index.oversample = 5;
  auto binary = quantised_spec(64, metric::cosine, quantization::binary);
  index_options four, one;
  four.int8_oversample = 4;
  one.int8_oversample = 1;
  quantised_fixture graph_default{graph, index_options{}}, flat_default{flat, index_options{}},
      ivf_default{ivf, index_options{}}, flat_four{flat, four}, graph_one{graph, one},
      policy{named, one}, bits{binary, four};
  std::mt19937 rng{29};
  std::vector<quantised_fixture*> dense{&graph_default, &flat_default, &ivf_default,
                                        &flat_four,     &graph_one,    &policy};
  for (uint64_t i = 0; i < 200; ++i) {
    auto v = gaussian(rng, 32);
    for (auto* f : dense)
      f->put(id_of(i), v);
    bits.put(id_of(i), gaussian(rng, 64));
  }
  auto q = gaussian(rng, 32);
  const std::vector<size_t> expected{12, 8, 8, 16, 4, 20};
  for (size_t i = 0; i < dense.size(); ++i) {
    auto& f = *dense[i];
    f.fetched = 0;
    auto hits = f.index->search(embedding::dense(q), 4);
    BOOST_CHECK_EQUAL(hits.size(), 4u);
    BOOST_CHECK_EQUAL(f.fetched, expected[i]);
    // However many were re-scored, every reported score is the exact one.
    for (const auto& h : hits) {
      auto exact = reference_dense(metric::cosine, q, f.stored.at(h.id).values);
      BOOST_CHECK_SMALL(h.score - exact, tolerance(exact));
    }
  }
  bits.fetched = 0;
  BOOST_CHECK_EQUAL(bits.index->search(embedding::dense(gaussian(rng, 64)), 4).size(), 4u);
  BOOST_CHECK_EQUAL(bits.fetched, 40u);
}

BOOST_AUTO_TEST_CASE(a_search_deeper_than_rescore_depth_rescores_k_candidates) {
  // A fused search asks every embedder for its top 100 and fuses by rank: above rescore_depth a
  // search re-scores rescore_depth * oversample + (k - rescore_depth) originals instead of
  // k * oversample.
  auto spec = quantised_spec(32, metric::cosine, quantization::int8);
  spec.index.oversample = 3;
  index_options shallow_opts, every_depth;
  shallow_opts.rescore_depth = 5;
  every_depth.rescore_depth = 0;
  quantised_fixture f{spec, shallow_opts}, g{spec, every_depth};
  clustered_data data{32, 4, 19};
  for (uint64_t i = 0; i < 400; ++i) {
    auto v = data.next();
    f.put(id_of(i), v);
    g.put(id_of(i), v);
  }
  double recall_sum = 0;
  for (int query = 0; query < 10; ++query) {
    auto q = data.next();
    auto truth = f.truth(q);
    f.fetched = 0;
    auto deep = f.index->search(embedding::dense(q), 60);
    BOOST_CHECK_EQUAL(f.fetched, 70u);
    BOOST_REQUIRE_EQUAL(deep.size(), 60u);
    BOOST_CHECK(std::is_sorted(deep.begin(), deep.end(), telos::better));
    std::set<uuid> distinct;
    for (const auto& h : deep) {
      distinct.insert(h.id);
      // Every reported score is still the exact one.
      auto exact = reference_dense(metric::cosine, q, f.stored.at(h.id).values);
      BOOST_CHECK_SMALL(h.score - exact, tolerance(exact));
    }
    BOOST_CHECK_EQUAL(distinct.size(), 60u);
    // Its candidates include those of a search for rescore_depth (the best 15 by code), so its
    // top is at least as good: here the exact top 5.
    f.fetched = 0;
    auto shallow = f.index->search(embedding::dense(q), 5);
    BOOST_CHECK_EQUAL(f.fetched, 15u);
    check_exact_top_k(shallow, truth, 5);
    for (size_t i = 0; i < shallow.size(); ++i)
      BOOST_CHECK_GE(deep[i].score, shallow[i].score);
    recall_sum += recall(deep, truth, 60);
    // rescore_depth 0 reads k * oversample originals at every depth: the exact top 60.
    g.fetched = 0;
    check_exact_top_k(g.index->search(embedding::dense(q), 60), truth, 60);
    BOOST_CHECK_EQUAL(g.fetched, 180u);
  }
  BOOST_TEST_MESSAGE("recall@60 with 70 of 180 candidates re-scored: " << recall_sum / 10);
  BOOST_CHECK_GE(recall_sum / 10, 0.9);
  // At k <= rescore_depth nothing changes: k * oversample re-scored.
  f.fetched = 0;
  auto q = data.next();
  check_exact_top_k(f.index->search(embedding::dense(q), 4), f.truth(q), 4);
  BOOST_CHECK_EQUAL(f.fetched, 12u);
  // Each rank beyond rescore_depth adds one candidate: 15 + 3 at k 8.
  f.fetched = 0;
  BOOST_CHECK_EQUAL(f.index->search(embedding::dense(q), 8).size(), 8u);
  BOOST_CHECK_EQUAL(f.fetched, 18u);
}

BOOST_AUTO_TEST_CASE(quantised_memory_per_vector_is_a_fraction_of_f32) {
  std::mt19937 rng{17};
  auto bytes_of = [&](quantization q) {
    quantised_fixture f{quantised_spec(1024, metric::cosine, q), index_options{}};
    for (uint64_t i = 0; i < 2000; ++i)
      f.put(id_of(i), gaussian(rng, 1024));
    return f.index->stats().memory_bytes;
  };
  auto f32 = bytes_of(quantization::none);
  auto int8 = bytes_of(quantization::int8);
  auto binary = bytes_of(quantization::binary);
  BOOST_TEST_MESSAGE("bytes/vector f32 " << f32 / 2000 << ", int8 " << int8 / 2000 << ", binary "
                                         << binary / 2000);
  BOOST_CHECK_LT(int8 * 3, f32);
  BOOST_CHECK_LT(binary * 4, int8);
}

BOOST_AUTO_TEST_CASE(quantised_hnsw_recall_at_10_is_at_least_0_95) {
  for (auto [m, q] :
       {std::pair{metric::cosine, quantization::int8}, std::pair{metric::l2, quantization::int8},
        std::pair{metric::cosine, quantization::binary}}) {
    BOOST_TEST_CONTEXT(telos::to_string(m) << " " << telos::to_string(q)) {
      index_options opts;
      opts.hnsw_threshold = 500;
      opts.hnsw_ef_construction = 100;
      bool binary = q == quantization::binary;
      uint32_t dim = binary ? 256 : 64;
      quantised_fixture f{quantised_spec(dim, m, q), opts};
      clustered_data clustered{dim, 20, 23};
      family_data families{dim, 400, 23};
      auto next = [&] { return binary ? families.next() : clustered.next(); };
      for (uint64_t i = 0; i < 4000; ++i)
        f.put(id_of(i), next());
      while (f.index->maintain(1000) > 0) {
      }
      BOOST_CHECK_EQUAL(f.index->stats().structure, "hnsw");
      BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
      double sum = 0;
      for (int query = 0; query < 100; ++query) {
        auto qv = next();
        auto got = f.index->search(embedding::dense(qv), 10);
        auto truth = f.truth(qv);
        // Every reported score is the exact one.
        for (const auto& h : got) {
          auto exact = reference_dense(m, qv, f.stored.at(h.id).values);
          BOOST_CHECK_SMALL(h.score - exact, tolerance(exact));
        }
        sum += recall(got, truth, 10);
      }
      BOOST_TEST_MESSAGE("recall@10 = " << sum / 100);
      BOOST_CHECK_GE(sum / 100, 0.95);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_flat_policy_never_builds_a_graph) {
  index_options opts;
  opts.hnsw_threshold = 50;
  quantised_fixture f{quantised_spec(16, metric::cosine, quantization::int8, index_structure::flat),
                      opts};
  std::mt19937 rng{29};
  for (uint64_t i = 0; i < 300; ++i)
    f.put(id_of(i), gaussian(rng, 16));
  BOOST_CHECK_EQUAL(f.index->maintain(1000), 0u);
  BOOST_CHECK_EQUAL(f.index->stats().structure, "flat");
  auto q = gaussian(rng, 16);
  check_exact_top_k(f.index->search(embedding::dense(q), 10), f.truth(q), 10);
}

BOOST_AUTO_TEST_CASE(quantised_snapshots_round_trip_and_refuse_another_policy) {
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 300;
  opts.hnsw_ef_construction = 64;
  for (auto q : {quantization::int8, quantization::binary}) {
    BOOST_TEST_CONTEXT(telos::to_string(q)) {
      auto spec = quantised_spec(64, metric::cosine, q);
      quantised_fixture original{spec, opts};
      clustered_data data{64, 10, 31};
      for (uint64_t i = 0; i < 1000; ++i)
        original.put(id_of(i), data.next());
      original.index->maintain(800);
      for (uint64_t i = 0; i < 1000; i += 10)
        original.index->remove(id_of(i));
      BOOST_REQUIRE_GT(original.index->stats().fresh, 0u);
      auto path = dir.file(std::string{"quantised-"} + telos::to_string(q));
      BOOST_REQUIRE(original.index->save(path));

      quantised_fixture copy{spec, opts};
      copy.stored = original.stored;
      BOOST_REQUIRE(copy.index->load(path));
      BOOST_CHECK_EQUAL(copy.index->size(), original.index->size());
      BOOST_CHECK_EQUAL(copy.index->stats().fresh, original.index->stats().fresh);
      for (int i = 0; i < 20; ++i) {
        auto query = embedding::dense(data.next());
        auto x = original.index->search(query, 10);
        auto y = copy.index->search(query, 10);
        BOOST_REQUIRE_EQUAL(x.size(), y.size());
        for (size_t j = 0; j < x.size(); ++j) {
          BOOST_CHECK(x[j].id == y[j].id);
          BOOST_CHECK_EQUAL(x[j].score, y[j].score);
        }
      }
      // Another quantisation, f32, or another structure is a format mismatch, and leaves the
      // index empty.
      auto other_q = q == quantization::int8 ? quantization::binary : quantization::int8;
      for (const auto& other : {quantised_spec(64, metric::cosine, other_q),
                                quantised_spec(64, metric::cosine, quantization::none),
                                quantised_spec(64, metric::cosine, q, index_structure::flat)}) {
        quantised_fixture refused{other, opts};
        auto loaded = refused.index->load(path);
        BOOST_REQUIRE(!loaded);
        BOOST_CHECK(loaded.error() == ec::format_mismatch);
        BOOST_CHECK_EQUAL(refused.index->size(), 0u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_visiting_reader_rescores_to_the_copying_readers_answers_bit_for_bit) {
  // A shard's searches re-score through visit_originals (each original decoded into a reused
  // scratch), score() through originals: the answers are the same bits as re-scoring through the
  // copying reader alone. A visitor that fails leaves the codes' ranking, as no reader does.
  for (auto q : {quantization::int8, quantization::binary})
    for (auto m : {metric::cosine, metric::dot, metric::l2}) {
      auto spec = quantised_spec(48, m, q);
      index_options plain;
      plain.rescore_depth = 5;
      quantised_fixture copying{spec, plain};
      size_t visited = 0;
      bool failing = false;
      std::map<uuid, embedding> served;
      index_options with_visitor = plain;
      with_visitor.visit_originals = visitor_over(served, visited, failing);
      quantised_fixture visiting{spec, with_visitor};
      auto without_reader = make_vector_index(spec, plain);
      clustered_data data{48, 5, 23};
      for (uint64_t i = 0; i < 600; ++i) {
        auto v = data.next();
        copying.put(id_of(i), v);
        visiting.put(id_of(i), v);
        without_reader->upsert(id_of(i), embedding::dense(v));
        served[id_of(i)] = embedding::dense(v);
      }
      // One that the index holds but whose original is gone: dropped by both.
      served.erase(id_of(7));
      copying.stored.erase(id_of(7));
      for (int query = 0; query < 12; ++query) {
        auto qv = embedding::dense(data.next());
        for (size_t k : {size_t{3}, size_t{40}}) {
          visiting.fetched = 0;
          auto want = copying.index->search(qv, k);
          auto got = visiting.index->search(qv, k);
          BOOST_CHECK_EQUAL(visiting.fetched, 0u); // the copying reader is not asked
          BOOST_REQUIRE_EQUAL(got.size(), want.size());
          for (size_t i = 0; i < got.size(); ++i) {
            BOOST_CHECK(got[i].id == want[i].id);
            BOOST_CHECK_EQUAL(float_bits_of(got[i].score), float_bits_of(want[i].score));
            BOOST_CHECK(got[i].id != id_of(7));
          }
        }
      }
      BOOST_CHECK_GT(visited, 0u);
      failing = true;
      for (int query = 0; query < 4; ++query) {
        auto qv = embedding::dense(data.next());
        auto want = without_reader->search(qv, 10);
        auto got = visiting.index->search(qv, 10);
        BOOST_REQUIRE_EQUAL(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
          BOOST_CHECK(got[i].id == want[i].id);
          BOOST_CHECK_EQUAL(float_bits_of(got[i].score), float_bits_of(want[i].score));
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(without_originals_a_quantised_index_ranks_by_its_codes) {
  auto index =
      make_vector_index(quantised_spec(32, metric::cosine, quantization::int8), index_options{});
  std::mt19937 rng{37};
  std::map<uuid, embedding> stored;
  for (uint64_t i = 0; i < 100; ++i) {
    auto v = gaussian(rng, 32);
    index->upsert(id_of(i), embedding::dense(v));
    stored[id_of(i)] = embedding::dense(std::move(v));
  }
  // The query is a stored vector: its own id ranks first, with a score near 1.
  auto hits = index->search(stored.at(id_of(42)), 3);
  BOOST_REQUIRE_EQUAL(hits.size(), 3u);
  BOOST_CHECK(hits[0].id == id_of(42));
  BOOST_CHECK_CLOSE(hits[0].score, 1.0f, 2.0);
}

BOOST_AUTO_TEST_SUITE_END()
