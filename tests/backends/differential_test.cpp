// The same seeded sequence of operations against memory, RocksDB and LMDB: every read, scan,
// transaction outcome and stat must agree. A quick cross-check of the three implementations;
// tests/conformance holds the exhaustive per-behaviour suite.
#include "telos/storage/backend.hpp"

#include "backend_test_helpers.hpp"

#include <random>
#include <sstream>

using namespace telos;
using namespace telos::storage;
using telos::test::code;
using telos::test::temp_dir;

namespace {

struct store_set {
  temp_dir rocks_dir;
  temp_dir lmdb_dir;
  std::vector<std::unique_ptr<backend>> stores;

  explicit store_set(size_t lmdb_map_mb = 4) {
    for (auto kind : {backend_kind::memory, backend_kind::rocksdb, backend_kind::lmdb}) {
      backend_options opts;
      opts.keyspaces = {"alpha", "beta", "gamma"};
      opts.path = kind == backend_kind::rocksdb ? rocks_dir.path() : lmdb_dir.path();
      opts.block_cache_mb = 8;
      opts.write_buffer_mb = 1; // small memtables: the run crosses flushes to SST files
      opts.lmdb_map_mb = lmdb_map_mb;
      auto db = make_backend(kind, opts);
      BOOST_REQUIRE_MESSAGE(db, to_string(kind) << ": " << (db ? "" : describe(db.error())));
      stores.push_back(std::move(*db));
    }
  }
};

/// Keys from a small alphabet including 0x00 and 0xFF, so prefixes and bounds collide often.
std::string random_key(std::mt19937& rng) {
  static const char alphabet[] = {'\x00', 'a', 'b', '\x7f', '\x80', '\xff'};
  std::uniform_int_distribution<int> len{1, 4};
  std::uniform_int_distribution<int> pick{0, 5};
  std::string key;
  for (int i = len(rng); i > 0; --i)
    key.push_back(alphabet[pick(rng)]);
  return key;
}

/// Everything a scan shows, as one comparable string (status included).
std::string drain(expected<std::unique_ptr<iterator>> it) {
  if (!it) return "error " + code(it);
  std::ostringstream out;
  for (; (*it)->valid(); (*it)->next())
    out << (*it)->key().size() << ':' << (*it)->key() << '=' << (*it)->value().size() << ';';
  out << "status " << code((*it)->status());
  return out.str();
}

std::string show(const expected<std::optional<std::string>>& result) {
  if (!result) return "error " + code(result);
  return *result ? "value " + **result : "absent";
}

key_range random_range(std::mt19937& rng) {
  key_range range;
  std::bernoulli_distribution coin;
  if (coin(rng)) range.begin = random_key(rng);
  if (coin(rng)) range.end = random_key(rng);
  range.begin_inclusive = coin(rng);
  range.end_inclusive = coin(rng);
  if (std::bernoulli_distribution{0.1}(rng)) range.begin = "";
  return range;
}

} // namespace

BOOST_AUTO_TEST_SUITE(differential_suite)

