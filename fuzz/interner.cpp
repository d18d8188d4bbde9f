// fuzz_interner: quad terms and the interner over a backend whose rows the fuzzer wrote
// (storage/interner.*, storage/quad_store.*). The input is a program: rows put straight into the
// interner's and the quad store's keyspaces (raw, or keys and values built the way the code
// builds them, so the checks past the checksum are reached), then interning, finding and looking
// up terms, adding quads and scanning patterns. Every call must answer or fail with
// ec::corrupt_value (the disk holds garbage), never crash; an interned id is never 0 (the
// high-water row) and the id a string gets stays its id.
#include "fuzz_common.hpp"

#include "telos/storage/backend.hpp"
#include "telos/storage/interner.hpp"
#include "telos/storage/key_codec.hpp"
#include "telos/storage/quad_store.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace telos::fuzz {
namespace {

using namespace telos::storage;

void ok_or_corrupt(const caf::error& err, const char* what) {
  if (!err) return;
  if (code_of(err) != ec::corrupt_value)
    std::fprintf(stderr, "%s: %s\n", what, describe(err).c_str());
  require(code_of(err) == ec::corrupt_value, "a bad interner or quad row is corrupt_value");
}

template <class T>
bool ok(const expected<T>& x, const char* what) {
  if (x) return true;
  ok_or_corrupt(x.error(), what);
  return false;
}

std::optional<term_id> maybe_term(FuzzedDataProvider& in) {
  if (!in.ConsumeBool()) return std::nullopt;
  return in.ConsumeIntegral<term_id>();
}

struct session {
  std::unique_ptr<backend> db;
  interner_keyspaces iks;
  quad_keyspaces qks;
  std::unique_ptr<interner> terms;
  /// Ids the interner gave in this run, by text.
  std::map<std::string, term_id> given;
};

void put_rows(session& s, FuzzedDataProvider& in) {
  write_batch batch;
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
  case 0: { // Raw bytes into any keyspace; the value optionally gets a valid envelope.
    auto ks = static_cast<keyspace_id>(in.ConsumeIntegralInRange<int>(0, 5));
    auto key = in.ConsumeRandomLengthString(40);
    auto value = in.ConsumeRandomLengthString(64);
    if (key.empty()) key = "k";
    batch.put(ks, key, in.ConsumeBool() ? envelope_of(value) : value);
    break;
  }
  case 1: { // A forward row, possibly naming another text than its key's hash.
    auto text = in.ConsumeRandomLengthString(24);
    auto id = in.ConsumeIntegral<term_id>();
    auto stored = in.ConsumeBool() ? text : in.ConsumeRandomLengthString(24);
    batch.put(s.iks.forward, interner::forward_key(text, id),
              encode_envelope(value_format::raw, 1, stored));
    break;
  }
  case 2: { // A reverse row, or the high-water row (id 0).
    auto id = in.ConsumeBool() ? term_id{0} : in.ConsumeIntegral<term_id>();
    std::string payload;
    if (id == 0) {
      payload.resize(8);
      store_u64_be(payload.data(), in.ConsumeIntegral<uint64_t>());
    } else {
      payload = in.ConsumeRandomLengthString(24);
    }
    batch.put(s.iks.reverse, interner::reverse_key(id),
              encode_envelope(value_format::raw, 1, payload));
    break;
  }
  default: { // A quad row of one order, keyed by four terms.
    auto order = static_cast<quad_order>(in.ConsumeIntegralInRange<int>(0, 3));
    quad q{in.ConsumeIntegral<term_id>(), in.ConsumeIntegral<term_id>(),
           in.ConsumeIntegral<term_id>(), in.ConsumeIntegral<term_id>()};
    batch.put(s.qks.of(order), quad_key(order, q), in.ConsumeRandomLengthString(16));
    break;
  }
  }
  require(static_cast<bool>(s.db->write(batch)), "the memory backend takes the rows");
}

void intern_terms(session& s, FuzzedDataProvider& in) {
  write_batch batch;
  interner::staging staged;
  std::map<std::string, term_id> got;
  auto count = in.ConsumeIntegralInRange<int>(1, 4);
  for (int i = 0; i < count; ++i) {
    auto text = in.ConsumeBool() ? make_term(static_cast<term_kind>(in.ConsumeIntegral<char>()),
                                             in.ConsumeRandomLengthString(16))
                                 : in.ConsumeRandomLengthString(16);
    auto id = s.terms->intern(text, batch, staged);
    if (!ok(id, "intern")) return;
    require(*id != 0, "an interned id is never 0 (the high-water row)");
    auto [it, fresh] = got.emplace(text, *id);
    require(fresh || it->second == *id, "one string has one id within a batch");
  }
  if (in.ConsumeBool()) {
    s.terms->abandon(staged);
    return;
  }
  require(static_cast<bool>(s.db->write(batch)), "the memory backend takes the batch");
  s.terms->confirm(staged);
  for (const auto& [text, id] : got) {
    auto [it, fresh] = s.given.emplace(text, id);
    require(fresh || it->second == id, "a committed string keeps its id");
    auto found = s.terms->find(text);
    if (ok(found, "find")) require(*found == id, "find gives the interned id");
  }
}

