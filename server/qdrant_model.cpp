// Qdrant point ids, collection schemas, vectors, payloads and filters on Telos records (see
// qdrant_model.hpp).
#include "telos/server/qdrant_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

namespace telos::server {

void bad_request(const std::string& field, const std::string& what) {
  throw api_error(400, "Bad request: " + (field.empty() ? what : field + ": " + what));
}

json_value parse_body(const std::string& body, bool required) {
  if (body.empty()) {
    if (required) bad_request("", "the request needs a JSON body");
    return json_value::object();
  }
  auto doc = parse_json(body);
  if (!doc) throw api_error(400, "Format error in JSON body: " + describe(doc.error()));
  if (!doc->is_object()) throw api_error(400, "Format error in JSON body: expected an object");
  return std::move(*doc);
}

void known_keys(const json_value& body, std::initializer_list<const char*> known,
                const std::string& prefix) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool ok = false;
    for (const char* k : known)
      ok = ok || it.key() == k;
    if (!ok) bad_request(prefix + it.key(), "unknown or unsupported field");
  }
}

void store_failure(const caf::error& err) {
  switch (code_of(err)) {
  case ec::invalid_argument:
    throw api_error(400, "Bad request: " + describe(err));
  case ec::not_found:
    throw api_error(404, "Not found: " + describe(err));
  case ec::already_exists:
    throw api_error(409, "Conflict: " + describe(err));
  case ec::overloaded:
  case ec::unavailable:
    throw api_error(503, "Service unavailable: " + describe(err));
  default:
    throw api_error(500, "Service internal error: " + describe(err));
  }
}

namespace {

std::string model_type_name(const json_value& v) {
  return v.type_name();
}

} // namespace

// -- point ids ------------------------------------------------------------------------------------

uuid point_uuid(const json_value& id, const std::string& field) {
  uuid out;
  if (id.is_number_unsigned() || (id.is_number_integer() && id.get<int64_t>() >= 0)) {
    uint64_t n = id.get<uint64_t>();
    out.bytes[7] = 1;
    for (int i = 0; i < 8; ++i)
      out.bytes[15 - i] = static_cast<uint8_t>(n >> (8 * i));
    return out;
  }
  if (id.is_string()) {
    auto parsed = uuid::parse(id.get<std::string>());
    if (!parsed)
      bad_request(field, "point id '" + id.get<std::string>() +
                             "' is neither an unsigned integer nor a UUID");
    bool reserved = parsed->bytes[7] == 1;
    for (int i = 0; i < 7; ++i)
      reserved = reserved && parsed->bytes[i] == 0;
    if (reserved || parsed->is_nil())
      bad_request(field, "UUID " + parsed->to_string() +
                             " is reserved (it stands for an integer id or is nil)");
    return *parsed;
  }
  bad_request(field, "point id must be an unsigned integer or a UUID string, got " +
                         model_type_name(id) + " " + dump(id));
}

json_value point_id_json(const uuid& id) {
  bool integer = id.bytes[7] == 1;
  for (int i = 0; i < 7; ++i)
    integer = integer && id.bytes[i] == 0;
  if (!integer) return id.to_string();
  uint64_t n = 0;
  for (int i = 8; i < 16; ++i)
    n = (n << 8) | id.bytes[i];
  return n;
}

std::optional<uuid> uuid_before(const uuid& id) {
  if (id.is_nil()) return std::nullopt;
  uuid out = id;
  for (int i = 15; i >= 0; --i) {
    if (out.bytes[i] != 0) {
      --out.bytes[i];
      break;
    }
    out.bytes[i] = 0xff;
  }
  return out;
}

// -- schema ---------------------------------------------------------------------------------------

namespace {

vector_slot read_dense_params(const json_value& p, const std::string& field) {
  if (!p.is_object()) bad_request(field, "expected an object {\"size\":…,\"distance\":…}");
  vector_slot s;
  for (auto it = p.begin(); it != p.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    if (k == "size") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 || v.get<uint64_t>() > 65536)
        bad_request(field + ".size", "expected an integer from 1 to 65536, got " + dump(v));
      s.size = v.get<uint32_t>();
    } else if (k == "distance") {
      if (!v.is_string()) bad_request(field + ".distance", "expected a string");
      auto d = v.get<std::string>();
      if (d != "Cosine" && d != "Dot" && d != "Euclid")
        bad_request(field + ".distance",
                    "'" + d + "' is not supported (Cosine, Dot and Euclid are; Manhattan is not)");
      s.distance = d;
    } else if (k == "multivector_config") {
      if (v.is_null()) continue;
      if (!v.is_object() || !v.contains("comparator") || v["comparator"] != "max_sim" ||
          v.size() != 1)
        bad_request(field + ".multivector_config",
                    "only {\"comparator\":\"max_sim\"} is supported, got " + dump(v));
      s.kind = embedder_kind::multi;
    } else if (k == "datatype") {
      if (!v.is_null() && v != "float32")
        bad_request(field + ".datatype", "only float32 is supported, got " + dump(v));
    } else if (k == "hnsw_config" || k == "quantization_config" || k == "on_disk") {
      // Accepted and not applied: Telos chooses its index structure per embedder itself.
    } else {
      bad_request(field + "." + k, "unknown field");
    }
  }
  if (s.size == 0) bad_request(field + ".size", "missing");
  if (!p.contains("distance")) bad_request(field + ".distance", "missing");
  if (s.kind == embedder_kind::multi && s.distance != "Cosine")
    bad_request(field + ".distance",
                "multivectors (max_sim) support Cosine only, got " + s.distance);
  return s;
}

