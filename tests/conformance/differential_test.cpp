// Differential test: one long seeded random sequence of operations (puts, deletes, batches with and
// without invalid operations, point and multi reads, range and prefix scans, transactions that
// commit, roll back, are dropped or lose a conflict, stats, compaction, reopening) applied to each
// backend and to a std::map reference model. Every observable result must be identical; the same
// seed gives every backend the same sequence, so the three also agree with each other.
#include "store_fixture.hpp"

#include <random>
#include <set>
#include <sstream>

using namespace conformance;

namespace {

using value = std::optional<std::string>;
/// std::string orders as unsigned bytes (char_traits<char>::lt compares unsigned char), the order
/// the backends promise.
using model_keyspace = std::map<std::string, std::string>;
using model_store = std::vector<model_keyspace>;

/// The keyspaces the run uses; gamma_ks stays empty and undeclared_ks is only used to provoke
/// errors.
constexpr keyspace_id used_keyspaces = 2;

entries model_scan(const model_keyspace& m, const key_range& r) {
  entries out;
  auto it = !r.begin ? m.begin()
                     : (r.begin_inclusive ? m.lower_bound(*r.begin) : m.upper_bound(*r.begin));
  for (; it != m.end(); ++it) {
    if (r.end && (r.end_inclusive ? it->first > *r.end : it->first >= *r.end)) break;
    out.push_back(*it);
  }
  return out;
}

entries model_prefix(const model_keyspace& m, const std::string& prefix) {
  entries out;
  for (auto it = m.lower_bound(prefix); it != m.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(*it);
  }
  return out;
}

void model_apply(model_store& model, const write_batch& batch) {
  for (const auto& op : batch.ops()) {
    if (op.kind == write_batch::op_kind::put)
      model[op.ks][op.key] = op.value;
    else
      model[op.ks].erase(op.key);
  }
}

/// How the random keys look: the alphabet mixes 0x00, 0x01, ASCII, 0x7f/0x80 and 0xff so that
/// unsigned ordering, NUL handling and prefix-end computation are all exercised.
struct key_profile {
  std::string alphabet;
  size_t max_length;
};

class differential_run {
public:
  differential_run(store_fixture& store, uint64_t seed, key_profile profile, bool persistent)
      : s_(store), rng_(seed), profile_(std::move(profile)), persistent_(persistent),
        model_(used_keyspaces) {}

  void run(uint64_t steps) {
    for (step_ = 0; step_ < steps; ++step_) {
      auto dice = below(1000);
      if (dice < 220)
        op_put();
      else if (dice < 320)
        op_del();
      else if (dice < 340)
        op_invalid_single_write();
      else if (dice < 460)
        op_batch();
      else if (dice < 560)
        op_get();
      else if (dice < 600)
        op_contains();
      else if (dice < 650)
        op_multi_get();
      else if (dice < 730)
        op_scan();
      else if (dice < 800)
        op_prefix();
      else if (dice < 980)
        op_transaction();
      else if (dice < 995)
        op_stats();
      else if (dice < 998)
        op_compact();
      else
        op_reopen();
    }
    for (keyspace_id ks = 0; ks < used_keyspaces; ++ks)
      expect_entries(scan_all(*s_.db, ks), model_[ks],
                     "final scan of keyspace " + std::to_string(ks));
    op_stats();
  }

private:
  uint64_t below(uint64_t n) { return rng_() % n; }
  bool chance(uint64_t percent) { return below(100) < percent; }

  keyspace_id random_keyspace() { return static_cast<keyspace_id>(below(used_keyspaces)); }

  std::string random_bytes(size_t min_length) {
    std::string out;
    auto length = min_length + below(profile_.max_length - min_length + 1);
    for (size_t i = 0; i < length; ++i)
      out.push_back(profile_.alphabet[below(profile_.alphabet.size())]);
    return out;
  }

  std::string random_key() { return random_bytes(1); }

