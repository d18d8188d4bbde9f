// The Qdrant REST dialect over Telos collections (see qdrant_api.hpp): routing, collections,
// points, payloads, scroll and count, search and the universal query with prefetch and fusion.
#include "telos/server/qdrant_api.hpp"

#include "telos/server/telos_api.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

namespace telos::server {

namespace {

using clock_type = std::chrono::steady_clock;

/// Qdrant's "title" of GET /; "version" is the Qdrant API level this subset follows.
constexpr const char* api_qdrant_version = "1.19.0";

// -- envelopes ------------------------------------------------------------------------------------

http_answer api_ok(json_value result, clock_type::time_point started) {
  std::chrono::duration<double> took = clock_type::now() - started;
  http_answer a;
  a.body =
      dump(json_value{{"result", std::move(result)}, {"status", "ok"}, {"time", took.count()}});
  return a;
}

http_answer api_error_answer(int status, const std::string& message,
                             clock_type::time_point started) {
  std::chrono::duration<double> took = clock_type::now() - started;
  http_answer a;
  a.status = status;
  a.body = dump(json_value{{"status", {{"error", message}}}, {"time", took.count()}});
  return a;
}

[[noreturn]] void api_fail(const caf::error& err) {
  store_failure(err);
}

template <class T>
T api_check(expected<T> r) {
  if (!r) api_fail(r.error());
  return std::move(*r);
}

json_value api_operation(collection& c) {
  return {{"operation_id", c.operations++}, {"status", "completed"}};
}

json_value api_parse_body(const std::string& body, bool required) {
  return parse_body(body, required);
}

/// Refuses keys of a request body this subset does not know (so a typo is never ignored).
void api_known_keys(const json_value& body, std::initializer_list<const char*> known,
                    const std::string& prefix = {}) {
  known_keys(body, known, prefix);
}

size_t api_read_count(const json_value& body, const char* key, size_t fallback,
                      const std::string& prefix = {}) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  const auto& v = body[key];
  if (!v.is_number_unsigned()) bad_request(prefix + key, "expected an unsigned integer");
  return v.get<size_t>();
}

std::optional<double> api_read_threshold(const json_value& body, const std::string& prefix = {}) {
  if (!body.contains("score_threshold") || body["score_threshold"].is_null()) return std::nullopt;
  if (!body["score_threshold"].is_number())
    bad_request(prefix + "score_threshold", "expected a number");
  return body["score_threshold"].get<double>();
}

// -- payload and vector selectors -----------------------------------------------------------------

struct payload_selector {
  bool any = false;
  std::vector<std::string> include;
  std::vector<std::string> exclude;

  static payload_selector read(const json_value& body, const char* key, bool fallback) {
    payload_selector s;
    if (!body.contains(key) || body[key].is_null()) {
      s.any = fallback;
      return s;
    }
    const auto& v = body[key];
    auto strings = [&](const json_value& list, const std::string& field) {
      if (!list.is_array()) bad_request(field, "expected a list of keys");
      std::vector<std::string> out;
      for (const auto& e : list) {
        if (!e.is_string()) bad_request(field, "expected a list of keys");
        out.push_back(e.get<std::string>());
      }
      return out;
    };
    if (v.is_boolean())
      s.any = v.get<bool>();
    else if (v.is_array()) {
      s.any = true;
      s.include = strings(v, key);
    } else if (v.is_object() && v.contains("include")) {
      s.any = true;
      s.include = strings(v["include"], std::string{key} + ".include");
    } else if (v.is_object() && v.contains("exclude")) {
      s.any = true;
      s.exclude = strings(v["exclude"], std::string{key} + ".exclude");
    } else
      bad_request(key, "expected true, false, a list of keys, {include} or {exclude}");
    return s;
  }

  json_value apply(json_value payload) const {
    if (!include.empty()) {
      json_value out = json_value::object();
      for (const auto& key : include) {
        // Top-level keys and dotted paths to nested values.
        const json_value* from = &payload;
        json_value* to = &out;
        size_t start = 0;
        bool found = true;
        for (;;) {
          auto dot = key.find('.', start);
          auto part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
          if (!from->is_object() || !from->contains(part)) {
            found = false;
            break;
          }
          from = &(*from)[part];
          if (dot == std::string::npos) {
            (*to)[part] = *from;
            break;
          }
          if (!(*to)[part].is_object()) (*to)[part] = json_value::object();
          to = &(*to)[part];
          start = dot + 1;
        }
        (void)found;
      }
      return out;
    }
    for (const auto& key : exclude)
      payload.erase(key);
    return payload;
  }
};

struct vector_selector {
  bool any = false;
  std::set<std::string> names;

  static vector_selector read(const json_value& body) {
    vector_selector s;
    const char* key = body.contains("with_vector") ? "with_vector" : "with_vectors";
    if (!body.contains(key) || body[key].is_null()) return s;
    const auto& v = body[key];
    if (v.is_boolean())
      s.any = v.get<bool>();
    else if (v.is_array()) {
      s.any = true;
      for (const auto& e : v) {
        if (!e.is_string()) bad_request(key, "expected a list of vector names");
        s.names.insert(e.get<std::string>());
      }
    } else
      bad_request(key, "expected true, false or a list of vector names");
    return s;
  }

  json_value apply(const memory& m, const collection_schema& schema) const {
    if (schema.unnamed) {
      auto it = m.embeddings.find(schema.slots.front().embedder);
      return it == m.embeddings.end() ? json_value{}
                                      : vector_json(it->second, schema.slots.front());
    }
    json_value out = json_value::object();
    for (const auto& slot : schema.slots) {
      if (!names.empty() && !names.count(slot.name)) continue;
      auto it = m.embeddings.find(slot.embedder);
      if (it != m.embeddings.end()) out[slot.name] = vector_json(it->second, slot);
    }
    return out;
  }
};

// -- payload paths --------------------------------------------------------------------------------

/// The object keys of a set-payload `key` ("a.b"); 400 naming `field` for an array part.
std::vector<std::string> api_object_path(const std::string& key, const std::string& field) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    auto dot = key.find('.', start);
    auto part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) bad_request(field, "key '" + key + "' has an empty part");
    if (part.find('[') != std::string::npos)
      bad_request(field, "key '" + key + "': array elements cannot be set (object keys only)");
    parts.push_back(part);
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

