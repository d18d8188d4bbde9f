// RocksDB's vector keyspaces ("vec." names: uncompressed, values in blob files) and its write
// statistics: values come back from blob files after reopening and from a checkpoint, and stats()
// accounts for the bytes users wrote and the bytes written to files for them. Also: the backend's
// own info LOG rotates instead of growing without bound, its write-ahead log is bounded, and values
// read for a re-score stay out of its block cache.
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <vector>

using namespace telos;
using namespace telos::storage;
using telos::test::code;
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

/// The sizes of the files under `dir` whose names end in `suffix`.
std::vector<uint64_t> files_ending_in(const std::string& dir, const std::string& suffix) {
  std::vector<uint64_t> sizes;
  for (const auto& entry : std::filesystem::recursive_directory_iterator{dir}) {
    auto name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      sizes.push_back(entry.file_size());
  }
  return sizes;
}

uint64_t bytes_of_files_ending_in(const std::string& dir, const std::string& suffix) {
  auto sizes = files_ending_in(dir, suffix);
  return std::accumulate(sizes.begin(), sizes.end(), uint64_t{0});
}

/// The lines `name=value` (leading blanks dropped) of the OPTIONS file RocksDB wrote last in the
/// store at `path`: it keeps the last two OPTIONS-<number> files, the newest is in effect.
std::vector<std::string> rocksdb_options(const std::string& path, const std::string& name) {
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::recursive_directory_iterator{path}) {
    auto file = entry.path().filename().string();
    if (file.rfind("OPTIONS-", 0) != 0) continue;
    if (newest.empty() ||
        std::stoull(file.substr(8)) > std::stoull(newest.filename().string().substr(8)))
      newest = entry.path();
  }
  BOOST_CHECK(!newest.empty());
  std::vector<std::string> found;
  std::ifstream in{newest};
  for (std::string line; std::getline(in, line);)
    if (line.find(name + "=") != std::string::npos)
      found.push_back(line.substr(line.find_first_not_of(' ')));
  return found;
}

/// Files under `dir` ending in `suffix` that this process holds open (its /proc/self/fd links).
size_t open_files_ending_in(const std::string& dir, const std::string& suffix) {
  auto root = std::filesystem::canonical(dir).string();
  size_t open = 0;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc/self/fd"}) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec || target.rfind(root, 0) != 0 || target.size() < suffix.size()) continue;
    if (target.compare(target.size() - suffix.size(), suffix.size(), suffix) == 0) ++open;
  }
  return open;
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
    const auto& written = stats->written;
    // The batches' keys and values at least (RocksDB adds a few bytes of framing per entry).
    BOOST_CHECK_GE(written.user, user_bytes);
    BOOST_CHECK_GE(written.wal, user_bytes);
    // The flush wrote every vector to a blob file; the flush's bytes include them.
    BOOST_CHECK_GE(written.blob, 200u * 4096u);
    BOOST_CHECK_GE(written.flush, written.blob);
    // WAL and flush each wrote the data once: about twice what users wrote, and never less.
    BOOST_CHECK_GT(written.amplification(), 1.9);
    BOOST_CHECK_LT(written.amplification(), 2.5);
    BOOST_CHECK_EQUAL(written.files(), written.wal + written.flush + written.compaction);
    // written() reads the same counters without the scan.
    auto cheap = db->written();
    BOOST_REQUIRE(cheap);
    BOOST_CHECK_EQUAL(cheap->user, written.user);
    BOOST_CHECK_EQUAL(cheap->flush, written.flush);
    BOOST_CHECK_GT(files_ending_in(dir.sub("store"), ".blob").size(), 0u);
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
  BOOST_REQUIRE(db->put(1, "late", vector_value(500)));
  BOOST_REQUIRE(db->flush());
  BOOST_CHECK_EQUAL(db->get(1, "id5")->value_or("-"), vector_value(5));
  BOOST_CHECK_EQUAL(db->get(1, "late")->value_or("-"), vector_value(500));
}

