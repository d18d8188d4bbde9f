// Sparse (inverted index, dot product) and multi-vector (MaxSim) indexes against brute force.
#include "index_reference.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/vector_index.hpp"

#include <atomic>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

using namespace index_test;
using telos::storage::id_predicate;
using telos::storage::index_options;
using telos::storage::make_vector_index;

namespace {

constexpr uint32_t vocabulary = 2000;

struct sparse_fixture {
  explicit sparse_fixture(size_t n, uint32_t seed = 20, uint32_t vocabulary_size = vocabulary)
      : rng(seed) {
    index = make_vector_index(sparse_spec(vocabulary_size), index_options{});
    for (size_t i = 0; i < n; ++i)
      put(id_of(i), random_sparse(rng, vocabulary, 5 + i % 40));
  }

  void put(const uuid& id, embedding e) {
    index->upsert(id, e);
    stored[id] = std::move(e);
  }

  void erase(const uuid& id) {
    BOOST_CHECK(index->remove(id));
    stored.erase(id);
  }

  /// Candidates are the stored vectors sharing a term with the query.
  std::vector<scored> truth(const embedding& q,
                            const std::function<bool(const uuid&)>& allow = nullptr) const {
    return brute_force(
        stored, [&](const embedding& e) { return reference_sparse(q, e); },
        [&](const uuid& id, const embedding& e) {
          return shares_term(q, e) && (!allow || allow(id));
        });
  }

  std::mt19937 rng;
  std::unique_ptr<telos::storage::vector_index> index;
  std::map<uuid, embedding> stored;
};

struct maxsim_fixture {
  maxsim_fixture(size_t n, uint32_t dim, uint32_t seed = 30) : dim(dim), rng(seed) {
    index = make_vector_index(multi_spec(dim), index_options{});
    for (size_t i = 0; i < n; ++i)
      put(id_of(i), random_multi(rng, dim, 1 + i % 12));
  }

  void put(const uuid& id, embedding e) {
    index->upsert(id, e);
    stored[id] = std::move(e);
  }

  void erase(const uuid& id) {
    BOOST_CHECK(index->remove(id));
    stored.erase(id);
  }

  std::vector<scored> truth(const embedding& q,
                            const std::function<bool(const uuid&)>& allow = nullptr) const {
    return brute_force(
        stored, [&](const embedding& e) { return reference_maxsim(q, e, dim); },
        [&](const uuid& id, const embedding&) { return !allow || allow(id); });
  }

  uint32_t dim;
  std::mt19937 rng;
  std::unique_ptr<telos::storage::vector_index> index;
  std::map<uuid, embedding> stored;
};

/// FNV-1a 64 of a whole file: a fixed function of its bytes, for comparing a snapshot with the one
/// an earlier version of the index wrote.
/// FNV-1a of a snapshot file in its version-1 form (the hashes below were taken of version-1
/// files; version 2 only adds zero padding after the meta data).
uint64_t fnv1a_of_file(const std::string& path) {
  auto bytes = as_version_1(file_bytes(path));
  BOOST_REQUIRE(!bytes.empty());
  uint64_t h = 14695981039346656037ull;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// A sparse vector from raw mt19937 output only (no std distribution, whose results the standard
/// leaves to the library), so the same sequence on every platform: `terms` strictly increasing
/// terms below `vocabulary`, weights that are exact binary fractions.
embedding fixed_sparse(std::mt19937& rng, uint32_t vocabulary, size_t terms) {
  std::set<uint32_t> chosen;
  while (chosen.size() < terms)
    chosen.insert(static_cast<uint32_t>(rng() % vocabulary));
  embedding e;
  for (auto t : chosen) {
    e.indices.push_back(t);
    e.values.push_back(static_cast<float>(rng() % 4096) / 1024.0f - 1.5f);
  }
  return e;
}

uint32_t float_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

/// Search and score give the same bits in both indexes, for every query and every stored id.
void check_same_bits(const telos::storage::vector_index& a, const telos::storage::vector_index& b,
                     const std::vector<embedding>& queries, const std::map<uuid, embedding>& stored,
                     const telos::embedder& spec) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (const auto& q : queries) {
    auto x = a.search(q, 40);
    auto y = b.search(q, 40);
    BOOST_REQUIRE_EQUAL(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      BOOST_CHECK(x[i].id == y[i].id);
      BOOST_CHECK_EQUAL(float_bits(x[i].score), float_bits(y[i].score));
    }
    for (const auto& [id, e] : stored) {
      auto sa = a.score(q, id);
      auto sb = b.score(q, id);
      BOOST_REQUIRE(sa && sb);
      BOOST_CHECK_EQUAL(float_bits(*sa), float_bits(*sb));
      // The reference sum over the embedding as it went in: same order, same bits.
      BOOST_CHECK_EQUAL(float_bits(*sa), float_bits(telos::storage::exact_score(spec, q, e)));
    }
  }
}

/// The meta data of a sparse snapshot of structure 2 (the documents only), as earlier versions
/// wrote it.
struct documents_only_meta {
  telos::embedder spec;
  uint64_t documents = 0;
  uint64_t entries = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, entries);
  }
};

