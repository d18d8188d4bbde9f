// Sparse vectors: an inverted index (term → postings of slot and weight) with exact dot-product
// top-k. Scores accumulate per slot in term order, the order exact_score sums in, so both give the
// same bits. The documents themselves lie in two flat arrays (terms, weights) indexed by per-slot
// offsets, which a snapshot is read into directly. Removal marks a slot dead; its postings are
// skipped and its terms kept until a compaction renumbers the live slots, moves their terms down
// and rebuilds the postings.
#include "telos/storage/file_view.hpp"
#include "telos/storage/id_map.hpp"
#include "telos/storage/index_kinds.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/mapped_array.hpp"
#include "telos/storage/vector_kernels.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
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

/// A term's postings in slot order: those built in bulk (at load and compaction), then those
/// appended since.
struct term_postings {
  const posting* base = nullptr;
  const posting* base_end = nullptr;
  const std::vector<posting>* tail = nullptr;

  template <class F>
  void for_each(F&& f) const {
    for (const posting* p = base; p != base_end; ++p)
      f(*p);
    if (tail != nullptr)
      for (const auto& p : *tail)
        f(p);
  }
};

/// Term → postings. A load or a compaction builds every term's postings at once into one array
/// ordered by term (a counting pass sizes each term's run, a second pass fills them), which costs
/// one mapping on huge pages instead of a growing vector per term on 4 KiB pages; postings written
/// since go to a vector per term after that term's run. Terms below `direct_terms` (every term of
/// a usual vocabulary) index arrays, which spares a hash lookup per term on every write; larger
/// term ids go to a hash map of vectors only.
class posting_table {
public:
  static constexpr uint32_t direct_terms = 1u << 20;

  void append(uint32_t term, posting p) {
    if (term >= direct_terms) {
      far_[term].push_back(p);
      return;
    }
    if (term >= tails_.size())
      tails_.resize(std::min<size_t>(direct_terms, std::max<size_t>(term + 1, tails_.size() * 2)));
    tails_[term].push_back(p);
  }

  term_postings find(uint32_t term) const {
    term_postings found;
    if (term >= direct_terms) {
      auto it = far_.find(term);
      if (it != far_.end()) found.tail = &it->second;
      return found;
    }
    if (size_t{term} + 1 < base_starts_.size()) {
      found.base = base_at_ + base_starts_[term];
      found.base_end = base_at_ + base_starts_[term + 1];
    }
    if (term < tails_.size()) found.tail = &tails_[term];
    return found;
  }

  void clear() {
    base_ = mapped_array<posting>{};
    base_at_ = nullptr;
    base_copied_ = 0;
    base_starts_.clear();
    base_starts_.shrink_to_fit();
    tails_.clear();
    tails_.shrink_to_fit();
    far_.clear();
  }

  /// Replaces every posting by those of `slots` documents in CSR form (slot s holds
  /// [starts[s], starts[s + 1]) of `terms` and `weights`), each term's in slot order.
  void build(const uint32_t* terms, const float* weights, const uint64_t* starts, size_t slots) {
    clear();
    const uint64_t entries = starts[slots];
    std::vector<uint64_t> counts;
    for (uint64_t i = 0; i < entries; ++i) {
      const uint32_t t = terms[i];
      if (t >= direct_terms) continue;
      if (t >= counts.size()) counts.resize(std::max<size_t>(size_t{t} + 1, counts.size() * 2));
      ++counts[t];
    }
    while (!counts.empty() && counts.back() == 0)
      counts.pop_back();
    base_starts_.resize(counts.size() + 1);
    uint64_t total = 0;
    for (size_t t = 0; t < counts.size(); ++t) {
      base_starts_[t] = total;
      total += counts[t];
    }
    base_starts_[counts.size()] = total;
    base_.reserve(total);
    base_.resize(total);
    base_at_ = base_.data();
    // counts becomes each term's next free place.
    std::copy(base_starts_.begin(), base_starts_.end() - 1, counts.begin());
    for (size_t slot = 0; slot < slots; ++slot) {
      const auto s = static_cast<uint32_t>(slot);
      for (uint64_t i = starts[slot]; i < starts[slot + 1]; ++i) {
        const uint32_t t = terms[i];
        if (t >= direct_terms)
          far_[t].push_back(posting{s, weights[i]});
        else
          base_[counts[t]++] = posting{s, weights[i]};
      }
    }
  }

