// Fixture and helpers shared by every conformance case.
#include "store_fixture.hpp"

#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace conformance {

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "telos-conformance-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    BOOST_FAIL("cannot create a temporary directory from " << pattern);
  path_ = pattern;
}

temp_dir::~temp_dir() {
  // Best effort: a failure to clean up must not turn a passing case into a crash.
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

backend_options default_options(const std::filesystem::path& path) {
  backend_options options;
  options.path = path.string();
  options.keyspaces = {"alpha", "beta", "gamma"};
  // Small caches keep many stores per test process cheap.
  options.block_cache_mb = 8;
  options.write_buffer_mb = 4;
  return options;
}

std::unique_ptr<backend> open_or_fail(backend_kind kind, const backend_options& options) {
  auto db = telos::storage::make_backend(kind, options);
  BOOST_REQUIRE_MESSAGE(db, "opening a " << telos::storage::to_string(kind) << " store at "
                                         << options.path << " failed: " << error_text(db));
  return std::move(*db);
}

store_fixture::store_fixture(backend_kind store_kind)
    : kind(store_kind), options(default_options(dir.path() / "store")) {
  db = open_or_fail(kind, options);
}

store_fixture::~store_fixture() {
  if (db) (void)db->close();
}

void store_fixture::reopen() {
  require_ok(db->close(), "close before reopening");
  db.reset();
  db = open_or_fail(kind, options);
}

void require_ok(const expected<void>& result, const std::string& call) {
  BOOST_REQUIRE_MESSAGE(result, call << " failed: " << error_text(result));
}

std::optional<std::string> get(const backend& db, keyspace_id ks, std::string_view key) {
  return require_value(db.get(ks, key), "get '" + telos::printable_key(key) + "'");
}

bool contains(const backend& db, keyspace_id ks, std::string_view key) {
  return require_value(db.contains(ks, key), "contains '" + telos::printable_key(key) + "'");
}

void put(backend& db, keyspace_id ks, std::string_view key, std::string_view value) {
  require_ok(db.put(ks, key, value), "put '" + telos::printable_key(key) + "'");
}

void del(backend& db, keyspace_id ks, std::string_view key) {
  require_ok(db.del(ks, key), "del '" + telos::printable_key(key) + "'");
}

void write(backend& db, const write_batch& batch) {
  require_ok(db.write(batch), "write of a batch of " + std::to_string(batch.size()));
}

entries drain(std::unique_ptr<telos::storage::iterator> it) {
  BOOST_REQUIRE(it != nullptr);
  entries out;
  for (; it->valid(); it->next())
    out.emplace_back(std::string{it->key()}, std::string{it->value()});
  auto status = it->status();
  BOOST_REQUIRE_MESSAGE(!status, "iteration ended with " << telos::describe(status));
  return out;
}

entries scan(const backend& db, keyspace_id ks, const key_range& r) {
  return drain(require_value(db.scan(ks, r), "scan"));
}

entries scan_prefix(const backend& db, keyspace_id ks, std::string_view prefix) {
  return drain(require_value(db.scan_prefix(ks, prefix),
                             "scan_prefix '" + telos::printable_key(prefix) + "'"));
}

entries scan_all(const backend& db, keyspace_id ks) {
  return scan(db, ks, key_range::all());
}

std::vector<entries> everything(const backend& db) {
  return {scan_all(db, alpha_ks), scan_all(db, beta_ks), scan_all(db, gamma_ks)};
}

std::vector<std::string> keys_of(const entries& es) {
  std::vector<std::string> keys;
  keys.reserve(es.size());
  for (const auto& e : es)
    keys.push_back(e.first);
  return keys;
}

key_range range(std::optional<std::string> begin, bool begin_inclusive,
                std::optional<std::string> end, bool end_inclusive) {
  key_range r;
  r.begin = std::move(begin);
  r.begin_inclusive = begin_inclusive;
  r.end = std::move(end);
  r.end_inclusive = end_inclusive;
  return r;
}

std::string numbered_key(std::string_view prefix, uint64_t n) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%08llu", static_cast<unsigned long long>(n));
  return std::string{prefix} + digits;
}

std::string pattern_value(size_t size, uint32_t seed) {
  std::string out(size, '\0');
  uint32_t state = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    // Mix position and a cheap LCG so every byte value occurs and shifted copies differ.
    state = state * 1664525u + 1013904223u;
    out[i] = static_cast<char>((state >> 24) ^ static_cast<uint32_t>(i));
  }
  return out;
}

void fill(backend& db, keyspace_id ks, std::string_view prefix, uint64_t count) {
  write_batch batch;
  batch.reserve(count);
  for (uint64_t i = 0; i < count; ++i)
    batch.put(ks, numbered_key(prefix, i), "v" + std::to_string(i));
  write(db, batch);
}

void thread_failures::record(std::string what) {
  if (count_.fetch_add(1) == 0) {
    std::lock_guard<std::mutex> guard{mutex_};
    first_ = std::move(what);
  }
}

std::string thread_failures::first() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return first_;
}

} // namespace conformance