/// Sets `changes` into the object at `path` of `payload` (the payload itself when the path is
/// empty; objects created on the way, other values there replaced): merged key by key, or the
/// object replaced when `overwrite`.
void api_set_at(json_value& payload, const std::vector<std::string>& path,
                const json_value& changes, bool overwrite) {
  json_value* at = &payload;
  for (const auto& part : path) {
    if (!at->is_object()) *at = json_value::object();
    at = &(*at)[part];
  }
  if (overwrite || !at->is_object()) {
    *at = changes;
    return;
  }
  for (auto it = changes.begin(); it != changes.end(); ++it)
    (*at)[it.key()] = it.value();
}

/// Removes the value at a key: "a.b" removes b of the object at a; "a[].b" (or an array met on
/// the way) removes b of every object of the array.
void api_erase_path(json_value& v, const std::string& key, size_t start = 0) {
  auto dot = key.find('.', start);
  auto part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
  bool each = part.size() >= 2 && part.compare(part.size() - 2, 2, "[]") == 0;
  if (each) part.resize(part.size() - 2);
  if (v.is_array()) {
    for (auto& e : v)
      api_erase_path(e, key, start);
    return;
  }
  if (!v.is_object()) return;
  auto it = v.find(part);
  if (it == v.end()) return;
  if (dot == std::string::npos) {
    if (!each) {
      v.erase(it);
    } else if (it->is_array()) {
      *it = json_value::array();
    }
    return;
  }
  api_erase_path(*it, key, dot + 1);
}

json_value api_record(const memory& m, const collection_schema& schema,
                      const payload_selector& payload, const vector_selector& vectors) {
  json_value r = {{"id", point_id_json(m.id)}};
  r["payload"] = payload.any ? payload.apply(payload_of(m)) : json_value{};
  r["vector"] = vectors.any ? vectors.apply(m, schema) : json_value{};
  return r;
}

// -- reading points -------------------------------------------------------------------------------

int64_t api_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The embeddings of one point: `vector` is a list (the unnamed vector) or an object by name;
/// every vector of the collection must be there (a Telos memory carries all of them).
std::map<std::string, embedding>
api_read_vectors(const json_value& v, const collection_schema& schema, const std::string& field) {
  std::map<std::string, embedding> out;
  if (v.is_array()) {
    const auto& slot = schema.slot("", field);
    out[slot.embedder] = read_vector(v, slot, field);
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      const auto& slot = schema.slot(it.key(), field + "." + it.key());
      out[slot.embedder] = read_vector(it.value(), slot, field + "." + it.key());
    }
  } else {
    bad_request(field, "expected a vector or an object of named vectors");
  }
  for (const auto& slot : schema.slots)
    if (!out.count(slot.embedder))
      bad_request(field, "missing vector '" + slot.name +
                             "' (Telos stores every vector of a point together)");
  return out;
}

memory api_make_point(const json_value& id, const json_value& vectors, const json_value& payload,
                      const collection_schema& schema, const std::string& field,
                      const std::string& id_field, const std::string& payload_field) {
  memory m;
  m.id = point_uuid(id, id_field);
  m.embeddings = api_read_vectors(vectors, schema, field);
  if (!payload.is_null() && !payload.is_object()) bad_request(payload_field, "expected an object");
  m.content = payload.is_null() ? std::string{} : payload_text(payload);
  m.attributes = index_attributes(schema, payload.is_null() ? json_value::object() : payload);
  m.created_at = m.updated_at = api_now_ms();
  return m;
}

std::vector<memory> api_read_upsert(const json_value& body, const collection_schema& schema) {
  api_known_keys(body, {"points", "batch", "shard_key", "update_filter"});
  if (body.contains("update_filter")) bad_request("update_filter", "not supported");
  std::vector<memory> out;
  if (body.contains("points")) {
    const auto& points = body["points"];
    if (!points.is_array()) bad_request("points", "expected a list of points");
    for (size_t i = 0; i < points.size(); ++i) {
      auto f = "points[" + std::to_string(i) + "]";
      const auto& p = points[i];
      if (!p.is_object() || !p.contains("id")) bad_request(f, "expected {\"id\",\"vector\",…}");
      api_known_keys(p, {"id", "vector", "payload"}, f + ".");
      if (!p.contains("vector")) bad_request(f + ".vector", "missing");
      out.push_back(api_make_point(p["id"], p["vector"], p.value("payload", json_value{}), schema,
                                   f + ".vector", f + ".id", f + ".payload"));
    }
  } else if (body.contains("batch")) {
    const auto& b = body["batch"];
    if (!b.is_object() || !b.contains("ids") || !b["ids"].is_array())
      bad_request("batch", "expected {\"ids\":[…],\"vectors\":…,\"payloads\":[…]}");
    api_known_keys(b, {"ids", "vectors", "payloads"}, "batch.");
    const auto& ids = b["ids"];
    const auto& vectors = b.value("vectors", json_value{});
    const auto& payloads = b.value("payloads", json_value{});
    if (!payloads.is_null() && (!payloads.is_array() || payloads.size() != ids.size()))
      bad_request("batch.payloads", "expected one payload per id");
    // Either one list of vectors (the unnamed vector) or an object of lists by name.
    bool named = vectors.is_object();
    if (!named && (!vectors.is_array() || vectors.size() != ids.size()))
      bad_request("batch.vectors", "expected one vector per id");
    if (named)
      for (auto it = vectors.begin(); it != vectors.end(); ++it)
        if (!it.value().is_array() || it.value().size() != ids.size())
          bad_request("batch.vectors." + it.key(), "expected one vector per id");
    for (size_t i = 0; i < ids.size(); ++i) {
      auto n = std::to_string(i);
      json_value v;
      if (named) {
        v = json_value::object();
        for (auto it = vectors.begin(); it != vectors.end(); ++it)
          v[it.key()] = it.value()[i];
      } else {
        v = vectors[i];
      }
      out.push_back(api_make_point(ids[i], v, payloads.is_null() ? json_value{} : payloads[i],
                                   schema, "batch.vectors[" + n + "]", "batch.ids[" + n + "]",
                                   "batch.payloads[" + n + "]"));
    }
  } else {
    bad_request("points", "missing (give \"points\" or \"batch\")");
  }
  std::set<uuid> seen;
  for (size_t i = 0; i < out.size(); ++i)
    if (!seen.insert(out[i].id).second)
      bad_request("points[" + std::to_string(i) + "].id",
                  "point id " + dump(point_id_json(out[i].id)) + " appears twice in the request");
  return out;
}

