// Multi-vector (late interaction) embeddings: exact MaxSim over every stored memory. Token rows are
// normalised at insert and kept in one contiguous array, so a search streams through memory once.
// Removal leaves the rows of the removed memory behind until a compaction copies the live ones
// together.
#include "telos/storage/index_kinds.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/vector_kernels.hpp"

#include <algorithm>
#include <unordered_map>

namespace telos::storage {

namespace {

/// maintain() compacts once more than this share of token rows is dead.
constexpr size_t maxsim_compact_dead_percent = 30;
/// Writes compact without waiting for maintain() once dead rows outnumber live ones (and are this
/// many), so an owner that never calls maintain() still wastes at most half.
constexpr size_t write_path_compact_minimum_rows = 4096;

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

class maxsim_index final : public vector_index {
public:
  maxsim_index(const embedder& spec, const index_options&) : spec_(spec), dim_(spec.dim) {}

  const embedder& spec() const override { return spec_; }

  void upsert(const uuid& id, const embedding& e) override {
    auto it = slot_of_.find(id);
    if (it != slot_of_.end()) {
      drop(it->second);
      slot_of_.erase(it);
    }
    // Whole tokens only (validation guarantees the size is a multiple of dim).
    size_t tokens = dim_ == 0 ? 0 : e.values.size() / dim_;
    document doc{id, rows(), static_cast<uint32_t>(tokens)};
    tokens_.insert(tokens_.end(), e.values.begin(),
                   e.values.begin() + static_cast<ptrdiff_t>(tokens * dim_));
    for (size_t t = 0; t < tokens; ++t)
      kernels::normalize(tokens_.data() + (doc.first + t) * dim_, dim_);
    slot_of_[id] = static_cast<uint32_t>(documents_.size());
    documents_.push_back(doc);
    compact_if(dead_rows_ > rows() - dead_rows_ && dead_rows_ >= write_path_compact_minimum_rows);
  }

  bool remove(const uuid& id) override {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) return false;
    drop(it->second);
    slot_of_.erase(it);
    compact_if(dead_rows_ > rows() - dead_rows_ && dead_rows_ >= write_path_compact_minimum_rows);
    return true;
  }

  bool contains(const uuid& id) const override { return slot_of_.count(id) != 0; }

  std::vector<hit> search(const embedding& query, size_t k,
                          const id_predicate* allow) const override {
    std::vector<float> q;
    if (k == 0 || documents_.empty() || !prepare(query, q)) return {};
    size_t query_tokens = q.size() / dim_;
    kernels::top_k best{k};
    for (const auto& doc : documents_) {
      float s = kernels::maxsim(q.data(), query_tokens, row(doc.first), doc.tokens, dim_);
      if (!best.admits(s) || (allow != nullptr && !(*allow)(doc.id))) continue;
      best.push(doc.id, s);
    }
    return best.take();
  }

  std::optional<float> score(const embedding& query, const uuid& id) const override {
    auto it = slot_of_.find(id);
    std::vector<float> q;
    if (it == slot_of_.end() || !prepare(query, q)) return std::nullopt;
    const auto& doc = documents_[it->second];
    return kernels::maxsim(q.data(), q.size() / dim_, row(doc.first), doc.tokens, dim_);
  }

  size_t maintain(size_t) override {
    compact_if(dead_rows_ > 0 && dead_rows_ * 100 > rows() * maxsim_compact_dead_percent);
    return 0;
  }

  void set_ef_search(size_t) override {}

  index_stats stats() const override {
    index_stats s;
    s.vectors = documents_.size();
    s.memory_bytes = tokens_.capacity() * sizeof(float) + documents_.capacity() * sizeof(document) +
                     hash_map_bytes(slot_of_);
    s.structure = "maxsim";
    return s;
  }

  expected<void> save(const std::string& path) const override {
    maxsim_snapshot_meta meta;
    meta.spec = spec_;
    meta.documents = documents_.size();
    std::vector<uuid> ids;
    std::vector<uint32_t> counts;
    ids.reserve(documents_.size());
    counts.reserve(documents_.size());
    for (const auto& doc : documents_) {
      ids.push_back(doc.id);
      counts.push_back(doc.tokens);
      meta.tokens += doc.tokens;
    }
    snapshot_writer out{path, snapshot_structure::maxsim, encode_value(meta)};
    out.write_array(ids.data(), ids.size());
    out.write_array(counts.data(), counts.size());
    for (const auto& doc : documents_)
      if (doc.tokens > 0) out.write_array(row(doc.first), size_t{doc.tokens} * dim_);
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
    /// First token row in tokens_.
    size_t first;
    uint32_t tokens;
  };

