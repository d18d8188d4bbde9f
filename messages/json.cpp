// The JSON codec: one set of field-path conventions for every form. Decoding helpers throw a
// field_error internally; every public function catches it (and nlohmann's exceptions) and
// returns an error instead.
#include "telos/messages/json.hpp"

#include "telos/messages/json_value.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>

namespace telos {

namespace {

/// A decoding failure at a field path such as "embeddings.E1[3]".
struct field_error {
  std::string path;
  std::string what;
};

[[noreturn]] void fail(const std::string& path, std::string what) {
  throw field_error{path, std::move(what)};
}

std::string member(const std::string& path, std::string_view key) {
  return path.empty() ? std::string{key} : path + "." + std::string{key};
}

std::string element(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string dump_safely(const json_value& doc, int indent) {
  return doc.dump(indent, ' ', false, json_value::error_handler_t::replace);
}

/// What a value is, for "expected X, got Y" messages; long strings are cut.
std::string got(const json_value& v) {
  switch (v.type()) {
  case json_value::value_t::null:
    return "null";
  case json_value::value_t::boolean:
  case json_value::value_t::number_integer:
  case json_value::value_t::number_unsigned:
  case json_value::value_t::number_float:
    return dump_safely(v, -1);
  case json_value::value_t::string: {
    auto text = dump_safely(v, -1);
    if (text.size() > 40) text = text.substr(0, 36) + "...\"";
    return "string " + text;
  }
  case json_value::value_t::array:
    return "an array of " + std::to_string(v.size());
  case json_value::value_t::object:
    return "an object";
  default:
    return "binary data";
  }
}

/// The context text of an error without its code, for nesting it under a field path.
std::string reason(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>()) return ctx.get_as<std::string>(0);
  return describe(err);
}

caf::error to_error(const field_error& e) {
  return make_error(ec::invalid_argument, e.path.empty() ? e.what : e.path + ": " + e.what);
}

/// Runs a decoder and turns every failure into an ec::invalid_argument error.
template <class F>
auto guarded(F decode) -> decltype(expected<decltype(decode())>{decode()}) {
  try {
    return decode();
  } catch (const field_error& e) {
    return to_error(e);
  } catch (const std::exception& e) {
    return make_error(ec::invalid_argument, std::string{"cannot decode JSON: "} + e.what());
  }
}

void expect_object(const json_value& v, const std::string& path) {
  if (!v.is_object())
    fail(path,
         (path.empty() ? "expected a JSON object, got " : "expected an object, got ") + got(v));
}

void expect_array(const json_value& v, const std::string& path, const char* of_what) {
  if (!v.is_array()) fail(path, std::string{"expected an array of "} + of_what + ", got " + got(v));
}

/// Rejects keys outside `known`, so a misspelt field is an error rather than silently ignored.
void only_fields(const json_value& obj, const std::string& path,
                 std::initializer_list<const char*> known) {
  for (const auto& item : obj.items()) {
    bool ok = false;
    for (auto k : known)
      ok = ok || item.key() == k;
    if (ok) continue;
    std::string list;
    for (auto k : known)
      list += (list.empty() ? "" : ", ") + std::string{k};
    fail(path, "unknown field '" + item.key() + "' (expected " + list + ")");
  }
}

const json_value* find_field(const json_value& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const json_value& required_field(const json_value& obj, const std::string& path, const char* key) {
  auto field = find_field(obj, key);
  if (!field) fail(member(path, key), "missing");
  return *field;
}

std::string string_of(const json_value& v, const std::string& path) {
  if (!v.is_string()) fail(path, "expected a string, got " + got(v));
  return v.get<std::string>();
}

int64_t int64_of(const json_value& v, const std::string& path, const char* expected_what) {
  if (!v.is_number_integer())
    fail(path, std::string{"expected "} + expected_what + ", got " + got(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()})
    fail(path, got(v) + " is too large (limit " +
                   std::to_string(std::numeric_limits<int64_t>::max()) + ")");
  return v.get<int64_t>();
}

uint32_t uint32_of(const json_value& v, const std::string& path, const char* expected_what,
                   bool positive) {
  bool integer = v.is_number_integer();
  bool negative = integer && !v.is_number_unsigned() && v.get<int64_t>() < 0;
  bool zero = integer && !negative && v.get<uint64_t>() == 0;
  if (!integer || negative || (positive && zero))
    fail(path, std::string{"expected "} + expected_what + ", got " + got(v));
  if (v.get<uint64_t>() > std::numeric_limits<uint32_t>::max())
    fail(path, got(v) + " is too large (limit " +
                   std::to_string(std::numeric_limits<uint32_t>::max()) + ")");
  return static_cast<uint32_t>(v.get<uint64_t>());
}

float float_of(const json_value& v, const std::string& path) {
  if (!v.is_number()) fail(path, "expected a number, got " + got(v));
  auto d = v.get<double>();
  // Doubles from FLT_MAX up to halfway to the next power of two still round to FLT_MAX (the
  // shortest text of FLT_MAX, 3.4028235e+38, reads as such a double); from there on they would
  // overflow.
  constexpr double overflow_threshold = 0x1.ffffffp+127;
  if (std::fabs(d) >= overflow_threshold) fail(path, got(v) + " is outside the float range");
  return static_cast<float>(d);
}

/// The double whose shortest text is the float's shortest text, so a printed 0.1f reads "0.1"
/// rather than "0.10000000149011612" and still parses back to the same float.
double printable(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof(text) - 1, f);
  if (ec != std::errc{}) return static_cast<double>(f);
  *end = '\0';
  return std::strtod(text, nullptr);
}

json_value float_array(const float* first, const float* last) {
  auto out = json_value::array();
  out.get_ref<json_value::array_t&>().reserve(static_cast<size_t>(last - first));
  for (; first != last; ++first)
    out.push_back(printable(*first));
  return out;
}

void append_floats(const json_value& arr, const std::string& path, std::vector<float>& out) {
  expect_array(arr, path, "numbers");
  out.reserve(out.size() + arr.size());
  for (size_t i = 0; i < arr.size(); ++i)
    out.push_back(float_of(arr[i], element(path, i)));
}

embedding decode_embedding(const json_value& v, const embedder& spec, const std::string& path) {
  embedding e;
  switch (spec.kind) {
  case embedder_kind::dense:
    if (!v.is_array()) fail(path, "expected an array of numbers (dense), got " + got(v));
    append_floats(v, path, e.values);
    break;
  case embedder_kind::sparse: {
    if (!v.is_object())
      fail(path, "expected an object of indices and values (sparse), got " + got(v));
    only_fields(v, path, {"indices", "values"});
    auto indices_path = member(path, "indices");
    const auto& indices = required_field(v, path, "indices");
    expect_array(indices, indices_path, "term ids");
    e.indices.reserve(indices.size());
    for (size_t i = 0; i < indices.size(); ++i)
      e.indices.push_back(
          uint32_of(indices[i], element(indices_path, i), "a non-negative integer", false));
    append_floats(required_field(v, path, "values"), member(path, "values"), e.values);
    break;
  }
  case embedder_kind::multi: {
    if (!v.is_array())
      fail(path, "expected an array of tokens (multi, arrays of " + std::to_string(spec.dim) +
                     " numbers), got " + got(v));
    e.values.reserve(v.size() * spec.dim);
    for (size_t t = 0; t < v.size(); ++t) {
      auto token_path = element(path, t);
      // Tokens are flattened, so a ragged list would silently shift every later token.
      if (v[t].is_array() && v[t].size() != spec.dim)
        fail(token_path, "token of " + std::to_string(v[t].size()) + " values, expected " +
                             std::to_string(spec.dim));
      append_floats(v[t], token_path, e.values);
    }
    break;
  }
  default:
    fail(path, "embedder " + spec.name + " has unknown kind " +
                   std::to_string(static_cast<int>(spec.kind)));
  }
  return e;
}

std::map<std::string, embedding> decode_embeddings(const json_value& v, const profile& p,
                                                   const std::string& path) {
  expect_object(v, path);
  std::map<std::string, embedding> out;
  for (const auto& item : v.items()) {
    auto entry_path = member(path, item.key());
    auto spec = p.find(item.key());
    if (!spec)
      fail(entry_path, "unknown embedder " + item.key() + " (profile has " + p.name_list() + ")");
    out.emplace(item.key(), decode_embedding(item.value(), *spec, entry_path));
  }
  return out;
}

constexpr std::initializer_list<const char*> memory_fields = {
    "id", "namespace", "content", "attributes", "created_at", "updated_at", "embeddings"};

memory decode_memory(const json_value& doc, const profile& p) {
  expect_object(doc, "");
  only_fields(doc, "", memory_fields);
  memory m;
  if (auto v = find_field(doc, "id"); v && !v->is_null()) {
    auto id = uuid::parse(string_of(*v, "id"));
    if (!id) fail("id", reason(id.error()));
    m.id = *id;
  }
  if (auto v = find_field(doc, "namespace")) m.ns = string_of(*v, "namespace");
  if (auto v = find_field(doc, "content")) m.content = string_of(*v, "content");
  if (auto v = find_field(doc, "attributes")) {
    expect_object(*v, "attributes");
    for (const auto& item : v->items())
      m.attributes.emplace(item.key(), string_of(item.value(), member("attributes", item.key())));
  }
  const char* ms = "an integer (milliseconds since the epoch)";
  if (auto v = find_field(doc, "created_at")) m.created_at = int64_of(*v, "created_at", ms);
  if (auto v = find_field(doc, "updated_at")) m.updated_at = int64_of(*v, "updated_at", ms);
  m.embeddings = decode_embeddings(required_field(doc, "", "embeddings"), p, "embeddings");
  return m;
}

std::map<std::string, embedding> decode_query(const json_value& doc, const profile& p) {
  expect_object(doc, "");
  only_fields(doc, "", memory_fields);
  auto queries = decode_embeddings(required_field(doc, "", "embeddings"), p, "embeddings");
  if (queries.empty())
    fail("embeddings", "a query needs at least one embedder (profile has " + p.name_list() + ")");
  return queries;
}

profile decode_profile(const json_value& doc) {
  expect_object(doc, "");
  only_fields(doc, "", {"name", "embedders"});
  profile p;
  p.name = "custom";
  if (auto v = find_field(doc, "name")) p.name = string_of(*v, "name");
  const auto& list = required_field(doc, "", "embedders");
  expect_array(list, "embedders", "embedders");
  for (size_t i = 0; i < list.size(); ++i) {
    auto path = element("embedders", i);
    const auto& entry = list[i];
    expect_object(entry, path);
    only_fields(entry, path,
                {"name", "kind", "dim", "metric", "index", "quantization", "m", "ef_construction",
                 "oversample"});
    embedder e;
    e.name = string_of(required_field(entry, path, "name"), member(path, "name"));
    auto kind_path = member(path, "kind");
    const auto& kind = required_field(entry, path, "kind");
    auto parsed_kind =
        kind.is_string() ? parse_embedder_kind(kind.get<std::string>()) : std::nullopt;
    if (!parsed_kind) fail(kind_path, "expected dense, sparse or multi, got " + got(kind));
    e.kind = *parsed_kind;
    e.dim = uint32_of(required_field(entry, path, "dim"), member(path, "dim"), "a positive integer",
                      true);
    if (auto v = find_field(entry, "metric")) {
      auto metric_path = member(path, "metric");
      if (e.kind != embedder_kind::dense)
        fail(metric_path, std::string{"only dense embedders take a metric ("} + to_string(e.kind) +
                              (e.kind == embedder_kind::sparse ? " scores by dot product)"
                                                               : " scores by cosine MaxSim)"));
      auto parsed_metric = v->is_string() ? parse_metric(v->get<std::string>()) : std::nullopt;
      if (!parsed_metric) fail(metric_path, "expected cosine, dot or l2, got " + got(*v));
      e.metric = *parsed_metric;
    }
    // Which kinds may have a policy is profile::validate()'s to say; here only the values.
    if (auto v = find_field(entry, "index")) {
      auto parsed = v->is_string() ? parse_index_structure(v->get<std::string>()) : std::nullopt;
      if (!parsed)
        fail(member(path, "index"), e.name + ": expected hnsw, flat or ivf, got " + got(*v));
      e.index.structure = *parsed;
    }
    if (auto v = find_field(entry, "quantization")) {
      auto parsed = v->is_string() ? parse_quantization(v->get<std::string>()) : std::nullopt;
      if (!parsed)
        fail(member(path, "quantization"),
             e.name + ": expected none, int8 or binary, got " + got(*v));
      e.index.quantization = *parsed;
    }
    if (auto v = find_field(entry, "m"))
      e.index.m = uint32_of(*v, member(path, "m"), "a positive integer", true);
    if (auto v = find_field(entry, "ef_construction"))
      e.index.ef_construction =
          uint32_of(*v, member(path, "ef_construction"), "a positive integer", true);
    if (auto v = find_field(entry, "oversample"))
      e.index.oversample = uint32_of(*v, member(path, "oversample"), "a positive integer", true);
    p.embedders.push_back(std::move(e));
  }
  return p;
}

} // namespace

// -- documents ---------------------------------------------------------------

expected<json_value> parse_json(std::string_view text) {
  try {
    return json_value::parse(text.begin(), text.end());
  } catch (const json_value::parse_error& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep its position and reason.
    std::string what = e.what();
    if (auto tag_end = what.find("] "); tag_end != std::string::npos) what.erase(0, tag_end + 2);
    return make_error(ec::invalid_argument, "invalid JSON: " + what);
  } catch (const std::exception& e) {
    return make_error(ec::invalid_argument, std::string{"invalid JSON: "} + e.what());
  }
}

std::string dump(const json_value& doc, int indent) {
  return dump_safely(doc, indent);
}

// -- profiles ----------------------------------------------------------------

expected<profile> profile_from_json_value(const json_value& doc) {
  auto p = guarded([&] { return decode_profile(doc); });
  if (!p) return p;
  if (auto valid = p->validate(); !valid) return std::move(valid.error());
  return p;
}

json_value to_json_value(const profile& p) {
  auto list = json_value::array();
  for (const auto& e : p.embedders) {
    json_value entry = {{"name", e.name}, {"kind", to_string(e.kind)}, {"dim", e.dim}};
    if (e.kind == embedder_kind::dense) entry["metric"] = to_string(e.metric);
    // Only what differs from the defaults, so a profile without a policy prints as before.
    const auto& policy = e.index;
    if (policy.structure != index_structure::hnsw) entry["index"] = to_string(policy.structure);
    if (policy.quantization != quantization::none)
      entry["quantization"] = to_string(policy.quantization);
    if (policy.m != 0) entry["m"] = policy.m;
    if (policy.ef_construction != 0) entry["ef_construction"] = policy.ef_construction;
    if (policy.oversample != 0) entry["oversample"] = policy.oversample;
    list.push_back(std::move(entry));
  }
  return {{"name", p.name}, {"embedders", std::move(list)}};
}

expected<profile> profile_from_json(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc) return std::move(doc.error());
  return profile_from_json_value(*doc);
}