bool model_valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20;
  });
}

} // namespace

collection_schema collection_schema::from_request(const json_value& body) {
  if (!body.is_object()) bad_request("", "the body must be a JSON object");
  collection_schema s;
  s.vectors_config = json_value::object();
  s.sparse_config = json_value::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    const auto& k = it.key();
    if (k == "vectors" || k == "sparse_vectors") continue;
    if (k == "shard_number" || k == "replication_factor" || k == "write_consistency_factor" ||
        k == "on_disk_payload" || k == "hnsw_config" || k == "wal_config" ||
        k == "optimizers_config" || k == "quantization_config" || k == "timeout")
      continue; // accepted, not applied (a single node chooses its own layout)
    if (k == "init_from" || k == "sharding_method" || k == "strict_mode_config" || k == "metadata")
      bad_request(k, "not supported by Telos");
    bad_request(k, "unknown field");
  }
  if (body.contains("vectors") && !body["vectors"].is_null()) {
    const auto& v = body["vectors"];
    if (!v.is_object()) bad_request("vectors", "expected an object");
    if (v.contains("size") || v.contains("distance")) {
      auto slot = read_dense_params(v, "vectors");
      s.unnamed = true;
      s.slots.push_back(slot);
      s.vectors_config = v;
    } else {
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!model_valid_name(it.key())) bad_request("vectors", "invalid vector name");
        auto slot = read_dense_params(it.value(), "vectors." + it.key());
        slot.name = it.key();
        s.slots.push_back(slot);
      }
      s.vectors_config = v;
    }
  }
  if (body.contains("sparse_vectors") && !body["sparse_vectors"].is_null()) {
    const auto& v = body["sparse_vectors"];
    if (!v.is_object()) bad_request("sparse_vectors", "expected an object");
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string field = "sparse_vectors." + it.key();
      if (!model_valid_name(it.key())) bad_request("sparse_vectors", "invalid vector name");
      for (const auto& existing : s.slots)
        if (existing.name == it.key()) bad_request(field, "a dense vector has this name");
      if (!it.value().is_object()) bad_request(field, "expected an object");
      for (auto p = it.value().begin(); p != it.value().end(); ++p) {
        if (p.key() == "modifier" && !p.value().is_null() && p.value() != "none")
          bad_request(field + ".modifier", "only none is supported, got " + dump(p.value()));
        else if (p.key() != "index" && p.key() != "modifier")
          bad_request(field + "." + p.key(), "unknown field");
      }
      vector_slot slot;
      slot.name = it.key();
      slot.kind = embedder_kind::sparse;
      slot.distance = "Dot";
      s.slots.push_back(slot);
    }
    s.sparse_config = v;
  }
  if (s.slots.empty()) bad_request("vectors", "a collection needs at least one vector");
  if (s.slots.size() > 64) bad_request("vectors", "at most 64 vectors per collection");
  for (size_t i = 0; i < s.slots.size(); ++i)
    s.slots[i].embedder = "v" + std::to_string(i);
  s.index_slot_count = payload_index_slots;
  return s;
}

collection_schema collection_schema::from_profile(const telos::profile& p) {
  collection_schema s;
  s.vectors_config = json_value::object();
  s.sparse_config = json_value::object();
  for (const auto& e : p.embedders) {
    vector_slot slot;
    slot.name = e.name;
    slot.embedder = e.name;
    slot.kind = e.kind;
    if (e.kind == embedder_kind::sparse) {
      slot.distance = "Dot";
      s.sparse_config[e.name] = json_value::object();
    } else {
      slot.size = e.dim;
      slot.distance = e.kind == embedder_kind::multi ? "Cosine"
                      : e.metric == metric::dot      ? "Dot"
                      : e.metric == metric::l2       ? "Euclid"
                                                     : "Cosine";
      json_value params = {{"size", slot.size}, {"distance", slot.distance}};
      if (e.kind == embedder_kind::multi)
        params["multivector_config"] = {{"comparator", "max_sim"}};
      s.vectors_config[e.name] = params;
    }
    s.slots.push_back(slot);
  }
  return s;
}

