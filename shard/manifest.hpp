// What a store is on disk before any shard opens: the directories of its shards and their index
// snapshots, and its MANIFEST (format, backend, profile, shard count, extra keyspaces), written
// at creation and read first, because the keyspaces a shard declares depend on the profile.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/profile.hpp"
#include "telos/storage/backend.hpp"
#include "telos/storage/layout.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace telos {

/// <root>/shard-<id>: the shard's backend directory (the backend puts its own TELOS marker
/// there, which tools use to tell the backend of a store).
std::string backend_directory(const std::string& root, uint32_t shard);
/// <root>/indexes/shard-<id>: the shard's index snapshots (shard/snapshot_book.hpp).
std::string snapshot_directory(const std::string& root, uint32_t shard);
/// <root>/MANIFEST
std::string manifest_path(const std::string& root);

/// What a store is, written at creation next to its shards: read before any shard opens,
/// because the keyspaces to declare depend on the profile.
struct store_manifest {
  uint32_t format = storage::layout_version;
  storage::backend_kind backend = storage::backend_kind::rocksdb;
  telos::profile profile;
  uint32_t shards = 1;
  /// Keyspaces of row contributors the store was written with.
  std::vector<std::string> extra_keyspaces;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(format, backend, profile, shards, extra_keyspaces);
  }
};

/// The manifest at `root`, or nullopt when there is none. A manifest that does not decode is
/// ec::corrupt_value.
expected<std::optional<store_manifest>> read_manifest(const std::string& root);
/// Writes the manifest atomically (temporary file, then rename).
expected<void> write_manifest(const std::string& root, const store_manifest& m);

/// "profile 'x' (E1 dense 8 cosine int8, ...)": how errors name a profile (index policies that
/// differ from the default included).
std::string describe_profile(const telos::profile& p);

} // namespace telos
