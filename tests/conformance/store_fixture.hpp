// What every conformance case shares: the three backend tags the cases are parameterised over, a
// fixture that opens a fresh store in its own temporary directory and removes it afterwards, and
// helpers that turn expected<> results into test failures naming the call that failed.
#pragma once

#include "telos/messages/envelope.hpp"
#include "telos/messages/error.hpp"
#include "telos/storage/backend.hpp"

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

// The tags live in the global namespace so Boost.Test names the cases "case<memory_backend>", which
// the per-backend CTest entries select with
// --run_test=*/*<memory_backend>.

struct memory_backend {
  static constexpr telos::storage::backend_kind kind = telos::storage::backend_kind::memory;
  /// Whether the store outlives close (and so has files to reopen, copy and corrupt).
  static constexpr bool persistent = false;
};

struct rocksdb_backend {
  static constexpr telos::storage::backend_kind kind = telos::storage::backend_kind::rocksdb;
  static constexpr bool persistent = true;
};

struct lmdb_backend {
  static constexpr telos::storage::backend_kind kind = telos::storage::backend_kind::lmdb;
  static constexpr bool persistent = true;
};

using all_backends = boost::mpl::list<memory_backend, rocksdb_backend, lmdb_backend>;

namespace conformance {

using telos::ec;
using telos::expected;
using telos::keyspace_id;
using telos::write_batch;
using telos::storage::backend;
using telos::storage::backend_kind;
using telos::storage::backend_options;
using telos::storage::key_range;

/// Every fixture store declares these keyspaces, in this order.
inline constexpr keyspace_id alpha_ks = 0;
inline constexpr keyspace_id beta_ks = 1;
inline constexpr keyspace_id gamma_ks = 2;
/// The first id that was not declared.
inline constexpr keyspace_id undeclared_ks = 3;

using telos::storage::max_key_size;

using entry = std::pair<std::string, std::string>;
using entries = std::vector<entry>;

/// A directory of its own under the system temp directory, removed with everything in it.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

/// Options of a fixture store at `path` with the keyspaces alpha, beta, gamma.
backend_options default_options(const std::filesystem::path& path);

/// Opens a store and fails the case (naming kind and error) when that does not work.
std::unique_ptr<backend> open_or_fail(backend_kind kind, const backend_options& options);

/// A freshly created store in its own temporary directory; closed and removed after the case.
struct store_fixture {
  explicit store_fixture(backend_kind store_kind);
  ~store_fixture();

  /// Closes the store and opens it again with the same options.
  void reopen();

  backend_kind kind;
  temp_dir dir;
  backend_options options;
  std::unique_ptr<backend> db;
};

template <class Backend>
struct fresh_store : store_fixture {
  fresh_store() : store_fixture(Backend::kind) {}
};

// -- results
// -------------------------------------------------------------------------------------

/// The Telos code of a result: ec::none when it holds a value.
template <class T>
ec error_of(const expected<T>& result) {
  return result ? ec::none : telos::code_of(result.error());
}

/// The description of a failed result, for failure messages.
template <class T>
std::string error_text(const expected<T>& result) {
  return result ? std::string{"success"} : telos::describe(result.error());
}

void require_ok(const expected<void>& result, const std::string& call);

template <class T>
T require_value(expected<T> result, const std::string& call) {
  BOOST_REQUIRE_MESSAGE(result, call << " failed: " << error_text(result));
  return std::move(*result);
}

/// Checks that a call failed with `code` (and says what it returned instead).
template <class T>
void check_fails_with(const expected<T>& result, ec code, const std::string& call) {
  BOOST_CHECK_MESSAGE(error_of(result) == code, call << ": expected " << telos::to_string(code)
                                                     << ", got " << error_text(result));
}

// -- reads and writes that must succeed
// ----------------------------------------------------------

std::optional<std::string> get(const backend& db, keyspace_id ks, std::string_view key);
bool contains(const backend& db, keyspace_id ks, std::string_view key);
void put(backend& db, keyspace_id ks, std::string_view key, std::string_view value);
void del(backend& db, keyspace_id ks, std::string_view key);
void write(backend& db, const write_batch& batch);

/// Every entry an iterator yields, requiring that it ends without error.
entries drain(std::unique_ptr<telos::storage::iterator> it);
entries scan(const backend& db, keyspace_id ks, const key_range& range);
entries scan_prefix(const backend& db, keyspace_id ks, std::string_view prefix);
entries scan_all(const backend& db, keyspace_id ks);
/// Every declared keyspace's entries (alpha, beta, gamma), to compare a whole store before and
/// after an operation.
std::vector<entries> everything(const backend& db);

/// The keys of `es`, in order.
std::vector<std::string> keys_of(const entries& es);

/// A range with both bounds given explicitly.
key_range range(std::optional<std::string> begin, bool begin_inclusive,
                std::optional<std::string> end, bool end_inclusive);

/// Fixed-width decimal key, so numeric and byte order agree: key("k", 7) == "k00000007".
std::string numbered_key(std::string_view prefix, uint64_t n);

/// `size` bytes of a deterministic pattern that depends on `seed`, every byte value occurring.
std::string pattern_value(size_t size, uint32_t seed);

/// Puts keys numbered_key(prefix, 0 .. count-1) with values "v<n>" in one batch.
void fill(backend& db, keyspace_id ks, std::string_view prefix, uint64_t count);

/// Failures seen on worker threads; Boost.Test assertions are not thread-safe, so threads record
/// here and the main thread asserts after joining them.
class thread_failures {
public:
  void record(std::string what);
  int count() const { return count_.load(); }
  std::string first() const;

private:
  std::atomic<int> count_{0};
  mutable std::mutex mutex_;
  std::string first_;
};

} // namespace conformance

// Binary keys and values print escaped in failure messages instead of as raw bytes.
namespace boost::test_tools::tt_detail {

template <>
struct print_log_value<std::optional<std::string>> {
  void operator()(std::ostream& os, const std::optional<std::string>& value) {
    if (value)
      os << '\'' << telos::printable_key(*value) << '\'';
    else
      os << "<absent>";
  }
};

template <>
struct print_log_value<conformance::entry> {
  void operator()(std::ostream& os, const conformance::entry& e) {
    os << '{' << telos::printable_key(e.first) << " => " << telos::printable_key(e.second) << '}';
  }
};

template <>
struct print_log_value<telos::ec> {
  void operator()(std::ostream& os, telos::ec code) { os << telos::to_string(code); }
};

} // namespace boost::test_tools::tt_detail
