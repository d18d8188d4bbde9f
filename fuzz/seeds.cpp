// fuzz_seeds: writes the seed corpus of every fuzz target (fuzz/corpus/<target>/) from values the
// code itself encodes, so the fuzzers start from well-formed inputs of every kind. Deterministic:
// running it again rewrites the same files. Usage: fuzz_seeds CORPUS_DIR
#include "fuzz_common.hpp"
#include "ivf_base.hpp"

#include "telos/messages/json.hpp"
#include "telos/messages/type_ids.hpp"
#include "telos/storage/edges.hpp"
#include "telos/storage/index_snapshot.hpp"
#include "telos/storage/key_codec.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/vector_index.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace telos;

namespace {

fs::path corpus_root;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  auto dir = corpus_root / target;
  fs::create_directories(dir);
  std::ofstream out{dir / name, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string with_selector(int selector, const std::string& bytes) {
  return std::string(1, static_cast<char>(selector)) + bytes;
}

profile fuzz_profile() {
  profile p;
  p.name = "custom";
  p.embedders = {{"d", embedder_kind::dense, 4, metric::cosine},
                 {"s", embedder_kind::sparse, 100, metric::dot},
                 {"m", embedder_kind::multi, 3, metric::cosine}};
  return p;
}

memory sample_memory(int n) {
  memory m;
  std::string raw(16, '\0');
  for (int i = 0; i < 16; ++i)
    raw[i] = static_cast<char>(n * 17 + i + 1);
  m.id = uuid::from_bytes(raw);
  m.ns = n % 2 ? "default" : "notes";
  m.content = "memory number " + std::to_string(n);
  m.attributes = {{"kind", "test"}, {"n", std::to_string(n)}};
  m.created_at = 1700000000000 + n;
  m.updated_at = 1700000000500 + n;
  m.embeddings["d"] = embedding::dense({1.0f + n, 0.5f, -0.25f, 2});
  m.embeddings["s"] = embedding::sparse({1, 7, static_cast<uint32_t>(20 + n)}, {0.5f, 1, 2});
  m.embeddings["m"] = embedding::dense({1, 0, 0, 0, 1, static_cast<float>(n)});
  return m;
}

void envelope_seeds() {
  auto p = fuzz_profile();
  auto m = sample_memory(1);
  storage::changelog_entry changes{{sample_memory(1).id, sample_memory(2).id},
                                   {sample_memory(3).id}};
  const std::pair<int, std::string> values[] = {
      {0, encode_value(m)},
      {1, storage::encode_profile(p)},
      {2, encode_value(m.embeddings["s"])},
      {3, encode_value(limits{})},
      {4, storage::encode_record(m)},
      {5, storage::encode_vector(p.embedders[0], m.embeddings["d"])},
      {6, storage::encode_vector(p.embedders[1], m.embeddings["s"])},
      {7, storage::encode_vector(p.embedders[2], m.embeddings["m"])},
      {8, storage::encode_changelog_entry(changes)},
      {9, storage::encode_snapshot_marker({42, sample_memory(4).id, uuid{}})},
      {10, storage::encode_counter(12345)},
      {11, encode_value(storage::edge_properties{0.5, {{"why", "fuzz"}}})},
  };
  for (const auto& [selector, value] : values) {
    seed("envelope", "framed-" + std::to_string(selector),
         with_selector(selector, fuzz::framed_of(value)));
    seed("envelope", "stored-" + std::to_string(selector), with_selector(selector | 0x80, value));
  }
  // A marker that names a delta too (schema 2).
  auto with_delta = storage::encode_snapshot_marker({43, sample_memory(4).id, sample_memory(5).id});
  seed("envelope", "framed-9-delta", with_selector(9, fuzz::framed_of(with_delta)));
  seed("envelope", "stored-9-delta", with_selector(9 | 0x80, with_delta));
}

void key_codec_seeds() {
  // kinds: 0 u8, 1 u32, 2 u64, 3 i64, 4 string, 5 id
  auto key = storage::key_builder{}.u8(3).string("ns\0x").id(sample_memory(1).id).take();
  seed("key_codec", "u8-string-id", std::string{"\x03\x00\x04\x05", 4} + key);
  auto two = storage::key_builder{}.string("a").i64(-5).take() +
             storage::key_builder{}.string("ab").i64(7).take();
  seed("key_codec", "two-keys", std::string{"\x02\x04\x03", 3} + two);
  auto ints = storage::key_builder{}.u32(7).u64(1ull << 40).take();
  seed("key_codec", "ints", std::string{"\x02\x01\x02", 3} + ints);
  seed("key_codec", "namespace-key",
       std::string{"\x00", 1} + storage::namespace_key("notes", sample_memory(2).id));
  seed("key_codec", "changelog-key", std::string{"\x00", 1} + storage::changelog_key(99));
  seed("key_codec", "count-key", std::string{"\x00", 1} + storage::namespace_count_key("ns"));
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// The framed form (index_snapshot.cpp) of a snapshot file: meta length, framed meta, sections
/// (without the padding a version-2 file has after its meta data: the harness writes version 1).
std::string framed_snapshot(const std::string& file) {
  constexpr size_t header = 8 + 4 + 1 + 4;
  uint32_t meta_length = 0;
  std::memcpy(&meta_length, file.data() + header - 4, 4);
  auto meta = fuzz::framed_of(std::string_view{file}.substr(header, meta_length));
  std::string out;
  out.push_back(static_cast<char>(meta.size() & 0xFF));
  out.push_back(static_cast<char>(meta.size() >> 8));
  out += meta;
  size_t sections = header + meta_length;
  sections +=
      (storage::snapshot_section_alignment - sections % storage::snapshot_section_alignment) %
      storage::snapshot_section_alignment;
  out.append(file, sections, file.size() - sections - 8);
  return out;
}

/// Deltas over fuzz/ivf_base.hpp's base: one of appends (structure 8), then one that also
/// removes and replaces rows of the base (9); whole and framed (selector 3, + 4 framed, + 8 for
/// structure 9).
void delta_seeds(const fs::path& dir) {
  auto index = fuzz::ivf_base((dir / "base").string());
  if (!index) return;
  auto write = [&](const std::string& name, int selector) {
    auto path = dir / name;
    if (!index->save_delta(path.string())) return;
    auto file = read_file(path);
    seed("index_snapshot", "file-" + name, with_selector(3, file));
    seed("index_snapshot", "framed-" + name, with_selector(selector, framed_snapshot(file)));
  };
  for (int n = fuzz::ivf_base_vectors; n < fuzz::ivf_base_vectors + 6; ++n)
    index->upsert(fuzz::ivf_id(n), fuzz::ivf_vector(n));
  index->maintain(4); // four filed, two fresh
  write("ivf-delta-appends", 3 | 4);
  index->remove(fuzz::ivf_id(1));
  index->remove(fuzz::ivf_id(fuzz::ivf_base_vectors + 1));
  index->upsert(fuzz::ivf_id(2), fuzz::ivf_vector(99));
  index->maintain(64);
  write("ivf-delta-removals", 3 | 4 | 8);
}

void index_snapshot_seeds() {
  auto p = fuzz_profile();
  auto dir = fs::temp_directory_path() / ("telos-fuzz-seeds-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (int kind = 0; kind < 3; ++kind) {
    for (int count : {0, 3, 12}) {
      storage::index_options opts;
      opts.hnsw_threshold = 8;
      auto index = storage::make_vector_index(p.embedders[kind], opts);
      for (int n = 0; n < count; ++n) {
        auto m = sample_memory(n);
        index->upsert(m.id, m.embeddings.at(p.embedders[kind].name));
      }
      if (count > 0) index->remove(sample_memory(0).id);
      index->maintain(count);
      auto path = dir / ("index-" + std::to_string(kind) + "-" + std::to_string(count));
      if (!index->save(path.string())) continue;
      auto file = read_file(path);
      auto name = std::string{to_string(p.embedders[kind].kind)} + "-" + std::to_string(count);
      seed("index_snapshot", "file-" + name, with_selector(kind, file));
      seed("index_snapshot", "framed-" + name, with_selector(kind | 4, framed_snapshot(file)));
    }
  }
  delta_seeds(dir);
  fs::remove_all(dir);
}

void json_seeds() {
  auto p = fuzz_profile();
  seed("json", "profile", with_selector(0, to_json(p)));
  seed("json", "profile-teleo13", with_selector(0, to_json(profile::teleo13())));
  seed("json", "profile-member", with_selector(3, p.to_json()));
  seed("json", "memory", with_selector(1, to_json(sample_memory(1), p)));
  seed("json", "memory-no-id",
       with_selector(1, R"({"content":"x","embeddings":{"d":[1,2,3,4],"s":{"indices":[1],)"
                        R"("values":[0.5]},"m":[[1,0,0]]}})"));
  memory q;
  q.embeddings["d"] = embedding::dense({0.1f, 0.2f, 0.3f, 0.4f});
  seed("json", "query", with_selector(2, to_json(q, p)));
  seed("json", "query-all", with_selector(2, to_json(sample_memory(2), p)));
}

void import_line_seeds() {
  auto p = fuzz_profile();
  seed("import_line", "three-lines",
       to_json(sample_memory(1), p) + "\n\n" + to_json(sample_memory(2), p) + "\n  \r\n" +
           R"({"content":"bad","embeddings":{"d":[0,0,0,0]}})" + "\n");
  seed("import_line", "one-line", to_json(sample_memory(3), p));
}

void interner_seeds() {
  // The interner's input is a program read by FuzzedDataProvider; random bytes of a fixed seed
  // make programs of every kind of step.
  std::mt19937 random{15};
  for (int i = 0; i < 16; ++i) {
    std::string bytes(64 + 32 * (i % 8), '\0');
    for (auto& c : bytes)
      c = static_cast<char>(random() & 0xFF);
    seed("interner", "program-" + std::to_string(i), bytes);
  }
}

template <class T>
void caf_seed(caf::actor_system& sys, int selector, const std::string& name, const T& x) {
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  if (sink(const_cast<T&>(x))) return;
  seed("caf_message", name, with_selector(selector, std::string{bytes.begin(), bytes.end()}));
}

template <size_t... Is>
void caf_default_seeds(caf::actor_system& sys, std::index_sequence<Is...>) {
  constexpr auto first = caf::id_block::telos::begin;
  (caf_seed(sys, static_cast<int>(Is), "default-" + std::to_string(Is),
            typename caf::type_by_id<first + Is>::type{}),
   ...);
}

void caf_message_seeds() {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::telos>();
  cfg.set("scheduler.policy", caf::atom("testing"));
  caf::actor_system sys{cfg};
  constexpr auto first = caf::id_block::telos::begin;
  constexpr auto count = caf::id_block::telos::end - first;
  caf_default_seeds(sys, std::make_index_sequence<count>{});
  auto index_of = [&](caf::type_id_t id) { return static_cast<int>(id - first); };
  caf_seed(sys, index_of(caf::type_id<memory>::value), "memory", sample_memory(1));
  caf_seed(sys, index_of(caf::type_id<std::vector<memory>>::value), "memories",
           std::vector<memory>{sample_memory(1), sample_memory(2)});
  caf_seed(sys, index_of(caf::type_id<profile>::value), "profile", fuzz_profile());
  search_request request;
  request.embedder = "d";
  request.query = embedding::dense({1, 2, 3, 4});
  request.filter.ns = "notes";
  request.filter.created_after = 5;
  caf_seed(sys, index_of(caf::type_id<search_request>::value), "search", request);
  write_batch batch;
  batch.put(1, "key", "value");
  batch.del(2, "gone");
  caf_seed(sys, index_of(caf::type_id<write_batch>::value), "write_batch", batch);
  caf_seed(sys, index_of(caf::type_id<flag_list>::value), "bools", flag_list{true, false, true});
  caf_seed(sys, 255, "message-memory", caf::make_message(sample_memory(1)));
  caf_seed(sys, 255, "message-search", caf::make_message(request, flag_list{true}));
  caf_seed(sys, 255, "message-batch", caf::make_message(batch, uint32_t{7}, std::string{"x"}));
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
    return 2;
  }
  corpus_root = argv[1];
  envelope_seeds();
  key_codec_seeds();
  index_snapshot_seeds();
  json_seeds();
  import_line_seeds();
  interner_seeds();
  caf_message_seeds();
  return 0;
}