BOOST_AUTO_TEST_CASE(backends_agree_on_a_random_operation_sequence) {
  store_set set;
  auto& stores = set.stores;
  std::mt19937 rng{20261122};
  std::uniform_int_distribution<int> action{0, 99};
  std::uniform_int_distribution<keyspace_id> keyspace{0, 3}; // 3 is undeclared
  for (int step = 0; step < 3000; ++step) {
    int a = action(rng);
    std::vector<std::string> seen;
    if (a < 40) {
      write_batch batch;
      std::uniform_int_distribution<int> ops{0, 6};
      for (int n = ops(rng); n > 0; --n) {
        auto ks =
            std::min<keyspace_id>(keyspace(rng), std::bernoulli_distribution{0.02}(rng) ? 3 : 2);
        auto key = random_key(rng);
        if (std::bernoulli_distribution{0.01}(rng)) key.clear();
        if (std::bernoulli_distribution{0.7}(rng))
          batch.put(ks, key, std::string(rng() % 300, static_cast<char>('A' + step % 26)));
        else
          batch.del(ks, key);
      }
      for (auto& db : stores) {
        // Every other batch goes prepared, as a shard sends its commit groups (backend::prepare).
        if (step % 2) batch.attach(db->prepare(batch));
        seen.push_back(code(db->write(batch)));
      }
    } else if (a < 60) {
      auto ks = keyspace(rng);
      auto key = random_key(rng);
      for (auto& db : stores)
        seen.push_back(show(db->get(ks, key)));
    } else if (a < 65) {
      std::vector<std::string> keys;
      for (int n = 0; n < 5; ++n)
        keys.push_back(random_key(rng));
      auto ks = std::min<keyspace_id>(keyspace(rng), 2);
      for (auto& db : stores) {
        auto values = db->multi_get(ks, keys);
        std::string text = values ? "" : "error " + code(values);
        if (values)
          for (auto& v : *values)
            text += v ? *v + "|" : "-|";
        seen.push_back(text);
      }
    } else if (a < 80) {
      auto ks = std::min<keyspace_id>(keyspace(rng), 2);
      auto range = random_range(rng);
      for (auto& db : stores)
        seen.push_back(drain(db->scan(ks, range)));
    } else if (a < 90) {
      auto ks = std::min<keyspace_id>(keyspace(rng), 2);
      auto prefix = random_key(rng).substr(0, rng() % 3);
      for (auto& db : stores)
        seen.push_back(drain(db->scan_prefix(ks, prefix)));
    } else {
      // Two interleaved transactions over a handful of keys; outcomes must agree.
      auto k1 = random_key(rng).substr(0, 1);
      auto k2 = random_key(rng).substr(0, 1);
      for (auto& db : stores) {
        auto t1 = db->begin();
        auto t2 = db->begin();
        BOOST_REQUIRE(t1 && t2);
        std::string text = show((*t1)->get(0, k1));
        BOOST_REQUIRE((*t1)->put(0, k1, "t1"));
        BOOST_REQUIRE((*t2)->del(0, k2));
        text += show((*t1)->get(0, k1)) + show((*t2)->get(0, k2));
        if (step % 3 == 0) text += code(db->put(0, k2, "plain"));
        text += code((*t2)->commit()) + code((*t1)->commit());
        seen.push_back(text);
      }
    }
    for (size_t i = 1; i < seen.size(); ++i)
      BOOST_REQUIRE_MESSAGE(seen[i] == seen[0],
                            "step " << step << ": " << to_string(stores[i]->kind()) << " saw '"
                                    << seen[i] << "', memory saw '" << seen[0] << "'");
  }
  std::vector<std::string> stats;
  for (auto& db : stores) {
    auto s = db->stats();
    BOOST_REQUIRE(s);
    std::ostringstream out;
    for (auto& ks : s->keyspaces)
      out << ks.name << ' ' << ks.keys << ' ' << ks.bytes << ';';
    out << s->reads << ' ' << s->writes << ' ' << s->deletes;
    stats.push_back(out.str());
  }
  BOOST_TEST_MESSAGE("final stats: " << stats[0]);
  BOOST_CHECK_EQUAL(stats[1], stats[0]);
  BOOST_CHECK_EQUAL(stats[2], stats[0]);
}