std::vector<uuid> api_read_ids(const json_value& list, const std::string& field) {
  if (!list.is_array()) bad_request(field, "expected a list of point ids");
  std::vector<uuid> ids;
  for (size_t i = 0; i < list.size(); ++i)
    ids.push_back(point_uuid(list[i], field + "[" + std::to_string(i) + "]"));
  return ids;
}

/// Every stored point the filter admits, in id order: the candidates of the filter's conditions
/// on indexed fields (from the store's secondary-index rows), else every record; each confirmed
/// on its payload.
template <class Visit>
void api_scan(collection& c, const payload_filter& f, std::optional<uuid> after, Visit visit) {
  auto indexed = f.index_filter(c.schema.index_slots);
  for (;;) {
    if (!indexed) {
      auto page = api_check(c.store->list("", 256, after));
      for (auto& m : page.items)
        if (f.admits(m.id, payload_of(m)))
          if (!visit(m)) return;
      if (!page.next_after) return;
      after = page.next_after;
      continue;
    }
    // A filtered list reads its records without their vectors: the points it admits are read
    // again whole (and confirmed again, should one have changed in between).
    auto page = api_check(c.store->list_matching(*indexed, 256, after));
    std::vector<uuid> ids;
    for (const auto& m : page.items)
      if (f.admits(m.id, payload_of(m))) ids.push_back(m.id);
    if (!ids.empty())
      for (auto& m : api_check(c.store->get_batch(ids)))
        if (m && f.admits(m->id, payload_of(*m)))
          if (!visit(*m)) return;
    if (!page.next_after) return;
    after = page.next_after;
  }
}

/// The points a body's "points" (ids) or "filter" selects; ids that are not stored are left out.
std::vector<memory> api_select(collection& c, const json_value& body) {
  std::vector<memory> out;
  if (body.contains("points") && !body["points"].is_null()) {
    auto ids = api_read_ids(body["points"], "points");
    for (auto& m : api_check(c.store->get_batch(ids)))
      if (m) out.push_back(std::move(*m));
  } else if (body.contains("filter") && !body["filter"].is_null()) {
    auto f = payload_filter::parse(body["filter"], "filter");
    api_scan(c, f, std::nullopt, [&](memory& m) {
      out.push_back(std::move(m));
      return true;
    });
  } else {
    bad_request("points", "give \"points\" (ids) or \"filter\"");
  }
  return out;
}

// -- search ---------------------------------------------------------------------------------------

struct scored_point {
  uuid id;
  /// Higher is better.
  double rank = 0;
  /// As Qdrant reports it.
  double score = 0;
  std::shared_ptr<const memory> record;
};

bool api_better(const scored_point& a, const scored_point& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.id < b.id;
}

void api_sort_truncate(std::vector<scored_point>& list, size_t k) {
  std::sort(list.begin(), list.end(), api_better);
  if (list.size() > k) list.resize(k);
}

bool api_passes(const scored_point& p, std::optional<double> threshold, bool distance) {
  if (!threshold) return true;
  return distance ? p.score <= *threshold : p.score >= *threshold;
}

/// The k nearest points to `query` in one vector: through the store's index when nothing is
/// filtered, else exactly over the records the filter admits.
std::vector<scored_point> api_nearest(collection& c, const vector_slot& slot,
                                      const embedding& query, const payload_filter& f, size_t k,
                                      std::optional<uuid> leave_out) {
  std::vector<scored_point> out;
  if (k == 0) return out;
  if (f.empty()) {
    search_request req;
    req.embedder = slot.embedder;
    req.query = query;
    req.k = static_cast<uint32_t>(std::min<size_t>(k + (leave_out ? 1 : 0), 100000));
    req.with_records = true;
    auto r = api_check(c.store->search(req));
    for (size_t i = 0; i < r.hits.size() && i < r.records.size(); ++i) {
      if (leave_out && r.hits[i].id == *leave_out) continue;
      auto rec = std::make_shared<const memory>(std::move(r.records[i]));
      auto it = rec->embeddings.find(slot.embedder);
      // The score in Qdrant's convention, from the stored vector (the index's own score is the
      // same up to rounding, but Euclid is negated there and MaxSim a mean, not a sum).
      double score = it == rec->embeddings.end() ? 0 : qdrant_score(query, it->second, slot);
      out.push_back({r.hits[i].id, rank_value(score, slot), score, rec});
    }
    api_sort_truncate(out, k);
    return out;
  }
  api_scan(c, f, std::nullopt, [&](memory& m) {
    auto it = m.embeddings.find(slot.embedder);
    if (it == m.embeddings.end() || (leave_out && m.id == *leave_out)) return true;
    double score = qdrant_score(query, it->second, slot);
    out.push_back(
        {m.id, rank_value(score, slot), score, std::make_shared<const memory>(std::move(m))});
    if (out.size() > 4 * k + 64) api_sort_truncate(out, k);
    return true;
  });
  api_sort_truncate(out, k);
  return out;
}

/// A query vector of a search or query body, in the form of its slot, or a stored point's vector
/// when the query is a point id (that point is then left out of the results, as Qdrant does).
struct query_vector {
  const vector_slot* slot = nullptr;
  embedding value;
  std::optional<uuid> from_point;
};

bool api_looks_like_id(const json_value& v) {
  return v.is_number_unsigned() || v.is_number_integer() || v.is_string();
}

query_vector api_resolve_vector(collection& c, const json_value& v, const std::string& using_name,
                                const std::string& field) {
  query_vector q;
  q.slot = &c.schema.slot(using_name, "using");
  if (api_looks_like_id(v)) {
    auto id = point_uuid(v, field);
    auto m = api_check(c.store->get(id));
    if (!m) throw api_error(404, "Not found: No point with id " + dump(v) + " found");
    q.value = m->embeddings.at(q.slot->embedder);
    q.from_point = id;
    return q;
  }
  q.value = read_vector(v, *q.slot, field);
  return q;
}

