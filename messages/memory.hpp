// A memory (one "teleological array"): a record with one embedding per embedder of the profile,
// and the single place that validates it.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/wire_float.hpp"

#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace telos {

/// One embedding; which fields are used depends on the embedder's kind.
struct embedding {
  /// dense: the vector (dim floats); sparse: the weights (one per index); multi: the token
  /// vectors concatenated, row-major (tokens × dim floats).
  std::vector<float> values;
  /// sparse only: term ids, strictly increasing, each < the vocabulary size.
  std::vector<uint32_t> indices;

  static embedding dense(std::vector<float> v) { return {std::move(v), {}}; }
  static embedding sparse(std::vector<uint32_t> idx, std::vector<float> w) {
    return {std::move(w), std::move(idx)};
  }
  /// Number of tokens of a multi embedding of token dimension dim.
  size_t tokens(uint32_t dim) const { return dim == 0 ? 0 : values.size() / dim; }

  friend bool operator==(const embedding& a, const embedding& b) {
    return a.values == b.values && a.indices == b.indices;
  }
  friend bool operator!=(const embedding& a, const embedding& b) { return !(a == b); }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(values, indices);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, embedding& x) {
  auto values = bits_of(x.values); // wire_float.hpp: CAF cannot write an infinite float
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.values = floats_of(values);
    return caf::none;
  });
  return f(caf::meta::type_name("embedding"), values, x.indices, load);
}

struct memory {
  uuid id;
  std::string ns = "default";
  std::string content;
  std::map<std::string, std::string> attributes;
  /// Milliseconds since the Unix epoch.
  int64_t created_at = 0;
  int64_t updated_at = 0;
  /// Embedder name → embedding; exactly the embedders of the store's profile.
  std::map<std::string, embedding> embeddings;

  friend bool operator==(const memory& a, const memory& b) {
    return a.id == b.id && a.ns == b.ns && a.content == b.content && a.attributes == b.attributes &&
           a.created_at == b.created_at && a.updated_at == b.updated_at &&
           a.embeddings == b.embeddings;
  }
  friend bool operator!=(const memory& a, const memory& b) { return !(a == b); }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, ns, content, attributes, created_at, updated_at, embeddings);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, memory& x) {
  return f(caf::meta::type_name("memory"), x.id, x.ns, x.content, x.attributes, x.created_at,
           x.updated_at, x.embeddings);
}

/// Size limits applied by validation; configurable per store.
struct limits {
  size_t max_content_bytes = 1 << 20;
  size_t max_namespace_bytes = 255;
  size_t max_attributes = 256;
  size_t max_attribute_key_bytes = 255;
  size_t max_attribute_value_bytes = 64 << 10;
  size_t max_tokens = 1024;
  size_t max_sparse_entries = 1 << 16;
  size_t max_batch = 100000;

  friend bool operator==(const limits& a, const limits& b) {
    return a.max_content_bytes == b.max_content_bytes &&
           a.max_namespace_bytes == b.max_namespace_bytes && a.max_attributes == b.max_attributes &&
           a.max_attribute_key_bytes == b.max_attribute_key_bytes &&
           a.max_attribute_value_bytes == b.max_attribute_value_bytes &&
           a.max_tokens == b.max_tokens && a.max_sparse_entries == b.max_sparse_entries &&
           a.max_batch == b.max_batch;
  }
  friend bool operator!=(const limits& a, const limits& b) { return !(a == b); }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(max_content_bytes, max_namespace_bytes, max_attributes, max_attribute_key_bytes,
       max_attribute_value_bytes, max_tokens, max_sparse_entries, max_batch);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, limits& x) {
  return f(caf::meta::type_name("limits"), x.max_content_bytes, x.max_namespace_bytes,
           x.max_attributes, x.max_attribute_key_bytes, x.max_attribute_value_bytes, x.max_tokens,
           x.max_sparse_entries, x.max_batch);
}

/// Checks one embedding against its embedder: dense dim, NaN/Inf, zero vector under cosine,
/// sparse indices in range / strictly increasing / same count as values, multi non-empty token
/// list of whole tokens. The error names the embedder and what is wrong.
expected<void> validate(const embedding& e, const embedder& spec, const limits& lim);

/// Checks a whole memory: non-nil id, namespace, content and attribute sizes (UTF-8 validity of
/// content, namespace and attributes), exactly the profile's embedders (missing and extra named),
/// each embedding as above. The error starts with the memory's id.
expected<void> validate(const memory& m, const profile& p, const limits& lim);

/// Checks a batch as one unit: at most lim.max_batch memories, each valid as above, no id twice.
/// The error starts with the position, e.g. "batch[7]: memory <id>: ...".
expected<void> validate(const std::vector<memory>& batch, const profile& p, const limits& lim);

} // namespace telos