BOOST_AUTO_TEST_CASE(compact_gives_back_the_space_of_replaced_vectors_in_blob_files) {
  // 200 vectors in four blob files, then every even one replaced,
  // twice: each old file is half garbage, so no compaction drops it whole, and with a handful of
  // blob files the default age cutoff (0.05) relocates nothing. compact() relocates the live
  // blobs of every blob file, so the garbage goes and the blob files shrink to one vector a key.
  temp_dir dir;
  auto opts = vector_store_options(dir.sub("store"), true);
  opts.vector_blob_gc_age_cutoff = backend_options{}.vector_blob_gc_age_cutoff;
  auto db = open_vector_store(opts);
  auto round = [&](int offset, int step) {
    for (int batch_no = 0; batch_no < 4; ++batch_no) {
      write_batch batch;
      for (int i = batch_no * 50; i < batch_no * 50 + 50; i += step)
        batch.put(1, "id" + std::to_string(i), vector_value(i + offset));
      BOOST_REQUIRE(db->write(batch, {}));
      BOOST_REQUIRE(db->flush());
    }
  };
  round(0, 1);
  round(1000, 2);
  round(2000, 2);
  const uint64_t one_vector_a_key = 200u * 4096u;
  auto before = bytes_of_files_ending_in(dir.sub("store"), ".blob");
  BOOST_CHECK_GE(before, one_vector_a_key + one_vector_a_key / 2);
  BOOST_REQUIRE(db->compact());
  auto after = bytes_of_files_ending_in(dir.sub("store"), ".blob");
  BOOST_CHECK_GE(after, one_vector_a_key);
  BOOST_CHECK_LT(after, one_vector_a_key + one_vector_a_key / 4);
  for (int i : {0, 77, 198, 199})
    BOOST_CHECK_EQUAL(db->get(1, "id" + std::to_string(i))->value_or("-"),
                      vector_value(i + (i % 2 == 0 ? 2000 : 0)));
  BOOST_CHECK_EQUAL(db->stats()->keyspaces[1].keys, 200u);
}

BOOST_AUTO_TEST_CASE(blob_garbage_collection_options_reach_rocksdb) {
  // RocksDB records the options of every column family in the store's OPTIONS file: the vector
  // keyspace has blob files with the default cutoff, a cutoff of 0 turns garbage collection off.
  temp_dir dir;
  BOOST_CHECK_EQUAL(backend_options{}.vector_blob_gc_age_cutoff, 0.05);
  {
    auto opts = vector_store_options(dir.sub("default"), true);
    opts.vector_blob_gc_age_cutoff = backend_options{}.vector_blob_gc_age_cutoff;
    open_vector_store(opts).reset();
    // records, vec.E1 and RocksDB's own default column family, in some order.
    auto enabled = rocksdb_options(opts.path, "enable_blob_garbage_collection");
    auto cutoff = rocksdb_options(opts.path, "blob_garbage_collection_age_cutoff");
    BOOST_CHECK_EQUAL(
        std::count(enabled.begin(), enabled.end(), "enable_blob_garbage_collection=true"), 1);
    BOOST_CHECK_EQUAL(
        std::count(cutoff.begin(), cutoff.end(), "blob_garbage_collection_age_cutoff=0.050000"), 1);
  }
  auto opts = vector_store_options(dir.sub("off"), true);
  opts.vector_blob_gc_age_cutoff = 0;
  open_vector_store(opts).reset();
  auto enabled = rocksdb_options(opts.path, "enable_blob_garbage_collection");
  BOOST_CHECK_EQUAL(
      std::count(enabled.begin(), enabled.end(), "enable_blob_garbage_collection=true"), 0);
  auto blob_files = rocksdb_options(opts.path, "enable_blob_files");
  BOOST_CHECK_EQUAL(std::count(blob_files.begin(), blob_files.end(), "enable_blob_files=true"), 1);
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
  BOOST_CHECK_EQUAL(stats->written.blob, 0u);
  BOOST_CHECK_GT(stats->written.flush, 50u * 4096u);
  BOOST_CHECK_EQUAL(files_ending_in(dir.sub("store"), ".blob").size(), 0u);
  BOOST_CHECK_EQUAL(db->get(1, "id9")->value_or("-"), vector_value(9));
}

