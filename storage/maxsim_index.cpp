// Multi-vector (late interaction) embeddings, scored by MaxSim. Every token row is normalised at
// insert and kept as an int8 code with its own scale (vector_kernels.hpp) in one contiguous array.
// Below index_options::maxsim_threshold memories a search scores every memory exactly, over the
// f32 rows the index holds until then. From the threshold on, maintain() trains token centroids
// (spherical k-means on a sample of the rows, in steps of bounded work) and then files every
// memory under the centroids nearest to its tokens (PLAID-style lists). A search then probes, for
// each query token, its maxsim_nprobe nearest centroids, ranks the memories filed there by their
// int8 MaxSim, re-scores the best k * maxsim_oversample exactly (one more per rank above
// rescore_depth), and scores the memories not filed yet (fresh) exactly. Where the exact scores
// come from: with index_options::originals (every shard sets it) a filed memory's f32 rows are not
// held: the candidates' token matrices are read from the vector keyspace in one batch
// (docs/ENGINE.md, "Multi-vector index"); the index holds f32 rows only while it is exact (below
// the threshold, and while the first centroids train) and for fresh memories, until maintain()
// files them. Without a reader every f32 row is held, as the only source of exact scores. When the
// reader fails, the int8 estimates stand (as in a quantised dense index). Memories added later are
// filed under the newest centroids. When index_options::maxsim_retrain_growth is set (not by
// default) and the index has grown that many times since training, maintain() trains new centroids
// while the old ones serve and then moves the memories to them step by step, a search probing both
// generations meanwhile. Removal leaves the rows of the removed memory behind until a compaction
// copies the live ones together. The per-token arrays (codes, int8 rows and scales, held f32 rows)
// and the documents are mapped_arrays: at a million memories they are GBs, and growing one moves
// its mapping rather than copying it under the index's lock. A load of a large snapshot
// (index_options::snapshot_map_bytes) maps its int8 rows where the file lies instead of reading
// them into fresh memory, and maintain() copies them into the index's own array a step at a time
// after the open, as a dense ivf index does with its lists' rows.
#include "telos/storage/id_map.hpp"
#include "telos/storage/index_kinds.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/kmeans.hpp"
#include "telos/storage/mapped_array.hpp"
#include "telos/storage/vector_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

namespace telos::storage {

namespace {

/// maintain() compacts once more than this share of token rows (int8 or held f32) is dead.
constexpr size_t maxsim_compact_dead_percent = 30;
/// Writes compact without waiting for maintain() once dead rows outnumber live ones (and are this
/// many), so an owner that never calls maintain() still wastes at most half.
constexpr size_t write_path_compact_minimum_rows = 4096;
/// Centroids trained by default: this many times the square root of the token count (1x left
/// candidates ranked by centroid MaxSim too coarse: recall@10 0.49 against 0.94 at 4x with
/// oversample 8, telos-bench maxsim, docs/BENCHMARKS.md).
constexpr double centroids_per_sqrt_token = 4;
/// k-means trains on at most this many sampled token rows per centroid...
constexpr size_t training_rows_per_centroid = 32;
/// ...for this many Lloyd iterations.
constexpr size_t training_iterations = 8;
/// Multiply-adds one maintain() step may spend (kmeans.hpp).
constexpr size_t step_work = kmeans_step_work;
/// Bytes of mapped int8 rows one unit of maintain()'s budget copies into the index's own array.
constexpr size_t maxsim_rehome_step_bytes = size_t{256} << 10;
/// Code of a row that is not filed under a centroid (its memory is fresh).
constexpr uint32_t no_code = std::numeric_limits<uint32_t>::max();
/// Position in fresh_ of a memory that is not fresh.
constexpr uint32_t not_fresh = std::numeric_limits<uint32_t>::max();
/// First held row of a memory whose f32 rows the index does not hold.
constexpr uint32_t not_held = std::numeric_limits<uint32_t>::max();

/// Per-document flags of a maxsim_codes snapshot.
constexpr uint8_t flag_filed = 1;
constexpr uint8_t flag_held = 2;
/// Filed under the retrained centroids (next_centroids) rather than the serving ones.
constexpr uint8_t flag_next = 4;

/// The exact index's snapshot meta (structure maxsim, read only).
struct maxsim_snapshot_meta {
  embedder spec;
  uint64_t documents = 0;
  /// Sum of the documents' token counts.
  uint64_t tokens = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, tokens);
  }
};

/// Snapshot meta of structure maxsim_centroids (read only). Sections: ids, token counts, token
/// rows (as in structure maxsim); with centroids > 0 also the centroid rows, one filed flag (u8)
/// per document and one code (u32 centroid, no_code when not filed) per token row.
struct maxsim_centroids_snapshot_meta {
  embedder spec;
  uint64_t documents = 0;
  uint64_t tokens = 0;
  /// 0 while untrained.
  uint64_t centroids = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, tokens, centroids);
  }
};

/// Snapshot meta of structure maxsim_codes, what the index writes. Sections: ids, token counts,
/// flags (u8 per document: flag_filed, flag_held, flag_next), int8 codes (dim bytes per token
/// row), their scales (f32 per token row), the held f32 rows (of the documents flagged held, in
/// document order); with centroids > 0 also the centroid rows, then the next_centroids rows of a
/// retraining under way, and one centroid (u32 of the generation the document is filed in,
/// no_code when not filed) per token row.
struct maxsim_codes_snapshot_meta {
  embedder spec;
  uint64_t documents = 0;
  uint64_t tokens = 0;
  /// Token rows of the documents flagged held.
  uint64_t held_tokens = 0;
  uint64_t centroids = 0;
  /// Retrained centroids memories are moving to (0: none).
  uint64_t next_centroids = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, tokens, held_tokens, centroids, next_centroids);
  }
};

class maxsim_index final : public vector_index {
public:
  maxsim_index(const embedder& spec, const index_options& opts)
      : spec_(spec), dim_(spec.dim), opts_(opts) {}

  const embedder& spec() const override { return spec_; }

  void upsert(const uuid& id, const embedding& e) override {
    // Whole tokens only (validation guarantees the size is a multiple of dim). A new memory is
    // held (exact, or fresh) until maintain() files it.
    size_t tokens = dim_ == 0 ? 0 : e.values.size() / dim_;
    // Room first: when the system has no memory for the token rows, std::bad_alloc leaves the
    // index as it was.
    make_room(tokens);
    grow_id_map_ahead(slot_of_, id_map_share_);
    auto it = slot_of_.find(id);
    if (it != slot_of_.end()) {
      drop(it->second);
      slot_of_.erase(it);
    }
    document doc{
        id,        rows(), static_cast<uint32_t>(held_rows()), static_cast<uint32_t>(tokens),
        not_fresh, 0};
    held_.append(e.values.data(), tokens * dim_);
    for (size_t t = 0; t < tokens; ++t)
      kernels::normalize(held_.data() + (doc.held + t) * dim_, dim_);
    codes_.resize(doc.first + tokens, no_code);
    int8_rows_.resize(codes_.size() * dim_);
    int8_scales_.resize(codes_.size());
    for (size_t t = 0; t < tokens; ++t)
      int8_scales_[doc.first + t] = kernels::quantize_int8(
          held_row(doc.held + t), dim_, int8_rows_.data() + (doc.first + t) * dim_);
    auto slot = static_cast<uint32_t>(documents_.size());
    slot_of_[id] = slot;
    documents_.push_back(doc);
    if (trained()) make_fresh(slot);
    compact_on_write();
  }

