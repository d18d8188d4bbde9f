// The RocksDB backend under injected disk faults (storage/fault_injection.hpp): a failed write is
// a clean io_error that changes nothing visible, reads keep working, writes succeed again once
// the fault is lifted (no reopen), a simulated power cut keeps every synced write and every write
// before a sync_written(). Also the own-file seam of Telos's durable files.
#include "telos/shard/durable_file.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/fault_injection.hpp"

#include "backend_test_helpers.hpp"

#include <boost/test/data/test_case.hpp>

#include <chrono>
#include <fstream>
#include <thread>

/// Boost.Test prints a fault kind (a data-test parameter) by its name.
namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<telos::storage::fault_kind> {
  void operator()(std::ostream& os, telos::storage::fault_kind kind) { os << to_string(kind); }
};
} // namespace boost::test_tools::tt_detail

using namespace telos;
using namespace telos::storage;
using telos::test::code;
using telos::test::temp_dir;

namespace {

backend_options fault_options(const std::string& path) {
  backend_options opts;
  opts.path = path;
  opts.keyspaces = {"records"};
  opts.block_cache_mb = 8;
  opts.write_buffer_mb = 4;
  return opts;
}

/// Installs a fresh injector for the life of the test and removes it afterwards.
struct installed_injector {
  std::shared_ptr<fault_injector> injector = std::make_shared<fault_injector>(7);
  installed_injector() { install_fault_injector(injector); }
  ~installed_injector() { install_fault_injector(nullptr); }
};

write_batch one_put(const std::string& key, const std::string& value) {
  write_batch b;
  b.put(0, key, value);
  return b;
}

std::string value_of(backend& db, const std::string& key) {
  auto got = db.get(0, key);
  BOOST_REQUIRE_MESSAGE(got, "get failed: " << (got ? "" : describe(got.error())));
  return got->value_or("<absent>");
}

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// After a power cut and the close: drops what was never synced and reopens the store.
std::unique_ptr<backend> reopened_after_the_cut(fault_injector& injector, const std::string& path) {
  auto dropped = injector.drop_unsynced();
  BOOST_REQUIRE(dropped);
  BOOST_TEST(dropped->bytes_dropped > 0u);
  auto opened = make_backend(backend_kind::rocksdb, fault_options(path));
  BOOST_REQUIRE_MESSAGE(
      opened, "reopen after the cut failed: " << (opened ? "" : describe(opened.error())));
  return std::move(*opened);
}

const std::vector<fault_kind> write_faults = {fault_kind::no_space, fault_kind::write_error,
                                              fault_kind::short_write, fault_kind::sync_error};

} // namespace

BOOST_DATA_TEST_CASE(rocksdb_write_fails_cleanly_under_a_write_fault_and_resumes_after_it,
                     boost::unit_test::data::make(write_faults), kind) {
  temp_dir dir;
  installed_injector faults;
  auto opened = make_backend(backend_kind::rocksdb, fault_options(dir.path()));
  BOOST_REQUIRE(opened);
  auto& db = **opened;
  BOOST_REQUIRE(db.write(one_put("a", "1"), {true}));

  faults.injector->arm(kind);
  // A sync write meets every kind: the append fails, or the fsync of the log does.
  auto failed = db.write(one_put("b", "2"), {true});
  BOOST_REQUIRE(!failed);
  BOOST_TEST(code(failed) == "io_error");
  if (kind == fault_kind::no_space)
    BOOST_TEST(describe(failed.error()).find("disk full") != std::string::npos);
  BOOST_TEST(faults.injector->injected() > 0u);
  // Later writes keep failing cleanly while the fault lasts (no abort on the failed log writer).
  BOOST_TEST(code(db.write(one_put("c", "3"), {false})) == "io_error");
  // Reads keep working and show only what was acknowledged.
  BOOST_TEST(value_of(db, "a") == "1");
  BOOST_TEST(value_of(db, "c") == "<absent>");

  faults.injector->lift();
  // Writes come back without a reopen when RocksDB can resume; when it cannot (RocksDB 7.8 holds
  // a failed write of its log fatal), the error says that a reopen is needed, and one is enough.
  // RocksDB's own recovery from a full disk (its SstFileManager polls for free space) may still
  // run; while it does, writes are refused as "still recovering".
  auto resumed = db.write(one_put("d", "4"), {true});
  for (int i = 0; i < 150 && !resumed &&
                  describe(resumed.error()).find("still recovering") != std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    resumed = db.write(one_put("d", "4"), {true});
  }
  if (!resumed) {
    BOOST_TEST_MESSAGE("after " << to_string(kind) << ": " << describe(resumed.error()));
    BOOST_TEST(describe(resumed.error()).find("reopen") != std::string::npos);
  } else {
    BOOST_TEST(value_of(db, "d") == "4");
  }
  BOOST_REQUIRE(db.close());

  auto again = make_backend(backend_kind::rocksdb, fault_options(dir.path()));
  BOOST_REQUIRE_MESSAGE(again, "reopen failed: " << (again ? "" : describe(again.error())));
  BOOST_REQUIRE((*again)->write(one_put("e", "5"), {true}));
  BOOST_TEST(value_of(**again, "a") == "1");
  BOOST_TEST(value_of(**again, "d") == (resumed ? "4" : "<absent>"));
  BOOST_TEST(value_of(**again, "c") == "<absent>");
  BOOST_TEST(value_of(**again, "e") == "5");
}

