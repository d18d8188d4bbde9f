// The one place that validates memories and embeddings before they are stored or searched.
#include "telos/messages/memory.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/messages/utf8.hpp"

#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>

namespace telos {

namespace {

caf::error invalid(std::string what) {
  return make_error(ec::invalid_argument, std::move(what));
}

/// Printing a key that is not clean text could garble a terminal or a log line, so anything but
/// short, valid, control-free UTF-8 goes through printable_key's escaping.
std::string shown(std::string_view text) {
  bool clean = text.size() <= 64 && is_valid_utf8(text);
  for (char c : text)
    clean = clean && static_cast<unsigned char>(c) >= 0x20 && c != 0x7F;
  return clean ? std::string{text} : printable_key(text);
}

/// Checks size, UTF-8 and (for text that ends up in keys) NUL bytes. Keys of the secondary
/// indexes may use 0-terminated strings, so namespaces and attributes must not contain NUL.
std::optional<std::string> check_text(std::string_view text, size_t max_bytes, bool allow_nul) {
  if (text.size() > max_bytes)
    return "is " + std::to_string(text.size()) + " bytes, limit " + std::to_string(max_bytes);
  if (auto bad = utf8_error_offset(text); bad != std::string_view::npos)
    return "is not valid UTF-8 (byte " + std::to_string(bad) + ")";
  if (!allow_nul)
    if (auto nul = text.find('\0'); nul != std::string_view::npos)
      return "contains a NUL byte (byte " + std::to_string(nul) + ")";
  return std::nullopt;
}

/// True when no value is NaN or infinite. A branch-free pass in 16 independent lanes, which the
/// compiler turns into SIMD code: adding one to the exponent field carries into the sign bit
/// exactly when the exponent is all ones (NaN or infinity).
bool all_finite(const float* v, size_t n) {
  constexpr size_t lanes = 16;
  uint32_t lane[lanes] = {};
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
#pragma GCC unroll 16
    for (size_t j = 0; j < lanes; ++j) {
      uint32_t bits;
      std::memcpy(&bits, v + i + j, sizeof bits);
      lane[j] |= (bits & 0x7F800000u) + 0x00800000u;
    }
  }
  uint32_t any = 0;
  for (; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    any |= (bits & 0x7F800000u) + 0x00800000u;
  }
  for (auto l : lane)
    any |= l;
  return (any & 0x80000000u) == 0;
}

/// The first non-finite value, described, e.g. "value 17 is NaN".
std::optional<std::string> check_finite(const std::vector<float>& values) {
  if (all_finite(values.data(), values.size())) return std::nullopt;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) return "value " + std::to_string(i) + " is NaN";
    if (std::isinf(values[i]))
      return "value " + std::to_string(i) + " is " + (values[i] > 0 ? "+inf" : "-inf");
  }
  return std::nullopt;
}

bool all_zero(const float* first, const float* last) {
  for (; first != last; ++first)
    if (*first != 0.0f) return false;
  return true;
}

std::string validate_dense(const embedding& e, const embedder& spec) {
  if (e.values.size() != spec.dim)
    return "dimension " + std::to_string(e.values.size()) + ", expected " +
           std::to_string(spec.dim);
  if (auto bad = check_finite(e.values)) return *bad;
  // Cosine divides by the norm; a zero vector has no direction to compare.
  if (spec.metric == metric::cosine && all_zero(e.values.data(), e.values.data() + e.values.size()))
    return "zero vector under cosine";
  return {};
}

std::string validate_sparse(const embedding& e, const embedder& spec, const limits& lim) {
  if (e.indices.size() != e.values.size())
    return std::to_string(e.indices.size()) + " indices but " + std::to_string(e.values.size()) +
           " values";
  if (e.indices.size() > lim.max_sparse_entries)
    return std::to_string(e.indices.size()) + " entries, limit " +
           std::to_string(lim.max_sparse_entries);
  for (size_t i = 0; i < e.indices.size(); ++i) {
    if (e.indices[i] >= spec.dim)
      return "index " + std::to_string(e.indices[i]) + " out of range (vocabulary " +
             std::to_string(spec.dim) + ")";
    if (i > 0 && e.indices[i] <= e.indices[i - 1])
      return "indices not strictly increasing at position " + std::to_string(i) + " (" +
             std::to_string(e.indices[i]) + " after " + std::to_string(e.indices[i - 1]) + ")";
  }
  if (auto bad = check_finite(e.values)) return *bad;
  return {};
}

