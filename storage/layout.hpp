// The keyspace layout of one Telos shard: which keyspaces it declares, how their keys are encoded
// and how their values are laid out. Every other part of the engine reads and writes shard data
// through these functions, so this file is the whole on-disk format of a shard.
//
//   records   id (16 bytes)                → envelope(Cereal): the memory without its embeddings
//   vec.<E>   id (16 bytes)                → envelope(raw): embedder E's vector of the memory
//                                              dense:  dim × f32
//                                              sparse: u32 count, count × u32 index, count × f32
//                                              multi:  u32 tokens, tokens × dim × f32
//                                              (all little-endian)
//   ns        string(namespace) + id       → empty
//   meta      ASCII name                   → envelope(Cereal): format, profile, shard identity,
//                                              counters, last sequence, index snapshot markers
//   log       u64 sequence (big-endian)    → envelope(Cereal): ids written and removed
//   …         keyspaces of row contributors (attribute/time indexes, graph), after the above
//
// Strings in keys use the escaped, terminated encoding of key_codec.hpp, so a namespace may hold
// any byte and a namespace's rows are exactly the keys under its prefix.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace telos::storage {

/// Version of this layout, stored in every shard at creation and checked at open.
inline constexpr uint32_t layout_version = 1;

inline constexpr std::string_view records_keyspace = "records";
inline constexpr std::string_view namespaces_keyspace = "ns";
inline constexpr std::string_view meta_keyspace = "meta";
inline constexpr std::string_view changelog_keyspace = "log";
inline constexpr std::string_view vector_keyspace_prefix = "vec.";

/// "vec.<embedder name>".
std::string vector_keyspace(std::string_view embedder_name);

/// The keyspaces of a shard in declaration order: records, ns, meta, log, one vector keyspace per
/// embedder in profile order, then the extra keyspaces of row contributors.
class shard_layout {
public:
  shard_layout() = default;

  /// Fails with ec::invalid_argument when an extra keyspace repeats a name.
  static expected<shard_layout> make(const telos::profile& p,
                                     const std::vector<std::string>& extra = {});

  const std::vector<std::string>& keyspaces() const { return names_; }
  const telos::profile& profile() const { return profile_; }
  size_t embedders() const { return profile_.embedders.size(); }

  keyspace_id records() const { return 0; }
  keyspace_id namespaces() const { return 1; }
  keyspace_id meta() const { return 2; }
  keyspace_id changelog() const { return 3; }
  /// The vector keyspace of the embedder at `embedder_index` in the profile.
  keyspace_id vectors(size_t embedder_index) const {
    return static_cast<keyspace_id>(4 + embedder_index);
  }
  /// Any declared keyspace by name (row contributors look theirs up here).
  expected<keyspace_id> keyspace(std::string_view name) const;

private:
  telos::profile profile_;
  std::vector<std::string> names_;
};

// -- keys -----------------------------------------------------------------------------------------

/// Key of a record and of each of its vectors: the 16 id bytes.
std::string_view id_key(const uuid& id);
/// Reads an id key; ec::corrupt_value naming the keyspace unless it is exactly 16 bytes.
expected<uuid> decode_id_key(std::string_view key, std::string_view keyspace_name);

std::string namespace_key(std::string_view ns, const uuid& id);
/// The prefix every row of namespace `ns` starts with.
std::string namespace_prefix(std::string_view ns);

struct namespace_row {
  std::string ns;
  uuid id;
};

expected<namespace_row> decode_namespace_key(std::string_view key);

std::string changelog_key(uint64_t sequence);
expected<uint64_t> decode_changelog_key(std::string_view key);

/// Names of the meta rows.
namespace meta_keys {
inline constexpr std::string_view format = "format";
inline constexpr std::string_view profile = "profile";
inline constexpr std::string_view shard_count = "shard_count";
inline constexpr std::string_view shard_id = "shard_id";
inline constexpr std::string_view sequence = "sequence";
inline constexpr std::string_view count = "count";
inline constexpr std::string_view namespace_count_prefix = "count/";
inline constexpr std::string_view snapshot_prefix = "snapshot/";
} // namespace meta_keys

