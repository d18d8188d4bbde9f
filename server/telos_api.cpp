// Telos's own endpoints under /telos/collections/{name}/… (see telos_api.hpp): edges, traversal,
// quads, verify, flush, checkpoint and stats, through the facade calls the CLI makes.
#include "telos/server/telos_api.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <shared_mutex>

namespace fs = std::filesystem;

namespace telos::server {

namespace {

template <class T>
T telos_check(expected<T> r) {
  if (!r) store_failure(r.error());
  return std::move(*r);
}

void telos_check(expected<void> r) {
  if (!r) store_failure(r.error());
}

std::string telos_string(const json_value& body, const char* key, const std::string& field,
                         std::optional<std::string> fallback = std::nullopt) {
  if (!body.contains(key) || body[key].is_null()) {
    if (fallback) return *fallback;
    bad_request(field, "missing");
  }
  if (!body[key].is_string()) bad_request(field, "expected a string");
  return body[key].get<std::string>();
}

uint64_t telos_count(const json_value& body, const char* key, const std::string& field,
                     uint64_t fallback, uint64_t lo, uint64_t hi) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number_unsigned()) bad_request(field, "expected an unsigned integer");
  auto n = body[key].get<uint64_t>();
  if (n < lo || n > hi)
    bad_request(field, std::to_string(n) + " is outside " + std::to_string(lo) + ".." +
                           std::to_string(hi));
  return n;
}

edge_dir telos_direction(const json_value& body, const std::string& field) {
  auto d = telos_string(body, "direction", field, "out");
  if (d == "out") return edge_dir::out;
  if (d == "in") return edge_dir::in;
  if (d == "both") return edge_dir::both;
  bad_request(field, "expected out, in or both, got '" + d + "'");
}

const char* telos_direction_name(edge_dir d) {
  return d == edge_dir::out ? "out" : d == edge_dir::in ? "in" : "both";
}

std::vector<std::string> telos_types(const json_value& body, const std::string& field) {
  std::vector<std::string> out;
  if (!body.contains("types") || body["types"].is_null()) return out;
  if (!body["types"].is_array()) bad_request(field, "expected a list of edge types");
  for (const auto& t : body["types"]) {
    if (!t.is_string() || t.get_ref<const std::string&>().empty())
      bad_request(field, "expected a list of non-empty edge types");
    out.push_back(t.get<std::string>());
  }
  return out;
}

/// A stored point's Telos id; 404 naming `field` when the collection has no such point.
uuid telos_point(collection& c, const json_value& id, const std::string& field) {
  auto u = point_uuid(id, field);
  if (!telos_check(c.store->exists(u)))
    throw api_error(404, "Not found: " + field + ": no point with id " + dump(id));
  return u;
}

/// One edge of a request; `full` reads weight and attributes as well (adds), else only the key
/// fields (removes).
edge_data telos_edge(collection& c, const json_value& e, const std::string& f, bool full) {
  if (!e.is_object()) bad_request(f, "expected {\"source\",\"target\",\"type\",…}");
  if (full)
    known_keys(e, {"source", "target", "type", "namespace", "weight", "attributes"}, f + ".");
  else
    known_keys(e, {"source", "target", "type", "namespace"}, f + ".");
  if (!e.contains("source")) bad_request(f + ".source", "missing");
  if (!e.contains("target")) bad_request(f + ".target", "missing");
  edge_data d;
  d.type = telos_string(e, "type", f + ".type");
  if (d.type.empty()) bad_request(f + ".type", "must not be empty");
  d.ns = telos_string(e, "namespace", f + ".namespace", "default");
  if (d.ns.empty()) bad_request(f + ".namespace", "must not be empty");
  if (full) {
    if (e.contains("weight") && !e["weight"].is_null()) {
      if (!e["weight"].is_number()) bad_request(f + ".weight", "expected a number");
      d.weight = e["weight"].get<double>();
      if (!std::isfinite(d.weight)) bad_request(f + ".weight", "expected a finite number");
    }
    if (e.contains("attributes") && !e["attributes"].is_null()) {
      const auto& a = e["attributes"];
      if (!a.is_object()) bad_request(f + ".attributes", "expected an object of strings");
      for (auto it = a.begin(); it != a.end(); ++it) {
        if (!it.value().is_string())
          bad_request(f + ".attributes." + it.key(), "expected a string");
        d.attributes[it.key()] = it.value().get<std::string>();
      }
    }
    d.source = telos_point(c, e["source"], f + ".source");
    d.target = telos_point(c, e["target"], f + ".target");
  } else {
    d.source = point_uuid(e["source"], f + ".source");
    d.target = point_uuid(e["target"], f + ".target");
  }
  return d;
}