std::string to_json(const profile& p, const json_style& style) {
  return dump_safely(to_json_value(p), style.indent);
}

// -- embeddings and memories ---------------------------------------------------

expected<embedding> embedding_from_json_value(const json_value& doc, const embedder& spec) {
  return guarded([&] { return decode_embedding(doc, spec, spec.name); });
}

json_value to_json_value(const embedding& e, const embedder& spec) {
  const float* values = e.values.data();
  switch (spec.kind) {
  case embedder_kind::sparse:
    return {{"indices", e.indices}, {"values", float_array(values, values + e.values.size())}};
  case embedder_kind::multi: {
    // An unvalidated memory may end in a partial token; it is printed as a shorter last token
    // (which parsing then rejects) rather than dropped.
    auto tokens = json_value::array();
    size_t dim = spec.dim == 0 ? e.values.size() : spec.dim;
    for (size_t at = 0; at < e.values.size(); at += dim)
      tokens.push_back(float_array(values + at, values + std::min(at + dim, e.values.size())));
    return tokens;
  }
  default:
    return float_array(values, values + e.values.size());
  }
}

expected<memory> memory_from_json_value(const json_value& doc, const profile& p) {
  return guarded([&] { return decode_memory(doc, p); });
}

json_value to_json_value(const memory& m, const profile& p, bool with_embeddings) {
  json_value out = {{"id", m.id.to_string()}, {"namespace", m.ns}, {"content", m.content}};
  out["attributes"] = json_value::object();
  for (const auto& [key, value] : m.attributes)
    out["attributes"][key] = value;
  out["created_at"] = m.created_at;
  out["updated_at"] = m.updated_at;
  if (!with_embeddings) return out;
  // Profile order first (E1, E2, …, E10 rather than E1, E10, E11, …), then any embedder the
  // profile lacks (an unvalidated memory), in the form its fields suggest, so nothing is lost.
  auto embeddings = json_value::object();
  for (const auto& spec : p.embedders)
    if (auto it = m.embeddings.find(spec.name); it != m.embeddings.end())
      embeddings[spec.name] = to_json_value(it->second, spec);
  for (const auto& [name, e] : m.embeddings) {
    if (p.find(name)) continue;
    embedder guess{name, e.indices.empty() ? embedder_kind::dense : embedder_kind::sparse, 0,
                   metric::cosine};
    embeddings[name] = to_json_value(e, guess);
  }
  out["embeddings"] = std::move(embeddings);
  return out;
}