json_value collection_schema::to_json() const {
  json_value slots_json = json_value::array();
  for (const auto& s : slots)
    slots_json.push_back({{"name", s.name},
                          {"embedder", s.embedder},
                          {"kind", to_string(s.kind)},
                          {"size", s.size},
                          {"distance", s.distance}});
  return {{"unnamed", unnamed},
          {"slots", slots_json},
          {"vectors", vectors_config},
          {"sparse_vectors", sparse_config},
          {"payload_schema", payload_schema},
          {"index_slot_count", index_slot_count},
          {"index_slots", index_slots}};
}

collection_schema collection_schema::from_json(const json_value& doc) {
  collection_schema s;
  s.unnamed = doc.at("unnamed").get<bool>();
  for (const auto& j : doc.at("slots")) {
    vector_slot slot;
    slot.name = j.at("name").get<std::string>();
    slot.embedder = j.at("embedder").get<std::string>();
    slot.kind = parse_embedder_kind(j.at("kind").get<std::string>()).value_or(embedder_kind::dense);
    slot.size = j.at("size").get<uint32_t>();
    slot.distance = j.at("distance").get<std::string>();
    s.slots.push_back(slot);
  }
  s.vectors_config = doc.at("vectors");
  s.sparse_config = doc.at("sparse_vectors");
  s.payload_schema = doc.value("payload_schema", json_value::object());
  s.index_slot_count = doc.value("index_slot_count", 0u);
  if (doc.contains("index_slots"))
    s.index_slots = doc["index_slots"].get<std::map<std::string, uint32_t>>();
  return s;
}

telos::profile collection_schema::profile() const {
  telos::profile p;
  p.name = "custom";
  for (const auto& s : slots) {
    embedder e;
    e.name = s.embedder;
    e.kind = s.kind;
    // Sparse indices are any u32 in Qdrant: the whole range is the vocabulary.
    e.dim = s.kind == embedder_kind::sparse ? std::numeric_limits<uint32_t>::max() : s.size;
    e.metric = s.distance == "Dot"      ? metric::dot
               : s.distance == "Euclid" ? metric::l2
                                        : metric::cosine;
    p.embedders.push_back(e);
  }
  return p;
}

const vector_slot& collection_schema::slot(const std::string& name,
                                           const std::string& field) const {
  if (name.empty()) {
    for (const auto& s : slots)
      if (s.name.empty()) return s;
    if (slots.size() == 1 && slots.front().kind != embedder_kind::sparse) return slots.front();
    bad_request(field, "this collection has no unnamed vector; name one with \"using\"/\"name\"");
  }
  for (const auto& s : slots)
    if (s.name == name) return s;
  bad_request(field, "Not existing vector name: " + name);
}

// -- vectors --------------------------------------------------------------------------------------

namespace {

float model_read_float(const json_value& v, const std::string& field) {
  if (!v.is_number()) bad_request(field, "expected a number, got " + model_type_name(v));
  double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max())
    bad_request(field, "not a finite float: " + dump(v));
  return static_cast<float>(d);
}

void model_read_floats(const json_value& v, const std::string& field, uint32_t size,
                       std::vector<float>& out) {
  if (!v.is_array()) bad_request(field, "expected an array of numbers");
  if (v.size() != size)
    bad_request(field, "Wrong input: Vector dimension error: expected dim: " +
                           std::to_string(size) + ", got " + std::to_string(v.size()));
  for (size_t i = 0; i < v.size(); ++i)
    out.push_back(model_read_float(v[i], field + "[" + std::to_string(i) + "]"));
}

void model_normalize(float* v, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i)
    sum += double(v[i]) * v[i];
  if (sum <= 0) return;
  auto inv = 1.0 / std::sqrt(sum);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(v[i] * inv);
}

double model_dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += double(a[i]) * b[i];
  return s;
}

} // namespace