  std::string random_value() {
    if (chance(5)) return {};
    if (chance(2)) return pattern_value(2000 + below(6000), static_cast<uint32_t>(step_));
    return pattern_value(1 + below(24), static_cast<uint32_t>(step_));
  }

  /// A scan bound: absent, or 0..max_length bytes (bounds may be empty, unlike keys).
  std::optional<std::string> random_bound() {
    if (chance(25)) return std::nullopt;
    return random_bytes(0);
  }

  // -- checking
  // ----------------------------------------------------------------------------------

  std::string where(const std::string& what) const {
    std::ostringstream out;
    out << "step " << step_ << " (" << what << ") on " << telos::storage::to_string(s_.kind);
    return out.str();
  }

  template <class T>
  void expect_code(const expected<T>& result, ec code, const std::string& what) {
    BOOST_REQUIRE_MESSAGE(error_of(result) == code, where(what)
                                                        << ": expected " << telos::to_string(code)
                                                        << ", got " << error_text(result));
  }

  void expect_value(const value& actual, const value& expected, const std::string& what) {
    auto show = [](const value& v) {
      return v ? "'" + telos::printable_key(v->substr(0, 40)) + "' (" + std::to_string(v->size()) +
                     " bytes)"
               : std::string{"<absent>"};
    };
    BOOST_REQUIRE_MESSAGE(actual == expected, where(what) << ": got " << show(actual)
                                                          << ", model has " << show(expected));
  }

  void expect_entries(const entries& actual, const entries& expected, const std::string& what) {
    if (actual == expected) return;
    size_t i = 0;
    while (i < actual.size() && i < expected.size() && actual[i] == expected[i])
      ++i;
    std::ostringstream diff;
    diff << actual.size() << " entries vs " << expected.size()
         << " in the model; first difference at " << i << ": ";
    diff << (i < actual.size() ? telos::printable_key(actual[i].first) : "<end>") << " vs "
         << (i < expected.size() ? telos::printable_key(expected[i].first) : "<end>");
    BOOST_REQUIRE_MESSAGE(false, where(what) << ": " << diff.str());
  }

  void expect_entries(const entries& actual, const model_keyspace& m, const std::string& what) {
    expect_entries(actual, entries(m.begin(), m.end()), what);
  }

  value model_get(keyspace_id ks, const std::string& key) const {
    auto it = model_[ks].find(key);
    return it == model_[ks].end() ? value{} : value{it->second};
  }

  // -- operations
  // --------------------------------------------------------------------------------

  void op_put() {
    auto ks = random_keyspace();
    auto key = random_key();
    auto v = random_value();
    expect_code(s_.db->put(ks, key, v), ec::none, "put '" + telos::printable_key(key) + "'");
    model_[ks][key] = v;
  }

  void op_del() {
    auto ks = random_keyspace();
    auto key = random_key();
    expect_code(s_.db->del(ks, key), ec::none, "del '" + telos::printable_key(key) + "'");
    model_[ks].erase(key);
  }

  /// Appends one operation the store must refuse, returning the code it must refuse it with.
  ec add_invalid_op(write_batch& batch) {
    switch (below(3)) {
    case 0:
      batch.put(random_keyspace(), "", random_value());
      return ec::invalid_argument;
    case 1:
      batch.del(random_keyspace(), std::string(max_key_size + 1 + below(10), 'x'));
      return ec::invalid_argument;
    default:
      batch.put(undeclared_ks + static_cast<keyspace_id>(below(3)), random_key(), "v");
      return ec::unknown_keyspace;
    }
  }

  void op_invalid_single_write() {
    write_batch batch;
    auto code = add_invalid_op(batch);
    const auto& op = batch.ops().front();
    auto result = op.kind == write_batch::op_kind::put ? s_.db->put(op.ks, op.key, op.value)
                                                       : s_.db->del(op.ks, op.key);
    expect_code(result, code, "invalid single write");
  }

