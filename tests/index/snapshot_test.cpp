// save()/load(): identical results after a round trip for every structure (an HNSW index with
// fresh vectors and deletions included), and clear errors with an empty index for missing,
// truncated, corrupt, foreign or unreadable (I/O error) snapshots.
#include "index_reference.hpp"

#include "telos/storage/fault_injection.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/vector_index.hpp"

#include <fstream>
#include <iterator>
#include <numeric>

using namespace index_test;
using telos::ec;
using telos::metric;
using telos::storage::index_options;
using telos::storage::make_vector_index;
using telos::storage::vector_index;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

index_options hnsw_options() {
  index_options opts;
  opts.hnsw_threshold = 300;
  opts.hnsw_ef_construction = 64;
  return opts;
}

/// An HNSW index with part of its vectors still fresh and some of its graph deleted.
std::unique_ptr<vector_index> hnsw_with_fresh_and_deleted(std::vector<embedding>& queries) {
  auto opts = hnsw_options();
  auto index = make_vector_index(dense_spec(24, metric::l2), opts);
  clustered_data data{24, 10, 40};
  for (uint64_t i = 0; i < 1500; ++i)
    index->upsert(id_of(i), embedding::dense(data.next()));
  index->maintain(1200);
  for (uint64_t i = 0; i < 1500; i += 10)
    index->remove(id_of(i));
  for (uint64_t i = 1; i < 1500; i += 10)
    index->upsert(id_of(i), embedding::dense(data.next()));
  for (int i = 0; i < 20; ++i)
    queries.push_back(embedding::dense(data.next()));
  return index;
}

} // namespace

BOOST_AUTO_TEST_SUITE(index_snapshots)

BOOST_AUTO_TEST_CASE(every_structure_round_trips_to_identical_results) {
  temp_dir dir;
  std::mt19937 rng{41};
  std::vector<std::pair<std::unique_ptr<vector_index>, std::vector<embedding>>> cases;
  {
    std::vector<embedding> queries;
    auto flat = make_vector_index(dense_spec(20, metric::cosine), index_options{});
    for (uint64_t i = 0; i < 300; ++i)
      flat->upsert(id_of(i), embedding::dense(gaussian(rng, 20)));
    flat->remove(id_of(7));
    for (int i = 0; i < 10; ++i)
      queries.push_back(embedding::dense(gaussian(rng, 20)));
    cases.emplace_back(std::move(flat), std::move(queries));
  }
  {
    std::vector<embedding> queries;
    auto hnsw = hnsw_with_fresh_and_deleted(queries);
    BOOST_CHECK_GT(hnsw->stats().fresh, 0u);
    cases.emplace_back(std::move(hnsw), std::move(queries));
  }
  {
    std::vector<embedding> queries;
    auto sparse = make_vector_index(sparse_spec(500), index_options{});
    for (uint64_t i = 0; i < 400; ++i)
      sparse->upsert(id_of(i), random_sparse(rng, 500, 10));
    sparse->remove(id_of(3));
    for (int i = 0; i < 10; ++i)
      queries.push_back(random_sparse(rng, 500, 20));
    cases.emplace_back(std::move(sparse), std::move(queries));
  }
  {
    std::vector<embedding> queries;
    auto multi = make_vector_index(multi_spec(8), index_options{});
    for (uint64_t i = 0; i < 200; ++i)
      multi->upsert(id_of(i), random_multi(rng, 8, 1 + i % 5));
    multi->remove(id_of(9));
    for (int i = 0; i < 10; ++i)
      queries.push_back(random_multi(rng, 8, 3));
    cases.emplace_back(std::move(multi), std::move(queries));
  }
  for (auto& [original, queries] : cases) {
    BOOST_TEST_CONTEXT("structure " << original->stats().structure) {
      auto path = dir.file(original->stats().structure + ".snapshot");
      BOOST_REQUIRE(original->save(path));
      // Saving twice replaces the snapshot (and, for HNSW, its graph file).
      BOOST_REQUIRE(original->save(path));
      // Same options, so that both grow their graphs alike after the load.
      auto copy = make_vector_index(original->spec(), hnsw_options());
      auto loaded = copy->load(path);
      BOOST_REQUIRE_MESSAGE(loaded, telos::describe(loaded.error()));
      auto a = original->stats();
      auto b = copy->stats();
      BOOST_CHECK_EQUAL(a.vectors, b.vectors);
      BOOST_CHECK_EQUAL(a.fresh, b.fresh);
      BOOST_CHECK_EQUAL(a.structure, b.structure);
      check_same_results(15, *original, *copy, queries);
      // Both go on working: drain the fresh buffers and compare again.
      while (original->maintain(1000) > 0) {
      }
      while (copy->maintain(1000) > 0) {
      }
      check_same_results(15, *original, *copy, queries);
    }
  }
  size_t graph_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    graph_files += entry.path().filename().string().find(".hnsw.") != std::string::npos;
  BOOST_CHECK_EQUAL(graph_files, 1u);
}

