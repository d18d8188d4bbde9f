// The one search routine: planning, per-embedder merge, fusion and the record filter.
#include "telos/shard/search_run.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace telos {

bool needs_records(const search_request& req) {
  return req.with_records || !req.filter.where.empty();
}

bool needs_records(const fused_search_request& req) {
  return req.with_records || !req.filter.where.empty();
}

std::vector<hit> search_index(const storage::vector_index& index, const record_catalog& catalog,
                              const embedding& query, uint32_t k, const filter& f) {
  if (k == 0) return {};
  if (f.empty()) return index.search(query, k);
  auto admission = catalog.admit(f);
  storage::id_predicate allow = [&admission](const uuid& id) { return admission(id); };
  return index.search(query, k, &allow);
}

std::vector<hit> score_ids(const storage::vector_index& index, const embedding& query,
                           const std::vector<uuid>& ids) {
  std::vector<hit> hits;
  hits.reserve(ids.size());
  for (const auto& id : ids)
    if (auto s = index.score(query, id)) hits.push_back(hit{id, *s});
  return hits;
}

std::vector<hit> fuse(const std::vector<std::vector<hit>>& lists, const std::vector<float>& weights,
                      fusion method, uint32_t rrf_k, size_t k,
                      const std::vector<std::vector<hit>>* exact) {
  std::unordered_map<uuid, float> total;
  for (size_t e = 0; e < lists.size(); ++e) {
    auto w = weights[e];
    const auto& list = lists[e];
    for (size_t r = 0; r < list.size(); ++r) {
      auto contribution = method == fusion::rrf
                              ? w / (static_cast<float>(rrf_k) + static_cast<float>(r + 1))
                              : w * list[r].score;
      total[list[r].id] += contribution;
    }
    if (method == fusion::weighted_sum && exact && e < exact->size())
      for (const auto& h : (*exact)[e])
        total[h.id] += w * h.score;
  }
  std::vector<hit> hits;
  hits.reserve(total.size());
  for (const auto& [id, score] : total)
    hits.push_back(hit{id, score});
  std::sort(hits.begin(), hits.end(), better);
  if (hits.size() > k) hits.resize(k);
  return hits;
}

expected<search_run> search_run::plan(const profile& p, const limits& lim, search_request req,
                                      size_t shards) {
  auto j = check_query(p, lim, req.embedder, req.query);
  if (!j) return std::move(j.error());
  search_run run;
  run.shards_ = shards;
  run.k_ = req.k;
  run.depth_ = req.k;
  run.filter_ = std::move(req.filter);
  run.with_records_ = req.with_records;
  run.parts_.push_back(part{std::move(req.embedder), *j, std::move(req.query), 1.0f});
  return run;
}

expected<search_run> search_run::plan(const profile& p, const limits& lim, fused_search_request req,
                                      uint32_t fused_depth, size_t shards) {
  if (req.queries.empty())
    return make_error(ec::invalid_argument, "a fused search needs at least one query");
  search_run run;
  for (auto& [name, query] : req.queries) {
    auto j = check_query(p, lim, name, query);
    if (!j) return std::move(j.error());
    run.parts_.push_back(part{name, *j, std::move(query), 1.0f});
  }
  for (const auto& [name, weight] : req.weights) {
    if (!req.queries.count(name))
      return make_error(ec::invalid_argument,
                        "weight given for embedder '" + name + "', which has no query");
    if (!std::isfinite(weight))
      return make_error(ec::invalid_argument,
                        "weight of embedder '" + name + "' is not a finite number");
  }
  for (auto& part : run.parts_)
    if (auto w = req.weights.find(part.name); w != req.weights.end()) part.weight = w->second;
  run.shards_ = shards;
  run.k_ = req.k;
  run.depth_ = std::max(req.k, fused_depth);
  run.fused_ = true;
  run.method_ = req.fusion;
  run.rrf_k_ = req.rrf_k;
  run.filter_ = std::move(req.filter);
  run.with_records_ = req.with_records;
  return run;
}

void search_run::take_lists(std::vector<std::vector<hit>> lists) {
  merged_.clear();
  for (size_t e = 0; e < parts_.size(); ++e) {
    std::vector<std::vector<hit>> per_shard(
        std::make_move_iterator(lists.begin() + static_cast<ptrdiff_t>(e * shards_)),
        std::make_move_iterator(lists.begin() + static_cast<ptrdiff_t>((e + 1) * shards_)));
    merged_.push_back(merge_top(per_shard, depth_));
  }
}

std::vector<search_run::score_request> search_run::missing_scores() const {
  std::vector<score_request> asked;
  if (!fused_ || method_ != fusion::weighted_sum) return asked;
  std::vector<uuid> candidates;
  {
    std::unordered_set<uuid> seen;
    for (const auto& l : merged_)
      for (const auto& h : l)
        if (seen.insert(h.id).second) candidates.push_back(h.id);
  }
  for (size_t e = 0; e < merged_.size(); ++e) {
    std::unordered_set<uuid> listed;
    for (const auto& h : merged_[e])
      listed.insert(h.id);
    // One request per shard holding missing ids, shards in order of their first missing id.
    std::vector<size_t> slot(shards_, SIZE_MAX);
    for (const auto& id : candidates) {
      if (listed.count(id)) continue;
      auto s = static_cast<size_t>(stable_hash(id) % shards_);
      if (slot[s] == SIZE_MAX) {
        slot[s] = asked.size();
        asked.push_back(score_request{e, s, {}});
      }
      asked[slot[s]].ids.push_back(id);
    }
  }
  return asked;
}

void search_run::take_scores(const std::vector<score_request>& asked,
                             std::vector<std::vector<hit>> scores) {
  exact_.assign(parts_.size(), {});
  for (size_t i = 0; i < scores.size(); ++i) {
    auto& target = exact_[asked[i].part];
    target.insert(target.end(), scores[i].begin(), scores[i].end());
  }
}

const std::vector<hit>& search_run::ranked() {
  if (ranked_) return hits_;
  ranked_ = true;
  if (!fused_) {
    if (!merged_.empty()) hits_ = std::move(merged_.front());
    if (hits_.size() > k_) hits_.resize(k_);
    return hits_;
  }
  std::vector<float> weights;
  for (const auto& part : parts_)
    weights.push_back(part.weight);
  hits_ = fuse(merged_, weights, method_, rrf_k_, k_,
               method_ == fusion::weighted_sum ? &exact_ : nullptr);
  return hits_;
}

std::vector<uuid> search_run::record_ids() {
  std::vector<uuid> ids;
  for (const auto& h : ranked())
    ids.push_back(h.id);
  return ids;
}

search_result search_run::finish() {
  ranked();
  return search_result{std::move(hits_), {}};
}

search_result search_run::finish(std::vector<memory> records) {
  const auto& hits = ranked();
  search_result result;
  for (size_t i = 0; i < hits.size() && i < records.size(); ++i) {
    auto& m = records[i];
    if (m.id.is_nil()) continue;
    if (!filter_.empty() && !filter_.matches(m)) continue;
    result.hits.push_back(hits[i]);
    if (with_records_) result.records.push_back(std::move(m));
  }
  return result;
}

} // namespace telos
