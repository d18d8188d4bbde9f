// One search from request to answer, without actors: the one scatter/merge/fuse routine of the
// engine. It validates the request, names the per-(embedder, shard) top lists to gather, merges
// them per embedder, names the exact scores a weighted-sum fusion still needs, fuses across
// embedders and applies the filter to fetched records. Two drivers run its steps: the
// coordinator (by messages to the shard actors, so also in a cluster) and local_indexes (on the
// caller's thread over the indexes of the shards in this process).
#pragma once

#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/storage/vector_index.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace telos {

/// Whether answering needs the records: asked for, or attribute predicates to confirm on them
/// (the catalog judges attributes by 64-bit hashes, which could collide).
bool needs_records(const search_request& req);
bool needs_records(const fused_search_request& req);

/// The top `k` hits of `index` among the memories `f` admits (judged on `catalog`): the step of
/// one (embedder, shard) top list, run by an index actor or by local_indexes on the caller's
/// thread.
std::vector<hit> search_index(const storage::vector_index& index, const record_catalog& catalog,
                              const embedding& query, uint32_t k, const filter& f);

/// Exact scores of those of `ids` that `index` holds.
std::vector<hit> score_ids(const storage::vector_index& index, const embedding& query,
                           const std::vector<uuid>& ids);

/// Reciprocal rank fusion and weighted score sum over per-embedder ranked lists (each sorted by
/// telos::better): the fused hits, sorted by telos::better, at most k. `exact` (weighted sum
/// only) gives, per list, the scores of ids missing from that list; without it they count 0.
std::vector<hit> fuse(const std::vector<std::vector<hit>>& lists, const std::vector<float>& weights,
                      fusion method, uint32_t rrf_k, size_t k,
                      const std::vector<std::vector<hit>>* exact = nullptr);

/// One search in progress. The steps, in order:
/// 1. `list_count()` lists: list i is the top `depth()` of embedder `list_embedder(i)` on shard
///    `list_shard(i)` among the memories `request_filter()` admits; hand them to `take_lists`,
///    which merges them per embedder.
/// 2. `missing_scores()`: for a weighted sum, the exact scores of candidates some embedder's
///    list lacks, by shard; hand them (in that order) to `take_scores`. Empty otherwise.
/// 3. `needs_records()`: fetch `record_ids()` (nil id = gone) and call `finish(records)`;
///    else `finish()`.
/// A step that re-ranks the candidates of a quantised index against the f32 originals belongs
/// between 1 and 3, after the per-embedder merge.
class search_run {
public:
  /// The parts of the profile a search asks for, with its depth.
  struct part {
    std::string name;
    /// Position of the embedder in the profile (= index of its index in a shard).
    size_t index = 0;
    embedding query;
    float weight = 1.0f;
  };
  /// Exact scores to ask shard `shard` for: embedder `part`, those `ids`.
  struct score_request {
    size_t part = 0;
    size_t shard = 0;
    std::vector<uuid> ids;
  };

  /// A single-embedder search over `shards` shards. Errors: ec::invalid_argument naming an
  /// unknown embedder, or the embedder of an invalid query.
  static expected<search_run> plan(const profile& p, const limits& lim, search_request req,
                                   size_t shards);
  /// A fused search: each embedder contributes its top max(k, fused_depth) of every shard.
  /// Errors also name an empty query set, a weight without a query and a non-finite weight.
  static expected<search_run> plan(const profile& p, const limits& lim, fused_search_request req,
                                   uint32_t fused_depth, size_t shards);

  /// k = 0: the answer is empty and nothing needs to be asked.
  bool empty() const { return k_ == 0; }
  const std::vector<part>& parts() const { return parts_; }
  size_t shard_count() const { return shards_; }
  uint32_t depth() const { return depth_; }
  const filter& request_filter() const { return filter_; }

  // -- step 1 -------------------------------------------------------------------------------------
  size_t list_count() const { return parts_.size() * shards_; }
  const part& list_part(size_t i) const { return parts_[i / shards_]; }
  size_t list_shard(size_t i) const { return i % shards_; }
  /// The lists of step 1, in list order.
  void take_lists(std::vector<std::vector<hit>> lists);

  // -- step 2 -------------------------------------------------------------------------------------
  std::vector<score_request> missing_scores() const;
  /// scores[i] answers missing_scores()[i].
  void take_scores(const std::vector<score_request>& asked, std::vector<std::vector<hit>> scores);

  // -- step 3 -------------------------------------------------------------------------------------
  bool needs_records() const { return with_records_ || !filter_.where.empty(); }
  /// The ids whose records `finish` needs, in rank order.
  std::vector<uuid> record_ids();
  /// The answer from the indexes alone (needs_records() is false).
  search_result finish();
  /// The answer given the records of record_ids(): hits whose memory is gone or does not match
  /// the filter are dropped.
  search_result finish(std::vector<memory> records);

private:
  search_run() = default;
  /// The ranked hits (merged, fused), at most k; computed once, after steps 1 and 2.
  const std::vector<hit>& ranked();

  std::vector<part> parts_;
  size_t shards_ = 1;
  size_t k_ = 0;
  uint32_t depth_ = 0;
  bool fused_ = false;
  fusion method_ = fusion::rrf;
  uint32_t rrf_k_ = 60;
  filter filter_;
  bool with_records_ = false;
  /// Per part, the top depth() over every shard.
  std::vector<std::vector<hit>> merged_;
  /// Per part, exact scores of candidates missing from its list (weighted sum).
  std::vector<std::vector<hit>> exact_;
  bool ranked_ = false;
  std::vector<hit> hits_;
};

} // namespace telos