json_value telos_edge_json(const edge_data& e) {
  return {{"source", point_id_json(e.source)},
          {"target", point_id_json(e.target)},
          {"type", e.type},
          {"namespace", e.ns},
          {"weight", e.weight},
          {"attributes", e.attributes}};
}

const json_value& telos_list(const json_value& body, const char* key) {
  if (!body.contains(key) || !body[key].is_array() || body[key].empty())
    bad_request(key, "expected a non-empty list");
  return body[key];
}

quad_text telos_quad(const json_value& q, const std::string& f) {
  if (!q.is_object()) bad_request(f, "expected {\"s\",\"p\",\"o\",\"c\"}");
  known_keys(q, {"s", "p", "o", "c"}, f + ".");
  return {telos_string(q, "s", f + ".s"), telos_string(q, "p", f + ".p"),
          telos_string(q, "o", f + ".o"), telos_string(q, "c", f + ".c", "")};
}

json_value telos_quad_json(const quad_text& q) {
  return {{"s", q.s}, {"p", q.p}, {"o", q.o}, {"c", q.c}};
}

std::string telos_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::string telos_unhex(const std::string& text, const std::string& field) {
  auto nibble = [&](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    bad_request(field, "expected the `next` of a previous page");
  };
  if (text.size() % 2) bad_request(field, "expected the `next` of a previous page");
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2)
    out += static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1]));
  return out;
}

json_value telos_verify_json(const verify_report& r) {
  return {{"consistent", r.consistent},
          {"records_checked", r.records_checked},
          {"problems", r.problems},
          {"repaired", r.repaired}};
}

bool telos_valid_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.'))
      return false;
  return true;
}

// -- endpoints ------------------------------------------------------------------------------------

json_value telos_edges_add(collection& c, const json_value& body) {
  known_keys(body, {"edges"});
  const auto& list = telos_list(body, "edges");
  std::vector<edge_data> edges;
  for (size_t i = 0; i < list.size(); ++i)
    edges.push_back(telos_edge(c, list[i], "edges[" + std::to_string(i) + "]", true));
  telos_check(c.store->edge_add(std::move(edges)));
  return {{"added", list.size()}};
}

json_value telos_edges_remove(collection& c, const json_value& body) {
  known_keys(body, {"edges"});
  const auto& list = telos_list(body, "edges");
  std::vector<edge_data> edges;
  for (size_t i = 0; i < list.size(); ++i)
    edges.push_back(telos_edge(c, list[i], "edges[" + std::to_string(i) + "]", false));
  json_value removed = json_value::array();
  for (const auto& e : edges)
    removed.push_back(telos_check(c.store->edge_remove(e)));
  return {{"removed", removed}};
}

json_value telos_edges_list(collection& c, const json_value& body) {
  known_keys(body, {"point", "direction", "types", "namespace", "limit"});
  if (!body.contains("point")) bad_request("point", "missing");
  neighbour_request q;
  q.node = telos_point(c, body["point"], "point");
  q.direction = telos_direction(body, "direction");
  q.types = telos_types(body, "types");
  q.ns = telos_string(body, "namespace", "namespace", "");
  q.limit = telos_count(body, "limit", "limit", 1000, 1, UINT64_MAX);
  json_value edges = json_value::array();
  for (const auto& e : telos_check(c.store->neighbours(q)))
    edges.push_back(telos_edge_json(e));
  return {{"edges", edges}};
}

