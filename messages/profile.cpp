// Profile names, the built-in teleo13 layout, lookup and validation. The JSON form lives with the
// rest of the JSON codec in json.cpp.
#include "telos/messages/profile.hpp"

#include "telos/messages/json.hpp"
#include "telos/messages/utf8.hpp"

#include <cctype>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <map>
#include <system_error>

namespace telos {

namespace {

constexpr size_t max_embedders = 64;
constexpr size_t max_embedder_name_bytes = 64;
constexpr size_t max_profile_name_bytes = 64;
/// Largest dense dimension and multi token dimension; far above any real model, low enough that
/// one vector stays a small allocation.
constexpr uint32_t max_vector_dim = 65536;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

/// Splits "E13" into ("E", 13); false when the name does not end in a short decimal number.
bool split_numbered(const std::string& name, std::string& prefix, uint64_t& number) {
  size_t digits_at = name.size();
  while (digits_at > 0 && std::isdigit(static_cast<unsigned char>(name[digits_at - 1])))
    --digits_at;
  size_t digits = name.size() - digits_at;
  if (digits == 0 || digits > 9) return false;
  prefix = name.substr(0, digits_at);
  number = std::stoull(name.substr(digits_at));
  return true;
}

std::string entry(size_t i) {
  return "embedders[" + std::to_string(i) + "]";
}

/// The index policy of one embedder: known values, and only what its kind can have.
expected<void> validate_policy(const embedder& e, const std::string& at) {
  auto bad = [&](const char* field, const std::string& what) {
    return make_error(ec::invalid_argument, at + "." + field + ": " + e.name + " " + what);
  };
  const auto& p = e.index;
  if (!parse_index_structure(to_string(p.structure)))
    return bad("index", "has unknown index structure " +
                            std::to_string(static_cast<int>(p.structure)) + " (hnsw, flat or ivf)");
  if (!parse_quantization(to_string(p.quantization)))
    return bad("quantization", "has unknown quantization " +
                                   std::to_string(static_cast<int>(p.quantization)) +
                                   " (none, int8 or binary)");
  if (e.kind != embedder_kind::dense) {
    const char* structure = e.kind == embedder_kind::sparse ? "an exact inverted index"
                                                            : "exact MaxSim over f32 tokens";
    if (p.structure == index_structure::ivf)
      return bad("index", std::string{"is "} + to_string(e.kind) +
                              " and cannot have index ivf (it uses " + structure +
                              "; ivf applies to dense embedders)");
    if (p.quantization != quantization::none)
      return bad("quantization", std::string{"is "} + to_string(e.kind) + " and cannot have " +
                                     to_string(p.quantization) + " quantization (it uses " +
                                     structure + "; quantization applies to dense embedders)");
    if (p != index_policy{})
      return bad("index", std::string{"is "} + to_string(e.kind) +
                              " and takes no index policy (it uses " + structure + ")");
    return {};
  }
  if (p.quantization == quantization::binary && e.metric == metric::l2)
    return bad("quantization", "uses metric l2; binary codes rank by angle, so they need cosine "
                               "or dot (int8 suits l2)");
  auto in_range = [&](const char* field, uint32_t value, uint32_t low,
                      uint32_t high) -> expected<void> {
    if (value == 0 || (value >= low && value <= high)) return {};
    return bad(field, "has " + std::string{field} + " " + std::to_string(value) + ", allowed " +
                          std::to_string(low) + ".." + std::to_string(high));
  };
  if (auto ok = in_range("m", p.m, 2, 128); !ok) return ok;
  if (auto ok = in_range("ef_construction", p.ef_construction, 1, 4096); !ok) return ok;
  if (auto ok = in_range("oversample", p.oversample, 1, 1000); !ok) return ok;
  if (p.structure == index_structure::ivf && p.m != 0)
    return bad("m", "has index ivf and m " + std::to_string(p.m) +
                        " (m is an HNSW graph parameter; ivf has no graph)");
  if (p.structure == index_structure::ivf && p.ef_construction != 0)
    return bad("ef_construction", "has index ivf and ef_construction " +
                                      std::to_string(p.ef_construction) +
                                      " (an HNSW graph parameter; ivf has no graph)");
  if (p.quantization == quantization::none && p.oversample != 0)
    return bad("oversample", "has oversample " + std::to_string(p.oversample) +
                                 " without quantization (f32 scores need no re-scoring)");
  return {};
}

} // namespace

const char* to_string(embedder_kind kind) {
  switch (kind) {
  case embedder_kind::dense:
    return "dense";
  case embedder_kind::sparse:
    return "sparse";
  case embedder_kind::multi:
    return "multi";
  }
  return "invalid";
}

const char* to_string(metric m) {
  switch (m) {
  case metric::cosine:
    return "cosine";
  case metric::dot:
    return "dot";
  case metric::l2:
    return "l2";
  }
  return "invalid";
}

const char* to_string(index_structure s) {
  switch (s) {
  case index_structure::hnsw:
    return "hnsw";
  case index_structure::flat:
    return "flat";
  case index_structure::ivf:
    return "ivf";
  }
  return "invalid";
}

const char* to_string(quantization q) {
  switch (q) {
  case quantization::none:
    return "none";
  case quantization::int8:
    return "int8";
  case quantization::binary:
    return "binary";
  }
  return "invalid";
}

std::optional<index_structure> parse_index_structure(std::string_view text) {
  for (auto s : {index_structure::hnsw, index_structure::flat, index_structure::ivf})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

std::optional<quantization> parse_quantization(std::string_view text) {
  for (auto q : {quantization::none, quantization::int8, quantization::binary})
    if (text == to_string(q)) return q;
  return std::nullopt;
}

std::optional<embedder_kind> parse_embedder_kind(std::string_view text) {
  for (auto kind : {embedder_kind::dense, embedder_kind::sparse, embedder_kind::multi})
    if (text == to_string(kind)) return kind;
  return std::nullopt;
}

std::optional<metric> parse_metric(std::string_view text) {
  for (auto m : {metric::cosine, metric::dot, metric::l2})
    if (text == to_string(m)) return m;
  return std::nullopt;
}

profile profile::teleo13() {
  // Dense embedders keep int8 codes in memory (a quarter of f32) in an inverted file: exact below
  // index_options::hnsw_threshold vectors, k-means lists of codes above it; searches re-score
  // from the f32 originals. Chosen by measurement (docs/ENGINE.md, "Index policy"): against
  // HNSW graphs (int8, M 16, efConstruction 100) on the same data, 9.5-13.5 x the inserts per CPU
  // second at 200,000-1M vectors with recall@10 >= 0.99 at the default nprobe (the graphs reached
  // 0.939 at 1M), and end to end 1.8 x the teleo13 memories per second; a memory inserts into ten
  // dense indexes, so their insert cost decides the ingest rate.
  auto dense = [&](const char* name, uint32_t dim) {
    index_policy policy;
    policy.structure = index_structure::ivf;
    policy.quantization = quantization::int8;
    return embedder{name, embedder_kind::dense, dim, metric::cosine, policy};
  };
  profile p;
  p.name = "teleo13";
  p.embedders = {
      dense("E1", 1024),                                             // semantic
      dense("E2", 512),                                              // temporal
      dense("E3", 512),                                              // temporal
      dense("E4", 512),                                              // temporal
      dense("E5", 768),                                              // causal
      embedder{"E6", embedder_kind::sparse, 30522, metric::cosine},  // sparse lexical
      dense("E7", 1536),                                             // code
      dense("E8", 1024),                                             // graph
      dense("E9", 1024),                                             // HDC, projected
      dense("E10", 768),                                             // multimodal
      dense("E11", 768),                                             // entity
      embedder{"E12", embedder_kind::multi, 128, metric::cosine},    // late interaction
      embedder{"E13", embedder_kind::sparse, 30522, metric::cosine}, // SPLADE
  };
  return p;
}

expected<profile> profile::from_json(std::string_view json) {
  return profile_from_json(json);
}

expected<profile> profile::load(const std::string& name_or_path) {
  if (name_or_path == "teleo13") return teleo13();
  std::ifstream in{name_or_path, std::ios::binary};
  if (!in)
    return make_error(ec::invalid_argument, "profile '" + name_or_path +
                                                "' is neither teleo13 nor a readable file: " +
                                                std::generic_category().message(errno));
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  auto parsed = profile_from_json(text);
  if (!parsed)
    return make_error(ec::invalid_argument,
                      "profile file '" + name_or_path + "': " + describe(parsed.error()));
  return parsed;
}

std::string profile::to_json() const {
  return telos::to_json(*this);
}

const embedder* profile::find(std::string_view embedder_name) const {
  for (const auto& e : embedders)
    if (e.name == embedder_name) return &e;
  return nullptr;
}

expected<size_t> profile::index_of(std::string_view embedder_name) const {
  for (size_t i = 0; i < embedders.size(); ++i)
    if (embedders[i].name == embedder_name) return i;
  return make_error(ec::invalid_argument, "unknown embedder " + std::string{embedder_name} +
                                              " (profile has " + name_list() + ")");
}

std::string profile::name_list() const {
  if (embedders.empty()) return "no embedders";
  std::string first_prefix;
  uint64_t first_number = 0;
  bool consecutive =
      embedders.size() > 2 && split_numbered(embedders.front().name, first_prefix, first_number);
  for (size_t i = 1; consecutive && i < embedders.size(); ++i) {
    std::string prefix;
    uint64_t number = 0;
    consecutive = split_numbered(embedders[i].name, prefix, number) && prefix == first_prefix &&
                  number == first_number + i;
  }
  if (consecutive) return embedders.front().name + ".." + embedders.back().name;
  std::string out;
  for (const auto& e : embedders) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

expected<void> profile::validate() const {
  auto bad = [](std::string what) { return make_error(ec::invalid_argument, std::move(what)); };
  if (name.size() > max_profile_name_bytes)
    return bad("name: " + std::to_string(name.size()) + " bytes, limit " +
               std::to_string(max_profile_name_bytes));
  if (!is_valid_utf8(name)) return bad("name: not valid UTF-8");
  if (embedders.empty()) return bad("embedders: a profile needs at least one embedder");
  if (embedders.size() > max_embedders)
    return bad("embedders: " + std::to_string(embedders.size()) + " embedders, limit " +
               std::to_string(max_embedders));
  std::map<std::string_view, size_t> seen;
  for (size_t i = 0; i < embedders.size(); ++i) {
    const auto& e = embedders[i];
    if (e.name.empty()) return bad(entry(i) + ".name: empty");
    if (e.name.size() > max_embedder_name_bytes)
      return bad(entry(i) + ".name: " + std::to_string(e.name.size()) + " bytes, limit " +
                 std::to_string(max_embedder_name_bytes));
    for (size_t c = 0; c < e.name.size(); ++c)
      if (!is_name_char(e.name[c]))
        return bad(entry(i) + ".name: character " + std::to_string(c) +
                   " is not one of [A-Za-z0-9_.-]");
    auto [it, fresh] = seen.emplace(e.name, i);
    if (!fresh)
      return bad(entry(i) + ".name: " + e.name + " is already the name of " + entry(it->second));
    if (!parse_embedder_kind(to_string(e.kind)))
      return bad(entry(i) + ".kind: " + e.name + " has unknown kind " +
                 std::to_string(static_cast<int>(e.kind)));
    if (!parse_metric(to_string(e.metric)))
      return bad(entry(i) + ".metric: " + e.name + " has unknown metric " +
                 std::to_string(static_cast<int>(e.metric)));
    if (e.dim == 0) return bad(entry(i) + ".dim: " + e.name + " has dimension 0");
    if (e.kind != embedder_kind::sparse && e.dim > max_vector_dim)
      return bad(entry(i) + ".dim: " + e.name + " has dimension " + std::to_string(e.dim) +
                 ", limit " + std::to_string(max_vector_dim) + " for " + to_string(e.kind) +
                 " embedders");
    if (auto policy = validate_policy(e, entry(i)); !policy) return policy;
  }
  return {};
}

} // namespace telos
