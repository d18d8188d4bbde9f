// The graph inside the engine: index and interner rows in the memory's batch, edges removed with
// their memory, interner ids across restarts, filtered list/count/search against brute force,
// edges and quads through the facade on one and several shards, verify over the graph rows.
#include "engine_fixtures.hpp"

#include "telos/actors/backend_actor.hpp"
#include "telos/shard/write_group.hpp"

#include <algorithm>
#include <set>

using namespace telos;
using namespace telos::test;

namespace {

store_options graph_options_for(uint32_t shards,
                                storage::backend_kind kind = storage::backend_kind::memory,
                                const std::string& path = {}) {
  store_options opts;
  opts.backend = kind;
  if (!path.empty()) opts.path = path;
  opts.profile = mixed_profile();
  opts.shards = shards;
  storage::graph_options g;
  g.indexed_attributes = {"color"};
  g.time_bucket_ms = 100;
  opts.graph = g;
  return opts;
}

size_t rows_in(const storage::backend& db, const storage::shard_layout& layout,
               const std::string& keyspace) {
  auto ks = require(layout.keyspace(keyspace), keyspace);
  auto it = require(db.scan_prefix(ks, {}), "scan " + keyspace);
  size_t n = 0;
  for (; it->valid(); it->next())
    ++n;
  return n;
}

edge_data make_edge(const uuid& a, const std::string& type, const uuid& b, double w = 1.0) {
  edge_data e;
  e.source = a;
  e.type = type;
  e.target = b;
  e.weight = w;
  return e;
}

std::set<std::tuple<uuid, std::string, uuid>> edge_set(const std::vector<edge_data>& edges) {
  std::set<std::tuple<uuid, std::string, uuid>> s;
  for (const auto& e : edges)
    s.emplace(e.source, e.type, e.target);
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(engine_graph)

BOOST_AUTO_TEST_CASE(memory_edges_and_index_rows_share_a_batch_and_a_rejected_write_leaves_none) {
  shard_open_options so;
  so.backend = storage::backend_kind::memory;
  so.profile = mixed_profile();
  so.graph = true;
  so.graph_options = storage::graph_options{{"color"}, 100};
  auto shard = require(open_shard(so), "open_shard");
  BOOST_REQUIRE(shard.graph);
  memory_maker maker{mixed_profile()};
  auto a = maker.make("default", 1000);
  auto b = maker.make("default", 1050);
  auto c = maker.make("default", 1200);
  std::vector<shard_write> requests(2);
  requests[0].puts = {a, b};
  requests[0].graph.edge_puts = {make_edge(a.id, "cites", b.id, 0.5)};
  // The second request adds c and an edge to a memory that does not exist: rejected alone.
  requests[1].puts = {c};
  requests[1].graph.edge_puts = {make_edge(c.id, "cites", uuid::random())};
  std::map<uuid, memory> previous;
  write_group_context ctx;
  ctx.layout = &shard.layout;
  ctx.catalog = shard.catalog.get();
  ctx.sequence = 1;
  ctx.now_ms = 5000;
  ctx.previous = &previous;
  ctx.graph = shard.graph.get();
  auto g = build_write_group(ctx, requests);
  BOOST_CHECK(!g.outcomes[0].error);
  BOOST_CHECK(g.outcomes[1].error);
  BOOST_CHECK(code_of(g.outcomes[1].error) == ec::not_found);
  require(shard.backend->write(g.batch, {}), "write");
  shard.graph->settle(true);
  shard.catalog->apply(g.changes);
  const auto& db = *shard.backend;
  // Two memories: two time rows, two color rows; one edge: four quad rows; nothing of c.
  BOOST_CHECK_EQUAL(rows_in(db, shard.layout, "records"), 2u);
  BOOST_CHECK_EQUAL(rows_in(db, shard.layout, "idx_time"), 2u);
  BOOST_CHECK_EQUAL(rows_in(db, shard.layout, "idx_attr"), 2u);
  for (auto name : {"quad_spoc", "quad_pocs", "quad_ocsp", "quad_cspo"})
    BOOST_CHECK_EQUAL(rows_in(db, shard.layout, name), 1u);
  BOOST_CHECK(!require(shard.graph->terms().find(storage::make_term(c.id)), "find c"));
  auto out =
      require(read_neighbours(*shard.graph, neighbour_request{a.id, edge_dir::out, {}, {}, 10}),
              "neighbours");
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK(out[0].target == b.id);
  BOOST_CHECK_EQUAL(out[0].weight, 0.5);
  auto report = require(shard.graph->verify([&](const uuid& id) -> expected<bool> {
    return shard.catalog->contains(id);
  }),
                        "verify");
  BOOST_CHECK(report.ok());
  require(close_shard(shard), "close");
}

BOOST_AUTO_TEST_CASE(an_invalid_memory_in_a_batch_stores_no_index_row) {
  auto db = open_store(graph_options_for(1));
  memory_maker maker{mixed_profile()};
  std::vector<memory> batch{maker.make(), maker.make()};
  batch[1].embeddings.begin()->second.values.clear(); // wrong dimension
  BOOST_CHECK(!db->put_batch(batch));
  BOOST_CHECK_EQUAL(require(db->count(), "count"), 0u);
  filter red;
  red.where.push_back({"color", {"red", "green", "blue"}});
  BOOST_CHECK_EQUAL(require(db->count_matching(red), "count where"), 0u);
  // The verifier reports any index row without its memory.
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(removing_a_memory_removes_its_edges_in_both_directions) {
  for (uint32_t shards : {1u, 3u}) {
    BOOST_TEST_CONTEXT("shards " << shards) {
      auto db = open_store(graph_options_for(shards));
      memory_maker maker{mixed_profile()};
      auto a = maker.make(), b = maker.make(), c = maker.make();
      require(db->put_batch({a, b, c}), "put");
      require(db->edge_add({make_edge(a.id, "cites", b.id), make_edge(c.id, "cites", a.id),
                            make_edge(b.id, "links", c.id), make_edge(a.id, "self", a.id)}),
              "edge add");
      auto both = require(db->neighbours({a.id, edge_dir::both, {}, {}, 100}), "a both");
      BOOST_CHECK_EQUAL(both.size(), 4u); // self-loop once out, once in
      BOOST_CHECK(require(db->remove(a.id), "remove a"));
      auto at_b = require(db->neighbours({b.id, edge_dir::both, {}, {}, 100}), "b both");
      auto at_c = require(db->neighbours({c.id, edge_dir::both, {}, {}, 100}), "c both");
      std::set<std::tuple<uuid, std::string, uuid>> only{{b.id, "links", c.id}};
      BOOST_CHECK(edge_set(at_b) == only);
      BOOST_CHECK(edge_set(at_c) == only);
      BOOST_CHECK(require(db->neighbours({a.id, edge_dir::both, {}, {}, 100}), "a").empty());
      auto report = require(db->verify(), "verify");
      BOOST_CHECK_MESSAGE(report.consistent,
                          (report.problems.empty() ? std::string{} : report.problems[0]));
      // An edge to a removed memory is refused.
      auto refused = db->edge_add(make_edge(b.id, "cites", a.id));
      BOOST_REQUIRE(!refused);
      BOOST_CHECK(code_of(refused.error()) == ec::not_found);
    }
  }
}

BOOST_AUTO_TEST_CASE(edge_remove_and_replace_and_bad_edges) {
  auto db = open_store(graph_options_for(2));
  memory_maker maker{mixed_profile()};
  auto a = maker.make(), b = maker.make();
  require(db->put_batch({a, b}), "put");
  require(db->edge_add(make_edge(a.id, "cites", b.id, 1.0)), "add");
  require(db->edge_add(make_edge(a.id, "cites", b.id, 2.5)), "replace");
  auto in = require(db->neighbours({b.id, edge_dir::in, {}, {}, 100}), "in");
  BOOST_REQUIRE_EQUAL(in.size(), 1u);
  BOOST_CHECK_EQUAL(in[0].weight, 2.5);
  BOOST_CHECK(require(db->edge_remove(make_edge(a.id, "cites", b.id)), "remove"));
  BOOST_CHECK(!require(db->edge_remove(make_edge(a.id, "cites", b.id)), "remove again"));
  BOOST_CHECK(require(db->neighbours({a.id, edge_dir::both, {}, {}, 100}), "a").empty());
  BOOST_CHECK(require(db->neighbours({b.id, edge_dir::both, {}, {}, 100}), "b").empty());
  auto bad = make_edge(a.id, "", b.id);
  BOOST_CHECK(code_of(db->edge_add(bad).error()) == ec::invalid_argument);
  bad = make_edge(a.id, "t", b.id, std::nan(""));
  BOOST_CHECK(code_of(db->edge_add(bad).error()) == ec::invalid_argument);
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(traversal_is_the_same_on_one_and_on_several_shards) {
  memory_maker maker{mixed_profile()};
  std::vector<memory> all;
  for (int i = 0; i < 30; ++i)
    all.push_back(maker.make());
  std::vector<edge_data> edges;
  std::mt19937 gen{3};
  for (int i = 0; i < 80; ++i) {
    auto s = all[gen() % all.size()].id;
    auto t = all[gen() % all.size()].id;
    edges.push_back(make_edge(s, i % 3 == 0 ? "a" : "b", t));
  }
  std::vector<std::vector<graph_path>> results;
  for (uint32_t shards : {1u, 4u}) {
    auto db = open_store(graph_options_for(shards));
    require(db->put_batch(all), "put");
    require(db->edge_add(edges), "edges");
    for (auto dir : {edge_dir::out, edge_dir::both}) {
      traverse_request q;
      q.start = all[0].id;
      q.direction = dir;
      q.depth = 3;
      q.limit = 1000;
      results.push_back(require(db->traverse(q), "traverse"));
      q.types = {"a"};
      results.push_back(require(db->traverse(q), "traverse a"));
    }
    traverse_request bad;
    bad.start = all[0].id;
    bad.depth = 0;
    BOOST_CHECK(code_of(db->traverse(bad).error()) == ec::invalid_argument);
  }
  BOOST_REQUIRE_EQUAL(results.size(), 8u);
  for (size_t i = 0; i < 4; ++i)
    BOOST_CHECK(results[i] == results[i + 4]);
  BOOST_CHECK(!results[2].empty());
  for (const auto& p : results[2]) {
    BOOST_CHECK_LE(p.types.size(), 3u);
    BOOST_CHECK_EQUAL(p.nodes.size(), p.types.size() + 1);
  }
}

BOOST_AUTO_TEST_CASE(quads_add_match_page_and_remove) {
  auto db = open_store(graph_options_for(2));
  std::vector<quad_text> quads;
  for (int i = 0; i < 25; ++i)
    quads.push_back(
        {"s" + std::to_string(i % 5), "p" + std::to_string(i % 2), "o" + std::to_string(i), "c"});
  require(db->quad_add(quads), "add");
  quad_match_request q;
  q.terms.s = "s1";
  q.has_s = true;
  q.limit = 2;
  std::vector<quad_text> paged;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = require(db->quad_match(q), "match");
    paged.insert(paged.end(), page.quads.begin(), page.quads.end());
    if (page.next.empty()) break;
    q.after = page.next;
  }
  std::vector<quad_text> expected;
  for (const auto& x : quads)
    if (x.s == "s1") expected.push_back(x);
  BOOST_CHECK_EQUAL(paged.size(), expected.size());
  for (const auto& x : expected)
    BOOST_CHECK(std::find(paged.begin(), paged.end(), x) != paged.end());
  quad_match_request po;
  po.terms.p = "p0";
  po.terms.o = "o4";
  po.has_p = po.has_o = true;
  auto one = require(db->quad_match(po), "p o");
  BOOST_REQUIRE_EQUAL(one.quads.size(), 1u);
  BOOST_CHECK(one.quads[0] == (quad_text{"s4", "p0", "o4", "c"}));
  auto removed = require(db->quad_remove({quads[4], quad_text{"x", "y", "z", "w"}}), "remove");
  BOOST_CHECK(removed == (std::vector<bool>{true, false}));
  BOOST_CHECK(require(db->quad_match(po), "after remove").quads.empty());
  quad_match_request unknown;
  unknown.terms.s = "never";
  unknown.has_s = true;
  BOOST_CHECK(require(db->quad_match(unknown), "unknown").quads.empty());
  BOOST_CHECK(require(db->verify(), "verify").consistent);
}

BOOST_AUTO_TEST_CASE(filtered_list_count_and_search_equal_brute_force) {
  for (uint32_t shards : {1u, 3u}) {
    BOOST_TEST_CONTEXT("shards " << shards) {
      auto db = open_store(graph_options_for(shards));
      memory_maker maker{mixed_profile()};
      std::vector<memory> all;
      for (int i = 0; i < 120; ++i) {
        auto m = maker.make(i % 2 ? "n1" : "n2", 1000 + 7 * i);
        m.attributes["size"] = std::to_string(i % 4);
        all.push_back(std::move(m));
      }
      require(db->put_batch(all), "put");
      // Replaced and removed memories leave index rows behind only if the index is wrong: list
      // and count take their candidates from those rows when the filter names an indexed
      // attribute or a time range.
      std::vector<memory> recoloured(all.begin(), all.begin() + 10);
      for (auto& m : recoloured) {
        m.attributes["color"] = "purple";
        m.created_at += 5000;
      }
      require(db->put_batch(recoloured), "replace");
      for (size_t i = 10; i < 20; ++i)
        BOOST_REQUIRE(require(db->remove(all[i].id), "remove"));
      std::copy(recoloured.begin(), recoloured.end(), all.begin());
      all.erase(all.begin() + 10, all.begin() + 20);
      std::vector<filter> filters(8);
      filters[0].where.push_back({"color", {"red", "blue"}});
      filters[1].ns = "n1";
      filters[1].created_after = 1100;
      filters[1].created_before = 1500;
      filters[2].where.push_back({"size", {"3"}});
      filters[2].where.push_back({"color", {"green"}});
      filters[2].created_after = 1200;
      filters[3].where.push_back({"color", {}});
      filters[4].where.push_back({"color", {"purple", "red"}});
      filters[4].ns = "n2";
      filters[4].created_before = 1600;
      filters[5].created_before = 1300;
      filters[6].created_after = 5000;
      filters[7].where.push_back({"size", {"1"}});
      for (size_t fi = 0; fi < filters.size(); ++fi) {
        BOOST_TEST_CONTEXT("filter " << fi) {
          const auto& f = filters[fi];
          std::vector<uuid> expected;
          for (const auto& m : all)
            if (f.matches(m)) expected.push_back(m.id);
          std::sort(expected.begin(), expected.end());
          BOOST_CHECK_EQUAL(require(db->count_matching(f), "count"), expected.size());
          std::vector<uuid> listed;
          std::optional<uuid> after;
          for (int pages = 0; pages < 100; ++pages) {
            auto page = require(db->list_matching(f, 7, after), "list");
            for (const auto& m : page.items) {
              BOOST_CHECK(f.matches(m));
              listed.push_back(m.id);
            }
            if (!page.next_after) break;
            after = page.next_after;
          }
          BOOST_CHECK(listed == expected);
          auto prof = mixed_profile();
          const auto& spec = prof.embedders.front();
          search_request req;
          req.embedder = spec.name;
          req.query = maker.make_embedding(spec);
          req.k = 10;
          req.filter = f;
          auto result = require(db->search(req), "search");
          check_hits(result.hits, reference_ranking(all, spec, req.query, &f), 10, "search");
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(restart_keeps_interner_ids_and_graph) {
  temp_dir dir{"graph-restart"};
  memory_maker maker{mixed_profile()};
  auto a = maker.make(), b = maker.make();
  auto opts = graph_options_for(1, storage::backend_kind::rocksdb, dir.path());
  {
    auto db = open_store(opts);
    require(db->put_batch({a, b}), "put");
    require(db->edge_add(make_edge(a.id, "cites", b.id, 3.0)), "edge");
    require(db->quad_add({{"alice", "knows", "bob", "g"}}), "quad");
  }
  shard_open_options so;
  so.root = dir.path();
  so.backend = storage::backend_kind::rocksdb;
  so.profile = mixed_profile();
  so.graph = true;
  std::vector<storage::term_id> ids;
  for (int session = 0; session < 2; ++session) {
    auto shard = require(open_shard(so), "open_shard");
    BOOST_REQUIRE(shard.graph);
    BOOST_CHECK(shard.graph->options().indexed_attributes == std::set<std::string>{"color"});
    std::vector<storage::term_id> now;
    for (const auto& term : {storage::make_term(a.id), storage::make_term(b.id),
                             storage::make_term(storage::term_kind::edge_type, "cites"),
                             storage::make_term(storage::term_kind::text, "alice")}) {
      auto id = require(shard.graph->terms().find(term), "find");
      BOOST_REQUIRE(id);
      now.push_back(*id);
    }
    if (session == 0)
      ids = now;
    else
      BOOST_CHECK(ids == now);
    require(close_shard(shard), "close");
  }
  auto db = open_store(opts);
  auto out = require(db->neighbours({a.id, edge_dir::out, {}, {}, 10}), "neighbours");
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].weight, 3.0);
  // A store keeps the graph options it was created with.
  db.reset();
  auto other = opts;
  other.graph->indexed_attributes = {"size"};
  auto refused = store::open(other);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(code_of(refused.error()) == ec::format_mismatch);
}

BOOST_AUTO_TEST_CASE(verify_detects_a_removed_quad_order_row_and_a_dangling_edge) {
  temp_dir dir{"graph-verify"};
  memory_maker maker{mixed_profile()};
  auto a = maker.make(), b = maker.make();
  auto opts = graph_options_for(1, storage::backend_kind::rocksdb, dir.path());
  {
    auto db = open_store(opts);
    require(db->put_batch({a, b}), "put");
    require(db->edge_add(make_edge(a.id, "cites", b.id)), "edge");
    BOOST_CHECK(require(db->verify(), "verify").consistent);
  }
  {
    // Delete one row of one order, and b's record behind the engine's back.
    auto layout = require(
        storage::shard_layout::make(mixed_profile(), storage::graph_keyspace_names()), "layout");
    storage::backend_options bopts;
    bopts.path = backend_directory(dir.path(), 0);
    bopts.keyspaces = layout.keyspaces();
    bopts.create_if_missing = false;
    auto db = require(storage::make_backend(storage::backend_kind::rocksdb, bopts), "backend");
    auto pocs = require(layout.keyspace("quad_pocs"), "pocs");
    auto it = require(db->scan_prefix(pocs, {}), "scan");
    BOOST_REQUIRE(it->valid());
    std::string key{it->key()};
    it.reset();
    require(db->del(pocs, key), "del pocs row");
    require(db->close(), "close");
  }
  auto db = open_store(opts);
  auto report = require(db->verify(), "verify");
  BOOST_CHECK(!report.consistent);
  bool named = false;
  for (const auto& p : report.problems)
    named = named || p.find("quad_") != std::string::npos;
  BOOST_CHECK_MESSAGE(named, (report.problems.empty() ? std::string{} : report.problems[0]));
}

/// Builds before two-phase commit left roll-forward intents in shard batches until the other
/// shards applied them. A store a crash left with some is refused, naming how many, and the rows
/// stay for the older build to finish.
BOOST_AUTO_TEST_CASE(a_store_with_intents_an_older_build_left_pending_is_refused_naming_them) {
  temp_dir dir{"graph-old-intents"};
  memory_maker maker{mixed_profile()};
  auto opts = graph_options_for(2, storage::backend_kind::rocksdb, dir.path());
  require(open_store(opts)->put(maker.make()), "put");
  shard_open_options so;
  so.root = dir.path();
  so.shard = 1;
  so.shard_count = 2;
  so.backend = storage::backend_kind::rocksdb;
  so.profile = mixed_profile();
  so.graph = true;
  {
    auto shard = require(open_shard(so), "open_shard");
    auto ks = require(shard.layout.keyspace(legacy_intents_keyspace), "intents keyspace");
    write_batch rows;
    rows.put(ks, std::string("\0\0\0\0\0\0\0\1", 8), "an intent of an older build");
    rows.put(ks, std::string("\0\0\0\0\0\0\0\2", 8), "another one");
    require(shard.backend->write(rows), "write intents");
    require(close_shard(shard), "close");
  }
  auto refused = store::open(opts);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(code_of(refused.error()) == ec::format_mismatch);
  BOOST_CHECK_MESSAGE(describe(refused.error()).find("shard 1") != std::string::npos &&
                          describe(refused.error()).find("2 pending cross-shard intent(s)") !=
                              std::string::npos,
                      describe(refused.error()));
  auto names = storage::graph_keyspace_names();
  names.emplace_back(legacy_intents_keyspace);
  auto layout = require(storage::shard_layout::make(mixed_profile(), names), "layout");
  storage::backend_options bopts;
  bopts.path = backend_directory(dir.path(), 1);
  bopts.keyspaces = layout.keyspaces();
  bopts.create_if_missing = false;
  auto db = require(storage::make_backend(storage::backend_kind::rocksdb, bopts), "backend");
  BOOST_CHECK_EQUAL(rows_in(*db, layout, std::string{legacy_intents_keyspace}), 2u);
}

/// A replacement with the graph on reads the stored record through the backend only when the
/// graph indexes attributes (their old rows name the old values); otherwise the record catalog's
/// facts stand in for it. Either way the edges stay and the namespace and time rows move.
BOOST_AUTO_TEST_CASE(a_replacement_reads_the_stored_record_only_when_attributes_are_indexed) {
  for (bool indexed : {false, true}) {
    BOOST_TEST_CONTEXT("indexed attributes: " << indexed) {
      actor_fixture f;
      storage::graph_options g;
      if (indexed) g.indexed_attributes = {"color"};
      g.time_bucket_ms = 100;
      f.graph = g;
      f.start(1);
      memory_maker maker{f.prof};
      auto a = maker.make("default", 1000);
      a.attributes["color"] = "red";
      auto b = maker.make("default", 1000);
      require(f.call<std::vector<uuid>>(atom::put_v, std::vector<memory>{a, b}), "put");
      require(f.call<atom::ok>(atom::edges_v, atom::put_v,
                               std::vector<edge_data>{make_edge(a.id, "cites", b.id)}),
              "edge put");
      auto reads = [&] { return require(f.shards[0].backend->stats(), "stats").reads; };
      auto before = reads();
      auto replaced = a;
      replaced.ns = "other";
      replaced.created_at = 5000;
      replaced.attributes["color"] = "blue";
      require(f.call<std::vector<uuid>>(atom::put_v, std::vector<memory>{replaced}), "replace");
      if (indexed)
        BOOST_CHECK_GT(reads(), before);
      else
        BOOST_CHECK_EQUAL(reads(), before);
      neighbour_request out;
      out.node = a.id;
      auto edges = require(f.call<std::vector<edge_data>>(atom::edges_v, out), "edges");
      BOOST_CHECK(edge_set(edges) ==
                  (std::set<std::tuple<uuid, std::string, uuid>>{{a.id, "cites", b.id}}));
      BOOST_CHECK_EQUAL(require(f.call<uint64_t>(atom::count_v, std::string{"other"}), "count"),
                        1u);
      BOOST_CHECK_EQUAL(require(f.call<uint64_t>(atom::count_v, std::string{"default"}), "count"),
                        1u);
      filter old_time;
      old_time.created_after = 0;
      old_time.created_before = 2000;
      filter new_time;
      new_time.created_after = 4000;
      new_time.created_before = 6000;
      BOOST_CHECK_EQUAL(require(f.call<uint64_t>(atom::count_v, old_time), "count old"), 1u);
      BOOST_CHECK_EQUAL(require(f.call<uint64_t>(atom::count_v, new_time), "count new"), 1u);
      auto checked = require(f.call<verify_result>(atom::verify_v, false), "verify");
      BOOST_CHECK_EQUAL(checked.problems.size(), 0u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