BOOST_AUTO_TEST_CASE(rocksdb_read_fault_is_an_io_error_and_reads_work_after_it) {
  temp_dir dir;
  installed_injector faults;
  {
    auto opened = make_backend(backend_kind::rocksdb, fault_options(dir.path()));
    BOOST_REQUIRE(opened);
    BOOST_REQUIRE((*opened)->write(one_put("a", "1"), {true}));
    BOOST_REQUIRE((*opened)->flush()); // into a table file, so a get reads the disk
  }
  backend_options opts = fault_options(dir.path());
  opts.block_cache_mb = 0;
  auto opened = make_backend(backend_kind::rocksdb, opts);
  BOOST_REQUIRE(opened);
  faults.injector->arm(fault_kind::read_error);
  auto got = (*opened)->get(0, "a");
  BOOST_REQUIRE(!got);
  BOOST_TEST(code(got) == "io_error");
  faults.injector->lift();
  BOOST_TEST(value_of(**opened, "a") == "1");
}

BOOST_AUTO_TEST_CASE(rocksdb_power_cut_keeps_synced_writes_and_drops_unsynced_ones) {
  temp_dir dir;
  installed_injector faults;
  {
    auto opened = make_backend(backend_kind::rocksdb, fault_options(dir.path()));
    BOOST_REQUIRE(opened);
    BOOST_REQUIRE((*opened)->write(one_put("synced", "1"), {true}));
    BOOST_REQUIRE((*opened)->write(one_put("unsynced", "2"), {false}));
    faults.injector->cut_power();
    // Nothing reaches the disk any more.
    BOOST_TEST(code((*opened)->write(one_put("after", "3"), {true})) == "io_error");
    BOOST_TEST(static_cast<bool>((*opened)->close()));
  }
  auto opened = reopened_after_the_cut(*faults.injector, dir.path());
  BOOST_TEST(value_of(*opened, "synced") == "1");
  BOOST_TEST(value_of(*opened, "unsynced") == "<absent>");
  BOOST_TEST(value_of(*opened, "after") == "<absent>");
}

BOOST_AUTO_TEST_CASE(rocksdb_sync_written_makes_the_plain_writes_before_it_survive_a_power_cut) {
  temp_dir dir;
  installed_injector faults;
  {
    auto opened = make_backend(backend_kind::rocksdb, fault_options(dir.path()));
    BOOST_REQUIRE(opened);
    auto& db = **opened;
    // RocksDB syncs its log beside the writes: a checkpoint's marker is written plainly, then
    // synced this way (shard/snapshot_book.cpp).
    BOOST_TEST(db.syncs_beside_writes());
    BOOST_REQUIRE(db.write(one_put("first", "1"), {false}));
    BOOST_REQUIRE(db.write(one_put("second", "2"), {false}));
    auto synced = db.sync_written();
    BOOST_REQUIRE_MESSAGE(synced, "sync_written: " << (synced ? "" : describe(synced.error())));
    BOOST_REQUIRE(db.write(one_put("after", "3"), {false}));
    faults.injector->cut_power();
    BOOST_TEST(static_cast<bool>(db.close()));
  }
  auto opened = reopened_after_the_cut(*faults.injector, dir.path());
  BOOST_TEST(value_of(*opened, "first") == "1");
  BOOST_TEST(value_of(*opened, "second") == "2");
  BOOST_TEST(value_of(*opened, "after") == "<absent>");
}

