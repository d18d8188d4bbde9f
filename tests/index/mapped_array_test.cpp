// mapped_array: the indexes' growable arrays keep their elements through many growths (the
// mapping moves), shrinks and moves; growth the system refuses is std::bad_alloc with the array
// as it was; a fresh mapping of a huge page or more starts on a huge-page boundary. And the MaxSim
// index, whose token arrays are mapped_arrays, answers exactly after growing them many times and
// the same after a snapshot round trip.
#include "index_reference.hpp"

#include "telos/storage/huge_pages.hpp"
#include "telos/storage/id_map.hpp"
#include "telos/storage/id_table.hpp"
#include "telos/storage/mapped_array.hpp"
#include "telos/storage/vector_index.hpp"

#include <map>
#include <new>
#include <random>
#include <set>
#include <unordered_map>

using namespace index_test;
using telos::storage::index_options;
using telos::storage::make_vector_index;
using telos::storage::mapped_array;

namespace {

/// A trivially copyable element larger than a scalar, as the MaxSim index's documents are.
struct record {
  uint64_t key;
  uint32_t a;
  uint8_t b;
};

} // namespace

BOOST_AUTO_TEST_SUITE(mapped_arrays)

BOOST_AUTO_TEST_CASE(a_mapped_array_keeps_its_elements_through_many_growths) {
  mapped_array<uint32_t> values;
  BOOST_CHECK(values.empty());
  BOOST_CHECK_EQUAL(values.capacity(), 0u);
  // One element at a time to 3 million (12 MB): from one page through a dozen doublings, past
  // 2 MiB where the mapping asks for huge pages.
  size_t growths = 0;
  for (uint32_t i = 0; i < 3000000; ++i) {
    const size_t before = values.capacity();
    values.push_back(i * 7u);
    growths += values.capacity() != before;
  }
  BOOST_CHECK_GE(growths, 10u);
  BOOST_REQUIRE_EQUAL(values.size(), 3000000u);
  BOOST_CHECK_GE(values.capacity(), values.size());
  bool intact = true;
  for (uint32_t i = 0; i < 3000000; ++i)
    intact = intact && values[i] == i * 7u;
  BOOST_CHECK(intact);
  BOOST_CHECK_EQUAL(values.back(), 2999999u * 7u);
}

BOOST_AUTO_TEST_CASE(appends_resizes_and_room_keep_elements_and_sizes) {
  mapped_array<record> records;
  std::vector<record> chunk;
  for (uint32_t i = 0; i < 1000; ++i)
    chunk.push_back(record{i, i * 3, static_cast<uint8_t>(i)});
  for (int round = 0; round < 300; ++round)
    records.append(chunk.data(), chunk.size());
  BOOST_REQUIRE_EQUAL(records.size(), 300000u);
  bool intact = true;
  for (size_t i = 0; i < records.size(); ++i)
    intact = intact && records[i].key == i % 1000 && records[i].a == (i % 1000) * 3 &&
             records[i].b == static_cast<uint8_t>(i % 1000);
  BOOST_CHECK(intact);

  // make_room and reserve change the capacity, never the size or the elements.
  records.make_room(records.size() + 5000000);
  BOOST_CHECK_GE(records.capacity(), 5300000u);
  BOOST_CHECK_EQUAL(records.size(), 300000u);
  BOOST_CHECK_EQUAL(records[299999].key, 999u);

  // resize(n, value) sets only the new elements; assign sets all.
  mapped_array<uint32_t> codes;
  codes.resize(10, 5u);
  codes.resize(4);
  codes.resize(8, 9u);
  const std::vector<uint32_t> expected{5, 5, 5, 5, 9, 9, 9, 9};
  BOOST_CHECK_EQUAL_COLLECTIONS(codes.begin(), codes.end(), expected.begin(), expected.end());
  codes.assign(3, 1u);
  BOOST_CHECK_EQUAL(codes.size(), 3u);
  BOOST_CHECK_EQUAL(codes[0] + codes[1] + codes[2], 3u);

  // swap and move hand the mapping over.
  mapped_array<uint32_t> other;
  other.swap(codes);
  BOOST_CHECK(codes.empty());
  BOOST_CHECK_EQUAL(other.size(), 3u);
  mapped_array<uint32_t> moved{std::move(other)};
  BOOST_CHECK_EQUAL(other.data(), nullptr);
  BOOST_CHECK_EQUAL(moved[2], 1u);
  moved.clear();
  moved.shrink_to_fit();
  BOOST_CHECK_EQUAL(moved.capacity(), 0u);
  BOOST_CHECK_EQUAL(moved.data(), nullptr);
}