  /// Replaces every posting by a snapshot's: direct term t's, in slot order, are
  /// [starts[t], starts[t + 1]) of the bulk postings (starts.back() of them). Those are `lent`
  /// when it is not null (a mapping of the snapshot, read where it lies until rehome() has copied
  /// it; the caller keeps it mapped meanwhile), else `owned`.
  void install(std::vector<uint64_t> starts, const posting* lent, mapped_array<posting> owned) {
    clear();
    base_starts_ = std::move(starts);
    base_ = std::move(owned);
    base_at_ = lent != nullptr ? lent : base_.data();
  }

  /// Adds a posting of a term beyond the direct ones (a snapshot holds only direct terms' runs:
  /// after install(), the loader adds the others, slot after slot).
  void add_far(uint32_t term, posting p) { far_[term].push_back(p); }

  /// True while the bulk-built postings are a snapshot's mapping (install() with `lent`).
  bool lent() const { return base_at_ != nullptr && base_at_ != base_.data(); }
  /// The bulk-built postings' count (every direct term's run, one after the other).
  size_t base_size() const { return base_starts_.empty() ? 0 : base_starts_.back(); }

  /// Copies up to `count` more of the lent postings into memory of the table's own; once all are
  /// copied the table uses its copy (the caller may then drop the mapping). Returns the postings
  /// copied (0 when nothing is lent). std::bad_alloc when the copy's memory cannot be had (nothing
  /// changes then).
  size_t rehome(size_t count) {
    if (!lent()) return 0;
    const size_t total = base_size();
    if (base_.size() != total) {
      base_.reserve(total);
      base_.resize(total);
    }
    const size_t n = std::min(count, total - base_copied_);
    std::memcpy(static_cast<void*>(base_.data() + base_copied_), base_at_ + base_copied_,
                n * sizeof(posting));
    base_copied_ += n;
    if (base_copied_ == total) {
      base_at_ = base_.data();
      base_copied_ = 0;
    }
    return n;
  }

  size_t memory_bytes() const {
    size_t bytes = base_.capacity() * sizeof(posting) + base_starts_.capacity() * sizeof(uint64_t) +
                   tails_.capacity() * sizeof(std::vector<posting>) + hash_map_bytes(far_);
    for (const auto& list : tails_)
      bytes += list.capacity() * sizeof(posting);
    for (const auto& [term, list] : far_)
      bytes += list.capacity() * sizeof(posting);
    return bytes;
  }

private:
  /// Every direct term's bulk-built postings, term after term: term t's are
  /// [base_starts_[t], base_starts_[t + 1]).
  mapped_array<posting> base_;
  /// Where the bulk-built postings are read: base_.data(), or a snapshot's mapping until rehome()
  /// has copied it into base_ (base_copied_ of them so far).
  const posting* base_at_ = nullptr;
  size_t base_copied_ = 0;
  std::vector<uint64_t> base_starts_;
  /// Direct terms' postings written since the last build.
  std::vector<std::vector<posting>> tails_;
  std::unordered_map<uint32_t, std::vector<posting>> far_;
};

/// The meta data of a snapshot_structure::sparse file (what older versions wrote: the documents
/// only, the postings built at load).
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

/// The meta data of a snapshot_structure::sparse_postings file. Its sections: the documents' ids
/// (u128 each), term counts (u32), the start of each direct term's postings run (u64, terms + 1 of
/// them), then the documents' terms (u32) and weights (f32) slot after slot, then every direct
/// term's postings (slot u32, weight f32) in term and slot order. The last three are mapped at
/// load where they are large (index_options::snapshot_map_bytes).
struct sparse_postings_meta {
  embedder spec;
  uint64_t documents = 0;
  /// Sum of the documents' term counts.
  uint64_t entries = 0;
  /// Direct terms the postings runs cover: min(vocabulary, posting_table::direct_terms).
  uint64_t terms = 0;
  /// Postings of those terms (entries less those of terms beyond them).
  uint64_t postings = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(spec, documents, entries, terms, postings);
  }
};

