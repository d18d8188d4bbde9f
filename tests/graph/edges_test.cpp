// Edges: properties, neighbours in both directions against a reference, removal symmetry,
// removal of a memory's edges in both directions, traversal against a brute-force BFS.
#include "graph_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <tuple>

using namespace telos;
using namespace telos::storage;
using namespace telos::graph_test;

namespace {

/// (source, type, target, ns) as comparable numbers and strings.
using edge_tuple = std::tuple<uuid, std::string, uuid, std::string>;

edge_tuple tuple_of(const edge_key& e) {
  return {e.source, e.type, e.target, e.ns};
}

std::vector<edge_data> random_edges(std::mt19937_64& rng, size_t nodes, size_t count,
                                    const std::vector<std::string>& types,
                                    const std::vector<std::string>& namespaces) {
  std::map<edge_tuple, edge_data> unique;
  while (unique.size() < count) {
    edge_data e;
    e.source = id_of(1 + rng() % nodes);
    e.target = id_of(1 + rng() % nodes);
    e.type = types[rng() % types.size()];
    e.ns = namespaces[rng() % namespaces.size()];
    e.weight = static_cast<double>(rng() % 1000) / 10.0;
    if (rng() % 4 == 0) e.attributes["since"] = std::to_string(rng() % 2000);
    unique[tuple_of(key_of(e))] = e;
  }
  std::vector<edge_data> out;
  for (auto& [key, e] : unique)
    out.push_back(e);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<neighbour> must_neighbours(const graph_store& s, const uuid& node,
                                       const neighbour_query& q) {
  auto found = s.edges->neighbours(node, q);
  BOOST_REQUIRE_MESSAGE(found, why(found));
  return *found;
}

/// Neighbours as comparable tuples (node, type, ns, direction, weight, attributes).
using neighbour_tuple = std::tuple<uuid, std::string, std::string, edge_dir, double,
                                   std::map<std::string, std::string>>;

std::multiset<neighbour_tuple> as_set(const std::vector<neighbour>& ns) {
  std::multiset<neighbour_tuple> out;
  for (const auto& n : ns)
    out.emplace(n.node, n.type, n.ns, n.direction, n.weight, n.attributes);
  return out;
}

/// The neighbours a brute-force filter over the edge list finds.
std::multiset<neighbour_tuple> reference_neighbours(const std::vector<edge_data>& edges,
                                                    const uuid& node, const neighbour_query& q) {
  std::multiset<neighbour_tuple> out;
  auto type_ok = [&](const std::string& t) {
    return q.types.empty() || std::find(q.types.begin(), q.types.end(), t) != q.types.end();
  };
  for (const auto& e : edges) {
    if (!type_ok(e.type) || (q.ns && *q.ns != e.ns)) continue;
    if (q.direction != edge_dir::in && e.source == node)
      out.emplace(e.target, e.type, e.ns, edge_dir::out, e.weight, e.attributes);
    if (q.direction != edge_dir::out && e.target == node)
      out.emplace(e.source, e.type, e.ns, edge_dir::in, e.weight, e.attributes);
  }
  return out;
}

// -- brute-force traversal
// -------------------------------------------------------------------------

struct hop {
  std::string type;
  uuid node;
  edge_dir direction;

  friend bool operator<(const hop& a, const hop& b) {
    return std::tie(a.type, a.node, a.direction) < std::tie(b.type, b.node, b.direction);
  }
};

/// Shortest distances by plain BFS, then, depth by depth, each node's least path as the minimum
/// over all its predecessors' least paths extended by one hop (valid because paths of one length
/// compare by their prefix first).
std::vector<graph_path> reference_traversal(const std::vector<edge_data>& edges, const uuid& start,
                                            const traversal_query& q) {
  std::map<uuid, std::vector<hop>> adjacency;
  for (const auto& e : edges) {
    if (!q.types.empty() && std::find(q.types.begin(), q.types.end(), e.type) == q.types.end())
      continue;
    if (q.ns && *q.ns != e.ns) continue;
    if (q.direction != edge_dir::in)
      adjacency[e.source].push_back({e.type, e.target, edge_dir::out});
    if (q.direction != edge_dir::out)
      adjacency[e.target].push_back({e.type, e.source, edge_dir::in});
  }
  std::map<uuid, size_t> distance{{start, 0}};
  std::vector<uuid> level{start};
  for (size_t d = 1; d <= q.max_depth; ++d) {
    std::vector<uuid> next;
    for (const auto& n : level)
      for (const auto& h : adjacency[n])
        if (distance.emplace(h.node, d).second) next.push_back(h.node);
    level = next;
  }
  std::map<uuid, std::vector<hop>> best{{start, {}}};
  std::vector<std::pair<std::vector<hop>, uuid>> found;
  for (size_t d = 1; d <= q.max_depth; ++d) {
    for (const auto& [node, dist] : distance) {
      if (dist != d) continue;
      std::optional<std::vector<hop>> least;
      for (const auto& [from, from_dist] : distance) {
        if (from_dist != d - 1) continue;
        for (const auto& h : adjacency[from]) {
          if (h.node != node) continue;
          auto candidate = best[from];
          candidate.push_back(h);
          if (!least || candidate < *least) least = candidate;
        }
      }
      best[node] = *least;
      found.emplace_back(*least, node);
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    if (a.first.size() != b.first.size()) return a.first.size() < b.first.size();
    return a.first < b.first;
  });
  std::vector<graph_path> out;
  for (const auto& [hops, node] : found) {
    if (out.size() == q.limit) break;
    graph_path p{{start}, {}, {}};
    for (const auto& h : hops) {
      p.nodes.push_back(h.node);
      p.types.push_back(h.type);
      p.directions.push_back(h.direction);
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string describe_path(const graph_path& p) {
  std::string out = p.nodes[0].to_string().substr(28);
  for (size_t i = 0; i < p.types.size(); ++i)
    out += std::string{" -"} + p.types[i] + "/" + to_string(p.directions[i]) + "-> " +
           p.nodes[i + 1].to_string().substr(28);
  return out;
}

const std::vector<std::string> edge_types{"cites", "follows", "refutes"};
const std::vector<std::string> edge_namespaces{"default", "work"};

} // namespace

BOOST_AUTO_TEST_SUITE(edges_suite)

BOOST_AUTO_TEST_CASE(an_edge_keeps_weight_and_attributes_and_is_replaced_in_place) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      edge_data e{id_of(1), "cites", id_of(2), "default", 0.25, {{"why", "source"}}};
      s.add_edges({e});
      auto got = s.edges->get(key_of(e));
      BOOST_REQUIRE(got && *got);
      BOOST_CHECK(**got == e);
      e.weight = 3.5;
      e.attributes.clear();
      s.add_edges({e});
      got = s.edges->get(key_of(e));
      BOOST_REQUIRE(got && *got);
      BOOST_CHECK_EQUAL((*got)->weight, 3.5);
      BOOST_CHECK((*got)->attributes.empty());
      BOOST_CHECK_EQUAL(s.keys_in("quad_spoc"), 1u);
      auto other_ns = s.edges->get(edge_key{id_of(1), "cites", id_of(2), "work"});
      BOOST_REQUIRE(other_ns);
      BOOST_CHECK(!*other_ns);
    }
  }
}

BOOST_AUTO_TEST_CASE(invalid_edges_are_refused_and_append_nothing) {
  auto s = graph_store::open(backend_kind::memory, "");
  write_batch batch;
  interner::staging staged;
  BOOST_CHECK_EQUAL(code(s.edges->add(link(uuid{}, "t", id_of(1)), batch, staged)),
                    "invalid_argument");
  BOOST_CHECK_EQUAL(code(s.edges->add(link(id_of(1), "", id_of(2)), batch, staged)),
                    "invalid_argument");
  auto nan = link(id_of(1), "t", id_of(2));
  nan.weight = std::nan("");
  BOOST_CHECK_EQUAL(code(s.edges->add(nan, batch, staged)), "invalid_argument");
  BOOST_CHECK(batch.empty());
}

BOOST_AUTO_TEST_CASE(neighbours_match_brute_force_and_out_of_a_is_in_of_b) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      std::mt19937_64 rng{11};
      auto edges = random_edges(rng, 30, 300, edge_types, edge_namespaces);
      s.add_edges(edges);
      // Remove a third of them again; the rest must stay symmetric.
      write_batch removal;
      std::vector<edge_data> kept;
      for (size_t i = 0; i < edges.size(); ++i) {
        if (i % 3 == 0) {
          auto removed = s.edges->remove(key_of(edges[i]), removal);
          BOOST_REQUIRE(removed && *removed);
        } else {
          kept.push_back(edges[i]);
        }
      }
      BOOST_REQUIRE(s.db->write(removal));
      std::vector<neighbour_query> queries;
      for (auto dir_kind : {edge_dir::out, edge_dir::in, edge_dir::both}) {
        queries.push_back({dir_kind, {}, std::nullopt});
        queries.push_back({dir_kind, {"cites"}, std::nullopt});
        queries.push_back({dir_kind, {"refutes", "follows", "unknown"}, std::string{"work"}});
        queries.push_back({dir_kind, {}, std::string{"default"}});
      }
      for (size_t n = 1; n <= 31; ++n) {
        for (size_t qi = 0; qi < queries.size(); ++qi) {
          BOOST_TEST_CONTEXT("node " << n << " query " << qi) {
            auto found = must_neighbours(s, id_of(n), queries[qi]);
            BOOST_CHECK(as_set(found) == reference_neighbours(kept, id_of(n), queries[qi]));
          }
        }
        // Symmetry: each out edge A->B is an in edge of B from A, with the same properties.
        for (const auto& out : must_neighbours(s, id_of(n), {edge_dir::out, {}, {}})) {
          auto in = must_neighbours(s, out.node, {edge_dir::in, {out.type}, out.ns});
          auto match = std::count_if(in.begin(), in.end(), [&](const neighbour& x) {
            return x.node == id_of(n) && x.weight == out.weight && x.attributes == out.attributes;
          });
          BOOST_CHECK_EQUAL(match, 1);
        }
      }
      auto limited = must_neighbours(s, id_of(1), {edge_dir::both, {}, {}, 3});
      BOOST_CHECK_LE(limited.size(), 3u);
    }
  }
}