struct query_plan {
  enum class kind { nearest, fusion_rrf, fusion_dbsf, by_id_order } what = kind::nearest;
  std::optional<query_vector> vector;
  double rrf_k = 2;
  std::vector<query_plan> prefetch;
  payload_filter filter;
  size_t limit = 10;
  std::optional<double> threshold;
};

query_plan api_read_plan(collection& c, const json_value& body, const std::string& prefix,
                         bool top);

void api_read_query_field(collection& c, query_plan& plan, const json_value& q,
                          const std::string& using_name, const std::string& field) {
  if (q.is_null()) {
    plan.what = query_plan::kind::by_id_order;
    return;
  }
  if (q.is_object() && q.contains("fusion")) {
    if (q["fusion"] == "rrf")
      plan.what = query_plan::kind::fusion_rrf;
    else if (q["fusion"] == "dbsf")
      plan.what = query_plan::kind::fusion_dbsf;
    else
      bad_request(field + ".fusion", "expected rrf or dbsf, got " + dump(q["fusion"]));
    return;
  }
  if (q.is_object() && q.contains("rrf")) {
    plan.what = query_plan::kind::fusion_rrf;
    const auto& r = q["rrf"];
    if (r.is_object() && r.contains("k") && !r["k"].is_null()) {
      if (!r["k"].is_number_unsigned()) bad_request(field + ".rrf.k", "expected an integer");
      plan.rrf_k = r["k"].get<double>();
    }
    return;
  }
  if (q.is_object() && q.contains("nearest")) {
    if (q.size() != 1) bad_request(field, "nearest with mmr or other options is not supported");
    plan.vector = api_resolve_vector(c, q["nearest"], using_name, field + ".nearest");
    return;
  }
  if (q.is_object() && !q.contains("indices")) {
    bad_request(field, "unsupported query " + std::string{q.begin().key()} +
                           " (nearest vectors, point ids, fusion rrf|dbsf are supported)");
  }
  plan.vector = api_resolve_vector(c, q, using_name, field);
}

query_plan api_read_plan(collection& c, const json_value& body, const std::string& prefix,
                         bool top) {
  if (!body.is_object()) bad_request(prefix, "expected an object");
  if (top)
    api_known_keys(body,
                   {"query", "using", "prefetch", "filter", "score_threshold", "limit", "offset",
                    "with_payload", "with_vector", "with_vectors", "params", "shard_key",
                    "lookup_from"},
                   prefix);
  else
    api_known_keys(body,
                   {"query", "using", "prefetch", "filter", "score_threshold", "limit", "params",
                    "lookup_from"},
                   prefix);
  if (body.contains("lookup_from") && !body["lookup_from"].is_null())
    bad_request(prefix + "lookup_from", "not supported");
  query_plan plan;
  std::string using_name;
  if (body.contains("using") && !body["using"].is_null()) {
    if (!body["using"].is_string()) bad_request(prefix + "using", "expected a vector name");
    using_name = body["using"].get<std::string>();
  }
  plan.filter = payload_filter::parse(body.value("filter", json_value{}), prefix + "filter");
  plan.limit = api_read_count(body, "limit", 10, prefix);
  plan.threshold = api_read_threshold(body, prefix);
  if (body.contains("prefetch") && !body["prefetch"].is_null()) {
    const auto& p = body["prefetch"];
    if (p.is_object())
      plan.prefetch.push_back(api_read_plan(c, p, prefix + "prefetch.", false));
    else if (p.is_array())
      for (size_t i = 0; i < p.size(); ++i)
        plan.prefetch.push_back(
            api_read_plan(c, p[i], prefix + "prefetch[" + std::to_string(i) + "].", false));
    else
      bad_request(prefix + "prefetch", "expected a prefetch or a list of them");
  }
  api_read_query_field(c, plan, body.value("query", json_value{}), using_name, prefix + "query");
  bool fusion =
      plan.what == query_plan::kind::fusion_rrf || plan.what == query_plan::kind::fusion_dbsf;
  if (fusion && plan.prefetch.empty())
    bad_request(prefix + "query", "fusion needs prefetch queries to fuse");
  if (plan.what == query_plan::kind::by_id_order && plan.prefetch.size() > 1)
    bad_request(prefix + "query", "several prefetches need a query (fusion or a vector)");
  return plan;
}

std::vector<scored_point> api_fuse(const query_plan& plan,
                                   std::vector<std::vector<scored_point>>& lists) {
  std::map<uuid, scored_point> fused;
  for (auto& list : lists) {
    std::sort(list.begin(), list.end(), api_better);
    double lo = 0, hi = 0;
    if (plan.what == query_plan::kind::fusion_dbsf && !list.empty()) {
      double mean = 0, var = 0;
      for (const auto& p : list)
        mean += p.rank;
      mean /= double(list.size());
      for (const auto& p : list)
        var += (p.rank - mean) * (p.rank - mean);
      double sd = std::sqrt(var / double(list.size()));
      lo = mean - 3 * sd;
      hi = mean + 3 * sd;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      double add;
      if (plan.what == query_plan::kind::fusion_rrf)
        add = 1.0 / (plan.rrf_k + double(i));
      else if (hi > lo)
        add = std::clamp((list[i].rank - lo) / (hi - lo), 0.0, 1.0);
      else
        add = 0.5;
      auto& entry = fused[list[i].id];
      if (!entry.record) {
        entry.id = list[i].id;
        entry.record = list[i].record;
      }
      entry.rank += add;
      entry.score = entry.rank;
    }
  }
  std::vector<scored_point> out;
  for (auto& [id, p] : fused)
    out.push_back(std::move(p));
  return out;
}

