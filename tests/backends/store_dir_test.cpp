// Store directory rules shared by the persistent backends: creation, reopening, the marker, the
// lock, read-only opening and checkpoints. Every case runs against RocksDB and LMDB.
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <boost/test/data/test_case.hpp>

#include <fstream>

using namespace telos;
using namespace telos::storage;
using telos::test::code;
using telos::test::temp_dir;

namespace {

const std::vector<backend_kind> persistent_kinds = {backend_kind::rocksdb, backend_kind::lmdb};

backend_options options_for(const std::string& path) {
  backend_options opts;
  opts.path = path;
  opts.keyspaces = {"records", "vectors"};
  opts.block_cache_mb = 8;
  opts.write_buffer_mb = 4;
  opts.lmdb_map_mb = 4;
  return opts;
}

std::unique_ptr<backend> open_ok(backend_kind kind, const backend_options& opts) {
  auto db = make_backend(kind, opts);
  BOOST_REQUIRE_MESSAGE(db, "open failed: " << (db ? "" : describe(db.error())));
  return std::move(*db);
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::trunc};
  out << text;
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_dir_suite)

BOOST_DATA_TEST_CASE(data_survives_close_and_reopen, persistent_kinds, kind) {
  temp_dir dir;
  auto opts = options_for(dir.path());
  {
    auto db = open_ok(kind, opts);
    write_batch batch;
    batch.put(0, "a", "1");
    batch.put(1, "b", std::string(100000, 'x'));
    batch.put(0, "empty", "");
    BOOST_REQUIRE(db->write(batch, {true}));
    BOOST_REQUIRE(db->close());
  }
  auto db = open_ok(kind, opts);
  BOOST_CHECK_EQUAL(db->get(0, "a")->value_or("-"), "1");
  BOOST_CHECK_EQUAL(db->get(1, "b")->value_or("-").size(), 100000u);
  BOOST_CHECK_EQUAL(db->get(0, "empty")->value_or("-"), "");
  auto stats = db->stats();
  BOOST_REQUIRE(stats);
  BOOST_CHECK_EQUAL(stats->keyspaces[0].keys, 2u);
  BOOST_CHECK_EQUAL(stats->keyspaces[1].bytes, 100001u);
  BOOST_CHECK_GT(stats->disk_bytes, 0u);
  BOOST_CHECK_NE(read_file(dir.sub("TELOS")).find(to_string(kind)), std::string::npos);
}

BOOST_DATA_TEST_CASE(new_keyspaces_can_be_declared_on_reopen, persistent_kinds, kind) {
  temp_dir dir;
  auto opts = options_for(dir.path());
  {
    auto db = open_ok(kind, opts);
    BOOST_REQUIRE(db->put(0, "k", "v"));
  }
  opts.keyspaces = {"extra", "records"};
  auto db = open_ok(kind, opts);
  BOOST_CHECK_EQUAL(db->get(1, "k")->value_or("-"), "v");
  BOOST_CHECK(!db->get(0, "k")->has_value());
}

BOOST_DATA_TEST_CASE(second_open_is_locked_until_close, persistent_kinds, kind) {
  temp_dir dir;
  auto opts = options_for(dir.path());
  auto first = open_ok(kind, opts);
  auto second = make_backend(kind, opts);
  BOOST_REQUIRE(!second);
  BOOST_CHECK_EQUAL(code(second), "locked");
  BOOST_CHECK_NE(describe(second.error()).find("is locked by another process"), std::string::npos);
  BOOST_REQUIRE(first->close());
  auto third = make_backend(kind, opts);
  BOOST_CHECK_EQUAL(code(third), "none");
}

BOOST_DATA_TEST_CASE(open_iterator_keeps_the_store_locked_until_dropped, persistent_kinds, kind) {
  temp_dir dir;
  auto opts = options_for(dir.path());
  auto db = open_ok(kind, opts);
  BOOST_REQUIRE(db->put(0, "a", "1"));
  BOOST_REQUIRE(db->put(0, "b", "2"));
  auto it = db->scan(0, key_range::all());
  BOOST_REQUIRE(it);
  BOOST_REQUIRE(db->close());
  BOOST_CHECK_EQUAL(code(make_backend(kind, opts)), "locked");
  BOOST_CHECK_EQUAL((*it)->key(), "a");
  (*it)->next();
  BOOST_CHECK(!(*it)->valid());
  BOOST_CHECK_EQUAL(code((*it)->status()), "closed");
  // The iteration ended, which released the store even before the iterator object is dropped.
  BOOST_CHECK_EQUAL(code(make_backend(kind, opts)), "none");
}

BOOST_DATA_TEST_CASE(missing_directory_without_create_is_not_found, persistent_kinds, kind) {
  temp_dir dir;
  auto opts = options_for(dir.path());
  opts.create_if_missing = false;
  BOOST_CHECK_EQUAL(code(make_backend(kind, opts)), "not_found");
  opts.create_if_missing = true;
  opts.read_only = true;
  BOOST_CHECK_EQUAL(code(make_backend(kind, opts)), "not_found");
}

BOOST_DATA_TEST_CASE(foreign_directory_is_not_a_store, persistent_kinds, kind) {
  temp_dir dir;
  std::filesystem::create_directories(dir.path());
  write_file(dir.sub("notes.txt"), "hello");
  auto db = make_backend(kind, options_for(dir.path()));
  BOOST_CHECK_EQUAL(code(db), "not_a_store");
  // A regular file is not a store either.
  BOOST_CHECK_EQUAL(code(make_backend(kind, options_for(dir.sub("notes.txt")))), "not_a_store");
}

