// Group 8, error handling: read-only stores, unusable and corrupted directories, unknown keyspaces,
// closed stores, locks and bad open arguments all give typed errors, never a crash, and never
// change data.
#include "store_fixture.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace conformance;
namespace fs = std::filesystem;

namespace {

using value = std::optional<std::string>;

/// Closes the fixture store and opens it again read-only.
void reopen_read_only(store_fixture& s) {
  require_ok(s.db->close(), "close");
  s.db.reset();
  s.options.read_only = true;
  s.db = open_or_fail(s.kind, s.options);
}

/// Regular files below `dir` whose name ends in `suffix` (".sst", "data.mdb").
std::vector<fs::path> files_ending_in(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> found;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    auto name = e.path().filename().string();
    if (e.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      found.push_back(e.path());
  }
  return found;
}

/// The files that hold a persistent store's data: RocksDB table files or LMDB's data.mdb.
std::vector<fs::path> data_files(backend_kind kind, const fs::path& dir) {
  auto found = files_ending_in(dir, kind == backend_kind::rocksdb ? ".sst" : "data.mdb");
  BOOST_REQUIRE_MESSAGE(!found.empty(), "no data files below " << dir);
  return found;
}

/// Overwrites `count` bytes at `offset` with a garbage pattern.
void overwrite(const fs::path& file, uint64_t offset, uint64_t count) {
  std::fstream out{file, std::ios::in | std::ios::out | std::ios::binary};
  BOOST_REQUIRE_MESSAGE(out, "cannot open " << file);
  out.seekp(static_cast<std::streamoff>(offset));
  auto garbage = pattern_value(count, 0xbad);
  out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  BOOST_REQUIRE(out.good());
}

/// What write_and_close_for_damage stores: incompressible values in every keyspace, enough for
/// RocksDB table files of many blocks.
std::vector<entries> damage_test_content() {
  std::vector<entries> content(3);
  for (keyspace_id ks : {alpha_ks, beta_ks, gamma_ks})
    for (uint64_t i = 0; i < 1500; ++i)
      content[ks].emplace_back(numbered_key("c", i),
                               pattern_value(200, static_cast<uint32_t>(i + ks)));
  return content;
}

/// Fills the fixture store with damage_test_content(), compacts it so that RocksDB has written
/// table files, and closes it.
void write_and_close_for_damage(store_fixture& s) {
  auto content = damage_test_content();
  write_batch batch;
  for (keyspace_id ks : {alpha_ks, beta_ks, gamma_ks})
    for (const auto& [key, v] : content[ks])
      batch.put(ks, key, v);
  write(*s.db, batch);
  require_ok(s.db->compact(), "compact");
  require_ok(s.db->flush(), "flush");
  BOOST_REQUIRE(everything(*s.db) == content);
  require_ok(s.db->close(), "close");
  s.db.reset();
}

bool is_clear_corruption_code(ec code) {
  return code == ec::corrupt_value || code == ec::io_error || code == ec::not_a_store ||
         code == ec::format_mismatch;
}

/// After damage to a store's files: opening fails with a clear error, or the store opens and
/// reading everything reports an error. Silently different data or a crash is a failure.
void check_damage_is_reported(backend_kind kind, const backend_options& options,
                              const std::vector<entries>& original) {
  auto opened = telos::storage::make_backend(kind, options);
  if (!opened) {
    BOOST_TEST_MESSAGE("open refused the damaged store: " << error_text(opened));
    BOOST_TEST(is_clear_corruption_code(error_of(opened)), error_text(opened));
    return;
  }
  auto& db = **opened;
  bool reported = false;
  for (keyspace_id ks : {alpha_ks, beta_ks, gamma_ks}) {
    auto it = db.scan(ks, key_range::all());
    if (!it) {
      reported = true;
      BOOST_TEST(is_clear_corruption_code(error_of(it)), error_text(it));
      continue;
    }
    entries seen;
    for (; (*it)->valid(); (*it)->next())
      seen.emplace_back(std::string{(*it)->key()}, std::string{(*it)->value()});
    if (auto status = (*it)->status()) {
      reported = true;
      BOOST_TEST(is_clear_corruption_code(telos::code_of(status)), telos::describe(status));
    }
    for (const auto& e : original[ks]) {
      auto read = db.get(ks, e.first);
      if (!read) {
        reported = true;
        BOOST_TEST(is_clear_corruption_code(error_of(read)), error_text(read));
      }
    }
  }
  BOOST_TEST(reported, "the damaged store opened and read without reporting any error");
  (void)db.close();
}

/// Environment of the probe process: which store to open.
constexpr const char* probe_kind_variable = "TELOS_CONFORMANCE_PROBE_KIND";
constexpr const char* probe_path_variable = "TELOS_CONFORMANCE_PROBE_PATH";

/// Runs check_damage_is_reported in a fresh process (this test binary running only the probe case),
/// so a backend that crashes on damaged files fails this case instead of ending the run. A fresh
/// process rather than a plain fork: RocksDB's background threads do not survive fork.
void check_damage_is_reported_in_a_child(backend_kind kind, const std::string& path) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    env.emplace_back(*e);
  env.push_back(std::string{probe_kind_variable} + "=" + telos::storage::to_string(kind));
  env.push_back(std::string{probe_path_variable} + "=" + path);
  std::vector<std::string> args{"telos_conformance_damage_probe",
                                "--run_test=damage_probe/open_and_read_a_damaged_store",
                                "--catch_system_errors=no", "--report_level=no"};
  std::vector<char*> envp;
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  int spawned = ::posix_spawn(&child, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data());
  BOOST_REQUIRE_MESSAGE(spawned == 0, "cannot start the probe process: " << std::strerror(spawned));
  int status = 0;
  while (::waitpid(child, &status, 0) < 0)
    BOOST_REQUIRE_MESSAGE(errno == EINTR, "waitpid failed: " << std::strerror(errno));
  if (WIFSIGNALED(status))
    BOOST_ERROR("the " << telos::storage::to_string(kind)
                       << " backend crashed on the damaged store: "
                       << ::strsignal(WTERMSIG(status)));
  else
    BOOST_TEST(WEXITSTATUS(status) == 0,
               "the probe process found problems with the damaged store (its messages are above)");
}