json_value telos_traverse(collection& c, const json_value& body) {
  known_keys(body, {"start", "direction", "types", "namespace", "depth", "limit"});
  if (!body.contains("start")) bad_request("start", "missing");
  traverse_request q;
  q.start = telos_point(c, body["start"], "start");
  q.direction = telos_direction(body, "direction");
  q.types = telos_types(body, "types");
  q.ns = telos_string(body, "namespace", "namespace", "");
  q.depth = static_cast<uint32_t>(telos_count(body, "depth", "depth", 2, 1, 16));
  q.limit = telos_count(body, "limit", "limit", 100, 1, UINT64_MAX);
  json_value paths = json_value::array();
  for (const auto& p : telos_check(c.store->traverse(q))) {
    json_value nodes = json_value::array(), types = json_value::array(),
               directions = json_value::array();
    for (const auto& n : p.nodes)
      nodes.push_back(point_id_json(n));
    for (const auto& t : p.types)
      types.push_back(t);
    for (auto d : p.directions)
      directions.push_back(telos_direction_name(d));
    paths.push_back({{"nodes", nodes}, {"types", types}, {"directions", directions}});
  }
  return {{"paths", paths}};
}

json_value telos_quads_write(collection& c, const json_value& body, bool add) {
  known_keys(body, {"quads"});
  const auto& list = telos_list(body, "quads");
  std::vector<quad_text> quads;
  for (size_t i = 0; i < list.size(); ++i)
    quads.push_back(telos_quad(list[i], "quads[" + std::to_string(i) + "]"));
  if (add) {
    telos_check(c.store->quad_add(std::move(quads)));
    return {{"added", list.size()}};
  }
  json_value removed = json_value::array();
  for (bool existed : telos_check(c.store->quad_remove(std::move(quads))))
    removed.push_back(existed);
  return {{"removed", removed}};
}

json_value telos_quads_match(collection& c, const json_value& body) {
  known_keys(body, {"s", "p", "o", "c", "limit", "after"});
  quad_match_request q;
  auto bind = [&](const char* key, std::string& term, bool& has) {
    if (!body.contains(key) || body[key].is_null()) return;
    term = telos_string(body, key, key);
    has = true;
  };
  bind("s", q.terms.s, q.has_s);
  bind("p", q.terms.p, q.has_p);
  bind("o", q.terms.o, q.has_o);
  bind("c", q.terms.c, q.has_c);
  q.limit = telos_count(body, "limit", "limit", 1000, 1, 100000);
  q.after = telos_unhex(telos_string(body, "after", "after", ""), "after");
  auto page = telos_check(c.store->quad_match(q));
  json_value quads = json_value::array();
  for (const auto& t : page.quads)
    quads.push_back(telos_quad_json(t));
  return {{"quads", quads},
          {"next", page.next.empty() ? json_value{} : json_value(telos_hex(page.next))}};
}

json_value telos_verify(collection& c, const json_value& body) {
  known_keys(body, {"repair"});
  bool repair = false;
  if (body.contains("repair") && !body["repair"].is_null()) {
    if (!body["repair"].is_boolean()) bad_request("repair", "expected true or false");
    repair = body["repair"].get<bool>();
  }
  auto report = telos_check(c.store->verify(repair));
  auto out = telos_verify_json(report);
  // As the CLI does: a repair is only believed once a fresh check finds nothing left.
  if (repair && !report.consistent)
    out["after_repair"] = telos_verify_json(telos_check(c.store->verify(false)));
  return out;
}

json_value telos_checkpoint(collection& c, const json_value& body) {
  known_keys(body, {"name"});
  auto name = telos_string(body, "name", "name");
  if (!telos_valid_name(name))
    bad_request("name", "'" + name +
                            "' is not a valid name (1 to 255 of A-Z a-z 0-9 _ - ., not starting "
                            "with '.')");
  auto dir = fs::path{c.dir} / "checkpoints" / name;
  std::error_code ec;
  if (fs::exists(dir, ec))
    throw api_error(409, "Conflict: name: checkpoint '" + name + "' exists already");
  fs::create_directories(dir, ec);
  if (ec) throw api_error(500, "Service internal error: cannot create " + dir.string());
  // The store's consistent copy, then the schema beside it: the directory has the layout of a
  // collection's.
  if (auto done = c.store->checkpoint((dir / "store").string()); !done) {
    fs::remove_all(dir, ec);
    store_failure(done.error());
  }
  std::ofstream out{dir / "collection.json"};
  out << dump(c.schema.to_json(), 2) << '\n';
  out.flush();
  if (!out) {
    fs::remove_all(dir, ec);
    throw api_error(500, "Service internal error: cannot write the checkpoint's schema");
  }
  return {{"checkpoint", name}, {"path", fs::absolute(dir, ec).string()}};
}

