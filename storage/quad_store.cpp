// Quad keys, query planning and the streaming cursor.
#include "telos/storage/quad_store.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

namespace telos::storage {

namespace {

constexpr size_t quad_key_size = 32;

/// The quad's terms in the positions of one order.
std::array<term_id, 4> terms_in(quad_order order, const quad& q) {
  switch (order) {
  case quad_order::spoc:
    return {q.s, q.p, q.o, q.c};
  case quad_order::pocs:
    return {q.p, q.o, q.c, q.s};
  case quad_order::ocsp:
    return {q.o, q.c, q.s, q.p};
  case quad_order::cspo:
    return {q.c, q.s, q.p, q.o};
  }
  return {q.s, q.p, q.o, q.c};
}

std::array<std::optional<term_id>, 4> terms_in(quad_order order, const quad_pattern& q) {
  switch (order) {
  case quad_order::spoc:
    return {q.s, q.p, q.o, q.c};
  case quad_order::pocs:
    return {q.p, q.o, q.c, q.s};
  case quad_order::ocsp:
    return {q.o, q.c, q.s, q.p};
  case quad_order::cspo:
    return {q.c, q.s, q.p, q.o};
  }
  return {q.s, q.p, q.o, q.c};
}

quad from_terms(quad_order order, const std::array<term_id, 4>& t) {
  switch (order) {
  case quad_order::spoc:
    return {t[0], t[1], t[2], t[3]};
  case quad_order::pocs:
    return {t[3], t[0], t[1], t[2]};
  case quad_order::ocsp:
    return {t[2], t[3], t[0], t[1]};
  case quad_order::cspo:
    return {t[1], t[2], t[3], t[0]};
  }
  return {t[0], t[1], t[2], t[3]};
}

} // namespace

const char* to_string(quad_order order) {
  switch (order) {
  case quad_order::spoc:
    return "spoc";
  case quad_order::pocs:
    return "pocs";
  case quad_order::ocsp:
    return "ocsp";
  case quad_order::cspo:
    return "cspo";
  }
  return "unknown";
}

quad_plan plan_for(const quad_pattern& pattern) {
  size_t bound =
      (pattern.s ? 1 : 0) + (pattern.p ? 1 : 0) + (pattern.o ? 1 : 0) + (pattern.c ? 1 : 0);
  quad_plan best;
  bool first = true;
  for (auto order : all_quad_orders) {
    auto terms = terms_in(order, pattern);
    size_t prefix = 0;
    while (prefix < 4 && terms[prefix])
      ++prefix;
    if (first || prefix > best.prefix_terms) best = quad_plan{order, prefix, prefix < bound};
    first = false;
  }
  return best;
}

std::string quad_key(quad_order order, const quad& q) {
  std::string key(quad_key_size, '\0');
  auto terms = terms_in(order, q);
  for (size_t i = 0; i < 4; ++i)
    store_u64_be(key.data() + 8 * i, terms[i]);
  return key;
}

expected<quad> decode_quad_key(quad_order order, std::string_view key) {
  if (key.size() != quad_key_size)
    return make_error(ec::corrupt_value, std::string{"quad key '"} + printable_key(key) +
                                             "' in keyspace quad_" + to_string(order) + " has " +
                                             std::to_string(key.size()) + " bytes, expected 32");
  std::array<term_id, 4> terms{};
  for (size_t i = 0; i < 4; ++i)
    terms[i] = load_u64_be(key.data() + 8 * i);
  return from_terms(order, terms);
}

const std::vector<std::string>& quad_keyspaces::names() {
  static const std::vector<std::string> all{"quad_spoc", "quad_pocs", "quad_ocsp", "quad_cspo"};
  return all;
}

expected<quad_keyspaces> quad_keyspaces::resolve(const backend& db) {
  quad_keyspaces ks;
  for (size_t i = 0; i < 4; ++i) {
    auto id = db.keyspace(names()[i]);
    if (!id) return std::move(id.error());
    ks.ids[i] = *id;
  }
  return ks;
}

// -- quad_cursor ---------------------------------------------------------------------------------

quad_cursor::quad_cursor(std::unique_ptr<iterator> rows, quad_order order, quad_pattern pattern)
    : rows_(std::move(rows)), order_(order), pattern_(pattern) {
  settle();
}

void quad_cursor::settle() {
  valid_ = false;
  for (; rows_->valid(); rows_->next()) {
    auto q = decode_quad_key(order_, rows_->key());
    if (!q) {
      error_ = std::move(q.error());
      return;
    }
    if (pattern_.matches(*q)) {
      current_ = *q;
      valid_ = true;
      return;
    }
  }
}

void quad_cursor::next() {
  if (!valid_) return;
  rows_->next();
  settle();
}

caf::error quad_cursor::status() const {
  if (error_) return error_;
  return rows_->status();
}

// -- quad_store ----------------------------------------------------------------------------------

void quad_store::add(const quad& q, std::string_view value, write_batch& batch) const {
  for (auto order : all_quad_orders)
    batch.put(ks_.of(order), quad_key(order, q), value);
}

void quad_store::remove(const quad& q, write_batch& batch) const {
  for (auto order : all_quad_orders)
    batch.del(ks_.of(order), quad_key(order, q));
}

expected<std::optional<std::string>> quad_store::get(const quad& q) const {
  return db_.get(ks_.of(quad_order::spoc), quad_key(quad_order::spoc, q));
}

expected<quad_cursor> quad_store::scan(const quad_pattern& pattern,
                                       const std::optional<quad>& after) const {
  auto plan = plan_for(pattern);
  auto terms = terms_in(plan.order, pattern);
  std::string prefix;
  prefix.resize(8 * plan.prefix_terms);
  for (size_t i = 0; i < plan.prefix_terms; ++i)
    store_u64_be(prefix.data() + 8 * i, *terms[i]);
  key_range range;
  if (after) {
    if (!pattern.matches(*after))
      return make_error(ec::invalid_argument,
                        "quad scan continuation (" + std::to_string(after->s) + ", " +
                            std::to_string(after->p) + ", " + std::to_string(after->o) + ", " +
                            std::to_string(after->c) + ") does not match the scanned pattern");
    range = prefix_range_after(prefix, quad_key(plan.order, *after));
  } else {
    range = prefix_range(prefix);
  }
  auto rows = db_.scan(ks_.of(plan.order), range);
  if (!rows) return std::move(rows.error());
  return quad_cursor{std::move(*rows), plan.order, pattern};
}

expected<quad_page> quad_store::page(const quad_pattern& pattern, const std::optional<quad>& after,
                                     size_t limit) const {
  if (limit == 0) return make_error(ec::invalid_argument, "quad page limit must be positive");
  auto cursor = scan(pattern, after);
  if (!cursor) return std::move(cursor.error());
  quad_page page;
  for (; cursor->valid() && page.rows.size() < limit; cursor->next())
    page.rows.emplace_back(cursor->current(), std::string{cursor->value()});
  if (auto err = cursor->status()) return err;
  if (cursor->valid()) page.continuation = page.rows.back().first;
  return page;
}

} // namespace telos::storage