/// A persistent backend of the other kind than `kind`.
backend_kind other_persistent_kind(backend_kind kind) {
  return kind == backend_kind::rocksdb ? backend_kind::lmdb : backend_kind::rocksdb;
}

} // namespace

BOOST_AUTO_TEST_SUITE(error_handling)

BOOST_AUTO_TEST_CASE_TEMPLATE(read_only_store_refuses_every_write_and_changes_nothing, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  reopen_read_only(s);
  auto before = everything(*s.db);
  check_fails_with(s.db->put(alpha_ks, "k", "new"), ec::read_only, "put");
  check_fails_with(s.db->put(beta_ks, "fresh", "new"), ec::read_only, "put of a new key");
  check_fails_with(s.db->del(alpha_ks, "k"), ec::read_only, "del");
  write_batch batch;
  batch.put(gamma_ks, "g", "1");
  batch.del(alpha_ks, "k");
  check_fails_with(s.db->write(batch), ec::read_only, "write");
  check_fails_with(s.db->compact(), ec::read_only, "compact");
  auto txn = require_value(s.db->begin(), "begin on a read-only store");
  (void)txn->put(alpha_ks, "k", "from txn");
  check_fails_with(txn->commit(), ec::read_only, "commit of a transaction that wrote");
  BOOST_TEST(everything(*s.db) == before);
  auto stats = require_value(s.db->stats(), "stats");
  BOOST_TEST(stats.writes == 0u);
  BOOST_TEST(stats.deletes == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(read_only_store_serves_every_read, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "a", "1");
  put(*s.db, alpha_ks, "b", "2");
  reopen_read_only(s);
  // The memory backend accepts read_only and starts empty; persistent stores keep their data.
  value a = Backend::persistent ? value{"1"} : std::nullopt;
  BOOST_TEST(get(*s.db, alpha_ks, "a") == a);
  BOOST_TEST(contains(*s.db, alpha_ks, "b") == Backend::persistent);
  BOOST_TEST(require_value(s.db->multi_get(alpha_ks, {"a", "z"}), "multi_get") ==
             (std::vector<value>{a, std::nullopt}));
  BOOST_TEST(scan_all(*s.db, alpha_ks).size() == (Backend::persistent ? 2u : 0u));
  BOOST_TEST(scan_prefix(*s.db, alpha_ks, "b").size() == (Backend::persistent ? 1u : 0u));
  auto txn = require_value(s.db->begin(), "begin");
  BOOST_TEST(require_value(txn->get(alpha_ks, "a"), "transaction get") == a);
  require_ok(txn->commit(), "commit of a transaction without writes");
  require_ok(s.db->flush(), "flush");
  auto stats = require_value(s.db->stats(), "stats");
  BOOST_TEST(stats.keyspaces[alpha_ks].keys == (Backend::persistent ? 2u : 0u));
  auto copy_dir = (s.dir.path() / "copy").string();
  auto made = s.db->checkpoint(copy_dir);
  if constexpr (Backend::persistent) {
    require_ok(made, "checkpoint of a read-only store");
    auto options = s.options;
    options.path = copy_dir;
    options.read_only = false;
    auto copy = open_or_fail(Backend::kind, options);
    BOOST_TEST(scan_all(*copy, alpha_ks) == (entries{{"a", "1"}, {"b", "2"}}));
    require_ok(copy->close(), "close copy");
  } else {
    check_fails_with(made, ec::invalid_argument, "checkpoint of a memory store");
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(read_only_is_reported_before_bad_arguments, Backend, all_backends) {
  fresh_store<Backend> s;
  reopen_read_only(s);
  check_fails_with(s.db->put(alpha_ks, "", "v"), ec::read_only, "put of an empty key");
  check_fails_with(s.db->put(undeclared_ks, "k", "v"), ec::read_only,
                   "put in an undeclared keyspace");
  write_batch batch;
  batch.del(alpha_ks, std::string(max_key_size + 1, 'k'));
  check_fails_with(s.db->write(batch), ec::read_only, "batch with an oversized key");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(read_only_open_of_a_missing_store_is_not_found, Backend,
                              all_backends) {
  temp_dir dir;
  auto options = default_options(dir.path() / "missing");
  options.read_only = true;
  auto opened = telos::storage::make_backend(Backend::kind, options);
  if constexpr (Backend::persistent) {
    check_fails_with(opened, ec::not_found, "read-only open of a missing store");
  } else {
    BOOST_REQUIRE_MESSAGE(opened, error_text(opened));
    BOOST_TEST(scan_all(**opened, alpha_ks).empty());
    check_fails_with((*opened)->put(alpha_ks, "k", "v"), ec::read_only, "put");
  }
  BOOST_TEST(!fs::exists(dir.path() / "missing"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unusable_location_is_an_io_error, Backend, all_backends) {
  temp_dir dir;
  // Root ignores permission bits, so a read-only directory cannot stop this process when it runs as
  // root; a regular file where a directory must be stops everyone.
  auto blocker = dir.path() / "regular-file";
  std::ofstream{blocker} << "not a directory";
  auto options = default_options(blocker / "store");
  auto opened = telos::storage::make_backend(Backend::kind, options);
  if constexpr (Backend::persistent)
    check_fails_with(opened, ec::io_error, "open below a regular file");
  else
    BOOST_TEST(static_cast<bool>(opened), "the memory backend ignores its path");
  if (::geteuid() != 0) {
    auto locked_parent = dir.path() / "read-only";
    fs::create_directory(locked_parent);
    fs::permissions(locked_parent, fs::perms::owner_read | fs::perms::owner_exec);
    auto inside = default_options(locked_parent / "store");
    auto refused = telos::storage::make_backend(Backend::kind, inside);
    if constexpr (Backend::persistent)
      check_fails_with(refused, ec::io_error, "open inside a read-only directory");
    else
      BOOST_TEST(static_cast<bool>(refused), "the memory backend ignores its path");
    fs::permissions(locked_parent, fs::perms::owner_all);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(overwritten_bytes_in_data_files_are_reported, Backend, all_backends) {
  fresh_store<Backend> s;
  write_and_close_for_damage(s);
  if constexpr (Backend::persistent) {
    for (const auto& file : data_files(Backend::kind, s.options.path)) {
      auto size = fs::file_size(file);
      if (Backend::kind == backend_kind::lmdb)
        overwrite(file, 0, std::min<uint64_t>(size, 8192)); // both meta pages
      else
        overwrite(file, size / 3, std::min<uint64_t>(size / 3, 8192)); // data blocks
    }
    check_damage_is_reported_in_a_child(s.kind, s.options.path);
  } else {
    // The memory backend writes no files; reopening gives an empty store.
    BOOST_TEST(!fs::exists(s.options.path));
    s.db = open_or_fail(Backend::kind, s.options);
    BOOST_TEST(everything(*s.db) == (std::vector<entries>{{}, {}, {}}));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(data_files_full_of_garbage_are_reported, Backend, all_backends) {
  fresh_store<Backend> s;
  write_and_close_for_damage(s);
  if constexpr (Backend::persistent) {
    for (const auto& file : data_files(Backend::kind, s.options.path))
      overwrite(file, 0, fs::file_size(file));
    check_damage_is_reported_in_a_child(s.kind, s.options.path);
  } else {
    BOOST_TEST(!fs::exists(s.options.path));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(truncated_data_files_are_reported, Backend, all_backends) {
  fresh_store<Backend> s;
  write_and_close_for_damage(s);
  if constexpr (Backend::persistent) {
    for (const auto& file : data_files(Backend::kind, s.options.path))
      fs::resize_file(file, fs::file_size(file) / 2);
    check_damage_is_reported_in_a_child(s.kind, s.options.path);
  } else {
    BOOST_TEST(!fs::exists(s.options.path));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(deleted_data_files_are_reported_not_replaced_by_an_empty_store,
                              Backend, all_backends) {
  fresh_store<Backend> s;
  write_and_close_for_damage(s);
  if constexpr (Backend::persistent) {
    for (const auto& file : data_files(Backend::kind, s.options.path))
      fs::remove(file);
    check_damage_is_reported_in_a_child(s.kind, s.options.path);
  } else {
    BOOST_TEST(!fs::exists(s.options.path));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(undeclared_keyspace_is_refused_by_every_call, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  for (keyspace_id ks : {undeclared_ks, keyspace_id{4096}, ~keyspace_id{0}}) {
    auto what = " in keyspace " + std::to_string(ks);
    check_fails_with(s.db->get(ks, "k"), ec::unknown_keyspace, "get" + what);
    check_fails_with(s.db->multi_get(ks, {"k"}), ec::unknown_keyspace, "multi_get" + what);
    check_fails_with(s.db->contains(ks, "k"), ec::unknown_keyspace, "contains" + what);
    check_fails_with(s.db->scan(ks, key_range::all()), ec::unknown_keyspace, "scan" + what);
    check_fails_with(s.db->scan_prefix(ks, "k"), ec::unknown_keyspace, "scan_prefix" + what);
    check_fails_with(s.db->put(ks, "k", "v"), ec::unknown_keyspace, "put" + what);
    check_fails_with(s.db->del(ks, "k"), ec::unknown_keyspace, "del" + what);
  }
  BOOST_TEST(everything(*s.db) == (std::vector<entries>{{{"k", "v"}}, {}, {}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(errors_name_what_is_wrong, Backend, all_backends) {
  fresh_store<Backend> s;
  auto unknown = s.db->get(4242, "k");
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(error_text(unknown).find("4242") != std::string::npos, error_text(unknown));
  auto oversized = s.db->put(beta_ks, std::string(max_key_size + 1, 'k'), "v");
  BOOST_REQUIRE(!oversized);
  BOOST_TEST(error_text(oversized).find("beta") != std::string::npos, error_text(oversized));
  write_batch batch;
  batch.put(alpha_ks, "fine", "v");
  batch.put(gamma_ks, "", "v");
  auto bad_batch = s.db->write(batch);
  BOOST_REQUIRE(!bad_batch);
  BOOST_TEST(error_text(bad_batch).find("gamma") != std::string::npos, error_text(bad_batch));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_call_after_close_fails_with_closed, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  require_ok(s.db->close(), "close");
  auto& db = *s.db;
  check_fails_with(db.get(alpha_ks, "k"), ec::closed, "get");
  check_fails_with(db.multi_get(alpha_ks, {"k"}), ec::closed, "multi_get");
  check_fails_with(db.contains(alpha_ks, "k"), ec::closed, "contains");
  check_fails_with(db.scan(alpha_ks, key_range::all()), ec::closed, "scan");
  check_fails_with(db.scan_prefix(alpha_ks, "k"), ec::closed, "scan_prefix");
  check_fails_with(db.put(alpha_ks, "k", "v"), ec::closed, "put");
  check_fails_with(db.del(alpha_ks, "k"), ec::closed, "del");
  write_batch batch;
  batch.put(alpha_ks, "k", "v");
  check_fails_with(db.write(batch), ec::closed, "write");
  check_fails_with(db.begin(), ec::closed, "begin");
  check_fails_with(db.flush(), ec::closed, "flush");
  check_fails_with(db.compact(), ec::closed, "compact");
  check_fails_with(db.checkpoint((s.dir.path() / "copy").string()), ec::closed, "checkpoint");
  check_fails_with(db.stats(), ec::closed, "stats");
  // Closed is reported before any argument problem.
  check_fails_with(db.get(undeclared_ks, ""), ec::closed, "get with bad arguments");
  BOOST_TEST(error_of(db.close()) == ec::none, "a second close is a no-op");
  BOOST_TEST(!fs::exists(s.dir.path() / "copy"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(iterator_outliving_close_ends_with_closed, Backend, all_backends) {
  fresh_store<Backend> s;
  fill(*s.db, alpha_ks, "k", 10);
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  BOOST_REQUIRE(it->valid());
  BOOST_TEST(it->key() == numbered_key("k", 0));
  require_ok(s.db->close(), "close with an iterator open");
  it->next();
  BOOST_TEST(!it->valid());
  BOOST_TEST(telos::code_of(it->status()) == ec::closed);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(transaction_outliving_close_fails_with_closed, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto txn = require_value(s.db->begin(), "begin");
  require_ok(txn->put(alpha_ks, "k", "pending"), "put");
  require_ok(s.db->close(), "close with a transaction open");
  check_fails_with(txn->get(alpha_ks, "k"), ec::closed, "transaction get after close");
  check_fails_with(txn->put(alpha_ks, "k", "x"), ec::closed, "transaction put after close");
  check_fails_with(txn->del(alpha_ks, "k"), ec::closed, "transaction del after close");
  check_fails_with(txn->commit(), ec::closed, "commit after close");
  txn->rollback();
  txn.reset();
  if constexpr (Backend::persistent) {
    s.db = open_or_fail(Backend::kind, s.options);
    BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"v"});
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(second_open_of_an_open_store_is_locked, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto second = telos::storage::make_backend(Backend::kind, s.options);
  if constexpr (Backend::persistent) {
    check_fails_with(second, ec::locked, "second open of an open store");
    require_ok(s.db->close(), "close");
    auto third = open_or_fail(Backend::kind, s.options);
    BOOST_TEST(get(*third, alpha_ks, "k") == value{"v"});
    require_ok(third->close(), "close");
  } else {
    // Memory stores share nothing, not even when given the same path.
    BOOST_REQUIRE_MESSAGE(second, error_text(second));
    BOOST_TEST(!contains(**second, alpha_ks, "k"));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(lock_is_held_until_the_last_iterator_is_gone, Backend, all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  auto it = require_value(s.db->scan(alpha_ks, key_range::all()), "scan");
  require_ok(s.db->close(), "close with an iterator open");
  if constexpr (Backend::persistent) {
    check_fails_with(telos::storage::make_backend(Backend::kind, s.options), ec::locked,
                     "open while a closed store's iterator lives");
    it.reset();
    s.db = open_or_fail(Backend::kind, s.options);
    BOOST_TEST(get(*s.db, alpha_ks, "k") == value{"v"});
  } else {
    it.reset();
    s.db = open_or_fail(Backend::kind, s.options);
    BOOST_TEST(!contains(*s.db, alpha_ks, "k"));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(directory_that_is_not_a_store_is_refused_and_kept, Backend,
                              all_backends) {
  temp_dir dir;
  auto foreign = dir.path() / "foreign";
  fs::create_directories(foreign);
  std::ofstream{foreign / "notes.txt"} << "somebody else's data";
  for (bool create : {true, false}) {
    auto options = default_options(foreign);
    options.create_if_missing = create;
    auto opened = telos::storage::make_backend(Backend::kind, options);
    if constexpr (Backend::persistent)
      check_fails_with(opened, ec::not_a_store,
                       std::string{"open of a foreign directory, create_if_missing="} +
                           (create ? "true" : "false"));
    else
      BOOST_TEST(static_cast<bool>(opened), "the memory backend ignores its path");
  }
  BOOST_TEST(fs::exists(foreign / "notes.txt"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(missing_directory_without_create_is_not_found, Backend,
                              all_backends) {
  temp_dir dir;
  auto options = default_options(dir.path() / "absent" / "store");
  options.create_if_missing = false;
  auto opened = telos::storage::make_backend(Backend::kind, options);
  if constexpr (Backend::persistent)
    check_fails_with(opened, ec::not_found, "open of a missing directory without create");
  else
    BOOST_TEST(static_cast<bool>(opened), "the memory backend ignores its path");
  BOOST_TEST(!fs::exists(dir.path() / "absent"));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bad_keyspace_lists_are_invalid_arguments, Backend, all_backends) {
  temp_dir dir;
  std::vector<std::vector<std::string>> bad_lists{
      {"alpha", ""},        {"alpha", "beta", "alpha"}, {"__meta"},
      {"ok", "__reserved"}, {std::string(256, 'n')},    {std::string("nul\0inside", 10)},
  };
  for (const auto& list : bad_lists) {
    auto options = default_options(dir.path() / "store");
    options.keyspaces = list;
    check_fails_with(telos::storage::make_backend(Backend::kind, options), ec::invalid_argument,
                     "open with keyspace list starting '" + telos::printable_key(list.front()) +
                         "' of " + std::to_string(list.size()));
  }
  // Refused before anything was created.
  BOOST_TEST(!fs::exists(dir.path() / "store"));
  auto longest = default_options(dir.path() / "store");
  longest.keyspaces = {std::string(255, 'n'), "_single_underscore"};
  auto opened = telos::storage::make_backend(Backend::kind, longest);
  BOOST_TEST(static_cast<bool>(opened),
             "255-byte and '_'-prefixed names are valid: " << error_text(opened));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(store_of_another_backend_kind_is_a_format_mismatch, Backend,
                              all_backends) {
  // A RocksDB store holds data for the memory backend's test too: it must ignore it.
  auto written_kind = Backend::persistent ? Backend::kind : backend_kind::rocksdb;
  temp_dir dir;
  auto options = default_options(dir.path() / "store");
  {
    auto db = open_or_fail(written_kind, options);
    put(*db, alpha_ks, "k", "v");
    require_ok(db->close(), "close");
  }
  if constexpr (Backend::persistent) {
    check_fails_with(telos::storage::make_backend(other_persistent_kind(Backend::kind), options),
                     ec::format_mismatch, "open as the other persistent kind");
  } else {
    auto memory = open_or_fail(Backend::kind, options);
    BOOST_TEST(!contains(*memory, alpha_ks, "k"));
    put(*memory, alpha_ks, "k", "memory");
    require_ok(memory->close(), "close");
  }
  // The refused or ignoring open left the store intact.
  auto db = open_or_fail(written_kind, options);
  BOOST_TEST(get(*db, alpha_ks, "k") == value{"v"});
  require_ok(db->close(), "close");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(read_only_open_declaring_a_missing_keyspace_is_not_found, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  put(*s.db, alpha_ks, "k", "v");
  require_ok(s.db->close(), "close");
  auto options = s.options;
  options.read_only = true;
  options.keyspaces.push_back("never created");
  auto opened = telos::storage::make_backend(Backend::kind, options);
  if constexpr (Backend::persistent) {
    check_fails_with(opened, ec::not_found, "read-only open declaring a new keyspace");
  } else {
    BOOST_REQUIRE_MESSAGE(opened, error_text(opened));
    BOOST_TEST(scan_all(**opened, 3).empty());
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_path_is_an_invalid_argument, Backend, all_backends) {
  auto options = default_options("");
  auto opened = telos::storage::make_backend(Backend::kind, options);
  if constexpr (Backend::persistent) {
    check_fails_with(opened, ec::invalid_argument, "open with an empty path");
  } else {
    BOOST_REQUIRE_MESSAGE(opened, error_text(opened));
    put(**opened, alpha_ks, "k", "v");
    BOOST_TEST(get(**opened, alpha_ks, "k") == value{"v"});
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(path_that_is_a_regular_file_is_not_a_store, Backend, all_backends) {
  temp_dir dir;
  auto file = dir.path() / "plain-file";
  std::ofstream{file} << "just text";
  auto opened = telos::storage::make_backend(Backend::kind, default_options(file));
  if constexpr (Backend::persistent)
    check_fails_with(opened, ec::not_a_store, "open of a regular file");
  else
    BOOST_TEST(static_cast<bool>(opened), "the memory backend ignores its path");
  std::ifstream in{file};
  std::string content;
  std::getline(in, content);
  BOOST_TEST(content == "just text");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(damage_probe)

// Runs only when named explicitly, in the child process of check_damage_is_reported_in_a_child.
BOOST_AUTO_TEST_CASE(open_and_read_a_damaged_store, *boost::unit_test::disabled()) {
  const char* kind_name = std::getenv(probe_kind_variable);
  const char* path = std::getenv(probe_path_variable);
  BOOST_REQUIRE_MESSAGE(kind_name != nullptr && path != nullptr,
                        "the probe runs in a child process started by a damage case");
  auto kind = require_value(telos::storage::parse_backend_kind(kind_name), "backend kind");
  check_damage_is_reported(kind, default_options(path), damage_test_content());
}

BOOST_AUTO_TEST_SUITE_END()