/// Writes `documents` (in slot order) as an earlier version's sparse index saved them: structure
/// 2, ids, term counts, then every term and every weight.
void write_documents_only_snapshot(const std::string& path, const telos::embedder& spec,
                                   const std::vector<std::pair<uuid, embedding>>& documents) {
  documents_only_meta meta;
  meta.spec = spec;
  meta.documents = documents.size();
  std::vector<uuid> ids;
  std::vector<uint32_t> lengths;
  std::vector<uint32_t> terms;
  std::vector<float> weights;
  for (const auto& [id, e] : documents) {
    const size_t n = std::min(e.indices.size(), e.values.size());
    ids.push_back(id);
    lengths.push_back(static_cast<uint32_t>(n));
    terms.insert(terms.end(), e.indices.begin(), e.indices.begin() + static_cast<ptrdiff_t>(n));
    weights.insert(weights.end(), e.values.begin(), e.values.begin() + static_cast<ptrdiff_t>(n));
    meta.entries += n;
  }
  telos::storage::snapshot_writer out{path, telos::storage::snapshot_structure::sparse,
                                      telos::encode_value(meta)};
  out.write_array(ids.data(), ids.size());
  out.write_array(lengths.data(), lengths.size());
  out.write_array(terms.data(), terms.size());
  out.write_array(weights.data(), weights.size());
  BOOST_REQUIRE(out.commit());
}

/// The meta data of a sparse snapshot of structure 7 (documents and postings).
struct with_postings_meta {
  telos::embedder spec;
  uint64_t documents = 0;
  uint64_t entries = 0;
  uint64_t terms = 0;
  uint64_t postings = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, entries, terms, postings);
  }
};

struct file_posting {
  uint32_t slot;
  float weight;
};

/// Writes a structure-7 sparse snapshot with the given sections, checksummed as the index writes
/// them (so only the index's own checks can find what is wrong in them).
void write_postings_snapshot(const std::string& path, const with_postings_meta& meta,
                             const std::vector<uuid>& ids, const std::vector<uint32_t>& lengths,
                             const std::vector<uint64_t>& runs, const std::vector<uint32_t>& terms,
                             const std::vector<float>& weights,
                             const std::vector<file_posting>& postings) {
  telos::storage::snapshot_writer out{path, telos::storage::snapshot_structure::sparse_postings,
                                      telos::encode_value(meta)};
  out.write_array(ids.data(), ids.size());
  out.write_array(lengths.data(), lengths.size());
  out.write_array(runs.data(), runs.size());
  out.write_array(terms.data(), terms.size());
  out.write_array(weights.data(), weights.size());
  out.write_array(postings.data(), postings.size());
  BOOST_REQUIRE(out.commit());
}

} // namespace

BOOST_AUTO_TEST_SUITE(sparse_index)

BOOST_AUTO_TEST_CASE(sparse_search_is_the_exact_dot_product_top_k) {
  sparse_fixture f{1000};
  BOOST_CHECK_EQUAL(f.index->stats().structure, "sparse");
  BOOST_CHECK_EQUAL(f.index->stats().vectors, 1000u);
  BOOST_CHECK_GT(f.index->stats().memory_bytes, 0u);
  for (int query = 0; query < 30; ++query) {
    auto q = random_sparse(f.rng, vocabulary, 3 + query);
    auto truth = f.truth(q);
    for (size_t k : {1, 10, 100})
      check_exact_top_k(f.index->search(q, k), truth, k);
  }
}

BOOST_AUTO_TEST_CASE(terms_of_a_vocabulary_of_millions_are_searched_exactly_too) {
  // The index keeps terms below 2^20 in an array and larger ones in a hash map: half of each
  // document's terms are moved past that line (order kept), and replacements and removals mix both.
  constexpr uint32_t far = (1u << 20) + 7;
  auto spread = [&](embedding e) {
    for (auto& t : e.indices)
      if (t >= vocabulary / 2) t += far;
    return e;
  };
  sparse_fixture f{0, 21, far + vocabulary};
  for (size_t i = 0; i < 600; ++i)
    f.put(id_of(i), spread(random_sparse(f.rng, vocabulary, 5 + i % 30)));
  for (size_t i = 0; i < 600; i += 7)
    f.put(id_of(i), spread(random_sparse(f.rng, vocabulary, 12)));
  for (size_t i = 3; i < 600; i += 11)
    f.erase(id_of(i));
  for (int query = 0; query < 30; ++query) {
    auto q = spread(random_sparse(f.rng, vocabulary, 3 + query));
    auto truth = f.truth(q);
    BOOST_REQUIRE(!truth.empty());
    for (size_t k : {1, 10, 100})
      check_exact_top_k(f.index->search(q, k), truth, k);
  }
}