BOOST_AUTO_TEST_CASE(a_fresh_mapping_of_a_huge_page_or_more_starts_on_a_huge_page_boundary) {
  // The kernel backs only the aligned 2 MiB stretches of a mapping with huge pages, so a fresh
  // mapping of at least one starts on such a boundary and holds whole huge pages (whether huge
  // pages back it is the system's choice). Several at once, so that mmap's placement is not luck.
  constexpr size_t huge = size_t{2} << 20;
  std::vector<mapped_array<float>> arrays(8);
  for (size_t i = 0; i < arrays.size(); ++i) {
    const size_t elements = (huge + (i * 4096 + 12)) / sizeof(float); // 2 MiB and a bit more
    arrays[i].resize(elements, static_cast<float>(i));
    BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(arrays[i].data()) % huge, 0u);
    BOOST_CHECK_EQUAL(arrays[i].capacity() * sizeof(float) % huge, 0u); // no small-page tail
    BOOST_CHECK_EQUAL(arrays[i][0], static_cast<float>(i));
    BOOST_CHECK_EQUAL(arrays[i][elements - 1], static_cast<float>(i));
  }
  // Each keeps its own elements (the excess of one mapping is not another's memory), and grows.
  for (size_t i = 0; i < arrays.size(); ++i) {
    BOOST_CHECK_EQUAL(arrays[i][arrays[i].size() / 2], static_cast<float>(i));
    arrays[i].resize(3 * huge / sizeof(float), -1.0f);
    BOOST_CHECK_EQUAL(arrays[i][0], static_cast<float>(i));
    BOOST_CHECK_EQUAL(arrays[i].back(), -1.0f);
  }
}

BOOST_AUTO_TEST_CASE(growth_the_system_refuses_is_bad_alloc_and_leaves_the_array_as_it_was) {
  mapped_array<int8_t> rows;
  for (int i = 0; i < 5000; ++i)
    rows.push_back(static_cast<int8_t>(i % 100));
  const size_t capacity = rows.capacity();
  const int8_t* data = rows.data();
  // 2^60 bytes is beyond any address space: mmap/mremap fail with ENOMEM.
  BOOST_CHECK_THROW(rows.resize(size_t{1} << 60), std::bad_alloc);
  BOOST_CHECK_THROW(rows.make_room(size_t{1} << 60), std::bad_alloc);
  BOOST_CHECK_THROW(rows.resize(size_t{1} << 60, int8_t{1}), std::bad_alloc);
  // A size whose bytes overflow is refused before any system call.
  mapped_array<uint64_t> wide;
  BOOST_CHECK_THROW(wide.resize(static_cast<size_t>(-1) / 4), std::bad_alloc);
  BOOST_CHECK(wide.empty());
  BOOST_CHECK_EQUAL(rows.size(), 5000u);
  BOOST_CHECK_EQUAL(rows.capacity(), capacity);
  BOOST_CHECK(rows.data() == data);
  bool intact = true;
  for (int i = 0; i < 5000; ++i)
    intact = intact && rows[static_cast<size_t>(i)] == static_cast<int8_t>(i % 100);
  BOOST_CHECK(intact);
  // And it goes on growing afterwards.
  rows.resize(1 << 22, int8_t{7});
  BOOST_CHECK_EQUAL(int{rows[4999]}, 99);
  BOOST_CHECK_EQUAL(int{rows[(1 << 22) - 1]}, 7);
}

