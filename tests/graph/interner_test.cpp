// The interner: rows in the caller's batch, ids burned on failure and never reused, one id per
// string under concurrency, ids kept across restarts.
#include "graph_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <set>
#include <thread>

using namespace telos;
using namespace telos::storage;
using namespace telos::graph_test;

namespace {

term_id must_intern(graph_store& s, const std::string& text, write_batch& batch,
                    interner::staging& staged) {
  auto id = s.terms->intern(text, batch, staged);
  BOOST_REQUIRE_MESSAGE(id, why(id));
  return *id;
}

std::optional<std::string> must_lookup(const graph_store& s, term_id id) {
  auto text = s.terms->lookup(id);
  BOOST_REQUIRE_MESSAGE(text, why(text));
  return *text;
}

std::optional<term_id> must_find(const graph_store& s, const std::string& text) {
  auto id = s.terms->find(text);
  BOOST_REQUIRE_MESSAGE(id, why(id));
  return *id;
}

} // namespace

BOOST_AUTO_TEST_SUITE(interner_suite)

BOOST_AUTO_TEST_CASE(new_strings_are_rows_of_the_callers_batch_until_it_commits) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      write_batch batch;
      interner::staging staged;
      auto a = must_intern(s, "alpha", batch, staged);
      auto b = must_intern(s, "beta", batch, staged);
      BOOST_CHECK_NE(a, 0u);
      BOOST_CHECK_NE(a, b);
      // Twice in one batch: the same id and no second set of rows.
      BOOST_CHECK_EQUAL(must_intern(s, "alpha", batch, staged), a);
      BOOST_CHECK_EQUAL(batch.size(), 6u); // forward, reverse, high-water per string
      BOOST_CHECK_EQUAL(s.keys_in("intern_fwd"), 0u);
      BOOST_CHECK(!must_lookup(s, a));
      s.commit(batch, staged);
      BOOST_CHECK_EQUAL(s.keys_in("intern_fwd"), 2u);
      BOOST_CHECK_EQUAL(s.keys_in("intern_rev"), 3u); // two ids and the high-water row
      BOOST_CHECK_EQUAL(*must_lookup(s, a), "alpha");
      BOOST_CHECK_EQUAL(*must_find(s, "beta"), b);
      // Known strings add no rows and, cached, need no backend read.
      write_batch again;
      interner::staging staged_again;
      auto reads = s.terms->stats().disk_reads;
      BOOST_CHECK_EQUAL(must_intern(s, "beta", again, staged_again), b);
      BOOST_CHECK(again.empty());
      BOOST_CHECK_EQUAL(s.terms->stats().disk_reads, reads);
      // A new string costs one read when no other batch settled meanwhile.
      must_intern(s, "delta", again, staged_again);
      BOOST_CHECK_EQUAL(s.terms->stats().disk_reads, reads + 1);
      BOOST_CHECK(!must_find(s, "gamma"));
    }
  }
}

BOOST_AUTO_TEST_CASE(failed_batch_writes_nothing_and_burns_its_ids) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      write_batch batch;
      interner::staging staged;
      auto burned = must_intern(s, "lost", batch, staged);
      auto written = s.db->write(poisoned(batch));
      BOOST_REQUIRE(!written);
      s.terms->abandon(staged);
      BOOST_CHECK_EQUAL(s.keys_in("intern_fwd"), 0u);
      BOOST_CHECK_EQUAL(s.keys_in("intern_rev"), 0u);
      BOOST_CHECK(!must_find(s, "lost"));
      BOOST_CHECK_EQUAL(s.terms->stats().pending, 0u);
      write_batch retry;
      interner::staging retry_staged;
      auto fresh = must_intern(s, "lost", retry, retry_staged);
      BOOST_CHECK_GT(fresh, burned);
      s.commit(retry, retry_staged);
      BOOST_CHECK_EQUAL(*must_find(s, "lost"), fresh);
      BOOST_CHECK(!must_lookup(s, burned));
    }
  }
}