BOOST_AUTO_TEST_CASE(vector_keyspaces_are_stored_uncompressed_and_others_compressed) {
  // The same 200 values, all zero bytes (as compressible as data gets), once into a vector
  // keyspace and once into an ordinary one, each in a store of its own with compression on: the
  // vector keyspace's table and blob files hold every byte, the other's a small fraction.
  temp_dir dir;
  auto table_bytes = [&](const std::string& keyspace) {
    backend_options opts;
    opts.path = dir.sub(keyspace);
    opts.keyspaces = {keyspace};
    opts.compression = true;
    auto db = open_vector_store(opts);
    write_batch batch;
    for (int i = 0; i < 200; ++i)
      batch.put(0, "id" + std::to_string(i), std::string(4096, '\0'));
    BOOST_REQUIRE(db->write(batch, {}));
    BOOST_REQUIRE(db->flush());
    return bytes_of_files_ending_in(opts.path, ".sst") +
           bytes_of_files_ending_in(opts.path, ".blob");
  };
  BOOST_CHECK_GE(table_bytes("vec.E1"), 200u * 4096u);
  BOOST_CHECK_LT(table_bytes("records"), 200u * 4096u / 10);
}

BOOST_AUTO_TEST_CASE(values_read_for_a_rescore_stay_out_of_the_block_cache) {
  // multi_get_visit is for values used once (a re-score's originals): RocksDB reads them without
  // putting their blocks in the block cache. multi_get of the same keys does, which shows that
  // block_cache_bytes sees the blocks.
  temp_dir dir;
  auto opts = vector_store_options(dir.sub("store"), false);
  std::vector<std::string> keys;
  {
    auto db = open_vector_store(opts);
    write_batch batch;
    for (int i = 0; i < 200; ++i) {
      keys.push_back("id" + std::to_string(i));
      batch.put(1, keys.back(), vector_value(i));
    }
    BOOST_REQUIRE(db->write(batch, {}));
    BOOST_REQUIRE(db->flush());
  }
  auto db = open_vector_store(opts); // a new, empty block cache; the values are in table files
  auto before = db->stats();
  BOOST_REQUIRE(before);
  size_t visited = 0;
  size_t equal = 0;
  BOOST_REQUIRE(db->multi_get_visit(1, keys, [&](size_t i, std::string_view value) {
    ++visited;
    if (value == vector_value(static_cast<int>(i))) ++equal;
  }));
  BOOST_CHECK_EQUAL(visited, keys.size());
  BOOST_CHECK_EQUAL(equal, keys.size());
  auto after_visit = db->stats();
  BOOST_REQUIRE(after_visit);
  BOOST_CHECK_EQUAL(after_visit->block_cache_bytes, before->block_cache_bytes);
  auto copies = db->multi_get(1, keys);
  BOOST_REQUIRE(copies);
  BOOST_CHECK_EQUAL((*copies)[7].value_or("-"), vector_value(7));
  auto after_copies = db->stats();
  BOOST_REQUIRE(after_copies);
  BOOST_CHECK_GE(after_copies->block_cache_bytes, before->block_cache_bytes + 200u * 4096u);
}

