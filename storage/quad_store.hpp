// Quads (subject, predicate, object, context) of interned terms in four index orders, so that
// every pattern of bound and unbound terms is answered by a prefix scan of one order (plus a
// filter for the two patterns no order covers), streamed in a stable order.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/interner.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace telos::storage {

struct quad {
  term_id s = 0;
  term_id p = 0;
  term_id o = 0;
  term_id c = 0;

  friend bool operator==(const quad& a, const quad& b) {
    return a.s == b.s && a.p == b.p && a.o == b.o && a.c == b.c;
  }
  friend bool operator!=(const quad& a, const quad& b) { return !(a == b); }
  /// SPOC order.
  friend bool operator<(const quad& a, const quad& b) {
    return std::tie(a.s, a.p, a.o, a.c) < std::tie(b.s, b.p, b.o, b.c);
  }
};

/// A quad with some terms bound; an empty term matches anything.
struct quad_pattern {
  std::optional<term_id> s;
  std::optional<term_id> p;
  std::optional<term_id> o;
  std::optional<term_id> c;

  bool matches(const quad& q) const {
    return (!s || *s == q.s) && (!p || *p == q.p) && (!o || *o == q.o) && (!c || *c == q.c);
  }
};

/// The four index orders; each key is its four terms as big-endian u64 in that order.
enum class quad_order : uint8_t { spoc = 0, pocs = 1, ocsp = 2, cspo = 3 };

inline constexpr std::array<quad_order, 4> all_quad_orders{quad_order::spoc, quad_order::pocs,
                                                           quad_order::ocsp, quad_order::cspo};

const char* to_string(quad_order order);

/// How a pattern is answered: a scan of `order` over the keys that start with its first
/// `prefix_terms` terms (all bound), keeping only rows that match the pattern when `filtered`
/// (some bound term lies after the prefix). Every pattern gets the order whose bound prefix is
/// longest (the first such order in spoc, pocs, ocsp, cspo when several tie). Only S+O (spoc,
/// prefix S, filter O) and P+C (pocs, prefix P, filter C) need a filter.
struct quad_plan {
  quad_order order = quad_order::spoc;
  size_t prefix_terms = 0;
  bool filtered = false;
};

quad_plan plan_for(const quad_pattern& pattern);

/// The key of a quad in one order (32 bytes).
std::string quad_key(quad_order order, const quad& q);
/// The quad of a key of one order; ec::corrupt_value unless the key has 32 bytes.
expected<quad> decode_quad_key(quad_order order, std::string_view key);

/// The keyspaces "quad_spoc", "quad_pocs", "quad_ocsp", "quad_cspo".
struct quad_keyspaces {
  std::array<keyspace_id, 4> ids{};

  keyspace_id of(quad_order order) const { return ids[static_cast<size_t>(order)]; }

  static const std::vector<std::string>& names();
  static expected<quad_keyspaces> resolve(const backend& db);
};

/// Streams the quads matching a pattern in the key order of its plan, from one snapshot. Holds a
/// backend iterator: drop it early freely, but not after the backend is closed.
class quad_cursor {
public:
  quad_cursor(std::unique_ptr<iterator> rows, quad_order order, quad_pattern pattern);

  /// True while positioned on a matching quad.
  bool valid() const { return valid_; }
  const quad& current() const { return current_; }
  /// The value stored with the quad.
  std::string_view value() const { return rows_->value(); }
  void next();
  /// The error that ended the scan early (a backend error or a malformed key), if any.
  caf::error status() const;

private:
  /// Moves to the first matching row at or after the iterator's position.
  void settle();

  std::unique_ptr<iterator> rows_;
  quad_order order_;
  quad_pattern pattern_;
  quad current_;
  bool valid_ = false;
  caf::error error_;
};

/// One page of a paged scan.
struct quad_page {
  std::vector<std::pair<quad, std::string>> rows;
  /// Pass as `after` to get the next page; empty when the scan is complete.
  std::optional<quad> continuation;
};

/// Appends quad rows to write batches and answers patterns over one backend. Every quad is four
/// rows (one per order) carrying the same value, so a scan in any order has the value at hand.
class quad_store {
public:
  quad_store(const backend& db, quad_keyspaces ks) : db_(db), ks_(ks) {}

  /// Appends the four rows of `q` with `value` (replacing a previous value).
  void add(const quad& q, std::string_view value, write_batch& batch) const;
  /// Appends the deletion of the four rows of `q`.
  void remove(const quad& q, write_batch& batch) const;

  /// The value of `q`, or nullopt when it is not stored.
  expected<std::optional<std::string>> get(const quad& q) const;
  /// The quads matching `pattern`, in the order of plan_for(pattern), starting after `after`
  /// (a quad that matches the pattern, e.g. the last one of a previous page).
  expected<quad_cursor> scan(const quad_pattern& pattern,
                             const std::optional<quad>& after = std::nullopt) const;
  /// At most `limit` (> 0) quads of scan(pattern, after) and the continuation.
  expected<quad_page> page(const quad_pattern& pattern, const std::optional<quad>& after,
                           size_t limit) const;

  const quad_keyspaces& keyspaces() const { return ks_; }
  const backend& db() const { return db_; }

private:
  const backend& db_;
  quad_keyspaces ks_;
};

} // namespace telos::storage
