// Secondary indexes of memories: attribute/value → ids for the attributes a store marks as
// indexed, and created_at → ids in hour (configurable) buckets. Writers append rows to the
// memory's write_batch; readers answer "attribute ∈ values" and "created in [after, before)".
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/interner.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace telos::storage {

/// The keyspaces of the secondary indexes (values are empty):
/// * attributes ("idx_attr"): attribute term BE ‖ value term BE ‖ memory id (32 bytes). Names
///   and values are interned (kinds attribute and attribute_value), which keeps keys short
///   whatever the value's length.
/// * time ("idx_time"): bucket i64 ‖ created_at i64 ‖ memory id (32 bytes), i64 sign-flipped
///   big-endian, bucket = floor(created_at / bucket_ms). Key order is created_at order, and one
///   bucket is one prefix.
struct index_keyspaces {
  keyspace_id attributes = 0;
  keyspace_id time = 0;

  static const std::vector<std::string>& names();
  static expected<index_keyspaces> resolve(const backend& db);
};

struct secondary_index_options {
  /// Attributes that get rows; queries on any other attribute are ec::invalid_argument.
  std::set<std::string> indexed_attributes;
  /// Width of a time bucket in milliseconds (> 0); one hour by default.
  int64_t time_bucket_ms = 3'600'000;
};

/// Called with each (created_at, id) in order; return false to stop.
using time_visitor = std::function<bool(int64_t created_at, const uuid& id)>;

class secondary_index {
public:
  /// ec::invalid_argument when time_bucket_ms is not positive.
  static expected<secondary_index> make(const backend& db, interner& terms, index_keyspaces ks,
                                        secondary_index_options opts);

  // -- writers -----------------------------------------------------------------------------------

  /// Appends the rows of a new memory.
  expected<void> insert(const memory& m, write_batch& batch, interner::staging& staged) const;
  /// Appends the changes from `old` to `now` (same id): deletes the rows only `old` has, puts
  /// the rows only `now` has.
  expected<void> replace(const memory& old, const memory& now, write_batch& batch,
                         interner::staging& staged) const;
  /// Appends the deletion of every row of `old`.
  expected<void> remove(const memory& old, write_batch& batch) const;

  // -- readers -----------------------------------------------------------------------------------

  /// Ids of the memories whose `attribute` equals one of `values`, ascending and unique.
  expected<std::vector<uuid>> ids_with_attribute(std::string_view attribute,
                                                 const std::vector<std::string>& values) const;
  /// Visits the memories created in [after, before) in (created_at, id) order.
  expected<void> scan_time(int64_t after, int64_t before, const time_visitor& visit) const;
  /// The ids of scan_time(after, before), at most `limit`.
  expected<std::vector<uuid>>
  ids_in_time_range(int64_t after, int64_t before,
                    size_t limit = std::numeric_limits<size_t>::max()) const;
  /// Descriptions of the rows `m` should have but that are missing (empty when all are there).
  expected<std::vector<std::string>> missing_rows(const memory& m) const;

  bool is_indexed(std::string_view attribute) const;
  int64_t bucket_of(int64_t created_at) const;
  const index_keyspaces& keyspaces() const { return ks_; }
  const secondary_index_options& options() const { return opts_; }

  static std::string attribute_key(term_id attribute, term_id value, const uuid& id);
  std::string time_key(int64_t created_at, const uuid& id) const;

private:
  secondary_index(const backend& db, interner& terms, index_keyspaces ks,
                  secondary_index_options opts)
      : db_(&db), terms_(&terms), ks_(ks), opts_(std::move(opts)) {}

  /// The attribute-index keys of `m` whose terms are interned (find only, never assigns).
  expected<std::set<std::string>> existing_attribute_keys(const memory& m) const;

  const backend* db_;
  interner* terms_;
  index_keyspaces ks_;
  secondary_index_options opts_;
};

} // namespace telos::storage