BOOST_AUTO_TEST_CASE(the_row_buffer_keeps_its_rows_when_it_grows_shrinks_and_moves) {
  telos::storage::float_buffer rows;
  BOOST_CHECK(rows.empty());
  // Grow one 100-float row at a time past several pages and past 2 MiB (where the buffer asks for
  // transparent huge pages), so the mapping moves a few times.
  for (size_t row = 0; row < 6000; ++row) {
    rows.resize(rows.size() + 100);
    for (size_t i = 0; i < 100; ++i)
      rows.data()[row * 100 + i] = static_cast<float>(row * 1000 + i);
  }
  BOOST_REQUIRE_EQUAL(rows.size(), 600000u);
  BOOST_CHECK_GE(rows.capacity(), rows.size());
  for (size_t row = 0; row < 6000; ++row)
    BOOST_REQUIRE_EQUAL(rows.data()[row * 100 + 99], static_cast<float>(row * 1000 + 99));
  rows.resize(1000);
  rows.shrink_to_fit();
  BOOST_CHECK_LT(rows.capacity(), 600000u);
  BOOST_CHECK_GE(rows.capacity(), 1000u);
  telos::storage::float_buffer moved{std::move(rows)};
  BOOST_CHECK(rows.empty());
  BOOST_CHECK_EQUAL(rows.data(), nullptr);
  BOOST_REQUIRE_EQUAL(moved.size(), 1000u);
  for (size_t i = 0; i < 1000; ++i)
    BOOST_REQUIRE_EQUAL(moved.data()[i], static_cast<float>((i / 100) * 1000 + i % 100));
  moved.resize(0);
  moved.shrink_to_fit();
  BOOST_CHECK_EQUAL(moved.capacity(), 0u);
}

BOOST_AUTO_TEST_CASE(maxsim_answers_exactly_after_many_growths_and_the_same_after_a_round_trip) {
  // 4000 memories of 1 to 24 tokens of 32 dims: about 50,000 token rows, so the index's token
  // arrays (int8 rows, scales, codes, held f32 rows: 6 MB) and its documents grow many times,
  // and compactions copy them into new ones.
  // One index stays exact (below its threshold), one trains centroids at 500 memories.
  constexpr uint32_t dim = 32;
  index_options trained_opts;
  trained_opts.maxsim_threshold = 500;
  auto exact = make_vector_index(multi_spec(dim), index_options{});
  auto trained = make_vector_index(multi_spec(dim), trained_opts);
  std::mt19937 rng{77};
  std::map<uuid, embedding> stored;
  for (uint64_t i = 0; i < 4000; ++i) {
    auto e = random_multi(rng, dim, 1 + i % 24);
    exact->upsert(id_of(i), e);
    trained->upsert(id_of(i), e);
    stored[id_of(i)] = std::move(e);
    if (i % 500 == 499) drain_handing_out_trainings(*trained);
  }
  // Replacing a third leaves a third of the rows dead, so maintain() compacts the arrays too.
  for (uint64_t i = 0; i < 4000; i += 3) {
    auto e = random_multi(rng, dim, 1 + (i + 5) % 24);
    exact->upsert(id_of(i), e);
    trained->upsert(id_of(i), e);
    stored[id_of(i)] = std::move(e);
  }
  exact->maintain(100);
  drain_handing_out_trainings(*trained);
  BOOST_CHECK_EQUAL(exact->stats().structure, "maxsim");
  BOOST_CHECK_EQUAL(trained->stats().structure, "maxsim-centroids");
  BOOST_CHECK_GE(exact->stats().memory_bytes, size_t{50000} * dim * sizeof(float));
  std::vector<embedding> queries;
  for (int q = 0; q < 12; ++q)
    queries.push_back(random_multi(rng, dim, 1 + q % 5));
  for (const auto& q : queries) {
    auto truth = brute_force(
        stored, [&](const embedding& e) { return reference_maxsim(q, e, dim); },
        [](const uuid&, const embedding&) { return true; });
    check_exact_top_k(exact->search(q, 10), truth, 10);
  }
  // Every memory's score (from its held rows) is the reference's, in both indexes.
  const auto& q = queries.front();
  for (uint64_t i = 0; i < 4000; i += 37) {
    const double expected = reference_maxsim(q, stored[id_of(i)], dim);
    for (auto* index : {exact.get(), trained.get()}) {
      auto s = index->score(q, id_of(i));
      BOOST_REQUIRE(s);
      BOOST_CHECK_SMALL(*s - expected, tolerance(expected));
    }
  }
  temp_dir dir;
  for (auto* original : {exact.get(), trained.get()}) {
    BOOST_TEST_CONTEXT("structure " << original->stats().structure) {
      auto path = dir.file(original->stats().structure + ".snapshot");
      BOOST_REQUIRE(original->save(path));
      auto copy = make_vector_index(original->spec(),
                                    original == trained.get() ? trained_opts : index_options{});
      auto loaded = copy->load(path);
      BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
      BOOST_CHECK_EQUAL(copy->size(), 4000u);
      BOOST_CHECK_EQUAL(copy->stats().structure, original->stats().structure);
      check_same_results(10, *original, *copy, queries);
      // The loaded index grows on from its snapshot's arrays alike.
      for (uint64_t i = 4000; i < 4500; ++i) {
        auto e = random_multi(rng, dim, 1 + i % 24);
        original->upsert(id_of(i), e);
        copy->upsert(id_of(i), e);
      }
      drain_handing_out_trainings(*original);
      drain_handing_out_trainings(*copy);
      check_same_results(10, *original, *copy, queries);
    }
  }
}