BOOST_AUTO_TEST_CASE(lmdb_and_memory_report_no_write_volume) {
  temp_dir dir;
  for (auto kind : {backend_kind::lmdb, backend_kind::memory}) {
    backend_options opts;
    opts.path = dir.sub(to_string(kind));
    opts.keyspaces = {"vec.E1"};
    auto db = make_backend(kind, opts);
    BOOST_REQUIRE(db);
    BOOST_REQUIRE((*db)->put(0, "id", vector_value(1)));
    auto written = (*db)->written();
    BOOST_REQUIRE(written);
    BOOST_CHECK_EQUAL(written->user, 0u);
    BOOST_CHECK_EQUAL(written->amplification(), 0.0);
    auto stats = (*db)->stats();
    BOOST_REQUIRE(stats);
    BOOST_CHECK_EQUAL(stats->block_cache_bytes, 0u);
    BOOST_REQUIRE((*db)->close());
    BOOST_CHECK_EQUAL(code((*db)->written()), "closed");
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rocksdb_info_log)

BOOST_AUTO_TEST_CASE(the_info_log_is_rotated_once_it_passes_16_mib) {
  temp_dir dir;
  auto opts = vector_store_options(dir.sub("store"), false);
  open_vector_store(opts).reset();
  std::filesystem::path log;
  for (const auto& entry : std::filesystem::recursive_directory_iterator{opts.path})
    if (entry.path().filename() == "LOG") log = entry.path();
  BOOST_REQUIRE(!log.empty());
  {
    // A LOG grown over many opens.
    std::ofstream grow{log, std::ios::app};
    std::string line(1023, 'x');
    for (int i = 0; i < 17 * 1024; ++i)
      grow << line << '\n';
  }
  auto grown = std::filesystem::file_size(log);
  BOOST_REQUIRE_GT(grown, 16u << 20);
  auto db = open_vector_store(opts);
  auto old = log;
  old += ".old";
  BOOST_REQUIRE(std::filesystem::exists(old));
  BOOST_CHECK_GE(std::filesystem::file_size(old), grown);
  BOOST_CHECK_LT(std::filesystem::file_size(log), 1u << 20);
  // The store works as before.
  BOOST_CHECK(db->put(0, "k", "v"));
  BOOST_CHECK_EQUAL(db->get(0, "k")->value_or("-"), "v");
}

// RocksDB opens a few table files at open and each other one at the first read that needs it
// (reading its index and filter blocks first); open_table_files() opens them all at once, as the
// store's open does beside loading its indexes. What is read is unchanged.
BOOST_AUTO_TEST_CASE(open_table_files_opens_every_table_file_ahead_of_the_reads) {
  temp_dir dir;
  auto opts = vector_store_options(dir.path(), false);
  {
    auto db = open_vector_store(opts);
    // Three flushes of disjoint keys: three table files of vec.E1 on level 0 (a fourth would
    // start a compaction of level 0, which opens every file it merges).
    for (int file = 0; file < 3; ++file) {
      write_batch batch;
      for (int i = 0; i < 8; ++i)
        batch.put(1, "v" + std::to_string(file * 100 + i), vector_value(file * 100 + i));
      BOOST_REQUIRE(db->write(batch));
      BOOST_REQUIRE(db->flush());
    }
    BOOST_REQUIRE(db->close());
  }
  // max_open_files 20 (RocksDB's least): a table cache of 10 readers, of which RocksDB fills a
  // quarter (2) at open.
  opts.max_open_files = 20;
  auto db = open_vector_store(opts);
  auto tables = files_ending_in(dir.path(), ".sst").size();
  BOOST_TEST_MESSAGE(tables << " table files");
  BOOST_REQUIRE_GT(tables, 2u);
  BOOST_REQUIRE_LE(tables, 10u);
  BOOST_CHECK_LT(open_files_ending_in(dir.path(), ".sst"), tables);
  auto opened = db->open_table_files();
  BOOST_REQUIRE_MESSAGE(opened, (opened ? "" : describe(opened.error())));
  BOOST_CHECK_EQUAL(*opened, tables);
  BOOST_CHECK_EQUAL(open_files_ending_in(dir.path(), ".sst"), tables);
  for (int file = 0; file < 3; ++file)
    BOOST_CHECK(db->get(1, "v" + std::to_string(file * 100 + 7))->value_or("") ==
                vector_value(file * 100 + 7));
  BOOST_REQUIRE(db->close());
  BOOST_CHECK_EQUAL(code(db->open_table_files()), "closed");
}

// The other kinds have no table files: nothing to open.
BOOST_AUTO_TEST_CASE(lmdb_and_memory_have_no_table_files_to_open) {
  temp_dir dir;
  for (auto kind : {backend_kind::lmdb, backend_kind::memory}) {
    backend_options opts;
    opts.path = dir.path() + "/" + to_string(kind);
    opts.keyspaces = {"records"};
    auto db = make_backend(kind, opts);
    BOOST_REQUIRE(db);
    BOOST_REQUIRE((*db)->put(0, "k", "v"));
    auto opened = (*db)->open_table_files();
    BOOST_REQUIRE(opened);
    BOOST_CHECK_EQUAL(*opened, 0u);
  }
}

BOOST_AUTO_TEST_CASE(the_write_ahead_log_bound_reaches_rocksdb) {
  // backend_options::max_wal_mb is RocksDB's max_total_wal_size (docs/STORAGE.md): RocksDB
  // records the options it runs with in the store's OPTIONS file.
  temp_dir dir;
  auto opts = vector_store_options(dir.sub("store"), false);
  BOOST_CHECK_EQUAL(backend_options{}.max_wal_mb, 1024u);
  opts.max_wal_mb = 3;
  auto db = open_vector_store(opts);
  BOOST_CHECK(db->put(0, "k", "v"));
  auto found = rocksdb_options(opts.path, "max_total_wal_size");
  BOOST_REQUIRE(!found.empty());
  BOOST_CHECK_EQUAL(found.back(), "max_total_wal_size=3145728");
}

BOOST_AUTO_TEST_SUITE_END()
