// The coordinator's decision log on its own: decisions are forgotten once every shard applied
// its part, the file is compacted, and what some shard still has to apply survives compaction
// and reopening.
#include "cli/process.hpp"
#include "telos/actors/transactions.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <sstream>

using namespace telos;
using telos::test::read_file;
using telos::test::temp_dir;
using telos::test::write_file;

namespace {

size_t lines_in(const std::string& path) {
  auto text = read_file(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::shared_ptr<decision_log> open_log(const temp_dir& dir, size_t compact_every) {
  auto log = decision_log::open(dir.path(), 3, compact_every);
  if (!log) BOOST_FAIL("cannot open the decision log: " + describe(log.error()));
  return *log;
}

} // namespace

BOOST_AUTO_TEST_SUITE(decisions)

BOOST_AUTO_TEST_CASE(applied_decisions_are_compacted_away_and_pending_ones_survive_reopening) {
  temp_dir dir;
  auto path = dir / "DECISIONS";
  std::vector<uuid> ids{uuid::random(), uuid::random(), uuid::random()};
  auto stuck = uuid::random();
  {
    auto log = open_log(dir, 4);
    // A batch over shards 0 and 2 whose shard 2 never applies (its node died after the decision).
    BOOST_REQUIRE(log->record_commit(stuck, {0, 2}, ids));
    BOOST_REQUIRE(log->record_applied(stuck, 0));
    // Many batches that every shard applied: the file is rewritten every 4 dead lines.
    for (int i = 0; i < 50; ++i) {
      auto tx = uuid::random();
      BOOST_REQUIRE(log->record_commit(tx, {0, 1}, {uuid::random()}));
      BOOST_CHECK(log->committed(tx));
      BOOST_REQUIRE(log->record_applied(tx, 1));
      BOOST_REQUIRE(log->record_applied(tx, 0));
      BOOST_CHECK(!log->committed(tx));
      BOOST_CHECK_LT(lines_in(path), 8u);
    }
    BOOST_CHECK(log->committed(stuck));
    BOOST_CHECK_EQUAL(lines_in(path), log->lines());
  }
  // Reopened (a coordinator restart): the stuck batch is still committed, with its ids and only
  // the shard that did not apply it; the file holds its one line.
  auto log = open_log(dir, 1000);
  BOOST_CHECK(log->committed(stuck));
  auto pending = log->pending();
  BOOST_REQUIRE_EQUAL(pending.size(), 1u);
  BOOST_CHECK(pending[0].tx == stuck);
  BOOST_CHECK(pending[0].shards == std::set<uint32_t>{2});
  std::set<uuid> expected(ids.begin(), ids.end());
  BOOST_CHECK(std::set<uuid>(pending[0].ids.begin(), pending[0].ids.end()) == expected);
  BOOST_CHECK_EQUAL(lines_in(path), 1u);
  // Applied at last: forgotten, and gone from the file after the next open.
  BOOST_REQUIRE(log->record_applied(stuck, 2));
  BOOST_CHECK(!log->committed(stuck));
  log.reset();
  log = open_log(dir, 1000);
  BOOST_CHECK(log->pending().empty());
  BOOST_CHECK_EQUAL(read_file(path), "");
}

BOOST_AUTO_TEST_CASE(a_torn_line_is_no_decision_and_old_lines_count_for_every_shard) {
  temp_dir dir;
  auto old_format = uuid::random();
  auto torn = uuid::random();
  // A line of the format before compaction (no shards: every shard may hold it prepared), an
  // "applied" line for shard 1, and a commit line cut short by a crash (no newline).
  write_file(dir / "DECISIONS", "commit " + old_format.to_string() + "\napplied " +
                                    old_format.to_string() + " 1\ncommit " + torn.to_string() +
                                    " 0,1 2 " + uuid::random().to_string());
  auto log = open_log(dir, 1000);
  BOOST_CHECK(log->committed(old_format));
  BOOST_CHECK(!log->committed(torn));
  auto pending = log->pending();
  BOOST_REQUIRE_EQUAL(pending.size(), 1u);
  BOOST_CHECK(pending[0].shards == (std::set<uint32_t>{0, 2}));
  BOOST_CHECK_EQUAL(log->lines(), 1u);
  // Transactions between prepare and decision are known as undecided (recovery leaves them be).
  auto inflight = uuid::random();
  log->begin(inflight);
  BOOST_CHECK(log->undecided(inflight));
  log->end(inflight);
  BOOST_CHECK(!log->undecided(inflight));
}

BOOST_AUTO_TEST_SUITE_END()
