// RocksDB's vector keyspaces ("vec." names: uncompressed, values in blob files) and its write
// statistics: values come back from blob files after reopening and from a checkpoint, and stats()
// accounts for the bytes users wrote and the bytes written to files for them.
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <filesystem>

using namespace telos;
using namespace telos::storage;
using telos::test::temp_dir;

namespace {

backend_options vector_store_options(const std::string& path, bool blob_files) {
  backend_options opts;
  opts.path = path;
  opts.keyspaces = {"records", "vec.E1"};
  opts.block_cache_mb = 8;
  opts.write_buffer_mb = 4;
  opts.vector_blob_files = blob_files;
  return opts;
}

/// A 4 KiB value that differs per key (a 1024-d f32 vector's size).
std::string vector_value(int i) {
  std::string v(4096, '\0');
  for (size_t j = 0; j < v.size(); ++j)
    v[j] = static_cast<char>((i * 131 + static_cast<int>(j) * 7) & 0xff);
  return v;
}

size_t files_ending_in(const std::string& dir, const std::string& suffix) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator{dir}) {
    auto name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      ++n;
  }
  return n;
}

std::unique_ptr<backend> open_vector_store(const backend_options& opts) {
  auto db = make_backend(backend_kind::rocksdb, opts);
  BOOST_REQUIRE_MESSAGE(db, "open failed: " << (db ? "" : describe(db.error())));
  return std::move(*db);
}

} // namespace

BOOST_AUTO_TEST_SUITE(rocksdb_vectors)

BOOST_AUTO_TEST_CASE(vectors_live_in_blob_files_and_survive_reopen_and_checkpoint) {
  temp_dir dir;
  auto opts = vector_store_options(dir.sub("store"), true);
  uint64_t user_bytes = 0;
  {
    auto db = open_vector_store(opts);
    for (int batch_no = 0; batch_no < 10; ++batch_no) {
      write_batch batch;
      for (int i = batch_no * 20; i < batch_no * 20 + 20; ++i) {
        auto key = "id" + std::to_string(i);
        batch.put(0, key, "record " + std::to_string(i));
        batch.put(1, key, vector_value(i));
        user_bytes += key.size() * 2 + vector_value(i).size();
      }
      BOOST_REQUIRE(db->write(batch, {}));
    }
    BOOST_REQUIRE(db->flush());
    auto stats = db->stats();
    BOOST_REQUIRE(stats);
    // The batches' keys and values at least (RocksDB adds a few bytes of framing per entry).
    BOOST_CHECK_GE(stats->user_bytes_written, user_bytes);
    BOOST_CHECK_GE(stats->wal_bytes_written, user_bytes);
    BOOST_CHECK_GE(stats->blob_bytes_written, 200u * 4096u);
    BOOST_CHECK_GT(stats->write_amplification(), 1.0);
    BOOST_CHECK_GT(files_ending_in(dir.sub("store"), ".blob"), 0u);
    BOOST_REQUIRE(db->checkpoint(dir.sub("copy")));
  }
  for (const auto& path : {dir.sub("store"), dir.sub("copy")}) {
    auto db = open_vector_store(vector_store_options(path, true));
    for (int i : {0, 77, 199}) {
      auto key = "id" + std::to_string(i);
      BOOST_CHECK_EQUAL(db->get(1, key)->value_or("-"), vector_value(i));
      BOOST_CHECK_EQUAL(db->get(0, key)->value_or("-"), "record " + std::to_string(i));
    }
    BOOST_CHECK_EQUAL(db->stats()->keyspaces[1].keys, 200u);
  }
  // Blob files off on a later open: the vectors already in blob files stay readable, new ones
  // are written inline.
  auto db = open_vector_store(vector_store_options(dir.sub("store"), false));
  write_batch late;
  late.put(1, "late", vector_value(500));
  BOOST_REQUIRE(db->write(late, {}));
  BOOST_REQUIRE(db->flush());
  BOOST_CHECK_EQUAL(db->get(1, "id5")->value_or("-"), vector_value(5));
  BOOST_CHECK_EQUAL(db->get(1, "late")->value_or("-"), vector_value(500));
}

BOOST_AUTO_TEST_CASE(without_blob_files_no_blob_file_is_written) {
  temp_dir dir;
  auto db = open_vector_store(vector_store_options(dir.sub("store"), false));
  write_batch batch;
  for (int i = 0; i < 50; ++i)
    batch.put(1, "id" + std::to_string(i), vector_value(i));
  BOOST_REQUIRE(db->write(batch, {}));
  BOOST_REQUIRE(db->flush());
  auto stats = db->stats();
  BOOST_REQUIRE(stats);
  BOOST_CHECK_EQUAL(stats->blob_bytes_written, 0u);
  BOOST_CHECK_GT(stats->flush_bytes_written, 50u * 4096u);
  BOOST_CHECK_EQUAL(files_ending_in(dir.sub("store"), ".blob"), 0u);
  BOOST_CHECK_EQUAL(db->get(1, "id9")->value_or("-"), vector_value(9));
}

BOOST_AUTO_TEST_SUITE_END()