/// Runs a query plan: the outer filter applies to every prefetch as well; `extra` more results
/// are asked for (the offset of the top level).
std::vector<scored_point> api_run(collection& c, const query_plan& plan,
                                  const payload_filter& outer, size_t extra) {
  auto f = plan.filter.both(outer);
  size_t k = plan.limit + extra;
  std::vector<scored_point> out;
  bool distance = false;
  if (plan.prefetch.empty()) {
    if (plan.what == query_plan::kind::by_id_order) {
      api_scan(c, f, std::nullopt, [&](memory& m) {
        out.push_back({m.id, 0, 0, std::make_shared<const memory>(std::move(m))});
        return out.size() < k;
      });
      return out;
    }
    out = api_nearest(c, *plan.vector->slot, plan.vector->value, f, k, plan.vector->from_point);
    distance = plan.vector->slot->distance == "Euclid";
  } else {
    std::vector<std::vector<scored_point>> lists;
    for (const auto& p : plan.prefetch)
      lists.push_back(api_run(c, p, f, 0));
    if (plan.what == query_plan::kind::fusion_rrf || plan.what == query_plan::kind::fusion_dbsf) {
      out = api_fuse(plan, lists);
    } else if (plan.what == query_plan::kind::by_id_order) {
      out = std::move(lists.front());
    } else {
      // Re-score the prefetched candidates with this query's vector.
      const auto& slot = *plan.vector->slot;
      std::set<uuid> seen;
      for (auto& list : lists)
        for (auto& p : list) {
          if (!seen.insert(p.id).second) continue;
          if (plan.vector->from_point && p.id == *plan.vector->from_point) continue;
          auto it = p.record->embeddings.find(slot.embedder);
          if (it == p.record->embeddings.end()) continue;
          double score = qdrant_score(plan.vector->value, it->second, slot);
          out.push_back({p.id, rank_value(score, slot), score, p.record});
        }
      distance = slot.distance == "Euclid";
    }
    api_sort_truncate(out, k);
  }
  if (plan.threshold)
    out.erase(std::remove_if(
                  out.begin(), out.end(),
                  [&](const scored_point& p) { return !api_passes(p, plan.threshold, distance); }),
              out.end());
  return out;
}

json_value api_scored_json(const std::vector<scored_point>& points, size_t offset,
                           const collection_schema& schema, const payload_selector& payload,
                           const vector_selector& vectors) {
  json_value out = json_value::array();
  for (size_t i = offset; i < points.size(); ++i) {
    const auto& p = points[i];
    json_value r = {{"id", point_id_json(p.id)}, {"version", 0}, {"score", p.score}};
    r["payload"] = payload.any ? payload.apply(payload_of(*p.record)) : json_value{};
    r["vector"] = vectors.any ? vectors.apply(*p.record, schema) : json_value{};
    out.push_back(std::move(r));
  }
  return out;
}

json_value api_query(collection& c, const json_value& body, const std::string& prefix) {
  auto plan = api_read_plan(c, body, prefix, true);
  size_t offset = api_read_count(body, "offset", 0, prefix);
  auto points = api_run(c, plan, payload_filter{}, offset);
  auto payload = payload_selector::read(body, "with_payload", false);
  auto vectors = vector_selector::read(body);
  return {{"points", api_scored_json(points, offset, c.schema, payload, vectors)}};
}

/// The search API: {"vector": [..] | {"name","vector"} | sparse
/// {"name","vector":{indices,values}}}.
json_value api_search(collection& c, const json_value& body, const std::string& prefix) {
  api_known_keys(body,
                 {"vector", "filter", "limit", "offset", "with_payload", "with_vector",
                  "with_vectors", "score_threshold", "params", "shard_key"},
                 prefix);
  if (!body.contains("vector")) bad_request(prefix + "vector", "missing");
  const auto& v = body["vector"];
  query_plan plan;
  std::string name;
  json_value raw = v;
  if (v.is_object() && v.contains("name") && v.contains("vector")) {
    if (!v["name"].is_string()) bad_request(prefix + "vector.name", "expected a string");
    name = v["name"].get<std::string>();
    raw = v["vector"];
  } else if (!v.is_array()) {
    bad_request(prefix + "vector", "expected a vector or {\"name\",\"vector\"}");
  }
  query_vector q;
  q.slot = &c.schema.slot(name, prefix + "vector.name");
  q.value = read_vector(raw, *q.slot, prefix + "vector");
  plan.vector = q;
  plan.filter = payload_filter::parse(body.value("filter", json_value{}), prefix + "filter");
  plan.limit = api_read_count(body, "limit", 10, prefix);
  plan.threshold = api_read_threshold(body, prefix);
  size_t offset = api_read_count(body, "offset", 0, prefix);
  auto points = api_run(c, plan, payload_filter{}, offset);
  return api_scored_json(points, offset, c.schema,
                         payload_selector::read(body, "with_payload", false),
                         vector_selector::read(body));
}

// -- scroll with order_by -------------------------------------------------------------------------

struct scroll_order {
  std::string key;
  bool descending = false;
  /// Values are RFC 3339 datetimes (as microseconds), not numbers.
  bool datetimes = false;
  std::optional<double> start_from;

  /// Reads "order_by": a key, or {"key","direction","start_from"}. Datetimes when start_from is
  /// a datetime string or the key's payload index is a datetime index.
  static scroll_order read(const json_value& v, const collection_schema& schema) {
    scroll_order o;
    if (v.is_string()) {
      o.key = v.get<std::string>();
    } else if (v.is_object()) {
      api_known_keys(v, {"key", "direction", "start_from"}, "order_by.");
      if (!v.contains("key") || !v["key"].is_string())
        bad_request("order_by.key", "expected the payload key to order by");
      o.key = v["key"].get<std::string>();
      const auto& d = v.value("direction", json_value{});
      if (d == "desc")
        o.descending = true;
      else if (!d.is_null() && d != "asc")
        bad_request("order_by.direction", "expected asc or desc, got " + dump(d));
      const auto& s = v.value("start_from", json_value{});
      if (s.is_number()) {
        o.start_from = s.get<double>();
      } else if (s.is_string()) {
        o.start_from = parse_datetime(s.get<std::string>());
        if (!o.start_from)
          bad_request("order_by.start_from", "not a number or an RFC 3339 datetime: " + dump(s));
        o.datetimes = true;
      } else if (!s.is_null()) {
        bad_request("order_by.start_from", "expected a number or an RFC 3339 datetime");
      }
    } else {
      bad_request("order_by", "expected a key or {\"key\",\"direction\",\"start_from\"}");
    }
    (void)normalised_key(o.key, "order_by.key");
    if (schema.payload_schema.contains(o.key)) {
      const auto& info = schema.payload_schema[o.key];
      if (info.is_object() && info.value("data_type", json_value{}) == "datetime")
        o.datetimes = true;
    }
    return o;
  }