// The writer hands its file to the device in stretches of writeback_step bytes as it writes (and
// waits for the stretch before); a file of two and a half stretches, written in pieces that end
// inside them, reads back byte for byte and passes its checksum.
BOOST_AUTO_TEST_CASE(a_snapshot_longer_than_its_write_back_stretches_reads_back_whole) {
  using telos::storage::snapshot_reader;
  using telos::storage::snapshot_structure;
  using telos::storage::snapshot_writer;
  temp_dir dir;
  auto path = dir.file("stretches.snapshot");
  std::vector<uint32_t> data(snapshot_writer::writeback_step * 5 / 2 / sizeof(uint32_t) + 12345);
  std::iota(data.begin(), data.end(), uint32_t{7});
  {
    snapshot_writer out{path, snapshot_structure::dense, "meta of the stretches"};
    constexpr size_t piece = 250001;
    for (size_t at = 0; at < data.size(); at += piece)
      out.write_array(data.data() + at, std::min(piece, data.size() - at));
    auto committed = out.commit();
    BOOST_REQUIRE_MESSAGE(committed, telos::describe(committed.error()));
  }
  BOOST_CHECK(!std::filesystem::exists(path + ".tmp"));
  snapshot_reader in;
  auto meta = in.open(path, snapshot_structure::dense);
  BOOST_REQUIRE(meta);
  BOOST_CHECK_EQUAL(*meta, "meta of the stretches");
  std::vector<uint32_t> back;
  BOOST_REQUIRE(in.read_array(back, data.size()));
  BOOST_CHECK(back == data);
  BOOST_CHECK(in.verify());
}

BOOST_AUTO_TEST_CASE(damaged_snapshots_are_errors_and_leave_the_index_empty) {
  temp_dir dir;
  std::mt19937 rng{42};
  auto spec = dense_spec(16, metric::dot);
  auto source = make_vector_index(spec, index_options{});
  for (uint64_t i = 0; i < 100; ++i)
    source->upsert(id_of(i), embedding::dense(gaussian(rng, 16)));
  auto path = dir.file("flat.snapshot");
  BOOST_REQUIRE(source->save(path));
  auto good = read_bytes(path);

  auto expect_failure = [&](const std::string& what, ec code) {
    BOOST_TEST_CONTEXT(what) {
      auto target = make_vector_index(spec, index_options{});
      target->upsert(id_of(1000), embedding::dense(gaussian(rng, 16)));
      auto loaded = target->load(path);
      BOOST_REQUIRE(!loaded);
      BOOST_CHECK_EQUAL(telos::to_string(telos::code_of(loaded.error())), telos::to_string(code));
      BOOST_TEST_MESSAGE(telos::describe(loaded.error()));
      BOOST_CHECK_EQUAL(target->size(), 0u);
      BOOST_CHECK(target->search(embedding::dense(gaussian(rng, 16)), 5).empty());
    }
  };
  for (size_t offset : {size_t{3}, size_t{30}, good.size() / 2, good.size() - 3}) {
    auto flipped = good;
    flipped[offset] = static_cast<char>(flipped[offset] ^ 0x20);
    write_bytes(path, flipped);
    expect_failure("byte " + std::to_string(offset) + " flipped", ec::corrupt_value);
  }
  for (size_t size : {size_t{0}, size_t{10}, good.size() / 3, good.size() - 1}) {
    write_bytes(path, good.substr(0, size));
    expect_failure("truncated to " + std::to_string(size), ec::corrupt_value);
  }
  write_bytes(path, good + "x");
  expect_failure("a trailing byte", ec::corrupt_value);
  std::filesystem::remove(path);
  expect_failure("missing", ec::not_found);

  write_bytes(path, good);
  auto other = make_vector_index(dense_spec(16, metric::l2), index_options{});
  auto mismatch = other->load(path);
  BOOST_REQUIRE(!mismatch);
  BOOST_CHECK(telos::code_of(mismatch.error()) == ec::format_mismatch);
  auto sparse = make_vector_index(sparse_spec(16), index_options{});
  BOOST_CHECK(telos::code_of(sparse->load(path).error()) == ec::format_mismatch);
}