BOOST_AUTO_TEST_CASE(first_committer_wins_and_the_loser_names_keyspace_and_key) {
  store_set set;
  for (auto& db : set.stores) {
    BOOST_TEST_CONTEXT(to_string(db->kind())) {
      BOOST_REQUIRE(db->put(1, "counter", "0"));
      auto t1 = db->begin();
      auto t2 = db->begin();
      BOOST_REQUIRE(t1 && t2);
      BOOST_REQUIRE((*t1)->put(1, "counter", "1"));
      BOOST_REQUIRE((*t2)->put(1, "counter", "2"));
      BOOST_REQUIRE((*t1)->commit());
      auto lost = (*t2)->commit();
      BOOST_REQUIRE_EQUAL(code(lost), "conflict");
      auto text = describe(lost.error());
      BOOST_CHECK_NE(text.find("keyspace 'beta'"), std::string::npos);
      BOOST_CHECK_NE(text.find("key 'counter'"), std::string::npos);
      BOOST_CHECK_EQUAL(db->get(1, "counter")->value_or("-"), "1");
      BOOST_CHECK_EQUAL(code((*t2)->commit()), "invalid_argument");
      // A plain write after the snapshot conflicts too; reads alone never do.
      auto t3 = db->begin();
      BOOST_REQUIRE(t3);
      BOOST_CHECK_EQUAL((*t3)->get(1, "counter")->value_or("-"), "1");
      BOOST_REQUIRE(db->del(1, "counter"));
      BOOST_CHECK(!db->get(1, "counter")->has_value());
      BOOST_CHECK_EQUAL((*t3)->get(1, "counter")->value_or("-"), "1");
      BOOST_REQUIRE((*t3)->put(1, "counter", "3"));
      BOOST_CHECK_EQUAL(code((*t3)->commit()), "conflict");
      auto reader = db->begin();
      BOOST_REQUIRE(reader);
      BOOST_REQUIRE(db->put(1, "counter", "4"));
      BOOST_CHECK_EQUAL(code((*reader)->commit()), "none");
      // Disjoint keys both commit.
      auto t4 = db->begin();
      auto t5 = db->begin();
      BOOST_REQUIRE((*t4)->put(0, "x", "4"));
      BOOST_REQUIRE((*t5)->put(0, "y", "5"));
      BOOST_CHECK_EQUAL(code((*t4)->commit()), "none");
      BOOST_CHECK_EQUAL(code((*t5)->commit()), "none");
    }
  }
}

BOOST_AUTO_TEST_CASE(keys_are_limited_identically_on_every_backend) {
  store_set set;
  std::string longest(max_key_size, 'k');
  for (auto& db : set.stores) {
    BOOST_TEST_CONTEXT(to_string(db->kind())) {
      BOOST_CHECK_EQUAL(code(db->put(0, longest, "v")), "none");
      BOOST_CHECK_EQUAL(code(db->put(0, longest + "k", "v")), "invalid_argument");
      BOOST_CHECK_EQUAL(code(db->put(0, "", "v")), "invalid_argument");
      BOOST_CHECK_EQUAL(code(db->get(0, "")), "invalid_argument");
      BOOST_CHECK_EQUAL(code(db->put(7, "k", "v")), "unknown_keyspace");
      write_batch batch;
      batch.put(0, "fine", "1");
      batch.put(9, "bad", "2");
      auto res = db->write(batch);
      BOOST_CHECK_EQUAL(code(res), "unknown_keyspace");
      BOOST_CHECK_NE(describe(res.error()).find("operation #1"), std::string::npos);
      BOOST_CHECK(!db->get(0, "fine")->has_value());
      // Bounds are not keys: a bound longer than any key still scans correctly.
      key_range range;
      range.begin = longest + "x";
      BOOST_CHECK_EQUAL(drain(db->scan(0, range)), "status none");
      range.begin = std::string(max_key_size, 'j') + "zzz";
      BOOST_CHECK_EQUAL(drain(db->scan(0, range)), "511:" + longest + "=1;status none");
      BOOST_CHECK_EQUAL(code(db->put(0, "big", std::string(3 << 20, 'v'))), "none");
      BOOST_CHECK_EQUAL(db->get(0, "big")->value_or("").size(), 3u << 20);
    }
  }
}