  /// The value a point is ordered by: its first value in the order at or past start_from.
  std::optional<double> value_of(const json_value& payload) const {
    std::optional<double> best;
    for (double x : payload_numbers(payload, key, datetimes)) {
      if (start_from && (descending ? x > *start_from : x < *start_from)) continue;
      if (!best || (descending ? x > *best : x < *best)) best = x;
    }
    return best;
  }
};

/// Scroll ordered by a payload value: the points the filter admits that have a value at the key
/// (at or past start_from), by value, ties by id; no next page offset (continue with start_from,
/// as in Qdrant).
json_value api_scroll_ordered(collection& c, const json_value& body, const payload_filter& f,
                              size_t limit) {
  if (body.contains("offset") && !body["offset"].is_null())
    bad_request("offset", "cannot be used with order_by (continue with order_by.start_from)");
  auto order = scroll_order::read(body["order_by"], c.schema);
  struct entry {
    double value;
    memory record;
  };
  auto before = [&](const entry& a, const entry& b) {
    if (a.value != b.value) return order.descending ? a.value > b.value : a.value < b.value;
    return a.record.id < b.record.id;
  };
  std::vector<entry> best;
  auto keep = [&]() {
    std::sort(best.begin(), best.end(), before);
    if (best.size() > limit) best.resize(limit);
  };
  api_scan(c, f, std::nullopt, [&](memory& m) {
    if (auto v = order.value_of(payload_of(m))) {
      best.push_back({*v, std::move(m)});
      if (best.size() > 4 * limit + 64) keep();
    }
    return true;
  });
  keep();
  auto payload = payload_selector::read(body, "with_payload", true);
  auto vectors = vector_selector::read(body);
  json_value points = json_value::array();
  for (const auto& e : best) {
    auto r = api_record(e.record, c.schema, payload, vectors);
    double integral;
    bool whole = std::modf(e.value, &integral) == 0 && std::abs(e.value) < 9e15;
    if (order.datetimes || whole)
      r["order_value"] = static_cast<int64_t>(e.value);
    else
      r["order_value"] = e.value;
    points.push_back(std::move(r));
  }
  return {{"points", points}, {"next_page_offset", nullptr}};
}

// -- collections ----------------------------------------------------------------------------------

json_value api_collection_info(collection& c) {
  auto count = api_check(c.store->count());
  json_value params = {{"vectors", c.schema.vectors_config},
                       {"shard_number", 1},
                       {"replication_factor", 1},
                       {"write_consistency_factor", 1},
                       {"on_disk_payload", true}};
  if (!c.schema.sparse_config.empty()) params["sparse_vectors"] = c.schema.sparse_config;
  return {
      {"status", "green"},
      {"optimizer_status", "ok"},
      {"indexed_vectors_count", count},
      {"points_count", count},
      {"segments_count", 1},
      {"config",
       {{"params", params},
        {"hnsw_config",
         {{"m", 16}, {"ef_construct", 200}, {"full_scan_threshold", 20000}, {"on_disk", false}}},
        {"optimizer_config", json_value::object()},
        {"wal_config", {{"wal_capacity_mb", 32}, {"wal_segments_ahead", 0}}},
        {"quantization_config", nullptr}}},
      {"payload_schema", c.schema.payload_schema}};
}

// -- routing --------------------------------------------------------------------------------------

std::vector<std::string> api_split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

std::string api_url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// -- payload indexes ------------------------------------------------------------------------------

/// Rewrites every point whose index attributes differ from what the schema asks for (after an
/// index was created or deleted), a page at a time.
void api_reindex(collection& c) {
  std::optional<uuid> after;
  for (;;) {
    auto page = api_check(c.store->list("", 256, after));
    std::vector<memory> changed;
    for (auto& m : page.items) {
      auto attributes = index_attributes(c.schema, payload_of(m));
      if (attributes == m.attributes) continue;
      m.attributes = std::move(attributes);
      changed.push_back(std::move(m));
    }
    if (!changed.empty()) api_check(c.store->put_batch(std::move(changed)));
    if (!page.next_after) return;
    after = page.next_after;
  }
}