/// "count/" + string(ns): the number of memories in namespace `ns`.
std::string namespace_count_key(std::string_view ns);
/// The namespace of a namespace_count_key.
expected<std::string> decode_namespace_count_key(std::string_view key);
/// "snapshot/<embedder>": the marker of the embedder's last index snapshot.
std::string snapshot_key(std::string_view embedder_name);

// -- values ---------------------------------------------------------------------------------------

/// The record of a memory: every field but the embeddings, which live in the vector keyspaces.
std::string encode_record(const memory& m);
/// Decodes a record; the result has no embeddings. Errors name the key.
expected<memory> decode_record(std::string_view value, std::string_view key);

/// The raw little-endian block of one embedding (the embedding was validated against `spec`).
std::string encode_vector(const embedder& spec, const embedding& e);
/// Decodes and checks a raw block against `spec` (sizes, sparse index range); errors name the
/// embedder and the key.
expected<embedding> decode_vector(const embedder& spec, std::string_view value,
                                  std::string_view key);
/// The floats of a dense or multi-vector block (checked as decode_vector checks it) into `out`,
/// resized to them (no allocation once it is large enough); their count. Sparse embedders are
/// ec::invalid_argument.
expected<size_t> decode_vector_floats(const embedder& spec, std::string_view value,
                                      std::string_view key, std::vector<float>& out);

std::string encode_counter(uint64_t x);
expected<uint64_t> decode_counter(std::string_view value, std::string_view key);

/// One committed write of a shard: which ids it stored and which it removed. Recovery replays the
/// entries after an index snapshot by re-reading the current vector of each id they name.
struct changelog_entry {
  std::vector<uuid> written;
  std::vector<uuid> removed;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(written, removed);
  }
};

std::string encode_changelog_entry(const changelog_entry& e);
expected<changelog_entry> decode_changelog_entry(std::string_view value, std::string_view key);

/// Where an embedder's index snapshot is and which sequence it is complete up to: the file of
/// `token`, and (when `delta` is not nil) the delta file of that token over it
/// (vector_index::save_delta). The tokens name the files, so a marker can never describe a file
/// written by another store or an older snapshot of this one. Without a delta a marker is encoded
/// as before deltas existed (schema 1); with one as schema 2, which a build without deltas refuses
/// (and so rebuilds the index) rather than read the base alone.
struct snapshot_marker {
  uint64_t sequence = 0;
  uuid token;
  uuid delta;

  bool has_delta() const { return !delta.is_nil(); }
  friend bool operator==(const snapshot_marker& a, const snapshot_marker& b) {
    return a.sequence == b.sequence && a.token == b.token && a.delta == b.delta;
  }
  friend bool operator!=(const snapshot_marker& a, const snapshot_marker& b) { return !(a == b); }
};

std::string encode_snapshot_marker(const snapshot_marker& m);
expected<snapshot_marker> decode_snapshot_marker(std::string_view value, std::string_view key);

std::string encode_profile(const telos::profile& p);
expected<telos::profile> decode_profile(std::string_view value, std::string_view key);

// -- row contributors -----------------------------------------------------------------------------

/// Adds the rows of a secondary structure (attribute index, time index, graph, ...) to the batch
/// that stores or removes a memory, so they commit atomically with the record. A shard calls its
/// contributors from one actor at a time, in commit order.
class row_contributor {
public:
  virtual ~row_contributor() = default;

  /// The keyspaces this contributor writes; a shard declares them after its own.
  virtual std::vector<std::string> keyspaces() const = 0;

  /// Appends the rows for storing `now` (record fields and embeddings), which replaces `before`
  /// (its record fields, no embeddings; nullptr when the id is new). An error rejects this one
  /// memory's write; rows appended before the error are discarded.
  virtual expected<void> on_put(const memory* before, const memory& now, const shard_layout& layout,
                                write_batch& rows) = 0;

  /// Appends the deletes for removing `before` (record fields, no embeddings).
  virtual expected<void> on_remove(const memory& before, const shard_layout& layout,
                                   write_batch& rows) = 0;
};

} // namespace telos::storage
