// Sparse vectors: an inverted index (term → postings of slot and weight) with exact dot-product
// top-k. Scores accumulate per slot in term order, the order exact_score sums in, so both give the
// same bits. Removal marks a slot dead; its postings are skipped until a compaction renumbers the
// live slots and rebuilds the postings.
#include "telos/storage/bulk_allocator.hpp"
#include "telos/storage/id_map.hpp"
#include "telos/storage/index_kinds.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/vector_kernels.hpp"

#include <algorithm>
#include <unordered_map>

namespace telos::storage {

namespace {

/// maintain() compacts once more than this share of slots is dead.
constexpr size_t sparse_compact_dead_percent = 30;
/// Writes compact without waiting for maintain() once dead slots outnumber live ones (and are this
/// many), so an owner that never calls maintain() still wastes at most half.
constexpr size_t write_path_compact_minimum = 1024;

struct posting {
  uint32_t slot;
  float weight;
};

/// Term → postings. Terms below `direct_terms` (every term of a usual vocabulary) index an array,
/// which spares a hash lookup per term on every write; larger term ids go to a hash map.
class posting_table {
public:
  static constexpr uint32_t direct_terms = 1u << 20;

  std::vector<posting>& operator[](uint32_t term) {
    if (term >= direct_terms) return far_[term];
    if (term >= direct_.size())
      direct_.resize(
          std::min<size_t>(direct_terms, std::max<size_t>(term + 1, direct_.size() * 2)));
    return direct_[term];
  }

  const std::vector<posting>* find(uint32_t term) const {
    if (term < direct_terms) return term < direct_.size() ? &direct_[term] : nullptr;
    auto it = far_.find(term);
    return it == far_.end() ? nullptr : &it->second;
  }

  void clear() {
    direct_.clear();
    far_.clear();
  }

  /// Sizes the postings of the terms listed in `terms` for one more entry per listing, so a
  /// snapshot's documents go in without a reallocation per growing list.
  template <class Terms>
  void reserve_for(const Terms& terms) {
    std::vector<uint32_t> counts;
    for (auto t : terms) {
      if (t >= direct_terms) continue;
      if (t >= counts.size()) counts.resize(std::max<size_t>(t + 1, counts.size() * 2));
      ++counts[t];
    }
    while (!counts.empty() && counts.back() == 0)
      counts.pop_back();
    if (counts.size() > direct_.size()) direct_.resize(counts.size());
    for (size_t t = 0; t < counts.size(); ++t)
      if (counts[t] != 0) direct_[t].reserve(direct_[t].size() + counts[t]);
  }

  size_t memory_bytes() const {
    size_t bytes = direct_.capacity() * sizeof(std::vector<posting>) + hash_map_bytes(far_);
    for (const auto& list : direct_)
      bytes += list.capacity() * sizeof(posting);
    for (const auto& [term, list] : far_)
      bytes += list.capacity() * sizeof(posting);
    return bytes;
  }

private:
  std::vector<std::vector<posting>> direct_;
  std::unordered_map<uint32_t, std::vector<posting>> far_;
};

struct sparse_snapshot_meta {
  embedder spec;
  uint64_t documents = 0;
  /// Sum of the documents' term counts.
  uint64_t entries = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, entries);
  }
};

class sparse_index final : public vector_index {
public:
  sparse_index(const embedder& spec, const index_options&) : spec_(spec) {}

  const embedder& spec() const override { return spec_; }

  void upsert(const uuid& id, const embedding& e) override {
    grow_id_map_ahead(slot_of_, id_map_share_);
    auto it = slot_of_.find(id);
    if (it != slot_of_.end()) kill(it->second);
    embedding doc;
    size_t n = std::min(e.indices.size(), e.values.size());
    doc.indices.assign(e.indices.begin(), e.indices.begin() + static_cast<ptrdiff_t>(n));
    doc.values.assign(e.values.begin(), e.values.begin() + static_cast<ptrdiff_t>(n));
    slot_of_[id] = add(id, std::move(doc));
    compact_if(dead_ > live() && dead_ >= write_path_compact_minimum);
  }

