// The changes an index actor acknowledges while its index is frozen for a snapshot save in the
// background, and the searches that see the frozen index and those changes as one index.
#pragma once

#include "telos/messages/memory.hpp"
#include "telos/messages/search.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/storage/vector_index.hpp"

#include <cstddef>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace telos {

struct index_handle;

/// Upserts and removes that wait for a frozen index: while a snapshot of the index is written
/// (docs/ENGINE.md, "Checkpoints while the store runs"), the index must not change, so the index
/// actor acknowledges updates by recording them here; once the snapshot is written it applies them
/// to the index. Searches see the index with the ids this overlay removed or replaced masked, plus
/// the overlay's own vectors, scored exactly.
class index_overlay {
public:
  /// `frozen` is the index the changes wait for (asked whether it holds an id, so that only its
  /// own hits are masked).
  void upsert(const storage::vector_index& frozen, const uuid& id, const embedding& e);
  void remove(const storage::vector_index& frozen, const uuid& id);

  bool empty() const { return position_.empty() && removed_.empty(); }
  /// Upserted ids plus removed ids: what the overlay holds (its bound counts this).
  size_t size() const { return position_.size() + removed_.size(); }
  /// Whether a hit of the frozen index with this id is hidden (removed or replaced here).
  bool masks(const uuid& id) const { return masked_.count(id) != 0; }
  bool masks_any() const { return !masked_.empty(); }
  /// The embedding upserted here for `id`, if any.
  const embedding* find(const uuid& id) const;
  bool removes(const uuid& id) const { return removed_.count(id) != 0; }

  /// The top `k` upserted vectors admitted by `allow` (when given), scored exactly under `spec`,
  /// sorted by telos::better. A sparse vector that shares no term with the query is no hit, as in
  /// the sparse index.
  std::vector<hit> search(const embedder& spec, const embedding& query, size_t k,
                          const storage::id_predicate* allow) const;

  /// Vectors the index plus this overlay holds, given the frozen index's count.
  size_t vectors(const storage::vector_index& frozen) const;
  /// Upserted vectors held here (searched exactly, as the index's fresh ones are).
  size_t upserted() const { return position_.size(); }

  /// Applies the changes to `index` in the order they came (removes first: an id removed and
  /// upserted again is upserted) and empties the overlay.
  void apply_to(storage::vector_index& index);
  void clear();

private:
  /// Upserted vectors in arrival order; an entry replaced or removed later has a nil id.
  std::vector<std::pair<uuid, embedding>> rows_;
  std::unordered_map<uuid, size_t> position_;
  std::unordered_set<uuid> removed_;
  /// Ids of the frozen index that were removed or upserted again here.
  std::unordered_set<uuid> masked_;
};

/// The top `k` of one embedder's index of a shard among the memories `f` admits, as
/// search_index() gives them, with the handle's overlay applied (while a snapshot is saved). The
/// caller holds `handle.lock` shared, or is the index actor.
std::vector<hit> search_handle(const index_handle& handle, const record_catalog& catalog,
                               const embedding& query, uint32_t k, const filter& f);

/// Exact scores of those of `ids` the index plus its overlay holds (score_ids() otherwise). Same
/// locking as search_handle().
std::vector<hit> score_handle(const index_handle& handle, const embedding& query,
                              const std::vector<uuid>& ids);

} // namespace telos
