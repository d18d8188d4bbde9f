// The overlay of a frozen index and the searches that see index and overlay as one.
#include "telos/shard/index_overlay.hpp"

#include "telos/shard/index_handle.hpp"
#include "telos/shard/search_run.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <shared_mutex>

namespace telos {

void index_overlay::upsert(const storage::vector_index& frozen, const uuid& id,
                           const embedding& e) {
  if (frozen.contains(id)) masked_.insert(id);
  // An upsert replaces whatever the id had; a remove before it needs no more applying.
  removed_.erase(id);
  if (auto it = position_.find(id); it != position_.end()) {
    rows_[it->second].second = e;
    return;
  }
  position_.emplace(id, rows_.size());
  rows_.emplace_back(id, e);
}

void index_overlay::remove(const storage::vector_index& frozen, const uuid& id) {
  if (frozen.contains(id)) masked_.insert(id);
  if (auto it = position_.find(id); it != position_.end()) {
    rows_[it->second] = {uuid{}, embedding{}};
    position_.erase(it);
  }
  removed_.insert(id);
}

const embedding* index_overlay::find(const uuid& id) const {
  auto it = position_.find(id);
  return it == position_.end() ? nullptr : &rows_[it->second].second;
}

namespace {

bool shares_a_term(const embedding& a, const embedding& b) {
  auto i = a.indices.begin(), j = b.indices.begin();
  while (i != a.indices.end() && j != b.indices.end()) {
    if (*i == *j) return true;
    if (*i < *j)
      ++i;
    else
      ++j;
  }
  return false;
}

} // namespace

std::vector<hit> index_overlay::search(const embedder& spec, const embedding& query, size_t k,
                                       const storage::id_predicate* allow) const {
  std::vector<hit> hits;
  if (k == 0) return hits;
  // A query of the wrong shape finds nothing, as in the indexes.
  if (spec.kind == embedder_kind::dense && query.values.size() != spec.dim) return hits;
  if (spec.kind == embedder_kind::multi &&
      (spec.dim == 0 || query.values.empty() || query.values.size() % spec.dim != 0))
    return hits;
  for (const auto& [id, e] : rows_) {
    if (id.is_nil() || (allow != nullptr && !(*allow)(id))) continue;
    if (spec.kind == embedder_kind::sparse && !shares_a_term(query, e)) continue;
    hits.push_back(hit{id, storage::exact_score(spec, query, e)});
  }
  if (hits.size() > k) {
    std::partial_sort(hits.begin(), hits.begin() + static_cast<ptrdiff_t>(k), hits.end(), better);
    hits.resize(k);
  } else {
    std::sort(hits.begin(), hits.end(), better);
  }
  return hits;
}

size_t index_overlay::vectors(const storage::vector_index& frozen) const {
  size_t n = frozen.size();
  for (const auto& [id, row] : position_)
    n += frozen.contains(id) ? 0 : 1;
  for (const auto& id : removed_)
    n -= frozen.contains(id) ? 1 : 0;
  return n;
}

void index_overlay::apply_to(storage::vector_index& index) {
  for (const auto& id : removed_)
    index.remove(id);
  for (const auto& [id, e] : rows_)
    if (!id.is_nil()) index.upsert(id, e);
  clear();
}

void index_overlay::clear() {
  rows_.clear();
  position_.clear();
  removed_.clear();
  masked_.clear();
}

std::vector<hit> search_handle(const index_handle& handle, const record_catalog& catalog,
                               const embedding& query, uint32_t k, const filter& f) {
  std::shared_lock guard{handle.overlay_lock};
  const auto& overlay = handle.overlay;
  const auto& index = *handle.index;
  if (overlay.empty()) return search_index(index, catalog, query, k, f);
  if (k == 0) return {};
  std::optional<record_catalog::admission> admission;
  if (!f.empty()) admission.emplace(catalog.admit(f));
  storage::id_predicate admitted = [&admission](const uuid& id) {
    return !admission || (*admission)(id);
  };
  storage::id_predicate unmasked = [&overlay, &admitted](const uuid& id) {
    return !overlay.masks(id) && admitted(id);
  };
  // Without a filter and with nothing of the index hidden, the index searches unfiltered (its
  // fast path).
  const bool plain = f.empty() && !overlay.masks_any();
  std::vector<std::vector<hit>> lists;
  lists.push_back(index.search(query, k, plain ? nullptr : &unmasked));
  lists.push_back(overlay.search(index.spec(), query, k, f.empty() ? nullptr : &admitted));
  return merge_top(lists, k);
}

std::vector<hit> score_handle(const index_handle& handle, const embedding& query,
                              const std::vector<uuid>& ids) {
  std::shared_lock guard{handle.overlay_lock};
  const auto& overlay = handle.overlay;
  if (overlay.empty()) return score_ids(*handle.index, query, ids);
  const auto& spec = handle.index->spec();
  std::vector<hit> hits;
  hits.reserve(ids.size());
  for (const auto& id : ids) {
    if (const auto* e = overlay.find(id)) {
      hits.push_back(hit{id, storage::exact_score(spec, query, *e)});
      continue;
    }
    if (overlay.masks(id) || overlay.removes(id)) continue;
    if (auto s = handle.index->score(query, id)) hits.push_back(hit{id, *s});
  }
  return hits;
}

} // namespace telos