/// PUT /collections/{name}/index and DELETE /collections/{name}/index/{field}: the field gets
/// (or loses) an attribute slot whose secondary-index rows answer match conditions on it; the
/// collection's points are rewritten with (or without) it and the schema file saved. Requests to
/// the collection wait meanwhile.
json_value api_payload_index(collection_registry& registry, collection& c, const http_request& req,
                             const std::vector<std::string>& rest, std::string& route) {
  std::unique_lock<std::shared_mutex> exclusive{c.use};
  if (c.closed) throw api_error(404, "Not found: Collection `" + c.name + "` doesn't exist!");
  if (rest.size() == 1 && req.method == "PUT") {
    route = "/collections/{name}/index";
    auto body = api_parse_body(req.body, true);
    api_known_keys(body, {"field_name", "field_schema"});
    if (!body.contains("field_name") || !body["field_name"].is_string())
      bad_request("field_name", "expected the name of a payload field");
    auto field = body["field_name"].get<std::string>();
    auto key = normalised_key(field, "field_name");
    const auto& given = body.value("field_schema", json_value{});
    std::string type;
    json_value params;
    if (given.is_string()) {
      type = given.get<std::string>();
    } else if (given.is_object() && given.contains("type") && given["type"].is_string()) {
      type = given["type"].get<std::string>();
      params = given;
      params.erase("type");
    } else {
      bad_request("field_schema", "expected a type name or {\"type\":…}");
    }
    static const std::set<std::string> matched{"keyword", "integer", "bool", "uuid"};
    static const std::set<std::string> recorded{"float", "text", "datetime", "geo"};
    if (!matched.count(type) && !recorded.count(type))
      bad_request("field_schema",
                  "unknown type '" + type +
                      "' (keyword, integer, bool, uuid, float, text, datetime, geo)");
    json_value info = {{"data_type", type}};
    if (params.is_object() && !params.empty()) info["params"] = params;
    auto old = c.schema;
    try {
      c.schema.payload_schema[field] = info;
      bool slotted = c.schema.index_slots.count(key) > 0;
      if (matched.count(type) && !slotted && c.schema.index_slot_count > 0) {
        std::set<uint32_t> taken;
        for (const auto& [k, slot] : c.schema.index_slots)
          taken.insert(slot);
        uint32_t slot = 0;
        while (taken.count(slot))
          ++slot;
        if (slot >= c.schema.index_slot_count)
          bad_request("field_name", "the collection already has " +
                                        std::to_string(c.schema.index_slot_count) +
                                        " indexed fields that match conditions use (the most it "
                                        "can have); delete one first");
        c.schema.index_slots[key] = slot;
        api_reindex(c);
      } else if (!matched.count(type) && slotted) {
        c.schema.index_slots.erase(key); // its rows are dropped below, once the schema is saved
      }
      registry.save_schema(c);
    } catch (...) {
      c.schema = old;
      throw;
    }
    if (old.index_slots.size() > c.schema.index_slots.size()) api_reindex(c);
    return api_operation(c);
  }
  if (rest.size() == 2 && req.method == "DELETE") {
    route = "/collections/{name}/index/{field}";
    auto field = api_url_decode(rest[1]);
    auto key = normalised_key(field, "field_name");
    // The schema goes first: once saved, filters no longer read the slot, so a rewrite that
    // fails half way leaves only rows nobody reads (the next index on the slot rewrites them).
    auto old = c.schema;
    bool slotted = c.schema.index_slots.erase(key) > 0;
    c.schema.payload_schema.erase(field);
    try {
      registry.save_schema(c);
    } catch (...) {
      c.schema = old;
      throw;
    }
    if (slotted) api_reindex(c);
    return api_operation(c);
  }
  route = "/collections/{name}/index";
  throw api_error(405, "Method not allowed");
}

/// Collection routes under /collections/{name}/…; `route` is set to the pattern.
json_value api_collection_route(collection_registry& registry, const http_request& req,
                                const std::vector<std::string>& parts, std::string& route) {
  const auto& method = req.method;
  const auto name = api_url_decode(parts[1]);
  auto rest = std::vector<std::string>(parts.begin() + 2, parts.end());
  auto is = [&](std::initializer_list<const char*> want) {
    if (rest.size() != want.size()) return false;
    size_t i = 0;
    for (const char* w : want)
      if (rest[i++] != w) return false;
    return true;
  };
  route = "/collections/{name}";
  if (rest.empty()) {
    if (method == "PUT") {
      auto schema = collection_schema::from_request(api_parse_body(req.body, false));
      registry.create(name, schema);
      return true;
    }
    if (method == "DELETE") return registry.drop(name);
    if (method == "PATCH") bad_request("", "updating a collection's parameters is not supported");
    if (method != "GET") throw api_error(405, "Method not allowed");
  }
  if (is({"exists"}) && method == "GET") {
    route = "/collections/{name}/exists";
    return {{"exists", registry.find(name) != nullptr}};
  }
  auto c = registry.get(name);
  if (!rest.empty() && rest.front() == "index")
    return api_payload_index(registry, *c, req, rest, route);
  std::shared_lock<std::shared_mutex> shared{c->use};
  if (c->closed) throw api_error(404, "Not found: Collection `" + name + "` doesn't exist!");
  if (rest.empty()) return api_collection_info(*c);
  route = "/collections/{name}/" + rest.front();
  if (rest.front() != "points") throw api_error(404, "Not found: " + req.path);
  route = "/collections/{name}/points";
  if (is({"points"})) {
    auto body = api_parse_body(req.body, true);
    if (method == "PUT") {
      auto batch = api_read_upsert(body, c->schema);
      if (!batch.empty()) api_check(c->store->put_batch(std::move(batch)));
      return api_operation(*c);
    }
    if (method == "POST") {
      api_known_keys(
          body, {"ids", "with_payload", "with_vector", "with_vectors", "shard_key", "consistency"});
      if (!body.contains("ids")) bad_request("ids", "missing");
      auto ids = api_read_ids(body["ids"], "ids");
      auto payload = payload_selector::read(body, "with_payload", true);
      auto vectors = vector_selector::read(body);
      json_value out = json_value::array();
      for (auto& m : api_check(c->store->get_batch(ids)))
        if (m) out.push_back(api_record(*m, c->schema, payload, vectors));
      return out;
    }
  }
  if (rest.size() == 2 && method == "GET") {
    route = "/collections/{name}/points/{id}";
    json_value id_doc;
    auto text = api_url_decode(rest[1]);
    if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit))
      id_doc = std::stoull(text);
    else
      id_doc = text;
    auto m = api_check(c->store->get(point_uuid(id_doc, "id")));
    if (!m) throw api_error(404, "Not found: No point with id " + text + " found");
    vector_selector all;
    all.any = true;
    payload_selector everything;
    everything.any = true;
    return api_record(*m, c->schema, everything, all);
  }
  if (method != "POST" && !(method == "PUT" && is({"points", "payload"})))
    throw api_error(405, "Method not allowed");
  auto body = api_parse_body(req.body, true);
  std::string tail;
  for (size_t i = 1; i < rest.size(); ++i)
    tail += "/" + rest[i];
  route = "/collections/{name}/points" + tail;
  if (tail == "/delete") {
    api_known_keys(body, {"points", "filter", "shard_key"});
    std::lock_guard<std::mutex> guard{c->rewrite};
    for (const auto& m : api_select(*c, body))
      api_check(c->store->remove(m.id));
    return api_operation(*c);
  }
  if (tail == "/payload" || tail == "/payload/delete" || tail == "/payload/clear") {
    api_known_keys(body, {"payload", "points", "filter", "keys", "key", "shard_key"});
    std::vector<std::string> at;
    if (body.contains("key") && !body["key"].is_null()) {
      if (tail != "/payload") bad_request("key", "only setting a payload takes a key");
      if (!body["key"].is_string()) bad_request("key", "expected a payload key");
      at = api_object_path(body["key"].get<std::string>(), "key");
    }
    bool overwrite = method == "PUT";
    json_value changes;
    std::vector<std::string> keys;
    if (tail == "/payload") {
      if (!body.contains("payload") || !body["payload"].is_object())
        bad_request("payload", "expected an object");
      changes = body["payload"];
    } else if (tail == "/payload/delete") {
      if (!body.contains("keys") || !body["keys"].is_array())
        bad_request("keys", "expected a list");
      for (const auto& k : body["keys"]) {
        if (!k.is_string()) bad_request("keys", "expected a list of strings");
        keys.push_back(k.get<std::string>());
        (void)normalised_key(keys.back(), "keys");
      }
    }
    std::lock_guard<std::mutex> guard{c->rewrite};
    auto selected = api_select(*c, body);
    for (auto& m : selected) {
      auto payload = payload_of(m);
      if (tail == "/payload/clear")
        payload = json_value::object();
      else if (tail == "/payload/delete")
        for (const auto& k : keys)
          api_erase_path(payload, k);
      else
        api_set_at(payload, at, changes, overwrite);
      m.content = payload_text(payload);
      m.attributes = index_attributes(c->schema, payload);
      m.updated_at = api_now_ms();
    }
    // One batch: every selected point changes, or none.
    if (!selected.empty()) api_check(c->store->put_batch(std::move(selected)));
    return api_operation(*c);
  }
  if (tail == "/scroll") {
    api_known_keys(body, {"filter", "limit", "offset", "with_payload", "with_vector",
                          "with_vectors", "order_by", "shard_key", "consistency"});
    auto f = payload_filter::parse(body.value("filter", json_value{}), "filter");
    size_t limit = api_read_count(body, "limit", 10);
    if (body.contains("order_by") && !body["order_by"].is_null())
      return api_scroll_ordered(*c, body, f, limit);
    std::optional<uuid> after;
    if (body.contains("offset") && !body["offset"].is_null())
      after = uuid_before(point_uuid(body["offset"], "offset"));
    auto payload = payload_selector::read(body, "with_payload", true);
    auto vectors = vector_selector::read(body);
    json_value points = json_value::array();
    json_value next = nullptr;
    api_scan(*c, f, after, [&](memory& m) {
      if (points.size() == limit) {
        next = point_id_json(m.id);
        return false;
      }
      points.push_back(api_record(m, c->schema, payload, vectors));
      return true;
    });
    return {{"points", points}, {"next_page_offset", next}};
  }
  if (tail == "/count") {
    api_known_keys(body, {"filter", "exact", "shard_key"});
    auto f = payload_filter::parse(body.value("filter", json_value{}), "filter");
    if (f.empty()) return {{"count", api_check(c->store->count())}};
    uint64_t n = 0;
    api_scan(*c, f, std::nullopt, [&](memory&) {
      ++n;
      return true;
    });
    return {{"count", n}};
  }
  if (tail == "/search") return api_search(*c, body, "");
  if (tail == "/query") return api_query(*c, body, "");
  if (tail == "/search/batch" || tail == "/query/batch") {
    bool search = tail == "/search/batch";
    const char* key = "searches"; // both batch forms name their list so
    if (!body.contains(key) || !body[key].is_array()) bad_request(key, "expected a list");
    json_value out = json_value::array();
    for (size_t i = 0; i < body[key].size(); ++i) {
      auto prefix = std::string{key} + "[" + std::to_string(i) + "].";
      if (search)
        out.push_back(api_search(*c, body[key][i], prefix));
      else
        out.push_back(api_query(*c, body[key][i], prefix));
    }
    return out;
  }
  throw api_error(404, "Not found: " + req.path);
}

} // namespace