BOOST_AUTO_TEST_CASE(rocksdb_sync_written_under_a_sync_fault_is_an_io_error_and_reads_work) {
  temp_dir dir;
  installed_injector faults;
  auto opened = make_backend(backend_kind::rocksdb, fault_options(dir.path()));
  BOOST_REQUIRE(opened);
  auto& db = **opened;
  BOOST_REQUIRE(db.write(one_put("a", "1"), {false}));
  faults.injector->arm(fault_kind::sync_error);
  auto failed = db.sync_written();
  BOOST_REQUIRE(!failed);
  BOOST_TEST(code(failed) == "io_error");
  BOOST_TEST(describe(failed.error()).find("sync of the log") != std::string::npos);
  faults.injector->lift();
  BOOST_TEST(value_of(db, "a") == "1");
}

BOOST_AUTO_TEST_CASE(lmdb_and_memory_write_durable_rows_with_sync_instead) {
  temp_dir dir;
  for (auto kind : {backend_kind::lmdb, backend_kind::memory}) {
    backend_options opts = fault_options(dir.sub(kind == backend_kind::lmdb ? "lmdb" : "memory"));
    auto opened = make_backend(kind, opts);
    BOOST_REQUIRE(opened);
    BOOST_TEST(!(*opened)->syncs_beside_writes());
    BOOST_REQUIRE((*opened)->write(one_put("a", "1"), {false}));
    // The default flushes: LMDB syncs its file, the memory backend has nothing to make durable.
    BOOST_TEST(static_cast<bool>((*opened)->sync_written()));
    BOOST_TEST(value_of(**opened, "a") == "1");
  }
}

BOOST_DATA_TEST_CASE(own_file_write_fault_keeps_the_old_content,
                     boost::unit_test::data::make(write_faults), kind) {
  temp_dir dir;
  std::filesystem::create_directories(dir.path());
  auto path = dir.sub("manifest");
  BOOST_REQUIRE(replace_file(path, "old"));
  installed_injector faults;
  faults.injector->arm(kind);
  auto failed = replace_file(path, "new content");
  BOOST_REQUIRE(!failed);
  BOOST_TEST(code(failed) == "io_error");
  BOOST_TEST(read_text(path) == "old");
  faults.injector->lift();
  BOOST_REQUIRE(replace_file(path, "new content"));
  BOOST_TEST(read_text(path) == "new content");
}

BOOST_AUTO_TEST_CASE(threads_replacing_one_file_each_with_their_own_temporary_file_all_succeed) {
  // A node checkpointing two shards copies its MANIFEST into the same checkpoint from two
  // threads at once: with a temporary name per process, one thread renamed the other's file away.
  temp_dir dir;
  std::filesystem::create_directories(dir.path());
  auto path = dir.sub("MANIFEST");
  constexpr int threads = 4;
  constexpr int writes = 50;
  std::vector<int> failures(threads, 0);
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < writes; ++i)
        if (!replace_file(path, "same bytes", true)) ++failures[t];
    });
  for (auto& w : writers)
    w.join();
  for (int t = 0; t < threads; ++t)
    BOOST_TEST(failures[t] == 0);
  BOOST_TEST(read_text(path) == "same bytes");
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator{dir.path()})
    left.push_back(entry.path().filename().string());
  BOOST_TEST(left == std::vector<std::string>{"MANIFEST"});
}

BOOST_AUTO_TEST_CASE(fault_kinds_parse_by_name) {
  for (auto kind : {fault_kind::no_space, fault_kind::write_error, fault_kind::sync_error,
                    fault_kind::short_write, fault_kind::read_error}) {
    auto parsed = parse_fault_kind(to_string(kind));
    BOOST_REQUIRE(parsed);
    BOOST_TEST(static_cast<int>(*parsed) == static_cast<int>(kind));
  }
  BOOST_TEST(code(parse_fault_kind("melted")) == "invalid_argument");
}
