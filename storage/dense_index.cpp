// Dense vectors: exact flat search below index_options::hnsw_threshold, HNSW (hnswlib) above it
// (or flat only, by the embedder's index policy). New vectors land in a contiguous "fresh" buffer
// that is searched exactly and merged with the graph's results, so an upsert never pays for a
// graph insertion; maintain() moves them into the graph when the owner is idle. Each vector is
// stored once: in the fresh buffer or in hnswlib's element block (which we read for scores and
// scans), as f32 or, by the policy's quantization, as a code (int8 with a per-vector scale, or
// sign bits). The graph of a quantised index is built and searched on the codes; a quantised
// search collects k * oversample candidates by code and re-scores them exactly from the f32
// originals that index_options::originals reads from the vector keyspace.
// A search deeper than index_options::rescore_depth re-scores one candidate per rank beyond it
// (rescored_candidates).
// Policy ivf replaces the graph by an inverted file: maintain() trains k-means centroids on a
// sample of the fresh rows (in bounded steps, kmeans.hpp, or handed to the owner to run on a thread
// of its own: begin_training), then files each fresh row's code into
// the list of its nearest centroid (nlist x dim work on codes, no graph); a search scans the
// fresh rows and the lists of the nprobe centroids nearest to the query, by code. Removal
// swap-removes a row from its list.
#include "telos/storage/file_view.hpp"
#include "telos/storage/id_map.hpp"
#include "telos/storage/index_kinds.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/kmeans.hpp"
#include "telos/storage/mapped_array.hpp"
#include "telos/storage/vector_kernels.hpp"

#include "telos/storage/index_hnswlib.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace telos::storage {

namespace {

using graph_type = hnswlib::HierarchicalNSW<float>;

constexpr uint32_t no_label = std::numeric_limits<uint32_t>::max();

/// A graph is rebuilt once more than this share of its elements is deleted.
constexpr size_t rebuild_deleted_percent = 30;

/// Rough cost model of a filtered HNSW search: asking the graph for F results computes about this
/// many distances per result, while an exact scan evaluates the predicate on every vector (about a
/// tenth of a distance) and computes a distance for each vector that passes.
constexpr double hnsw_distances_per_result = 25;
constexpr double predicate_cost_in_distances = 0.1;

/// What a snapshot records besides the raw sections.
struct dense_snapshot_meta {
  embedder spec;
  uint64_t fresh_count = 0;
  /// Elements of the graph, deleted ones included; 0 without a graph.
  uint64_t graph_count = 0;
  bool has_graph = false;
  /// File name (in the snapshot's directory) of hnswlib's saveIndex output, with its size and XXH3,
  /// checked before hnswlib reads it (hnswlib trusts its input).
  std::string graph_file;
  uint64_t graph_bytes = 0;
  uint64_t graph_xxh3 = 0;
  /// hnswlib's level generator (text form), which saveIndex leaves out: a loaded graph then grows
  /// exactly as the saved one would have.
  std::string level_generator;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, fresh_count, graph_count, has_graph, graph_file, graph_bytes, graph_xxh3,
       level_generator);
  }
};

/// Snapshot meta of structure dense_ivf. Sections: fresh ids and rows (as in structure dense); with
/// lists > 0 also the centroid rows (row floats each, the codes' form), the length of each list
/// (u32), and the ids and rows of every list, one list after the other.
struct ivf_snapshot_meta {
  embedder spec;
  uint64_t fresh_count = 0;
  /// 0 while untrained.
  uint64_t lists = 0;
  /// Rows in all lists.
  uint64_t filed = 0;
  /// Vectors the index held when its centroids were trained (retraining is due at 4x that).
  uint64_t trained_at = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, fresh_count, lists, filed, trained_at);
  }
};

/// What a delta snapshot (structure dense_ivf_delta) records besides its sections: fresh ids,
/// fresh rows, the base's list lengths (checked against the base it is read with), the rows added
/// to each list, their ids list after list, their rows list after list. A delta that removes rows
/// of its base (structure dense_ivf_delta_removals) has two sections more after the base's
/// lengths: the rows removed from each list, and their ids list after list.
struct ivf_delta_meta {
  embedder spec;
  uint64_t fresh_count = 0;
  uint64_t lists = 0;
  /// Rows in all lists of the base.
  uint64_t base_filed = 0;
  /// Rows added to the lists since the base.
  uint64_t added = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, fresh_count, lists, base_filed, added);
  }
};

/// A delta is at most this share of its base's list rows in bytes (a row added counts its id and
/// code, a base row removed its id); beyond it the next checkpoint saves the whole index again
/// (which then is at most twice the size the delta would have been, and bounds what a load reads
/// in two parts).
constexpr double delta_max_share = 1.0;

/// ivf training samples at most this many fresh rows per centroid (as the MaxSim index does)...
constexpr size_t ivf_training_rows_per_centroid = 32;
/// ...for this many Lloyd iterations.
constexpr size_t ivf_training_iterations = 8;
/// With the default list count (c x sqrt(n)), the centroids are retrained once the index holds
/// this many times the vectors it was trained at (the list count then doubles); the rows move to
/// the new lists in bounded maintain() steps while the old lists keep answering.
constexpr size_t ivf_retrain_growth = 4;
/// index_options::ivf_retrain_phase 1 retrains at (1 + this) x ivf_retrain_growth x.
constexpr double ivf_retrain_spread = 0.25;

