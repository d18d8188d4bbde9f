// Dense indexes of policy ivf: exact below the threshold, k-means lists above it (trained in
// bounded maintain() steps), recall after re-scoring, removes and replacements, filters, and
// snapshots that round-trip, refuse another structure or a torn file, and whose lists (read into
// one arena) change after the load as the saved index's do.
#include "index_reference.hpp"

#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/kmeans.hpp"
#include "telos/storage/vector_index.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace index_test;
using telos::ec;
using telos::index_structure;
using telos::metric;
using telos::quantization;
using telos::storage::index_options;
using telos::storage::make_vector_index;
using telos::storage::snapshot_reader;
using telos::storage::snapshot_structure;
using telos::storage::vector_index;

namespace {

telos::embedder ivf_spec(uint32_t dim, metric m, quantization q,
                         index_structure s = index_structure::ivf) {
  return policy_spec(dim, m, q, s);
}

using ivf_fixture = originals_fixture;

/// Runs `body` in each variant the delta tests cover (int8 rows mapped and read, f32 rows mapped)
/// with an ivf index of 1,500 clustered 40-d rows (seed `seed`) just saved to `base` (not yet
/// kept) and a tag for the variant's file names.
template <class Body>
void for_each_delta_variant(temp_dir& dir, uint32_t seed, Body&& body) {
  index_options opts;
  opts.hnsw_threshold = 300;
  for (auto [q, map_bytes] :
       {std::pair{quantization::int8, size_t{0}}, std::pair{quantization::int8, SIZE_MAX},
        std::pair{quantization::none, size_t{0}}}) {
    opts.snapshot_map_bytes = map_bytes;
    BOOST_TEST_CONTEXT("quantization " << static_cast<int>(q) << ", mapped from " << map_bytes
                                       << " bytes") {
      const std::string tag = std::to_string(static_cast<int>(q)) + "-" + std::to_string(map_bytes);
      auto spec = ivf_spec(40, metric::cosine, q);
      clustered_data data{40, 12, seed};
      ivf_fixture original{spec, opts};
      for (uint64_t i = 0; i < 1500; ++i)
        original.put(id_of(i), data.next());
      original.drain();
      BOOST_REQUIRE_EQUAL(original.index->stats().structure, "ivf");
      auto base = dir.file("base-" + tag);
      BOOST_REQUIRE(original.index->save(base));
      body(tag, opts, spec, data, original, base);
    }
  }
}

/// Which structure wrote a delta file.
snapshot_structure structure_of(const std::string& path) {
  snapshot_reader in;
  BOOST_REQUIRE(in.open(
      path, {snapshot_structure::dense_ivf_delta, snapshot_structure::dense_ivf_delta_removals}));
  return in.structure();
}

/// Near copies (noise 0.1) of random Gaussian anchors: close neighbours binary codes can rank.
std::vector<float> near_copy(std::mt19937& rng, const std::vector<std::vector<float>>& anchors,
                             size_t i) {
  const auto& anchor = anchors[i % anchors.size()];
  auto v = gaussian(rng, anchor.size(), 0.1f);
  for (size_t d = 0; d < v.size(); ++d)
    v[d] += anchor[d];
  return v;
}

/// The body of a_torn_or_corrupt_ivf_snapshot_is_refused_and_leaves_the_index_empty, with the
/// rows mapped (map_bytes 0) or read (SIZE_MAX).
void torn_or_corrupt_ivf_snapshots_are_refused(size_t map_bytes) {
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 200;
  opts.snapshot_map_bytes = map_bytes;
  auto spec = ivf_spec(32, metric::dot, quantization::int8);
  clustered_data data{32, 8, 97};
  ivf_fixture source{spec, opts};
  for (uint64_t i = 0; i < 800; ++i)
    source.put(id_of(i), data.next());
  source.drain();
  BOOST_REQUIRE_EQUAL(source.index->stats().structure, "ivf");
  auto path = dir.file("ivf.snapshot");
  BOOST_REQUIRE(source.index->save(path));
  std::string good;
  {
    std::ifstream in{path, std::ios::binary};
    good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& bytes) {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  ivf_fixture target{spec, opts};
  target.stored = source.stored;
  auto refused = [&](const std::string& what) {
    BOOST_TEST_CONTEXT(what) {
      target.index->upsert(id_of(99999), embedding::dense(data.next()));
      auto loaded = target.index->load(path);
      BOOST_REQUIRE(!loaded);
      BOOST_CHECK(loaded.error() == ec::corrupt_value);
      BOOST_TEST_MESSAGE(telos::describe(loaded.error()));
      BOOST_CHECK_EQUAL(target.index->size(), 0u);
      BOOST_CHECK(target.index->search(embedding::dense(data.next()), 5).empty());
    }
  };
  // The rows are the file's last section before the 8-byte checksum.
  for (size_t from_end : {size_t{9}, size_t{100}, good.size() / 4, good.size() / 2}) {
    write(good.substr(0, good.size() - from_end));
    refused("cut " + std::to_string(from_end) + " bytes before the end");
  }
  for (size_t from_end : {size_t{20}, size_t{3000}, good.size() / 3}) {
    auto flipped = good;
    flipped[good.size() - from_end] = static_cast<char>(flipped[good.size() - from_end] ^ 0x10);
    write(flipped);
    refused("byte " + std::to_string(from_end) + " from the end flipped");
  }
  write(good);
  BOOST_REQUIRE(target.index->load(path));
  std::vector<embedding> queries;
  for (int i = 0; i < 15; ++i)
    queries.push_back(embedding::dense(data.next()));
  check_same_results(10, *source.index, *target.index, queries);
}
} // namespace

BOOST_AUTO_TEST_SUITE(ivf_index)

BOOST_AUTO_TEST_CASE(ivf_below_the_threshold_is_the_exact_top_k) {
  for (auto [m, q] :
       {std::pair{metric::cosine, quantization::int8}, std::pair{metric::dot, quantization::int8},
        std::pair{metric::l2, quantization::int8}, std::pair{metric::cosine, quantization::none},
        std::pair{metric::l2, quantization::none}}) {
    BOOST_TEST_CONTEXT(telos::to_string(m) << " " << telos::to_string(q)) {
      ivf_fixture f{ivf_spec(37, m, q), index_options{}};
      clustered_data data{37, 8, 11};
      for (uint64_t i = 0; i < 600; ++i)
        f.put(id_of(i), data.next());
      BOOST_CHECK_EQUAL(f.index->maintain(1000), 0u);
      BOOST_CHECK_EQUAL(f.index->stats().structure, "flat");
      BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
      for (int query = 0; query < 20; ++query) {
        auto qv = data.next();
        auto truth = f.truth(qv);
        for (size_t k : {1, 10})
          check_exact_top_k(f.index->search(embedding::dense(qv), k), truth, k);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(ivf_trains_in_bounded_steps_and_answers_exactly_meanwhile) {
  index_options opts;
  opts.hnsw_threshold = 500;
  ivf_fixture f{ivf_spec(64, metric::cosine, quantization::int8), opts};
  clustered_data data{64, 10, 41};
  for (uint64_t i = 0; i < 2000; ++i)
    f.put(id_of(i), data.next());
  // One k-means step per unit of budget: after one step the index still trains, counts every
  // vector as fresh and answers exactly.
  BOOST_CHECK_EQUAL(f.index->maintain(1), 1u);
  BOOST_CHECK_EQUAL(f.index->stats().structure, "flat");
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 2000u);
  auto qv = data.next();
  check_exact_top_k(f.index->search(embedding::dense(qv), 10), f.truth(qv), 10);
  f.drain();
  auto stats = f.index->stats();
  BOOST_CHECK_EQUAL(stats.structure, "ivf");
  BOOST_CHECK(telos::storage::approximate_structure(stats.structure));
  BOOST_CHECK_EQUAL(stats.fresh, 0u);
  BOOST_CHECK_EQUAL(stats.vectors, 2000u);
  BOOST_CHECK_EQUAL(f.index->size(), 2000u);
  // Codes (64 + 8 bytes), id and where_ entry per vector; no graph.
  BOOST_CHECK_LT(stats.memory_bytes / 2000, 260u);
}

BOOST_AUTO_TEST_CASE(ivf_recall_at_10_above_the_threshold_is_at_least_0_95) {
  for (auto [m, q] :
       {std::pair{metric::cosine, quantization::int8}, std::pair{metric::l2, quantization::int8},
        std::pair{metric::dot, quantization::none},
        std::pair{metric::cosine, quantization::binary}}) {
    BOOST_TEST_CONTEXT(telos::to_string(m) << " " << telos::to_string(q)) {
      index_options opts;
      opts.hnsw_threshold = 500;
      bool binary = q == quantization::binary;
      uint32_t dim = binary ? 256 : 64;
      ivf_fixture f{ivf_spec(dim, m, q), opts};
      clustered_data clustered{dim, 20, 23};
      std::mt19937 rng{23};
      std::vector<std::vector<float>> anchors;
      for (int a = 0; a < 400; ++a)
        anchors.push_back(gaussian(rng, dim));
      size_t drawn = 0;
      auto next = [&] { return binary ? near_copy(rng, anchors, drawn++) : clustered.next(); };
      for (uint64_t i = 0; i < 4000; ++i)
        f.put(id_of(i), next());
      f.drain();
      BOOST_CHECK_EQUAL(f.index->stats().structure, "ivf");
      BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
      // Vectors written after training are filed under the trained centroids.
      for (uint64_t i = 4000; i < 4500; ++i)
        f.put(id_of(i), next());
      BOOST_CHECK_EQUAL(f.index->stats().fresh, 500u);
      f.drain();
      BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
      double r = f.mean_recall(next, 100);
      BOOST_TEST_MESSAGE("recall@10 = " << r);
      BOOST_CHECK_GE(r, 0.95);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_ivf_scan_split_into_parts_on_threads_answers_as_one_scan) {
  for (auto [m, q] :
       {std::pair{metric::cosine, quantization::int8}, std::pair{metric::l2, quantization::none}}) {
    BOOST_TEST_CONTEXT(telos::to_string(m) << " " << telos::to_string(q)) {
      index_options opts;
      opts.hnsw_threshold = 500;
      opts.ivf_nprobe = 12;
      ivf_fixture whole{ivf_spec(48, m, q), opts};
      // The same index scanning in parts on threads of their own (as the shard's read pool runs
      // them) once the probed lists hold 200 rows.
      threaded_parts counted;
      opts.split_rows = 200;
      opts.split_parts = 3;
      opts.run_parts = counted.runner();
      ivf_fixture split{ivf_spec(48, m, q), opts};
      clustered_data data{48, 16, 5};
      for (uint64_t i = 0; i < 4000; ++i) {
        auto v = data.next();
        whole.put(id_of(i), v);
        split.put(id_of(i), v);
      }
      whole.drain();
      split.drain();
      BOOST_REQUIRE_EQUAL(split.index->stats().structure, "ivf");
      std::vector<embedding> queries;
      for (int i = 0; i < 30; ++i)
        queries.push_back(embedding::dense(data.next()));
      for (size_t k : {1, 10, 100})
        check_same_results(k, *whole.index, *split.index, queries);
      // Every search split (12 of 63 lists hold about 760 of the 4,000 rows), into 3 parts.
      BOOST_CHECK_GT(counted.runs->load(), 0u);
      BOOST_CHECK_EQUAL(counted.parts_run->load(), 3 * counted.runs->load());
      // A filtered search scans on its own thread: the filter need not be thread-safe.
      const auto before = counted.runs->load();
      telos::storage::id_predicate even = [](const uuid& id) { return id.bytes[15] % 2 == 0; };
      auto filtered = split.index->search(queries[0], 10, &even);
      BOOST_CHECK_EQUAL(counted.runs->load(), before);
      BOOST_CHECK_EQUAL(filtered.size(), 10u);
      for (const auto& h : filtered)
        BOOST_CHECK(even(h.id));
      // Nor does a search under an unsplit_searches (an index actor's: one list of a fused
      // search); the scope ends with its block.
      {
        telos::storage::unsplit_searches here;
        BOOST_CHECK(!telos::storage::unsplit_searches::allowed());
        check_same_results(10, *whole.index, *split.index, queries);
        BOOST_CHECK_EQUAL(counted.runs->load(), before);
      }
      BOOST_CHECK(telos::storage::unsplit_searches::allowed());
    }
  }
}

BOOST_AUTO_TEST_CASE(removed_and_replaced_ivf_vectors_are_never_returned) {
  index_options opts;
  opts.hnsw_threshold = 300;
  ivf_fixture f{ivf_spec(32, metric::cosine, quantization::int8), opts};
  clustered_data data{32, 8, 53};
  std::map<uuid, std::vector<float>> before;
  for (uint64_t i = 0; i < 1500; ++i) {
    auto v = data.next();
    before[id_of(i)] = v;
    f.put(id_of(i), v);
  }
  f.drain();
  BOOST_REQUIRE_EQUAL(f.index->stats().structure, "ivf");
  auto bytes_before = f.index->stats().memory_bytes;
  // Remove every third, replace every third + 1 by a new vector (fresh again until filed).
  for (uint64_t i = 0; i < 1500; i += 3) {
    f.drop(id_of(i));
    f.put(id_of(i + 1), data.next());
  }
  BOOST_CHECK_EQUAL(f.index->size(), 1000u);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 500u);
  BOOST_CHECK(!f.index->contains(id_of(0)));
  BOOST_CHECK(!f.index->remove(id_of(0)));
  auto check = [&] {
    for (uint64_t i = 0; i < 1500; i += 25) {
      // The old vector of a removed or replaced id as the query: its own id must not come back
      // (removed), or come back with its new vector's exact score (replaced).
      const auto& old = before.at(id_of(i));
      for (const auto& h : f.index->search(embedding::dense(old), 10)) {
        BOOST_REQUIRE_MESSAGE(f.stored.count(h.id) == 1, "a removed id was returned");
        auto exact = reference_dense(metric::cosine, old, f.stored.at(h.id).values);
        BOOST_CHECK_SMALL(h.score - exact, tolerance(exact));
      }
      auto score = f.index->score(embedding::dense(old), id_of(i));
      BOOST_CHECK_EQUAL(score.has_value(), i % 3 != 0);
    }
  };
  check();
  f.drain();
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
  BOOST_CHECK_LE(f.index->stats().memory_bytes, bytes_before);
  check();
  // Removing everything leaves an empty, still trained index that finds nothing.
  for (uint64_t i = 0; i < 1500; ++i)
    if (i % 3 != 0) f.drop(id_of(i));
  BOOST_CHECK_EQUAL(f.index->size(), 0u);
  BOOST_CHECK(f.index->search(embedding::dense(data.next()), 10).empty());
}

BOOST_AUTO_TEST_CASE(a_filtered_ivf_search_returns_only_allowed_ids_and_k_of_them) {
  index_options opts;
  opts.hnsw_threshold = 300;
  opts.ivf_nprobe = 1;
  ivf_fixture f{ivf_spec(32, metric::l2, quantization::int8), opts};
  clustered_data data{32, 8, 59};
  for (uint64_t i = 0; i < 2000; ++i)
    f.put(id_of(i), data.next());
  f.drain();
  BOOST_REQUIRE_EQUAL(f.index->stats().structure, "ivf");
  // One id in a hundred passes: one probed list rarely holds ten of them; the others are scanned.
  telos::storage::id_predicate allow = [](const uuid& id) { return id.bytes[15] % 100 == 7; };
  for (int query = 0; query < 5; ++query) {
    auto qv = data.next();
    auto got = f.index->search(embedding::dense(qv), 10, &allow);
    BOOST_CHECK_EQUAL(got.size(), 10u);
    for (const auto& h : got)
      BOOST_CHECK(allow(h.id));
  }
}

BOOST_AUTO_TEST_CASE(ivf_snapshots_round_trip_and_refuse_another_structure) {
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 300;
  auto spec = ivf_spec(48, metric::cosine, quantization::int8);
  clustered_data data{48, 10, 61};
  // Untrained (below the threshold), then trained with lists, fresh rows and removals.
  for (size_t count : {200, 1200}) {
    BOOST_TEST_CONTEXT(count << " vectors") {
      ivf_fixture original{spec, opts};
      for (uint64_t i = 0; i < count; ++i)
        original.put(id_of(i), data.next());
      original.index->maintain(700);
      for (uint64_t i = 0; i < count; i += 10)
        original.drop(id_of(i));
      for (uint64_t i = 1; i < count; i += 20)
        original.put(id_of(i), data.next());
      auto path = dir.file("ivf-" + std::to_string(count));
      BOOST_REQUIRE(original.index->save(path));
      ivf_fixture copy{spec, opts};
      copy.stored = original.stored;
      BOOST_REQUIRE(copy.index->load(path));
      auto a = original.index->stats(), b = copy.index->stats();
      BOOST_CHECK_EQUAL(a.structure, b.structure);
      BOOST_CHECK_EQUAL(a.vectors, b.vectors);
      BOOST_CHECK_EQUAL(a.fresh, b.fresh);
      std::vector<embedding> queries;
      for (int i = 0; i < 20; ++i)
        queries.push_back(embedding::dense(data.next()));
      check_same_results(10, *original.index, *copy.index, queries);
      // Filing the rest after the load gives the same index as filing it before.
      original.drain();
      copy.drain();
      check_same_results(10, *original.index, *copy.index, queries);
      // Another structure (hnsw, flat) or quantisation is a format mismatch and leaves the
      // index empty; so is an ivf index asked to load an hnsw snapshot.
      for (const auto& other :
           {ivf_spec(48, metric::cosine, quantization::int8, index_structure::hnsw),
            ivf_spec(48, metric::cosine, quantization::int8, index_structure::flat),
            ivf_spec(48, metric::cosine, quantization::binary)}) {
        ivf_fixture refused{other, opts};
        auto loaded = refused.index->load(path);
        BOOST_REQUIRE(!loaded);
        BOOST_CHECK(loaded.error() == ec::format_mismatch);
        BOOST_CHECK_EQUAL(refused.index->size(), 0u);
        auto hnsw_path = path + "-other";
        refused.put(id_of(1), data.next());
        BOOST_REQUIRE(refused.index->save(hnsw_path));
        auto back = copy.index->load(hnsw_path);
        BOOST_REQUIRE(!back);
        BOOST_CHECK(back.error() == ec::format_mismatch);
        BOOST_CHECK_EQUAL(copy.index->size(), 0u);
        BOOST_REQUIRE(copy.index->load(path));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_loaded_ivf_index_changes_its_lists_as_the_index_it_was_saved_from) {
  // A loaded index's lists borrow their rows from one arena the snapshot was read into; removing
  // (swap-removal inside the arena), replacing, and filing new rows (a list then moves to storage
  // of its own) must leave it answering as the index it was saved from does after the same
  // changes, and a snapshot of it, part borrowed and part owned, must round-trip again.
  // Both ways of loading the rows: mapped from the file (snapshot_map_bytes 0) and read.
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 300;
  for (auto [q, map_bytes] :
       {std::pair{quantization::int8, size_t{0}}, std::pair{quantization::int8, SIZE_MAX},
        std::pair{quantization::none, size_t{0}}, std::pair{quantization::none, SIZE_MAX}}) {
    opts.snapshot_map_bytes = map_bytes;
    BOOST_TEST_CONTEXT("quantization " << static_cast<int>(q) << ", mapped from " << map_bytes
                                       << " bytes") {
      auto spec = ivf_spec(40, metric::cosine, q);
      clustered_data data{40, 12, 83};
      ivf_fixture original{spec, opts};
      for (uint64_t i = 0; i < 1500; ++i)
        original.put(id_of(i), data.next());
      original.drain();
      BOOST_REQUIRE_EQUAL(original.index->stats().structure, "ivf");
      BOOST_REQUIRE_EQUAL(original.index->stats().fresh, 0u);
      auto path = dir.file("lists-" + std::to_string(static_cast<int>(q)) + "-" +
                           std::to_string(map_bytes));
      BOOST_REQUIRE(original.index->save(path));
      ivf_fixture copy{spec, opts};
      copy.stored = original.stored;
      BOOST_REQUIRE(copy.index->load(path));
      std::vector<embedding> queries;
      for (int i = 0; i < 25; ++i)
        queries.push_back(embedding::dense(data.next()));
      check_same_results(10, *original.index, *copy.index, queries);
      auto both = [&](auto&& change) {
        change(original);
        change(copy);
        BOOST_CHECK_EQUAL(original.index->size(), copy.index->size());
        check_same_results(10, *original.index, *copy.index, queries);
      };
      both([](ivf_fixture& f) {
        for (uint64_t i = 0; i < 1500; i += 7)
          f.drop(id_of(i));
      });
      clustered_data replacements{40, 12, 89};
      std::vector<std::vector<float>> fresh;
      for (int i = 0; i < 700; ++i)
        fresh.push_back(replacements.next());
      both([&](ivf_fixture& f) {
        for (uint64_t i = 1; i < 1500; i += 11)
          f.put(id_of(i), fresh[i % fresh.size()]);
        for (uint64_t i = 0; i < 600; ++i)
          f.put(id_of(5000 + i), fresh[(i * 3) % fresh.size()]);
        f.drain();
      });
      BOOST_CHECK_EQUAL(copy.index->stats().fresh, 0u);
      BOOST_CHECK_GT(copy.index->stats().memory_bytes, 0u);
      both([](ivf_fixture& f) {
        for (uint64_t i = 2; i < 1500; i += 5)
          if (f.stored.count(id_of(i)) == 1) f.drop(id_of(i));
      });
      BOOST_REQUIRE(copy.index->save(path + "-again"));
      ivf_fixture third{spec, opts};
      third.stored = copy.stored;
      BOOST_REQUIRE(third.index->load(path + "-again"));
      check_same_results(10, *copy.index, *third.index, queries);
      BOOST_CHECK_GE(third.mean_recall([&] { return data.next(); }, 20), 0.95);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_torn_or_corrupt_ivf_snapshot_is_refused_and_leaves_the_index_empty) {
  // The lists' rows are read in one piece into the arena: a snapshot cut anywhere (in the rows
  // too) or with a flipped byte in them is ec::corrupt_value and an empty index, and the same
  // index then loads the intact file.
  for (size_t map_bytes : {SIZE_MAX, size_t{0}})
    BOOST_TEST_CONTEXT("rows mapped from " << map_bytes << " bytes") {
      torn_or_corrupt_ivf_snapshots_are_refused(map_bytes);
    }
}

BOOST_AUTO_TEST_CASE(a_mapped_ivf_snapshot_cut_short_under_the_index_is_reported_never_a_crash) {
  // The rows of a loaded snapshot are a private mapping of its file. Cut the file to nothing
  // while the index uses it: the next access to a row page raises SIGBUS, which file_view's
  // handler answers with a page of zeroes. The process lives, searches still answer (ranked by
  // the codes that remain, re-scored against the originals), stats() says what happened, and
  // the index refuses to save what it can no longer trust.
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 200;
  opts.snapshot_map_bytes = 0;
  auto spec = ivf_spec(64, metric::cosine, quantization::int8);
  clustered_data data{64, 8, 101};
  ivf_fixture source{spec, opts};
  for (uint64_t i = 0; i < 2000; ++i)
    source.put(id_of(i), data.next());
  source.drain();
  BOOST_REQUIRE_EQUAL(source.index->stats().structure, "ivf");
  auto path = dir.file("ivf.snapshot");
  BOOST_REQUIRE(source.index->save(path));
  ivf_fixture target{spec, opts};
  target.stored = source.stored;
  auto loaded = target.index->load(path);
  BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string{} : telos::describe(loaded.error())));
  BOOST_CHECK(target.index->stats().last_error.empty());
  std::filesystem::resize_file(path, 0);
  for (int i = 0; i < 10; ++i)
    BOOST_CHECK_LE(target.index->search(embedding::dense(data.next()), 10).size(), 10u);
  // Before and after maintain() copied the rows (zeroes where the page was lost) off the
  // mapping, the index says so and will not save.
  for (int pass = 0; pass < 2; ++pass) {
    BOOST_TEST_CONTEXT("pass " << pass) {
      auto stats = target.index->stats();
      BOOST_CHECK_EQUAL(stats.vectors, 2000u);
      BOOST_CHECK_NE(stats.last_error.find("could not be read back"), std::string::npos);
      auto saved = target.index->save(dir.file("after"));
      BOOST_REQUIRE(!saved);
      BOOST_CHECK(saved.error() == ec::io_error);
      BOOST_CHECK(!std::filesystem::exists(dir.file("after")));
    }
    while (target.index->maintain(100) > 0) {
    }
  }
}

BOOST_AUTO_TEST_CASE(maintain_copies_mapped_rows_into_memory_of_its_own_and_lets_go_of_the_file) {
  // The open maps the rows; maintain() then copies them, a list per step, into an arena of the
  // index's own and unmaps the file. Meanwhile and afterwards the index answers as the one it was
  // saved from, and afterwards cutting the file short changes nothing.
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 200;
  opts.snapshot_map_bytes = 0;
  auto spec = ivf_spec(48, metric::l2, quantization::int8);
  clustered_data data{48, 8, 103};
  ivf_fixture source{spec, opts};
  for (uint64_t i = 0; i < 1500; ++i)
    source.put(id_of(i), data.next());
  source.drain();
  auto path = dir.file("first");
  BOOST_REQUIRE(source.index->save(path));
  ivf_fixture target{spec, opts};
  target.stored = source.stored;
  BOOST_REQUIRE(target.index->load(path));
  std::vector<embedding> queries;
  for (int i = 0; i < 15; ++i)
    queries.push_back(embedding::dense(data.next()));
  check_same_results(10, *source.index, *target.index, queries);
  // Removals inside the mapping (swap-removal writes to a private copy of the page) are copied
  // with the rows.
  for (uint64_t i = 0; i < 1500; i += 13) {
    source.drop(id_of(i));
    target.drop(id_of(i));
  }
  size_t steps = 0;
  while (target.index->maintain(4) > 0) {
    ++steps;
    if (steps % 3 == 0) check_same_results(10, *source.index, *target.index, queries);
  }
  BOOST_CHECK_GT(steps, 2u); // bounded steps, not one copy of everything
  std::filesystem::resize_file(path, 0);
  check_same_results(10, *source.index, *target.index, queries);
  BOOST_CHECK(target.index->stats().last_error.empty());
  BOOST_REQUIRE(target.index->save(dir.file("second")));
  ivf_fixture third{spec, opts};
  third.stored = target.stored;
  BOOST_REQUIRE(third.index->load(dir.file("second")));
  check_same_results(10, *source.index, *third.index, queries);
}

BOOST_AUTO_TEST_CASE(a_delta_over_its_base_loads_as_the_whole_index_and_keeps_up_with_it) {
  // save() writes a base; rows filed and fresh after it go into a delta (save_delta), which
  // together with the base loads into the index that was saved, with the added rows as each
  // list's second part. That index changes, searches, re-homes its mapped rows and writes the next
  // (cumulative) delta over the same base as the original would. Rows mapped and read, f32 and
  // int8.
  temp_dir dir;
  for_each_delta_variant(
      dir, 211,
      [&](const std::string& tag, const index_options& opts, const telos::embedder& spec,
          clustered_data& data, ivf_fixture& original, const std::string& base) {
        // A save the owner did not keep is no base yet.
        BOOST_CHECK(!original.index->can_save_delta());
        original.index->base_kept();
        BOOST_CHECK(original.index->can_save_delta());
        // Appends: filed rows, fresh rows, a fresh row overwritten, a fresh row removed.
        for (uint64_t i = 1500; i < 2100; ++i)
          original.put(id_of(i), data.next());
        original.index->maintain(400);
        original.put(id_of(2099), data.next());
        original.drop(id_of(2098));
        BOOST_REQUIRE_GT(original.index->stats().fresh, 0u);
        BOOST_REQUIRE(original.index->can_save_delta());
        auto delta = dir.file("delta-" + tag);
        BOOST_REQUIRE(original.index->save_delta(delta));
        BOOST_CHECK_LT(std::filesystem::file_size(delta), std::filesystem::file_size(base) / 2);
        ivf_fixture copy{spec, opts};
        copy.stored = original.stored;
        auto loaded = copy.index->load(base, delta);
        BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string{} : telos::describe(loaded.error())));
        auto a = original.index->stats(), b = copy.index->stats();
        BOOST_CHECK_EQUAL(a.vectors, b.vectors);
        BOOST_CHECK_EQUAL(a.fresh, b.fresh);
        std::vector<embedding> queries;
        for (int i = 0; i < 25; ++i)
          queries.push_back(embedding::dense(data.next()));
        check_same_results(10, *original.index, *copy.index, queries);
        for (uint64_t i = 0; i < 2100; i += 97)
          BOOST_CHECK_EQUAL(original.index->contains(id_of(i)), copy.index->contains(id_of(i)));
        // The loaded index's base is the snapshot it read: more appends, and its next delta over
        // that base loads like the original's.
        auto both = [&](auto&& change) {
          change(original);
          change(copy);
          BOOST_CHECK_EQUAL(original.index->size(), copy.index->size());
          check_same_results(10, *original.index, *copy.index, queries);
        };
        clustered_data more{40, 12, 223};
        std::vector<std::vector<float>> added;
        for (int i = 0; i < 300; ++i)
          added.push_back(more.next());
        both([&](ivf_fixture& f) {
          for (uint64_t i = 0; i < added.size(); ++i)
            f.put(id_of(3000 + i), added[i]);
          f.index->maintain(150);
        });
        BOOST_REQUIRE(copy.index->can_save_delta());
        BOOST_REQUIRE(copy.index->save_delta(delta + "-2"));
        // Appends only: the format that builds before removals in deltas read.
        BOOST_CHECK(structure_of(delta + "-2") == snapshot_structure::dense_ivf_delta);
        ivf_fixture third{spec, opts};
        third.stored = copy.stored;
        BOOST_REQUIRE(third.index->load(base, delta + "-2"));
        check_same_results(10, *copy.index, *third.index, queries);
        // maintain() copies both parts of every list into memory of the index's own: then the
        // files can go, and the index still answers (and a removal, a swap inside the lists,
        // works).
        both([](ivf_fixture& f) { f.drain(); });
        while (third.index->maintain(50) > 0) {
        }
        BOOST_CHECK_EQUAL(third.index->stats().mapped_bytes, 0u);
        std::filesystem::resize_file(base, 0);
        std::filesystem::resize_file(delta + "-2", 0);
        third.drain();
        check_same_results(10, *copy.index, *third.index, queries);
        both([](ivf_fixture& f) {
          for (uint64_t i = 0; i < 2100; i += 9)
            if (f.stored.count(id_of(i)) == 1) f.drop(id_of(i));
        });
        for (uint64_t i = 0; i < 2100; i += 9)
          if (third.stored.count(id_of(i)) == 1) third.drop(id_of(i));
        check_same_results(10, *copy.index, *third.index, queries);
        BOOST_CHECK_GE(third.mean_recall([&] { return data.next(); }, 20), 0.95);
        // The removals just made go into the next delta, in the format that names them.
        BOOST_REQUIRE(original.index->can_save_delta());
        BOOST_REQUIRE(original.index->save_delta(delta + "-3"));
        BOOST_CHECK(structure_of(delta + "-3") == snapshot_structure::dense_ivf_delta_removals);
      });
}

BOOST_AUTO_TEST_CASE(a_delta_carries_removals_and_replacements_of_its_base_rows) {
  // Rows of the base removed or replaced since it, rows added and removed again, an id removed
  // and added back: the delta names the base's removed rows and holds what was added, and base +
  // delta load into the index as it is. A save not yet kept when rows go (removals then count
  // for both the base in force and the saved one) gives deltas over either. A delta's removals
  // are checked like the rest: a flipped byte is refused, a removal the base does not hold is
  // another base's delta.
  temp_dir dir;
  for_each_delta_variant(
      dir, 307,
      [&](const std::string& tag, const index_options& opts, const telos::embedder& spec,
          clustered_data& data, ivf_fixture& original, const std::string& base) {
        original.index->base_kept();
        std::vector<embedding> queries;
        for (int i = 0; i < 25; ++i)
          queries.push_back(embedding::dense(data.next()));
        // Same index after loading `base` + `delta`: sizes, membership, answers.
        auto same_after_load = [&](ivf_fixture& from, ivf_fixture& copy, const std::string& b,
                                   const std::string& d) {
          copy.stored = from.stored;
          auto loaded = copy.index->load(b, d);
          BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string{} : telos::describe(loaded.error())));
          auto x = from.index->stats(), y = copy.index->stats();
          BOOST_CHECK_EQUAL(x.vectors, y.vectors);
          BOOST_CHECK_EQUAL(x.fresh, y.fresh);
          for (uint64_t i = 0; i < 2600; ++i)
            BOOST_CHECK_EQUAL(from.index->contains(id_of(i)), copy.index->contains(id_of(i)));
          check_same_results(10, *from.index, *copy.index, queries);
        };
        // Base rows removed and replaced (a replacement goes fresh, some get filed again), rows
        // added, some of them removed again, one removed id added back.
        for (uint64_t i = 0; i < 1500; i += 7)
          original.drop(id_of(i));
        for (uint64_t i = 3; i < 1500; i += 11)
          if (original.stored.count(id_of(i)) == 1) original.put(id_of(i), data.next());
        for (uint64_t i = 2000; i < 2400; ++i)
          original.put(id_of(i), data.next());
        original.index->maintain(350);
        for (uint64_t i = 2000; i < 2400; i += 5)
          original.drop(id_of(i));
        original.put(id_of(14), data.next());
        BOOST_REQUIRE_GT(original.index->stats().fresh, 0u);
        BOOST_REQUIRE(original.index->can_save_delta());
        auto delta = dir.file("delta-" + tag);
        BOOST_REQUIRE(original.index->save_delta(delta));
        BOOST_CHECK(structure_of(delta) == snapshot_structure::dense_ivf_delta_removals);
        BOOST_CHECK_LT(std::filesystem::file_size(delta), std::filesystem::file_size(base) / 2);
        ivf_fixture copy{spec, opts};
        same_after_load(original, copy, base, delta);
        // The loaded index tracks the same removals: after more changes in both, its cumulative
        // delta over the same base loads as well.
        auto both = [&](auto&& change) {
          change(original);
          change(copy);
          check_same_results(10, *original.index, *copy.index, queries);
        };
        clustered_data more{40, 12, 311};
        std::vector<std::vector<float>> added;
        for (int i = 0; i < 200; ++i)
          added.push_back(more.next());
        both([&](ivf_fixture& f) {
          for (uint64_t i = 1; i < 1500; i += 13)
            if (f.stored.count(id_of(i)) == 1) f.drop(id_of(i));
          for (uint64_t i = 0; i < added.size(); ++i)
            f.put(id_of(2400 + i), added[i]);
          f.drain();
          for (uint64_t i = 2001; i < 2600; i += 6)
            if (f.stored.count(id_of(i)) == 1) f.drop(id_of(i));
        });
        BOOST_REQUIRE(copy.index->can_save_delta());
        BOOST_REQUIRE(copy.index->save_delta(delta + "-2"));
        ivf_fixture third{spec, opts};
        same_after_load(copy, third, base, delta + "-2");
        while (third.index->maintain(50) > 0) {
        }
        BOOST_CHECK_EQUAL(third.index->stats().mapped_bytes, 0u);
        check_same_results(10, *copy.index, *third.index, queries);
        BOOST_CHECK_GE(third.mean_recall([&] { return data.next(); }, 20), 0.95);
        // A whole save, rows removed before it is kept (of the old base's part and of the rows
        // added after the old base), then kept: the next delta is over the new base.
        auto base2 = base + "-2";
        BOOST_REQUIRE(original.index->save(base2));
        for (uint64_t i = 2; i < 2600; i += 17)
          if (original.stored.count(id_of(i)) == 1) original.drop(id_of(i));
        original.index->base_kept();
        for (uint64_t i = 2600; i < 2700; ++i)
          original.put(id_of(i), data.next());
        original.index->maintain(60);
        BOOST_REQUIRE(original.index->can_save_delta());
        BOOST_REQUIRE(original.index->save_delta(delta + "-3"));
        ivf_fixture fourth{spec, opts};
        same_after_load(original, fourth, base2, delta + "-3");
        // Over the first base the third delta names a removal that base holds elsewhere or not at
        // all: another base's delta.
        ivf_fixture wrong{spec, opts};
        wrong.stored = original.stored;
        auto refused = wrong.index->load(base, delta + "-3");
        BOOST_REQUIRE(!refused);
        BOOST_CHECK(refused.error() == ec::format_mismatch);
        BOOST_CHECK_EQUAL(wrong.index->size(), 0u);
        // Every byte of a delta with removals is checked before anything is applied.
        std::string good;
        {
          std::ifstream in{delta, std::ios::binary};
          good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        auto bad = dir.file("bad-" + tag);
        for (size_t at = 0; at < good.size(); at += std::max<size_t>(1, good.size() / 61)) {
          auto flipped = good;
          flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
          {
            std::ofstream out{bad, std::ios::binary | std::ios::trunc};
            out.write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
          }
          BOOST_TEST_CONTEXT("byte " << at << " of " << good.size() << " flipped") {
            auto loaded = wrong.index->load(base, bad);
            BOOST_REQUIRE(!loaded);
            BOOST_CHECK(loaded.error() == ec::corrupt_value ||
                        loaded.error() == ec::format_mismatch);
            BOOST_CHECK_EQUAL(wrong.index->size(), 0u);
          }
        }
      });
}

BOOST_AUTO_TEST_CASE(a_delta_is_refused_over_another_base_torn_or_by_other_policies) {
  // A delta names the base it was written over by its lists' lengths: read over another
  // snapshot it is ec::format_mismatch, torn it is ec::corrupt_value, and either way the index is
  // left empty. An index that writes no deltas (flat, hnsw) says so. A delta would hold more rows
  // than its base: the next checkpoint is a whole snapshot instead.
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 200;
  auto spec = ivf_spec(32, metric::dot, quantization::int8);
  clustered_data data{32, 8, 227};
  ivf_fixture source{spec, opts};
  for (uint64_t i = 0; i < 800; ++i)
    source.put(id_of(i), data.next());
  source.drain();
  auto base = dir.file("base");
  BOOST_REQUIRE(source.index->save(base));
  source.index->base_kept();
  // Another base: the same index after a few more rows were filed.
  for (uint64_t i = 800; i < 900; ++i)
    source.put(id_of(i), data.next());
  source.drain();
  auto other = dir.file("other");
  BOOST_REQUIRE(source.index->save(other));
  auto delta = dir.file("delta");
  BOOST_REQUIRE(source.index->save_delta(delta)); // over `base`: the other save was not kept
  ivf_fixture target{spec, opts};
  target.stored = source.stored;
  BOOST_REQUIRE(target.index->load(base, delta));
  BOOST_CHECK_EQUAL(target.index->size(), 900u);
  auto wrong = target.index->load(other, delta);
  BOOST_REQUIRE(!wrong);
  BOOST_CHECK(wrong.error() == ec::format_mismatch);
  BOOST_TEST_MESSAGE(telos::describe(wrong.error()));
  BOOST_CHECK_EQUAL(target.index->size(), 0u);
  // A delta is no snapshot, and a snapshot no delta.
  BOOST_CHECK(!target.index->load(delta));
  BOOST_CHECK(!target.index->load(base, base));
  BOOST_CHECK_EQUAL(target.index->size(), 0u);
  std::string good;
  {
    std::ifstream in{delta, std::ios::binary};
    good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto write_delta = [&](const std::string& bytes) {
    std::ofstream out{delta, std::ios::binary | std::ios::trunc};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  for (size_t from_end : {size_t{9}, size_t{200}, good.size() / 2}) {
    write_delta(good.substr(0, good.size() - from_end));
    BOOST_TEST_CONTEXT("cut " << from_end << " bytes before the end") {
      auto torn = target.index->load(base, delta);
      BOOST_REQUIRE(!torn);
      BOOST_CHECK(torn.error() == ec::corrupt_value);
      BOOST_CHECK_EQUAL(target.index->size(), 0u);
    }
  }
  // A flipped byte anywhere (header, meta, lengths, ids, rows, checksum) is refused, never a
  // crash or a wrong index.
  for (size_t at = 0; at < good.size(); at += std::max<size_t>(1, good.size() / 97)) {
    auto flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
    write_delta(flipped);
    BOOST_TEST_CONTEXT("byte " << at << " of " << good.size() << " flipped") {
      auto bad = target.index->load(base, delta);
      BOOST_REQUIRE(!bad);
      BOOST_CHECK(bad.error() == ec::corrupt_value || bad.error() == ec::format_mismatch);
      BOOST_CHECK_EQUAL(target.index->size(), 0u);
    }
  }
  write_delta(good);
  BOOST_REQUIRE(target.index->load(base, delta));
  BOOST_CHECK_EQUAL(target.index->size(), 900u);
  for (auto structure : {index_structure::flat, index_structure::hnsw}) {
    ivf_fixture plain{ivf_spec(32, metric::dot, quantization::int8, structure), opts};
    for (uint64_t i = 0; i < 300; ++i)
      plain.put(id_of(i), data.next());
    plain.drain();
    BOOST_REQUIRE(plain.index->save(dir.file("plain")));
    plain.index->base_kept();
    BOOST_CHECK(!plain.index->can_save_delta());
    BOOST_CHECK(!plain.index->save_delta(dir.file("plain-delta")));
    auto refused = plain.index->load(dir.file("plain"), delta);
    BOOST_REQUIRE(!refused);
    BOOST_CHECK(refused.error() == ec::format_mismatch);
  }
  // More rows added than the base holds: a whole snapshot writes less over the next checkpoints.
  auto fixed = opts;
  fixed.ivf_lists = 16; // never retrains: only the size rule refuses the delta
  ivf_fixture small{spec, fixed};
  for (uint64_t i = 0; i < 400; ++i)
    small.put(id_of(i), data.next());
  small.drain();
  BOOST_REQUIRE(small.index->save(dir.file("small")));
  small.index->base_kept();
  BOOST_CHECK(small.index->can_save_delta());
  for (uint64_t i = 400; i < 900; ++i)
    small.put(id_of(i), data.next());
  small.drain();
  BOOST_CHECK(!small.index->can_save_delta());
}

BOOST_AUTO_TEST_CASE(a_version_1_snapshot_without_padding_still_loads) {
  // Version 2 pads the meta data to 64 bytes so mapped floats are aligned; a file written before
  // (version 1, sections right after the meta data) must load to the same answers, mapped when
  // its rows happen to be aligned and read otherwise.
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 200;
  opts.snapshot_map_bytes = 0;
  auto spec = ivf_spec(32, metric::cosine, quantization::int8);
  clustered_data data{32, 8, 107};
  ivf_fixture source{spec, opts};
  for (uint64_t i = 0; i < 900; ++i)
    source.put(id_of(i), data.next());
  source.drain();
  auto path = dir.file("v2");
  BOOST_REQUIRE(source.index->save(path));
  auto old = as_version_1(file_bytes(path));
  BOOST_REQUIRE(!old.empty());
  {
    std::ofstream out{dir.file("v1"), std::ios::binary};
    out.write(old.data(), static_cast<std::streamsize>(old.size()));
  }
  ivf_fixture target{spec, opts};
  target.stored = source.stored;
  BOOST_REQUIRE(target.index->load(dir.file("v1")));
  std::vector<embedding> queries;
  for (int i = 0; i < 15; ++i)
    queries.push_back(embedding::dense(data.next()));
  check_same_results(10, *source.index, *target.index, queries);
  // A version this build does not know is a format mismatch.
  const uint32_t version = 3;
  std::memcpy(old.data() + 8, &version, sizeof(version));
  {
    std::ofstream out{dir.file("v3"), std::ios::binary};
    out.write(old.data(), static_cast<std::streamsize>(old.size()));
  }
  auto refused = target.index->load(dir.file("v3"));
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(refused.error() == ec::format_mismatch);
}

BOOST_AUTO_TEST_CASE(an_ivf_index_retrains_as_it_grows_and_answers_throughout) {
  // Trained at 400 vectors (20 lists); at 4 x that it retrains (about 40 lists) and moves its
  // rows to the new lists step by step, removing and searching meanwhile.
  temp_dir dir;
  index_options opts;
  opts.hnsw_threshold = 400;
  auto spec = ivf_spec(32, metric::cosine, quantization::int8);
  ivf_fixture f{spec, opts};
  clustered_data data{32, 12, 71};
  for (uint64_t i = 0; i < 400; ++i)
    f.put(id_of(i), data.next());
  f.drain();
  BOOST_REQUIRE_EQUAL(f.index->stats().structure, "ivf");
  for (uint64_t i = 400; i < 2400; ++i)
    f.put(id_of(i), data.next());
  bool saved = false;
  for (int round = 0; f.index->maintain(5) > 0; ++round) {
    if (round % 40 != 0) continue;
    if (auto gone = id_of(static_cast<uint64_t>(round) * 7 % 2400); f.stored.count(gone) == 1)
      f.drop(gone);
    f.put(id_of(100000 + static_cast<uint64_t>(round)), data.next());
    auto qv = data.next();
    for (const auto& h : f.index->search(embedding::dense(qv), 10))
      BOOST_REQUIRE_MESSAGE(f.stored.count(h.id) == 1, "a removed id was returned");
    BOOST_CHECK_EQUAL(f.index->size(), f.stored.size());
    if (!saved && round > 400) {
      // A snapshot taken while rows move loads, and its index drains to the same vectors.
      saved = true;
      BOOST_REQUIRE(f.index->save(dir.file("moving")));
      ivf_fixture copy{spec, opts};
      copy.stored = f.stored;
      BOOST_REQUIRE(copy.index->load(dir.file("moving")));
      BOOST_CHECK_EQUAL(copy.index->size(), f.stored.size());
      copy.drain();
      BOOST_CHECK_EQUAL(copy.index->stats().fresh, 0u);
      BOOST_CHECK_GE(copy.mean_recall([&] { return data.next(); }, 30), 0.95);
    }
  }
  BOOST_CHECK(saved);
  BOOST_CHECK_EQUAL(f.index->stats().fresh, 0u);
  BOOST_CHECK_EQUAL(f.index->size(), f.stored.size());
  double r = f.mean_recall([&] { return data.next(); }, 60);
  BOOST_TEST_MESSAGE("recall@10 after retraining = " << r);
  BOOST_CHECK_GE(r, 0.95);
}

BOOST_AUTO_TEST_CASE(an_ivf_index_retrains_at_its_own_phase_between_4_and_5_times) {
  // Trained at 400 vectors: phase 0 retrains at 4 x 400 = 1,600, phase 0.5 at 1,800, phase 1 at
  // 2,000; a phase above 1 counts as 1. Each index gets the same vectors in the same order.
  auto spec = ivf_spec(32, metric::cosine, quantization::int8);
  std::vector<std::unique_ptr<ivf_fixture>> fixtures;
  for (double phase : {0.0, 0.5, 1.0, 7.0}) {
    index_options opts;
    opts.hnsw_threshold = 400;
    opts.ivf_retrain_phase = phase;
    fixtures.push_back(std::make_unique<ivf_fixture>(spec, opts));
  }
  clustered_data data{32, 12, 97};
  uint64_t next = 0;
  // Trainings handed out by each index while it files `count` more vectors.
  auto grow = [&](uint64_t count) {
    for (uint64_t i = 0; i < count; ++i, ++next) {
      auto v = data.next();
      for (auto& f : fixtures)
        f->put(id_of(next), v);
    }
    std::vector<size_t> trainings;
    for (auto& f : fixtures)
      trainings.push_back(drain_handing_out_trainings(*f->index));
    return trainings;
  };
  BOOST_CHECK(grow(400) == (std::vector<size_t>{1, 1, 1, 1}));  // the first training
  BOOST_CHECK(grow(1300) == (std::vector<size_t>{1, 0, 0, 0})); // 1,700 vectors
  BOOST_CHECK(grow(150) == (std::vector<size_t>{0, 1, 0, 0}));  // 1,850
  BOOST_CHECK(grow(100) == (std::vector<size_t>{0, 0, 0, 0}));  // 1,950
  BOOST_CHECK(grow(100) == (std::vector<size_t>{0, 0, 1, 1}));  // 2,050
  for (auto& f : fixtures) {
    BOOST_CHECK_EQUAL(f->index->stats().fresh, 0u);
    BOOST_CHECK_EQUAL(f->index->size(), 2050u);
    BOOST_CHECK_GE(f->mean_recall([&] { return data.next(); }, 30), 0.95);
  }
}

BOOST_AUTO_TEST_CASE(
    a_training_handed_out_gives_the_stepped_centroids_and_the_index_serves_meanwhile) {
  // Two indexes get the same vectors in the same order: one trains in maintain() steps, the other
  // hands its trainings out (as the index actor does, to a thread); both the first training (at
  // 400 vectors) and the retraining (at 4 x 400) must leave the same lists.
  index_options opts;
  opts.hnsw_threshold = 400;
  auto spec = ivf_spec(32, metric::cosine, quantization::int8);
  ivf_fixture stepped{spec, opts};
  ivf_fixture handing{spec, opts};
  clustered_data data{32, 12, 83};
  auto put_both = [&](uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; ++i) {
      auto v = data.next();
      stepped.put(id_of(i), v);
      handing.put(id_of(i), v);
    }
  };
  put_both(0, 400);
  BOOST_CHECK_EQUAL(stepped.index->maintain(1), 1u); // sampled, one step
  auto training = handing.index->begin_training();
  BOOST_REQUIRE(training);
  BOOST_CHECK(!handing.index->begin_training());
  // While the training is out the index trains nothing, counts every vector fresh and answers
  // exactly, also for vectors written meanwhile.
  put_both(400, 500);
  BOOST_CHECK_EQUAL(handing.index->maintain(1000), 0u);
  BOOST_CHECK_EQUAL(handing.index->stats().fresh, 500u);
  BOOST_CHECK_EQUAL(handing.index->stats().structure, "flat");
  auto qv = data.next();
  check_exact_top_k(handing.index->search(embedding::dense(qv), 10), handing.truth(qv), 10);
  std::atomic<bool> stop{false};
  BOOST_REQUIRE(training->run(stop));
  handing.index->end_training(std::move(training));
  BOOST_CHECK_EQUAL(handing.index->stats().structure, "ivf");
  BOOST_CHECK_EQUAL(drain_handing_out_trainings(*handing.index), 0u);
  stepped.drain();
  // Grown past 4 x 400: both retrain, the second by handing the training out.
  put_both(500, 1800);
  stepped.drain();
  BOOST_CHECK_EQUAL(drain_handing_out_trainings(*handing.index), 1u);
  for (auto* f : {&stepped, &handing}) {
    BOOST_CHECK_EQUAL(f->index->stats().fresh, 0u);
    BOOST_CHECK_EQUAL(f->index->size(), 1800u);
    // One list per search: equal answers need equal lists.
    f->index->set_nprobe(1);
  }
  std::vector<embedding> queries;
  for (int q = 0; q < 40; ++q)
    queries.push_back(embedding::dense(data.next()));
  check_same_results(10, *stepped.index, *handing.index, queries);
  // A training dropped unfinished (its owner closed) is started anew later.
  for (auto* f : {&stepped, &handing})
    f->index->set_nprobe(0);
  put_both(1800, 7300);
  stepped.drain();
  // (The retraining is due once the new vectors are filed.)
  std::unique_ptr<telos::storage::kmeans_training> dropped;
  while (!(dropped = handing.index->begin_training()))
    BOOST_REQUIRE_GT(handing.index->maintain(1), 0u);
  handing.index->end_training(std::move(dropped));
  // The old lists still serve every vector.
  BOOST_CHECK_EQUAL(handing.index->stats().fresh, 0u);
  qv = data.next();
  BOOST_CHECK_GE(recall(handing.index->search(embedding::dense(qv), 10), handing.truth(qv), 10),
                 0.5);
  BOOST_CHECK_EQUAL(drain_handing_out_trainings(*handing.index), 1u);
  for (auto* f : {&stepped, &handing})
    f->index->set_nprobe(1);
  check_same_results(10, *stepped.index, *handing.index, queries);
}

BOOST_AUTO_TEST_CASE(a_deferred_sample_is_made_at_the_first_step_and_trains_as_one_given) {
  // An index hands out its sampled rows as stored and has them decoded on the training's
  // thread: the training must be the one it would be with the decoded sample given up front.
  using telos::storage::kmeans_kind;
  using telos::storage::kmeans_training;
  constexpr size_t dim = 8;
  std::mt19937 rng{5};
  std::vector<float> sample;
  for (size_t i = 0; i < 600; ++i) {
    auto v = gaussian(rng, dim, 1.0f);
    sample.insert(sample.end(), v.begin(), v.end());
  }
  kmeans_training given{sample, dim, 12, 6, kmeans_kind::euclidean, std::mt19937_64{9}};
  size_t made = 0;
  kmeans_training deferred{[&] {
                             ++made;
                             return sample;
                           },
                           dim,
                           12,
                           6,
                           kmeans_kind::euclidean,
                           std::mt19937_64{9}};
  BOOST_CHECK_EQUAL(made, 0u);
  BOOST_CHECK_EQUAL(deferred.centroid_count(), 12u);
  BOOST_CHECK(!deferred.done());
  std::atomic<bool> stop{true};
  BOOST_CHECK(!deferred.run(stop)); // stopped before it began: nothing made
  BOOST_CHECK_EQUAL(made, 0u);
  stop = false;
  BOOST_REQUIRE(deferred.run(stop));
  BOOST_CHECK_EQUAL(made, 1u);
  while (!given.step()) {
  }
  BOOST_CHECK(given.centroids() == deferred.centroids());
  // Fewer sampled points than centroids asked for: one centroid per point.
  kmeans_training small{[] { return std::vector<float>(3 * dim, 1.0f); },
                        dim,
                        12,
                        2,
                        kmeans_kind::spherical,
                        std::mt19937_64{1}};
  BOOST_REQUIRE(small.run(stop));
  BOOST_CHECK_EQUAL(small.centroid_count(), 3u);
  BOOST_CHECK_EQUAL(small.centroids().size(), 3 * dim);
}

BOOST_AUTO_TEST_SUITE_END()
