// In-memory per-embedder vector indexes (plain C++, no actors): exact flat search with a
// vectorised kernel and HNSW for dense embedders, an inverted index for sparse ones, MaxSim for
// multi-vector ones (exact; above a threshold, candidates from token centroids ranked by int8 codes
// and re-scored exactly).
// One index holds one embedder's vectors of one shard; its owner (the index actor) serialises
// modifications. const calls may run concurrently with each other, not with a modification.
//
// Scores, higher is better: cosine similarity; dot product; l2 = the NEGATED Euclidean distance
// (-sqrt(sum of squared differences), not squared); sparse = dot product over common terms;
// multi = MaxSim, the mean over query tokens of the best cosine similarity to any stored token.
// Every score an index reports is computed exactly by the kernels of vector_kernels.cpp, also
// for hits an HNSW graph found, so search(), score() and exact_score() agree up to rounding. A
// quantised dense index (the embedder's index_policy) keeps codes, not vectors: it ranks by code
// and re-scores its best k * oversample candidates (fewer above index_options::rescore_depth) with
// exact_score() against the f32 originals that index_options::originals reads (every shard sets it;
// without it, or when it fails, scores are the codes' estimates). A MaxSim index with a reader does
// the same for the memories it filed under its centroids (their token matrices); without one it
// holds every f32 token row.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/storage/kmeans.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace telos::storage {

/// Decides whether an id may appear in a filtered search.
using id_predicate = std::function<bool(const uuid&)>;

/// Reads the stored f32 originals of `ids` (one entry per id, in order; nullopt where an id has
/// none) of embedder `spec`, for re-scoring the candidates of a quantised index (and of a MaxSim
/// index: a multi-vector original is its whole token matrix, not normalised). Called from
/// search() and score(), possibly from several threads at once.
using originals_reader = std::function<expected<std::vector<std::optional<embedding>>>(
    const embedder& spec, const std::vector<uuid>& ids)>;

/// Receives the f32 original of ids[i] (`count` floats: dim of a dense embedder, tokens × dim of
/// a multi-vector one) in a scratch of the reader's, which it may change and which is valid only
/// during the call.
using original_visit = std::function<void(size_t i, float* values, size_t count)>;
/// Hands the stored f32 originals of `ids` of embedder `spec` to `visit`, one call per id that has
/// one (none for the others), without an allocation per original: what originals_reader returns,
/// decoded from where the backend holds it into a scratch reused from one original to the next.
/// Calls for different ids may come from several threads at once (the parts of a read split over
/// the shard's read pool). An error (after which some ids may have been visited) means the
/// caller must not trust what it got. Called from search(), possibly from several threads at once.
using originals_visitor = std::function<expected<void>(
    const embedder& spec, const std::vector<uuid>& ids, const original_visit& visit)>;

/// Runs part(0), ..., part(parts - 1), possibly on other threads at once, and returns when all
/// have run (the shard's read pool: read_pool::run_parts). Called from search(), possibly from
/// several threads at once.
using parts_runner =
    std::function<void(size_t parts, const std::function<void(size_t part)>& part)>;

/// While one lives on a thread, the searches of that thread scan on it alone: they do not split
/// their scans into parts (index_options::run_parts). An index actor searches under one: its
/// searches are one list of a fused or multi-shard search, whose other lists keep the cores busy
/// already, and splitting them too made fused searches slower (docs/BENCHMARKS.md, "Scans in
/// parts"). Scopes nest.
class unsplit_searches {
public:
  unsplit_searches();
  ~unsplit_searches();
  unsplit_searches(const unsplit_searches&) = delete;
  unsplit_searches& operator=(const unsplit_searches&) = delete;

  /// False while an unsplit_searches lives on the calling thread.
  static bool allowed();

private:
  bool was_;
};

/// index_options::rescore_depth by default (measured: docs/BENCHMARKS.md, "Fused search at depth").
inline constexpr size_t default_rescore_depth = 10;