  size_t rows() const { return dim_ == 0 ? 0 : tokens_.size() / dim_; }
  const float* row(size_t r) const { return tokens_.data() + r * dim_; }

  /// The query's tokens, each normalised; false when it is not a whole number of tokens.
  bool prepare(const embedding& query, std::vector<float>& out) const {
    if (dim_ == 0 || query.values.empty() || query.values.size() % dim_ != 0) return false;
    out = query.values;
    for (size_t t = 0; t < out.size() / dim_; ++t)
      kernels::normalize(out.data() + t * dim_, dim_);
    return true;
  }

  /// Swap-removes the document of `slot`; its rows stay behind as dead rows.
  void drop(uint32_t slot) {
    dead_rows_ += documents_[slot].tokens;
    if (slot + 1 != documents_.size()) {
      documents_[slot] = documents_.back();
      slot_of_[documents_[slot].id] = slot;
    }
    documents_.pop_back();
  }

  /// Copies the live rows together, in document order.
  void compact_if(bool due) {
    if (!due) return;
    std::vector<float> packed;
    packed.reserve((rows() - dead_rows_) * dim_);
    for (auto& doc : documents_) {
      size_t first = packed.size() / dim_;
      packed.insert(packed.end(), row(doc.first), row(doc.first) + size_t{doc.tokens} * dim_);
      doc.first = first;
    }
    tokens_.swap(packed);
    dead_rows_ = 0;
  }

  void reset() {
    tokens_.clear();
    tokens_.shrink_to_fit();
    documents_.clear();
    slot_of_.clear();
    dead_rows_ = 0;
  }

  expected<void> read_snapshot(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes = in.open(path, snapshot_structure::maxsim);
    if (!meta_bytes) return meta_bytes.error();
    auto meta = decode_value<maxsim_snapshot_meta>(*meta_bytes, "meta");
    if (!meta) return in.corrupt("has unreadable meta data: " + telos::describe(meta.error()));
    if (meta->spec != spec_)
      return make_error(ec::format_mismatch, "index snapshot '" + path + "' holds embedder " +
                                                 describe_embedder(meta->spec) +
                                                 ", this index is " + describe_embedder(spec_));
    std::vector<uuid> ids;
    std::vector<uint32_t> counts;
    if (!in.read_array(ids, meta->documents) || !in.read_array(counts, meta->documents) ||
        meta->tokens > in.remaining() / (dim_ * sizeof(float)) ||
        !in.read_array(tokens_, meta->tokens * dim_))
      return in.corrupt("is truncated in its " + std::to_string(meta->documents) +
                        " documents of " + std::to_string(meta->tokens) + " tokens");
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    uint64_t total = 0;
    for (auto n : counts)
      total += n;
    if (total != meta->tokens)
      return in.corrupt("has documents of " + std::to_string(total) + " tokens in all, expected " +
                        std::to_string(meta->tokens));
    size_t first = 0;
    for (size_t d = 0; d < ids.size(); ++d) {
      if (ids[d].is_nil() || !slot_of_.emplace(ids[d], static_cast<uint32_t>(d)).second)
        return in.corrupt("lists id " + ids[d].to_string() + " twice or as nil");
      documents_.push_back(document{ids[d], first, counts[d]});
      first += counts[d];
    }
    return {};
  }

  embedder spec_;
  size_t dim_;
  /// Token rows of dim floats, each of unit length (or zero).
  std::vector<float> tokens_;
  /// By slot (swap-removed, so dense).
  std::vector<document> documents_;
  std::unordered_map<uuid, uint32_t> slot_of_;
  /// Rows in tokens_ no document refers to any more.
  size_t dead_rows_ = 0;
};

} // namespace

std::unique_ptr<vector_index> make_maxsim_index(const embedder& spec, const index_options& opts) {
  return std::make_unique<maxsim_index>(spec, opts);
}

} // namespace telos::storage