  void op_batch() {
    write_batch batch;
    auto size = 1 + below(16);
    bool poisoned = chance(10);
    auto poison_at = below(size);
    ec code = ec::none;
    for (uint64_t i = 0; i < size; ++i) {
      if (poisoned && i == poison_at) code = add_invalid_op(batch);
      if (chance(70))
        batch.put(random_keyspace(), random_key(), random_value());
      else
        batch.del(random_keyspace(), random_key());
    }
    expect_code(s_.db->write(batch), code,
                "batch of " + std::to_string(batch.size()) +
                    (poisoned ? " with an invalid op" : ""));
    if (!poisoned) model_apply(model_, batch);
  }

  void op_get() {
    auto ks = random_keyspace();
    auto key = random_key();
    auto read = s_.db->get(ks, key);
    expect_code(read, ec::none, "get");
    expect_value(*read, model_get(ks, key), "get '" + telos::printable_key(key) + "'");
  }

  void op_contains() {
    auto ks = random_keyspace();
    auto key = random_key();
    auto found = s_.db->contains(ks, key);
    expect_code(found, ec::none, "contains");
    BOOST_REQUIRE_MESSAGE(*found == model_get(ks, key).has_value(),
                          where("contains '" + telos::printable_key(key) + "'"));
  }

  void op_multi_get() {
    auto ks = random_keyspace();
    std::vector<std::string> keys(below(9));
    for (auto& key : keys)
      key = random_key();
    auto read = s_.db->multi_get(ks, keys);
    expect_code(read, ec::none, "multi_get");
    BOOST_REQUIRE(read->size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i)
      expect_value((*read)[i], model_get(ks, keys[i]),
                   "multi_get #" + std::to_string(i) + " '" + telos::printable_key(keys[i]) + "'");
  }

  void op_scan() {
    auto ks = random_keyspace();
    auto r = range(random_bound(), chance(50), random_bound(), chance(50));
    auto it = s_.db->scan(ks, r);
    expect_code(it, ec::none, "scan");
    // Sometimes stop early: the rest of the run checks that nothing broke.
    if (chance(10)) {
      auto expected = model_scan(model_[ks], r);
      if (!expected.empty()) {
        BOOST_REQUIRE_MESSAGE((*it)->valid(), where("early-dropped scan"));
        BOOST_REQUIRE_MESSAGE((*it)->key() == expected.front().first, where("early-dropped scan"));
      }
      return;
    }
    auto describe_range = "scan " + (r.begin ? telos::printable_key(*r.begin) : "-inf") +
                          (r.begin_inclusive ? " incl" : " excl") + " .. " +
                          (r.end ? telos::printable_key(*r.end) : "+inf") +
                          (r.end_inclusive ? " incl" : " excl");
    expect_entries(drain(std::move(*it)), model_scan(model_[ks], r), describe_range);
  }

  void op_prefix() {
    auto ks = random_keyspace();
    auto prefix = random_bytes(0);
    auto it = s_.db->scan_prefix(ks, prefix);
    expect_code(it, ec::none, "scan_prefix");
    expect_entries(drain(std::move(*it)), model_prefix(model_[ks], prefix),
                   "prefix '" + telos::printable_key(prefix) + "'");
  }