BOOST_DATA_TEST_CASE(empty_existing_directory_becomes_a_store, persistent_kinds, kind) {
  temp_dir dir;
  std::filesystem::create_directories(dir.path());
  auto db = open_ok(kind, options_for(dir.path()));
  BOOST_CHECK(db->put(0, "k", "v"));
}

BOOST_DATA_TEST_CASE(other_backend_kind_is_a_format_mismatch, persistent_kinds, kind) {
  temp_dir dir;
  open_ok(kind, options_for(dir.path()))->close();
  for (auto other : persistent_kinds) {
    if (other == kind) continue;
    auto db = make_backend(other, options_for(dir.path()));
    BOOST_REQUIRE_EQUAL(code(db), "format_mismatch");
    auto text = describe(db.error());
    BOOST_CHECK_NE(text.find(to_string(kind)), std::string::npos);
    BOOST_CHECK_NE(text.find(to_string(other)), std::string::npos);
  }
}

BOOST_DATA_TEST_CASE(other_format_version_is_a_format_mismatch, persistent_kinds, kind) {
  temp_dir dir;
  open_ok(kind, options_for(dir.path()))->close();
  auto marker = read_file(dir.sub("TELOS"));
  auto pos = marker.find("format=");
  BOOST_REQUIRE_NE(pos, std::string::npos);
  write_file(dir.sub("TELOS"), marker.substr(0, pos) + "format=999\n");
  auto db = make_backend(kind, options_for(dir.path()));
  BOOST_REQUIRE_EQUAL(code(db), "format_mismatch");
  BOOST_CHECK_NE(describe(db.error()).find("999"), std::string::npos);
  write_file(dir.sub("TELOS"), "something else\n");
  BOOST_CHECK_EQUAL(code(make_backend(kind, options_for(dir.path()))), "not_a_store");
}

BOOST_DATA_TEST_CASE(read_only_store_reads_but_refuses_writes, persistent_kinds, kind) {
  temp_dir dir;
  auto opts = options_for(dir.path());
  {
    auto db = open_ok(kind, opts);
    BOOST_REQUIRE(db->put(0, "k", "v"));
  }
  opts.read_only = true;
  auto db = open_ok(kind, opts);
  BOOST_CHECK_EQUAL(db->get(0, "k")->value_or("-"), "v");
  BOOST_CHECK_EQUAL(code(db->put(0, "k", "w")), "read_only");
  BOOST_CHECK_EQUAL(code(db->del(0, "k")), "read_only");
  BOOST_CHECK_EQUAL(code(db->compact()), "read_only");
  BOOST_CHECK_EQUAL(code(db->flush()), "none");
  auto txn = db->begin();
  BOOST_REQUIRE(txn);
  BOOST_CHECK_EQUAL((*txn)->get(0, "k")->value_or("-"), "v");
  BOOST_REQUIRE((*txn)->put(0, "k", "w"));
  BOOST_CHECK_EQUAL(code((*txn)->commit()), "read_only");
  BOOST_CHECK_EQUAL(db->get(0, "k")->value_or("-"), "v");
  temp_dir copy;
  BOOST_CHECK_EQUAL(code(db->checkpoint(copy.path())), "none");
  // A keyspace the store does not have cannot be created read-only.
  opts.keyspaces.push_back("missing");
  db.reset();
  BOOST_CHECK_EQUAL(code(make_backend(kind, opts)), "not_found");
}

BOOST_DATA_TEST_CASE(checkpoint_opens_as_a_consistent_copy, persistent_kinds, kind) {
  temp_dir dir;
  temp_dir copy;
  auto opts = options_for(dir.path());
  auto db = open_ok(kind, opts);
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE(db->put(0, "k" + std::to_string(i), std::to_string(i)));
  BOOST_REQUIRE(db->checkpoint(copy.path()));
  BOOST_CHECK_EQUAL(code(db->checkpoint(copy.path())), "already_exists");
  BOOST_REQUIRE(db->put(0, "after", "x"));
  auto copy_opts = options_for(copy.path());
  copy_opts.create_if_missing = false;
  auto snap = open_ok(kind, copy_opts);
  auto stats = snap->stats();
  BOOST_REQUIRE(stats);
  BOOST_CHECK_EQUAL(stats->keyspaces[0].keys, 100u);
  BOOST_CHECK_EQUAL(snap->get(0, "k42")->value_or("-"), "42");
  BOOST_CHECK(!snap->get(0, "after")->has_value());
}

BOOST_DATA_TEST_CASE(flush_and_compact_keep_the_data, persistent_kinds, kind) {
  temp_dir dir;
  auto db = open_ok(kind, options_for(dir.path()));
  for (int i = 0; i < 1000; ++i)
    BOOST_REQUIRE(db->put(1, "k" + std::to_string(i), std::string(100, 'v')));
  for (int i = 0; i < 1000; i += 2)
    BOOST_REQUIRE(db->del(1, "k" + std::to_string(i)));
  BOOST_REQUIRE(db->flush());
  BOOST_REQUIRE(db->compact());
  auto stats = db->stats();
  BOOST_REQUIRE(stats);
  BOOST_CHECK_EQUAL(stats->keyspaces[1].keys, 500u);
  BOOST_CHECK_EQUAL(stats->writes, 1000u);
  BOOST_CHECK_EQUAL(stats->deletes, 500u);
  BOOST_CHECK_EQUAL(db->get(1, "k1")->value_or("-"), std::string(100, 'v'));
}

BOOST_AUTO_TEST_SUITE_END()
