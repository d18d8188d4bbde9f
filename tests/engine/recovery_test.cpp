// Persistence and recovery on RocksDB and LMDB: answers after a restart equal answers before
// (snapshot load, changelog replay, rebuild), profiles are checked, checkpoints restore, verify
// finds rows changed behind the engine's back.
#include "engine_fixtures.hpp"

#include "telos/storage/fault_injection.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace telos;
using namespace telos::test;

namespace {

store_options disk_options(const std::string& path, storage::backend_kind kind) {
  store_options opts;
  opts.path = path;
  opts.backend = kind;
  opts.profile = mixed_profile();
  opts.shards = 2;
  opts.backend_options.block_cache_mb = 8;
  opts.backend_options.write_buffer_mb = 4;
  opts.backend_options.lmdb_map_mb = 16;
  return opts;
}

/// A fixed set of queries, one per embedder, and what the store answers to them.
struct probe {
  std::vector<search_request> requests;

  explicit probe(memory_maker& maker) {
    for (const auto& spec : maker.prof().embedders) {
      search_request req;
      req.embedder = spec.name;
      req.query = maker.make_embedding(spec);
      req.k = 7;
      req.with_records = false;
      requests.push_back(req);
    }
  }

  std::vector<std::vector<hit>> answers(store& db) const {
    std::vector<std::vector<hit>> result;
    for (const auto& req : requests)
      result.push_back(require(db.search(req), "search " + req.embedder).hits);
    return result;
  }

  void check_against(const std::vector<memory>& all, store& db) const {
    for (const auto& req : requests) {
      const auto& spec = *db.profile().find(req.embedder);
      check_hits(require(db.search(req), "search").hits, reference_ranking(all, spec, req.query),
                 req.k, "after reopen: " + req.embedder);
    }
  }
};

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

void restart_gives_identical_answers(storage::backend_kind kind) {
  temp_dir dir{std::string{"restart-"} + to_string(kind)};
  memory_maker maker{mixed_profile(), 23};
  probe queries{maker};
  std::vector<memory> all;
  std::vector<std::vector<hit>> before;
  {
    auto db = open_store(disk_options(dir.path(), kind));
    for (int i = 0; i < 60; ++i)
      all.push_back(maker.make(i % 2 ? "a" : "b"));
    require(db->put_batch(all), "put_batch");
    require(db->remove(all[5].id), "remove");
    all.erase(all.begin() + 5);
    before = queries.answers(*db);
    require(db->close(), "close");
  }
  {
    auto db = open_store(disk_options(dir.path(), kind));
    BOOST_CHECK(mentions(db->recovery_report(), "snapshot"));
    BOOST_CHECK(!mentions(db->recovery_report(), "rebuilt"));
    BOOST_CHECK(queries.answers(*db) == before);
    BOOST_CHECK_EQUAL(require(db->count(), "count"), 59u);
    BOOST_CHECK_EQUAL(require(db->count("a"), "count a"), 29u); // all[5] was in "a"
    for (const auto& m : all) {
      auto got = require(db->get(m.id), "get");
      BOOST_REQUIRE(got);
      BOOST_CHECK(*got == m);
    }
    queries.check_against(all, *db);
    BOOST_CHECK(require(db->verify(), "verify").consistent);
  }
  // Without snapshots the indexes are rebuilt from the vector keyspaces: same answers.
  for (uint32_t shard = 0; shard < 2; ++shard)
    std::filesystem::remove_all(snapshot_directory(dir.path(), shard));
  {
    auto db = open_store(disk_options(dir.path(), kind));
    BOOST_CHECK(mentions(db->recovery_report(), "rebuilt"));
    BOOST_CHECK(queries.answers(*db) == before);
  }
}

/// Index snapshot files (and deltas) in shard 0's snapshot directory of the store at `root`.
size_t snapshot_files(const std::string& root) {
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator{snapshot_directory(root, 0)})
    files += entry.path().extension() == ".idx" ? 1 : 0;
  return files;
}

/// mixed_profile() with every dense embedder on policy ivf with int8 codes.
profile ivf_int8_profile() {
  auto prof = mixed_profile();
  for (auto& e : prof.embedders)
    if (e.kind == embedder_kind::dense) {
      e.index.structure = index_structure::ivf;
      e.index.quantization = quantization::int8;
    }
  return prof;
}

/// Five searches of each dense embedder of `prof` return 5 hits each, every one carrying its exact
/// f32 score against `all`.
void check_dense_searches_score_exactly(store& db, const profile& prof, memory_maker& maker,
                                        const std::vector<memory>& all) {
  for (const auto& spec : prof.embedders) {
    if (spec.kind != embedder_kind::dense) continue;
    for (int q = 0; q < 5; ++q) {
      search_request req;
      req.embedder = spec.name;
      req.query = maker.make_embedding(spec);
      req.k = 5;
      req.with_records = false;
      auto hits = require(db.search(req), "search").hits;
      auto reference = reference_ranking(all, spec, req.query);
      BOOST_REQUIRE_EQUAL(hits.size(), 5u);
      std::map<uuid, double> exact;
      for (const auto& r : reference)
        exact[r.id] = r.score;
      for (const auto& h : hits) {
        BOOST_REQUIRE(exact.count(h.id) == 1);
        BOOST_CHECK_CLOSE_FRACTION(static_cast<double>(h.score), exact[h.id] + 0.0, 1e-4);
      }
    }
  }
}

caf::actor_system_config& with_telos_types(caf::actor_system_config& cfg) {
  register_telos(cfg);
  return cfg;
}