json_value telos_stats(collection& c) {
  auto st = telos_check(c.store->stats());
  json_value indexes = json_value::array();
  for (const auto& ix : st.indexes) {
    json_value entry{{"vector", ix.embedder}, {"embedder", ix.embedder}};
    for (const auto& slot : c.schema.slots)
      if (slot.embedder == ix.embedder) entry["vector"] = slot.name;
    entry["shard"] = ix.shard;
    entry["structure"] = ix.stats.structure;
    entry["vectors"] = ix.stats.vectors;
    entry["fresh"] = ix.stats.fresh;
    entry["memory_bytes"] = ix.stats.memory_bytes;
    entry["snapshot_sequence"] = ix.snapshot_sequence;
    if (!ix.checkpoint_error.empty()) entry["checkpoint_error"] = ix.checkpoint_error;
    indexes.push_back(std::move(entry));
  }
  return {{"backend", storage::to_string(st.backend)},
          {"shards", st.shards},
          {"memories", st.memories},
          {"namespaces", st.per_namespace},
          {"disk_bytes", st.disk_bytes},
          {"sequences", st.sequences},
          {"indexes", indexes},
          {"payload_index_slots",
           {{"used", c.schema.index_slots.size()}, {"total", c.schema.index_slot_count}}}};
}

} // namespace

json_value telos_api_route(collection_registry& registry, const http_request& req,
                           const std::vector<std::string>& parts, std::string& route) {
  route = "/telos";
  if (parts.size() < 4 || parts[1] != "collections") throw api_error(404, "Not found: " + req.path);
  auto c = registry.get(parts[2]);
  std::shared_lock<std::shared_mutex> shared{c->use};
  if (c->closed) throw api_error(404, "Not found: Collection `" + parts[2] + "` doesn't exist!");
  std::string tail;
  for (size_t i = 3; i < parts.size(); ++i)
    tail += "/" + parts[i];
  route = "/telos/collections/{name}" + tail;
  const auto& m = req.method;
  auto body = [&] { return parse_body(req.body, false); };
  if (tail == "/edges" && m == "PUT") return telos_edges_add(*c, parse_body(req.body, true));
  if (tail == "/edges/delete" && m == "POST")
    return telos_edges_remove(*c, parse_body(req.body, true));
  if (tail == "/edges/list" && m == "POST") return telos_edges_list(*c, parse_body(req.body, true));
  if (tail == "/traverse" && m == "POST") return telos_traverse(*c, parse_body(req.body, true));
  if (tail == "/quads" && m == "PUT")
    return telos_quads_write(*c, parse_body(req.body, true), true);
  if (tail == "/quads/delete" && m == "POST")
    return telos_quads_write(*c, parse_body(req.body, true), false);
  if (tail == "/quads/match" && m == "POST") return telos_quads_match(*c, body());
  if (tail == "/verify" && m == "POST") return telos_verify(*c, body());
  if (tail == "/flush" && m == "POST") {
    known_keys(body(), {});
    telos_check(c->store->flush());
    return {{"flushed", true}};
  }
  if (tail == "/checkpoint" && m == "POST") return telos_checkpoint(*c, parse_body(req.body, true));
  if (tail == "/stats" && m == "GET") return telos_stats(*c);
  static const std::set<std::string> known{"/edges", "/edges/delete", "/edges/list",  "/traverse",
                                           "/quads", "/quads/delete", "/quads/match", "/verify",
                                           "/flush", "/checkpoint",   "/stats"};
  if (known.count(tail)) throw api_error(405, "Method not allowed");
  route = "/telos";
  throw api_error(404, "Not found: " + req.path);
}

} // namespace telos::server