BOOST_AUTO_TEST_CASE(searches_of_indexes_of_different_sizes_on_one_thread_stay_exact) {
  // One search after another reuse one scratch of sums from the process's pool, sized to the
  // largest index searched and zeroed again after each search, also when a filter throws halfway
  // through one.
  sparse_fixture large{1500, 22};
  sparse_fixture small{40, 23};
  for (int query = 0; query < 20; ++query) {
    auto q = random_sparse(large.rng, vocabulary, 4 + query);
    check_exact_top_k(large.index->search(q, 10), large.truth(q), 10);
    check_exact_top_k(small.index->search(q, 10), small.truth(q), 10);
    if (query % 5 == 0) {
      id_predicate throwing = [](const uuid&) -> bool { throw std::runtime_error{"filter"}; };
      BOOST_CHECK_THROW(large.index->search(q, 10, &throwing), std::runtime_error);
    }
    check_exact_top_k(large.index->search(q, 100), large.truth(q), 100);
  }
}

BOOST_AUTO_TEST_CASE(concurrent_searches_of_one_index_each_get_the_exact_answer) {
  // Searches at once take separate scratches from the process's pool (and give them back zeroed):
  // every thread's every answer equals the one a single search gave, checked against brute force.
  sparse_fixture f{1200, 24};
  std::vector<embedding> queries;
  std::vector<std::vector<telos::hit>> expected;
  for (int query = 0; query < 12; ++query) {
    queries.push_back(random_sparse(f.rng, vocabulary, 4 + query));
    expected.push_back(f.index->search(queries.back(), 20));
    check_exact_top_k(expected.back(), f.truth(queries.back()), 20);
  }
  std::atomic<size_t> searched{0}, differed{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t round = 0; round < 25; ++round) {
        const size_t q = (t * 5 + round) % queries.size();
        auto got = f.index->search(queries[q], 20);
        bool same = got.size() == expected[q].size();
        for (size_t i = 0; same && i < got.size(); ++i)
          same = got[i].id == expected[q][i].id && got[i].score == expected[q][i].score;
        ++searched;
        if (!same) ++differed;
      }
    });
  for (auto& thread : threads)
    thread.join();
  BOOST_CHECK_EQUAL(searched.load(), 100u);
  BOOST_CHECK_EQUAL(differed.load(), 0u);
}

BOOST_AUTO_TEST_CASE(sparse_ties_are_ordered_by_id_and_unrelated_vectors_are_not_hits) {
  sparse_fixture f{0};
  auto doc = embedding::sparse({3, 17, 99}, {0.5f, 1.0f, 2.0f});
  for (uint64_t n : {8, 2, 6, 4})
    f.put(id_of(n), doc);
  f.put(id_of(1), embedding::sparse({5, 6}, {1.0f, 1.0f}));
  auto got = f.index->search(embedding::sparse({17, 99}, {1.0f, 1.0f}), 10);
  BOOST_REQUIRE_EQUAL(got.size(), 4u);
  uint64_t order[] = {2, 4, 6, 8};
  for (size_t i = 0; i < 4; ++i) {
    BOOST_CHECK(got[i].id == id_of(order[i]));
    BOOST_CHECK_EQUAL(got[i].score, 3.0f);
  }
}

BOOST_AUTO_TEST_CASE(sparse_upsert_replaces_and_remove_removes) {
  sparse_fixture f{800};
  for (uint64_t n = 0; n < 800; n += 3)
    f.put(id_of(n), random_sparse(f.rng, vocabulary, 12));
  for (uint64_t n = 1; n < 800; n += 4)
    f.erase(id_of(n));
  BOOST_CHECK(!f.index->remove(id_of(1)));
  BOOST_CHECK_EQUAL(f.index->size(), f.stored.size());
  for (int round = 0; round < 2; ++round) {
    for (int query = 0; query < 20; ++query) {
      auto q = random_sparse(f.rng, vocabulary, 30);
      check_exact_top_k(f.index->search(q, 50), f.truth(q), 50);
    }
    // Compaction renumbers the slots; results must not change.
    BOOST_CHECK_EQUAL(f.index->maintain(100), 0u);
  }
}