// RocksDB copies every commit into one reused native batch: nothing of a refused batch may reach
// the next commit, and a commit larger than the buffer it keeps (64 MiB) is written whole.
BOOST_AUTO_TEST_CASE(a_refused_or_very_large_batch_leaves_nothing_behind_for_the_next) {
  store_set set{256};
  for (auto& db : set.stores) {
    BOOST_TEST_CONTEXT(to_string(db->kind())) {
      write_batch refused;
      refused.put(0, "staged", "1");
      refused.put(9, "bad", "2");
      BOOST_CHECK_EQUAL(code(db->write(refused)), "unknown_keyspace");
      write_batch next;
      next.put(1, "after", "3");
      BOOST_CHECK_EQUAL(code(db->write(next)), "none");
      BOOST_CHECK(!db->get(0, "staged")->has_value());
      BOOST_CHECK_EQUAL(db->get(1, "after")->value_or(""), "3");

      write_batch large;
      for (int i = 0; i < 17; ++i)
        large.put(2, "big" + std::to_string(i), std::string(4 << 20, static_cast<char>('a' + i)));
      BOOST_CHECK_EQUAL(code(db->write(large)), "none");
      write_batch small;
      small.del(2, "big0");
      small.put(2, "small", "4");
      BOOST_CHECK_EQUAL(code(db->write(small)), "none");
      BOOST_CHECK(!db->get(2, "big0")->has_value());
      BOOST_CHECK_EQUAL(db->get(2, "big16")->value_or(""), std::string(4 << 20, 'q'));
      BOOST_CHECK_EQUAL(db->get(2, "small")->value_or(""), "4");
    }
  }
}

namespace {

/// Operations on the same keys interleaved with other keyspaces' (puts, deletes, a put again).
write_batch interleaved_batch() {
  write_batch batch;
  batch.put(2, "z", "other keyspace first");
  batch.put(0, "k", "first");
  batch.put(1, "k", "beta's k");
  batch.put(0, "a", "1");
  batch.del(0, "k");
  batch.put(0, "gone", "put, then removed");
  batch.put(0, "k", "last");
  batch.put(2, "b", "2");
  batch.del(0, "gone");
  batch.del(0, "a");
  batch.put(0, "a", "again");
  return batch;
}

} // namespace

// RocksDB stages a commit's operations by keyspace and key, not in the batch's order: operations
// on one key must still take effect in the batch's order (the last one wins), whatever keys of
// other keyspaces come between them.
BOOST_AUTO_TEST_CASE(operations_on_one_key_take_effect_in_the_batch_order) {
  store_set set;
  for (auto& db : set.stores) {
    BOOST_TEST_CONTEXT(to_string(db->kind())) {
      auto batch = interleaved_batch();
      BOOST_CHECK_EQUAL(code(db->write(batch)), "none");
      BOOST_CHECK_EQUAL(db->get(0, "k")->value_or("-"), "last");
      BOOST_CHECK_EQUAL(db->get(0, "a")->value_or("-"), "again");
      BOOST_CHECK(!db->get(0, "gone")->has_value());
      BOOST_CHECK_EQUAL(db->get(1, "k")->value_or("-"), "beta's k");
      BOOST_CHECK_EQUAL(db->get(2, "z")->value_or("-"), "other keyspace first");
      BOOST_CHECK_EQUAL(drain(db->scan(0, key_range::all())), "1:a=5;1:k=4;status none");
    }
  }
}