/// Returns the whole pages inside [first, first + count) to the system (advisory; an anonymous
/// private mapping reads zeroes there afterwards, so only for rows nobody reads again).
void release_pages(float* first, size_t count) {
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto begin = (reinterpret_cast<uintptr_t>(first) + page - 1) / page * page;
  auto end = reinterpret_cast<uintptr_t>(first + count) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

/// The rows (codes) of one inverted list. A list loaded from a snapshot borrows its rows from the
/// arena its inverted file read every list's rows into in one piece (ivf_state::arena); the first
/// time it grows it moves them to a vector of its own and hands the arena's pages back, so a
/// snapshot loads with one read and no per-list allocation, and appends cost what they did.
/// Shrinking (swap-removal) and overwriting rows work in place, in the arena too.
/// A list loaded from a snapshot and a delta (vector_index::save_delta) has its rows in two parts
/// until it is changed or re-homed: the snapshot's, then the rows the delta added (borrowed from
/// the delta's section the same way). Readers go through parts() and row(); every change first
/// joins the parts into a vector of the list's own.
class list_rows {
public:
  /// One contiguous run of rows (floats).
  struct part {
    const float* rows = nullptr;
    size_t floats = 0;
  };

  /// The rows, contiguous: joins two parts first (so only for lists being changed; readers use
  /// parts() and row()).
  float* data() {
    join();
    return head();
  }
  size_t size() const { return head_size() + tail_size_; }
  bool empty() const { return size() == 0; }
  /// The rows in order: the first part, then the second (empty unless loaded with a delta).
  std::array<part, 2> parts() const { return {part{head(), head_size()}, part{tail_, tail_size_}}; }
  /// Row `i` of `row_floats` floats, in whichever part holds it.
  const float* row(size_t i, size_t row_floats) const {
    const size_t at = i * row_floats;
    return at < head_size() ? head() + at : tail_ + (at - head_size());
  }
  /// Whether the list still borrows what a load gave it (either part).
  bool borrows() const { return borrowed_ != nullptr || tail_ != nullptr; }
  /// Copies the borrowed rows (both parts, one after the other) to `place` and borrows them there
  /// from now on, as one part.
  void rehome(float* place) {
    const size_t head_floats = head_size();
    if (head_floats > 0) std::memcpy(place, head(), head_floats * sizeof(float));
    if (tail_size_ > 0) std::memcpy(place + head_floats, tail_, tail_size_ * sizeof(float));
    const size_t total = head_floats + tail_size_;
    owned_ = {};
    tail_ = nullptr;
    tail_size_ = tail_extent_ = 0;
    borrowed_ = total == 0 ? nullptr : place;
    size_ = extent_ = total;
  }
  /// Floats this list occupies: its parts of the arenas, or its own vector's capacity.
  size_t memory_floats() const {
    return (borrowed_ != nullptr ? extent_ : owned_.capacity()) + tail_extent_;
  }

  /// Takes `count` floats at `rows` (in an arena that outlives the list) as its rows.
  void borrow(float* rows, size_t count) {
    owned_ = {};
    borrowed_ = count == 0 ? nullptr : rows;
    size_ = extent_ = count;
  }
  /// Takes `count` floats at `rows` (in an arena that outlives the list) as the rows after the
  /// ones it has (a delta's).
  void borrow_tail(float* rows, size_t count) {
    tail_ = count == 0 ? nullptr : rows;
    tail_size_ = tail_extent_ = count;
  }

  void reserve(size_t n) {
    if (n <= size()) return;
    own(n);
    owned_.reserve(n);
  }

  void resize(size_t n) {
    join();
    if (borrowed_ != nullptr && n <= size_) {
      size_ = n;
      return;
    }
    own(n);
    owned_.resize(n);
  }

  void append(const float* rows, size_t count) {
    own(size() + count);
    owned_.insert(owned_.end(), rows, rows + count);
  }

  void shrink_to_fit() {
    join();
    if (borrowed_ != nullptr && size_ == 0) let_go();
    if (borrowed_ == nullptr) owned_.shrink_to_fit();
  }

private:
  float* head() { return borrowed_ != nullptr ? borrowed_ : owned_.data(); }
  const float* head() const { return borrowed_ != nullptr ? borrowed_ : owned_.data(); }
  size_t head_size() const { return borrowed_ != nullptr ? size_ : owned_.size(); }

  /// One part from two: the rows move into a vector of the list's own.
  void join() {
    if (tail_ != nullptr) own(size());
  }

  /// Moves borrowed rows (both parts) into a vector of at least `capacity` floats.
  void own(size_t capacity) {
    if (borrowed_ == nullptr && tail_ == nullptr) return;
    std::vector<float> rows;
    rows.reserve(std::max(capacity, size()));
    rows.assign(head(), head() + head_size());
    rows.insert(rows.end(), tail_, tail_ + tail_size_);
    let_go();
    owned_ = std::move(rows);
  }

  /// Stops borrowing and returns the arenas' whole pages this list covered.
  void let_go() {
    if (borrowed_ != nullptr) release_pages(borrowed_, extent_);
    if (tail_ != nullptr) release_pages(tail_, tail_extent_);
    borrowed_ = nullptr;
    size_ = extent_ = 0;
    tail_ = nullptr;
    tail_size_ = tail_extent_ = 0;
  }

  std::vector<float> owned_;
  float* borrowed_ = nullptr;
  size_t size_ = 0;
  /// Floats of the arena this list was given (size_ shrinks below it by removals).
  size_t extent_ = 0;
  /// The second part (a delta's rows), borrowed; never shrinks (any change joins the parts).
  float* tail_ = nullptr;
  size_t tail_size_ = 0;
  size_t tail_extent_ = 0;
};

/// One inverted list: the ids and rows (codes) filed under one centroid, swap-removed.
struct ivf_list {
  std::vector<uuid> ids;
  list_rows rows;
};

/// An inverted file: centroid rows (in the rows' own form, so a row finds its list by the same
/// similarity a search ranks with) and one list per centroid.
struct ivf_state {
  std::vector<float> centroids;
  std::vector<ivf_list> lists;
  size_t filed = 0;
  /// Vectors the index held at training.
  size_t trained_at = 0;
  /// Counts retrainings; its parity tells a location which of two inverted files it is in.
  uint32_t generation = 0;
  /// Every list's rows as a snapshot had them, read in one piece (empty unless loaded); each list
  /// borrows its part until it grows.
  float_buffer arena;
  /// Or the snapshot's section of list rows mapped where the page cache holds it
  /// (index_options::snapshot_map_bytes); maintain() then copies the lists' rows into the arena
  /// (each at its offset in the section) one list per step, and unmaps it.
  file_view mapped;
  /// The next list that maintain() re-homes from the mapping into the arena.
  size_t rehome_next = 0;
  /// Loaded with a delta: the rows the delta added to each list, read in one piece (tail_arena)
  /// or mapped (mapped_tail), which the lists borrow as their second parts.
  float_buffer tail_arena;
  file_view mapped_tail;
  /// Where each list's rows go in the arena when maintain() re-homes them (floats from its start,
  /// both parts one after the other); empty when the lists' rows are laid out as in the snapshot.
  std::vector<size_t> homes;

  size_t memory_bytes() const {
    size_t bytes = centroids.capacity() * sizeof(float) + lists.capacity() * sizeof(ivf_list);
    for (const auto& list : lists)
      bytes += list.ids.capacity() * sizeof(uuid) + list.rows.memory_floats() * sizeof(float);
    return bytes;
  }
};

/// An hnswlib graph and the id behind each label. Labels are handed out in insertion order and
/// never reused, so a label equals hnswlib's internal id; a nil id marks a deleted element.
struct graph_state {
  std::unique_ptr<graph_type> graph;
  std::vector<uuid> ids;
  size_t deleted = 0;
  /// Bytes of the upper-layer link lists hnswlib allocates per element with a level > 0.
  size_t link_bytes = 0;

  size_t size() const { return ids.size(); }
  size_t live() const { return ids.size() - deleted; }
  const float* vector(size_t label) const {
    return reinterpret_cast<const float*>(graph->getDataByInternalId(static_cast<unsigned>(label)));
  }
  /// Distance in floats between consecutive elements' vectors in hnswlib's element block.
  size_t stride() const { return graph->size_data_per_element_ / sizeof(float); }

  /// Bytes of hnswlib's structures: the element block (links, vector, label) for every element it
  /// has room for, per-element link pointers, levels, locks and visited marks, upper-layer link
  /// lists, the update locks and the label map; plus our label→id array.
  size_t memory_bytes() const {
    const auto& g = *graph;
    size_t per_element = g.size_data_per_element_ + sizeof(char*) + sizeof(int) +
                         sizeof(std::mutex) + sizeof(hnswlib::vl_type);
    return g.max_elements_ * per_element + link_bytes +
           graph_type::max_update_element_locks * sizeof(std::mutex) +
           hash_map_bytes(g.label_lookup_) + ids.capacity() * sizeof(uuid);
  }

  /// Size of hnswlib's saveIndex output: fixed header, element block, and per element a u32 length
  /// and its upper-layer link lists.
  uint64_t saved_bytes() const {
    const auto& g = *graph;
    constexpr uint64_t header =
        10 * sizeof(size_t) + sizeof(int) + sizeof(unsigned) + sizeof(double);
    return header + g.cur_element_count * (g.size_data_per_element_ + sizeof(unsigned)) +
           link_bytes;
  }
};

/// hnswlib's distances computed by our kernels. hnswlib picks its own distance code when it is
/// compiled (with our portable flags: SSE); ours pick the AVX2 clone at load time on CPUs that
/// have it. Same definitions as hnswlib's spaces: 1 - dot for inner product, squared L2.
float inner_product_distance(const void* a, const void* b, const void* dim) {
  return 1.0f - kernels::dot(static_cast<const float*>(a), static_cast<const float*>(b),
                             *static_cast<const size_t*>(dim));
}

float l2_distance(const void* a, const void* b, const void* dim) {
  return kernels::squared_l2(static_cast<const float*>(a), static_cast<const float*>(b),
                             *static_cast<const size_t*>(dim));
}

// A quantised row, in floats so that it lives in the same buffers as f32 rows:
//   int8:   [scale] [scale^2 * sum of code^2] [dim codes, padded to whole floats]
//   binary: [binary_words(dim) words of sign bits]
constexpr size_t int8_header_floats = 2;

const int8_t* int8_codes(const void* row) {
  return reinterpret_cast<const int8_t*>(static_cast<const float*>(row) + int8_header_floats);
}

/// The floats a stored row stands for: itself (f32), scale x code (int8), +-1 per sign bit
/// (binary).
void decode_row(quantization quant, size_t dim, const float* row, float* out) {
  switch (quant) {
  case quantization::none:
    std::copy_n(row, dim, out);
    return;
  case quantization::int8: {
    const int8_t* codes = int8_codes(row);
    for (size_t d = 0; d < dim; ++d)
      out[d] = row[0] * static_cast<float>(codes[d]);
    return;
  }
  case quantization::binary: {
    auto words = reinterpret_cast<const uint64_t*>(row);
    for (size_t d = 0; d < dim; ++d)
      out[d] = ((words[d / 64] >> (d % 64)) & 1) != 0 ? 1.0f : -1.0f;
    return;
  }
  }
}

/// Approximate dot product of two int8 rows.
float int8_row_dot(const void* a, const void* b, size_t dim) {
  auto fa = static_cast<const float*>(a);
  auto fb = static_cast<const float*>(b);
  return fa[0] * fb[0] * static_cast<float>(kernels::dot_int8(int8_codes(a), int8_codes(b), dim));
}

/// Approximate squared L2 distance of two int8 rows (|a|^2 + |b|^2 - 2 a.b, never negative).
float int8_row_squared_l2(const void* a, const void* b, size_t dim) {
  auto fa = static_cast<const float*>(a);
  auto fb = static_cast<const float*>(b);
  return std::max(0.0f, fa[1] + fb[1] - 2.0f * int8_row_dot(a, b, dim));
}

float int8_inner_product_distance(const void* a, const void* b, const void* dim) {
  return 1.0f - int8_row_dot(a, b, *static_cast<const size_t*>(dim));
}

float int8_l2_distance(const void* a, const void* b, const void* dim) {
  return int8_row_squared_l2(a, b, *static_cast<const size_t*>(dim));
}

uint32_t binary_row_hamming(const void* a, const void* b, size_t dim) {
  return kernels::hamming(static_cast<const uint64_t*>(a), static_cast<const uint64_t*>(b),
                          kernels::binary_words(dim));
}

float binary_distance(const void* a, const void* b, const void* dim) {
  return static_cast<float>(binary_row_hamming(a, b, *static_cast<const size_t*>(dim)));
}

/// Floats one stored row of `dim` dimensions takes under `q`.
size_t row_floats(quantization q, size_t dim) {
  switch (q) {
  case quantization::none:
    break;
  case quantization::int8:
    return int8_header_floats + (dim + sizeof(float) - 1) / sizeof(float);
  case quantization::binary:
    return kernels::binary_words(dim) * sizeof(uint64_t) / sizeof(float);
  }
  return dim;
}

/// k * oversample candidates are re-scored exactly when neither the policy nor
/// index_options::int8_oversample says: int8 codes of ivf and flat indexes 2, of hnsw graphs 3
/// (measured at 1M, docs/BENCHMARKS.md "Two candidates per result"), binary codes 10 (measured on
/// clustered 1024-d data and Fashion-MNIST, docs/BENCHMARKS.md "Quantised indexes").
constexpr size_t default_oversample_int8_scanned = 2;
constexpr size_t default_oversample_int8_graph = 3;
constexpr size_t default_oversample_binary = 10;

size_t oversample_of(const embedder& spec, const index_options& opts) {
  const auto& policy = spec.index;
  if (policy.oversample != 0) return policy.oversample;
  if (policy.quantization == quantization::binary) return default_oversample_binary;
  if (opts.int8_oversample != 0) return opts.int8_oversample;
  return policy.structure == index_structure::hnsw ? default_oversample_int8_graph
                                                   : default_oversample_int8_scanned;
}

/// default_ivf_nprobe: at least this many lists, and one in this many (measured,
/// docs/BENCHMARKS.md "Inverted-file index").
constexpr size_t ivf_nprobe_min = 8;
constexpr size_t ivf_nprobe_divisor = 64;

class kernel_space final : public hnswlib::SpaceInterface<float> {
public:
  kernel_space(size_t dim, size_t row_bytes, hnswlib::DISTFUNC<float> distance)
      : dim_(dim), row_bytes_(row_bytes), distance_(distance) {}
  size_t get_data_size() override { return row_bytes_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance_; }
  void* get_dist_func_param() override { return &dim_; }

private:
  size_t dim_;
  size_t row_bytes_;
  hnswlib::DISTFUNC<float> distance_;
};

std::string what_of(const std::exception& e) {
  return std::string{"hnswlib: "} + e.what();
}

class dense_index final : public vector_index {
public:
  dense_index(const embedder& spec, const index_options& opts)
      : spec_(spec), opts_(opts), dim_(spec.dim), quant_(spec.index.quantization),
        row_(row_floats(quant_, dim_)) {
    const auto& policy = spec_.index;
    if (policy.m != 0) opts_.hnsw_m = policy.m;
    if (policy.ef_construction != 0) opts_.hnsw_ef_construction = policy.ef_construction;
    oversample_ = oversample_of(spec_, opts_);
    bool l2 = spec_.metric == metric::l2;
    hnswlib::DISTFUNC<float> distance = l2 ? &l2_distance : &inner_product_distance;
    if (quant_ == quantization::int8)
      distance = l2 ? &int8_l2_distance : &int8_inner_product_distance;
    if (quant_ == quantization::binary) distance = &binary_distance;
    space_ = std::make_unique<kernel_space>(dim_, row_ * sizeof(float), distance);
  }

  const embedder& spec() const override { return spec_; }

  void upsert(const uuid& id, const embedding& e) override {
    grow_id_map_ahead(where_, id_map_share_);
    auto it = where_.find(id);
    if (it != where_.end() && !it->second.in_graph) {
      // Already fresh: overwrite in place, nothing moves.
      store_row(fresh_vectors_.data() + it->second.position * row_, e);
      return;
    }
    if (it != where_.end()) {
      delete_placed(it->second);
      where_.erase(it);
    }
    size_t position = fresh_ids_.size();
    fresh_ids_.push_back(id);
    fresh_vectors_.resize(fresh_vectors_.size() + row_);
    store_row(fresh_vectors_.data() + position * row_, e);
    where_[id] = fresh_at(static_cast<uint32_t>(position));
  }

  bool remove(const uuid& id) override {
    auto it = where_.find(id);
    if (it == where_.end()) return false;
    auto loc = it->second;
    where_.erase(it);
    if (loc.in_graph)
      delete_placed(loc);
    else
      delete_fresh(loc.position);
    return true;
  }

  bool contains(const uuid& id) const override { return where_.count(id) != 0; }

  std::vector<hit> search(const embedding& query, size_t k,
                          const id_predicate* allow) const override {
    if (k == 0 || where_.empty() || query.values.size() != dim_) return {};
    std::vector<float> normalized;
    const float* q = prepare(query, normalized);
    // A quantised index ranks by code first, then re-scores the best k * oversample exactly
    // (above rescore_depth: rescore_depth * oversample + (k - rescore_depth)).
    size_t wanted =
        quant_ == quantization::none ? k : rescored_candidates(k, opts_.rescore_depth, oversample_);
    kernels::top_k best{wanted};
    if (allow == nullptr) {
      scan_unfiltered(q, best);
      if (graph_ && graph_->live() > 0) search_graph(q, wanted, best);
    } else {
      if (fresh_live() > 0)
        scan(q, fresh_vectors_.data() + fresh_head_ * row_, fresh_live(), row_,
             fresh_ids_.data() + fresh_head_, allow, best);
      if (graph_ && graph_->live() > 0) search_graph_filtered(q, wanted, *allow, best);
      if (ivf_ && ivf_->filed > 0) search_ivf(*ivf_, q, k, allow, best);
      if (ivf_next_ && ivf_next_->filed > 0) search_ivf(*ivf_next_, q, k, allow, best);
    }
    if (quant_ == quantization::none) return best.take();
    return rescore(query, best.take(), k);
  }

  std::optional<float> score(const embedding& query, const uuid& id) const override {
    if (query.values.size() != dim_) return std::nullopt;
    auto it = where_.find(id);
    if (it == where_.end()) return std::nullopt;
    if (quant_ != quantization::none && opts_.originals) {
      auto original = opts_.originals(spec_, {id});
      if (original && original->size() == 1 && (*original)[0])
        return exact_score(spec_, query, *(*original)[0]);
      if (original) return std::nullopt;
    }
    std::vector<float> normalized;
    const float* q = prepare(query, normalized);
    return similarity(q, row_of(it->second));
  }

  size_t maintain(size_t budget) override {
    if (ivf_policy()) return maintain_ivf(budget);
    size_t done = 0;
    last_error_.clear();
    if (!graph_) {
      if (!wants_graph()) {
        compact_fresh();
        return 0;
      }
      auto created = new_graph(fresh_live());
      if (!created) return 0;
      graph_ = std::make_unique<graph_state>(std::move(*created));
    }
    if (!rebuild_ && graph_->deleted * 100 > graph_->size() * rebuild_deleted_percent)
      start_rebuild();
    if (rebuild_) done += advance_rebuild(budget);
    while (!rebuild_ && done < budget && fresh_live() > 0) {
      const uuid id = fresh_ids_[fresh_head_];
      auto label = insert(*graph_, fresh_vectors_.data() + fresh_head_ * row_, id, fresh_live());
      if (label == no_label) break;
      where_[id] = graph_at(label);
      ++fresh_head_;
      ++done;
    }
    compact_fresh();
    update_search_ef();
    return done;
  }

  std::unique_ptr<kmeans_training> begin_training() override {
    if (!ivf_policy() || training_out_) return nullptr;
    // A training maintain() already started goes out as it is: its steps so far count.
    if (!ivf_training_ && ((ivf_ ? !retrain_due() : !wants_graph()) || !start_ivf_training()))
      return nullptr;
    training_out_ = true;
    return std::move(ivf_training_);
  }

  void end_training(std::unique_ptr<kmeans_training> training) override {
    if (!training_out_) return;
    training_out_ = false;
    if (!training || !training->done()) return;
    ivf_training_ = std::move(training);
    finish_ivf_training();
  }

  void set_nprobe(size_t nprobe) override { opts_.ivf_nprobe = nprobe; }

  /// Lists a search of an inverted file scans.
  size_t nprobe(const ivf_state& ivf) const {
    size_t lists = ivf.lists.size();
    return std::min(lists, opts_.ivf_nprobe != 0 ? opts_.ivf_nprobe : default_ivf_nprobe(lists));
  }

  void set_ef_search(size_t ef) override {
    opts_.hnsw_ef_search = ef;
    update_search_ef();
  }

  /// The ef a search of the current graph uses (before max with the results asked for).
  size_t search_ef() const {
    if (opts_.hnsw_ef_search != 0) return opts_.hnsw_ef_search;
    return default_search_ef(graph_ ? graph_->live() : 0);
  }

  /// hnswlib reads ef_ in searchKnn: set under the owner's exclusive lock (maintain, load,
  /// set_ef_search), never while searches run.
  void update_search_ef() {
    if (graph_) graph_->graph->ef_ = search_ef();
    if (rebuild_) rebuild_->next.graph->ef_ = search_ef();
  }

  size_t fresh_count() const override { return wants_graph() ? fresh_live() : 0; }

  index_stats stats() const override {
    index_stats s;
    s.vectors = where_.size();
    s.fresh = fresh_count();
    s.memory_bytes = fresh_vectors_.capacity() * sizeof(float) +
                     fresh_ids_.capacity() * sizeof(uuid) + hash_map_bytes(where_);
    if (graph_) s.memory_bytes += graph_->memory_bytes();
    if (rebuild_)
      s.memory_bytes +=
          rebuild_->next.memory_bytes() + rebuild_->moved_to.capacity() * sizeof(uint32_t);
    if (ivf_) s.memory_bytes += ivf_->memory_bytes();
    if (ivf_next_) s.memory_bytes += ivf_next_->memory_bytes();
    if (ivf_training_) s.memory_bytes += ivf_training_->memory_bytes();
    s.structure = graph_ ? "hnsw" : ivf_ ? "ivf" : "flat";
    s.last_error = last_error_;
    if (mapped_rows_failed()) s.last_error = unreadable_rows;
    if (ivf_) s.mapped_bytes = ivf_->mapped.size() + ivf_->mapped_tail.size();
    return s;
  }

  expected<void> save(const std::string& path) const override {
    if (ivf_policy()) return save_ivf(path);
    dense_snapshot_meta meta;
    meta.spec = spec_;
    meta.fresh_count = fresh_live();
    std::string graph_path;
    if (graph_) {
      // A new file name per snapshot: the previous snapshot keeps its graph file until the new
      // snapshot has replaced it.
      meta.has_graph = true;
      meta.graph_count = graph_->size();
      meta.graph_file =
          std::filesystem::path(path).filename().string() + ".hnsw." + uuid::random().to_string();
      graph_path = (std::filesystem::path(path).parent_path() / meta.graph_file).string();
      auto written = save_graph(graph_path);
      if (!written) {
        std::remove(graph_path.c_str());
        return written.error();
      }
      meta.graph_bytes = written->size;
      meta.graph_xxh3 = written->xxh3;
      std::ostringstream generator;
      generator << graph_->graph->level_generator_;
      meta.level_generator = generator.str();
    }
    snapshot_writer out{path, snapshot_structure::dense, encode_value(meta)};
    if (fresh_live() > 0) {
      out.write_array(fresh_ids_.data() + fresh_head_, fresh_live());
      out.write_array(fresh_vectors_.data() + fresh_head_ * row_, fresh_live() * row_);
    }
    if (graph_) out.write_array(graph_->ids.data(), graph_->size());
    auto committed = out.commit();
    if (!committed) {
      if (!graph_path.empty()) std::remove(graph_path.c_str());
      return committed;
    }
    remove_other_graph_files(path, meta.graph_file);
    return {};
  }

  expected<void> load(const std::string& path) override { return load(path, std::string{}); }

  expected<void> load(const std::string& path, const std::string& delta) override {
    rows_unreadable_ = false;
    reset();
    expected<void> loaded{};
    if (!ivf_policy()) {
      if (delta.empty())
        loaded = read_snapshot(path);
      else
        loaded = make_error(ec::format_mismatch, "index of " + spec_.name + " (policy " +
                                                     std::string{to_string(spec_.index.structure)} +
                                                     ") reads no deltas ('" + delta + "')");
    } else {
      loaded = read_ivf_snapshot(path);
      if (loaded) base_ = current_base();
      if (loaded && !delta.empty()) loaded = read_ivf_delta(delta);
    }
    if (!loaded) reset();
    return loaded;
  }

  bool can_save_delta() const override {
    if (!ivf_policy() || !ivf_ || ivf_next_ || !tracks(base_) || mapped_rows_failed()) return false;
    return delta_bytes(added_since(*base_), base_->removed.size()) <=
           delta_max_share * static_cast<double>(delta_bytes(base_->filed, 0));
  }

  expected<void> save_delta(const std::string& path) const override {
    if (!can_save_delta())
      return make_error(ec::invalid_argument,
                        "index of " + spec_.name + " cannot write a delta now ('" + path + "')");
    ivf_delta_meta meta;
    meta.spec = spec_;
    meta.fresh_count = fresh_live();
    meta.lists = ivf_->lists.size();
    meta.base_filed = base_->filed;
    meta.added = added_since(*base_);
    const auto& removed = base_->removed;
    // Appends only: the format builds that know no removals read too.
    snapshot_writer out{path,
                        removed.empty() ? snapshot_structure::dense_ivf_delta
                                        : snapshot_structure::dense_ivf_delta_removals,
                        encode_value(meta)};
    if (fresh_live() > 0) {
      out.write_array(fresh_ids_.data() + fresh_head_, fresh_live());
      out.write_array(fresh_vectors_.data() + fresh_head_ * row_, fresh_live() * row_);
    }
    const auto& lists = ivf_->lists;
    const auto& kept = base_->kept;
    out.write_array(base_->lengths.data(), base_->lengths.size());
    if (!removed.empty()) {
      std::vector<uint32_t> counts(lists.size());
      for (const auto& [list, id] : removed)
        ++counts[list];
      std::vector<uint64_t> starts(lists.size() + 1);
      for (size_t c = 0; c < lists.size(); ++c)
        starts[c + 1] = starts[c] + counts[c];
      std::vector<uuid> ids(removed.size());
      for (const auto& [list, id] : removed)
        ids[starts[list]++] = id;
      out.write_array(counts.data(), counts.size());
      out.write_array(ids.data(), ids.size());
    }
    std::vector<uint32_t> added(lists.size());
    for (size_t c = 0; c < lists.size(); ++c)
      added[c] = static_cast<uint32_t>(lists[c].ids.size() - kept[c]);
    out.write_array(added.data(), added.size());
    for (size_t c = 0; c < lists.size(); ++c)
      out.write_array(lists[c].ids.data() + kept[c], added[c]);
    for (size_t c = 0; c < lists.size(); ++c)
      write_row_range(out, lists[c].rows, kept[c], lists[c].ids.size());
    if (mapped_rows_failed()) return make_error(ec::io_error, unreadable_rows);
    return out.commit();
  }

  void base_kept() override {
    base_ = saved_base_;
    saved_base_.reset();
  }

private:
  /// What a delta is relative to: the inverted file of a snapshot, by its lists' lengths, and
  /// what changed in the lists since: the base's rows removed, and the rows added.
  struct delta_base {
    /// non_append_changes_ when the snapshot was taken or loaded.
    uint64_t changes = 0;
    uint32_t generation = 0;
    /// Rows in each list.
    std::vector<uint32_t> lengths;
    /// Rows in all lists.
    uint64_t filed = 0;
    /// The base's rows still in each list: they are the list's first kept[c] rows (in any order;
    /// delete_placed keeps them in front), and the rows after them were added since.
    std::vector<uint32_t> kept;
    /// The base's rows removed since (list, id).
    std::vector<std::pair<uint32_t, uuid>> removed;
  };

  /// Whether `base` still describes the inverted file: no retraining, reset or row moved between
  /// inverted files since it was taken.
  bool tracks(const std::optional<delta_base>& base) const {
    return base && ivf_ && base->changes == non_append_changes_ &&
           base->generation == ivf_->generation && base->kept.size() == ivf_->lists.size();
  }

  /// Bytes of list rows a delta holds (or a base: no removals), as delta_max_share counts them.
  size_t delta_bytes(size_t added, size_t removed) const {
    return added * (sizeof(uuid) + row_ * sizeof(float)) + removed * sizeof(uuid);
  }

  /// Rows added to the lists since `base` (tracks(base)).
  size_t added_since(const delta_base& base) const {
    size_t added = 0;
    for (size_t c = 0; c < ivf_->lists.size(); ++c)
      added += ivf_->lists[c].ids.size() - base.kept[c];
    return added;
  }

  /// The base a snapshot of the index as it is now would be.
  delta_base current_base() const {
    delta_base b;
    b.changes = non_append_changes_;
    if (!ivf_) return b;
    b.generation = ivf_->generation;
    b.lengths.reserve(ivf_->lists.size());
    for (const auto& list : ivf_->lists)
      b.lengths.push_back(static_cast<uint32_t>(list.ids.size()));
    b.filed = ivf_->filed;
    b.kept = b.lengths;
    return b;
  }

  /// Where an id's vector is: a fresh row, a graph label, or (policy ivf) a row of a list.
  /// 8 bytes, as before lists existed: the list number shares a word with the flags.
  struct location {
    uint32_t position;
    /// The list of an ivf row.
    uint32_t list : 30;
    /// Parity of the generation of the inverted file the row is in (two exist while retraining).
    uint32_t generation : 1;
    /// In the graph or the lists (not fresh).
    uint32_t in_graph : 1;
  };

  static location fresh_at(uint32_t position) { return location{position, 0, 0, 0}; }
  static location graph_at(uint32_t label) { return location{label, 0, 0, 1}; }
  static location filed_at(uint32_t position, uint32_t list, uint32_t generation) {
    return location{position, list, generation & 1, 1};
  }
  static_assert(sizeof(location) == 8);

  /// A replacement graph being filled by maintain() from the live elements of the current one,
  /// which keeps answering searches meanwhile.
  struct rebuild_state {
    graph_state next;
    /// Current label → label in `next`, or no_label while not yet copied.
    std::vector<uint32_t> moved_to;
    /// Next label of the current graph to copy.
    size_t cursor = 0;
  };

  size_t fresh_live() const { return fresh_ids_.size() - fresh_head_; }

  bool wants_graph() const {
    if (spec_.index.structure == index_structure::flat) return false;
    return graph_ != nullptr || ivf_ != nullptr || ivf_training_ != nullptr || training_out_ ||
           where_.size() >= std::max<size_t>(opts_.hnsw_threshold, 1);
  }

  bool ivf_policy() const { return spec_.index.structure == index_structure::ivf; }

  /// The stored row of an id.
  const float* row_of(const location& loc) const {
    if (!loc.in_graph) return fresh_vectors_.data() + loc.position * row_;
    if (ivf_) return ivf_of(loc).lists[loc.list].rows.row(loc.position, row_);
    return graph_->vector(loc.position);
  }

  /// The inverted file a filed row is in: the current one, or the one it is moving to.
  ivf_state& ivf_of(const location& loc) const {
    return loc.generation == (ivf_->generation & 1) ? *ivf_ : *ivf_next_;
  }

  /// Where new rows are filed: the retrained inverted file while rows move to it.
  ivf_state& newest_ivf() const { return ivf_next_ ? *ivf_next_ : *ivf_; }

  /// Takes a graph element or list row out of the index (its id's entry in where_ stays for the
  /// caller to erase).
  /// A list row is swap-removed; the rows of a delta's base (base_, and saved_base_ until it is
  /// kept: nested, since a save comes after the base it replaces) stay in front of the rows added
  /// since, so the hole moves to the end of each base's part before the last row fills it, and
  /// each base records the removal (at most one per row of the base, so what it records stays
  /// below the base's size). A base that no longer describes the lists is dropped.
  void delete_placed(const location& loc) {
    if (!ivf_) return delete_from_graph(loc.position);
    auto& ivf = ivf_of(loc);
    auto& list = ivf.lists[loc.list];
    const uuid gone = list.ids[loc.position];
    size_t hole = loc.position;
    for (auto* base : {&base_, &saved_base_}) {
      if (!*base) continue;
      if (!tracks(*base) || &ivf != ivf_.get()) {
        base->reset();
        continue;
      }
      auto& kept = (*base)->kept[loc.list];
      if (hole >= kept) continue;
      move_list_row(list, kept - 1, hole);
      hole = --kept;
      (*base)->removed.emplace_back(loc.list, gone);
    }
    move_list_row(list, list.ids.size() - 1, hole);
    list.ids.pop_back();
    list.rows.resize(list.rows.size() - row_);
    --ivf.filed;
  }

  /// Copies row `from` of a list over row `to` (its id too, and where_ follows).
  void move_list_row(ivf_list& list, size_t from, size_t to) {
    if (from == to) return;
    float* rows = list.rows.data();
    std::copy_n(rows + from * row_, row_, rows + to * row_);
    list.ids[to] = list.ids[from];
    where_[list.ids[to]].position = static_cast<uint32_t>(to);
  }

  /// Policy ivf: trains the centroids once the index reaches the threshold, and again (with the
  /// default list count) each time it has grown ivf_retrain_growth-fold since (each k-means step
  /// counts 1 of the budget); files up to `budget` fresh rows into their lists; while a retrained
  /// inverted file exists, moves rows of the old one to it (each counts 1).
  size_t maintain_ivf(size_t budget) {
    size_t done = 0;
    last_error_.clear();
    if (!ivf_ && !wants_graph()) {
      compact_fresh();
      return 0;
    }
    // Fresh rows first: a retraining (seconds of CPU at a million vectors) runs when the index
    // has nothing fresh, so it never holds back what the write path's backpressure counts.
    while (ivf_ && done < budget && fresh_live() > 0) {
      file_row(fresh_ids_[fresh_head_], fresh_vectors_.data() + fresh_head_ * row_);
      ++fresh_head_;
      ++done;
    }
    // A training handed out (begin_training) is not started again nor stepped here.
    if (!ivf_training_ && !training_out_ && (!ivf_ || retrain_due()) && !start_ivf_training())
      return done;
    while (done < budget && ivf_training_) {
      ++done;
      if (ivf_training_->step()) finish_ivf_training();
    }
    while (ivf_ && done < budget && fresh_live() > 0) {
      file_row(fresh_ids_[fresh_head_], fresh_vectors_.data() + fresh_head_ * row_);
      ++fresh_head_;
      ++done;
    }
    while (ivf_next_ && done < budget) {
      move_one_row();
      ++done;
    }
    if (done < budget) done += rehome_mapped_rows(budget - done);
    compact_fresh();
    return done;
  }

  bool retrain_due() const {
    if (!ivf_ || ivf_next_ || training_out_ || opts_.ivf_lists != 0 || fresh_live() != 0)
      return false;
    const double phase = std::clamp(opts_.ivf_retrain_phase, 0.0, 1.0);
    const double due = static_cast<double>(ivf_retrain_growth) *
                       static_cast<double>(std::max<size_t>(ivf_->trained_at, 1)) *
                       (1.0 + ivf_retrain_spread * phase);
    return static_cast<double>(where_.size()) >= due;
  }

  /// Moves the last row of the first non-empty list of the old inverted file to the new one;
  /// when the old one is empty, the new one replaces it.
  void move_one_row() {
    ++non_append_changes_;
    while (ivf_move_list_ < ivf_->lists.size() && ivf_->lists[ivf_move_list_].ids.empty())
      ++ivf_move_list_;
    if (ivf_move_list_ < ivf_->lists.size()) {
      auto& list = ivf_->lists[ivf_move_list_];
      const uuid id = list.ids.back();
      file_row(id, list.rows.data() + list.rows.size() - row_);
      list.ids.pop_back();
      list.rows.resize(list.rows.size() - row_);
      --ivf_->filed;
      if (list.ids.empty()) {
        list.ids.shrink_to_fit();
        list.rows.shrink_to_fit();
      }
    }
    if (ivf_->filed == 0) {
      ivf_ = std::move(ivf_next_);
      ivf_move_list_ = 0;
    }
  }

  /// Samples live rows (fresh, and the lists' when retraining) for k-means; false when there is
  /// nothing to train on. The sampled rows are copied as stored and decoded to floats when the
  /// training first steps: on the training's thread when it is handed out (begin_training), not
  /// under the index's lock (at 320,000 1024-d vectors the decoded sample is 74 MB, and the
  /// dense indexes all reach a retraining with the same write).
  bool start_ivf_training() {
    std::vector<const float*> rows;
    rows.reserve(where_.size());
    for (size_t i = fresh_head_; i < fresh_ids_.size(); ++i)
      rows.push_back(fresh_vectors_.data() + i * row_);
    if (ivf_)
      for (const auto& list : ivf_->lists)
        for (size_t i = 0; i < list.ids.size(); ++i)
          rows.push_back(list.rows.row(i, row_));
    size_t live = rows.size();
    if (live == 0 || dim_ == 0) return false;
    size_t lists = opts_.ivf_lists != 0
                       ? opts_.ivf_lists
                       : static_cast<size_t>(std::lround(ivf_lists_per_sqrt *
                                                         std::sqrt(static_cast<double>(live))));
    lists = std::clamp<size_t>(lists, 1, std::min<size_t>(live, size_t{1} << 30));
    std::mt19937_64 rng{opts_.seed + (ivf_ ? ivf_->generation + 1 : 0)};
    std::vector<uint32_t> positions(live);
    std::iota(positions.begin(), positions.end(), 0u);
    size_t points = std::min(live, lists * ivf_training_rows_per_centroid);
    sample_front(positions, points, rng);
    std::vector<float> stored(points * row_);
    for (size_t i = 0; i < points; ++i)
      std::copy_n(rows[positions[i]], row_, stored.data() + i * row_);
    ivf_training_at_ = live;
    auto kind = spec_.metric == metric::l2 ? kmeans_kind::euclidean : kmeans_kind::spherical;
    auto make_sample = [stored = std::move(stored), quant = quant_, dim = dim_, row = row_,
                        points] {
      std::vector<float> sample(points * dim);
      for (size_t i = 0; i < points; ++i)
        decode_row(quant, dim, stored.data() + i * row, sample.data() + i * dim);
      return sample;
    };
    ivf_training_ = std::make_unique<kmeans_training>(
        std::move(make_sample), dim_, lists, ivf_training_iterations, kind, std::move(rng));
    return true;
  }

  /// Encodes the trained centroids as rows. The first time, every vector stays fresh until
  /// maintain() files it; a retrained inverted file takes the rows of the old one step by step.
  void finish_ivf_training() {
    ++non_append_changes_;
    auto centroids = ivf_training_->take_centroids();
    size_t lists = ivf_training_->centroid_count();
    ivf_training_.reset();
    auto next = std::make_unique<ivf_state>();
    next->trained_at = ivf_training_at_;
    next->generation = ivf_ ? ivf_->generation + 1 : 0;
    next->centroids.assign(lists * row_, 0.0f);
    next->lists.resize(lists);
    for (size_t c = 0; c < lists; ++c) {
      float* row = next->centroids.data() + c * row_;
      if (quant_ == quantization::none)
        std::copy_n(centroids.data() + c * dim_, dim_, row);
      else
        encode(centroids.data() + c * dim_, row);
    }
    if (ivf_) {
      ivf_next_ = std::move(next);
      ivf_move_list_ = 0;
    } else {
      ivf_ = std::move(next);
    }
  }

  /// The floats a row stands for (decode_row).
  void decode(const float* row, float* out) const { decode_row(quant_, dim_, row, out); }

  /// Scores of a (prepared) query or row against every centroid, by the rows' similarity.
  void centroid_scores(const ivf_state& ivf, const float* q, std::vector<float>& scores) const {
    const size_t lists = ivf.lists.size();
    scores.resize(lists);
    if (quant_ == quantization::none && spec_.metric != metric::l2)
      return kernels::dot_rows(q, ivf.centroids.data(), lists, dim_, row_, scores.data());
    for (size_t c = 0; c < lists; ++c)
      scores[c] = similarity(q, ivf.centroids.data() + c * row_);
  }

  /// Appends a row to the list of its nearest centroid in the newest inverted file.
  void file_row(const uuid& id, const float* row) {
    auto& ivf = newest_ivf();
    centroid_scores(ivf, row, centroid_scratch_);
    auto c =
        static_cast<uint32_t>(std::max_element(centroid_scratch_.begin(), centroid_scratch_.end()) -
                              centroid_scratch_.begin());
    auto& list = ivf.lists[c];
    // Grow by a quarter rather than double: the lists hold nearly all of the index's bytes.
    if (list.ids.size() == list.ids.capacity()) {
      size_t next = list.ids.size() + std::max<size_t>(16, list.ids.size() / 4);
      list.ids.reserve(next);
      list.rows.reserve(next * row_);
    }
    auto position = static_cast<uint32_t>(list.ids.size());
    list.ids.push_back(id);
    list.rows.append(row, row_);
    ++ivf.filed;
    where_[id] = filed_at(position, c, ivf.generation);
  }

  /// The lists of an inverted file by their centroids' scores against `q`, best first as far as
  /// the nprobe probed ones (the rest in no order).
  std::vector<uint32_t> probe_order(const ivf_state& ivf, const float* q) const {
    std::vector<float> scores;
    centroid_scores(ivf, q, scores);
    std::vector<uint32_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0u);
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(nprobe(ivf)),
                      order.end(), [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
    return order;
  }

  /// Scans the lists of the nprobe centroids nearest to the query into `best` (by code); with a
  /// filter that leaves fewer than k hits, every other list too.
  void search_ivf(const ivf_state& ivf, const float* q, size_t k, const id_predicate* allow,
                  kernels::top_k& best) const {
    const auto order = probe_order(ivf, q);
    const size_t probes = nprobe(ivf);
    auto scan_list = [&](uint32_t c) {
      const auto& list = ivf.lists[c];
      for (const auto& seg : list_segments(list))
        if (seg.count > 0) scan(q, seg.rows, seg.count, row_, seg.ids, allow, best);
    };
    for (size_t p = 0; p < probes; ++p)
      scan_list(order[p]);
    if (allow != nullptr && best.size() < k)
      for (size_t p = probes; p < order.size(); ++p)
        scan_list(order[p]);
  }

  /// Rows a search scans: `count` rows from `rows` (row_ floats each), with their ids.
  struct segment {
    const float* rows;
    const uuid* ids;
    size_t count;
  };

  /// A list's rows as segments: one per non-empty part (two for a list loaded with a delta).
  /// A list's rows as segments, one per part (the second empty unless the list was loaded with a
  /// delta and has not changed since).
  std::array<segment, 2> list_segments(const ivf_list& list) const {
    const auto parts = list.rows.parts();
    const size_t head = parts[0].floats / row_;
    return {segment{parts[0].rows, list.ids.data(), head},
            segment{parts[1].rows, list.ids.data() + head, parts[1].floats / row_}};
  }

  /// Writes rows [from, to) of a list, whichever parts hold them.
  void write_row_range(snapshot_writer& out, const list_rows& rows, size_t from, size_t to) const {
    size_t first = 0; // the first row of the part
    for (const auto& part : rows.parts()) {
      const size_t count = part.floats / row_;
      const size_t begin = std::max(from, first), end = std::min(to, first + count);
      if (begin < end) out.write_array(part.rows + (begin - first) * row_, (end - begin) * row_);
      first += count;
    }
  }

  /// An unfiltered search's scans of codes: the fresh rows, then the probed lists of each inverted
  /// file. In parts run by opts_.run_parts when they hold at least split_rows rows (the scan
  /// streams its codes from memory at about one core's memory bandwidth: at 1M an idle second
  /// core made the ivf search 1.45 x faster), else one after another on this thread.
  void scan_unfiltered(const float* q, kernels::top_k& best) const {
    std::vector<segment> segments;
    size_t rows = fresh_live();
    if (rows > 0)
      segments.push_back(
          {fresh_vectors_.data() + fresh_head_ * row_, fresh_ids_.data() + fresh_head_, rows});
    if (ivf_ && ivf_->filed > 0) rows += probed_rows(*ivf_, q, segments);
    if (ivf_next_ && ivf_next_->filed > 0) rows += probed_rows(*ivf_next_, q, segments);
    const size_t parts = opts_.run_parts && opts_.split_rows > 0 && rows >= opts_.split_rows
                             ? std::min(search_parts(opts_), rows)
                             : 1;
    if (parts > 1) return scan_in_parts(q, segments, rows, parts, best);
    for (const auto& seg : segments)
      scan(q, seg.rows, seg.count, row_, seg.ids, nullptr, best);
  }

  /// Appends the probed lists of `ivf` to `segments`; returns their rows.
  size_t probed_rows(const ivf_state& ivf, const float* q, std::vector<segment>& segments) const {
    const auto order = probe_order(ivf, q);
    size_t rows = 0;
    for (size_t p = 0; p < nprobe(ivf); ++p) {
      for (const auto& seg : list_segments(ivf.lists[order[p]])) {
        if (seg.count == 0) continue;
        segments.push_back(seg);
        rows += seg.count;
      }
    }
    return rows;
  }

  /// Scans `segments` (`rows` rows in all) in `parts` parts of equal rows (part i the rows
  /// [rows * i / parts, rows * (i + 1) / parts) counted through the segments in order), each into
  /// a collector of its own, run by opts_.run_parts; then merges them into `best`.
  void scan_in_parts(const float* q, const std::vector<segment>& segments, size_t rows,
                     size_t parts, kernels::top_k& best) const {
    std::vector<kernels::top_k> found(parts, kernels::top_k{best.capacity()});
    opts_.run_parts(parts, [&](size_t i) {
      const size_t from = rows * i / parts, to = rows * (i + 1) / parts;
      size_t at = 0; // the first row of the segment, counted through all of them
      for (const auto& s : segments) {
        const size_t begin = std::max(from, at), end = std::min(to, at + s.count);
        if (begin < end)
          scan(q, s.rows + (begin - at) * row_, end - begin, row_, s.ids + (begin - at), nullptr,
               found[i]);
        at += s.count;
        if (at >= to) break;
      }
    });
    for (auto& f : found)
      for (const auto& h : f.take())
        best.push(h.id, h.score);
  }

  /// True once a page of list rows mapped from a snapshot could not be read back (it reads as
  /// zeroes now, and so does its copy).
  bool mapped_rows_failed() const {
    auto failed = [](const std::unique_ptr<ivf_state>& ivf) {
      return ivf && (ivf->mapped.failed() || ivf->mapped_tail.failed());
    };
    return rows_unreadable_ || failed(ivf_) || failed(ivf_next_);
  }

  static constexpr const char* unreadable_rows =
      "a page of list rows mapped from the index snapshot could not be read back (it reads as "
      "zeroes): searches may miss hits, and no snapshot is saved; the next open rebuilds the "
      "index from the vector keyspace if the snapshot stays unreadable";

  /// Copies the rows the lists borrow from a mapped snapshot into an arena of the index's own (an
  /// anonymous mapping with huge pages requested, each list at its offset in the section), one
  /// list per unit of `budget` (and one more per 64 rows), then unmaps the file. The open is done
  /// before this starts: searches use the mapped rows meanwhile. Once done, the rows are where a
  /// read would have put them — searches scan them on huge pages rather than the page cache's
  /// 4 KiB pages, which on this machine's virtual machine made E1 searches 1.4-3x slower
  /// (docs/BENCHMARKS.md, "Opening a store: the lists' rows mapped") — and the file is neither
  /// kept on the disk after a checkpoint replaced it nor read back after an eviction.
  size_t rehome_mapped_rows(size_t budget) {
    if (!ivf_ || (ivf_->mapped.empty() && ivf_->mapped_tail.empty())) return 0;
    auto& ivf = *ivf_;
    const auto* begin = reinterpret_cast<const float*>(ivf.mapped.data());
    const auto* end = begin + ivf.mapped.size() / sizeof(float);
    // Without a delta each list goes where the section had it; with one, both parts of each list
    // go to its place in `homes`.
    const size_t arena_floats =
        ivf.homes.empty() ? static_cast<size_t>(end - begin) : ivf.homes.back();
    try {
      if (ivf.arena.empty()) ivf.arena.resize(arena_floats);
    } catch (const std::bad_alloc&) {
      last_error_ = "no memory to copy the mapped list rows into; they stay mapped";
      return 0;
    }
    size_t done = 0;
    for (; ivf.rehome_next < ivf.lists.size() && done < budget; ++ivf.rehome_next) {
      auto& list = ivf.lists[ivf.rehome_next];
      if (ivf.homes.empty()) {
        if (!list.rows.borrows()) continue;
        const float* at = list.rows.parts()[0].rows;
        if (at == nullptr || at < begin || at >= end) continue;
        list.rows.rehome(ivf.arena.data() + (at - begin));
      } else {
        if (!list.rows.borrows()) continue;
        list.rows.rehome(ivf.arena.data() + ivf.homes[ivf.rehome_next]);
      }
      done += 1 + list.ids.size() / 64;
    }
    if (ivf.rehome_next == ivf.lists.size()) {
      rows_unreadable_ = rows_unreadable_ || ivf.mapped.failed() || ivf.mapped_tail.failed();
      ivf.mapped = {};
      ivf.mapped_tail = {};
      // No list borrows from the delta's rows any more: each was re-homed or joined.
      if (!ivf.homes.empty()) ivf.tail_arena = {};
      ivf.homes = {};
    }
    return done;
  }

  expected<void> save_ivf(const std::string& path) const {
    if (mapped_rows_failed()) return make_error(ec::io_error, unreadable_rows);
    ivf_snapshot_meta meta;
    meta.spec = spec_;
    // Rows already moved to a retrained inverted file are saved as fresh rows: a loaded index
    // files them under the old centroids and retrains again (training is not saved).
    meta.fresh_count = fresh_live() + (ivf_next_ ? ivf_next_->filed : 0);
    if (ivf_) {
      meta.lists = ivf_->lists.size();
      meta.filed = ivf_->filed;
      meta.trained_at = ivf_->trained_at;
    }
    snapshot_writer out{path, snapshot_structure::dense_ivf, encode_value(meta)};
    if (fresh_live() > 0) out.write_array(fresh_ids_.data() + fresh_head_, fresh_live());
    if (ivf_next_)
      for (const auto& list : ivf_next_->lists)
        out.write_array(list.ids.data(), list.ids.size());
    if (fresh_live() > 0)
      out.write_array(fresh_vectors_.data() + fresh_head_ * row_, fresh_live() * row_);
    if (ivf_next_)
      for (const auto& list : ivf_next_->lists)
        write_row_range(out, list.rows, 0, list.ids.size());
    if (ivf_) {
      out.write_array(ivf_->centroids.data(), ivf_->centroids.size());
      std::vector<uint32_t> lengths;
      lengths.reserve(ivf_->lists.size());
      for (const auto& list : ivf_->lists)
        lengths.push_back(static_cast<uint32_t>(list.ids.size()));
      out.write_array(lengths.data(), lengths.size());
      for (const auto& list : ivf_->lists)
        out.write_array(list.ids.data(), list.ids.size());
      for (const auto& list : ivf_->lists)
        write_row_range(out, list.rows, 0, list.ids.size());
    }
    // Rows read back as zeroes while being written must not become the index's snapshot.
    if (mapped_rows_failed()) return make_error(ec::io_error, unreadable_rows);
    auto committed = out.commit();
    // A snapshot taken while rows move to retrained lists saves those rows as fresh: no delta
    // can follow it.
    saved_base_.reset();
    if (committed && ivf_ && !ivf_next_) saved_base_ = current_base();
    return committed;
  }

  /// The part every dense snapshot begins with after its meta data: refuses a snapshot of
  /// another embedder or policy (format_mismatch), then reads the `count` fresh rows.
  expected<void> read_fresh_rows(snapshot_reader& in, const std::string& path,
                                 const embedder& saved, uint64_t count) {
    if (saved != spec_)
      return make_error(ec::format_mismatch, "index snapshot '" + path + "' holds embedder " +
                                                 describe_embedder(saved) + ", this index is " +
                                                 describe_embedder(spec_));
    if (count > in.remaining() / (sizeof(uuid) + row_ * sizeof(float)) ||
        !in.read_array(fresh_ids_, count) || !in.read_array(fresh_vectors_, count * row_))
      return in.corrupt("is truncated in its " + std::to_string(count) + " fresh vectors");
    return {};
  }

  /// Enters the fresh rows read by read_fresh_rows into the id map; a nil or repeated id is
  /// corruption.
  expected<void> locate_fresh_rows(snapshot_reader& in) {
    for (size_t i = 0; i < fresh_ids_.size(); ++i)
      if (fresh_ids_[i].is_nil() ||
          !where_.emplace(fresh_ids_[i], fresh_at(static_cast<uint32_t>(i))).second)
        return in.corrupt("lists fresh id " + fresh_ids_[i].to_string() + " twice or as nil");
    return {};
  }

  expected<void> read_ivf_snapshot(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes = in.open(path, snapshot_structure::dense_ivf);
    if (!meta_bytes) return meta_bytes.error();
    auto meta = decode_value<ivf_snapshot_meta>(*meta_bytes, "meta");
    if (!meta) return in.corrupt("has unreadable meta data: " + telos::describe(meta.error()));
    if (auto ok = read_fresh_rows(in, path, meta->spec, meta->fresh_count); !ok) return ok;
    const size_t row_bytes = sizeof(uuid) + row_ * sizeof(float);
    auto ivf = std::make_unique<ivf_state>();
    std::vector<uint32_t> lengths;
    if (meta->lists > 0) {
      if (meta->lists > in.remaining() / (row_ * sizeof(float) + sizeof(uint32_t)) ||
          !in.read_array(ivf->centroids, meta->lists * row_) ||
          !in.read_array(lengths, meta->lists))
        return in.corrupt("is truncated in its " + std::to_string(meta->lists) + " centroids");
      uint64_t total = 0;
      for (auto n : lengths)
        total += n;
      if (total != meta->filed || meta->filed > in.remaining() / row_bytes)
        return in.corrupt("has lists of " + std::to_string(total) + " rows in all, expected " +
                          std::to_string(meta->filed) + " (or is truncated)");
      ivf->lists.resize(lengths.size());
      for (size_t c = 0; c < lengths.size(); ++c)
        if (!in.read_array(ivf->lists[c].ids, lengths[c]))
          return in.corrupt("is truncated in the ids of list " + std::to_string(c));
      // The rows of every list lie one list after the other, as the arena holds them: mapped
      // where the file lies (large sections of a version-2 file), else one read straight into
      // the arena (no zeroing pass, no allocation per list); then each list borrows its part.
      const size_t row_floats = meta->filed * row_;
      float* at = nullptr;
      if (row_floats * sizeof(float) >= opts_.snapshot_map_bytes &&
          in.aligned_for(alignof(float))) {
        if (!in.map(ivf->mapped, row_floats * sizeof(float)))
          return in.corrupt("is truncated in the rows of its lists");
        at = reinterpret_cast<float*>(ivf->mapped.data());
      } else {
        ivf->arena.resize(row_floats);
        if (!in.read(ivf->arena.data(), ivf->arena.size() * sizeof(float)))
          return in.corrupt("is truncated in the rows of its lists");
        at = ivf->arena.data();
      }
      for (size_t c = 0; c < lengths.size(); ++c) {
        ivf->lists[c].rows.borrow(at, size_t{lengths[c]} * row_);
        at += size_t{lengths[c]} * row_;
      }
      ivf->filed = meta->filed;
    }
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    where_.reserve(fresh_ids_.size() + ivf->filed);
    if (auto ok = locate_fresh_rows(in); !ok) return ok;
    if (meta->lists == 0) return {};
    for (size_t c = 0; c < ivf->lists.size(); ++c) {
      const auto& ids = ivf->lists[c].ids;
      for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i].is_nil() ||
            !where_.emplace(ids[i], filed_at(static_cast<uint32_t>(i), static_cast<uint32_t>(c), 0))
                 .second)
          return in.corrupt("lists id " + ids[i].to_string() + " twice or as nil");
    }
    ivf->trained_at = meta->trained_at;
    ivf_ = std::move(ivf);
    return {};
  }

  /// Reads a delta (save_delta) over the snapshot read_ivf_snapshot just loaded (base_ holds its
  /// lengths): its fresh rows replace the snapshot's, the base's rows it names as removed go, and
  /// each list gets the rows the delta added as its second part, mapped where the snapshot's rows
  /// are mapped, else read into one arena. A delta of another snapshot (other list count or
  /// lengths, or a removed row the snapshot's list does not hold) is ec::format_mismatch.
  expected<void> read_ivf_delta(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes = in.open(
        path, {snapshot_structure::dense_ivf_delta, snapshot_structure::dense_ivf_delta_removals});
    if (!meta_bytes) return meta_bytes.error();
    auto meta = decode_value<ivf_delta_meta>(*meta_bytes, "meta");
    if (!meta) return in.corrupt("has unreadable meta data: " + telos::describe(meta.error()));
    auto other_base = [&](const std::string& what) {
      return make_error(ec::format_mismatch,
                        "index delta '" + path + "' was written for another snapshot: " + what);
    };
    if (!ivf_ || meta->lists != ivf_->lists.size())
      return other_base("it has " + std::to_string(meta->lists) + " lists, the snapshot " +
                        std::to_string(ivf_ ? ivf_->lists.size() : 0));
    if (meta->base_filed != ivf_->filed)
      return other_base("its base holds " + std::to_string(meta->base_filed) +
                        " rows in lists, the snapshot " + std::to_string(ivf_->filed));
    // The delta's fresh rows are all the fresh rows at its time: the snapshot's go.
    for (size_t i = fresh_head_; i < fresh_ids_.size(); ++i)
      where_.erase(fresh_ids_[i]);
    fresh_ids_.clear();
    fresh_vectors_.clear();
    fresh_head_ = 0;
    if (auto ok = read_fresh_rows(in, path, meta->spec, meta->fresh_count); !ok) return ok;
    auto& ivf = *ivf_;
    const size_t lists = ivf.lists.size();
    std::vector<uint32_t> base_lengths, added;
    if (!in.read_array(base_lengths, lists)) return in.corrupt("is truncated in its list lengths");
    for (size_t c = 0; c < lists; ++c)
      if (base_lengths[c] != ivf.lists[c].ids.size())
        return other_base("list " + std::to_string(c) + " had " + std::to_string(base_lengths[c]) +
                          " rows in its base, the snapshot " +
                          std::to_string(ivf.lists[c].ids.size()));
    // The base's rows removed since, list after list (structure dense_ivf_delta_removals).
    std::vector<uint32_t> removed_counts(lists, 0);
    std::vector<uuid> removed;
    if (in.structure() == snapshot_structure::dense_ivf_delta_removals) {
      if (!in.read_array(removed_counts, lists))
        return in.corrupt("is truncated in its removed rows' counts");
      uint64_t count = 0;
      for (size_t c = 0; c < lists; ++c) {
        if (removed_counts[c] > base_lengths[c])
          return in.corrupt("removes " + std::to_string(removed_counts[c]) + " rows of list " +
                            std::to_string(c) + ", which held " + std::to_string(base_lengths[c]));
        count += removed_counts[c];
      }
      if (count == 0 || !in.read_array(removed, count))
        return in.corrupt("is truncated in its removed rows' ids (or names none)");
    }
    if (!in.read_array(added, lists)) return in.corrupt("is truncated in its list lengths");
    uint64_t total = 0;
    for (auto n : added)
      total += n;
    const size_t row_bytes = sizeof(uuid) + row_ * sizeof(float);
    if (total != meta->added || total > in.remaining() / row_bytes)
      return in.corrupt("adds " + std::to_string(total) + " rows to its lists, expected " +
                        std::to_string(meta->added) + " (or is truncated)");
    std::vector<uuid> added_ids;
    if (!in.read_array(added_ids, total)) return in.corrupt("is truncated in the ids of its lists");
    const size_t row_floats = total * row_;
    float* at = nullptr;
    if (!ivf.mapped.empty() && row_floats * sizeof(float) >= opts_.snapshot_map_bytes &&
        in.aligned_for(alignof(float))) {
      if (!in.map(ivf.mapped_tail, row_floats * sizeof(float)))
        return in.corrupt("is truncated in the rows of its lists");
      at = reinterpret_cast<float*>(ivf.mapped_tail.data());
    } else {
      ivf.tail_arena.resize(row_floats);
      if (row_floats > 0 && !in.read(ivf.tail_arena.data(), row_floats * sizeof(float)))
        return in.corrupt("is truncated in the rows of its lists");
      at = ivf.tail_arena.data();
    }
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    // The removals first (swap-removals inside the snapshot's part of each list, recorded in
    // base_ for the next delta), then the added rows after what is left.
    const auto* gone = removed.data();
    for (size_t c = 0; c < lists; ++c)
      for (const auto* end = gone + removed_counts[c]; gone != end; ++gone) {
        auto it = where_.find(*gone);
        if (it == where_.end() || !it->second.in_graph || it->second.list != c)
          return other_base("it removes " + gone->to_string() + " from list " + std::to_string(c) +
                            ", which the snapshot's list does not hold");
        delete_placed(it->second);
        where_.erase(it);
      }
    const auto* id = added_ids.data();
    std::vector<size_t> starts(lists);
    for (size_t c = 0; c < lists; ++c) {
      auto& list = ivf.lists[c];
      starts[c] = list.ids.size();
      list.ids.insert(list.ids.end(), id, id + added[c]);
      id += added[c];
      list.rows.borrow_tail(at, size_t{added[c]} * row_);
      at += size_t{added[c]} * row_;
    }
    // Where maintain() puts each list's two parts when it copies the mapped rows.
    if (!ivf.mapped.empty()) {
      ivf.homes.resize(lists + 1);
      ivf.homes[0] = 0;
      for (size_t c = 0; c < lists; ++c)
        ivf.homes[c + 1] = ivf.homes[c] + ivf.lists[c].ids.size() * row_;
    }
    ivf.filed += total;
    where_.reserve(fresh_ids_.size() + ivf.filed);
    if (auto ok = locate_fresh_rows(in); !ok) return ok;
    for (size_t c = 0; c < lists; ++c) {
      const auto& ids = ivf.lists[c].ids;
      for (size_t i = starts[c]; i < ids.size(); ++i)
        if (ids[i].is_nil() ||
            !where_
                 .emplace(ids[i], filed_at(static_cast<uint32_t>(i), static_cast<uint32_t>(c),
                                           ivf.generation))
                 .second)
          return in.corrupt("lists id " + ids[i].to_string() + " twice or as nil");
    }
    return {};
  }

  /// Copies an embedding into a row (cut or zero-padded to dim), normalised for cosine, encoded
  /// by the quantization.
  void store_row(float* row, const embedding& e) {
    if (quant_ == quantization::none) return fill_floats(row, e.values);
    scratch_.resize(dim_);
    fill_floats(scratch_.data(), e.values);
    encode(scratch_.data(), row);
  }

  void fill_floats(float* out, const std::vector<float>& values) const {
    size_t n = std::min(values.size(), dim_);
    std::copy(values.begin(), values.begin() + static_cast<ptrdiff_t>(n), out);
    std::fill(out + n, out + dim_, 0.0f);
    if (spec_.metric == metric::cosine) kernels::normalize(out, dim_);
  }

  /// The code of dim floats into a row of row_ floats.
  void encode(const float* values, float* row) const {
    std::fill(row, row + row_, 0.0f);
    if (quant_ == quantization::binary)
      return kernels::binarize(values, dim_, reinterpret_cast<uint64_t*>(row));
    auto codes = reinterpret_cast<int8_t*>(row + int8_header_floats);
    float scale = kernels::quantize_int8(values, dim_, codes);
    row[0] = scale;
    row[1] = scale * scale * static_cast<float>(kernels::dot_int8(codes, codes, dim_));
  }

  /// The query as the stored rows are: normalised for cosine, encoded when quantised.
  const float* prepare(const embedding& query, std::vector<float>& prepared) const {
    if (quant_ == quantization::none) {
      if (spec_.metric != metric::cosine) return query.values.data();
      prepared = query.values;
      kernels::normalize(prepared.data(), dim_);
      return prepared.data();
    }
    std::vector<float> values(dim_);
    fill_floats(values.data(), query.values);
    prepared.assign(row_, 0.0f);
    encode(values.data(), prepared.data());
    return prepared.data();
  }

  /// Higher is better: the exact score for f32 rows; for codes an estimate that ranks like it
  /// (int8: the dot product or negated L2 distance of the decoded vectors; binary: dim minus
  /// twice the Hamming distance, a multiple of the cosine's estimate).
  float similarity(const float* q, const float* row) const {
    switch (quant_) {
    case quantization::none:
      break;
    case quantization::int8:
      if (spec_.metric == metric::l2) return -std::sqrt(int8_row_squared_l2(q, row, dim_));
      return int8_row_dot(q, row, dim_);
    case quantization::binary:
      return static_cast<float>(dim_) - 2.0f * static_cast<float>(binary_row_hamming(q, row, dim_));
    }
    if (spec_.metric == metric::l2) return -std::sqrt(kernels::squared_l2(q, row, dim_));
    return kernels::dot(q, row, dim_);
  }

  /// The best k of `candidates` by their exact scores against the f32 originals. Without a reader
  /// (or when it fails) the codes' estimates stand; an id whose original is gone (removed after
  /// this search read the index) is dropped.
  std::vector<hit> rescore(const embedding& query, std::vector<hit> candidates, size_t k) const {
    if (opts_.visit_originals) {
      // Each original scored where the reader decoded it; one that is gone has no score.
      std::vector<uuid> ids;
      ids.reserve(candidates.size());
      for (const auto& h : candidates)
        ids.push_back(h.id);
      const size_t n = std::min<size_t>(query.values.size(), dim_);
      auto scores = visited_scores(
          opts_, spec_, ids, [&](float* values, size_t count) -> std::optional<float> {
            if (count != dim_) return std::nullopt;
            return exact_dense_score(spec_, query.values.data(), values, n);
          });
      if (scores) {
        kernels::top_k best{k};
        for (size_t i = 0; i < candidates.size(); ++i)
          if ((*scores)[i]) best.push(candidates[i].id, *(*scores)[i]);
        return best.take();
      }
      if (candidates.size() > k) candidates.resize(k);
      return candidates;
    }
    expected<std::vector<std::optional<embedding>>> originals{
        std::vector<std::optional<embedding>>{}};
    if (opts_.originals) {
      std::vector<uuid> ids;
      ids.reserve(candidates.size());
      for (const auto& h : candidates)
        ids.push_back(h.id);
      originals = opts_.originals(spec_, ids);
    }
    if (!opts_.originals || !originals || originals->size() != candidates.size()) {
      if (candidates.size() > k) candidates.resize(k);
      return candidates;
    }
    kernels::top_k best{k};
    for (size_t i = 0; i < candidates.size(); ++i)
      if (const auto& original = (*originals)[i])
        best.push(candidates[i].id, exact_score(spec_, query, *original));
    return best.take();
  }

  /// Exact scores of `count` rows (`stride` floats apart) into `best`; nil ids (deleted graph
  /// elements) are skipped, and `allow` is asked only about rows that could enter.
  void scan(const float* q, const float* rows, size_t count, size_t stride, const uuid* ids,
            const id_predicate* allow, kernels::top_k& best) const {
    constexpr size_t block = 256;
    float scores[block];
    for (size_t start = 0; start < count; start += block) {
      size_t n = std::min(block, count - start);
      const float* first = rows + start * stride;
      if (quant_ != quantization::none) {
        for (size_t i = 0; i < n; ++i)
          scores[i] = similarity(q, first + i * stride);
      } else if (spec_.metric == metric::l2) {
        kernels::squared_l2_rows(q, first, n, dim_, stride, scores);
        for (size_t i = 0; i < n; ++i)
          scores[i] = -std::sqrt(scores[i]);
      } else {
        kernels::dot_rows(q, first, n, dim_, stride, scores);
      }
      for (size_t i = 0; i < n; ++i) {
        if (!best.admits(scores[i])) continue;
        const uuid& id = ids[start + i];
        if (id.is_nil() || (allow != nullptr && !(*allow)(id))) continue;
        best.push(id, scores[i]);
      }
    }
  }

  void scan_graph(const float* q, const id_predicate* allow, kernels::top_k& best) const {
    if (graph_->size() == 0) return;
    scan(q, graph_->vector(0), graph_->size(), graph_->stride(), graph_->ids.data(), allow, best);
  }

  /// Labels hnswlib returns for the query, nearest first is not needed (scores are recomputed).
  /// Empty when hnswlib threw, which only a corrupted graph makes it do.
  std::vector<uint32_t> graph_candidates(const float* q, size_t count, bool& failed) const {
    std::vector<uint32_t> labels;
    try {
      auto found = graph_->graph->searchKnn(q, count);
      labels.reserve(found.size());
      for (; !found.empty(); found.pop())
        labels.push_back(static_cast<uint32_t>(found.top().second));
    } catch (const std::exception&) {
      failed = true;
      labels.clear();
    }
    return labels;
  }

  void search_graph(const float* q, size_t k, kernels::top_k& best) const {
    bool failed = false;
    auto labels = graph_candidates(q, k, failed);
    if (failed) return scan_graph(q, nullptr, best);
    for (auto label : labels) {
      const uuid& id = graph_->ids[label];
      if (!id.is_nil()) best.push(id, similarity(q, graph_->vector(label)));
    }
  }

  /// Over-fetches from the graph until k allowed hits are found, or scans exactly when the observed
  /// pass rate says that is cheaper.
  void search_graph_filtered(const float* q, size_t k, const id_predicate& allow,
                             kernels::top_k& best) const {
    size_t live = graph_->live();
    // Asking for ef results costs the same as asking for k (hnswlib searches with max(ef, k)).
    size_t fetch = std::min(live, std::max(2 * k, search_ef()));
    std::vector<hit> passed;
    while (true) {
      bool failed = false;
      auto labels = graph_candidates(q, fetch, failed);
      if (failed || labels.empty()) return scan_graph(q, &allow, best);
      passed.clear();
      for (auto label : labels) {
        const uuid& id = graph_->ids[label];
        if (!id.is_nil() && allow(id))
          passed.push_back(hit{id, similarity(q, graph_->vector(label))});
      }
      if (passed.size() >= k || fetch >= live) break;
      double pass_rate = std::max<double>(static_cast<double>(passed.size()), 0.5) /
                         static_cast<double>(labels.size());
      auto needed = static_cast<size_t>(std::ceil(1.5 * static_cast<double>(k) / pass_rate));
      double hnsw_cost = hnsw_distances_per_result * static_cast<double>(needed);
      double exact_cost = static_cast<double>(live) * (predicate_cost_in_distances + pass_rate);
      if (hnsw_cost >= exact_cost) return scan_graph(q, &allow, best);
      fetch = std::min(live, std::max(needed, 2 * fetch));
    }
    for (const auto& h : passed)
      best.push(h.id, h.score);
  }

  void delete_fresh(size_t position) {
    size_t last = fresh_ids_.size() - 1;
    if (position != last) {
      std::copy_n(fresh_vectors_.data() + last * row_, row_,
                  fresh_vectors_.data() + position * row_);
      fresh_ids_[position] = fresh_ids_[last];
      where_[fresh_ids_[position]].position = static_cast<uint32_t>(position);
    }
    fresh_ids_.pop_back();
    fresh_vectors_.resize(fresh_vectors_.size() - row_);
    compact_fresh();
  }

  void delete_from_graph(uint32_t label) {
    mark_deleted(*graph_, label);
    if (rebuild_ && rebuild_->moved_to[label] != no_label)
      mark_deleted(rebuild_->next, rebuild_->moved_to[label]);
  }

  static void mark_deleted(graph_state& g, uint32_t label) {
    g.ids[label] = uuid{};
    ++g.deleted;
    try {
      g.graph->markDelete(label);
    } catch (const std::exception&) {
      // Only an unknown or already deleted label makes hnswlib throw here; the nil id keeps the
      // element out of our results either way.
    }
  }

  /// Drops the rows maintain() already moved into the graph and returns spare capacity.
  void compact_fresh() {
    if (fresh_head_ > 0 && fresh_head_ * 2 >= fresh_ids_.size()) {
      size_t live = fresh_live();
      std::copy(fresh_vectors_.begin() + static_cast<ptrdiff_t>(fresh_head_ * row_),
                fresh_vectors_.end(), fresh_vectors_.begin());
      std::copy(fresh_ids_.begin() + static_cast<ptrdiff_t>(fresh_head_), fresh_ids_.end(),
                fresh_ids_.begin());
      fresh_vectors_.resize(live * row_);
      fresh_ids_.resize(live);
      fresh_head_ = 0;
      for (size_t i = 0; i < live; ++i)
        where_[fresh_ids_[i]].position = static_cast<uint32_t>(i);
    }
    // A bulk load leaves a large buffer behind once maintain() drained it.
    if (fresh_ids_.capacity() > 2 * fresh_ids_.size() + 1024) {
      fresh_ids_.shrink_to_fit();
      fresh_vectors_.shrink_to_fit();
    }
  }

  std::optional<graph_state> new_graph(size_t capacity) {
    try {
      graph_state g;
      g.graph = std::make_unique<graph_type>(space_.get(), std::max<size_t>(capacity, 16),
                                             opts_.hnsw_m, opts_.hnsw_ef_construction, opts_.seed);
      g.graph->ef_ = search_ef();
      return g;
    } catch (const std::exception& e) {
      last_error_ = what_of(e);
      return std::nullopt;
    }
  }

  /// Adds a vector under the next label, growing the graph by at least `pending` elements (or a
  /// quarter) when it is full; no_label (and last_error_) when hnswlib failed.
  uint32_t insert(graph_state& g, const float* vector, const uuid& id, size_t pending) {
    auto& h = *g.graph;
    auto label = static_cast<uint32_t>(g.size());
    try {
      if (h.cur_element_count >= h.max_elements_)
        h.resizeIndex(h.max_elements_ + std::max({pending, h.max_elements_ / 4, size_t{16}}));
      g.ids.reserve(h.max_elements_);
      h.addPoint(vector, label);
      g.ids.push_back(id);
      g.link_bytes += static_cast<size_t>(h.element_levels_[label]) * h.size_links_per_element_;
      return label;
    } catch (const std::exception& e) {
      last_error_ = what_of(e);
      // When hnswlib counted the element before it failed, keep labels aligned with its internal
      // ids: a deleted placeholder with no upper-layer links.
      if (h.cur_element_count > g.size()) {
        if (h.linkLists_[label] == nullptr) h.element_levels_[label] = 0;
        g.ids.push_back(uuid{});
        ++g.deleted;
        try {
          h.markDeletedInternal(label);
        } catch (const std::exception&) {
          // The placeholder's nil id keeps it out of results.
        }
      }
      return no_label;
    }
  }

  void start_rebuild() {
    auto next = new_graph(graph_->live() + fresh_live());
    if (!next) return;
    rebuild_ = std::make_unique<rebuild_state>();
    rebuild_->next = std::move(*next);
    rebuild_->moved_to.assign(graph_->size(), no_label);
  }

  size_t advance_rebuild(size_t budget) {
    auto& rb = *rebuild_;
    const auto& current = *graph_;
    size_t done = 0;
    while (rb.cursor < current.size() && done < budget) {
      const uuid id = current.ids[rb.cursor];
      if (!id.is_nil()) {
        auto label = insert(rb.next, current.vector(rb.cursor), id, current.live());
        if (label == no_label) return done;
        rb.moved_to[rb.cursor] = label;
        ++done;
      }
      ++rb.cursor;
    }
    if (rb.cursor == current.size()) {
      for (size_t label = 0; label < current.size(); ++label)
        if (!current.ids[label].is_nil()) where_[current.ids[label]].position = rb.moved_to[label];
      graph_ = std::make_unique<graph_state>(std::move(rb.next));
      rebuild_.reset();
    }
    return done;
  }

  expected<file_digest> save_graph(const std::string& graph_path) const {
    try {
      graph_->graph->saveIndex(graph_path);
    } catch (const std::exception& e) {
      return make_error(ec::io_error,
                        "cannot write HNSW graph '" + graph_path + "': " + what_of(e));
    }
    auto synced = sync_file(graph_path);
    if (!synced) return synced.error();
    auto digest = digest_file(graph_path);
    if (!digest) return digest.error();
    // hnswlib writes through an ofstream whose failures it never checks.
    if (digest->size != graph_->saved_bytes())
      return make_error(ec::io_error, "HNSW graph '" + graph_path + "' has " +
                                          std::to_string(digest->size) + " bytes, expected " +
                                          std::to_string(graph_->saved_bytes()) + " (disk full?)");
    return digest;
  }

  static void remove_other_graph_files(const std::string& path, const std::string& keep) {
    namespace fs = std::filesystem;
    auto prefix = fs::path(path).filename().string() + ".hnsw.";
    auto dir = fs::path(path).parent_path();
    std::error_code ec;
    for (fs::directory_iterator it{dir.empty() ? fs::path{"."} : dir, ec}, end; !ec && it != end;
         it.increment(ec)) {
      auto name = it->path().filename().string();
      if (name.compare(0, prefix.size(), prefix) == 0 && name != keep) {
        std::error_code ignored;
        fs::remove(it->path(), ignored);
      }
    }
  }

  void reset() {
    fresh_vectors_.clear();
    fresh_vectors_.shrink_to_fit();
    fresh_ids_.clear();
    fresh_ids_.shrink_to_fit();
    fresh_head_ = 0;
    rebuild_.reset();
    graph_.reset();
    ivf_.reset();
    ivf_next_.reset();
    ivf_move_list_ = 0;
    ivf_training_.reset();
    training_out_ = false;
    where_.clear();
    last_error_.clear();
    ++non_append_changes_;
    base_.reset();
    saved_base_.reset();
  }

  expected<void> read_snapshot(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes = in.open(path, snapshot_structure::dense);
    if (!meta_bytes) return meta_bytes.error();
    auto meta = decode_value<dense_snapshot_meta>(*meta_bytes, "meta");
    if (!meta) return in.corrupt("has unreadable meta data: " + telos::describe(meta.error()));
    if (auto ok = read_fresh_rows(in, path, meta->spec, meta->fresh_count); !ok) return ok;
    std::vector<uuid> graph_ids;
    if (!in.read_array(graph_ids, meta->graph_count))
      return in.corrupt("is truncated in its " + std::to_string(meta->graph_count) + " graph ids");
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    where_.reserve(fresh_ids_.size() + graph_ids.size());
    if (auto ok = locate_fresh_rows(in); !ok) return ok;
    if (!meta->has_graph) return {};
    auto graph = read_graph(in, *meta, std::move(graph_ids));
    if (!graph) return graph.error();
    for (size_t label = 0; label < graph->size(); ++label) {
      const uuid& id = graph->ids[label];
      if (!id.is_nil() && !where_.emplace(id, graph_at(static_cast<uint32_t>(label))).second)
        return in.corrupt("lists id " + id.to_string() + " twice");
    }
    graph_ = std::make_unique<graph_state>(std::move(*graph));
    return {};
  }

  expected<graph_state> read_graph(const snapshot_reader& in, const dense_snapshot_meta& meta,
                                   std::vector<uuid> ids) {
    namespace fs = std::filesystem;
    const auto& name = meta.graph_file;
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      return in.corrupt("names an invalid graph file '" + name + "'");
    auto graph_path = (fs::path(in.path()).parent_path() / name).string();
    auto digest = digest_file(graph_path);
    if (!digest)
      return in.corrupt("needs graph file '" + graph_path +
                        "': " + telos::describe(digest.error()));
    if (digest->size != meta.graph_bytes || digest->xxh3 != meta.graph_xxh3)
      return in.corrupt("has graph file '" + graph_path + "' of " + std::to_string(digest->size) +
                        " bytes whose checksum or size differs from the recorded " +
                        std::to_string(meta.graph_bytes) + " bytes");
    graph_state g;
    g.ids = std::move(ids);
    // The empty constructor leaves members unset that loadIndex does not assign before it can
    // throw; give them values the destructor can cope with.
    g.graph = std::make_unique<graph_type>(space_.get());
    auto& h = *g.graph;
    h.data_level0_memory_ = nullptr;
    h.linkLists_ = nullptr;
    h.visited_list_pool_ = nullptr;
    h.cur_element_count = 0;
    h.num_deleted_ = 0;
    h.metric_distance_computations = 0;
    h.metric_hops = 0;
    try {
      h.loadIndex(graph_path, space_.get(), std::max<size_t>(g.ids.size() + fresh_ids_.size(), 16));
    } catch (const std::exception& e) {
      if (h.linkLists_ == nullptr || h.element_levels_.size() < h.cur_element_count)
        h.cur_element_count = 0;
      return in.corrupt("has a graph file hnswlib cannot read: " + what_of(e));
    }
    if (h.cur_element_count != g.ids.size() ||
        h.size_data_per_element_ != h.size_links_level0_ + row_ * sizeof(float) + sizeof(size_t) ||
        h.offsetData_ != h.size_links_level0_ || h.offsetLevel0_ != 0 ||
        h.label_offset_ != h.offsetData_ + row_ * sizeof(float))
      return in.corrupt("has a graph file of " + std::to_string(h.cur_element_count) +
                        " elements whose layout does not match " + std::to_string(g.ids.size()) +
                        " ids of rows of " + std::to_string(row_ * sizeof(float)) + " bytes");
    for (size_t label = 0; label < g.ids.size(); ++label) {
      auto internal = static_cast<unsigned>(label);
      if (h.getExternalLabel(internal) != label ||
          h.isMarkedDeleted(internal) != g.ids[label].is_nil())
        return in.corrupt("has graph element " + std::to_string(label) +
                          " whose label or deletion mark disagrees with the snapshot");
      g.deleted += g.ids[label].is_nil() ? 1 : 0;
      g.link_bytes += static_cast<size_t>(h.element_levels_[label]) * h.size_links_per_element_;
    }
    // loadIndex counts deletions on top of an unset counter and does not seed the level generator;
    // both matter for later insertions.
    h.num_deleted_ = g.deleted;
    h.ef_ = opts_.hnsw_ef_search != 0 ? opts_.hnsw_ef_search
                                      : default_search_ef(g.ids.size() - g.deleted);
    h.level_generator_.seed(static_cast<unsigned>(opts_.seed + g.ids.size()));
    h.update_probability_generator_.seed(static_cast<unsigned>(opts_.seed + g.ids.size() + 1));
    return g;
  }

  embedder spec_;
  index_options opts_;
  size_t dim_;
  quantization quant_;
  /// Floats per stored row: dim for f32, fewer for a code.
  size_t row_;
  size_t oversample_ = 1;
  /// store_row's normalised copy of a vector about to be encoded.
  std::vector<float> scratch_;
  /// file_row's scores of a row against the centroids.
  std::vector<float> centroid_scratch_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  /// Rows not (yet) in the graph, row_ floats each, normalised for cosine. Rows before fresh_head_
  /// were moved into the graph and are dropped by compact_fresh().
  float_buffer fresh_vectors_;
  std::vector<uuid> fresh_ids_;
  size_t fresh_head_ = 0;
  std::unique_ptr<graph_state> graph_;
  std::unique_ptr<rebuild_state> rebuild_;
  /// Policy ivf: the inverted file once trained, the k-means in progress before.
  std::unique_ptr<ivf_state> ivf_;
  /// While retrained centroids take over: the new inverted file, and the old list rows move
  /// from next.
  std::unique_ptr<ivf_state> ivf_next_;
  size_t ivf_move_list_ = 0;
  std::unique_ptr<kmeans_training> ivf_training_;
  /// Vectors sampled from when the running training started.
  size_t ivf_training_at_ = 0;
  /// The training is out with the owner (begin_training) until end_training().
  bool training_out_ = false;
  id_table<location> where_;
  /// When the id map grows (id_map.hpp): its own point, not every index's at once.
  double id_map_share_ = id_map_growth_share(spec_.name);
  std::string last_error_;
  /// Set when rows copied out of a mapping had a page that could not be read (mapped_rows_failed
  /// stays true after the mapping is gone).
  bool rows_unreadable_ = false;
  /// Changes to the inverted file other than appends to and removals from its lists (a
  /// retraining, rows moving to the retrained lists, a reset): a delta needs this unchanged since
  /// its base.
  uint64_t non_append_changes_ = 0;
  /// The snapshot in force that deltas are relative to (the last one loaded, or saved and kept);
  /// the one the last save() wrote, until base_kept() makes it the base.
  std::optional<delta_base> base_;
  mutable std::optional<delta_base> saved_base_;
};

} // namespace

size_t default_search_ef(size_t live) {
  if (live <= search_ef_from) return search_ef_base;
  auto grown = static_cast<double>(search_ef_base) *
               std::pow(static_cast<double>(live) / static_cast<double>(search_ef_from), 0.75);
  return std::min(search_ef_max, static_cast<size_t>(std::ceil(grown)));
}

size_t default_ivf_nprobe(size_t lists) {
  return std::max<size_t>(ivf_nprobe_min, (lists + ivf_nprobe_divisor - 1) / ivf_nprobe_divisor);
}

std::unique_ptr<vector_index> make_dense_index(const embedder& spec, const index_options& opts) {
  return std::make_unique<dense_index>(spec, opts);
}

} // namespace telos::storage