embedding read_vector(const json_value& doc, const vector_slot& slot, const std::string& field) {
  embedding e;
  switch (slot.kind) {
  case embedder_kind::dense:
    model_read_floats(doc, field, slot.size, e.values);
    if (slot.distance == "Cosine") model_normalize(e.values.data(), e.values.size());
    break;
  case embedder_kind::multi:
    if (!doc.is_array() || doc.empty() || !doc[0].is_array())
      bad_request(field, "expected a non-empty list of vectors (multivector)");
    for (size_t t = 0; t < doc.size(); ++t) {
      auto before = e.values.size();
      model_read_floats(doc[t], field + "[" + std::to_string(t) + "]", slot.size, e.values);
      model_normalize(e.values.data() + before, slot.size);
    }
    break;
  case embedder_kind::sparse: {
    if (!doc.is_object() || !doc.contains("indices") || !doc.contains("values"))
      bad_request(field, "expected a sparse vector {\"indices\":[…],\"values\":[…]}");
    const auto& idx = doc["indices"];
    const auto& val = doc["values"];
    if (!idx.is_array() || !val.is_array() || idx.size() != val.size())
      bad_request(field, "indices and values must be arrays of the same length");
    std::vector<std::pair<uint32_t, float>> entries;
    for (size_t i = 0; i < idx.size(); ++i) {
      const auto& x = idx[i];
      if (!x.is_number_unsigned() || x.get<uint64_t>() >= std::numeric_limits<uint32_t>::max())
        bad_request(field + ".indices[" + std::to_string(i) + "]",
                    "expected an unsigned 32-bit integer, got " + dump(x));
      entries.emplace_back(x.get<uint32_t>(),
                           model_read_float(val[i], field + ".values[" + std::to_string(i) + "]"));
    }
    std::sort(entries.begin(), entries.end());
    for (size_t i = 1; i < entries.size(); ++i)
      if (entries[i].first == entries[i - 1].first)
        bad_request(field + ".indices", "index " + std::to_string(entries[i].first) + " twice");
    for (auto& [i, w] : entries) {
      e.indices.push_back(i);
      e.values.push_back(w);
    }
    break;
  }
  }
  return e;
}

json_value vector_json(const embedding& e, const vector_slot& slot) {
  switch (slot.kind) {
  case embedder_kind::dense:
    return e.values;
  case embedder_kind::sparse:
    return {{"indices", e.indices}, {"values", e.values}};
  case embedder_kind::multi: {
    json_value out = json_value::array();
    for (size_t t = 0; t + slot.size <= e.values.size(); t += slot.size)
      out.push_back(std::vector<float>(e.values.begin() + t, e.values.begin() + t + slot.size));
    return out;
  }
  }
  return nullptr;
}

double qdrant_score(const embedding& query, const embedding& doc, const vector_slot& slot) {
  switch (slot.kind) {
  case embedder_kind::dense:
    if (query.values.size() != doc.values.size()) return 0;
    if (slot.distance == "Euclid") {
      double s = 0;
      for (size_t i = 0; i < query.values.size(); ++i) {
        double d = double(query.values[i]) - doc.values[i];
        s += d * d;
      }
      return std::sqrt(s);
    }
    return model_dot(query.values.data(), doc.values.data(), query.values.size());
  case embedder_kind::sparse: {
    double s = 0;
    size_t i = 0, j = 0;
    while (i < query.indices.size() && j < doc.indices.size()) {
      if (query.indices[i] < doc.indices[j])
        ++i;
      else if (query.indices[i] > doc.indices[j])
        ++j;
      else
        s += double(query.values[i++]) * doc.values[j++];
    }
    return s;
  }
  case embedder_kind::multi: {
    double total = 0;
    size_t dim = slot.size;
    for (size_t q = 0; q + dim <= query.values.size(); q += dim) {
      double best = -std::numeric_limits<double>::infinity();
      for (size_t d = 0; d + dim <= doc.values.size(); d += dim)
        best = std::max(best, model_dot(query.values.data() + q, doc.values.data() + d, dim));
      if (std::isfinite(best)) total += best;
    }
    return total;
  }
  }
  return 0;
}

double rank_value(double qdrant_score, const vector_slot& slot) {
  return slot.distance == "Euclid" && slot.kind == embedder_kind::dense ? -qdrant_score
                                                                        : qdrant_score;
}

// -- payload --------------------------------------------------------------------------------------

json_value payload_of(const memory& m) {
  if (m.content.empty()) return json_value::object();
  auto doc = parse_json(m.content);
  if (!doc || !doc->is_object()) return json_value::object();
  return std::move(*doc);
}

std::string payload_text(const json_value& payload) {
  return payload.empty() ? std::string{} : dump(payload);
}

// -- filters --------------------------------------------------------------------------------------

struct payload_filter::node {
  enum class kind { filter, field, has_id, nested };
  enum class test { none, value, any, except, text, range, values_count, is_empty, is_null };
  kind what = kind::filter;
  // kind::filter
  std::vector<std::shared_ptr<const node>> must, should, must_not, min_should;
  size_t min_count = 0;
  // kind::field and kind::nested
  std::vector<std::string> path;
  test how = test::none;
  json_value operand;
  std::optional<double> gt, gte, lt, lte;
  bool datetime = false;
  // kind::has_id
  std::set<uuid> ids;
  // kind::nested
  std::shared_ptr<const node> inner;
};