BOOST_AUTO_TEST_CASE(removing_a_memory_removes_its_edges_in_both_directions) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      auto victim = id_of(5);
      std::vector<edge_data> edges{
          link(victim, "cites", id_of(1)),
          link(victim, "cites", id_of(2), "work"),
          link(id_of(3), "follows", victim),
          link(id_of(1), "cites", victim),
          link(victim, "refutes", victim),
          link(id_of(1), "cites", id_of(2)),
          link(id_of(2), "follows", id_of(3), "work"),
      };
      s.add_edges(edges);
      write_batch batch;
      auto removed = s.edges->remove_all(victim, batch);
      BOOST_REQUIRE(removed);
      std::set<edge_tuple> wanted, got;
      for (const auto& e : edges)
        if (e.source == victim || e.target == victim) wanted.insert(tuple_of(key_of(e)));
      for (const auto& e : *removed)
        got.insert(tuple_of(e));
      BOOST_CHECK_EQUAL(removed->size(), wanted.size()); // the self-loop once
      BOOST_CHECK(got == wanted);
      BOOST_REQUIRE(s.db->write(batch));
      BOOST_CHECK(must_neighbours(s, victim, {edge_dir::both, {}, {}}).empty());
      for (size_t n : {1, 2, 3})
        for (const auto& nb : must_neighbours(s, id_of(n), {edge_dir::both, {}, {}}))
          BOOST_CHECK(nb.node != victim);
      BOOST_CHECK_EQUAL(s.keys_in("quad_spoc"), 2u);
      BOOST_CHECK_EQUAL(s.keys_in("quad_ocsp"), 2u);
      // With the memory gone, nothing dangles.
      auto report = verify_graph(*s.terms, *s.quads, nullptr,
                                 [&](const uuid& id) -> expected<bool> { return id != victim; });
      BOOST_REQUIRE(report);
      BOOST_CHECK_MESSAGE(report->ok(), first_problem(*report));
      BOOST_CHECK_EQUAL(report->edges, 2u);
      // A memory that never had an edge removes nothing.
      write_batch none;
      auto nothing = s.edges->remove_all(id_of(99), none);
      BOOST_REQUIRE(nothing);
      BOOST_CHECK(nothing->empty());
      BOOST_CHECK(none.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(traversal_paths_match_a_brute_force_bfs) {
  for (auto kind : all_kinds()) {
    BOOST_TEST_CONTEXT(to_string(kind)) {
      temp_dir dir;
      auto s = graph_store::open(kind, dir.path());
      std::mt19937_64 rng{23};
      auto edges = random_edges(rng, 50, 130, edge_types, edge_namespaces);
      s.add_edges(edges);
      std::vector<traversal_query> queries;
      for (auto d : {edge_dir::out, edge_dir::in, edge_dir::both}) {
        for (size_t depth : {1, 2, 3}) {
          queries.push_back({d, {}, std::nullopt, depth, 1000});
          queries.push_back({d, {}, std::nullopt, depth, 7});
          queries.push_back({d, {"cites", "follows"}, std::nullopt, depth, 1000});
          queries.push_back({d, {}, std::string{"work"}, depth, 1000});
        }
      }
      size_t nonempty = 0;
      for (size_t start = 1; start <= 50; start += 7) {
        for (size_t qi = 0; qi < queries.size(); ++qi) {
          BOOST_TEST_CONTEXT("start " << start << " query " << qi) {
            auto found = s.edges->traverse(id_of(start), queries[qi]);
            BOOST_REQUIRE_MESSAGE(found, why(found));
            auto expected = reference_traversal(edges, id_of(start), queries[qi]);
            BOOST_REQUIRE_EQUAL(found->size(), expected.size());
            for (size_t i = 0; i < found->size(); ++i)
              BOOST_CHECK_MESSAGE((*found)[i] == expected[i], describe_path((*found)[i])
                                                                  << " != "
                                                                  << describe_path(expected[i]));
            nonempty += found->empty() ? 0 : 1;
          }
        }
      }
      BOOST_CHECK_GT(nonempty, 100u);
      auto none = s.edges->traverse(id_of(1), {edge_dir::out, {}, std::nullopt, 0, 10});
      BOOST_REQUIRE(none);
      BOOST_CHECK(none->empty());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