BOOST_AUTO_TEST_CASE(destroying_an_unconfirmed_staging_abandons_it) {
  auto s = graph_store::open(backend_kind::memory, "");
  {
    write_batch batch;
    interner::staging staged;
    must_intern(s, "never written", batch, staged);
    BOOST_CHECK_EQUAL(s.terms->stats().pending, 1u);
  }
  BOOST_CHECK_EQUAL(s.terms->stats().pending, 0u);
  BOOST_CHECK(!must_find(s, "never written"));
}

BOOST_AUTO_TEST_CASE(a_pending_string_is_staged_again_by_every_batch_that_uses_it) {
  auto s = graph_store::open(backend_kind::memory, "");
  write_batch first;
  interner::staging first_staged;
  write_batch second;
  interner::staging second_staged;
  auto id = must_intern(s, "shared", first, first_staged);
  BOOST_CHECK_EQUAL(must_intern(s, "shared", second, second_staged), id);
  BOOST_CHECK_EQUAL(second.size(), 3u);
  // The first batch fails; the second alone still makes the id durable.
  BOOST_REQUIRE(!s.db->write(poisoned(first)));
  s.terms->abandon(first_staged);
  BOOST_CHECK_EQUAL(*must_find(s, "shared"), id);
  s.commit(second, second_staged);
  BOOST_CHECK_EQUAL(*must_lookup(s, id), "shared");
  BOOST_CHECK_EQUAL(s.terms->stats().pending, 0u);
}

BOOST_AUTO_TEST_CASE(a_staging_serves_one_interner_only) {
  auto s1 = graph_store::open(backend_kind::memory, "");
  auto s2 = graph_store::open(backend_kind::memory, "");
  write_batch batch;
  interner::staging staged;
  must_intern(s1, "a", batch, staged);
  auto other = s2.terms->intern("b", batch, staged);
  BOOST_CHECK_EQUAL(code(other), "invalid_argument");
}

BOOST_AUTO_TEST_CASE(concurrent_writers_never_get_two_ids_for_one_string) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      // A tiny cache forces evictions, the path where a committed string is looked up again.
      interner_options small_cache;
      small_cache.cache_entries = 8;
      auto s = graph_store::open(kind, dir.path(), {}, small_cache);
      constexpr int threads = 4;
      constexpr int rounds = 60;
      std::vector<std::map<std::string, term_id>> seen(threads);
      std::vector<std::string> failures(threads);
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          for (int r = 0; r < rounds; ++r) {
            write_batch batch;
            interner::staging staged;
            std::map<std::string, term_id> used;
            // Overlapping strings: every thread interns the same ones in different orders.
            for (int k = 0; k < 5; ++k) {
              auto text = "term-" + std::to_string((r * 7 + k * (t + 1)) % 40);
              auto id = s.terms->intern(text, batch, staged);
              if (!id) {
                failures[t] = why(id);
                return;
              }
              used.emplace(text, *id);
            }
            // Every third batch fails, burning what only it assigned.
            auto written = r % 3 == 2 ? s.db->write(poisoned(batch)) : s.db->write(batch);
            if (!written) {
              s.terms->abandon(staged);
              continue;
            }
            s.terms->confirm(staged);
            for (const auto& [text, id] : used) {
              auto [it, inserted] = seen[t].emplace(text, id);
              if (!inserted && it->second != id)
                failures[t] = "committed id of " + text + " changed";
            }
          }
        });
      }
      for (auto& w : workers)
        w.join();
      for (const auto& f : failures)
        BOOST_CHECK_EQUAL(f, "");
      std::map<std::string, term_id> committed;
      for (int k = 0; k < 40; ++k) {
        auto text = "term-" + std::to_string(k);
        if (auto id = must_find(s, text)) committed.emplace(text, *id);
      }
      // Every id a committed batch used is the one on disk, whichever thread used it.
      for (const auto& per_thread : seen)
        for (const auto& [text, id] : per_thread)
          BOOST_CHECK_EQUAL(committed.at(text), id);
      // One id per string on disk, one string per id, both directions agree.
      std::set<term_id> ids;
      for (const auto& [text, id] : committed) {
        BOOST_CHECK(ids.insert(id).second);
        BOOST_CHECK_EQUAL(*must_lookup(s, id), text);
      }
      BOOST_CHECK_EQUAL(s.keys_in("intern_fwd"), committed.size());
      auto report = verify_graph(*s.terms, *s.quads, nullptr,
                                 [](const uuid&) -> expected<bool> { return true; });
      BOOST_REQUIRE(report);
      BOOST_CHECK_MESSAGE(report->ok(), first_problem(*report));
      BOOST_CHECK_EQUAL(report->terms, committed.size());
    }
  }
}