// A shard converts each commit group into the backend's own form on its own thread
// (backend::prepare) and the writer writes that form. It must write exactly what the operations
// say, in their order, and never outlive a change to them.
BOOST_AUTO_TEST_CASE(a_prepared_batch_writes_what_its_operations_say) {
  store_set set;
  for (auto& db : set.stores) {
    BOOST_TEST_CONTEXT(to_string(db->kind())) {
      auto batch = interleaved_batch();
      auto prepared = db->prepare(batch);
      // RocksDB has a form of its own (a native batch); memory and LMDB write the operations.
      BOOST_CHECK_EQUAL(static_cast<bool>(prepared), db->kind() == backend_kind::rocksdb);
      batch.attach(prepared);
      BOOST_CHECK(batch.prepared() == prepared.get());
      BOOST_CHECK_EQUAL(code(db->write(batch)), "none");
      BOOST_CHECK_EQUAL(db->get(0, "k")->value_or("-"), "last");
      BOOST_CHECK_EQUAL(db->get(1, "k")->value_or("-"), "beta's k");
      BOOST_CHECK_EQUAL(db->get(2, "z")->value_or("-"), "other keyspace first");

      // Any change drops the prepared form: the changed batch is written as it is now.
      write_batch changed;
      changed.put(0, "x", "1");
      changed.attach(db->prepare(changed));
      changed.put(0, "y", "2");
      BOOST_CHECK(changed.prepared() == nullptr);
      BOOST_CHECK_EQUAL(code(db->write(changed)), "none");
      BOOST_CHECK_EQUAL(db->get(0, "x")->value_or("-"), "1");
      BOOST_CHECK_EQUAL(db->get(0, "y")->value_or("-"), "2");

      // A batch that cannot be written has no prepared form, and write() names why.
      write_batch bad;
      bad.put(7, "k", "v");
      BOOST_CHECK(!db->prepare(bad));
      BOOST_CHECK_EQUAL(code(db->write(bad)), "unknown_keyspace");

      // Once written, the operations go to the prepared form, to be freed with it.
      write_batch done;
      done.put(0, "retired", "v");
      done.del(1, "k");
      auto form = std::make_shared<prepared_batch>();
      done.attach(form);
      done.retire();
      BOOST_CHECK(done.empty());
      BOOST_CHECK(done.prepared() == nullptr);
      BOOST_CHECK_EQUAL(done.byte_size(), 0u);
      BOOST_REQUIRE_EQUAL(form->retired.size(), 2u);
      BOOST_CHECK_EQUAL(form->retired[0].key, "retired");
      BOOST_CHECK_EQUAL(form->retired[1].key, "k");
    }
  }
}

// A prepared batch names column families of the store that made it; another store (whose column
// families are numbered otherwise) converts the operations instead.
BOOST_AUTO_TEST_CASE(a_batch_prepared_by_another_rocksdb_store_is_converted_not_written_as_is) {
  temp_dir first_dir, second_dir;
  auto open = [](const std::string& path, std::vector<std::string> keyspaces) {
    backend_options opts;
    opts.keyspaces = std::move(keyspaces);
    opts.path = path;
    opts.block_cache_mb = 8;
    auto db = make_backend(backend_kind::rocksdb, opts);
    BOOST_REQUIRE_MESSAGE(db, (db ? "" : describe(db.error())));
    return std::move(*db);
  };
  // The second store was created with one more keyspace before "alpha": its column family ids
  // differ from the first store's for the same keyspace list.
  {
    auto db = open(second_dir.path(), {"extra", "alpha", "beta"});
    BOOST_REQUIRE(db->close());
  }
  auto first = open(first_dir.path(), {"alpha", "beta"});
  auto second = open(second_dir.path(), {"alpha", "beta"});
  write_batch batch;
  batch.put(0, "k", "alpha's");
  batch.put(1, "k", "beta's");
  batch.attach(first->prepare(batch));
  BOOST_REQUIRE(batch.prepared() != nullptr);
  BOOST_CHECK_EQUAL(code(second->write(batch)), "none");
  BOOST_CHECK_EQUAL(second->get(0, "k")->value_or("-"), "alpha's");
  BOOST_CHECK_EQUAL(second->get(1, "k")->value_or("-"), "beta's");
  BOOST_CHECK(!first->get(0, "k")->has_value());
  // A store prepares nothing once closed.
  BOOST_REQUIRE(first->close());
  BOOST_CHECK(!first->prepare(batch));
}

BOOST_AUTO_TEST_CASE(invalid_keyspace_lists_are_refused_by_every_kind) {
  temp_dir dir;
  for (auto kind : {backend_kind::memory, backend_kind::rocksdb, backend_kind::lmdb}) {
    for (std::vector<std::string> names :
         {std::vector<std::string>{"a", "a"}, std::vector<std::string>{""},
          std::vector<std::string>{"__meta"}, std::vector<std::string>{std::string{"a\0b", 3}}}) {
      backend_options opts;
      opts.path = dir.path();
      opts.keyspaces = names;
      BOOST_CHECK_EQUAL(code(make_backend(kind, opts)), "invalid_argument");
    }
  }
  BOOST_CHECK(!std::filesystem::exists(dir.path()));
}

BOOST_AUTO_TEST_SUITE_END()