/// The engine over the one RocksDB shard of the store at `root` (made with `opts`), spawned as
/// store::open does with `eo`, for a session that end() closes like a crash: the actors stop and
/// the backend closes without close_shard's snapshots.
struct crash_session {
  crash_session(const std::string& root, const store_options& opts, const engine_options& eo) {
    auto manifest = require(read_manifest(root), "manifest");
    BOOST_REQUIRE(manifest);
    shard_open_options so;
    so.root = root;
    so.backend = storage::backend_kind::rocksdb;
    so.backend_options = opts.backend_options;
    so.profile = manifest->profile;
    so.index_options = opts.index_options;
    so.graph = true; // as store::open does
    shards.push_back(require(open_shard(so), "open_shard"));
    actors = spawn_engine(sys, shards, manifest->profile, eo);
  }

  /// The indexes' stats once none of them saves a checkpoint or has one due (flush), so what
  /// they say does not depend on the saving threads' timing.
  std::vector<index_info> settled_stats() {
    auto fail = [](caf::error& err) { BOOST_FAIL(describe(err)); };
    for (const auto& index : actors.indexes[0])
      self->request(index, caf::infinite, atom::flush_v).receive([](atom::ok) {}, fail);
    std::vector<shard_info> infos;
    self->request(actors.coordinator, caf::infinite, atom::stats_v)
        .receive([&](std::vector<shard_info>& x) { infos = std::move(x); }, fail);
    BOOST_REQUIRE_EQUAL(infos.size(), 1u);
    return infos[0].indexes;
  }

  /// Puts `part` through the coordinator; the test fails if it is refused.
  void put(const std::vector<memory>& part) {
    self->request(actors.coordinator, caf::infinite, atom::put_v, part)
        .receive([](std::vector<uuid>&) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
  }

  /// Removes `ids` through the coordinator; the test fails if it is refused.
  void remove(const std::vector<uuid>& ids) {
    self->request(actors.coordinator, caf::infinite, atom::remove_v, ids)
        .receive([](flag_list&) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
  }

  /// After a (simulated) power cut every file operation fails, so the close's snapshot saves and
  /// its marker write fail too: then what counts is what the disk kept, not the close's answer.
  void end(bool after_power_cut = false) {
    self->request(actors.coordinator, caf::infinite, atom::close_v)
        .receive([](atom::ok) {},
                 [after_power_cut](caf::error& err) {
                   if (!after_power_cut) BOOST_FAIL(describe(err));
                 });
    actors = {};
    shards[0].backend->close();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{with_telos_types(cfg)};
  caf::scoped_actor self{sys};
  std::vector<opened_shard> shards;
  telos::engine_actors actors;
};

} // namespace

BOOST_AUTO_TEST_SUITE(engine_recovery)

BOOST_AUTO_TEST_CASE(restart_gives_identical_answers_on_rocksdb) {
  restart_gives_identical_answers(storage::backend_kind::rocksdb);
}

BOOST_AUTO_TEST_CASE(restart_gives_identical_answers_on_lmdb) {
  restart_gives_identical_answers(storage::backend_kind::lmdb);
}

BOOST_AUTO_TEST_CASE(a_session_that_only_reads_keeps_the_snapshots_and_a_write_replaces_them) {
  temp_dir dir{"read-session"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  memory_maker maker{mixed_profile(), 31};
  probe queries{maker};
  // The snapshot files of both shards, by name (each name holds a fresh token per save).
  auto snapshot_files = [&] {
    std::set<std::string> names;
    for (uint32_t shard = 0; shard < 2; ++shard)
      for (const auto& e :
           std::filesystem::directory_iterator(snapshot_directory(dir.path(), shard)))
        names.insert(e.path().string());
    return names;
  };
  std::vector<memory> all;
  std::vector<std::vector<hit>> before;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 40; ++i)
      all.push_back(maker.make("a"));
    require(db->put_batch(all), "put_batch");
    before = queries.answers(*db);
    require(db->close(), "close");
  }
  auto written = snapshot_files();
  BOOST_REQUIRE(!written.empty());
  {
    auto db = open_store(opts);
    BOOST_CHECK(queries.answers(*db) == before);
    BOOST_CHECK_EQUAL(require(db->count(), "count"), 40u);
    require(db->close(), "close");
  }
  BOOST_CHECK(snapshot_files() == written);
  {
    auto db = open_store(opts);
    BOOST_CHECK(mentions(db->recovery_report(), "snapshot"));
    BOOST_CHECK(queries.answers(*db) == before);
    all.push_back(maker.make("a"));
    require(db->put(all.back()), "put");
    require(db->close(), "close");
  }
  auto rewritten = snapshot_files();
  BOOST_CHECK(rewritten != written);
  auto db = open_store(opts);
  BOOST_CHECK(mentions(db->recovery_report(), "snapshot"));
  BOOST_CHECK(!mentions(db->recovery_report(), "rebuilt"));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 41u);
  queries.check_against(all, *db);
}

BOOST_AUTO_TEST_CASE(indexes_load_side_by_side_and_report_in_profile_order) {
  // A shard's indexes load on several threads (one per core). One damaged snapshot among them is
  // rebuilt on its own; the others load from theirs; the report still lists every index of a
  // shard in the profile's order, and the answers are those before the close.
  temp_dir dir{"parallel-load"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  memory_maker maker{mixed_profile(), 37};
  probe queries{maker};
  std::vector<memory> all;
  std::vector<std::vector<hit>> before;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 50; ++i)
      all.push_back(maker.make("a"));
    require(db->put_batch(all), "put_batch");
    before = queries.answers(*db);
    require(db->close(), "close");
  }
  const auto& embedders = mixed_profile().embedders;
  BOOST_REQUIRE_GE(embedders.size(), 3u);
  const auto& damaged = embedders[1].name;
  size_t cut = 0;
  for (const auto& e : std::filesystem::directory_iterator(snapshot_directory(dir.path(), 0))) {
    auto name = e.path().filename().string();
    if (name.rfind(damaged + "-", 0) != 0 || e.path().extension() != ".idx") continue;
    std::filesystem::resize_file(e.path(), std::filesystem::file_size(e.path()) / 2);
    ++cut;
  }
  BOOST_REQUIRE_EQUAL(cut, 1u);
  auto db = open_store(opts);
  auto report = db->recovery_report();
  std::vector<std::string> shard0;
  for (const auto& line : report)
    if (line.rfind("shard 0 index ", 0) == 0) shard0.push_back(line);
  BOOST_REQUIRE_EQUAL(shard0.size(), embedders.size());
  for (size_t j = 0; j < embedders.size(); ++j) {
    BOOST_CHECK_MESSAGE(shard0[j].rfind("shard 0 index " + embedders[j].name + ": ", 0) == 0,
                        shard0[j]);
    auto method = j == 1 ? std::string{": rebuilt"} : std::string{": snapshot"};
    BOOST_CHECK_MESSAGE(shard0[j].find(method) != std::string::npos, shard0[j]);
  }
  BOOST_CHECK(shard0[1].find("snapshot not used") != std::string::npos);
  BOOST_CHECK(queries.answers(*db) == before);
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 50u);
  queries.check_against(all, *db);
}