struct index_options {
  /// Dense embedders switch from exact flat search to HNSW once they hold this many vectors
  /// (the graph is built by maintain(); it stays when the index shrinks again).
  size_t hnsw_threshold = 20000;
  size_t hnsw_m = 16;
  size_t hnsw_ef_construction = 200;
  /// ef at query time is max(hnsw_ef_search, k); 0 (the default) lets it grow with the graph:
  /// default_search_ef(vectors in the graph).
  size_t hnsw_ef_search = 0;
  /// HNSW graphs are built with this seed, so builds are reproducible (and MaxSim centroids are
  /// trained with it).
  size_t seed = 100;
  /// Multi-vector embedders score every memory exactly until they hold this many memories; from
  /// then on maintain() trains token centroids (k-means on a sample of the tokens) and files each
  /// memory under the centroids of its tokens, and a search re-scores exactly only the candidates
  /// filed under the centroids nearest to its tokens (docs/ENGINE.md, "Multi-vector index").
  /// The centroids stay when the index shrinks again.
  size_t maxsim_threshold = 20000;
  /// Centroids each query token probes.
  size_t maxsim_nprobe = 8;
  /// A search re-scores exactly at most k * maxsim_oversample candidates, the best by their int8
  /// MaxSim (all of them when the probed lists hold fewer); above rescore_depth one more per rank
  /// (rescored_candidates), so a fused search's depth of 100 costs 130 exact MaxSims.
  size_t maxsim_oversample = 4;
  /// A dense int8 index whose policy does not set `oversample` re-scores k * int8_oversample
  /// candidates (above rescore_depth, one more per rank beyond it). 0 (the default) = by the
  /// policy's structure: 2 for ivf and flat, whose candidates are every scanned vector ranked by
  /// code, and 3 for hnsw, where the graph's own misses come on top of the codes' (measured at
  /// 1M: docs/BENCHMARKS.md, "Two candidates per result"). A policy's own oversample wins; binary
  /// codes default to 10 (docs/ENGINE.md, "Quantised vectors").
  size_t int8_oversample = 0;
  /// Centroids to train; 0 = 4 x the square root of the token count when training starts.
  size_t maxsim_centroids = 0;
  /// With the default centroid count, maintain() trains the centroids anew once the live tokens
  /// are this many times those they were trained on (the count then doubles at 4; 1 counts as
  /// 2), and moves the memories to them step by step; 0 (the default) = never: on noise-only
  /// clusters twice the centroids at the same nprobe lost recall (0.978 -> 0.846 at 100,000
  /// memories, docs/BENCHMARKS.md "E12 centroids as the store grows").
  size_t maxsim_retrain_growth = 0;
  /// Dense embedders with index policy ivf: lists (k-means centroids) trained when the index first
  /// reaches hnsw_threshold vectors; 0 = ivf_lists_per_sqrt x the square root of the vectors then.
  size_t ivf_lists = 0;
  /// Lists an ivf search scans; 0 = default_ivf_nprobe(lists).
  size_t ivf_nprobe = 0;
  /// Where between ivf_retrain_growth and 1.25 x that many times the vectors it was trained at an
  /// ivf index with the default list count retrains, from 0 (the former, the default) to 1 (the
  /// latter). A shard gives each of its indexes its own phase (shard/open_shard.cpp), so the dense
  /// indexes of a store do not all retrain with the same write: each samples its rows and starts
  /// new lists in fresh memory then, and together they held the writes back 0.5 s at 320,000
  /// memories (docs/BENCHMARKS.md, "Retrainings spread"). Values outside [0, 1] are clamped.
  double ivf_retrain_phase = 0;
  /// A quantised dense search (int8 or binary) re-scores exactly the best k * oversample
  /// candidates by code up to depth k = rescore_depth, and rescore_depth * oversample +
  /// (k - rescore_depth) above it (120 instead of 300 at a fused search's depth of 100): a fused
  /// search fuses by rank, and each re-scored candidate is a read of its original
  /// (docs/ENGINE.md, "Searches"). 0 = k * oversample at every depth. MaxSim follows the same
  /// rule with maxsim_oversample.
  size_t rescore_depth = default_rescore_depth;
  /// A dense ivf index loading a snapshot maps its lists' rows (a private mapping of the file,
  /// used where the page cache holds it: no copy, no fresh memory) when they take at least this
  /// many bytes and the file is of version 2; below it, or with SIZE_MAX, it reads them into
  /// memory of its own (docs/ENGINE.md, "Recovery").
  size_t snapshot_map_bytes = size_t{1} << 20;
  /// Where a quantised (or MaxSim) index reads the originals it re-scores (the shard reads its
  /// vector keyspace). An embedder's index_policy overrides hnsw_m and hnsw_ef_construction.
  originals_reader originals;
  /// The same originals without a copy each: when set, a search's re-scoring of its candidates
  /// uses it instead of `originals` (which single reads, such as score(), keep using). Every shard
  /// sets both; the scores are the same bits either way.
  originals_visitor visit_originals;
  /// When set, a dense search without a filter whose scan of codes (the fresh rows and an ivf
  /// index's probed lists) covers at least split_rows rows scans them in split_parts parts at once,
  /// the searching thread taking one and the read pool's threads the others, and a MaxSim search
  /// ranks its candidates by int8 MaxSim so when it has maxsim_split_candidates (256) per part. A
  /// scan streams its codes from memory at about one core's memory bandwidth, so an idle core
  /// shortens it (1.45 x for an ivf search at 1M); a busy pool costs nothing, as the searching
  /// thread runs every part no pool thread has started (docs/ENGINE.md, "Searches"). Filtered
  /// searches scan on their own thread: a filter need not be thread-safe.
  parts_runner run_parts;
  /// See run_parts; 0 = never split.
  size_t split_rows = 4096;
  /// The parts a split search runs in; 0 = one per core (at most 8).
  size_t split_parts = 0;
};