  bool remove(const uuid& id) override {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) return false;
    kill(it->second);
    slot_of_.erase(it);
    compact_if(dead_ > live() && dead_ >= write_path_compact_minimum);
    return true;
  }

  bool contains(const uuid& id) const override { return slot_of_.count(id) != 0; }

  std::vector<hit> search(const embedding& query, size_t k,
                          const id_predicate* allow) const override {
    if (k == 0 || slot_of_.empty() || query.indices.size() != query.values.size()) return {};
    std::vector<float> sums(slot_ids_.size(), 0.0f);
    std::vector<uint8_t> touched_mark(slot_ids_.size(), 0);
    std::vector<uint32_t> touched;
    for (size_t i = 0; i < query.indices.size(); ++i) {
      const auto* list = postings_.find(query.indices[i]);
      if (list == nullptr) continue;
      float weight = query.values[i];
      for (const auto& p : *list) {
        if (!alive_[p.slot]) continue;
        if (!touched_mark[p.slot]) {
          touched_mark[p.slot] = 1;
          touched.push_back(p.slot);
        }
        sums[p.slot] += weight * p.weight;
      }
    }
    kernels::top_k best{k};
    for (auto slot : touched) {
      if (!best.admits(sums[slot])) continue;
      const uuid& id = slot_ids_[slot];
      if (allow != nullptr && !(*allow)(id)) continue;
      best.push(id, sums[slot]);
    }
    return best.take();
  }

  std::optional<float> score(const embedding& query, const uuid& id) const override {
    if (query.indices.size() != query.values.size()) return std::nullopt;
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) return std::nullopt;
    return exact_score(spec_, query, documents_[it->second]);
  }

  size_t maintain(size_t) override {
    compact_if(dead_ > 0 && dead_ * 100 > slot_ids_.size() * sparse_compact_dead_percent);
    return 0;
  }

  void set_ef_search(size_t) override {}

  size_t fresh_count() const override { return 0; }

  index_stats stats() const override {
    index_stats s;
    s.vectors = slot_of_.size();
    s.memory_bytes = slot_ids_.capacity() * sizeof(uuid) + alive_.capacity() +
                     documents_.capacity() * sizeof(embedding) + hash_map_bytes(slot_of_) +
                     postings_.memory_bytes();
    for (const auto& doc : documents_)
      s.memory_bytes +=
          doc.indices.capacity() * sizeof(uint32_t) + doc.values.capacity() * sizeof(float);
    s.structure = "sparse";
    return s;
  }

  expected<void> save(const std::string& path) const override {
    sparse_snapshot_meta meta;
    meta.spec = spec_;
    meta.documents = live();
    std::vector<uuid> ids;
    std::vector<uint32_t> lengths;
    ids.reserve(live());
    lengths.reserve(live());
    for (size_t slot = 0; slot < slot_ids_.size(); ++slot) {
      if (!alive_[slot]) continue;
      ids.push_back(slot_ids_[slot]);
      lengths.push_back(static_cast<uint32_t>(documents_[slot].indices.size()));
      meta.entries += documents_[slot].indices.size();
    }
    snapshot_writer out{path, snapshot_structure::sparse, encode_value(meta)};
    out.write_array(ids.data(), ids.size());
    out.write_array(lengths.data(), lengths.size());
    for (size_t slot = 0; slot < slot_ids_.size(); ++slot)
      if (alive_[slot])
        out.write_array(documents_[slot].indices.data(), documents_[slot].indices.size());
    for (size_t slot = 0; slot < slot_ids_.size(); ++slot)
      if (alive_[slot])
        out.write_array(documents_[slot].values.data(), documents_[slot].values.size());
    return out.commit();
  }

  expected<void> load(const std::string& path) override {
    reset();
    auto loaded = read_snapshot(path);
    if (!loaded) reset();
    return loaded;
  }

