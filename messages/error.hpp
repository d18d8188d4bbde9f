// The one error type of Telos: a CAF error code enum, so errors cross actors and the wire, with a
// context string that names what is wrong (keyspace, key, expected vs found).
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace telos {

enum class ec : uint8_t {
  none = 0,
  /// The addressed thing does not exist (only where absence is an error, e.g. `update`).
  not_found,
  /// Input was malformed or violated a limit; nothing was changed.
  invalid_argument,
  /// A keyspace name or id that was not declared at open.
  unknown_keyspace,
  /// A stored value failed its checksum, was truncated or is not ours.
  corrupt_value,
  /// A transaction lost a write-write conflict against an earlier commit.
  conflict,
  /// The operating system or the backend library reported a failure.
  io_error,
  /// The store was closed before the call.
  closed,
  /// The store was written by another format version or with another profile.
  format_mismatch,
  /// The directory exists but does not hold a Telos store.
  not_a_store,
  /// Something to be created exists already.
  already_exists,
  /// Too much work in flight; retry later.
  overloaded,
  /// A write was attempted on a store opened read-only.
  read_only,
  /// Another process holds the store open.
  locked,
  /// A remote member (shard, coordinator) cannot be reached.
  unavailable,
  /// A bug: an invariant of Telos itself does not hold.
  internal,
};

/// The short name of a code, e.g. "not_found".
const char* to_string(ec code);

/// Makes a Telos error whose context is `what`.
caf::error make_error(ec code, std::string what);

/// The Telos code of an error, or ec::internal for errors of other categories.
ec code_of(const caf::error& err);

/// Human-readable text of any error, e.g. "not_found: key 'x' in keyspace 'records'".
std::string describe(const caf::error& err);

template <class T>
using expected = caf::expected<T>;

} // namespace telos

CAF_ERROR_CODE_ENUM(telos::ec, "telos")