namespace {

using filter_node = payload_filter::node;
using node_ptr = std::shared_ptr<const filter_node>;

std::vector<std::string> filter_split_key(const std::string& key, const std::string& field) {
  if (key.empty()) bad_request(field, "empty key");
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    auto dot = key.find('.', start);
    auto part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.size() >= 2 && part.compare(part.size() - 2, 2, "[]") == 0)
      part.resize(part.size() - 2);
    if (part.empty()) bad_request(field, "key '" + key + "' has an empty part");
    parts.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

void filter_collect(const json_value& v, const std::vector<std::string>& path, size_t i,
                    std::vector<const json_value*>& out) {
  if (i == path.size()) {
    if (v.is_array())
      for (const auto& e : v)
        out.push_back(&e);
    else
      out.push_back(&v);
    return;
  }
  if (v.is_array()) {
    for (const auto& e : v)
      filter_collect(e, path, i, out);
    return;
  }
  if (!v.is_object()) return;
  auto it = v.find(path[i]);
  if (it != v.end()) filter_collect(*it, path, i + 1, out);
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
int64_t filter_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

/// Microseconds since the epoch of an RFC 3339 datetime ("2024-01-02T03:04:05.678Z",
/// "+01:00" offsets, a space for the T, or a date alone); nullopt when it is not one.
std::optional<double> filter_parse_datetime(const std::string& s) {
  auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
  if (!y || !mo || !d || s.size() < 10 || s[4] != '-' || s[7] != '-' || *mo < 1 || *mo > 12 ||
      *d < 1 || *d > 31)
    return std::nullopt;
  double micros = double(filter_days_from_civil(*y, *mo, *d)) * 86400e6;
  if (s.size() == 10) return micros;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  auto h = digits(11, 2), mi = digits(14, 2), sec = digits(17, 2);
  if (!h || !mi || !sec || s.size() < 19 || s[13] != ':' || s[16] != ':' || *h > 23 || *mi > 59 ||
      *sec > 60)
    return std::nullopt;
  micros += (*h * 3600.0 + *mi * 60.0 + *sec) * 1e6;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    double scale = 1e5;
    ++pos;
    size_t first = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      micros += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first) return std::nullopt;
  }
  if (pos == s.size()) return micros;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return micros;
  if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && s[pos + 3] == ':') {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om) return std::nullopt;
    double offset = (*oh * 3600.0 + *om * 60.0) * 1e6;
    return s[pos] == '+' ? micros - offset : micros + offset;
  }
  return std::nullopt;
}

bool filter_scalar(const json_value& v) {
  return v.is_string() || v.is_boolean() || v.is_number_integer() || v.is_number_unsigned();
}

bool filter_equal(const json_value& a, const json_value& b) {
  if (a.is_string() && b.is_string())
    return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
  if (a.is_boolean() && b.is_boolean()) return a.get<bool>() == b.get<bool>();
  bool ai = a.is_number_integer() || a.is_number_unsigned();
  bool bi = b.is_number_integer() || b.is_number_unsigned();
  if (ai && bi) {
    if (a.is_number_unsigned() && b.is_number_unsigned())
      return a.get<uint64_t>() == b.get<uint64_t>();
    if (!a.is_number_unsigned() && !b.is_number_unsigned())
      return a.get<int64_t>() == b.get<int64_t>();
    // One unsigned, one signed: equal only when the signed one is not negative.
    const auto& s = a.is_number_unsigned() ? b : a;
    const auto& u = a.is_number_unsigned() ? a : b;
    return s.get<int64_t>() >= 0 && uint64_t(s.get<int64_t>()) == u.get<uint64_t>();
  }
  return false;
}

node_ptr filter_parse_node(const json_value& doc, const std::string& field);

std::vector<node_ptr> filter_parse_list(const json_value& doc, const std::string& field) {
  std::vector<node_ptr> out;
  if (doc.is_null()) return out;
  if (doc.is_object()) {
    out.push_back(filter_parse_node(doc, field));
    return out;
  }
  if (!doc.is_array()) bad_request(field, "expected a condition or a list of conditions");
  for (size_t i = 0; i < doc.size(); ++i)
    out.push_back(filter_parse_node(doc[i], field + "[" + std::to_string(i) + "]"));
  return out;
}

std::shared_ptr<filter_node> filter_parse_filter(const json_value& doc, const std::string& field) {
  auto n = std::make_shared<filter_node>();
  if (doc.is_null()) return n;
  if (!doc.is_object()) bad_request(field, "expected a filter object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const auto& k = it.key();
    auto sub = field.empty() ? k : field + "." + k;
    if (k == "must")
      n->must = filter_parse_list(it.value(), sub);
    else if (k == "should")
      n->should = filter_parse_list(it.value(), sub);
    else if (k == "must_not")
      n->must_not = filter_parse_list(it.value(), sub);
    else if (k == "min_should") {
      if (it.value().is_null()) continue;
      if (!it.value().is_object() || !it.value().contains("conditions") ||
          !it.value().contains("min_count") || !it.value()["min_count"].is_number_unsigned())
        bad_request(sub, "expected {\"conditions\":[…],\"min_count\":N}");
      n->min_should = filter_parse_list(it.value()["conditions"], sub + ".conditions");
      n->min_count = it.value()["min_count"].get<size_t>();
    } else
      bad_request(sub, "unknown key (must, should, must_not, min_should)");
  }
  return n;
}