/// What one unit of maintain() copies of a loaded snapshot's mapped sections into the index's own
/// memory: 1 MiB (this VM touches fresh memory at 0.3-0.5 GB/s, so 2-4 ms under the index's lock).
constexpr size_t rehome_step_bytes = size_t{1} << 20;

/// The accumulators of one sparse search at a time: a sum and a mark per slot, all zero between
/// searches, and the slots a search touched. A search used to allocate and zero both arrays, 5 MB
/// at a million documents: 0.3-0.8 ms of every search, and 24-26 ms when the allocator maps and
/// unmaps blocks that large each time (glibc with any malloc tunable set: the mmap threshold then
/// stays at 128 KiB; docs/BENCHMARKS.md, "Sparse searches without a per-search allocation").
struct search_scratch {
  /// A mapped_array, so that at a million slots its 4 MB lie on huge pages: in a std::vector their
  /// first touches took 16-35 ms of the search that needed a new scratch (more sparse searches
  /// at once than ever before), 0.3-0.6 ms on huge pages.
  mapped_array<float> sums;
  /// One bit per slot: 128 KB at a million slots, which the cache keeps while the sums are read.
  std::vector<uint64_t> marks;
  std::vector<uint32_t> touched;

  bool marked(uint32_t slot) const { return (marks[slot >> 6] >> (slot & 63)) & 1u; }
  void mark(uint32_t slot) { marks[slot >> 6] |= uint64_t{1} << (slot & 63); }

  /// Zeroes what the search touched: the arrays are all zero again.
  void clear() noexcept {
    for (auto slot : touched) {
      sums[slot] = 0.0f;
      marks[slot >> 6] = 0;
    }
    touched.clear();
  }
};

/// The process's idle scratches, shared by every sparse index: a search takes one (or makes one)
/// and gives it back, so there are as many as searches ran at once, not one per thread that ever
/// searched. Fresh memory is what costs here: sizing a scratch for a million slots took 16-23 ms
/// on the test VM on small pages (first touches of 4 MB), a search after that 1.2-2.2 ms.
class scratch_pool {
public:
  /// A scratch with room for `slots`, given back (zeroed) when the lease ends, also when the
  /// search threw (a filter predicate may).
  class lease {
  public:
    lease(scratch_pool& pool, std::unique_ptr<search_scratch> s)
        : pool_(pool), scratch_(std::move(s)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
      scratch_->clear();
      pool_.give(std::move(scratch_));
    }
    search_scratch& operator*() const { return *scratch_; }

  private:
    scratch_pool& pool_;
    std::unique_ptr<search_scratch> scratch_;
  };

  static scratch_pool& process() {
    static scratch_pool pool;
    return pool;
  }

  lease take(size_t slots) {
    std::unique_ptr<search_scratch> s;
    {
      std::lock_guard guard{mutex_};
      if (!idle_.empty()) {
        s = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!s) s = std::make_unique<search_scratch>();
    if (s->sums.size() < slots) {
      s->sums.resize(slots, 0.0f);
      s->marks.resize((slots + 63) / 64, 0);
    }
    return lease{*this, std::move(s)};
  }

private:
  void give(std::unique_ptr<search_scratch> s) noexcept {
    std::lock_guard guard{mutex_};
    try {
      idle_.push_back(std::move(s));
    } catch (...) {
      // No memory to keep it: it goes (s still owns it).
    }
  }

  std::mutex mutex_;
  std::vector<std::unique_ptr<search_scratch>> idle_;
};

class sparse_index final : public vector_index {
public:
  sparse_index(const embedder& spec, const index_options& opts)
      : spec_(spec), map_bytes_(opts.snapshot_map_bytes) {
    starts_.push_back(0);
  }

  const embedder& spec() const override { return spec_; }