expected<memory> memory_from_json(std::string_view text, const profile& p) {
  auto doc = parse_json(text);
  if (!doc) return std::move(doc.error());
  return memory_from_json_value(*doc, p);
}

std::string to_json(const memory& m, const profile& p, const json_style& style) {
  return dump_safely(to_json_value(m, p, style.embeddings), style.indent);
}

// -- queries -----------------------------------------------------------------

expected<std::map<std::string, embedding>> parse_query_value(const json_value& doc,
                                                             const profile& p) {
  return guarded([&] { return decode_query(doc, p); });
}

expected<std::map<std::string, embedding>> parse_query(std::string_view text, const profile& p) {
  auto doc = parse_json(text);
  if (!doc) return std::move(doc.error());
  return parse_query_value(*doc, p);
}

// -- results and errors --------------------------------------------------------

json_value to_json_value(const std::vector<hit>& hits) {
  auto results = json_value::array();
  for (const auto& h : hits)
    results.push_back({{"id", h.id.to_string()}, {"score", printable(h.score)}});
  return {{"results", std::move(results)}};
}

json_value to_json_value(const search_result& r, const profile& p, bool with_embeddings) {
  auto out = to_json_value(r.hits);
  auto& results = out["results"];
  for (size_t i = 0; i < r.records.size() && i < results.size(); ++i)
    results[i]["memory"] = to_json_value(r.records[i], p, with_embeddings);
  return out;
}

json_value to_json_value(const caf::error& err) {
  return {{"error", describe(err)}, {"code", to_string(code_of(err))}};
}

std::string to_json(const std::vector<hit>& hits, const json_style& style) {
  return dump_safely(to_json_value(hits), style.indent);
}

std::string to_json(const search_result& r, const profile& p, const json_style& style) {
  return dump_safely(to_json_value(r, p, style.embeddings), style.indent);
}

std::string error_to_json(const caf::error& err, const json_style& style) {
  return dump_safely(to_json_value(err), style.indent);
}

} // namespace telos