std::string validate_multi(const embedding& e, const embedder& spec, const limits& lim) {
  if (e.values.empty()) return "empty token list";
  if (e.values.size() % spec.dim != 0)
    return std::to_string(e.values.size()) + " values is not a whole number of " +
           std::to_string(spec.dim) + "-d tokens";
  auto tokens = e.tokens(spec.dim);
  if (tokens > lim.max_tokens)
    return std::to_string(tokens) + " tokens, limit " + std::to_string(lim.max_tokens);
  if (auto bad = check_finite(e.values)) return *bad;
  // MaxSim compares tokens by cosine, which needs a direction for every token.
  for (size_t t = 0; t < tokens; ++t) {
    const float* first = e.values.data() + t * spec.dim;
    if (all_zero(first, first + spec.dim))
      return "token " + std::to_string(t) + " is a zero vector (MaxSim compares by cosine)";
  }
  return {};
}

/// Empty when the embedding fits its embedder, else what is wrong (without the name).
std::string embedding_problem(const embedding& e, const embedder& spec, const limits& lim) {
  if (spec.kind != embedder_kind::sparse && !e.indices.empty())
    return std::to_string(e.indices.size()) + " indices given to a " + to_string(spec.kind) +
           " embedder (only sparse embeddings have indices)";
  if (spec.dim == 0) return "embedder has dimension 0";
  switch (spec.kind) {
  case embedder_kind::dense:
    return validate_dense(e, spec);
  case embedder_kind::sparse:
    return validate_sparse(e, spec, lim);
  case embedder_kind::multi:
    return validate_multi(e, spec, lim);
  }
  return "unknown embedder kind " + std::to_string(static_cast<int>(spec.kind));
}

std::optional<std::string> memory_problem(const memory& m, const profile& p, const limits& lim) {
  if (m.id.is_nil()) return "nil id";
  if (m.ns.empty()) return "namespace is empty";
  if (auto bad = check_text(m.ns, lim.max_namespace_bytes, false)) return "namespace " + *bad;
  if (auto bad = check_text(m.content, lim.max_content_bytes, true)) return "content " + *bad;
  if (m.attributes.size() > lim.max_attributes)
    return std::to_string(m.attributes.size()) + " attributes, limit " +
           std::to_string(lim.max_attributes);
  for (const auto& [key, value] : m.attributes) {
    if (key.empty()) return "attribute with an empty key";
    if (auto bad = check_text(key, lim.max_attribute_key_bytes, false))
      return "attribute key '" + shown(key) + "' " + *bad;
    if (auto bad = check_text(value, lim.max_attribute_value_bytes, false))
      return "attribute '" + shown(key) + "': value " + *bad;
  }
  for (const auto& entry : m.embeddings)
    if (!p.find(entry.first))
      return "unknown embedder " + shown(entry.first) + " (profile has " + p.name_list() + ")";
  std::string missing;
  size_t missing_count = 0;
  for (const auto& spec : p.embedders) {
    if (m.embeddings.count(spec.name) != 0) continue;
    missing += (missing_count++ == 0 ? "" : ", ") + spec.name;
  }
  if (missing_count > 0)
    return std::string{missing_count == 1 ? "missing embedder " : "missing embedders "} + missing;
  for (const auto& spec : p.embedders)
    if (auto what = embedding_problem(m.embeddings.at(spec.name), spec, lim); !what.empty())
      return "embedder " + spec.name + ": " + what;
  return std::nullopt;
}

} // namespace

expected<void> validate(const embedding& e, const embedder& spec, const limits& lim) {
  if (auto what = embedding_problem(e, spec, lim); !what.empty())
    return invalid(spec.name + ": " + what);
  return {};
}

expected<void> validate(const memory& m, const profile& p, const limits& lim) {
  if (auto what = memory_problem(m, p, lim))
    return invalid("memory " + m.id.to_string() + ": " + *what);
  return {};
}

expected<void> validate(const std::vector<memory>& batch, const profile& p, const limits& lim) {
  if (batch.size() > lim.max_batch)
    return invalid("batch: " + std::to_string(batch.size()) + " memories, limit " +
                   std::to_string(lim.max_batch));
  std::unordered_map<uuid, size_t> position_of;
  position_of.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& m = batch[i];
    auto where = "batch[" + std::to_string(i) + "]: memory " + m.id.to_string() + ": ";
    if (auto what = memory_problem(m, p, lim)) return invalid(where + *what);
    auto [it, fresh] = position_of.emplace(m.id, i);
    if (!fresh) return invalid(where + "same id as batch[" + std::to_string(it->second) + "]");
  }
  return {};
}

} // namespace telos
