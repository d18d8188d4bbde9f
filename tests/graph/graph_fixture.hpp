// One backend with the graph and secondary-index keyspaces, plus the components over it, for
// every graph test; and helpers (error codes as text, temp dirs, committing a batch).
#pragma once

#include "telos/storage/backend.hpp"
#include "telos/storage/edges.hpp"
#include "telos/storage/graph_verifier.hpp"
#include "telos/storage/interner.hpp"
#include "telos/storage/quad_store.hpp"
#include "telos/storage/secondary_index.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace telos::graph_test {

using namespace telos::storage;

/// The code name of the error held by `result` ("none" if it holds a value).
template <class T>
std::string code(const expected<T>& result) {
  return result ? "none" : to_string(code_of(result.error()));
}

/// The error text of a failed result, empty for a success (safe to evaluate either way, which
/// Boost.Test messages need: they may be formatted for passing checks too).
template <class T>
std::string why(const expected<T>& result) {
  return result ? std::string{} : describe(result.error());
}

/// The backends every storage-level graph test runs against.
inline std::vector<backend_kind> all_kinds() {
  return {backend_kind::memory, backend_kind::rocksdb, backend_kind::lmdb};
}

/// Backends that persist (for restart tests).
inline std::vector<backend_kind> persistent_kinds() {
  return {backend_kind::rocksdb, backend_kind::lmdb};
}

/// A fresh directory path under the temp dir, removed with everything in it on destruction.
class temp_dir {
public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("telos-graph-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~temp_dir() {
    std::error_code err;
    std::filesystem::remove_all(path_, err);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// Keyspaces a graph store declares: a filler first, so no component may assume its keyspaces
/// start at id 0.
inline std::vector<std::string> graph_keyspace_names() {
  std::vector<std::string> names{"records"};
  for (const auto* list :
       {&interner_keyspaces::names(), &quad_keyspaces::names(), &index_keyspaces::names()})
    names.insert(names.end(), list->begin(), list->end());
  return names;
}

/// A backend and the graph components over it.
struct graph_store {
  std::unique_ptr<backend> db;
  std::unique_ptr<interner> terms;
  std::unique_ptr<quad_store> quads;
  std::unique_ptr<edge_store> edges;
  std::optional<secondary_index> index;

  /// Opens (or creates) a store at `path` (ignored by the memory backend).
  static graph_store open(backend_kind kind, const std::string& path,
                          secondary_index_options index_opts = {},
                          interner_options terms_opts = {}) {
    backend_options opts;
    opts.path = path;
    opts.keyspaces = graph_keyspace_names();
    opts.lmdb_map_mb = 16;
    opts.block_cache_mb = 8;
    opts.write_buffer_mb = 4;
    graph_store s;
    auto db = make_backend(kind, opts);
    BOOST_REQUIRE_MESSAGE(db, "opening " << to_string(kind) << ": " << why(db));
    s.db = std::move(*db);
    auto iks = interner_keyspaces::resolve(*s.db);
    BOOST_REQUIRE(iks);
    auto terms = interner::open(*s.db, *iks, terms_opts);
    BOOST_REQUIRE_MESSAGE(terms, why(terms));
    s.terms = std::move(*terms);
    auto qks = quad_keyspaces::resolve(*s.db);
    BOOST_REQUIRE(qks);
    s.quads = std::make_unique<quad_store>(*s.db, *qks);
    s.edges = std::make_unique<edge_store>(*s.quads, *s.terms);
    auto xks = index_keyspaces::resolve(*s.db);
    BOOST_REQUIRE(xks);
    auto index = secondary_index::make(*s.db, *s.terms, *xks, std::move(index_opts));
    BOOST_REQUIRE(index);
    s.index.emplace(std::move(*index));
    return s;
  }

  /// Writes the batch and confirms its staged terms; fails the test if the write fails.
  void commit(write_batch& batch, interner::staging& staged) {
    auto written = db->write(batch);
    BOOST_REQUIRE_MESSAGE(written, why(written));
    terms->confirm(staged);
    batch.clear();
  }

  /// Adds edges in one batch.
  void add_edges(const std::vector<edge_data>& all) {
    write_batch batch;
    interner::staging staged;
    for (const auto& e : all) {
      auto added = edges->add(e, batch, staged);
      BOOST_REQUIRE_MESSAGE(added, why(added));
    }
    commit(batch, staged);
  }

  /// Number of keys in a keyspace.
  uint64_t keys_in(std::string_view keyspace) const {
    auto ks = db->keyspace(keyspace);
    BOOST_REQUIRE(ks);
    auto st = db->stats();
    BOOST_REQUIRE(st);
    return st->keyspaces.at(*ks).keys;
  }
};

/// A batch the backend must refuse as a whole: `batch` plus one put to an undeclared keyspace.
inline write_batch poisoned(const write_batch& batch) {
  write_batch bad = batch;
  bad.put(9999, "poison", "x");
  return bad;
}

/// An edge of weight 1 without attributes.
inline edge_data link(const uuid& source, std::string type, const uuid& target,
                      std::string ns = "default") {
  edge_data e;
  e.source = source;
  e.type = std::move(type);
  e.target = target;
  e.ns = std::move(ns);
  return e;
}

/// The first problem of a report, for failure messages.
inline std::string first_problem(const graph_report& r) {
  return r.problems.empty() ? std::string{} : r.problems.front();
}

/// A deterministic id: the bytes of n, so ids compare like their numbers.
inline uuid id_of(uint64_t n) {
  uuid id;
  for (int i = 0; i < 8; ++i)
    id.bytes[15 - i] = static_cast<uint8_t>(n >> (8 * i));
  id.bytes[0] = 0x10;
  return id;
}

} // namespace telos::graph_test