qdrant_api::qdrant_api(collection_registry& collections, http_metrics& metrics)
    : collections_(collections), metrics_(metrics) {}

http_answer qdrant_api::handle(const http_request& req) {
  auto started = clock_type::now();
  std::string route = "unmatched";
  try {
    auto parts = api_split_path(req.path);
    if (parts.empty() && req.method == "GET") {
      auto a = api_ok(nullptr, started);
      a.body = dump(json_value{{"title", "telos - qdrant-compatible vector search"},
                               {"version", api_qdrant_version},
                               {"engine", "telos"}});
      a.route = "/";
      return a;
    }
    if (parts.size() == 1 && req.method == "GET" &&
        (parts[0] == "healthz" || parts[0] == "livez" || parts[0] == "readyz")) {
      http_answer a;
      a.content_type = "text/plain; charset=utf-8";
      a.body = parts[0] == "readyz" ? "all shards are ready" : parts[0] + " check passed";
      a.route = "/" + parts[0];
      return a;
    }
    if (parts.size() == 1 && parts[0] == "metrics" && req.method == "GET") {
      http_answer a;
      a.content_type = "text/plain; version=0.0.4";
      a.body = metrics_.render(collections_);
      a.route = "/metrics";
      return a;
    }
    if (!parts.empty() && parts[0] == "collections") {
      if (parts.size() == 1 && req.method == "GET") {
        route = "/collections";
        json_value list = json_value::array();
        for (const auto& name : collections_.names())
          list.push_back({{"name", name}});
        auto a = api_ok({{"collections", list}}, started);
        a.route = route;
        return a;
      }
      if (parts.size() >= 2) {
        auto result = api_collection_route(collections_, req, parts, route);
        auto a = api_ok(std::move(result), started);
        a.route = route;
        return a;
      }
    }
    if (!parts.empty() && parts[0] == "telos") {
      auto a = api_ok(telos_api_route(collections_, req, parts, route), started);
      a.route = route;
      return a;
    }
    throw api_error(404, "Not found: " + req.path);
  } catch (const api_error& e) {
    auto a = api_error_answer(e.status, e.what(), started);
    a.route = route;
    return a;
  } catch (const std::exception& e) {
    auto a = api_error_answer(500, std::string{"Service internal error: "} + e.what(), started);
    a.route = route;
    return a;
  }
}

} // namespace telos::server