BOOST_AUTO_TEST_CASE(sparse_filtered_search_equals_filtering_then_searching) {
  sparse_fixture f{1000};
  id_predicate allow = [](const uuid& id) { return id.bytes[15] % 3 == 0; };
  for (int query = 0; query < 20; ++query) {
    auto q = random_sparse(f.rng, vocabulary, 40);
    check_exact_top_k(f.index->search(q, 10, &allow), f.truth(q, allow), 10);
  }
}

BOOST_AUTO_TEST_CASE(sparse_score_is_exact) {
  sparse_fixture f{200};
  auto q = random_sparse(f.rng, vocabulary, 300);
  for (const auto& [id, e] : f.stored) {
    auto s = f.index->score(q, id);
    BOOST_REQUIRE(s);
    double expected = reference_sparse(q, e);
    BOOST_CHECK_SMALL(*s - expected, tolerance(expected));
    BOOST_CHECK_SMALL(telos::storage::exact_score(sparse_spec(vocabulary), q, e) - expected,
                      tolerance(expected));
  }
  BOOST_CHECK(!f.index->score(q, id_of(5000)));
}

BOOST_AUTO_TEST_CASE(a_reloaded_sparse_index_searches_and_scores_with_the_same_bits) {
  temp_dir dir;
  const auto spec = sparse_spec(vocabulary);
  sparse_fixture f{0, 23};
  for (uint64_t i = 0; i < 1500; ++i)
    f.put(id_of(i), random_sparse(f.rng, vocabulary, 1 + i % 60));
  for (uint64_t i = 0; i < 1500; i += 7)
    f.put(id_of(i), random_sparse(f.rng, vocabulary, 20));
  for (uint64_t i = 2; i < 1500; i += 5)
    f.erase(id_of(i));
  std::vector<embedding> queries;
  for (int i = 0; i < 12; ++i)
    queries.push_back(random_sparse(f.rng, vocabulary, 10 + 10 * i));
  auto path = dir.file("sparse.snapshot");
  BOOST_REQUIRE(f.index->save(path));
  auto copy = make_vector_index(spec, index_options{});
  auto loaded = copy->load(path);
  BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
  BOOST_CHECK_EQUAL(copy->size(), f.stored.size());
  check_same_bits(*f.index, *copy, queries, f.stored, spec);
  // Removals in both (the copy's slots are numbered densely, the original's are not), then a
  // compaction of the original (well past 30 % dead): still the same bits.
  for (uint64_t i = 0; i < 1500; i += 3)
    if (f.stored.count(id_of(i)) != 0) {
      f.erase(id_of(i));
      BOOST_CHECK(copy->remove(id_of(i)));
    }
  check_same_bits(*f.index, *copy, queries, f.stored, spec);
  BOOST_CHECK_EQUAL(f.index->maintain(100), 0u);
  check_same_bits(*f.index, *copy, queries, f.stored, spec);
  // The compacted index saves and reloads to the same bits, and goes on taking writes.
  BOOST_REQUIRE(f.index->save(path));
  auto again = make_vector_index(spec, index_options{});
  BOOST_REQUIRE(again->load(path));
  check_same_bits(*f.index, *again, queries, f.stored, spec);
  for (uint64_t i = 2000; i < 2100; ++i) {
    auto e = random_sparse(f.rng, vocabulary, 30);
    again->upsert(id_of(i), e);
    f.put(id_of(i), std::move(e));
  }
  check_same_bits(*f.index, *again, queries, f.stored, spec);
}

