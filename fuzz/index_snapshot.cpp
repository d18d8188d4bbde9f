// fuzz_index_snapshot: loading index snapshot files (storage/index_snapshot.* and the load of each
// index kind: dense flat/HNSW, sparse, MaxSim, and a delta over a dense ivf index's snapshot).
// Input: [selector][rest]; selector % 4 picks the index kind (3: the rest is a delta, loaded over
// the fixed base of fuzz/ivf_base.hpp). Selector bit 2 clear: rest is the whole file. Set: rest
// is [meta length u16 LE][meta as envelope_of frames it][raw sections], and this harness writes
// the header, the meta's envelope and the trailing checksum, so hostile meta data and sections
// reach the index's reader (a delta's structure byte: 9, with removals, when selector bit 3 is
// set, else 8). A load must either succeed, leaving an index that answers searches, takes writes
// and saves a snapshot (and a delta over the same base) that loads again to the same state, or
// fail with a clear error naming the file and leave the index empty.
#include "fuzz_common.hpp"
#include "ivf_base.hpp"

#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/vector_index.hpp"

#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>

namespace telos::fuzz {
namespace {

/// The embedders the harness loads into; a snapshot of another embedder is format_mismatch.
const embedder& spec_of(int kind) {
  static const embedder specs[4] = {{"d", embedder_kind::dense, 4, metric::cosine},
                                    {"s", embedder_kind::sparse, 100, metric::dot},
                                    {"m", embedder_kind::multi, 3, metric::cosine},
                                    ivf_spec()};
  return specs[kind];
}

embedding query_of(int kind) {
  switch (kind) {
  case 0:
  case 3:
    return embedding::dense({1, 0.5f, -0.25f, 2});
  case 1:
    return embedding::sparse({1, 7, 99}, {0.5f, 1, 2});
  default:
    return embedding::dense({1, 0, 0, 0, 1, 0});
  }
}

/// A directory of this process for the snapshot files, removed at exit. Allocated once and never
/// destroyed, so the exit handler that removes the directory never sees a destroyed string.
const std::string& work_dir() {
  static const std::string* dir = [] {
    auto base = std::filesystem::temp_directory_path() /
                ("telos-fuzz-snapshot-" + std::to_string(::getpid()));
    std::filesystem::create_directories(base);
    auto* path = new std::string{base.string()};
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(work_dir(), ignored);
    });
    return path;
  }();
  return *dir;
}

void write_file(const std::string& path, std::string_view bytes) {
  auto* f = std::fopen(path.c_str(), "wb");
  require(f != nullptr, "the harness can write its snapshot file");
  if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

template <class T>
void append_le(std::string& out, T x) {
  out.append(reinterpret_cast<const char*>(&x), sizeof(x));
}

/// Header, meta envelope and trailing checksum around a framed input (see the file comment).
std::string snapshot_of(uint8_t structure, std::string_view rest) {
  if (rest.size() < 2) return {};
  size_t meta_length = static_cast<uint8_t>(rest[0]) | static_cast<uint8_t>(rest[1]) << 8;
  rest.remove_prefix(2);
  meta_length = std::min(meta_length, rest.size());
  auto meta = envelope_of(rest.substr(0, meta_length));
  std::string out = "TELOSIDX";
  append_le<uint32_t>(out, 1); // version 1: no padding after the meta data
  append_le<uint8_t>(out, structure);
  append_le<uint32_t>(out, static_cast<uint32_t>(meta.size()));
  out += meta;
  out.append(rest.substr(meta_length));
  append_le<uint64_t>(out, XXH3_64bits(out.data(), out.size()));
  return out;
}

/// The base every delta input is loaded over: written once per process, kept by the cleanup.
const std::string& delta_base() {
  static const std::string* path = [] {
    auto* p = new std::string{work_dir() + "/base"};
    require(ivf_base(*p) != nullptr, "the harness can write the deltas' base");
    return p;
  }();
  return *path;
}

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos;
  using namespace telos::fuzz;
  if (size == 0) return 0;
  int kind = data[0] % 4;
  const bool delta = kind == 3;
  std::string_view rest{reinterpret_cast<const char*>(data) + 1, size - 1};
  auto path = work_dir() + (delta ? "/delta" : "/index");
  const std::string base = delta ? delta_base() : std::string{};
  uint8_t structure = static_cast<uint8_t>(kind + 1);
  if (delta)
    structure = static_cast<uint8_t>((data[0] & 0x08)
                                         ? storage::snapshot_structure::dense_ivf_delta_removals
                                         : storage::snapshot_structure::dense_ivf_delta);
  write_file(path, (data[0] & 0x04) ? snapshot_of(structure, rest) : std::string{rest});
  storage::index_options opts;
  opts.hnsw_threshold = 8;
  auto index = storage::make_vector_index(spec_of(kind), opts);
  auto query = query_of(kind);
  auto loaded = delta ? index->load(base, path) : index->load(path);
  if (!loaded) {
    auto code = code_of(loaded.error());
    require(code == ec::corrupt_value || code == ec::format_mismatch,
            "a bad snapshot is corrupt_value or format_mismatch");
    require(describe(loaded.error()).find(path) != std::string::npos,
            "a snapshot error names the file");
    require(index->size() == 0 && index->search(query, 10).empty(),
            "a failed load leaves the index empty");
    return 0;
  }
  // What loaded must be a working index: search it, save it, load the copy, compare.
  auto before = index->stats();
  auto hits = index->search(query, 1000);
  require(hits.size() <= before.vectors, "no more hits than vectors");
  for (const auto& h : hits)
    require(index->contains(h.id), "every hit is in the index");
  auto copy_path = work_dir() + "/copy";
  auto saved = index->save(copy_path);
  require(static_cast<bool>(saved), "a loaded index saves");
  auto copy = storage::make_vector_index(spec_of(kind), opts);
  auto reloaded = copy->load(copy_path);
  require(static_cast<bool>(reloaded), "a saved snapshot loads");
  require(copy->size() == index->size(), "a reloaded snapshot holds the same vectors");
  auto copy_hits = copy->search(query, 1000);
  require(copy_hits.size() == hits.size(), "a reloaded snapshot answers alike");
  // A loaded delta keeps its base: the next delta over it loads to the same state.
  if (delta && index->can_save_delta()) {
    auto again_path = work_dir() + "/delta-again";
    require(static_cast<bool>(index->save_delta(again_path)), "a loaded delta saves a delta");
    auto again = storage::make_vector_index(spec_of(kind), opts);
    require(static_cast<bool>(again->load(base, again_path)), "a saved delta loads");
    require(again->size() == index->size(), "a reloaded delta holds the same vectors");
    require(again->search(query, 1000).size() == hits.size(), "a reloaded delta answers alike");
  }
  // And it takes writes: replace and remove what is there, add one more.
  for (const auto& h : hits) {
    index->upsert(h.id, query);
    index->remove(h.id);
  }
  index->upsert(uuid::from_bytes(std::string(16, '\x01')), query);
  index->maintain(64);
  if (hits.size() == before.vectors) require(index->size() == 1, "writes after a load count right");
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator{work_dir(), ignored})
    if (entry.path().filename() != "base") std::filesystem::remove_all(entry.path(), ignored);
  return 0;
}