BOOST_AUTO_TEST_CASE(vectors_still_fresh_at_close_give_the_same_answers_after_a_restart) {
  // Dense indexes over HNSW graphs (threshold 32), closed right after a large batch, while the
  // index actors are still moving vectors into the graphs: the snapshot holds graph and fresh
  // vectors, and the reopened store must answer exactly as before the close.
  temp_dir dir{"restart-fresh"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.index_options.hnsw_threshold = 32;
  memory_maker maker{mixed_profile(), 29};
  probe queries{maker};
  std::vector<std::vector<hit>> before;
  uint64_t fresh_at_close = 0;
  {
    auto db = open_store(opts);
    std::vector<memory> batch;
    for (int i = 0; i < 1500; ++i)
      batch.push_back(maker.make("a"));
    require(db->put_batch(batch), "put_batch");
    before = queries.answers(*db);
    for (const auto& i : require(db->stats(), "stats").indexes)
      fresh_at_close += i.stats.fresh;
    require(db->close(), "close");
  }
  BOOST_TEST_MESSAGE("fresh vectors at close: " << fresh_at_close);
  auto db = open_store(opts);
  BOOST_CHECK(mentions(db->recovery_report(), "snapshot"));
  BOOST_CHECK(queries.answers(*db) == before);
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 1500u);
}