void filter_read_range(filter_node& n, const json_value& r, const std::string& field) {
  if (!r.is_object()) bad_request(field, "expected {\"gt\"|\"gte\"|\"lt\"|\"lte\": …}");
  bool numbers = false, strings = false;
  for (auto it = r.begin(); it != r.end(); ++it) {
    const auto& v = it.value();
    std::optional<double> bound;
    if (v.is_null()) continue;
    if (v.is_number()) {
      numbers = true;
      bound = v.get<double>();
    } else if (v.is_string()) {
      strings = true;
      bound = filter_parse_datetime(v.get<std::string>());
      if (!bound) bad_request(field + "." + it.key(), "not an RFC 3339 datetime: " + dump(v));
    } else {
      bad_request(field + "." + it.key(), "expected a number or a datetime string");
    }
    if (it.key() == "gt")
      n.gt = bound;
    else if (it.key() == "gte")
      n.gte = bound;
    else if (it.key() == "lt")
      n.lt = bound;
    else if (it.key() == "lte")
      n.lte = bound;
    else
      bad_request(field + "." + it.key(), "unknown key (gt, gte, lt, lte)");
  }
  if (numbers && strings) bad_request(field, "mixes numbers and datetimes");
  n.datetime = strings;
}

node_ptr filter_parse_node(const json_value& doc, const std::string& field) {
  if (!doc.is_object()) bad_request(field, "expected a condition object");
  if (doc.contains("must") || doc.contains("should") || doc.contains("must_not") ||
      doc.contains("min_should"))
    return filter_parse_filter(doc, field);
  auto n = std::make_shared<filter_node>();
  if (doc.contains("has_id")) {
    n->what = filter_node::kind::has_id;
    const auto& ids = doc["has_id"];
    if (!ids.is_array()) bad_request(field + ".has_id", "expected a list of point ids");
    for (size_t i = 0; i < ids.size(); ++i)
      n->ids.insert(point_uuid(ids[i], field + ".has_id[" + std::to_string(i) + "]"));
    return n;
  }
  if (doc.contains("is_empty") || doc.contains("is_null")) {
    bool empty = doc.contains("is_empty");
    auto sub = field + (empty ? ".is_empty" : ".is_null");
    const auto& c = doc[empty ? "is_empty" : "is_null"];
    if (!c.is_object() || !c.contains("key") || !c["key"].is_string())
      bad_request(sub, "expected {\"key\":\"…\"}");
    n->what = filter_node::kind::field;
    n->path = filter_split_key(c["key"].get<std::string>(), sub + ".key");
    n->how = empty ? filter_node::test::is_empty : filter_node::test::is_null;
    return n;
  }
  if (doc.contains("nested")) {
    const auto& c = doc["nested"];
    if (!c.is_object() || !c.contains("key") || !c["key"].is_string() || !c.contains("filter"))
      bad_request(field + ".nested", "expected {\"key\":\"…\",\"filter\":{…}}");
    n->what = filter_node::kind::nested;
    n->path = filter_split_key(c["key"].get<std::string>(), field + ".nested.key");
    n->inner = filter_parse_filter(c["filter"], field + ".nested.filter");
    return n;
  }
  if (doc.contains("filter")) return filter_parse_filter(doc["filter"], field + ".filter");
  if (!doc.contains("key")) bad_request(field, "unknown condition " + dump(doc));
  if (!doc["key"].is_string()) bad_request(field + ".key", "expected a string");
  n->what = filter_node::kind::field;
  n->path = filter_split_key(doc["key"].get<std::string>(), field + ".key");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    auto sub = field + "." + k;
    if (k == "key" || v.is_null()) continue;
    if (n->how != filter_node::test::none) bad_request(sub, "one test per condition");
    if (k == "match") {
      if (!v.is_object() || v.size() != 1)
        bad_request(sub, "expected one of value, any, except, text");
      if (v.contains("value")) {
        if (!filter_scalar(v["value"]))
          bad_request(sub + ".value", "expected a string, integer or boolean");
        n->how = filter_node::test::value;
        n->operand = v["value"];
      } else if (v.contains("any") || v.contains("except")) {
        bool any = v.contains("any");
        const auto& list = v[any ? "any" : "except"];
        if (!list.is_array()) bad_request(sub + (any ? ".any" : ".except"), "expected a list");
        for (const auto& e : list)
          if (!filter_scalar(e))
            bad_request(sub + (any ? ".any" : ".except"), "expected strings or integers");
        n->how = any ? filter_node::test::any : filter_node::test::except;
        n->operand = list;
      } else if (v.contains("text")) {
        if (!v["text"].is_string()) bad_request(sub + ".text", "expected a string");
        n->how = filter_node::test::text;
        n->operand = v["text"];
      } else {
        bad_request(sub + "." + v.begin().key(), "unknown match (value, any, except, text)");
      }
    } else if (k == "range") {
      n->how = filter_node::test::range;
      filter_read_range(*n, v, sub);
    } else if (k == "values_count") {
      n->how = filter_node::test::values_count;
      if (!v.is_object()) bad_request(sub, "expected {\"gt\"|\"gte\"|\"lt\"|\"lte\": N}");
      for (auto b = v.begin(); b != v.end(); ++b)
        if (!b.value().is_null() && !b.value().is_number_unsigned())
          bad_request(sub + "." + b.key(), "expected an unsigned integer");
      filter_read_range(*n, v, sub);
    } else if (k == "geo_radius" || k == "geo_bounding_box" || k == "geo_polygon") {
      bad_request(sub, "geo conditions are not supported");
    } else {
      bad_request(sub, "unknown condition (match, range, values_count, is_empty, is_null, "
                       "has_id, nested)");
    }
  }
  if (n->how == filter_node::test::none) bad_request(field, "a field condition needs a test");
  return n;
}