BOOST_AUTO_TEST_CASE(a_loaded_sparse_index_takes_writes_removals_and_compactions_exactly) {
  // A load builds the postings in bulk; writes after it append to them, for terms the load had
  // postings for, terms past the largest it had, and terms beyond the direct array (2^20).
  temp_dir dir;
  const uint32_t vocabulary_size = 3'000'000;
  const auto spec = sparse_spec(vocabulary_size);
  sparse_fixture f{0, 41, vocabulary_size};
  auto document = [&](uint64_t i, uint32_t below) {
    return random_sparse(f.rng, below, 1 + i % 50);
  };
  for (uint64_t i = 0; i < 1200; ++i)
    f.put(id_of(i), document(i, i % 9 == 0 ? vocabulary_size : 1000));
  auto path = dir.file("sparse.snapshot");
  BOOST_REQUIRE(f.index->save(path));
  f.index = make_vector_index(spec, index_options{});
  auto loaded = f.index->load(path);
  BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
  BOOST_REQUIRE_EQUAL(f.index->size(), 1200u);
  auto check = [&] {
    for (int query = 0; query < 15; ++query) {
      auto q = random_sparse(f.rng, query % 3 == 0 ? vocabulary_size : 2000, 40);
      check_exact_top_k(f.index->search(q, 30), f.truth(q), 30);
    }
    auto q = random_sparse(f.rng, 2000, 60);
    for (const auto& [id, e] : f.stored) {
      auto s = f.index->score(q, id);
      BOOST_REQUIRE(s);
      BOOST_CHECK_EQUAL(float_bits(*s), float_bits(telos::storage::exact_score(spec, q, e)));
    }
  };
  check();
  // New ids and replaced loaded ones, over a wider vocabulary than the load saw.
  for (uint64_t i = 900; i < 1700; ++i)
    f.put(id_of(i), document(i, i % 7 == 0 ? vocabulary_size : 2000));
  check();
  // Past 30 % dead: maintain() compacts, rebuilding every posting, loaded and written alike.
  for (uint64_t i = 0; i < 1700; i += 2)
    f.erase(id_of(i));
  BOOST_CHECK_EQUAL(f.index->maintain(100), 0u);
  check();
  // Writes after the compaction, then a save and load of the whole: the same answers.
  for (uint64_t i = 1700; i < 1900; ++i)
    f.put(id_of(i), document(i, 2000));
  check();
  BOOST_REQUIRE(f.index->save(path));
  f.index = make_vector_index(spec, index_options{});
  BOOST_REQUIRE(f.index->load(path));
  BOOST_CHECK_EQUAL(f.index->size(), f.stored.size());
  check();
}

BOOST_AUTO_TEST_CASE(sparse_snapshots_keep_their_bytes_and_the_documents_only_format_loads) {
  // 10126229776854465408 is the hash of the snapshot the index of dfb6eaa (one embedding per
  // slot) wrote of these documents: written here by hand in that format (structure 2, the
  // documents only), it still has those bytes, and it loads. Snapshots now hold the postings
  // too (structure 7); their hashes were taken from this version's files.
  temp_dir dir;
  const uint32_t vocabulary_size = 3'000'000;
  const auto spec = sparse_spec(vocabulary_size);
  auto index = make_vector_index(spec, index_options{});
  std::mt19937 rng{77};
  // The live documents in slot order (a replaced document moves to the end), as a save lists
  // them.
  std::vector<std::pair<uuid, embedding>> slots;
  auto put = [&](const uuid& id, embedding e) {
    index->upsert(id, e);
    const size_t n = std::min(e.indices.size(), e.values.size());
    e.indices.resize(n);
    e.values.resize(n);
    slots.erase(std::remove_if(slots.begin(), slots.end(),
                               [&](const auto& slot) { return slot.first == id; }),
                slots.end());
    slots.emplace_back(id, std::move(e));
  };
  for (uint64_t i = 0; i < 600; ++i) {
    // Every tenth document has terms beyond the direct posting array (2^20).
    auto e = fixed_sparse(rng, i % 10 == 0 ? vocabulary_size : 30522, i % 50);
    if (i % 11 == 0 && !e.values.empty()) e.values.pop_back(); // trimmed to the shorter list
    put(id_of(i), std::move(e));
  }
  for (uint64_t i = 0; i < 600; i += 9)
    put(id_of(i), fixed_sparse(rng, 30522, 7));
  for (uint64_t i = 1; i < 600; i += 4) {
    index->remove(id_of(i));
    slots.erase(std::remove_if(slots.begin(), slots.end(),
                               [&](const auto& slot) { return slot.first == id_of(i); }),
                slots.end());
  }
  auto earlier = dir.file("earlier.snapshot");
  write_documents_only_snapshot(earlier, spec, slots);
  BOOST_CHECK_EQUAL(fnv1a_of_file(earlier), 10126229776854465408ull);

  auto path = dir.file("sparse.snapshot");
  BOOST_REQUIRE(index->save(path));
  const uint64_t with_dead_slots = fnv1a_of_file(path);
  BOOST_CHECK_EQUAL(with_dead_slots, 191510250301157161ull);
  // Compaction keeps the live slots' order, so the snapshot does not change.
  BOOST_CHECK_EQUAL(index->maintain(100), 0u);
  BOOST_REQUIRE(index->save(path));
  BOOST_CHECK_EQUAL(fnv1a_of_file(path), with_dead_slots);
  // Loaded and saved again: the same bytes; and so for the earlier format's file.
  auto copy = make_vector_index(spec, index_options{});
  BOOST_REQUIRE(copy->load(path));
  auto second = dir.file("second.snapshot");
  BOOST_REQUIRE(copy->save(second));
  BOOST_CHECK_EQUAL(fnv1a_of_file(second), with_dead_slots);
  auto from_earlier = make_vector_index(spec, index_options{});
  auto loaded = from_earlier->load(earlier);
  BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
  std::map<uuid, embedding> stored{slots.begin(), slots.end()};
  std::vector<embedding> queries;
  for (int i = 0; i < 6; ++i)
    queries.push_back(fixed_sparse(rng, i % 2 == 0 ? 30522 : vocabulary_size, 20 + 10 * i));
  check_same_bits(*index, *from_earlier, queries, stored, spec);
  BOOST_REQUIRE(from_earlier->save(second));
  BOOST_CHECK_EQUAL(fnv1a_of_file(second), with_dead_slots);
  // An empty index too.
  auto empty = make_vector_index(spec, index_options{});
  BOOST_REQUIRE(empty->save(path));
  BOOST_CHECK_EQUAL(fnv1a_of_file(path), 14876807002619416726ull);
}