/// The search ef of an HNSW graph of `live` vectors when index_options::hnsw_ef_search is 0:
/// recall@10 at a fixed ef falls as a graph grows (docs/ENGINE.md, "Search ef"), so ef rises with
/// (size / search_ef_from)^0.75 above search_ef_from vectors, from search_ef_base to search_ef_max:
/// 64 up to 50,000, 108 at 100,000, 182 at 200,000, 512 from about 800,000 (measured at 768 dims,
/// M 16, efConstruction 100, int8: recall@10 0.975 at 50,000 and ef 64; at 200,000 0.850 at ef 64,
/// 0.949 at 128, 0.986 at 256).
inline constexpr size_t search_ef_base = 64;
inline constexpr size_t search_ef_from = 50000;
inline constexpr size_t search_ef_max = 512;
size_t default_search_ef(size_t live);

/// Lists an ivf index trains by default per square root of its vector count at training time.
inline constexpr double ivf_lists_per_sqrt = 1.0;
/// The lists an ivf search of an index with `lists` lists scans when index_options::ivf_nprobe is
/// 0: max(8, lists / 64), 8 up to 512 lists (about 260,000 vectors), 16 at 1,000 (1M vectors);
/// measured recall@10 at nprobe 8: 0.9997 at 200,000 and 0.991 at 1M clustered 768-d int8
/// vectors, 0.990 on Fashion-MNIST (docs/ENGINE.md, "Inverted-file index").
size_t default_ivf_nprobe(size_t lists);