BOOST_AUTO_TEST_CASE(a_damaged_or_missing_graph_file_is_an_error) {
  temp_dir dir;
  std::vector<embedding> queries;
  auto source = hnsw_with_fresh_and_deleted(queries);
  auto path = dir.file("hnsw.snapshot");
  BOOST_REQUIRE(source->save(path));
  std::string graph_path;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    if (entry.path().filename().string().find(".hnsw.") != std::string::npos)
      graph_path = entry.path().string();
  BOOST_REQUIRE(!graph_path.empty());
  auto graph = read_bytes(graph_path);
  auto damaged = graph;
  damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 1);
  write_bytes(graph_path, damaged);
  auto target = make_vector_index(source->spec(), hnsw_options());
  auto loaded = target->load(path);
  BOOST_REQUIRE(!loaded);
  BOOST_CHECK(telos::code_of(loaded.error()) == ec::corrupt_value);
  BOOST_CHECK_EQUAL(target->size(), 0u);
  write_bytes(graph_path, graph.substr(0, graph.size() - 100));
  BOOST_CHECK(telos::code_of(target->load(path).error()) == ec::corrupt_value);
  std::filesystem::remove(graph_path);
  BOOST_CHECK(telos::code_of(target->load(path).error()) == ec::corrupt_value);
  BOOST_CHECK_EQUAL(target->size(), 0u);
  write_bytes(graph_path, graph);
  BOOST_CHECK(target->load(path));
  check_same_results(15, *source, *target, queries);
}

BOOST_AUTO_TEST_CASE(a_read_error_anywhere_in_a_snapshot_is_an_io_error_and_an_empty_index) {
  // Reads of Telos's own files fail with EIO at a seeded rate (the fault layer): a load either
  // succeeds and answers as the saved index does, or reports ec::io_error naming the file and
  // leaves the index empty; never a crash, never a partly loaded index.
  temp_dir dir;
  std::vector<embedding> queries;
  auto spec = dense_spec(12, metric::cosine);
  spec.index.structure = telos::index_structure::ivf;
  spec.index.quantization = telos::quantization::int8;
  index_options opts;
  opts.hnsw_threshold = 100;
  clustered_data data{12, 6, 53};
  auto source = make_vector_index(spec, opts);
  for (uint64_t i = 0; i < 600; ++i)
    source->upsert(id_of(i), embedding::dense(data.next()));
  while (source->maintain(1000) > 0) {
  }
  for (int i = 0; i < 10; ++i)
    queries.push_back(embedding::dense(data.next()));
  auto path = dir.file("ivf.snapshot");
  BOOST_REQUIRE(source->save(path));
  // About a hundred reads per load (header, sections, each list's ids): at 0.5 % each, about
  // half of the loads meet an error, at any point of the file.
  constexpr double rate = 0.005;
  struct installed {
    std::shared_ptr<telos::storage::fault_injector> injector =
        std::make_shared<telos::storage::fault_injector>(11);
    installed() { telos::storage::install_fault_injector(injector); }
    ~installed() { telos::storage::install_fault_injector(nullptr); }
  } faults;
  auto& injector = faults.injector;
  injector->arm(telos::storage::fault_kind::read_error, rate);
  size_t failed = 0, loaded = 0;
  for (int round = 0; round < 40; ++round) {
    auto target = make_vector_index(spec, opts);
    auto ok = target->load(path);
    if (ok) {
      ++loaded;
      injector->lift();
      check_same_results(10, *source, *target, queries);
      injector->arm(telos::storage::fault_kind::read_error, rate);
      continue;
    }
    ++failed;
    BOOST_CHECK_EQUAL(telos::to_string(telos::code_of(ok.error())), telos::to_string(ec::io_error));
    BOOST_CHECK(telos::describe(ok.error()).find(path) != std::string::npos);
    BOOST_CHECK_EQUAL(target->size(), 0u);
  }
  BOOST_TEST_MESSAGE(failed << " loads failed, " << loaded << " loaded");
  BOOST_CHECK_GT(failed, 0u);
  BOOST_CHECK_GT(loaded, 0u);
}

BOOST_AUTO_TEST_SUITE_END()