void look_up(session& s, FuzzedDataProvider& in) {
  if (in.ConsumeBool()) {
    auto text = in.ConsumeRandomLengthString(16);
    auto found = s.terms->find(text);
    if (ok(found, "find") && s.given.count(text) != 0)
      require(*found == s.given.at(text), "find gives the id interned before");
    return;
  }
  std::vector<term_id> ids;
  auto count = in.ConsumeIntegralInRange<int>(1, 4);
  for (int i = 0; i < count; ++i)
    ids.push_back(
        in.ConsumeBool() || s.given.empty()
            ? in.ConsumeIntegral<term_id>()
            : std::next(s.given.begin(), in.ConsumeIntegralInRange<size_t>(0, s.given.size() - 1))
                  ->second);
  auto many = s.terms->lookup(ids);
  if (ok(many, "lookup")) require(many->size() == ids.size(), "one answer per id");
  auto one = s.terms->lookup(ids.front());
  ok(one, "lookup one");
}

void quads(session& s, FuzzedDataProvider& in) {
  quad_store store{*s.db, s.qks};
  if (in.ConsumeBool()) {
    quad q{in.ConsumeIntegral<term_id>(), in.ConsumeIntegral<term_id>(),
           in.ConsumeIntegral<term_id>(), in.ConsumeIntegral<term_id>()};
    write_batch batch;
    auto value = in.ConsumeRandomLengthString(16);
    bool add = in.ConsumeBool();
    if (add)
      store.add(q, value, batch);
    else
      store.remove(q, batch);
    require(static_cast<bool>(s.db->write(batch)), "the memory backend takes the quad");
    auto got = store.get(q);
    if (ok(got, "get quad"))
      require(add ? (*got && **got == value) : !*got, "a quad reads back as written");
    return;
  }
  quad_pattern pattern{maybe_term(in), maybe_term(in), maybe_term(in), maybe_term(in)};
  auto limit = in.ConsumeIntegralInRange<size_t>(1, 8);
  std::optional<quad> after;
  for (int pages = 0; pages < 16; ++pages) {
    auto page = store.page(pattern, after, limit);
    if (!ok(page, "page")) return;
    require(page->rows.size() <= limit, "a page holds at most its limit");
    for (const auto& [q, value] : page->rows)
      require(pattern.matches(q), "a scan yields only matching quads");
    if (!page->continuation) return;
    after = page->continuation;
  }
}

void terms_and_keys(FuzzedDataProvider& in) {
  auto bytes = in.ConsumeRandomLengthString(40);
  if (auto id = memory_of_term(bytes)) require(make_term(*id) == bytes, "memory terms round-trip");
  auto order = static_cast<quad_order>(in.ConsumeIntegralInRange<int>(0, 3));
  auto q = decode_quad_key(order, bytes);
  if (q)
    require(quad_key(order, *q) == bytes, "quad keys round-trip");
  else
    ok_or_corrupt(q.error(), "decode_quad_key");
}

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos;
  using namespace telos::fuzz;
  FuzzedDataProvider in{data, size};
  session s;
  backend_options opts;
  opts.keyspaces = interner_keyspaces::names();
  for (const auto& name : quad_keyspaces::names())
    opts.keyspaces.push_back(name);
  auto db = make_backend(backend_kind::memory, opts);
  require(static_cast<bool>(db), "the memory backend opens");
  s.db = std::move(*db);
  s.iks = *interner_keyspaces::resolve(*s.db);
  s.qks = *quad_keyspaces::resolve(*s.db);
  // Rows first: what a store holds before it is opened.
  auto rows = in.ConsumeIntegralInRange<int>(0, 12);
  for (int i = 0; i < rows && in.remaining_bytes() > 0; ++i)
    put_rows(s, in);
  auto opened =
      interner::open(*s.db, s.iks, interner_options{in.ConsumeIntegralInRange<size_t>(0, 4)});
  if (!ok(opened, "open")) return 0;
  s.terms = std::move(*opened);
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:
      // Rows changed under an open interner: what it handed out before no longer binds.
      put_rows(s, in);
      s.given.clear();
      break;
    case 1:
      intern_terms(s, in);
      break;
    case 2:
      look_up(s, in);
      break;
    case 3:
      quads(s, in);
      break;
    default:
      terms_and_keys(in);
      break;
    }
  }
  return 0;
}