bool filter_admits(const filter_node& n, const uuid& id, const json_value& payload);

bool filter_in_range(const filter_node& n, double x) {
  return (!n.gt || x > *n.gt) && (!n.gte || x >= *n.gte) && (!n.lt || x < *n.lt) &&
         (!n.lte || x <= *n.lte);
}

bool filter_field(const filter_node& n, const json_value& payload) {
  std::vector<const json_value*> values;
  filter_collect(payload, n.path, 0, values);
  using test = filter_node::test;
  switch (n.how) {
  case test::is_empty:
    return std::all_of(values.begin(), values.end(), [](auto* v) { return v->is_null(); });
  case test::is_null:
    return std::any_of(values.begin(), values.end(), [](auto* v) { return v->is_null(); });
  case test::values_count: {
    size_t count = 0;
    for (auto* v : values)
      count += !v->is_null();
    return filter_in_range(n, double(count));
  }
  case test::except: {
    // Qdrant: a stored value must not be any of the given ones; an array holds when one of its
    // values is none of them; a point without the field holds.
    std::vector<const json_value*> present;
    for (auto* v : values)
      if (!v->is_null()) present.push_back(v);
    if (present.empty()) return true;
    for (auto* v : present) {
      bool listed = false;
      for (const auto& e : n.operand)
        listed = listed || filter_equal(*v, e);
      if (!listed) return true;
    }
    return false;
  }
  default:
    break;
  }
  for (auto* v : values) {
    switch (n.how) {
    case test::value:
      if (filter_equal(*v, n.operand)) return true;
      break;
    case test::any:
      for (const auto& e : n.operand)
        if (filter_equal(*v, e)) return true;
      break;
    case test::text:
      if (v->is_string() && v->get_ref<const std::string&>().find(
                                n.operand.get_ref<const std::string&>()) != std::string::npos)
        return true;
      break;
    case test::range:
      if (n.datetime) {
        if (v->is_string())
          if (auto t = filter_parse_datetime(v->get<std::string>()); t && filter_in_range(n, *t))
            return true;
      } else if (v->is_number() && filter_in_range(n, v->get<double>())) {
        return true;
      }
      break;
    default:
      break;
    }
  }
  return false;
}

bool filter_admits(const filter_node& n, const uuid& id, const json_value& payload) {
  switch (n.what) {
  case filter_node::kind::has_id:
    return n.ids.count(id) > 0;
  case filter_node::kind::field:
    return filter_field(n, payload);
  case filter_node::kind::nested: {
    std::vector<const json_value*> values;
    filter_collect(payload, n.path, 0, values);
    for (auto* v : values)
      if (v->is_object() && filter_admits(*n.inner, id, *v)) return true;
    return false;
  }
  case filter_node::kind::filter:
    break;
  }
  for (const auto& c : n.must)
    if (!filter_admits(*c, id, payload)) return false;
  for (const auto& c : n.must_not)
    if (filter_admits(*c, id, payload)) return false;
  if (!n.should.empty()) {
    bool any = false;
    for (const auto& c : n.should)
      if ((any = filter_admits(*c, id, payload))) break;
    if (!any) return false;
  }
  if (!n.min_should.empty()) {
    size_t count = 0;
    for (const auto& c : n.min_should)
      count += filter_admits(*c, id, payload);
    if (count < n.min_count) return false;
  }
  return true;
}

/// A match operand or payload value as the attribute text of an index row (typed, so "1" and 1
/// differ as filter_equal has them); nullopt for values no match condition can equal.
std::optional<std::string> index_value_text(const json_value& v) {
  if (v.is_string()) return "s" + v.get<std::string>();
  if (v.is_boolean()) return std::string{v.get<bool>() ? "b1" : "b0"};
  if (v.is_number_unsigned()) return "i" + std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return "i" + std::to_string(v.get<int64_t>());
  return std::nullopt;
}