BOOST_AUTO_TEST_CASE(a_mapped_snapshot_answers_exactly_while_maintain_copies_it_and_after) {
  // A load maps the snapshot's terms, weights and postings (here at any size) and maintain()
  // copies them into the index's own memory a step at a time; a write before that has ended
  // copies the documents at once. Every answer on the way is exact.
  temp_dir dir;
  const uint32_t vocabulary_size = 3'000'000;
  const auto spec = sparse_spec(vocabulary_size);
  sparse_fixture f{0, 53, vocabulary_size};
  for (uint64_t i = 0; i < 3000; ++i)
    f.put(id_of(i), random_sparse(f.rng, i % 9 == 0 ? vocabulary_size : 2000, 1 + i % 80));
  for (uint64_t i = 0; i < 3000; i += 7)
    f.put(id_of(i), random_sparse(f.rng, 2000, 30));
  for (uint64_t i = 3; i < 3000; i += 5)
    f.erase(id_of(i));
  auto path = dir.file("sparse.snapshot");
  BOOST_REQUIRE(f.index->save(path));
  auto check = [&](const telos::storage::vector_index& index) {
    BOOST_REQUIRE_EQUAL(index.size(), f.stored.size());
    for (int query = 0; query < 8; ++query) {
      auto q = random_sparse(f.rng, query % 3 == 0 ? vocabulary_size : 2000, 40);
      check_exact_top_k(index.search(q, 30), f.truth(q), 30);
    }
    auto q = random_sparse(f.rng, 2000, 60);
    for (const auto& [id, e] : f.stored) {
      auto s = index.score(q, id);
      BOOST_REQUIRE(s);
      BOOST_CHECK_EQUAL(float_bits(*s), float_bits(telos::storage::exact_score(spec, q, e)));
    }
  };
  index_options mapped;
  mapped.snapshot_map_bytes = 0;
  auto copy = make_vector_index(spec, mapped);
  auto loaded = copy->load(path);
  BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
  BOOST_CHECK_GT(copy->stats().mapped_bytes, 0u);
  check(*copy);
  size_t steps = 0;
  while (copy->maintain(1) > 0) {
    ++steps;
    check(*copy);
  }
  BOOST_CHECK_EQUAL(steps, 2u); // the documents, then the postings (each under a MiB here)
  BOOST_CHECK_EQUAL(copy->stats().mapped_bytes, 0u);
  BOOST_CHECK(copy->stats().last_error.empty());
  // Saved again it is the same file, although the original holds dead slots and postings
  // appended after its last build.
  auto second = dir.file("second.snapshot");
  BOOST_REQUIRE(copy->save(second));
  BOOST_CHECK(file_bytes(second) == file_bytes(path));

  // Read instead of mapped (snapshot_map_bytes above the file's sections): nothing to copy.
  index_options read;
  read.snapshot_map_bytes = SIZE_MAX;
  auto unmapped = make_vector_index(spec, read);
  BOOST_REQUIRE(unmapped->load(path));
  BOOST_CHECK_EQUAL(unmapped->stats().mapped_bytes, 0u);
  BOOST_CHECK_EQUAL(unmapped->maintain(100), 0u);
  check(*unmapped);

  // Written to and removed from while still mapped, then copied, then compacted.
  f.index = make_vector_index(spec, mapped);
  BOOST_REQUIRE(f.index->load(path));
  for (uint64_t i = 0; i < 400; i += 4)
    if (f.stored.count(id_of(i)) != 0) f.erase(id_of(i));
  check(*f.index);
  for (uint64_t i = 2900; i < 3300; ++i)
    f.put(id_of(i), random_sparse(f.rng, i % 5 == 0 ? vocabulary_size : 2000, 1 + i % 40));
  BOOST_CHECK_GT(f.index->stats().mapped_bytes, 0u); // the postings are still mapped
  check(*f.index);
  while (f.index->maintain(1) > 0) {
  }
  BOOST_CHECK_EQUAL(f.index->stats().mapped_bytes, 0u);
  check(*f.index);
  for (uint64_t i = 0; i < 3300; i += 2)
    if (f.stored.count(id_of(i)) != 0) f.erase(id_of(i));
  f.index->maintain(100); // past 30 % dead: compacts
  check(*f.index);
}