BOOST_AUTO_TEST_CASE(id_maps_grow_ahead_at_a_point_of_their_own_and_never_rehash_on_insert) {
  using telos::storage::grow_id_map_ahead;
  using telos::storage::id_map_growth_share;
  // teleo13's embedders: their maps must not all grow with the same write.
  std::set<double> shares;
  for (int e = 1; e <= 13; ++e) {
    double share = id_map_growth_share("E" + std::to_string(e));
    BOOST_CHECK_GE(share, 0.55);
    BOOST_CHECK_LT(share, 1.0);
    shares.insert(share);
  }
  BOOST_CHECK_GE(shares.size(), 10u);
  std::set<size_t> first_growths;
  for (double share : {0.55, 0.7, 0.99}) {
    std::unordered_map<uint64_t, uint32_t> map;
    size_t growths = 0;
    size_t first_above_1000 = 0;
    for (uint64_t i = 0; i < 50000; ++i) {
      grow_id_map_ahead(map, share);
      const size_t buckets = map.bucket_count();
      map.emplace(i, static_cast<uint32_t>(i));
      // The insert itself never rehashed: only grow_id_map_ahead changes the buckets.
      BOOST_REQUIRE_EQUAL(map.bucket_count(), buckets);
    }
    // Doubling: about log2(50000 / share) growths, not one per insert.
    std::unordered_map<uint64_t, uint32_t> probe;
    for (uint64_t i = 0; i < 50000; ++i) {
      const size_t before = probe.bucket_count();
      grow_id_map_ahead(probe, share);
      if (probe.bucket_count() != before) {
        ++growths;
        if (first_above_1000 == 0 && i > 1000) first_above_1000 = i;
      }
      probe.emplace(i, 0);
    }
    BOOST_CHECK_LE(growths, 24u);
    BOOST_CHECK_EQUAL(map.size(), 50000u);
    first_growths.insert(first_above_1000);
  }
  // Different shares grow at different sizes.
  BOOST_CHECK_EQUAL(first_growths.size(), 3u);
}

BOOST_AUTO_TEST_CASE(an_id_table_agrees_with_a_map_through_inserts_erases_and_growth) {
  // Random inserts, overwrites and erases (erases move later entries back over the hole) against
  // std::map, with ids that share their low bytes and ids that differ only there.
  telos::storage::id_table<uint32_t> table;
  std::map<uuid, uint32_t> reference;
  std::mt19937 rng{5};
  const double share = telos::storage::id_map_growth_share("E4");
  for (int step = 0; step < 200000; ++step) {
    const uuid id = id_of(rng() % (step < 100000 ? 30000 : 3000));
    switch (rng() % 4) {
    case 0:
    case 1: {
      telos::storage::grow_id_map_ahead(table, share);
      const size_t places = table.bucket_count();
      auto [it, inserted] = table.try_emplace(id, static_cast<uint32_t>(step));
      BOOST_REQUIRE_EQUAL(inserted, reference.count(id) == 0);
      BOOST_REQUIRE(it->first == id);
      // grew ahead: the insert itself never grows the table
      BOOST_REQUIRE_EQUAL(table.bucket_count(), places);
      if (inserted) reference[id] = static_cast<uint32_t>(step);
      break;
    }
    case 2:
      table[id] = static_cast<uint32_t>(step);
      reference[id] = static_cast<uint32_t>(step);
      break;
    default:
      BOOST_REQUIRE_EQUAL(table.erase(id), reference.erase(id) == 1);
    }
    BOOST_REQUIRE_EQUAL(table.size(), reference.size());
    if (step % 20000 == 0 || step == 199999)
      for (uint64_t n = 0; n < 30000; ++n) {
        auto it = table.find(id_of(n));
        auto want = reference.find(id_of(n));
        BOOST_REQUIRE_EQUAL(it != table.end(), want != reference.end());
        if (it != table.end()) BOOST_REQUIRE_EQUAL(it->second, want->second);
        BOOST_REQUIRE_EQUAL(table.count(id_of(n)), reference.count(id_of(n)));
      }
  }
  // Most ids erased at the end, the rest still found; then cleared.
  BOOST_CHECK_LE(table.size() * 8, table.bucket_count() * 7);
  BOOST_CHECK_GT(table.memory_bytes(), 0u);
  table.clear();
  BOOST_CHECK_EQUAL(table.size(), 0u);
  BOOST_CHECK(table.find(id_of(1)) == table.end());
  BOOST_CHECK(!table.erase(id_of(1)));
  BOOST_CHECK(table.emplace(id_of(1), 7u).second);
  BOOST_CHECK_EQUAL(table.find(id_of(1))->second, 7u);
}