/// Counters a caller can report.
struct index_stats {
  size_t vectors = 0;
  /// Vectors searchable exactly but not yet in the ANN graph (0 for exact structures and for a
  /// dense index below hnsw_threshold).
  size_t fresh = 0;
  /// Estimated heap bytes: vectors, id maps, postings, and the HNSW graph (hnswlib's per-element
  /// block times its capacity, upper-layer link lists, locks, label map).
  size_t memory_bytes = 0;
  /// "flat", "hnsw", "ivf" (lists of codes under k-means centroids), "sparse", "maxsim" (exact
  /// scan), "maxsim-centroids" (candidates from token centroids, re-scored exactly).
  /// approximate_structure() says which ones are approximate.
  std::string structure;
  /// Centroids a trained multi-vector index files its memories under (0 for other structures).
  size_t centroids = 0;
  /// Bytes of the index still used where a snapshot file is mapped (a dense ivf index's list
  /// rows right after a load, until maintain() has copied them: index_options::snapshot_map_bytes).
  size_t mapped_bytes = 0;
  /// Why the last maintain() stopped early (hnswlib failed, e.g. out of memory); empty when it
  /// did not. The vectors it could not move stay searchable exactly.
  std::string last_error;
};

/// True for the structures whose searches may miss a true top-k hit ("hnsw", "ivf",
/// "maxsim-centroids"); the others answer exactly what a brute-force scan answers.
inline bool approximate_structure(const std::string& structure) {
  return structure == "hnsw" || structure == "ivf" || structure == "maxsim-centroids";
}

class vector_index {
public:
  virtual ~vector_index() = default;

  virtual const embedder& spec() const = 0;

  /// Adds the embedding of `id`, replacing any previous one. The embedding was validated
  /// against spec() (telos::validate); a dense vector of the wrong size is cut or zero-padded
  /// rather than read out of bounds. Searchable as soon as this returns.
  virtual void upsert(const uuid& id, const embedding& e) = 0;
  /// Removes `id`; returns whether it was there. A removed id never shows up in results again.
  virtual bool remove(const uuid& id) = 0;
  virtual bool contains(const uuid& id) const = 0;

  /// Top-k by the embedder's metric, sorted by telos::better, only ids `allow` accepts (when
  /// given). Exact unless the index uses HNSW or MaxSim centroids (approximate_structure), whose
  /// recall depends on index_options; a filtered approximate search over-fetches and falls back
  /// to an exact scan when few ids pass. A sparse index
  /// returns only vectors sharing at least one term with the query. A query of the wrong shape
  /// (dense: size != dim; multi: not whole tokens) finds nothing.
  virtual std::vector<hit> search(const embedding& query, size_t k,
                                  const id_predicate* allow = nullptr) const = 0;
  /// Exact score of a stored id against the query, or nullopt when absent.
  virtual std::optional<float> score(const embedding& query, const uuid& id) const = 0;

  /// Moves up to `budget` fresh vectors into the ANN graph (or re-inserts live vectors into a
  /// replacement graph once more than 30% of the current one is deleted); returns how many
  /// vectors it inserted, 0 when nothing is left to do. A MaxSim index instead trains its token
  /// centroids in steps of bounded work (each counts 1) and files up to `budget` fresh memories
  /// under them; grown index_options::maxsim_retrain_growth-fold since (when set), it retrains
  /// them the same way and moves its memories to the new ones (each counts 1). Also reclaims the
  /// space of removed vectors where that is due. Called off the acknowledgement path, when the
  /// owner is idle.
  virtual size_t maintain(size_t budget) = 0;

  /// Training off the owner's thread: when the next work maintain() would do is a k-means
  /// training (a dense ivf index at its threshold or due for retraining, a MaxSim index's token
  /// centroids), samples its rows and hands the training out, for the owner to run to its end
  /// elsewhere (kmeans_training::run, holding no lock of the index) and give back with
  /// end_training(); nullptr when none is due. Until it comes back, maintain() does everything
  /// else (files fresh vectors under the centroids in force, moves rows to retrained ones) and
  /// trains nothing. The centroids are those maintain()'s own steps would have trained.
  virtual std::unique_ptr<kmeans_training> begin_training() { return nullptr; }
  /// Installs the centroids of a training that begin_training() handed out and that ran to its
  /// end. A null or unfinished one is dropped: a later begin_training() (or maintain()) samples
  /// anew.
  virtual void end_training(std::unique_ptr<kmeans_training>) {}