BOOST_AUTO_TEST_CASE(an_ivf_store_reopens_from_its_snapshots_with_exact_scores) {
  // Dense embedders of policy ivf (int8) above a threshold of 32: the index actors train lists
  // and file the vectors; the shard's snapshots (structure 5) load on reopen without a rebuild,
  // and every hit's score is the exact one (re-scored from the vector keyspace).
  temp_dir dir{"ivf"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  auto ivf_profile = ivf_int8_profile();
  opts.profile = ivf_profile;
  opts.index_options.hnsw_threshold = 32;
  memory_maker maker{ivf_profile, 31};
  std::vector<memory> all;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 600; ++i)
      all.push_back(maker.make("a"));
    require(db->put_batch(all), "put_batch");
    require(db->close(), "close");
  }
  auto db = open_store(opts);
  BOOST_CHECK(mentions(db->recovery_report(), "snapshot"));
  BOOST_CHECK(!mentions(db->recovery_report(), "rebuilt"));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 600u);
  check_dense_searches_score_exactly(*db, ivf_profile, maker, all);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(torn_or_corrupt_ivf_snapshots_are_rebuilt_and_the_store_answers_exactly) {
  // Shard 0's snapshot of "cos" is cut short near its end (in the lists' rows, which load in one
  // read) and one of "dot" has a byte flipped there: both indexes are rebuilt from the vector
  // keyspace, every other index loads its snapshot, and the answers carry the exact scores.
  temp_dir dir{"ivf-torn"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  auto ivf_profile = ivf_int8_profile();
  opts.profile = ivf_profile;
  opts.index_options.hnsw_threshold = 32;
  memory_maker maker{ivf_profile, 43};
  std::vector<memory> all;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 400; ++i)
      all.push_back(maker.make("a"));
    require(db->put_batch(all), "put_batch");
    require(db->close(), "close");
  }
  size_t damaged = 0;
  for (const auto& e : std::filesystem::directory_iterator(snapshot_directory(dir.path(), 0))) {
    auto name = e.path().filename().string();
    if (e.path().extension() != ".idx") continue;
    auto size = std::filesystem::file_size(e.path());
    if (name.rfind("cos-", 0) == 0) {
      std::filesystem::resize_file(e.path(), size - 30);
      ++damaged;
    } else if (name.rfind("dot-", 0) == 0) {
      std::fstream f{e.path(), std::ios::in | std::ios::out | std::ios::binary};
      f.seekg(static_cast<std::streamoff>(size - 40));
      char c = 0;
      f.read(&c, 1);
      f.seekp(static_cast<std::streamoff>(size - 40));
      c = static_cast<char>(c ^ 0x04);
      f.write(&c, 1);
      ++damaged;
    }
  }
  BOOST_REQUIRE_EQUAL(damaged, 2u);
  auto db = open_store(opts);
  for (const auto& line : db->recovery_report()) {
    BOOST_TEST_MESSAGE(line);
    if (line.rfind("shard 0 index cos: ", 0) == 0 || line.rfind("shard 0 index dot: ", 0) == 0)
      BOOST_CHECK_MESSAGE(line.find(": rebuilt") != std::string::npos, line);
    else if (line.rfind("shard ", 0) == 0 && line.find(" index ") != std::string::npos)
      BOOST_CHECK_MESSAGE(line.find(": snapshot") != std::string::npos, line);
  }
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 400u);
  check_dense_searches_score_exactly(*db, ivf_profile, maker, all);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(a_read_pool_gives_the_answers_of_reads_on_the_searching_thread) {
  // int8 dense embedders (below the HNSW threshold: a flat scan of codes, no background work, so
  // the index is the same in both opens) re-score k x 3 candidates from the vector keyspace: once
  // with each re-score read one multi_get on the searching thread, once split over a read pool
  // into parts of one key. The answers are the same, ids and exact scores.
  temp_dir dir{"read-pool"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  auto int8_profile = ivf_int8_profile();
  opts.profile = int8_profile;
  memory_maker maker{int8_profile, 43};
  std::vector<memory> all;
  for (int i = 0; i < 300; ++i)
    all.push_back(maker.make("a"));
  std::vector<search_request> requests;
  for (const auto& spec : int8_profile.embedders) {
    if (spec.kind != embedder_kind::dense) continue;
    for (size_t k : {5, 40}) {
      search_request req;
      req.embedder = spec.name;
      req.query = maker.make_embedding(spec);
      req.k = k;
      req.with_records = false;
      requests.push_back(req);
    }
  }
  auto answers = [&](store& db) {
    std::vector<std::vector<std::pair<uuid, float>>> out;
    for (const auto& req : requests) {
      out.emplace_back();
      for (const auto& h : require(db.search(req), "search").hits)
        out.back().emplace_back(h.id, h.score);
    }
    return out;
  };
  opts.read_threads = 0;
  std::vector<std::vector<std::pair<uuid, float>>> on_the_caller;
  {
    auto db = open_store(opts);
    require(db->put_batch(all), "put_batch");
    on_the_caller = answers(*db);
    require(db->close(), "close");
  }
  opts.read_threads = 3;
  opts.read_part_keys = 1;
  opts.read_split_device_bytes = 0; // split every read, from the page cache or not
  auto db = open_store(opts);
  BOOST_CHECK(answers(*db) == on_the_caller);
  // And they are the exact scores, read back from the originals.
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto& spec = *int8_profile.find(requests[r].embedder);
    std::map<uuid, double> exact;
    for (const auto& ref : reference_ranking(all, spec, requests[r].query))
      exact[ref.id] = ref.score;
    BOOST_REQUIRE_EQUAL(on_the_caller[r].size(), requests[r].k);
    for (const auto& [id, score] : on_the_caller[r]) {
      BOOST_REQUIRE(exact.count(id) == 1);
      BOOST_CHECK_CLOSE_FRACTION(static_cast<double>(score), exact[id] + 0.0, 1e-4);
    }
  }
  require(db->close(), "close");
  // Bad pool settings are refused before anything opens.
  opts.read_part_keys = 0;
  auto refused = store::open(opts);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(code_of(refused.error()) == ec::invalid_argument);
  BOOST_CHECK_NE(describe(refused.error()).find("read_part_keys"), std::string::npos);
  opts.read_part_keys = 1;
  opts.read_threads = 5000;
  refused = store::open(opts);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK_NE(describe(refused.error()).find("read_threads 5000"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_multi_vector_store_above_its_threshold_rescores_from_the_vector_keyspace) {
  // The multi-vector embedder above a threshold of 32 memories per shard: once its index actor
  // trained the token centroids and filed the memories, filed memories keep int8 codes only and
  // a search re-scores its candidates from the token matrices in the vector keyspace. Every hit's
  // score is the exact MaxSim, before and after a reopen from the snapshots (structure 6).
  temp_dir dir{"maxsim"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.index_options.maxsim_threshold = 32;
  const auto prof = mixed_profile();
  memory_maker maker{prof, 37};
  const embedder spec = *prof.find("multi");
  std::vector<memory> all;
  auto check_exact_scores = [&](store& db, const std::string& when) {
    for (int q = 0; q < 8; ++q) {
      search_request req;
      req.embedder = spec.name;
      req.query = maker.make_embedding(spec);
      req.k = 5;
      req.with_records = false;
      auto hits = require(db.search(req), "search").hits;
      BOOST_REQUIRE_EQUAL(hits.size(), 5u);
      std::map<uuid, double> exact;
      for (const auto& r : reference_ranking(all, spec, req.query))
        exact[r.id] = r.score;
      for (const auto& h : hits) {
        BOOST_REQUIRE(exact.count(h.id) == 1);
        BOOST_CHECK_MESSAGE(std::abs(h.score - exact[h.id]) < 1e-4,
                            when << ": score " << h.score << " against " << exact[h.id]);
      }
    }
    for (const auto& report : require(db.stats(), "stats").indexes)
      if (report.embedder == spec.name)
        BOOST_TEST_MESSAGE(when << ": shard " << report.shard << " " << report.stats.structure
                                << ", " << report.stats.fresh << " fresh, "
                                << report.stats.memory_bytes << " bytes");
  };
  {
    auto db = open_store(opts);
    for (int i = 0; i < 600; ++i)
      all.push_back(maker.make("a"));
    require(db->put_batch(all), "put_batch");
    check_exact_scores(*db, "before close");
    require(db->close(), "close");
  }
  auto db = open_store(opts);
  BOOST_CHECK(mentions(db->recovery_report(), "snapshot"));
  BOOST_CHECK(!mentions(db->recovery_report(), "rebuilt"));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 600u);
  check_exact_scores(*db, "after reopen");
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(snapshot_plus_changelog_replay_after_a_crash) {
  temp_dir dir{"replay"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.shards = 1;
  memory_maker maker{mixed_profile(), 29};
  probe queries{maker};
  std::vector<memory> all;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 40; ++i)
      all.push_back(maker.make());
    require(db->put_batch(all), "put_batch");
    require(db->close(), "close"); // snapshots at this sequence
  }
  {
    // A session that ends like a crash: the actors stop, but no snapshot is taken, so the
    // changelog written meanwhile is all the next open has.
    auto manifest = require(read_manifest(dir.path()), "manifest");
    BOOST_REQUIRE(manifest);
    shard_open_options so;
    so.root = dir.path();
    so.backend = storage::backend_kind::rocksdb;
    so.backend_options = opts.backend_options;
    so.profile = manifest->profile;
    so.graph = true; // as store::open does
    auto shard = require(open_shard(so), "open_shard");
    caf::actor_system_config cfg;
    register_telos(cfg);
    caf::actor_system sys{cfg};
    std::vector<opened_shard> shards;
    shards.push_back(std::move(shard));
    auto actors = spawn_engine(sys, shards, manifest->profile, {});
    caf::scoped_actor self{sys};
    std::vector<memory> more;
    for (int i = 0; i < 25; ++i)
      more.push_back(maker.make());
    self->request(actors.coordinator, caf::infinite, atom::put_v, more)
        .receive([](std::vector<uuid>&) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
    all.insert(all.end(), more.begin(), more.end());
    std::vector<uuid> gone{all[0].id, all[45].id};
    self->request(actors.coordinator, caf::infinite, atom::remove_v, gone)
        .receive([](flag_list&) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
    all.erase(all.begin() + 45);
    all.erase(all.begin());
    auto replaced = maker.make();
    replaced.id = all[3].id;
    self->request(actors.coordinator, caf::infinite, atom::update_v, replaced)
        .receive([](atom::ok) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
    all[3] = replaced;
    self->request(actors.coordinator, caf::infinite, atom::close_v)
        .receive([](atom::ok) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
    actors = {};
    shards[0].backend->close();
  }
  // The replay reads the changed ids' vectors through the read pool, here split into parts of
  // one key each (as it splits them when the reads come from the device).
  opts.read_threads = 3;
  opts.read_part_keys = 1;
  opts.read_split_device_bytes = 0;
  auto db = open_store(opts);
  auto report = db->recovery_report();
  BOOST_CHECK(mentions(report, "snapshot"));
  BOOST_CHECK(mentions(report, "27 ids replayed"));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), all.size());
  queries.check_against(all, *db);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(checkpoints_while_running_bound_what_a_crash_replays) {
  temp_dir dir{"checkpoints"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.shards = 1;
  memory_maker maker{mixed_profile(), 31};
  probe queries{maker};
  { open_store(opts); } // creates the store; nothing to snapshot yet
  constexpr size_t every = 40, batch = 10, batches = 20;
  const size_t embedders = mixed_profile().embedders.size();
  std::vector<memory> all;
  {
    // A session that checkpoints every 40 changed vectors per index and then ends like a crash.
    engine_options eo;
    eo.checkpoint_every = every;
    crash_session session{dir.path(), opts, eo};
    auto& self = session.self;
    auto& actors = session.actors;
    for (size_t b = 0; b < batches; ++b) {
      std::vector<memory> part;
      for (size_t i = 0; i < batch; ++i)
        part.push_back(maker.make());
      session.put(part);
      all.insert(all.end(), part.begin(), part.end());
      // A checkpoint is saved on a thread of its own, and changes acknowledged meanwhile count
      // toward the next one: how many saves 200 changes make would depend on how long each save
      // takes. A flush answers once none is saved or due, so each batch's checkpoint is saved
      // before the next batch and the count below is the same on any machine.
      session.settled_stats();
    }
    std::vector<uuid> gone{all[5].id, all[150].id};
    self->request(actors.coordinator, caf::infinite, atom::remove_v, gone)
        .receive([](flag_list&) {}, [](caf::error& err) { BOOST_FAIL(describe(err)); });
    all.erase(all.begin() + 150);
    all.erase(all.begin() + 5);
    auto indexes = session.settled_stats();
    BOOST_REQUIRE_EQUAL(indexes.size(), embedders);
    uint64_t oldest = UINT64_MAX;
    for (const auto& ix : indexes) {
      BOOST_TEST_CONTEXT(ix.embedder) {
        // 200 upserts and 2 removes: at least 4 checkpoints of 40 each, the first one earlier.
        BOOST_CHECK_GE(ix.checkpoints, 4u);
        BOOST_CHECK(ix.checkpoint_error.empty());
        BOOST_CHECK_GT(ix.snapshot_sequence, 0u);
        BOOST_CHECK_LE(ix.snapshot_sequence, ix.sequence);
        oldest = std::min(oldest, ix.snapshot_sequence);
      }
    }
    // The changelog keeps only what some snapshot does not cover.
    auto& shard = session.shards[0];
    auto it =
        require(shard.backend->scan(shard.layout.changelog(), storage::key_range::all()), "scan");
    BOOST_REQUIRE(it->valid());
    BOOST_CHECK_GT(require(storage::decode_changelog_key(it->key()), "key"), oldest);
    it.reset();
    // One snapshot file per index (and the dense graphs beside theirs): replaced ones are gone.
    BOOST_CHECK_EQUAL(snapshot_files(dir.path()), embedders);
    session.end();
  }
  auto db = open_store(opts);
  auto recovered = db->recovered();
  BOOST_CHECK_EQUAL(recovered.from_snapshot, embedders);
  BOOST_CHECK_EQUAL(recovered.rebuilt, 0u);
  // The open's parts are timed, each within the load they ran beside.
  BOOST_CHECK_GT(recovered.catalog_seconds, 0.0);
  BOOST_CHECK_LE(recovered.catalog_seconds, recovered.load_seconds);
  BOOST_CHECK_LE(recovered.table_files_seconds, recovered.load_seconds);
  // Each index replays at most what changed after its last checkpoint (< every, plus the batch
  // that crossed it), not the 202 changes of the session.
  BOOST_CHECK_LE(recovered.replayed, embedders * (every + batch));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), all.size());
  queries.check_against(all, *db);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(a_power_cut_after_checkpoints_keeps_every_write_they_cover) {
  // A checkpoint's marker is written plainly and RocksDB's log synced after it, beside the
  // shard's writes (snapshot_book::checkpoint): after a power cut the marker must come back with
  // every commit it covers, and the snapshot file it names with it.
  temp_dir dir{"power-cut"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.shards = 1;
  memory_maker maker{mixed_profile(), 43};
  probe queries{maker};
  { open_store(opts); } // created before the injector: the cut below hits the session only
  auto injector = std::make_shared<storage::fault_injector>(5);
  storage::install_fault_injector(injector);
  struct uninstall {
    ~uninstall() { storage::install_fault_injector(nullptr); }
  } uninstall_at_end;
  // Each batch makes a checkpoint of every index due; a flush answers once it is saved.
  constexpr size_t batch = 10, batches = 6;
  const size_t embedders = mixed_profile().embedders.size();
  std::vector<memory> all;
  {
    engine_options eo;
    eo.checkpoint_every = batch;
    crash_session session{dir.path(), opts, eo};
    for (size_t b = 0; b < batches; ++b) {
      std::vector<memory> part;
      for (size_t i = 0; i < batch; ++i)
        part.push_back(maker.make());
      session.put(part);
      all.insert(all.end(), part.begin(), part.end());
      session.settled_stats();
    }
    for (const auto& ix : session.settled_stats()) {
      BOOST_TEST_CONTEXT(ix.embedder) {
        BOOST_CHECK(ix.checkpoint_error.empty());
        BOOST_CHECK_GE(ix.checkpoints, batches);
        // Every write is covered by the index's last checkpoint: none was synced otherwise.
        BOOST_CHECK_EQUAL(ix.snapshot_sequence, ix.sequence);
      }
    }
    injector->cut_power();
    session.end(true);
  }
  require(injector->drop_unsynced(), "drop what was never synced");
  storage::install_fault_injector(nullptr);
  auto db = open_store(opts);
  auto recovered = db->recovered();
  BOOST_CHECK_EQUAL(recovered.from_snapshot, embedders);
  BOOST_CHECK_EQUAL(recovered.rebuilt, 0u);
  BOOST_CHECK_EQUAL(require(db->count(), "count"), all.size());
  queries.check_against(all, *db);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(a_kill_just_before_a_checkpoint_loses_nothing_and_answers_exactly) {
  // The restart's worst point (telos-bench scale --kill-before-checkpoint): a session ends like a
  // kill -9 once the index with the most changes since its last checkpoint holds 90% of its
  // interval, the most a restart replays. Every acknowledged write is there after the reopen, and
  // the store answers as one that never stopped.
  temp_dir dir{"worst-point"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.shards = 1;
  memory_maker maker{mixed_profile(), 41};
  probe queries{maker};
  std::vector<memory> all;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 60; ++i)
      all.push_back(maker.make());
    require(db->put_batch(all), "put_batch");
    require(db->close(), "close"); // snapshots at this sequence
  }
  // With fraction 1 and 60 vectors or more, every index checkpoints after `every` changes.
  constexpr uint64_t every = 40;
  const size_t embedders = mixed_profile().embedders.size();
  std::vector<index_info> at_kill;
  {
    engine_options eo;
    eo.checkpoint_every = every;
    eo.checkpoint_fraction = 1.0;
    crash_session session{dir.path(), opts, eo};
    auto& self = session.self;
    auto& actors = session.actors;
    auto fail = [](caf::error& err) { BOOST_FAIL(describe(err)); };
    // One change per step: a new memory, and once each a removal and a replacement, so the replay
    // re-reads all three kinds. The kill comes once every index checkpointed in this session and
    // one of them is at 90% of its interval again.
    bool worst = false;
    for (int step = 0; step < 400 && !worst; ++step) {
      if (step == 10) {
        self->request(actors.coordinator, caf::infinite, atom::remove_v,
                      std::vector<uuid>{all[3].id})
            .receive([](flag_list&) {}, fail);
        all.erase(all.begin() + 3);
      } else if (step == 12) {
        auto replaced = maker.make();
        replaced.id = all[7].id;
        self->request(actors.coordinator, caf::infinite, atom::update_v, replaced)
            .receive([](atom::ok) {}, fail);
        all[7] = replaced;
      } else {
        std::vector<memory> one{maker.make()};
        self->request(actors.coordinator, caf::infinite, atom::put_v, one)
            .receive([](std::vector<uuid>&) {}, fail);
        all.push_back(one.front());
      }
      auto infos = session.settled_stats();
      BOOST_REQUIRE_EQUAL(infos.size(), embedders);
      bool every_index_checkpointed = true;
      for (const auto& ix : infos) {
        BOOST_REQUIRE_EQUAL(ix.checkpoint_interval, every);
        BOOST_REQUIRE(ix.checkpoint_error.empty());
        every_index_checkpointed = every_index_checkpointed && ix.checkpoints > 0;
      }
      if (!every_index_checkpointed) continue;
      for (const auto& ix : infos)
        worst = worst || ix.changes_since_checkpoint * 10 >= ix.checkpoint_interval * 9;
      if (worst) at_kill = infos;
    }
    BOOST_REQUIRE(worst);
    session.end(); // like a kill
  }
  uint64_t most = 0, changes = 0;
  for (const auto& ix : at_kill) {
    most = std::max(most, ix.changes_since_checkpoint);
    changes += ix.changes_since_checkpoint;
  }
  BOOST_CHECK_GE(most * 10, every * 9);
  auto db = open_store(opts);
  auto recovered = db->recovered();
  BOOST_CHECK_EQUAL(recovered.from_snapshot, embedders);
  BOOST_CHECK_EQUAL(recovered.rebuilt, 0u);
  // Each index replays the ids changed after its last checkpoint: the worst one all its changes
  // (each id once there), none more than it counted.
  BOOST_CHECK_GE(recovered.max_replayed, most);
  BOOST_CHECK_LE(recovered.replayed, changes);
  BOOST_REQUIRE_EQUAL(recovered.indexes.size(), embedders);
  for (const auto& ix : recovered.indexes)
    BOOST_CHECK_EQUAL(ix.method, "snapshot");
  // Nothing acknowledged is lost, nothing removed is back, the replaced memory is the new one.
  BOOST_CHECK_EQUAL(require(db->count(), "count"), all.size());
  for (const auto& m : all) {
    auto got = require(db->get(m.id), "get");
    BOOST_REQUIRE(got);
    BOOST_CHECK(*got == m);
  }
  queries.check_against(all, *db);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
  // The same answers as a store that held the same memories and never stopped.
  temp_dir other{"worst-point-uninterrupted"};
  auto other_opts = disk_options(other.path(), storage::backend_kind::rocksdb);
  other_opts.shards = 1;
  auto uninterrupted = open_store(other_opts);
  require(uninterrupted->put_batch(all), "put_batch");
  BOOST_CHECK(queries.answers(*db) == queries.answers(*uninterrupted));
}

BOOST_AUTO_TEST_CASE(ivf_checkpoints_write_deltas_that_a_crashed_store_reopens_from) {
  // A store of ivf indexes closed once (whole snapshots: the bases), then a session that adds,
  // replaces and removes memories and checkpoints every 40 changes: each dense index's
  // checkpoints are deltas over its base (the marker names both, two files; the base's rows
  // removed or replaced are named in the delta), the other indexes' whole snapshots. The session
  // ends like a kill; the reopen loads bases and deltas, replays the rest, loses nothing, holds
  // nothing removed and scores exactly. Its close writes deltas over the same bases again.
  temp_dir dir{"deltas"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.shards = 1;
  auto prof = ivf_int8_profile();
  opts.profile = prof;
  opts.index_options.hnsw_threshold = 32;
  memory_maker maker{prof, 47};
  std::vector<memory> all;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 300; ++i)
      all.push_back(maker.make());
    require(db->put_batch(all), "put_batch");
    require(db->close(), "close");
  }
  const size_t embedders = prof.embedders.size();
  auto is_ivf = [&](size_t j) { return prof.embedders[j].index.structure == index_structure::ivf; };
  {
    engine_options eo;
    eo.checkpoint_every = 40;
    crash_session session{dir.path(), opts, eo};
    for (int b = 0; b < 12; ++b) {
      std::vector<memory> part;
      for (int i = 0; i < 10; ++i)
        part.push_back(maker.make());
      // A memory of the base replaced (new embeddings under its id), another removed.
      auto replacement = maker.make();
      replacement.id = all[static_cast<size_t>(2 * b)].id;
      part.push_back(replacement);
      session.put(part);
      all[static_cast<size_t>(2 * b)] = replacement;
      part.pop_back();
      all.insert(all.end(), part.begin(), part.end());
      const auto gone = all.begin() + 100 + b; // not replaced, not removed yet
      session.remove({gone->id});
      all.erase(gone);
      session.settled_stats();
    }
    for (const auto& ix : session.settled_stats()) {
      BOOST_TEST_CONTEXT(ix.embedder) {
        BOOST_CHECK_GE(ix.checkpoints, 2u);
        BOOST_CHECK(ix.checkpoint_error.empty());
      }
    }
    size_t deltas = 0;
    for (size_t j = 0; j < embedders; ++j) {
      auto marker = session.shards[0].snapshots->marker(j);
      BOOST_REQUIRE(marker);
      BOOST_TEST_CONTEXT(prof.embedders[j].name) {
        BOOST_CHECK_EQUAL(marker->has_delta(), is_ivf(j));
      }
      deltas += marker->has_delta() ? 1 : 0;
    }
    BOOST_CHECK_GT(deltas, 0u);
    BOOST_CHECK_EQUAL(snapshot_files(dir.path()), embedders + deltas); // replaced deltas are gone
    session.end();                                                     // like a kill
  }
  {
    auto db = open_store(opts);
    auto recovered = db->recovered();
    BOOST_CHECK_EQUAL(recovered.from_snapshot, embedders);
    BOOST_CHECK_EQUAL(recovered.rebuilt, 0u);
    BOOST_CHECK_EQUAL(require(db->count(), "count"), all.size());
    for (const auto& m : all) {
      auto got = require(db->get(m.id), "get");
      BOOST_REQUIRE(got);
      BOOST_CHECK(*got == m);
    }
    check_dense_searches_score_exactly(*db, prof, maker, all);
    BOOST_CHECK(require(db->verify(), "verify").consistent);
    // Removals are in deltas too: the close writes deltas over the same bases.
    require(db->remove(all[4].id), "remove");
    all.erase(all.begin() + 4);
    require(db->close(), "close");
  }
  size_t ivf_indexes = 0;
  for (size_t j = 0; j < embedders; ++j)
    ivf_indexes += is_ivf(j) ? 1 : 0;
  BOOST_CHECK_EQUAL(snapshot_files(dir.path()), embedders + ivf_indexes);
  auto db = open_store(opts);
  BOOST_CHECK_EQUAL(db->recovered().rebuilt, 0u);
  BOOST_CHECK_EQUAL(require(db->count(), "count"), all.size());
  check_dense_searches_score_exactly(*db, prof, maker, all);
}

BOOST_AUTO_TEST_CASE(opening_with_another_profile_names_both) {
  temp_dir dir{"profile"};
  auto opts = disk_options(dir.path(), storage::backend_kind::lmdb);
  BOOST_CHECK(!require(store::inspect(dir.path()), "inspect before"));
  { open_store(opts); }
  auto described = require(store::inspect(dir.path()), "inspect");
  BOOST_REQUIRE(described);
  BOOST_CHECK(described->backend == storage::backend_kind::lmdb);
  BOOST_CHECK(described->profile == mixed_profile());
  BOOST_CHECK_EQUAL(described->shards, 2u);
  auto other = opts;
  other.profile->embedders[0].dim = 9;
  auto result = store::open(other);
  BOOST_REQUIRE(!result);
  BOOST_CHECK(code_of(result.error()) == ec::format_mismatch);
  auto text = describe(result.error());
  BOOST_CHECK_NE(text.find("cos dense 8"), std::string::npos);
  BOOST_CHECK_NE(text.find("cos dense 9"), std::string::npos);
  // Without a profile the stored one is used.
  auto keep = opts;
  keep.profile.reset();
  auto db = open_store(keep);
  BOOST_CHECK(db->profile() == mixed_profile());
}

BOOST_AUTO_TEST_CASE(checkpoint_then_restore_gives_identical_answers) {
  temp_dir dir{"checkpoint"};
  auto opts = disk_options(dir.sub("live"), storage::backend_kind::rocksdb);
  memory_maker maker{mixed_profile(), 31};
  probe queries{maker};
  std::vector<std::vector<hit>> at_checkpoint;
  {
    auto db = open_store(opts);
    std::vector<memory> all;
    for (int i = 0; i < 50; ++i)
      all.push_back(maker.make());
    require(db->put_batch(all), "put_batch");
    at_checkpoint = queries.answers(*db);
    require(db->checkpoint(dir.sub("copy")), "checkpoint");
    auto again = db->checkpoint(dir.sub("copy"));
    BOOST_REQUIRE(!again);
    BOOST_CHECK(code_of(again.error()) == ec::already_exists);
    // Changes after the checkpoint are not in it.
    std::vector<memory> later;
    for (int i = 0; i < 10; ++i)
      later.push_back(maker.make());
    require(db->put_batch(later), "later");
    require(db->remove(all[0].id), "remove");
  }
  auto target = opts;
  target.path = dir.sub("restored");
  auto db = require(store::restore(dir.sub("copy"), target), "restore");
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 50u);
  BOOST_CHECK(queries.answers(*db) == at_checkpoint);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(verify_detects_rows_changed_behind_the_engine) {
  temp_dir dir{"verify"};
  auto opts = disk_options(dir.path(), storage::backend_kind::rocksdb);
  opts.shards = 1;
  memory_maker maker{mixed_profile(), 37};
  std::vector<memory> all;
  {
    auto db = open_store(opts);
    for (int i = 0; i < 20; ++i)
      all.push_back(maker.make("n"));
    require(db->put_batch(all), "put_batch");
  }
  {
    // Change rows directly: one namespace row and one vector row deleted, one record corrupted.
    auto layout = require(storage::shard_layout::make(mixed_profile()), "layout");
    auto bopts = opts.backend_options;
    bopts.path = backend_directory(dir.path(), 0);
    bopts.keyspaces = layout.keyspaces();
    bopts.create_if_missing = false;
    auto db = require(storage::make_backend(storage::backend_kind::rocksdb, bopts), "backend");
    require(db->del(layout.namespaces(), storage::namespace_key("n", all[1].id)), "del ns row");
    require(db->del(layout.vectors(2), all[2].id.view()), "del vector row");
    require(db->put(layout.records(), all[3].id.view(), "not an envelope"), "corrupt record");
    require(db->close(), "close backend");
  }
  auto db = open_store(opts);
  BOOST_CHECK(mentions(db->recovery_report(), "skipped at open"));
  auto report = require(db->verify(), "verify");
  BOOST_CHECK(!report.consistent);
  BOOST_CHECK_EQUAL(report.records_checked, 20u);
  BOOST_CHECK(mentions(report.problems, all[1].id.to_string() + " has no namespace row"));
  BOOST_CHECK(mentions(report.problems, all[2].id.to_string() + " lacks its vector for l2"));
  BOOST_CHECK(mentions(report.problems, "memory " + all[3].id.to_string()));
  BOOST_CHECK(mentions(report.problems, "index l2"));
  auto repaired = require(db->verify(true), "repair");
  BOOST_CHECK_GT(repaired.repaired, 0u);
  auto after = require(db->verify(), "verify after repair");
  BOOST_CHECK_MESSAGE(after.consistent,
                      "left: " << (after.problems.empty() ? std::string{} : after.problems[0]));
  // The namespace row is back; the memories that could not be served whole are gone.
  BOOST_CHECK_EQUAL(require(db->count("n"), "count"), 18u);
  BOOST_CHECK_EQUAL(require(db->list("n", 100), "list").items.size(), 18u);
  BOOST_CHECK(require(db->get(all[1].id), "get repaired"));
  BOOST_CHECK(!require(db->get(all[2].id), "get removed"));
}

BOOST_AUTO_TEST_CASE(concurrent_readers_see_old_or_new_never_a_mix) {
  auto opts = store_options{};
  opts.backend = storage::backend_kind::memory;
  opts.profile = mixed_profile();
  auto db = open_store(opts);
  memory_maker maker{mixed_profile(), 41};
  auto versioned = [&](int version) {
    auto m = maker.make();
    m.content = "version " + std::to_string(version);
    for (auto& [name, e] : m.embeddings)
      e.values[0] = static_cast<float>(version);
    return m;
  };
  auto first = versioned(1);
  require(db->put(first), "put");
  std::atomic<bool> done{false};
  std::atomic<int> mixed{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&] {
      while (!done) {
        auto got = db->get(first.id);
        if (!got || !*got) {
          ++mixed;
          continue;
        }
        const auto& m = **got;
        auto version = std::to_string(static_cast<int>(m.embeddings.at("cos").values[0]));
        for (const auto& [name, e] : m.embeddings)
          if (std::to_string(static_cast<int>(e.values[0])) != version) ++mixed;
        if (m.content != "version " + version) ++mixed;
        ++reads;
      }
    });
  for (int v = 2; v <= 150; ++v) {
    auto m = versioned(v);
    m.id = first.id;
    require(db->put(m), "replace");
  }
  done = true;
  for (auto& t : readers)
    t.join();
  BOOST_CHECK_EQUAL(mixed.load(), 0);
  BOOST_CHECK_GT(reads.load(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