/// The attribute text of a record whose indexed field holds several matchable values (or one
/// too long for an attribute): a candidate of every match on the field.
constexpr const char* index_many = "*";
/// Longest value text kept in an index row (attributes hold at most 64 KiB).
constexpr size_t index_max_text = 4096;

/// Collects the index conditions a filter requires: field conditions with match value or any on
/// an indexed key, reached from the root through `must` lists only (each of those must hold).
void index_collect(const filter_node& n, const std::map<std::string, uint32_t>& slots,
                   std::map<uint32_t, std::vector<std::string>>& out) {
  if (n.what == filter_node::kind::filter) {
    for (const auto& c : n.must)
      index_collect(*c, slots, out);
    return;
  }
  if (n.what != filter_node::kind::field ||
      (n.how != filter_node::test::value && n.how != filter_node::test::any))
    return;
  std::string key;
  for (const auto& part : n.path)
    key += (key.empty() ? "" : ".") + part;
  auto slot = slots.find(key);
  if (slot == slots.end() || out.count(slot->second)) return;
  std::vector<std::string> values{index_many};
  auto add = [&](const json_value& v) {
    if (auto text = index_value_text(v); text && text->size() <= index_max_text)
      values.push_back(*text);
  };
  if (n.how == filter_node::test::value)
    add(n.operand);
  else
    for (const auto& e : n.operand)
      add(e);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  out[slot->second] = std::move(values);
}

} // namespace

std::vector<double> payload_numbers(const json_value& payload, const std::string& key,
                                    bool datetimes) {
  std::vector<const json_value*> values;
  filter_collect(payload, filter_split_key(key, "key"), 0, values);
  std::vector<double> out;
  for (auto* v : values)
    if (datetimes && v->is_string()) {
      if (auto t = filter_parse_datetime(v->get<std::string>())) out.push_back(*t);
    } else if (!datetimes && v->is_number()) {
      out.push_back(v->get<double>());
    }
  return out;
}

std::optional<double> parse_datetime(const std::string& text) {
  return filter_parse_datetime(text);
}

std::string index_attribute(uint32_t slot) {
  return "qdrant.index." + std::to_string(slot);
}

std::string normalised_key(const std::string& key, const std::string& field) {
  std::string out;
  for (const auto& part : filter_split_key(key, field))
    out += (out.empty() ? "" : ".") + part;
  return out;
}

std::map<std::string, std::string> index_attributes(const collection_schema& schema,
                                                    const json_value& payload) {
  std::map<std::string, std::string> out;
  for (const auto& [key, slot] : schema.index_slots) {
    std::vector<std::string> path;
    for (size_t start = 0;;) {
      auto dot = key.find('.', start);
      path.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::vector<const json_value*> values;
    filter_collect(payload, path, 0, values);
    std::set<std::string> texts;
    bool too_long = false;
    for (auto* v : values)
      if (auto text = index_value_text(*v)) {
        too_long = too_long || text->size() > index_max_text;
        texts.insert(std::move(*text));
      }
    if (texts.empty()) continue;
    out[index_attribute(slot)] = texts.size() == 1 && !too_long ? *texts.begin() : index_many;
  }
  return out;
}

payload_filter::payload_filter() = default;
payload_filter::~payload_filter() = default;
payload_filter::payload_filter(const payload_filter&) = default;
payload_filter& payload_filter::operator=(const payload_filter&) = default;

payload_filter payload_filter::parse(const json_value& doc, const std::string& field) {
  payload_filter f;
  if (doc.is_null()) return f;
  auto root = filter_parse_filter(doc, field);
  if (!root->must.empty() || !root->should.empty() || !root->must_not.empty() ||
      !root->min_should.empty())
    f.root_ = root;
  return f;
}

payload_filter payload_filter::both(const payload_filter& other) const {
  if (!root_) return other;
  if (!other.root_) return *this;
  auto n = std::make_shared<node>();
  n->must = {root_, other.root_};
  payload_filter f;
  f.root_ = n;
  return f;
}

bool payload_filter::empty() const {
  return !root_;
}

bool payload_filter::admits(const uuid& id, const json_value& payload) const {
  return !root_ || filter_admits(*root_, id, payload);
}

std::optional<telos::filter>
payload_filter::index_filter(const std::map<std::string, uint32_t>& slots) const {
  if (!root_ || slots.empty()) return std::nullopt;
  std::map<uint32_t, std::vector<std::string>> conditions;
  index_collect(*root_, slots, conditions);
  if (conditions.empty()) return std::nullopt;
  telos::filter f;
  for (auto& [slot, values] : conditions)
    f.where.push_back({index_attribute(slot), std::move(values)});
  return f;
}

} // namespace telos::server