  void op_transaction() {
    auto begun = s_.db->begin();
    expect_code(begun, ec::none, "begin");
    auto& txn = **begun;
    auto snapshot = model_;
    /// What the transaction wrote: (keyspace, key) -> value, or absent for a delete.
    std::map<std::pair<keyspace_id, std::string>, value> writes;
    /// Keys written by plain writes after the snapshot: they make a commit writing them conflict.
    std::set<std::pair<keyspace_id, std::string>> written_since;
    auto ops = 1 + below(10);
    for (uint64_t i = 0; i < ops; ++i) {
      auto ks = random_keyspace();
      auto key = random_key();
      auto dice = below(100);
      if (dice < 40) {
        auto v = random_value();
        expect_code(txn.put(ks, key, v), ec::none, "transaction put");
        writes[{ks, key}] = v;
      } else if (dice < 60) {
        expect_code(txn.del(ks, key), ec::none, "transaction del");
        writes[{ks, key}] = std::nullopt;
      } else if (dice < 88) {
        auto read = txn.get(ks, key);
        expect_code(read, ec::none, "transaction get");
        auto own = writes.find({ks, key});
        value expected;
        if (own != writes.end()) {
          expected = own->second;
        } else {
          auto it = snapshot[ks].find(key);
          if (it != snapshot[ks].end()) expected = it->second;
        }
        expect_value(*read, expected, "transaction get '" + telos::printable_key(key) + "'");
      } else {
        // Another writer commits meanwhile; half of the time it hits a key the txn wrote.
        if (!writes.empty() && chance(50)) {
          auto victim = writes.begin();
          std::advance(victim, static_cast<long>(below(writes.size())));
          ks = victim->first.first;
          key = victim->first.second;
        }
        auto v = random_value();
        expect_code(s_.db->put(ks, key, v), ec::none, "plain put during a transaction");
        model_[ks][key] = v;
        written_since.insert({ks, key});
      }
    }
    auto ending = below(100);
    if (ending < 60) {
      bool conflict = false;
      for (const auto& w : writes)
        conflict = conflict || written_since.count(w.first) > 0;
      expect_code(txn.commit(), conflict ? ec::conflict : ec::none,
                  "commit of " + std::to_string(writes.size()) + " writes");
      if (!conflict)
        for (const auto& [target, v] : writes) {
          if (v)
            model_[target.first][target.second] = *v;
          else
            model_[target.first].erase(target.second);
        }
    } else if (ending < 85) {
      txn.rollback();
    }
    // Otherwise the transaction is dropped: the destructor rolls it back.
  }

  void op_stats() {
    auto stats = s_.db->stats();
    expect_code(stats, ec::none, "stats");
    BOOST_REQUIRE(stats->keyspaces.size() == 3u);
    for (keyspace_id ks = 0; ks < used_keyspaces; ++ks) {
      uint64_t bytes = 0;
      for (const auto& [k, v] : model_[ks])
        bytes += k.size() + v.size();
      BOOST_REQUIRE_MESSAGE(stats->keyspaces[ks].keys == model_[ks].size(),
                            where("stats keys of keyspace " + std::to_string(ks))
                                << ": " << stats->keyspaces[ks].keys << " vs "
                                << model_[ks].size());
      BOOST_REQUIRE_MESSAGE(stats->keyspaces[ks].bytes == bytes,
                            where("stats bytes of keyspace " + std::to_string(ks))
                                << ": " << stats->keyspaces[ks].bytes << " vs " << bytes);
    }
  }

  void op_compact() { expect_code(s_.db->compact(), ec::none, "compact"); }

  void op_reopen() {
    // A memory store forgets everything on reopen, so only persistent stores take part.
    if (persistent_) s_.reopen();
  }

  store_fixture& s_;
  std::mt19937_64 rng_;
  key_profile profile_;
  bool persistent_;
  model_store model_;
  uint64_t step_ = 0;
};

const std::string edge_alphabet{'\x00', '\x01', 'a', 'b', '\x7f', '\x80', '\xfe', '\xff'};

} // namespace

BOOST_AUTO_TEST_SUITE(differential)

BOOST_AUTO_TEST_CASE_TEMPLATE(random_operations_on_many_keys_match_the_model, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  differential_run run{s, 20240611, {edge_alphabet, 3}, Backend::persistent};
  run.run(12000);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(random_operations_on_few_hot_keys_match_the_model, Backend,
                              all_backends) {
  fresh_store<Backend> s;
  // Few keys: most operations overwrite, delete or conflict on keys that already exist.
  differential_run run{s, 77, {std::string{'a', '\xff'}, 2}, Backend::persistent};
  run.run(6000);
}

BOOST_AUTO_TEST_SUITE_END()
