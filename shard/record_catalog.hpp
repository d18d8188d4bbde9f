// The in-memory facts a shard keeps about each stored memory: namespace, creation time and
// attribute hashes, plus the memory counters. The shard actor (single writer) updates it after
// each commit; the shard's index actors read it to judge search filters, so a filtered search
// never copies an allow-list and never waits for the backend.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/search.hpp"
#include "telos/messages/uuid.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace telos {

/// 64-bit hash of one attribute; filters compare hashes, and search results are re-checked on
/// the records, so a collision can cost a result but never admit a wrong one.
uint64_t attribute_hash(std::string_view key, std::string_view value);

/// The facts of `m` (its record fields; embeddings are not looked at).
record_fact make_fact(const memory& m);

/// A final change of one id: its new facts, or nullopt when removed.
using fact_change = std::pair<uuid, std::optional<record_fact>>;

class record_catalog {
public:
  /// Decides filter admission under a shared lock, which it holds until destroyed: the shard
  /// cannot apply a commit meanwhile, so keep it for one search only.
  class admission {
  public:
    bool operator()(const uuid& id) const;

  private:
    friend class record_catalog;
    admission(const record_catalog& catalog, const filter& f);

    std::shared_lock<std::shared_mutex> lock_;
    const record_catalog* catalog_;
    /// Namespace id to match, or no_namespace when any; unknown_namespace when none can match.
    uint32_t ns_;
    std::vector<std::vector<uint64_t>> where_;
    std::optional<int64_t> after_;
    std::optional<int64_t> before_;
  };

  /// Starts a filtered search (see admission).
  admission admit(const filter& f) const { return admission{*this, f}; }

  /// The `limit` least ids after `after` (nil = from the start) that the filter admits, sorted.
  /// Attributes are judged by hash: callers confirm a `where` on the records.
  std::vector<uuid> admitted_ids(const filter& f, const uuid& after, size_t limit) const;
  /// How many memories the filter admits (exact when it has no `where`).
  uint64_t count_admitted(const filter& f) const;

  // -- the shard's side ---------------------------------------------------------------------------

  /// Replaces everything: the facts and the counters read from the shard's metadata.
  void reset(std::vector<record_fact> facts, uint64_t total,
             std::map<std::string, uint64_t> per_namespace);
  /// Loading at open, one record at a time, without a list of facts in between (at a million
  /// memories that list was ~80 MB of fresh memory, and growing it by doubling touched twice that):
  /// start_load() clears everything and makes room for `expected` memories, add_loaded() adds
  /// each record's facts, finish_load() sets the counters read from the shard's metadata.
  void start_load(size_t expected);
  void add_loaded(const memory& m);
  void finish_load(uint64_t total, std::map<std::string, uint64_t> per_namespace);
  /// Applies a committed group: sets or erases facts and adjusts the counters.
  void apply(const std::vector<fact_change>& changes);

  std::optional<record_fact> find(const uuid& id) const;
  bool contains(const uuid& id) const;
  /// Memories in namespace ns ("" = all).
  uint64_t count(std::string_view ns = {}) const;
  std::map<std::string, uint64_t> per_namespace() const;
  /// Every stored id, sorted.
  std::vector<uuid> ids() const;
  size_t size() const;

private:
  static constexpr uint32_t no_namespace = 0xFFFFFFFF;
  static constexpr uint32_t unknown_namespace = 0xFFFFFFFE;

  struct entry {
    uint32_t ns = 0;
    int64_t created_at = 0;
    std::vector<uint64_t> attribute_hashes;
  };

  uint32_t intern(const std::string& ns);
  void add_count(const std::string& ns, int64_t delta);
  record_fact to_fact(const uuid& id, const entry& e) const;

  mutable std::shared_mutex mutex_;
  std::unordered_map<uuid, entry> entries_;
  /// Namespace names by id, and back; ids are never reused.
  std::vector<std::string> namespaces_;
  std::unordered_map<std::string, uint32_t> namespace_ids_;
  uint64_t total_ = 0;
  std::map<std::string, uint64_t> per_namespace_;
};

} // namespace telos