private:
  size_t live() const { return slot_ids_.size() - dead_; }

  uint32_t add(const uuid& id, embedding doc) {
    auto slot = static_cast<uint32_t>(slot_ids_.size());
    for (size_t i = 0; i < doc.indices.size(); ++i)
      postings_[doc.indices[i]].push_back(posting{slot, doc.values[i]});
    slot_ids_.push_back(id);
    alive_.push_back(1);
    documents_.push_back(std::move(doc));
    return slot;
  }

  void kill(uint32_t slot) {
    alive_[slot] = 0;
    slot_ids_[slot] = uuid{};
    documents_[slot] = embedding{};
    ++dead_;
  }

  /// Renumbers the live slots densely and rebuilds the postings without the dead ones.
  void compact_if(bool due) {
    if (!due) return;
    std::vector<uuid> ids;
    std::vector<embedding> documents;
    ids.reserve(live());
    documents.reserve(live());
    for (size_t slot = 0; slot < slot_ids_.size(); ++slot) {
      if (!alive_[slot]) continue;
      ids.push_back(slot_ids_[slot]);
      documents.push_back(std::move(documents_[slot]));
    }
    slot_ids_.clear();
    alive_.clear();
    documents_.clear();
    postings_.clear();
    dead_ = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      slot_of_[ids[i]] = add(ids[i], std::move(documents[i]));
  }

  void reset() {
    postings_.clear();
    slot_ids_.clear();
    alive_.clear();
    documents_.clear();
    slot_of_.clear();
    dead_ = 0;
  }

  expected<void> read_snapshot(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes = in.open(path, snapshot_structure::sparse);
    if (!meta_bytes) return meta_bytes.error();
    auto meta = decode_value<sparse_snapshot_meta>(*meta_bytes, "meta");
    if (!meta) return in.corrupt("has unreadable meta data: " + telos::describe(meta.error()));
    if (meta->spec != spec_)
      return make_error(ec::format_mismatch, "index snapshot '" + path + "' holds embedder " +
                                                 describe_embedder(meta->spec) +
                                                 ", this index is " + describe_embedder(spec_));
    std::vector<uuid> ids;
    std::vector<uint32_t> lengths;
    bulk_vector<uint32_t> indices;
    bulk_vector<float> values;
    if (!in.read_array(ids, meta->documents) || !in.read_array(lengths, meta->documents) ||
        !in.read_array(indices, meta->entries) || !in.read_array(values, meta->entries))
      return in.corrupt("is truncated in its " + std::to_string(meta->documents) +
                        " documents of " + std::to_string(meta->entries) + " terms");
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    uint64_t total = 0;
    for (auto n : lengths)
      total += n;
    if (total != meta->entries)
      return in.corrupt("has documents of " + std::to_string(total) + " terms in all, expected " +
                        std::to_string(meta->entries));
    postings_.reserve_for(indices);
    slot_ids_.reserve(ids.size());
    alive_.reserve(ids.size());
    documents_.reserve(ids.size());
    slot_of_.reserve(ids.size());
    size_t offset = 0;
    for (size_t d = 0; d < ids.size(); ++d) {
      embedding doc;
      auto first = indices.begin() + static_cast<ptrdiff_t>(offset);
      doc.indices.assign(first, first + lengths[d]);
      auto weights = values.begin() + static_cast<ptrdiff_t>(offset);
      doc.values.assign(weights, weights + lengths[d]);
      offset += lengths[d];
      for (size_t i = 0; i < doc.indices.size(); ++i)
        if (doc.indices[i] >= spec_.dim || (i > 0 && doc.indices[i] <= doc.indices[i - 1]))
          return in.corrupt("has document " + ids[d].to_string() + " whose term " +
                            std::to_string(doc.indices[i]) +
                            " is out of order or not below the vocabulary size " +
                            std::to_string(spec_.dim));
      if (ids[d].is_nil() || slot_of_.count(ids[d]) != 0)
        return in.corrupt("lists id " + ids[d].to_string() + " twice or as nil");
      slot_of_[ids[d]] = add(ids[d], std::move(doc));
    }
    return {};
  }

  embedder spec_;
  posting_table postings_;
  /// By slot; nil for dead slots.
  std::vector<uuid> slot_ids_;
  /// By slot; 0 for dead slots (read per posting, so a byte rather than a 16-byte id).
  std::vector<uint8_t> alive_;
  /// By slot: the document's terms and weights, for score(), compaction and snapshots.
  std::vector<embedding> documents_;
  std::unordered_map<uuid, uint32_t> slot_of_;
  /// When the id map grows (id_map.hpp): its own point, not every index's at once.
  double id_map_share_ = id_map_growth_share(spec_.name);
  size_t dead_ = 0;
};

} // namespace

std::unique_ptr<vector_index> make_sparse_index(const embedder& spec, const index_options& opts) {
  return std::make_unique<sparse_index>(spec, opts);
}

} // namespace telos::storage
