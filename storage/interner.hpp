// String <-> u64 term ids for the graph and the secondary indexes, persisted entry by entry: a
// new string becomes two rows (and a high-water row) appended to the same write_batch as the
// write that introduced it, so a term exists on disk exactly when something that uses it does.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"
#include "telos/storage/backend.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace telos::storage {

/// An interned string. 0 is never assigned (see interner_keyspaces::reverse).
using term_id = uint64_t;

/// Terms carry their kind as a first byte, so a memory id, an edge type and an attribute value
/// that happen to share their bytes are different terms.
enum class term_kind : char {
  text = 's',
  memory = 'm',
  edge_type = 't',
  ns = 'n',
  attribute = 'a',
  attribute_value = 'v',
};

/// The term text of a name of the given kind.
std::string make_term(term_kind kind, std::string_view name);
/// The term text of a memory id (kind memory, the 16 raw id bytes).
std::string make_term(const uuid& memory_id);
/// The memory id of a memory term, or nullopt when `term` is of another kind.
std::optional<uuid> memory_of_term(std::string_view term);

/// The two keyspaces of an interner.
/// * forward ("intern_fwd"): XXH3-64(text) BE ‖ id BE → text. Hashing keeps keys at 16 bytes
///   whatever the string's length (LMDB refuses keys over 511 bytes); the text in the value
///   resolves hash collisions, so a lookup is a prefix scan over one hash, normally one row.
/// * reverse ("intern_rev"): id BE → text. The key id 0 holds the high-water mark instead: a u64
///   BE that is greater than every id assigned when that row was written.
/// Values are raw envelopes (checksummed).
struct interner_keyspaces {
  keyspace_id forward = 0;
  keyspace_id reverse = 0;

  /// The names to declare when opening the backend.
  static const std::vector<std::string>& names();
  /// The ids of those names in an open backend; ec::unknown_keyspace when one is missing.
  static expected<interner_keyspaces> resolve(const backend& db);
};

struct interner_options {
  /// Committed entries kept in memory per direction (CLOCK eviction, roughly least recently
  /// used first).
  size_t cache_entries = 1 << 18;
};

struct interner_stats {
  /// The id the next new string gets.
  term_id next_id = 0;
  /// Strings staged in a batch that was neither confirmed nor abandoned yet.
  size_t pending = 0;
  /// Entries in the string → id cache.
  size_t cached = 0;
  /// Backend reads made (forward scans and reverse gets).
  uint64_t disk_reads = 0;
};

/// Assigns and resolves term ids of one backend (one shard). Thread-safe: concurrent writers
/// never get two ids for one string. There must be exactly one interner per backend.
///
/// The write protocol: `intern(text, batch, staged)` returns the id and, for a string that is
/// not known to be committed, appends its rows to `batch` and records it in `staged`. After the
/// batch is written the caller calls `confirm(staged)` (it committed: the entries become cached)
/// or `abandon(staged)` (it failed: the ids are burned; destroying an unsettled staging does the
/// same). Until then the string is *pending*: another writer that interns it gets the same id
/// and appends the same rows to its own batch, so whichever batch commits first makes the term
/// durable and a failure of the other cannot leave a dangling id. A pending string is never put
/// in the committed cache; when every batch that staged it failed, the next intern reads the
/// backend again and, absent there, assigns a fresh id. Ids are never reused within a process;
/// across a restart, the next id is above every id found on disk and every high-water row, so
/// only an id that no committed row mentions could come back.
class interner {
public:
  /// The strings one batch staged. Move-only; one staging per write_batch. The interner must
  /// outlive it.
  class staging {
  public:
    staging() = default;
    staging(staging&& other) noexcept;
    staging& operator=(staging&& other) noexcept;
    staging(const staging&) = delete;
    staging& operator=(const staging&) = delete;
    /// Abandons whatever is still staged (the batch was never confirmed).
    ~staging();

    bool empty() const { return entries_.empty(); }
    size_t size() const { return entries_.size(); }

  private:
    friend class interner;
    interner* owner_ = nullptr;
    /// The strings whose rows this staging's batch holds, with their ids.
    std::unordered_map<std::string, term_id> entries_;
  };

  static expected<std::unique_ptr<interner>> open(const backend& db, interner_keyspaces ks,
                                                  interner_options opts = {});

  interner(const interner&) = delete;
  interner& operator=(const interner&) = delete;

  /// The id of `text`; appends the rows of a new or pending string to `batch` (see above).
  expected<term_id> intern(std::string_view text, write_batch& batch, staging& staged);
  /// The id of `text` if it is committed or pending; never assigns.
  expected<std::optional<term_id>> find(std::string_view text) const;
  /// The text of a committed id, or nullopt when no such id is on disk.
  expected<std::optional<std::string>> lookup(term_id id) const;
  /// lookup for many ids at once (one multi_get for the ones not cached), in the order given.
  expected<std::vector<std::optional<std::string>>> lookup(const std::vector<term_id>& ids) const;

  /// The batch of `staged` committed: its strings are interned for good.
  void confirm(staging& staged);
  /// The batch of `staged` failed: its new ids are burned.
  void abandon(staging& staged);

  interner_stats stats() const;
  const interner_keyspaces& keyspaces() const { return ks_; }

  /// The reverse-keyspace key of an id.
  static std::string reverse_key(term_id id);
  /// The forward-keyspace key of a string with a given id, and its 8-byte hash prefix.
  static std::string forward_key(std::string_view text, term_id id);
  static std::string forward_prefix(std::string_view text);

private:
  /// A bounded map with CLOCK (second-chance) eviction: a hit only sets a flag, so lookups under
  /// the interner's mutex (which callers hold) touch no list nodes; eviction skips entries hit
  /// since the hand last passed them.
  template <class Key, class Value>
  class clock_map {
  public:
    explicit clock_map(size_t capacity) : capacity_(capacity) {}
    const Value* get(const Key& key);
    void put(const Key& key, const Value& value);
    size_t size() const { return index_.size(); }

  private:
    struct slot {
      Key key;
      Value value;
      bool referenced = false;
    };
    size_t capacity_;
    std::vector<slot> slots_;
    std::unordered_map<Key, size_t> index_;
    size_t hand_ = 0;
  };

  struct pending_entry {
    term_id id = 0;
    /// Stagings (batches) that hold the entry's rows and are not settled.
    size_t holders = 0;
  };

  interner(const backend& db, interner_keyspaces ks, interner_options opts, term_id next_id);

  /// Cache or pending under the lock; appends rows to the batch for a pending string.
  std::optional<term_id> known_locked(const std::string& text, write_batch& batch, staging& staged);
  /// Reads the forward keyspace.
  expected<std::optional<term_id>> read_forward(std::string_view text) const;
  void append_rows(const std::string& text, term_id id, write_batch& batch) const;
  void cache_locked(const std::string& text, term_id id) const;
  void settle(staging& staged, bool committed);

  const backend& db_;
  interner_keyspaces ks_;
  mutable std::mutex mutex_;
  term_id next_id_;
  std::unordered_map<std::string, pending_entry> pending_;
  mutable clock_map<std::string, term_id> ids_by_text_;
  mutable clock_map<term_id, std::string> texts_by_id_;
  mutable std::atomic<uint64_t> disk_reads_{0};
  /// Stagings settled (confirmed or abandoned) so far; tells intern whether a backend read made
  /// before taking the lock may be stale.
  uint64_t settlements_ = 0;
};

} // namespace telos::storage