BOOST_AUTO_TEST_CASE(lookup_of_many_ids_resolves_cached_and_stored_alike) {
  interner_options no_cache;
  no_cache.cache_entries = 0;
  auto s = graph_store::open(backend_kind::memory, "", {}, no_cache);
  write_batch batch;
  interner::staging staged;
  auto a = must_intern(s, "a", batch, staged);
  auto b = must_intern(s, "b", batch, staged);
  s.commit(batch, staged);
  auto texts = s.terms->lookup(std::vector<term_id>{b, 0, a, 12345});
  BOOST_REQUIRE(texts);
  BOOST_REQUIRE_EQUAL(texts->size(), 4u);
  BOOST_CHECK_EQUAL(*(*texts)[0], "b");
  BOOST_CHECK(!(*texts)[1]);
  BOOST_CHECK_EQUAL(*(*texts)[2], "a");
  BOOST_CHECK(!(*texts)[3]);
}

BOOST_AUTO_TEST_CASE(terms_of_different_kinds_never_collide) {
  auto s = graph_store::open(backend_kind::memory, "");
  write_batch batch;
  interner::staging staged;
  auto as_type = must_intern(s, make_term(term_kind::edge_type, "x"), batch, staged);
  auto as_ns = must_intern(s, make_term(term_kind::ns, "x"), batch, staged);
  BOOST_CHECK_NE(as_type, as_ns);
  auto id = id_of(7);
  BOOST_REQUIRE(memory_of_term(make_term(id)));
  BOOST_CHECK(*memory_of_term(make_term(id)) == id);
  BOOST_CHECK(!memory_of_term(make_term(term_kind::text, std::string(16, 'm'))));
}

BOOST_AUTO_TEST_CASE(restart_keeps_ids_and_never_reassigns_them) {
  for (auto kind : persistent_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      std::map<std::string, term_id> before;
      term_id largest = 0;
      {
        auto s = graph_store::open(kind, dir.path());
        write_batch batch;
        interner::staging staged;
        for (int i = 0; i < 50; ++i) {
          auto text = "word-" + std::to_string(i);
          before[text] = must_intern(s, text, batch, staged);
        }
        s.commit(batch, staged);
        // Two batches that commit in the opposite order of their ids leave a high-water row
        // below the largest id on disk.
        write_batch early;
        interner::staging early_staged;
        write_batch late;
        interner::staging late_staged;
        before["early"] = must_intern(s, "early", early, early_staged);
        before["late"] = must_intern(s, "late", late, late_staged);
        s.commit(late, late_staged);
        s.commit(early, early_staged);
        largest = before["late"];
        BOOST_REQUIRE(s.db->close());
      }
      auto s = graph_store::open(kind, dir.path());
      for (const auto& [text, id] : before) {
        BOOST_CHECK_EQUAL(*must_find(s, text), id);
        BOOST_CHECK_EQUAL(*must_lookup(s, id), text);
      }
      write_batch batch;
      interner::staging staged;
      auto fresh = must_intern(s, "after restart", batch, staged);
      BOOST_CHECK_GT(fresh, largest);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