  bool remove(const uuid& id) override {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) return false;
    drop(it->second);
    slot_of_.erase(it);
    compact_on_write();
    return true;
  }

  bool contains(const uuid& id) const override { return slot_of_.count(id) != 0; }

  std::vector<hit> search(const embedding& query, size_t k,
                          const id_predicate* allow) const override {
    std::vector<float> q;
    if (k == 0 || documents_.empty() || !prepare(query, q)) return {};
    if (trained()) {
      auto hits = search_candidates(q, k, allow);
      // Fewer than k hits while more memories exist: the probed lists were too short (or the
      // filter passed few of them); the exact scan answers instead.
      if (hits.size() >= k || hits.size() >= documents_.size()) return hits;
    }
    return search_exact(q, k, allow);
  }

  std::optional<float> score(const embedding& query, const uuid& id) const override {
    auto it = slot_of_.find(id);
    std::vector<float> q;
    if (it == slot_of_.end() || !prepare(query, q)) return std::nullopt;
    const auto& doc = documents_[it->second];
    if (doc.held != not_held) return exact_held(q, doc);
    if (opts_.originals) {
      auto original = opts_.originals(spec_, {id});
      if (original && original->size() == 1 && (*original)[0])
        return exact_original(q, *(*original)[0]);
      if (original) return std::nullopt;
    }
    query_codes qc{q, dim_};
    return estimate(qc, doc);
  }

  size_t maintain(size_t budget) override {
    size_t done = 0;
    while (done < budget) {
      if (!trained()) {
        // A training handed out (begin_training) is not started again nor stepped here.
        if (training_out_ || (!training_ && !start_training())) break;
        if (training_->step()) finish_training();
        ++done;
        continue;
      }
      if (!fresh_.empty()) {
        // File fresh memories until a step's work is spent.
        size_t work = 0;
        while (!fresh_.empty() && work < step_work && done < budget) {
          work += file(fresh_.back());
          ++done;
        }
        continue;
      }
      // Nothing fresh: retrain when due (each k-means step counts 1), then move the memories to
      // the retrained centroids a step's work at a time (each memory counts 1).
      if (!training_ && !moving_ && !(retrain_due() && start_training())) break;
      if (training_) {
        if (training_->step()) finish_training();
        ++done;
        continue;
      }
      size_t work = 0;
      while (moving_ && work < step_work && done < budget) {
        work += move_one();
        ++done;
      }
    }
    if (done < budget) done += rehome_rows(budget - done);
    if (dead_rows_ > 0 && dead_rows_ * 100 > rows() * maxsim_compact_dead_percent) compact_codes();
    if (dead_held_ > 0 && dead_held_ * 100 > held_rows() * maxsim_compact_dead_percent)
      compact_held();
    return done;
  }

  std::unique_ptr<kmeans_training> begin_training() override {
    if (training_out_) return nullptr;
    // A training maintain() already started goes out as it is: its steps so far count. A
    // retraining starts, as in maintain(), once nothing is fresh.
    if (!training_) {
      const bool due = trained() ? fresh_.empty() && !moving_ && retrain_due() : true;
      if (!due || !start_training()) return nullptr;
    }
    training_out_ = true;
    return std::move(training_);
  }

  void end_training(std::unique_ptr<kmeans_training> training) override {
    if (!training_out_) return;
    training_out_ = false;
    if (!training || !training->done()) return;
    training_ = std::move(training);
    finish_training();
  }

  void set_ef_search(size_t) override {}

  size_t fresh_count() const override {
    return trained() ? fresh_.size() : (training_ || training_out_ ? documents_.size() : 0);
  }

  index_stats stats() const override {
    index_stats s;
    s.vectors = documents_.size();
    // Above the threshold, the memories not filed under centroids yet (all of them while the
    // centroids train); they are scored exactly by every search.
    s.fresh = fresh_count();
    // The pages of int8_rows_ for rows still mapped are not touched yet.
    s.memory_bytes =
        held_.capacity() * sizeof(float) + codes_.capacity() * sizeof(uint32_t) +
        int8_rows_.capacity() - mapped_bytes() + int8_scales_.capacity() * sizeof(float) +
        documents_.capacity() * sizeof(document) + hash_map_bytes(slot_of_) +
        gen_[0].memory_bytes() + gen_[1].memory_bytes() + fresh_.capacity() * sizeof(uint32_t);
    if (training_) s.memory_bytes += training_->memory_bytes();
    s.structure = trained() ? "maxsim-centroids" : "maxsim";
    s.centroids = centroid_count();
    s.mapped_bytes = mapped_bytes();
    if (mapped_rows_failed()) s.last_error = unreadable_rows;
    return s;
  }

  expected<void> save(const std::string& path) const override {
    if (mapped_rows_failed()) return make_error(ec::io_error, unreadable_rows);
    maxsim_codes_snapshot_meta meta;
    meta.spec = spec_;
    meta.documents = documents_.size();
    meta.centroids = centroid_count();
    meta.next_centroids = moving_ ? gen_[current_ ^ 1].count() : 0;
    std::vector<uuid> ids;
    std::vector<uint32_t> counts;
    std::vector<uint8_t> flags;
    ids.reserve(documents_.size());
    counts.reserve(documents_.size());
    flags.reserve(documents_.size());
    for (const auto& doc : documents_) {
      ids.push_back(doc.id);
      counts.push_back(doc.tokens);
      uint8_t f = 0;
      if (trained() && doc.fresh_pos == not_fresh) f |= flag_filed;
      if (trained() && doc.fresh_pos == not_fresh && doc.gen != current_) f |= flag_next;
      if (doc.held != not_held) {
        f |= flag_held;
        meta.held_tokens += doc.tokens;
      }
      flags.push_back(f);
      meta.tokens += doc.tokens;
    }
    snapshot_writer out{path, snapshot_structure::maxsim_codes, encode_value(meta)};
    out.write_array(ids.data(), ids.size());
    out.write_array(counts.data(), counts.size());
    out.write_array(flags.data(), flags.size());
    for (const auto& doc : documents_)
      for_int8_pieces(doc.first, doc.tokens,
                      [&](const int8_t* piece, size_t bytes) { out.write_array(piece, bytes); });
    for (const auto& doc : documents_)
      out.write_array(int8_scales_.data() + doc.first, doc.tokens);
    for (const auto& doc : documents_)
      if (doc.held != not_held) out.write_array(held_row(doc.held), size_t{doc.tokens} * dim_);
    if (trained()) {
      out.write_array(gen_[current_].centroids.data(), gen_[current_].centroids.size());
      if (moving_)
        out.write_array(gen_[current_ ^ 1].centroids.data(), gen_[current_ ^ 1].centroids.size());
      for (const auto& doc : documents_)
        out.write_array(codes_.data() + doc.first, doc.tokens);
    }
    return out.commit();
  }

  expected<void> load(const std::string& path) override {
    reset();
    auto loaded = read_snapshot(path);
    if (!loaded) reset();
    return loaded;
  }