BOOST_AUTO_TEST_CASE(a_snapshot_whose_postings_disagree_with_its_documents_is_refused) {
  // Checksummed files whose sections contradict each other: each load fails with
  // ec::corrupt_value naming what is wrong and leaves the index empty, mapped or read.
  temp_dir dir;
  const auto spec = sparse_spec(8);
  with_postings_meta meta;
  meta.spec = spec;
  meta.documents = 2;
  meta.entries = 3;
  meta.terms = 8;
  meta.postings = 3;
  const std::vector<uuid> ids{id_of(1), id_of(2)};
  const std::vector<uint32_t> lengths{2, 1};
  const std::vector<uint32_t> terms{1, 5, 5};
  const std::vector<float> weights{0.5f, 1.0f, 2.0f};
  // Term 1: slot 0; term 5: slots 0 and 1.
  const std::vector<uint64_t> runs{0, 0, 1, 1, 1, 1, 3, 3, 3};
  const std::vector<file_posting> postings{{0, 0.5f}, {0, 1.0f}, {1, 2.0f}};
  auto path = dir.file("sparse.snapshot");
  for (size_t map_bytes : {size_t{0}, SIZE_MAX}) {
    index_options options;
    options.snapshot_map_bytes = map_bytes;
    // The consistent file loads and answers.
    write_postings_snapshot(path, meta, ids, lengths, runs, terms, weights, postings);
    auto index = make_vector_index(spec, options);
    auto loaded = index->load(path);
    BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
    embedding q;
    q.indices = {5};
    q.values = {1.0f};
    auto hits = index->search(q, 5);
    BOOST_REQUIRE_EQUAL(hits.size(), 2u);
    BOOST_CHECK(hits[0].id == id_of(2));
    BOOST_CHECK_EQUAL(hits[0].score, 2.0f);
    auto refused = [&](const std::string& why, const std::string& named) {
      auto bad = make_vector_index(spec, options);
      bad->upsert(id_of(9), q);
      auto result = bad->load(path);
      BOOST_REQUIRE_MESSAGE(!result, why);
      BOOST_CHECK_MESSAGE(telos::code_of(result.error()) == telos::ec::corrupt_value, why);
      BOOST_CHECK_MESSAGE(telos::describe(result.error()).find(named) != std::string::npos,
                          why + ": " + telos::describe(result.error()));
      BOOST_CHECK_EQUAL(bad->size(), 0u);
      BOOST_CHECK(bad->search(q, 5).empty());
    };
    auto beyond = postings;
    beyond[2].slot = 2;
    write_postings_snapshot(path, meta, ids, lengths, runs, terms, weights, beyond);
    refused("a posting beyond the documents", "beyond its documents");
    auto unordered = postings;
    std::swap(unordered[1], unordered[2]);
    write_postings_snapshot(path, meta, ids, lengths, runs, terms, weights, unordered);
    refused("postings out of slot order", "out of slot order");
    auto moved = runs;
    moved[2] = 0; // term 1's run is empty, term 0's holds its posting
    write_postings_snapshot(path, meta, ids, lengths, moved, terms, weights, postings);
    refused("a run whose length is not the documents' count", "0 postings of term 1");
    auto backwards = runs;
    backwards[3] = 0;
    write_postings_snapshot(path, meta, ids, lengths, backwards, terms, weights, postings);
    refused("a run that ends before it starts", "ends before it starts");
    auto short_runs = runs;
    short_runs.back() = 4;
    write_postings_snapshot(path, meta, ids, lengths, short_runs, terms, weights, postings);
    refused("runs that end past the postings", "do not cover");
    auto other_terms = meta;
    other_terms.terms = 7;
    write_postings_snapshot(path, other_terms, ids, lengths,
                            std::vector<uint64_t>(runs.begin(), runs.end() - 1), terms, weights,
                            postings);
    refused("runs for another vocabulary", "postings of 7 terms");
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(maxsim_index)

BOOST_AUTO_TEST_CASE(maxsim_search_is_exact) {
  maxsim_fixture f{400, 20};
  BOOST_CHECK_EQUAL(f.index->stats().structure, "maxsim");
  BOOST_CHECK_GE(f.index->stats().memory_bytes, 400u * 20 * sizeof(float));
  for (int query = 0; query < 15; ++query) {
    auto q = random_multi(f.rng, 20, 1 + query % 6);
    auto truth = f.truth(q);
    for (size_t k : {1, 10, 60})
      check_exact_top_k(f.index->search(q, k), truth, k);
  }
}

BOOST_AUTO_TEST_CASE(maxsim_is_the_mean_of_the_best_cosine_per_query_token) {
  maxsim_fixture f{0, 2};
  // Stored tokens (1,0) and (0,1); query tokens (1,0) → 1 and (1,1) → cos 45° = 0.7071.
  f.put(id_of(1), embedding{{1, 0, 0, 3}, {}});
  auto got = f.index->search(embedding{{2, 0, 1, 1}, {}}, 1);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_CLOSE(got[0].score, (1.0f + std::sqrt(0.5f)) / 2, 1e-3);
  BOOST_CHECK(f.index->search(embedding{{1, 0, 1}, {}}, 1).empty());
}

BOOST_AUTO_TEST_CASE(maxsim_upsert_replaces_remove_removes_and_filters_apply) {
  maxsim_fixture f{300, 16};
  for (uint64_t n = 0; n < 300; n += 4)
    f.put(id_of(n), random_multi(f.rng, 16, 3));
  for (uint64_t n = 1; n < 300; n += 3)
    f.erase(id_of(n));
  BOOST_CHECK_EQUAL(f.index->size(), f.stored.size());
  id_predicate allow = [](const uuid& id) { return id.bytes[15] % 2 == 0; };
  for (int round = 0; round < 2; ++round) {
    for (int query = 0; query < 10; ++query) {
      auto q = random_multi(f.rng, 16, 4);
      check_exact_top_k(f.index->search(q, 300), f.truth(q), 300);
      check_exact_top_k(f.index->search(q, 10, &allow), f.truth(q, allow), 10);
    }
    // Compaction moves token rows; results must not change.
    BOOST_CHECK_EQUAL(f.index->maintain(100), 0u);
  }
  auto q = random_multi(f.rng, 16, 2);
  for (const auto& [id, e] : f.stored) {
    auto s = f.index->score(q, id);
    BOOST_REQUIRE(s);
    double expected = reference_maxsim(q, e, 16);
    BOOST_CHECK_SMALL(*s - expected, tolerance(expected));
    BOOST_CHECK_SMALL(telos::storage::exact_score(multi_spec(16), q, e) - expected,
                      tolerance(expected));
  }
}

BOOST_AUTO_TEST_CASE(a_handed_out_maxsim_training_gives_the_stepped_centroids) {
  // Two indexes get the same memories in the same order: one trains its token centroids in
  // maintain() steps, the other hands its trainings out (as the index actor does, to a thread);
  // the first training (at the threshold) and the retraining (grown 2-fold) must agree.
  index_options opts;
  opts.maxsim_threshold = 100;
  opts.maxsim_retrain_growth = 2;
  auto stepped = make_vector_index(multi_spec(16), opts);
  auto handing = make_vector_index(multi_spec(16), opts);
  std::mt19937 rng{31};
  auto put_both = [&](uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; ++i) {
      auto e = random_multi(rng, 16, 1 + i % 5);
      stepped->upsert(id_of(i), e);
      handing->upsert(id_of(i), e);
    }
  };
  std::vector<embedding> queries;
  for (int q = 0; q < 20; ++q)
    queries.push_back(random_multi(rng, 16, 1 + q % 4));
  put_both(0, 100);
  BOOST_CHECK_EQUAL(stepped->maintain(1), 1u); // sampled, one step
  auto training = handing->begin_training();
  BOOST_REQUIRE(training);
  BOOST_CHECK(!handing->begin_training());
  // While it is out: nothing trains, every memory counts as fresh, searches stay exact.
  put_both(100, 150);
  BOOST_CHECK_EQUAL(handing->maintain(1000), 0u);
  BOOST_CHECK_EQUAL(handing->stats().fresh, 150u);
  BOOST_CHECK_EQUAL(handing->stats().structure, "maxsim");
  check_same_results(10, *stepped, *handing, queries);
  std::atomic<bool> stop{false};
  BOOST_REQUIRE(training->run(stop));
  handing->end_training(std::move(training));
  BOOST_CHECK_EQUAL(handing->stats().structure, "maxsim-centroids");
  BOOST_CHECK_EQUAL(drain_handing_out_trainings(*handing), 0u);
  while (stepped->maintain(1000) > 0) {
  }
  check_same_results(10, *stepped, *handing, queries);
  put_both(150, 500);
  while (stepped->maintain(1000) > 0) {
  }
  BOOST_CHECK_EQUAL(drain_handing_out_trainings(*handing), 1u);
  BOOST_CHECK_EQUAL(handing->stats().fresh, 0u);
  BOOST_CHECK_EQUAL(handing->size(), 500u);
  check_same_results(10, *stepped, *handing, queries);
}

BOOST_AUTO_TEST_SUITE_END()