BOOST_AUTO_TEST_CASE(an_id_table_reserved_ahead_takes_a_million_ids_without_growing) {
  telos::storage::id_table<uint64_t> table;
  table.reserve(1'000'000);
  const size_t places = table.bucket_count();
  BOOST_CHECK_EQUAL(places, size_t{1} << 21);
  for (uint64_t n = 0; n < 1'000'000; ++n)
    BOOST_REQUIRE(table.try_emplace(id_of(n), n).second);
  BOOST_CHECK_EQUAL(table.bucket_count(), places);
  for (uint64_t n = 0; n < 1'000'000; n += 997)
    BOOST_REQUIRE_EQUAL(table.find(id_of(n))->second, n);
  BOOST_CHECK(table.find(id_of(1'000'000)) == table.end());
  // A size no table can hold is std::bad_alloc, the table as it was.
  BOOST_CHECK_THROW(table.reserve(static_cast<size_t>(-1)), std::bad_alloc);
  BOOST_CHECK_EQUAL(table.size(), 1'000'000u);
  BOOST_CHECK_EQUAL(table.find(id_of(5))->second, 5u);
  // 2^21 places of a control byte and a 24-byte entry each, in two mappings.
  BOOST_CHECK_EQUAL(table.memory_bytes(), (size_t{1} << 21) * 25);
}

BOOST_AUTO_TEST_CASE(asked_to_restart_with_huge_pages_a_program_does_so_once_keeping_tunables) {
  using telos::storage::huge_page_tunables;
  // TELOS_HUGE_PAGES=1 and no tunables yet: the restart asks for huge pages.
  auto fresh = huge_page_tunables(nullptr, "1");
  BOOST_REQUIRE(fresh);
  BOOST_CHECK_EQUAL(*fresh, "glibc.malloc.hugetlb=1");
  BOOST_REQUIRE(huge_page_tunables("", "1"));
  BOOST_CHECK_EQUAL(*huge_page_tunables("", "1"), "glibc.malloc.hugetlb=1");
  // The user's other tunables stay, ours is appended.
  auto kept = huge_page_tunables("glibc.malloc.check=3", "1");
  BOOST_REQUIRE(kept);
  BOOST_CHECK_EQUAL(*kept, "glibc.malloc.check=3:glibc.malloc.hugetlb=1");
  // The restarted process (or a user who chose a hugetlb value, even 0) is left as it is, so a
  // program restarts at most once.
  BOOST_CHECK(!huge_page_tunables(fresh->c_str(), "1"));
  BOOST_CHECK(!huge_page_tunables(kept->c_str(), "1"));
  BOOST_CHECK(!huge_page_tunables("glibc.malloc.hugetlb=0", "1"));
  // Not asked for (unset, 0, anything but 1): the process stays as it is.
  BOOST_CHECK(!huge_page_tunables(nullptr, nullptr));
  BOOST_CHECK(!huge_page_tunables(nullptr, "0"));
  BOOST_CHECK(!huge_page_tunables("glibc.malloc.check=3", "yes"));
}

BOOST_AUTO_TEST_SUITE_END()