private:
  struct document {
    uuid id;
    /// First token row in codes_, int8_rows_ and int8_scales_.
    size_t first;
    /// First row in held_, or not_held.
    uint32_t held;
    uint32_t tokens;
    /// Index in fresh_, or not_fresh (filed under centroids, or no centroids yet).
    uint32_t fresh_pos;
    /// Once filed: the generation (gen_) whose lists it is in.
    uint8_t gen;
  };

  /// Token centroids and the memories filed under them.
  struct generation {
    /// Centroid rows of dim floats (unit length).
    std::vector<float> centroids;
    /// Per centroid, the slots of the memories filed here with a token there (each once), plus a
    /// last list of those without tokens. Empty while untrained.
    std::vector<std::vector<uint32_t>> lists;

    size_t count() const { return lists.empty() ? 0 : lists.size() - 1; }
    size_t memory_bytes() const {
      size_t bytes =
          centroids.capacity() * sizeof(float) + lists.capacity() * sizeof(std::vector<uint32_t>);
      for (const auto& list : lists)
        bytes += list.capacity() * sizeof(uint32_t);
      return bytes;
    }
    void clear() {
      centroids.clear();
      centroids.shrink_to_fit();
      lists.clear();
      lists.shrink_to_fit();
    }
  };

  /// A query's int8 codes, for the int8 MaxSim of candidates.
  struct query_codes {
    query_codes(const std::vector<float>& q, size_t dim)
        : wide(q.size()), scales(dim == 0 ? 0 : q.size() / dim), best(scales.size()),
          dots(scales.size()) {
      std::vector<int8_t> codes(q.size());
      for (size_t i = 0; i < scales.size(); ++i)
        scales[i] = kernels::quantize_int8(q.data() + i * dim, dim, codes.data() + i * dim);
      kernels::widen_int8(codes.data(), codes.size(), wide.data());
    }
    /// The tokens' int8 codes, widened to int16: the form kernels::dot_int8_rows takes them in.
    std::vector<int16_t> wide;
    std::vector<float> scales;
    /// Scratch: one entry per query token.
    std::vector<float> best;
    std::vector<int32_t> dots;
  };

  /// Grows every array a memory of `tokens` token rows is appended to (as their appends would),
  /// so the appends that follow cannot fail.
  void make_room(size_t tokens) {
    held_.make_room(held_.size() + tokens * dim_);
    codes_.make_room(rows() + tokens);
    int8_rows_.make_room((rows() + tokens) * dim_);
    int8_scales_.make_room(rows() + tokens);
    documents_.make_room(documents_.size() + 1);
    if (trained() && fresh_.size() == fresh_.capacity())
      fresh_.reserve(std::max<size_t>(16, 2 * fresh_.capacity()));
  }

  size_t rows() const { return codes_.size(); }
  size_t held_rows() const { return dim_ == 0 ? 0 : held_.size() / dim_; }
  const float* held_row(size_t r) const { return held_.data() + r * dim_; }
  bool trained() const { return !gen_[current_].lists.empty(); }
  /// The serving centroids.
  size_t centroid_count() const { return gen_[current_].count(); }
  /// The generation memories are filed in: the retrained one while memories move to it.
  uint8_t newest() const { return moving_ ? current_ ^ 1 : current_; }

  /// With the default centroid count, once the live token rows reached
  /// index_options::maxsim_retrain_growth x those at training (known from the count: 4 x the
  /// square root of the tokens then), so lists stay about as long as at the first training.
  bool retrain_due() const {
    if (opts_.maxsim_centroids != 0 || opts_.maxsim_retrain_growth == 0 || !trained() || moving_ ||
        training_ || training_out_)
      return false;
    const double at_training =
        std::pow(static_cast<double>(centroid_count()) / centroids_per_sqrt_token, 2.0);
    // At least 2 (index_options::maxsim_retrain_growth 1 counts as 2): at 1 every retraining
    // would be due again at once.
    const auto growth = static_cast<double>(std::max<size_t>(opts_.maxsim_retrain_growth, 2));
    return static_cast<double>(rows() - dead_rows_) >= growth * at_training;
  }
  /// Whether a memory's f32 rows stay in RAM: always without a reader; with one while the index
  /// is exact (untrained) and while the memory is fresh.
  bool holds(const document& doc) const {
    return !opts_.originals || !trained() || doc.fresh_pos != not_fresh;
  }

  /// Exact MaxSim against the held rows of `doc`.
  float exact_held(const std::vector<float>& q, const document& doc) const {
    return kernels::maxsim(q.data(), q.size() / dim_, held_row(doc.held), doc.tokens, dim_);
  }

  /// Exact MaxSim against an original read from the vector keyspace (normalised here as upsert
  /// normalises, so the score equals the held rows' bit for bit).
  float exact_original(const std::vector<float>& q, const embedding& original) const {
    std::vector<float> rows = original.values;
    const size_t tokens = rows.size() / dim_;
    for (size_t t = 0; t < tokens; ++t)
      kernels::normalize(rows.data() + t * dim_, dim_);
    return kernels::maxsim(q.data(), q.size() / dim_, rows.data(), tokens, dim_);
  }

  /// The int8 MaxSim of `doc` as an estimate of its exact score (the mean over query tokens).
  float estimate(query_codes& qc, const document& doc) const {
    return int8_maxsim(qc, doc) / static_cast<float>(qc.scales.size());
  }

  /// The query's tokens, each normalised; false when it is not a whole number of tokens.
  bool prepare(const embedding& query, std::vector<float>& out) const {
    if (dim_ == 0 || query.values.empty() || query.values.size() % dim_ != 0) return false;
    out = query.values;
    for (size_t t = 0; t < out.size() / dim_; ++t)
      kernels::normalize(out.data() + t * dim_, dim_);
    return true;
  }

  /// Every memory: the held ones scored exactly, the others (filed, with a reader) ranked by int8
  /// MaxSim and the best re-scored exactly.
  std::vector<hit> search_exact(const std::vector<float>& q, size_t k,
                                const id_predicate* allow) const {
    kernels::top_k best{k};
    std::vector<uint32_t> others;
    for (uint32_t slot = 0; slot < documents_.size(); ++slot) {
      const auto& doc = documents_[slot];
      if (doc.held == not_held) {
        if (allow == nullptr || (*allow)(doc.id)) others.push_back(slot);
        continue;
      }
      float s = exact_held(q, doc);
      if (!best.admits(s) || (allow != nullptr && !(*allow)(doc.id))) continue;
      best.push(doc.id, s);
    }
    if (!others.empty()) {
      std::optional<query_codes> qc;
      keep_best_by_codes(q, k, others, qc);
      rescore(q, others, qc, best);
    }
    return best.take();
  }

  /// Keeps the best of `slots` by int8 MaxSim that a search of depth k re-scores (all when there
  /// are fewer): k * maxsim_oversample up to index_options::rescore_depth, one more per rank
  /// beyond it (rescored_candidates), as a quantised dense index does. With a reader each is a
  /// read of a token matrix, so a fused search's depth of 100 reads 130, not 400.
  void keep_best_by_codes(const std::vector<float>& q, size_t k, std::vector<uint32_t>& slots,
                          std::optional<query_codes>& qc) const {
    const size_t budget =
        rescored_candidates(k, opts_.rescore_depth, std::max<size_t>(opts_.maxsim_oversample, 1));
    if (slots.size() <= budget) return;
    if (!qc) qc.emplace(q, dim_);
    std::vector<std::pair<float, uint32_t>> ranked(slots.size());
    // The candidates are a few in every hundred memories, so each one's slot and codes are
    // misses in every cache: the slot is fetched two candidates' distances ahead and the codes one
    // ahead (they need the slot), so the waits overlap.
    constexpr size_t ahead = 4;
    auto rank = [&](query_codes& codes, size_t from, size_t to) {
      for (size_t i = from; i < to; ++i) {
        if (i + 2 * ahead < to) __builtin_prefetch(&documents_[slots[i + 2 * ahead]]);
        if (i + ahead < to) prefetch_codes(documents_[slots[i + ahead]]);
        ranked[i] = {int8_maxsim(codes, documents_[slots[i]]), slots[i]};
      }
    };
    const size_t parts = std::min(search_parts(opts_), slots.size() / maxsim_split_candidates);
    if (opts_.run_parts && parts > 1) {
      // In parts on other threads too, each with scratch of its own: the codes are read from
      // memory, and an idle second core made E12 searches at 1M 1.35-1.87 x faster
      // (docs/ENGINE.md, "Searches").
      std::vector<query_codes> codes(parts, *qc);
      opts_.run_parts(parts, [&](size_t i) {
        rank(codes[i], slots.size() * i / parts, slots.size() * (i + 1) / parts);
      });
    } else {
      rank(*qc, 0, slots.size());
    }
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(budget), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    slots.resize(budget);
    for (size_t i = 0; i < budget; ++i)
      slots[i] = ranked[i].second;
  }

  /// Exact scores of `slots` into `best`: from the held rows, or from the originals the reader
  /// returns in one batch. A memory the reader no longer finds (removed after this search read the
  /// index) is dropped; when the reader fails (or there is none) the int8 estimates stand.
  void rescore(const std::vector<float>& q, const std::vector<uint32_t>& slots,
               std::optional<query_codes>& qc, kernels::top_k& best) const {
    std::vector<uint32_t> read;
    for (auto slot : slots) {
      const auto& doc = documents_[slot];
      if (doc.held == not_held) {
        read.push_back(slot);
        continue;
      }
      float s = exact_held(q, doc);
      if (best.admits(s)) best.push(doc.id, s);
    }
    if (read.empty()) return;
    if (opts_.visit_originals) {
      std::vector<uuid> ids;
      ids.reserve(read.size());
      for (auto slot : read)
        ids.push_back(documents_[slot].id);
      // Scored where the reader decoded each original, its rows normalised in the reader's
      // scratch as exact_original normalises its copy: the same bits.
      auto scores = visited_scores(
          opts_, spec_, ids, [&](float* values, size_t count) -> std::optional<float> {
            if (count == 0 || count % dim_ != 0) return std::nullopt;
            const size_t tokens = count / dim_;
            for (size_t t = 0; t < tokens; ++t)
              kernels::normalize(values + t * dim_, dim_);
            return kernels::maxsim(q.data(), q.size() / dim_, values, tokens, dim_);
          });
      if (scores) {
        for (size_t i = 0; i < read.size(); ++i)
          if ((*scores)[i] && best.admits(*(*scores)[i])) best.push(ids[i], *(*scores)[i]);
        return;
      }
    } else if (opts_.originals) {
      std::vector<uuid> ids;
      ids.reserve(read.size());
      for (auto slot : read)
        ids.push_back(documents_[slot].id);
      auto originals = opts_.originals(spec_, ids);
      if (originals && originals->size() == read.size()) {
        for (size_t i = 0; i < read.size(); ++i) {
          const auto& original = (*originals)[i];
          if (!original || original->values.size() % dim_ != 0) continue;
          float s = exact_original(q, *original);
          if (best.admits(s)) best.push(ids[i], s);
        }
        return;
      }
    }
    if (!qc) qc.emplace(q, dim_);
    for (auto slot : read) {
      float s = estimate(*qc, documents_[slot]);
      if (best.admits(s)) best.push(documents_[slot].id, s);
    }
  }

  std::vector<hit> search_candidates(const std::vector<float>& q, size_t k,
                                     const id_predicate* allow) const {
    std::vector<uint32_t> candidates;
    probe(gen_[current_], q, candidates);
    // While memories move to retrained centroids, both generations hold some.
    if (moving_) probe(gen_[current_ ^ 1], q, candidates);
    sort_unique_slots(candidates, documents_.size());
    if (allow != nullptr)
      candidates.erase(
          std::remove_if(candidates.begin(), candidates.end(),
                         [&](uint32_t slot) { return !(*allow)(documents_[slot].id); }),
          candidates.end());
    // More candidates than the re-scoring budget: keep the best by int8 MaxSim.
    std::optional<query_codes> qc;
    keep_best_by_codes(q, k, candidates, qc);
    kernels::top_k best{k};
    rescore(q, candidates, qc, best);
    for (auto slot : fresh_) {
      const auto& doc = documents_[slot];
      if (allow != nullptr && !(*allow)(doc.id)) continue;
      if (doc.held != not_held) {
        float s = exact_held(q, doc);
        if (best.admits(s)) best.push(doc.id, s);
      } else {
        // Fresh without held rows only after loading a snapshot that had none for it.
        if (!qc) qc.emplace(q, dim_);
        float s = estimate(*qc, doc);
        if (best.admits(s)) best.push(doc.id, s);
      }
    }
    return best.take();
  }

  /// Sorts `slots` (each below `universe`) and drops repeats in linear time: marks them in a
  /// bitmap of this thread's (kept between searches, cleared as it is read back) and reads the
  /// marks back in order. A memory is in the list of every distinct centroid of its tokens, so
  /// the probed lists repeat many; at 1M memories sorting them was a sixth of an E12 search.
  static void sort_unique_slots(std::vector<uint32_t>& slots, size_t universe) {
    thread_local std::vector<uint64_t> marks;
    if (slots.empty()) return;
    if (marks.size() < (universe + 63) / 64) marks.resize((universe + 63) / 64);
    size_t low = marks.size(), high = 0;
    for (auto slot : slots) {
      marks[slot >> 6] |= uint64_t{1} << (slot & 63);
      low = std::min<size_t>(low, slot >> 6);
      high = std::max<size_t>(high, slot >> 6);
    }
    slots.clear();
    for (size_t w = low; w <= high; ++w) {
      for (uint64_t m = marks[w]; m != 0; m &= m - 1)
        slots.push_back(static_cast<uint32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(m))));
      marks[w] = 0;
    }
  }

  /// Appends the memories of the lists of `g` that the query probes: each query token's
  /// maxsim_nprobe nearest centroids, and the list of memories without tokens.
  void probe(const generation& g, const std::vector<float>& q,
             std::vector<uint32_t>& candidates) const {
    const size_t query_tokens = q.size() / dim_;
    const size_t centroids = g.count();
    std::vector<float> centroid_score(query_tokens * centroids);
    for (size_t i = 0; i < query_tokens; ++i)
      kernels::dot_rows(q.data() + i * dim_, g.centroids.data(), centroids, dim_, dim_,
                        centroid_score.data() + i * centroids);
    const size_t nprobe = std::clamp<size_t>(opts_.maxsim_nprobe, 1, centroids);
    std::vector<uint32_t> order(centroids);
    std::vector<uint8_t> probed(centroids + 1, 0);
    probed[centroids] = 1;
    for (size_t i = 0; i < query_tokens; ++i) {
      const float* s = centroid_score.data() + i * centroids;
      std::iota(order.begin(), order.end(), 0u);
      std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(nprobe), order.end(),
                        [s](uint32_t a, uint32_t b) { return s[a] > s[b]; });
      for (size_t p = 0; p < nprobe; ++p)
        probed[order[p]] = 1;
    }
    for (size_t c = 0; c <= centroids; ++c)
      if (probed[c] != 0) candidates.insert(candidates.end(), g.lists[c].begin(), g.lists[c].end());
  }

  /// Asks the cache for the int8 codes and scales int8_maxsim reads for `doc`. Always inlined:
  /// GCC 12 (IPA mod-ref) judges a function that only prefetches free of effects and drops calls
  /// of it.
  __attribute__((always_inline)) void prefetch_codes(const document& doc) const {
    if (doc.tokens == 0) return;
    const auto* codes = reinterpret_cast<const char*>(int8_row(doc.first));
    const size_t bytes = doc.tokens * dim_;
    for (size_t b = 0; b < bytes; b += 64)
      __builtin_prefetch(codes + b);
    __builtin_prefetch(codes + bytes - 1); // the last line, when the rows start inside a line
    __builtin_prefetch(&int8_scales_[doc.first]);
  }

  /// MaxSim estimated from the int8 codes of the query's and the memory's tokens (the sum over
  /// query tokens, which ranks as the mean does).
  float int8_maxsim(query_codes& qc, const document& doc) const {
    if (doc.tokens == 0) return 0;
    const size_t query_tokens = qc.scales.size();
    auto& best = qc.best;
    std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
    // Memory tokens outside, query tokens inside (one kernel call for all of them): the query's
    // codes stay in L1.
    auto& dots = qc.dots;
    for (size_t t = 0; t < doc.tokens; ++t) {
      const int8_t* row = int8_row(doc.first + t);
      const float scale = int8_scales_[doc.first + t];
      kernels::dot_int8_rows(qc.wide.data(), query_tokens, row, dim_, dots.data());
      for (size_t i = 0; i < query_tokens; ++i)
        best[i] = std::max(best[i], scale * static_cast<float>(dots[i]));
    }
    float total = 0;
    for (size_t i = 0; i < query_tokens; ++i)
      total += qc.scales[i] * best[i];
    return total;
  }

  /// Token t of `doc` in f32: its held row, or its int8 code decoded into `scratch` (dim floats).
  const float* token_row(const document& doc, size_t t, float* scratch) const {
    if (doc.held != not_held) return held_row(doc.held + t);
    const int8_t* code = int8_row(doc.first + t);
    const float scale = int8_scales_[doc.first + t];
    for (size_t i = 0; i < dim_; ++i)
      scratch[i] = scale * static_cast<float>(code[i]);
    return scratch;
  }

  /// The lists a filed memory is in: the distinct codes of its rows (the last list when it has
  /// no token).
  std::vector<uint32_t> lists_of(const document& doc) const {
    if (doc.tokens == 0) return {static_cast<uint32_t>(gen_[doc.gen].count())};
    std::vector<uint32_t> out(codes_.begin() + static_cast<ptrdiff_t>(doc.first),
                              codes_.begin() + static_cast<ptrdiff_t>(doc.first + doc.tokens));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void make_fresh(uint32_t slot) {
    documents_[slot].fresh_pos = static_cast<uint32_t>(fresh_.size());
    fresh_.push_back(slot);
  }

  /// Takes `slot` out of fresh_.
  void unfresh(uint32_t slot) {
    auto pos = documents_[slot].fresh_pos;
    if (pos + 1 != fresh_.size()) {
      fresh_[pos] = fresh_.back();
      documents_[fresh_[pos]].fresh_pos = pos;
    }
    fresh_.pop_back();
    documents_[slot].fresh_pos = not_fresh;
  }

  /// Stops holding the f32 rows of `slot` (they become dead rows of held_).
  void release(uint32_t slot) {
    auto& doc = documents_[slot];
    if (doc.held == not_held) return;
    dead_held_ += doc.tokens;
    doc.held = not_held;
  }

  /// Files a fresh memory (under the newest centroids); returns the work it took.
  size_t file(uint32_t slot) {
    unfresh(slot);
    size_t work = assign(slot);
    if (!holds(documents_[slot])) release(slot);
    return work;
  }

  /// Files `slot` (in no list) under the nearest of the newest centroids to each of its tokens;
  /// returns the multiply-adds it took (at least one token's worth).
  size_t assign(uint32_t slot) {
    auto& doc = documents_[slot];
    doc.gen = newest();
    auto& g = gen_[doc.gen];
    const size_t centroids = g.count();
    std::vector<float> scores(centroids);
    std::vector<float> scratch(dim_);
    for (size_t t = 0; t < doc.tokens; ++t) {
      kernels::dot_rows(token_row(doc, t, scratch.data()), g.centroids.data(), centroids, dim_,
                        dim_, scores.data());
      codes_[doc.first + t] =
          static_cast<uint32_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
    }
    for (auto c : lists_of(doc))
      g.lists[c].push_back(slot);
    return size_t{std::max<uint32_t>(doc.tokens, 1)} * centroids * dim_;
  }

  /// Moves one memory from the serving centroids' lists to the retrained ones; once none is left
  /// the retrained centroids serve and the old ones are freed. Returns the work it took.
  size_t move_one() {
    auto& old = gen_[current_];
    while (move_list_ < old.lists.size() && old.lists[move_list_].empty())
      ++move_list_;
    if (move_list_ == old.lists.size()) {
      old.clear();
      current_ ^= 1;
      moving_ = false;
      move_list_ = 0;
      return 0;
    }
    const uint32_t slot = old.lists[move_list_].back();
    for (auto c : lists_of(documents_[slot]))
      replace_in_list(old, c, slot, std::nullopt);
    return assign(slot);
  }

  /// Swap-removes the document of `slot` (out of fresh_ or its lists); its rows stay behind as
  /// dead rows.
  void drop(uint32_t slot) {
    const bool filed = trained() && documents_[slot].fresh_pos == not_fresh;
    if (filed)
      for (auto c : lists_of(documents_[slot]))
        replace_in_list(gen_[documents_[slot].gen], c, slot, std::nullopt);
    else if (trained())
      unfresh(slot);
    dead_rows_ += documents_[slot].tokens;
    release(slot);
    auto last = static_cast<uint32_t>(documents_.size() - 1);
    if (slot != last) {
      const auto& moved = documents_[last];
      if (trained() && moved.fresh_pos == not_fresh)
        for (auto c : lists_of(moved))
          replace_in_list(gen_[moved.gen], c, last, slot);
      else if (trained())
        fresh_[moved.fresh_pos] = slot;
      documents_[slot] = moved;
      slot_of_[documents_[slot].id] = slot;
    }
    documents_.pop_back();
  }

  /// Replaces `from` in list `c` of `g` by `to`, or removes it (order within a list does not
  /// matter).
  static void replace_in_list(generation& g, uint32_t c, uint32_t from,
                              std::optional<uint32_t> to) {
    auto& list = g.lists[c];
    auto it = std::find(list.begin(), list.end(), from);
    if (it == list.end()) return;
    if (to) {
      *it = *to;
    } else {
      *it = list.back();
      list.pop_back();
    }
  }

  /// Writes compact without waiting for maintain() once dead rows outnumber live ones.
  void compact_on_write() {
    if (dead_rows_ > rows() - dead_rows_ && dead_rows_ >= write_path_compact_minimum_rows)
      compact_codes();
    if (dead_held_ > held_rows() - dead_held_ && dead_held_ >= write_path_compact_minimum_rows)
      compact_held();
  }

  /// Copies the live token rows' codes together, in document order.
  void compact_codes() {
    const size_t live = rows() - dead_rows_;
    mapped_array<uint32_t> packed_codes;
    mapped_array<int8_t> packed_int8;
    mapped_array<float> packed_scales;
    packed_codes.reserve(live);
    packed_int8.reserve(live * dim_);
    packed_scales.reserve(live);
    for (auto& doc : documents_) {
      size_t first = packed_codes.size();
      packed_codes.append(codes_.data() + doc.first, doc.tokens);
      for_int8_pieces(doc.first, doc.tokens,
                      [&](const int8_t* piece, size_t bytes) { packed_int8.append(piece, bytes); });
      packed_scales.append(int8_scales_.data() + doc.first, doc.tokens);
      doc.first = first;
    }
    codes_.swap(packed_codes);
    int8_rows_.swap(packed_int8);
    int8_scales_.swap(packed_scales);
    dead_rows_ = 0;
    // Every row is the index's own now.
    drop_mapping();
  }

  /// Bytes of int8 rows still read where the snapshot is mapped.
  size_t mapped_bytes() const { return (mapped_rows_ - rehomed_) * dim_; }

  /// Token row r's int8 code: where the snapshot is mapped until maintain() copied it, else in
  /// int8_rows_.
  const int8_t* int8_row(size_t r) const {
    if (r >= rehomed_ && r < mapped_rows_)
      return reinterpret_cast<const int8_t*>(int8_mapped_.data()) + r * dim_;
    return int8_rows_.data() + r * dim_;
  }

  /// Calls f(first code byte, bytes) for each contiguous piece of the int8 codes of rows
  /// [first, first + count): at most three, as the mapped rows lie between own ones.
  template <class F>
  void for_int8_pieces(size_t first, size_t count, F&& f) const {
    const size_t end = first + count;
    for (size_t r = first; r < end;) {
      size_t stop = end;
      if (r < rehomed_)
        stop = std::min(end, rehomed_);
      else if (r < mapped_rows_)
        stop = std::min(end, mapped_rows_);
      f(int8_row(r), (stop - r) * dim_);
      r = stop;
    }
  }

  /// Copies mapped int8 rows into int8_rows_, maxsim_rehome_step_bytes per unit of `budget`, and
  /// unmaps the snapshot once all are copied. The open is done before this starts: searches read
  /// the mapped rows meanwhile. Afterwards the rows lie where a read would have put them (on the
  /// huge pages mapped_array asks for), and the file is neither kept on the disk after a checkpoint
  /// replaced it nor read back after an eviction.
  size_t rehome_rows(size_t budget) {
    if (int8_mapped_.empty() || dim_ == 0) return 0;
    const size_t per_unit = std::max<size_t>(1, maxsim_rehome_step_bytes / dim_);
    const auto* mapped = reinterpret_cast<const int8_t*>(int8_mapped_.data());
    size_t done = 0;
    while (rehomed_ < mapped_rows_ && done < budget) {
      const size_t n = std::min(per_unit, mapped_rows_ - rehomed_);
      std::memcpy(int8_rows_.data() + rehomed_ * dim_, mapped + rehomed_ * dim_, n * dim_);
      rehomed_ += n;
      ++done;
    }
    if (rehomed_ == mapped_rows_) drop_mapping();
    return done;
  }

  /// Unmaps the snapshot's int8 rows (none of which is read there any more).
  void drop_mapping() {
    rows_unreadable_ = rows_unreadable_ || int8_mapped_.failed();
    int8_mapped_ = {};
    mapped_rows_ = 0;
    rehomed_ = 0;
  }

  /// True once a page of mapped int8 rows could not be read back (it reads as zeroes now, and
  /// so does its copy).
  bool mapped_rows_failed() const { return rows_unreadable_ || int8_mapped_.failed(); }

  static constexpr const char* unreadable_rows =
      "a page of int8 token rows mapped from the index snapshot could not be read back (it reads "
      "as zeroes): searches may rank candidates worse, and no snapshot is saved; the next open "
      "rebuilds the index from the vector keyspace if the snapshot stays unreadable";

  /// Copies the held f32 rows together, in document order (frees them when none is held).
  void compact_held() {
    mapped_array<float> packed;
    packed.reserve((held_rows() - dead_held_) * dim_);
    for (auto& doc : documents_) {
      if (doc.held == not_held) continue;
      size_t first = packed.size() / dim_;
      packed.append(held_row(doc.held), size_t{doc.tokens} * dim_);
      doc.held = static_cast<uint32_t>(first);
    }
    held_.swap(packed);
    dead_held_ = 0;
  }

  /// Samples the rows k-means trains on and picks the first centroids among them; false when the
  /// index is below the threshold or holds no token.
  bool start_training() {
    if (documents_.size() < std::max<size_t>(opts_.maxsim_threshold, 1) || dim_ == 0) return false;
    // Token positions in document order: positions[i] is token i of the concatenation; first[d]
    // the position of document d's first token.
    std::vector<uint64_t> first(documents_.size() + 1, 0);
    for (size_t d = 0; d < documents_.size(); ++d)
      first[d + 1] = first[d] + documents_[d].tokens;
    const uint64_t total = first.back();
    if (total == 0 || total > std::numeric_limits<uint32_t>::max()) return false;
    std::vector<uint32_t> live(static_cast<size_t>(total));
    std::iota(live.begin(), live.end(), 0u);
    size_t centroids =
        opts_.maxsim_centroids != 0
            ? opts_.maxsim_centroids
            : static_cast<size_t>(std::lround(centroids_per_sqrt_token *
                                              std::sqrt(static_cast<double>(live.size()))));
    centroids = std::clamp<size_t>(centroids, 1, live.size());
    // A retraining samples with another seed than the first training.
    std::mt19937_64 rng{opts_.seed + centroid_count()};
    size_t points = std::min(live.size(), centroids * training_rows_per_centroid);
    sample_front(live, points, rng);
    std::vector<float> sample(points * dim_);
    std::vector<float> scratch(dim_);
    for (size_t i = 0; i < points; ++i) {
      auto d = static_cast<size_t>(std::upper_bound(first.begin(), first.end(), live[i]) -
                                   first.begin() - 1);
      const float* r = token_row(documents_[d], live[i] - first[d], scratch.data());
      std::copy(r, r + dim_, sample.data() + i * dim_);
    }
    training_ =
        std::make_unique<kmeans_training>(std::move(sample), dim_, centroids, training_iterations,
                                          kmeans_kind::spherical, std::move(rng));
    return true;
  }

  /// After the last iteration: the centroids are final. The first time every memory becomes
  /// fresh, to be filed by later steps; after a retraining the memories move to the new
  /// centroids step by step while the old ones still serve.
  void finish_training() {
    const size_t centroids = training_->centroid_count();
    if (trained()) {
      auto& next = gen_[current_ ^ 1];
      next.centroids = training_->take_centroids();
      next.lists.assign(centroids + 1, {});
      training_.reset();
      moving_ = true;
      move_list_ = 0;
      return;
    }
    gen_[current_].centroids = training_->take_centroids();
    gen_[current_].lists.assign(centroids + 1, {});
    training_.reset();
    fresh_.clear();
    fresh_.reserve(documents_.size());
    for (uint32_t slot = 0; slot < documents_.size(); ++slot)
      make_fresh(slot);
  }

  void reset() {
    held_.clear();
    held_.shrink_to_fit();
    codes_.clear();
    codes_.shrink_to_fit();
    int8_rows_.clear();
    int8_rows_.shrink_to_fit();
    int8_scales_.clear();
    int8_scales_.shrink_to_fit();
    int8_mapped_ = {};
    mapped_rows_ = 0;
    rehomed_ = 0;
    rows_unreadable_ = false;
    documents_.clear();
    documents_.shrink_to_fit();
    slot_of_.clear();
    dead_rows_ = 0;
    dead_held_ = 0;
    gen_[0].clear();
    gen_[1].clear();
    current_ = 0;
    moving_ = false;
    move_list_ = 0;
    fresh_.clear();
    training_.reset();
    training_out_ = false;
  }

  /// Reads (or, at least index_options::snapshot_map_bytes of them, maps) the snapshot's int8
  /// rows of `tokens` token rows; false when the file cannot hold them or cannot be read.
  bool read_int8_rows(snapshot_reader& in, uint64_t tokens) {
    if (tokens > in.remaining() / std::max<size_t>(dim_, 1)) return false;
    const size_t bytes = static_cast<size_t>(tokens) * dim_;
    if (bytes == 0 || bytes < opts_.snapshot_map_bytes || !in.aligned_for(1))
      return in.read_array(int8_rows_, bytes);
    // The own array's pages for these rows stay untouched until maintain() copies the rows.
    int8_rows_.resize(bytes);
    if (!in.map(int8_mapped_, bytes)) return false;
    mapped_rows_ = static_cast<size_t>(tokens);
    rehomed_ = 0;
    return true;
  }

  expected<void> read_snapshot(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes =
        in.open(path, {snapshot_structure::maxsim_codes, snapshot_structure::maxsim_centroids,
                       snapshot_structure::maxsim});
    if (!meta_bytes) return meta_bytes.error();
    maxsim_codes_snapshot_meta meta;
    if (in.structure() == snapshot_structure::maxsim) {
      // Written before centroids existed: the memories only; maintain() trains centroids anew.
      auto old = decode_value<maxsim_snapshot_meta>(*meta_bytes, "meta");
      if (!old) return in.corrupt("has unreadable meta data: " + telos::describe(old.error()));
      meta.spec = old->spec;
      meta.documents = old->documents;
      meta.tokens = old->tokens;
    } else if (in.structure() == snapshot_structure::maxsim_centroids) {
      // Written before the int8 codes were saved: every f32 row, codes derived from them.
      auto old = decode_value<maxsim_centroids_snapshot_meta>(*meta_bytes, "meta");
      if (!old) return in.corrupt("has unreadable meta data: " + telos::describe(old.error()));
      meta.spec = old->spec;
      meta.documents = old->documents;
      meta.tokens = old->tokens;
      meta.centroids = old->centroids;
    } else {
      auto current = decode_value<maxsim_codes_snapshot_meta>(*meta_bytes, "meta");
      if (!current)
        return in.corrupt("has unreadable meta data: " + telos::describe(current.error()));
      meta = *current;
    }
    if (meta.spec != spec_)
      return make_error(ec::format_mismatch, "index snapshot '" + path + "' holds embedder " +
                                                 describe_embedder(meta.spec) + ", this index is " +
                                                 describe_embedder(spec_));
    const bool with_codes = in.structure() == snapshot_structure::maxsim_codes;
    std::vector<uuid> ids;
    std::vector<uint32_t> counts;
    std::vector<uint8_t> flags;
    std::vector<float> rows;
    if (!in.read_array(ids, meta.documents) || !in.read_array(counts, meta.documents))
      return in.corrupt("is truncated in its " + std::to_string(meta.documents) + " documents");
    if (with_codes) {
      if (meta.tokens > in.remaining() / (dim_ + sizeof(float)) || meta.held_tokens > meta.tokens ||
          !in.read_array(flags, meta.documents) || !read_int8_rows(in, meta.tokens) ||
          !in.read_array(int8_scales_, meta.tokens) ||
          meta.held_tokens > in.remaining() / (dim_ * sizeof(float)) ||
          !in.read_array(rows, meta.held_tokens * dim_))
        return in.corrupt("is truncated in its " + std::to_string(meta.documents) +
                          " documents of " + std::to_string(meta.tokens) + " tokens");
    } else {
      if (meta.tokens > in.remaining() / (dim_ * sizeof(float)) ||
          !in.read_array(rows, meta.tokens * dim_))
        return in.corrupt("is truncated in its " + std::to_string(meta.documents) +
                          " documents of " + std::to_string(meta.tokens) + " tokens");
    }
    std::vector<uint8_t> filed;
    if ((meta.centroids == 0 && meta.next_centroids > 0) ||
        (meta.centroids > 0 && (meta.centroids > in.remaining() / (dim_ * sizeof(float)) ||
                                !in.read_array(gen_[0].centroids, meta.centroids * dim_) ||
                                meta.next_centroids > in.remaining() / (dim_ * sizeof(float)) ||
                                !in.read_array(gen_[1].centroids, meta.next_centroids * dim_) ||
                                (!with_codes && !in.read_array(filed, meta.documents)) ||
                                !in.read_array(codes_, meta.tokens))))
      return in.corrupt("is truncated in its " + std::to_string(meta.centroids) +
                        " centroids and their lists");
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    uint64_t total = 0, held_total = 0;
    for (size_t d = 0; d < counts.size(); ++d) {
      total += counts[d];
      if (with_codes && (flags[d] & flag_held) != 0) held_total += counts[d];
    }
    if (total != meta.tokens || (with_codes && held_total != meta.held_tokens))
      return in.corrupt("has documents of " + std::to_string(total) + " tokens (" +
                        std::to_string(held_total) + " held) in all, expected " +
                        std::to_string(meta.tokens) + " (" + std::to_string(meta.held_tokens) +
                        ")");
    if (!with_codes) {
      // Every row held in the file; the int8 codes derived from them (of finite values only:
      // a store takes no other, so another value is a damaged file).
      for (size_t i = 0; i < rows.size(); ++i)
        if (!std::isfinite(rows[i]))
          return in.corrupt("holds a token value that is not finite (value " + std::to_string(i) +
                            " of its rows)");
      flags.assign(meta.documents, flag_held);
      for (size_t d = 0; d < filed.size(); ++d)
        if (filed[d] != 0) flags[d] |= flag_filed;
      int8_rows_.resize(meta.tokens * dim_);
      int8_scales_.resize(meta.tokens);
      for (size_t r = 0; r < meta.tokens; ++r)
        int8_scales_[r] =
            kernels::quantize_int8(rows.data() + r * dim_, dim_, int8_rows_.data() + r * dim_);
    }
    if (meta.centroids == 0) {
      codes_.assign(meta.tokens, no_code);
    } else {
      gen_[0].lists.assign(meta.centroids + 1, {});
    }
    if (meta.next_centroids > 0) {
      gen_[1].lists.assign(meta.next_centroids + 1, {});
      moving_ = true;
    }
    size_t first = 0, in_rows = 0;
    documents_.reserve(ids.size());
    slot_of_.reserve(ids.size());
    for (size_t d = 0; d < ids.size(); ++d) {
      if (ids[d].is_nil() || !slot_of_.emplace(ids[d], static_cast<uint32_t>(d)).second)
        return in.corrupt("lists id " + ids[d].to_string() + " twice or as nil");
      documents_.push_back(document{ids[d], first, not_held, counts[d], not_fresh, 0});
      auto slot = static_cast<uint32_t>(d);
      auto& doc = documents_.back();
      const bool filed_doc = trained() && (flags[d] & flag_filed) != 0;
      if (trained() && !filed_doc) {
        std::fill(codes_.begin() + static_cast<ptrdiff_t>(doc.first),
                  codes_.begin() + static_cast<ptrdiff_t>(doc.first + doc.tokens), no_code);
        make_fresh(slot);
      }
      if (filed_doc && (flags[d] & flag_next) != 0) {
        if (!moving_)
          return in.corrupt("files " + doc.id.to_string() + " under retrained centroids it lacks");
        doc.gen = 1;
      }
      if ((flags[d] & flag_held) != 0) {
        // Only the rows this index holds (an old snapshot has every row).
        if (holds(doc)) {
          doc.held = static_cast<uint32_t>(held_rows());
          held_.append(rows.data() + in_rows * dim_, size_t{doc.tokens} * dim_);
        }
        in_rows += doc.tokens;
      }
      first += counts[d];
      if (!filed_doc) continue;
      auto& g = gen_[doc.gen];
      for (uint32_t t = 0; t < doc.tokens; ++t)
        if (codes_[doc.first + t] >= g.count())
          return in.corrupt("files a token of " + doc.id.to_string() + " under centroid " +
                            std::to_string(codes_[doc.first + t]) + " of " +
                            std::to_string(g.count()));
      for (auto c : lists_of(doc))
        g.lists[c].push_back(slot);
    }
    return {};
  }

  embedder spec_;
  size_t dim_;
  index_options opts_;
  /// Per token row: the centroid it is filed under, or no_code.
  mapped_array<uint32_t> codes_;
  /// Per token row: its int8 code (dim bytes) and scale (kernels::quantize_int8), which rank the
  /// candidates of a search before the exact re-scoring.
  mapped_array<int8_t> int8_rows_;
  mapped_array<float> int8_scales_;
  /// Right after the load of a large snapshot: token rows [rehomed_, mapped_rows_) have their
  /// int8 codes where the file is mapped (int8_row()); maintain() copies them into int8_rows_,
  /// whose pages for them stay untouched until then.
  file_view int8_mapped_;
  size_t mapped_rows_ = 0;
  size_t rehomed_ = 0;
  /// Set once a page of mapped int8 rows could not be read back.
  bool rows_unreadable_ = false;
  /// Rows in codes_ no document refers to any more.
  size_t dead_rows_ = 0;
  /// The f32 token rows the index holds (holds()), dim floats each, of unit length (or zero).
  mapped_array<float> held_;
  /// Rows in held_ no document refers to any more.
  size_t dead_held_ = 0;
  /// By slot (swap-removed, so dense).
  mapped_array<document> documents_;
  id_table<uint32_t> slot_of_;
  /// When the id map grows (id_map.hpp): its own point, not every index's at once.
  double id_map_share_ = id_map_growth_share(spec_.name);
  /// gen_[current_]: the serving centroids (untrained: empty). While retrained centroids take
  /// over (moving_), gen_[current_ ^ 1] holds them and the memories moved (or filed) there since;
  /// a search probes both.
  generation gen_[2];
  uint8_t current_ = 0;
  bool moving_ = false;
  /// The list of gen_[current_] that move_one() takes its next memory from.
  size_t move_list_ = 0;
  /// Slots of the memories not filed yet (only once trained).
  std::vector<uint32_t> fresh_;
  std::unique_ptr<kmeans_training> training_;
  /// The training is out with the owner (begin_training) until end_training().
  bool training_out_ = false;
};

} // namespace

std::unique_ptr<vector_index> make_maxsim_index(const embedder& spec, const index_options& opts) {
  return std::make_unique<maxsim_index>(spec, opts);
}

} // namespace telos::storage