  void upsert(const uuid& id, const embedding& e) override {
    grow_id_map_ahead(slot_of_, id_map_share_);
    auto it = slot_of_.find(id);
    if (it != slot_of_.end()) kill(it->second);
    size_t n = std::min(e.indices.size(), e.values.size());
    slot_of_[id] = add(id, e.indices.data(), e.values.data(), n);
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
    // The sums live in a scratch taken from the process's pool, sized to the slots and all zero
    // between searches: only the touched slots are summed, read and zeroed again, so a search
    // costs its postings, not the index's size.
    auto held = scratch_pool::process().take(slot_ids_.size());
    auto& scratch = *held;
    if (dead_ == 0)
      accumulate<false>(query, scratch);
    else
      accumulate<true>(query, scratch);
    auto& sums = scratch.sums;
    kernels::top_k best{k};
    for (auto slot : scratch.touched) {
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
    // exact_score's sum for sparse embedders (kernels::sparse_dot), over the slot's flat terms.
    const uint32_t slot = it->second;
    const uint64_t first = starts_[slot];
    return kernels::sparse_dot(query.indices.data(), query.values.data(), query.indices.size(),
                               terms() + first, weights() + first, starts_[slot + 1] - first);
  }

  /// Copies what a load left mapped into the index's own memory, a unit of `budget` per MiB
  /// (documents first: a write needs them), then compacts when due.
  size_t maintain(size_t budget) override {
    size_t done = 0;
    try {
      for (; done < budget && lent(); ++done) {
        if (lent_terms_ != nullptr)
          rehome_documents(rehome_step_bytes / (sizeof(uint32_t) + sizeof(float)));
        else
          postings_.rehome(rehome_step_bytes / sizeof(posting));
        release_if_rehomed();
      }
    } catch (const std::bad_alloc&) {
      last_error_ = "no memory to copy the index snapshot's mapped sections into; they stay mapped";
      return done;
    }
    compact_if(dead_ > 0 && dead_ * 100 > slot_ids_.size() * sparse_compact_dead_percent);
    return done;
  }

  void set_ef_search(size_t) override {}

  size_t fresh_count() const override { return 0; }

  index_stats stats() const override {
    index_stats s;
    s.vectors = slot_of_.size();
    s.memory_bytes = slot_ids_.capacity() * sizeof(uuid) + alive_.capacity() +
                     starts_.capacity() * sizeof(uint64_t) + terms_.capacity() * sizeof(uint32_t) +
                     weights_.capacity() * sizeof(float) + hash_map_bytes(slot_of_) +
                     postings_.memory_bytes();
    s.structure = "sparse";
    s.mapped_bytes = lent_.size();
    if (unreadable())
      s.last_error = unreadable_sections;
    else
      s.last_error = last_error_;
    return s;
  }

  expected<void> save(const std::string& path) const override {
    if (unreadable()) return make_error(ec::io_error, unreadable_sections);
    sparse_postings_meta meta;
    meta.spec = spec_;
    meta.documents = live();
    meta.terms = std::min<uint64_t>(spec_.dim, posting_table::direct_terms);
    std::vector<uuid> ids;
    std::vector<uint32_t> lengths;
    ids.reserve(live());
    lengths.reserve(live());
    // The live slots numbered densely, as the file lists them (only needed with dead slots).
    std::vector<uint32_t> renumbered;
    if (dead_ > 0) renumbered.resize(slot_ids_.size());
    for (size_t slot = 0; slot < slot_ids_.size(); ++slot) {
      if (!alive_[slot]) continue;
      if (dead_ > 0) renumbered[slot] = static_cast<uint32_t>(ids.size());
      ids.push_back(slot_ids_[slot]);
      lengths.push_back(static_cast<uint32_t>(starts_[slot + 1] - starts_[slot]));
      meta.entries += lengths.back();
    }
    // Each direct term's live postings: its bulk run, then those appended since.
    std::vector<uint64_t> runs(meta.terms + 1, 0);
    for (uint32_t t = 0; t < meta.terms; ++t) {
      const auto found = postings_.find(t);
      uint64_t n = 0;
      if (dead_ == 0)
        n = static_cast<uint64_t>(found.base_end - found.base) +
            (found.tail != nullptr ? found.tail->size() : 0);
      else
        found.for_each([&](const posting& p) { n += alive_[p.slot]; });
      runs[t + 1] = runs[t] + n;
    }
    meta.postings = runs.back();
    snapshot_writer out{path, snapshot_structure::sparse_postings, encode_value(meta)};
    out.write_array(ids.data(), ids.size());
    out.write_array(lengths.data(), lengths.size());
    out.write_array(runs.data(), runs.size());
    // The live slots' terms, then their weights: each a run of consecutive live slots at a time
    // (the whole array at once when none is dead).
    write_live(out, terms());
    write_live(out, weights());
    std::vector<posting> buffer;
    buffer.reserve(4096);
    auto flush = [&] {
      out.write_array(buffer.data(), buffer.size());
      buffer.clear();
    };
    for (uint32_t t = 0; t < meta.terms; ++t)
      postings_.find(t).for_each([&](const posting& p) {
        if (!alive_[p.slot]) return;
        buffer.push_back(posting{dead_ > 0 ? renumbered[p.slot] : p.slot, p.weight});
        if (buffer.size() == buffer.capacity()) flush();
      });
    flush();
    return out.commit();
  }

  expected<void> load(const std::string& path) override {
    reset();
    auto loaded = read_snapshot(path);
    if (!loaded) reset();
    return loaded;
  }

private:
  /// Adds every posting of the query's terms into the scratch's sums (in term order, the order
  /// exact_score sums in), listing each slot the first time it is met. With no dead slots the
  /// alive flags are not read.
  template <bool some_dead>
  void accumulate(const embedding& query, search_scratch& scratch) const {
    for (size_t i = 0; i < query.indices.size(); ++i) {
      const float weight = query.values[i];
      postings_.find(query.indices[i]).for_each([&](const posting& p) {
        if (some_dead && !alive_[p.slot]) return;
        if (!scratch.marked(p.slot)) {
          scratch.touched.push_back(p.slot); // first: if it throws, the slot is neither marked
          scratch.mark(p.slot);              // nor summed
        }
        scratch.sums[p.slot] += weight * p.weight;
      });
    }
  }

  size_t live() const { return slot_ids_.size() - dead_; }

  /// Appends a document of `n` terms (copied from outside the flat arrays) in a new slot.
  uint32_t add(const uuid& id, const uint32_t* terms, const float* weights, size_t n) {
    own_documents();
    auto slot = static_cast<uint32_t>(slot_ids_.size());
    for (size_t i = 0; i < n; ++i)
      postings_.append(terms[i], posting{slot, weights[i]});
    terms_.append(terms, n);
    weights_.append(weights, n);
    starts_.push_back(terms_.size());
    slot_ids_.push_back(id);
    alive_.push_back(1);
    return slot;
  }

  /// The slot's terms stay in the flat arrays until a compaction (due at 30 % dead in maintain(),
  /// on the write path once dead slots outnumber live ones).
  void kill(uint32_t slot) {
    alive_[slot] = 0;
    slot_ids_[slot] = uuid{};
    ++dead_;
  }

  /// Writes the elements of `flat` (the documents' terms or weights) that belong to live slots,
  /// in slot order.
  template <class T>
  void write_live(snapshot_writer& out, const T* flat) const {
    if (dead_ == 0) {
      out.write_array(flat, starts_.back());
      return;
    }
    const size_t slots = slot_ids_.size();
    for (size_t slot = 0; slot < slots;) {
      if (!alive_[slot]) {
        ++slot;
        continue;
      }
      size_t end = slot + 1;
      while (end < slots && alive_[end])
        ++end;
      out.write_array(flat + starts_[slot], starts_[end] - starts_[slot]);
      slot = end;
    }
  }

  /// Renumbers the live slots densely (in their order), moves their terms down over the dead ones'
  /// and rebuilds the postings without the dead ones.
  void compact_if(bool due) {
    if (!due) return;
    own_all();
    postings_.clear();
    const size_t slots = slot_ids_.size();
    uint32_t to = 0;
    uint64_t filled = 0;
    for (size_t slot = 0; slot < slots; ++slot) {
      if (!alive_[slot]) continue;
      // Read before starts_[to] (to <= slot) is overwritten below.
      const uint64_t first = starts_[slot];
      const uint64_t n = starts_[slot + 1] - first;
      if (filled != first) {
        std::memmove(terms_.data() + filled, terms_.data() + first, n * sizeof(uint32_t));
        std::memmove(weights_.data() + filled, weights_.data() + first, n * sizeof(float));
      }
      starts_[to] = filled;
      slot_ids_[to] = slot_ids_[slot];
      slot_of_[slot_ids_[to]] = to;
      filled += n;
      ++to;
    }
    starts_.resize(size_t{to} + 1);
    starts_[to] = filled;
    terms_.resize(filled);
    weights_.resize(filled);
    slot_ids_.resize(to);
    alive_.assign(to, 1);
    dead_ = 0;
    postings_.build(terms_.data(), weights_.data(), starts_.data(), to);
  }

  void reset() {
    postings_.clear();
    lent_terms_ = nullptr;
    lent_weights_ = nullptr;
    lent_copied_ = 0;
    lent_ = {};
    unreadable_ = false;
    last_error_.clear();
    slot_ids_.clear();
    alive_.clear();
    starts_.assign(1, 0);
    terms_.clear();
    terms_.shrink_to_fit();
    weights_.clear();
    weights_.shrink_to_fit();
    slot_of_.clear();
    dead_ = 0;
  }

  expected<void> read_snapshot(const std::string& path) {
    snapshot_reader in;
    auto meta_bytes =
        in.open(path, {snapshot_structure::sparse, snapshot_structure::sparse_postings});
    if (!meta_bytes) return meta_bytes.error();
    // A file of structure sparse (older versions) holds the documents only: the postings are
    // built from them here.
    const bool with_postings = in.structure() == snapshot_structure::sparse_postings;
    sparse_postings_meta meta;
    if (with_postings) {
      auto decoded = decode_value<sparse_postings_meta>(*meta_bytes, "meta");
      if (!decoded)
        return in.corrupt("has unreadable meta data: " + telos::describe(decoded.error()));
      meta = std::move(*decoded);
    } else {
      auto decoded = decode_value<sparse_snapshot_meta>(*meta_bytes, "meta");
      if (!decoded)
        return in.corrupt("has unreadable meta data: " + telos::describe(decoded.error()));
      meta.spec = decoded->spec;
      meta.documents = decoded->documents;
      meta.entries = decoded->entries;
    }
    if (meta.spec != spec_)
      return make_error(ec::format_mismatch, "index snapshot '" + path + "' holds embedder " +
                                                 describe_embedder(meta.spec) + ", this index is " +
                                                 describe_embedder(spec_));
    std::vector<uuid> ids;
    std::vector<uint32_t> lengths;
    if (!in.read_array(ids, meta.documents) || !in.read_array(lengths, meta.documents))
      return in.corrupt("is truncated in its " + std::to_string(meta.documents) + " documents");
    std::vector<uint64_t> runs;
    mapped_array<posting> owned_postings;
    const posting* lent_postings = nullptr;
    if (with_postings) {
      if (meta.terms != std::min<uint64_t>(spec_.dim, posting_table::direct_terms) ||
          meta.postings > meta.entries)
        return in.corrupt("has postings of " + std::to_string(meta.terms) + " terms (" +
                          std::to_string(meta.postings) + " postings) for " +
                          std::to_string(meta.entries) + " document terms");
      if (!in.read_array(runs, meta.terms + 1))
        return in.corrupt("is truncated in its postings runs");
      for (size_t t = 0; t < meta.terms; ++t)
        if (runs[t + 1] < runs[t])
          return in.corrupt("has a postings run of term " + std::to_string(t) +
                            " that ends before it starts");
      if (runs.front() != 0 || runs.back() != meta.postings)
        return in.corrupt("has postings runs that do not cover its " +
                          std::to_string(meta.postings) + " postings");
      if (meta.entries > in.remaining() / (sizeof(uint32_t) + sizeof(float)) ||
          meta.postings > in.remaining() / sizeof(posting))
        return in.corrupt("is truncated in its " + std::to_string(meta.entries) + " terms and " +
                          std::to_string(meta.postings) + " postings");
      const uint64_t bytes =
          meta.entries * (sizeof(uint32_t) + sizeof(float)) + meta.postings * sizeof(posting);
      // The terms, weights and postings are used where the page cache holds them (no copy into
      // fresh memory, which costs this VM more than the rest of the load) until maintain() has
      // copied them.
      if (bytes >= map_bytes_ && bytes <= in.remaining() && in.aligned_for(alignof(posting))) {
        if (!in.map(lent_, static_cast<size_t>(bytes)))
          return in.corrupt("is truncated or unreadable in its terms, weights and postings");
        lent_terms_ = reinterpret_cast<const uint32_t*>(lent_.data());
        lent_weights_ = reinterpret_cast<const float*>(lent_.data() + meta.entries * 4);
        lent_postings = reinterpret_cast<const posting*>(lent_.data() + meta.entries * 8);
      } else if (!in.read_array(terms_, meta.entries) || !in.read_array(weights_, meta.entries) ||
                 !in.read_array(owned_postings, meta.postings)) {
        return in.corrupt("is truncated in its terms, weights and postings");
      }
    } else if (!in.read_array(terms_, meta.entries) || !in.read_array(weights_, meta.entries)) {
      return in.corrupt("is truncated in its " + std::to_string(meta.documents) + " documents of " +
                        std::to_string(meta.entries) + " terms");
    }
    if (!in.verify()) return in.corrupt("fails its checksum or has trailing bytes");
    uint64_t total = 0;
    for (auto n : lengths)
      total += n;
    if (total != meta.entries)
      return in.corrupt("has documents of " + std::to_string(total) + " terms in all, expected " +
                        std::to_string(meta.entries));
    starts_.resize(ids.size() + 1);
    slot_of_.reserve(ids.size());
    // Per document, in slot order: its terms are valid, then its id; then the postings are built
    // (each term's in slot order, which search ties depend on), or the file's are checked
    // against the documents' term counts (and each run is of valid slots in order).
    const uint32_t* terms = this->terms();
    std::vector<uint64_t> counts(with_postings ? meta.terms : 0, 0);
    uint64_t offset = 0;
    for (size_t d = 0; d < ids.size(); ++d) {
      const uint64_t end = offset + lengths[d];
      starts_[d] = offset;
      for (uint64_t i = offset; i < end; ++i) {
        if (terms[i] >= spec_.dim || (i > offset && terms[i] <= terms[i - 1]))
          return in.corrupt(
              "has document " + ids[d].to_string() + " whose term " + std::to_string(terms[i]) +
              " is out of order or not below the vocabulary size " + std::to_string(spec_.dim));
        if (terms[i] < counts.size()) ++counts[terms[i]];
      }
      if (ids[d].is_nil() || !slot_of_.try_emplace(ids[d], static_cast<uint32_t>(d)).second)
        return in.corrupt("lists id " + ids[d].to_string() + " twice or as nil");
      offset = end;
    }
    starts_[ids.size()] = offset;
    if (with_postings) {
      const posting* base = lent_postings != nullptr ? lent_postings : owned_postings.data();
      for (size_t t = 0; t < meta.terms; ++t) {
        if (runs[t + 1] - runs[t] != counts[t])
          return in.corrupt("has " + std::to_string(runs[t + 1] - runs[t]) + " postings of term " +
                            std::to_string(t) + ", its documents " + std::to_string(counts[t]));
        for (uint64_t i = runs[t]; i < runs[t + 1]; ++i)
          if (base[i].slot >= ids.size() || (i > runs[t] && base[i].slot <= base[i - 1].slot))
            return in.corrupt("has a posting of term " + std::to_string(t) +
                              " out of slot order or beyond its documents");
      }
      postings_.install(std::move(runs), lent_postings, std::move(owned_postings));
      // Terms beyond the direct ones have no run in the file.
      if (spec_.dim > posting_table::direct_terms) {
        const float* weights = this->weights();
        for (size_t d = 0; d < ids.size(); ++d)
          for (uint64_t i = starts_[d]; i < starts_[d + 1]; ++i)
            if (terms[i] >= posting_table::direct_terms)
              postings_.add_far(terms[i], posting{static_cast<uint32_t>(d), weights[i]});
      }
    } else {
      postings_.build(terms_.data(), weights_.data(), starts_.data(), ids.size());
    }
    alive_.assign(ids.size(), 1);
    slot_ids_ = std::move(ids);
    return {};
  }

  bool lent() const { return lent_terms_ != nullptr || postings_.lent(); }
  /// The documents' terms and weights (CSR by starts_): the index's own, or a loaded snapshot's
  /// mapping until maintain() (or the next write) has copied them.
  const uint32_t* terms() const { return lent_terms_ != nullptr ? lent_terms_ : terms_.data(); }
  const float* weights() const {
    return lent_weights_ != nullptr ? lent_weights_ : weights_.data();
  }
  bool unreadable() const { return unreadable_ || lent_.failed(); }

  static constexpr const char* unreadable_sections =
      "a page of the sparse index snapshot mapped at load could not be read back (it reads as "
      "zeroes): searches may miss hits, and no snapshot is saved; the next open rebuilds the "
      "index from the vector keyspace if the snapshot stays unreadable";

  /// Copies up to `entries` more of the lent terms and weights into terms_ and weights_; once all
  /// are copied the index uses those. std::bad_alloc when their memory cannot be had (nothing
  /// changes then).
  void rehome_documents(size_t entries) {
    if (lent_terms_ == nullptr) return;
    const size_t total = starts_.back();
    if (terms_.size() != total) {
      terms_.reserve(total);
      weights_.reserve(total);
      terms_.resize(total);
      weights_.resize(total);
    }
    const size_t n = std::min(entries, total - lent_copied_);
    std::memcpy(terms_.data() + lent_copied_, lent_terms_ + lent_copied_, n * sizeof(uint32_t));
    std::memcpy(weights_.data() + lent_copied_, lent_weights_ + lent_copied_, n * sizeof(float));
    lent_copied_ += n;
    if (lent_copied_ == total) {
      lent_terms_ = nullptr;
      lent_weights_ = nullptr;
      lent_copied_ = 0;
    }
  }

  /// Unmaps the snapshot once nothing is read from it any more.
  void release_if_rehomed() {
    if (lent() || lent_.empty()) return;
    unreadable_ = unreadable_ || lent_.failed();
    lent_ = {};
  }

  /// Before a write appends to them: the documents' terms and weights are the index's own.
  void own_documents() {
    rehome_documents(SIZE_MAX);
    release_if_rehomed();
  }

  /// Before a compaction rewrites them: everything is the index's own.
  void own_all() {
    own_documents();
    while (postings_.rehome(SIZE_MAX) > 0) {
    }
    release_if_rehomed();
  }

  embedder spec_;
  posting_table postings_;
  /// By slot; nil for dead slots.
  std::vector<uuid> slot_ids_;
  /// By slot; 0 for dead slots (read per posting, so a byte rather than a 16-byte id).
  std::vector<uint8_t> alive_;
  /// The documents' terms (strictly increasing within each) and their weights, slot after slot
  /// (CSR): slot s holds [starts_[s], starts_[s + 1]). A dead slot keeps its terms until the
  /// next compaction. For score(), compaction and snapshots; a snapshot is read straight in.
  mapped_array<uint32_t> terms_;
  mapped_array<float> weights_;
  /// slots + 1 offsets into terms_ and weights_.
  std::vector<uint64_t> starts_;
  id_table<uint32_t> slot_of_;
  /// When the id map grows (id_map.hpp): its own point, not every index's at once.
  double id_map_share_ = id_map_growth_share(spec_.name);
  size_t dead_ = 0;
  /// index_options::snapshot_map_bytes.
  size_t map_bytes_;
  /// After a load: the snapshot's terms, weights and postings mapped (file_view), read where they
  /// lie until maintain() has copied them into the index's own memory, a MiB per step, the
  /// documents first (lent_terms_ and lent_weights_ null once they are copied, lent_copied_
  /// entries so far); then unmapped. A write copies the rest of the documents at once first.
  file_view lent_;
  const uint32_t* lent_terms_ = nullptr;
  const float* lent_weights_ = nullptr;
  size_t lent_copied_ = 0;
  /// A page of the mapping could not be read back (copied as zeroes).
  bool unreadable_ = false;
  std::string last_error_;
};

} // namespace

std::unique_ptr<vector_index> make_sparse_index(const embedder& spec, const index_options& opts) {
  return std::make_unique<sparse_index>(spec, opts);
}

} // namespace telos::storage