  /// Sets the query-time breadth of HNSW search (index_options::hnsw_ef_search; 0: grows with
  /// the graph); exact structures ignore it.
  virtual void set_ef_search(size_t ef) = 0;
  /// Sets the lists an ivf search scans (index_options::ivf_nprobe; 0: the default for the
  /// index's list count); other structures ignore it.
  virtual void set_nprobe(size_t) {}

  virtual index_stats stats() const = 0;
  size_t size() const { return stats().vectors; }
  /// stats().fresh without the rest (which may walk the whole index): the write path's
  /// backpressure asks it after every update.
  virtual size_t fresh_count() const { return stats().fresh; }

  /// Writes the whole index state to `path` (a file; the index may add sibling files with
  /// `path` as prefix). Atomic: a crash leaves the previous snapshot or the new one.
  virtual expected<void> save(const std::string& path) const = 0;
  /// Replaces the state with a snapshot written by save(); a missing (ec::not_found), truncated
  /// or corrupt (ec::corrupt_value), or foreign (ec::format_mismatch: another embedder or
  /// structure) snapshot is an error and leaves the index empty.
  virtual expected<void> load(const std::string& path) = 0;

  // -- deltas: a checkpoint of what was added since the snapshot in force -------------------------
  // A snapshot rewrites the whole index, so checkpoints taken as an index grows write it again and
  // again (docs/ENGINE.md, "Checkpoints that write only what changed"). An index that can says
  // so: save_delta() then writes only what it gained since its base, the last snapshot save()
  // wrote that the owner kept (base_kept()) or the one load() read, and load(base, delta) reads
  // both back. Appends, removals and replacements since the base can be a delta; a retraining
  // (or a delta that would outgrow its base) makes the next checkpoint a whole snapshot again.

  /// Whether save_delta() can write a delta now (false for index kinds without deltas).
  virtual bool can_save_delta() const { return false; }
  /// Writes the delta (a new file at `path`, atomic as save()); ec::invalid_argument when
  /// can_save_delta() is false. The index must not change meanwhile, as for save().
  virtual expected<void> save_delta(const std::string& path) const {
    return make_error(ec::invalid_argument,
                      "index of " + spec().name + " writes no deltas (" + path + ")");
  }
  /// The snapshot the last save() wrote is in force now (its marker was written): later deltas
  /// are relative to it. Without this call they stay relative to the previous base, whose file the
  /// owner keeps while its marker names it.
  virtual void base_kept() {}
  /// Replaces the state with a snapshot and the delta written relative to it (`delta` empty: as
  /// load(base)). A delta of another base is ec::format_mismatch; errors leave the index empty.
  virtual expected<void> load(const std::string& base, const std::string& delta) {
    if (!delta.empty())
      return make_error(ec::format_mismatch,
                        "index of " + spec().name + " reads no deltas ('" + delta + "')");
    return load(base);
  }
};

/// The index for one embedder.
std::unique_ptr<vector_index> make_vector_index(const embedder& spec, const index_options& opts);

/// The exact score of `query` against `stored` under `spec`'s metric (higher is better): cosine
/// similarity, dot product, negative L2 distance, sparse dot product, or MaxSim (mean over query
/// tokens of the best cosine similarity to any stored token). The reference every index agrees
/// with.
float exact_score(const embedder& spec, const embedding& query, const embedding& stored);
/// exact_score of a dense embedder on `n` floats of each side (the same bits).
float exact_dense_score(const embedder& spec, const float* query, const float* stored, size_t n);

} // namespace telos::storage
