// telos-bench scale: one node at scale. A child process ingests N clustered teleo13 memories
// through the facade (every write acknowledged) and logs every acknowledgement; the parent then
// reports the ingest rate over time and the longest gap between acknowledgements, resident memory,
// disk bytes and write amplification per memory, recall@10 of every embedder and of the fused
// search against exact f32 answers, search latency percentiles, and restart times after a clean
// close and after a `kill -9` of a second ingesting child. The same E1 vectors then go through
// hnswlib and FAISS (IndexHNSWFlat, IndexHNSWSQ, IndexIVFScalarQuantizer) for build cost and
// memory per vector. JSON on stdout (and --json), a PNG plot through gnuplot.
#include "bench_command.hpp"
#include "synthetic.hpp"
#include "timing.hpp"

#include "telos/actors/store.hpp"
#include "telos/shard/record_catalog.hpp"
#include "telos/shard/write_group.hpp"
#include "telos/storage/layout.hpp"
#include "telos/storage/vector_index.hpp"

// hnswlib defines a few non-inline functions; they get names of their own here, so this file
// links beside engine.cpp and index.cpp (see engine.cpp).
#define cpuid telos_scale_bench_cpuid
#define xgetbv telos_scale_bench_xgetbv
#define AVXCapable telos_scale_bench_AVXCapable
#define AVX512Capable telos_scale_bench_AVX512Capable
#define L2SqrSIMD16Ext telos_scale_bench_L2SqrSIMD16Ext
#define L2SqrSIMD4Ext telos_scale_bench_L2SqrSIMD4Ext
#define InnerProductSIMD16Ext telos_scale_bench_InnerProductSIMD16Ext
#define InnerProductSIMD4Ext telos_scale_bench_InnerProductSIMD4Ext
#define InnerProductDistanceSIMD16Ext telos_scale_bench_InnerProductDistanceSIMD16Ext
#define InnerProductDistanceSIMD4Ext telos_scale_bench_InnerProductDistanceSIMD4Ext
#include <hnswlib/hnswlib.h>
#undef cpuid
#undef xgetbv
#undef AVXCapable
#undef AVX512Capable
#undef L2SqrSIMD16Ext
#undef L2SqrSIMD4Ext
#undef InnerProductSIMD16Ext
#undef InnerProductSIMD4Ext
#undef InnerProductDistanceSIMD16Ext
#undef InnerProductDistanceSIMD4Ext

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexScalarQuantizer.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace telos::bench::scale_bench {

using steady = std::chrono::steady_clock;
using json = nlohmann::json;
namespace fs = std::filesystem;

struct options {
  std::string dir = "/tmp/telos-bench-scale";
  size_t n = 1'000'000;
  size_t batch = 32;
  size_t clients = 2;
  size_t clusters = 64;
  uint32_t seed = 42;
  /// "teleo13" or a profile JSON file (profile::load); every dense embedder must be cosine, the
  /// metric of the exact reference.
  std::string profile = "teleo13";
  size_t queries = 50;
  /// The run's queries are numbers query_offset .. query_offset + queries - 1 of the query
  /// generator's sequence: a --search-only run with another offset searches with queries the
  /// store was never searched with, so their originals are read from the device for the first
  /// time (docs/BENCHMARKS.md, "First reads").
  size_t query_offset = 0;
  size_t m = 16;
  /// The libraries' M and efConstruction; the store's dense embedders take theirs from
  /// teleo13's index policy (M 16, efConstruction 100), so the defaults match it.
  size_t ef_construction = 100;
  /// HNSW ef at query time; 0: the store's default, which grows with each graph
  /// (storage::default_search_ef), and the libraries get the value it gives for their size.
  size_t ef = 0;
  /// E1 vectors given to hnswlib and FAISS (the first ones of the data); 0 = none.
  size_t compare_n = 200'000;
  /// Memories the second child tries to add before it is killed (at half of them, or at
  /// kill_at, or at the worst point with kill_before_checkpoint).
  size_t crash_n = 2000;
  /// Kill the second child once it acknowledged this many memories (0: half of crash_n).
  size_t kill_at = 0;
  /// Kill the second child at the worst point for the restart: when an index that checkpointed
  /// in this session reached kill_fraction of the changes its next checkpoint is due at, i.e. just
  /// before that index would have saved a snapshot (the child watches its indexes' stats and
  /// kills itself with SIGKILL). crash_n is then only the most it adds (default: 2 n: the first
  /// checkpoint after the open comes after a part of the interval, the worst point up to almost a
  /// whole one after it).
  bool kill_before_checkpoint = false;
  double kill_fraction = 0.95;
  /// Keep the store as the kill left it in <dir>/crashed (RocksDB's table and blob files and the
  /// index snapshots hard links, the rest copied), for --reopen-crashed.
  bool keep_crashed = false;
  /// Instead of a run: open a copy of <dir>/crashed --rounds times (each copy made afresh,
  /// removed after its close) and report each open's time and where it went. Opening the same
  /// crashed store with two builds in turn is an A/B of the recovery with the same work.
  bool reopen_crashed = false;
  /// backend_options::vector_blob_files of the store.
  bool vector_blob_files = storage::backend_options{}.vector_blob_files;
  /// backend_options::vector_blob_gc_age_cutoff of the store.
  double blob_gc_age_cutoff = storage::backend_options{}.vector_blob_gc_age_cutoff;
  /// "sequential" (ids ascend with the memory's number, as the engine's own time-ordered ids do)
  /// or "hashed" (spread like the random UUIDv4s a client may bring).
  std::string ids = "sequential";
  /// store_options::checkpoint_every and checkpoint_fraction of the store.
  size_t checkpoint_every = store_options{}.checkpoint_every;
  double checkpoint_fraction = store_options{}.checkpoint_fraction;
  std::string json_path;
  std::string plot_path = "telos-bench-scale.png";
  bool keep = false;
  /// Search the store a run with --keep left in --dir (with its exact answers, exact.json)
  /// instead of ingesting: recall and latency only.
  bool search_only = false;
  /// index_options::rescore_depth of the store; with --search-only, several values are searched
  /// one after another (the store reopened for each), --rounds times, alternating.
  std::vector<size_t> rescore_depths = {storage::default_rescore_depth};
  size_t rounds = 1;
  /// store_options::read_threads of the store; with --search-only, several values are searched in
  /// turn like --rescore-depth.
  std::vector<size_t> read_threads = {store_options{}.read_threads};
  /// index_options::ivf_nprobe (0: the default, growing with the lists); with --search-only,
  /// several values are searched in turn like --rescore-depth.
  std::vector<size_t> nprobes = {0};
  /// index_options::int8_oversample; with --search-only, several values are searched in turn like
  /// --rescore-depth.
  std::vector<size_t> int8_oversamples = {storage::index_options{}.int8_oversample};
  /// index_options::maxsim_oversample; with --search-only, several values are searched in turn
  /// like --rescore-depth.
  std::vector<size_t> maxsim_oversamples = {storage::index_options{}.maxsim_oversample};
  /// store_options::worker_threads (0 = CAF's default); with --search-only, several values are
  /// searched in turn like --rescore-depth.
  std::vector<size_t> workers = {store_options{}.worker_threads};
  /// index_options::split_parts (0 = one per core; 1 = every scan on the searching thread); with
  /// --search-only, several values are searched in turn like --rescore-depth.
  std::vector<size_t> split_parts = {storage::index_options{}.split_parts};
  /// backend_options::block_cache_mb of the store. A cold run at 100,000 memories emulates one
  /// at 1M better with a small cache: there the default 256 MB hold under 1% of the vector
  /// keyspaces, here they would hold the candidates an earlier search of the same query read.
  size_t block_cache_mb = storage::backend_options{}.block_cache_mb;
  /// backend_options::max_open_files of the store (-1: RocksDB opens every table file, its index
  /// and filter, at open; otherwise it opens at most 16 then and the rest at their first read).
  int max_open_files = storage::backend_options{}.max_open_files;
  /// backend_options::open_table_files of the store.
  bool open_table_files = storage::backend_options{}.open_table_files;
  /// store_options::read_part_keys.
  size_t read_part_keys = store_options{}.read_part_keys;
  /// --search-only: the page cache each timed search starts from, searched in turn: "warm" (the
  /// store's files read once after the open), "cold" (the store's files evicted from the page
  /// cache before the open and before every timed search, as when the vector keyspaces far
  /// outgrow the memory: docs/BENCHMARKS.md, "Cold re-score reads") or "as-is" (neither: a
  /// store larger than the memory opened as the runs before left the cache).
  std::vector<std::string> page_cache = {"warm"};
  /// "on": index_options::snapshot_map_bytes as it is (a dense ivf index maps its lists' rows from
  /// the snapshot), "off": SIZE_MAX (reads them into memory of its own); with --search-only both
  /// can be given, opened in turn.
  std::vector<std::string> map_snapshots = {"on"};
  /// Fail (exit 3) if any embedder's or the fused recall@10 is below this; 0 = report only.
  double min_recall = 0;
  // A child's part (hidden options): ingest the first child_count memories of the data of
  // `child_seed`, with the ids of memories [child_first, child_first + child_count), log acks to
  // child_acks, write its report to child_report.
  size_t child_count = 0;
  size_t child_first = 0;
  uint32_t child_seed = 0;
  std::string child_acks;
  std::string child_report;
  /// > 0: kill_before_checkpoint's watcher in the child, which writes what it saw to
  /// child_kill_report just before the kill.
  double child_kill_fraction = 0;
  std::string child_kill_report;
};

struct scale_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T need(expected<T> x, const std::string& what) {
  if (!x) throw scale_failure(what + ": " + describe(x.error()));
  return std::move(*x);
}

void need(expected<void> x, const std::string& what) {
  if (!x) throw scale_failure(what + ": " + describe(x.error()));
}

/// A field of /proc/self/status in bytes (VmRSS, VmHWM).
uint64_t status_bytes(const std::string& field) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  return 0;
}

/// Bytes this process caused to be written to the block device so far (every thread, RocksDB's
/// background flushes and compactions included): /proc/self/io write_bytes.
uint64_t device_write_bytes() {
  std::ifstream in{"/proc/self/io"};
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "write_bytes:") return value;
  return 0;
}

/// What /proc/self/io says this process read so far: bytes fetched from the block device and
/// read system calls (pread included, whether the page cache answered or the device).
struct read_counters {
  uint64_t device_bytes = 0;
  uint64_t syscalls = 0;
};

read_counters process_reads() {
  std::ifstream in{"/proc/self/io"};
  std::string key;
  uint64_t value = 0;
  read_counters out;
  while (in >> key >> value) {
    if (key == "read_bytes:") out.device_bytes = value;
    if (key == "syscr:") out.syscalls = value;
  }
  return out;
}

/// Drops every file of the store under `path` from the page cache (posix_fadvise DONTNEED on each),
/// so the next reads go to the device; other processes' files keep their cached pages. RocksDB's
/// own block cache is not touched.
void evict_from_page_cache(const std::string& path) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator{path, ec}; !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

/// Reads every file of the store under `path` once, so the runs of --page-cache warm start with
/// the whole store in the page cache (as a store smaller than the memory is after a while).
void load_into_page_cache(const std::string& path) {
  std::error_code ec;
  std::vector<char> buffer(size_t{1} << 20);
  for (auto it = fs::recursive_directory_iterator{path, ec}; !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    while (::read(fd, buffer.data(), buffer.size()) > 0) {
    }
    ::close(fd);
  }
}

/// The one-minute load average (/proc/loadavg), recorded beside each search run.
double load_average() {
  std::ifstream in{"/proc/loadavg"};
  double one = 0;
  in >> one;
  return one;
}

uint64_t directory_bytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator{path, ec}; !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

double percentile_of(std::vector<double> xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(xs.size())));
  return xs[std::min(xs.size() - 1, i == 0 ? 0 : i - 1)];
}

/// The profile of the run: --profile, loaded and checked against what the exact reference scores.
profile profile_of(const options& o) {
  auto p = need(profile::load(o.profile), "--profile");
  for (const auto& e : p.embedders)
    if (e.kind == embedder_kind::dense && e.metric != metric::cosine)
      throw scale_failure("--profile: embedder " + e.name + " has metric " + to_string(e.metric) +
                          "; the exact reference of telos-bench scale scores dense embedders "
                          "by cosine");
  return p;
}

/// --ids hashed: ids spread over the key space, as random version-4 ids a client brings are,
/// instead of ascending with the memory's number as the engine's own time-ordered (version-7)
/// ids do (set once, before any id is made).
bool hashed_ids = false;

/// splitmix64's finaliser: a bijection, so hashed ids stay distinct.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// The id of memory i: deterministic, so the parent knows what its children stored. Ascending
/// with i by default: each keyspace then receives its keys in order and RocksDB's compactions
/// move table files down without rewriting them, as with the engine's own time-ordered ids; with
/// hashed_ids they land anywhere, as a client's random ids do, and compactions rewrite what
/// overlaps.
uuid id_of(uint64_t i) {
  std::string raw(16, '\0');
  raw[0] = 's';
  const uint64_t low = hashed_ids ? mix64(i) : i;
  for (int b = 0; b < 8; ++b)
    raw[static_cast<size_t>(15 - b)] = static_cast<char>((low >> (8 * b)) & 0xff);
  if (hashed_ids)
    for (int b = 0; b < 7; ++b)
      raw[static_cast<size_t>(1 + b)] = static_cast<char>((low >> (8 * b + 3)) & 0xff);
  return uuid::from_bytes(raw);
}

/// The data of `seed` from its first memory on (the generator's noise is one sequence, so every
/// process that asks for memory i of a seed gets the same one), with ids from `first_id` on: the
/// second child adds other memories under new ids without generating the first child's again.
class data_stream {
public:
  data_stream(const options& o, uint32_t seed, size_t first_id = 0)
      : gen_(profile_of(o), o.clusters, seed), first_id_(first_id) {}
  memory next() {
    auto m = gen_.make_memory(i_);
    m.id = id_of(first_id_ + i_);
    ++i_;
    return m;
  }

private:
  synthetic gen_;
  size_t first_id_ = 0;
  size_t i_ = 0;
};

/// One combination of the settings --search-only searches in turn (an ingest uses the first).
struct search_setting {
  size_t rescore_depth = 0;
  size_t read_threads = 0;
  size_t nprobe = 0;
  size_t int8_oversample = 0;
  size_t maxsim_oversample = 0;
  size_t worker_threads = 0;
  size_t split_parts = 0;
  std::string page_cache;
  std::string map_snapshots;
};

/// Every combination of the listed settings, in the order --search-only opens them: the last
/// option's values vary fastest.
std::vector<search_setting> search_settings(const options& o) {
  std::vector<search_setting> all{search_setting{}};
  auto times = [&all](const auto& values, auto set) {
    std::vector<search_setting> next;
    next.reserve(all.size() * values.size());
    for (const auto& s : all)
      for (const auto& v : values) {
        next.push_back(s);
        set(next.back(), v);
      }
    all = std::move(next);
  };
  times(o.rescore_depths, [](search_setting& s, size_t v) { s.rescore_depth = v; });
  times(o.read_threads, [](search_setting& s, size_t v) { s.read_threads = v; });
  times(o.nprobes, [](search_setting& s, size_t v) { s.nprobe = v; });
  times(o.int8_oversamples, [](search_setting& s, size_t v) { s.int8_oversample = v; });
  times(o.maxsim_oversamples, [](search_setting& s, size_t v) { s.maxsim_oversample = v; });
  times(o.workers, [](search_setting& s, size_t v) { s.worker_threads = v; });
  times(o.split_parts, [](search_setting& s, size_t v) { s.split_parts = v; });
  times(o.page_cache, [](search_setting& s, const std::string& v) { s.page_cache = v; });
  times(o.map_snapshots, [](search_setting& s, const std::string& v) { s.map_snapshots = v; });
  return all;
}

store_options store_at(const options& o, const search_setting& setting) {
  store_options so;
  so.path = o.dir + "/store";
  so.backend = storage::backend_kind::rocksdb;
  so.profile = profile_of(o);
  so.create_if_missing = true;
  so.index_options.hnsw_m = o.m;
  so.index_options.hnsw_ef_construction = o.ef_construction;
  so.index_options.hnsw_ef_search = o.ef;
  so.index_options.rescore_depth = setting.rescore_depth;
  so.read_threads = setting.read_threads;
  so.index_options.ivf_nprobe = setting.nprobe;
  so.index_options.int8_oversample = setting.int8_oversample;
  so.index_options.maxsim_oversample = setting.maxsim_oversample;
  so.worker_threads = setting.worker_threads;
  so.index_options.split_parts = setting.split_parts;
  if (setting.map_snapshots == "off") so.index_options.snapshot_map_bytes = SIZE_MAX;
  so.read_part_keys = o.read_part_keys;
  so.backend_options.block_cache_mb = o.block_cache_mb;
  so.backend_options.max_open_files = o.max_open_files;
  so.backend_options.open_table_files = o.open_table_files;
  so.backend_options.vector_blob_files = o.vector_blob_files;
  so.backend_options.vector_blob_gc_age_cutoff = o.blob_gc_age_cutoff;
  so.checkpoint_every = o.checkpoint_every;
  so.checkpoint_fraction = o.checkpoint_fraction;
  return so;
}

/// The store an ingest writes and reopens: the first value of every setting.
store_options store_at(const options& o) {
  return store_at(o, search_settings(o).front());
}

// -- the child: ingest and log every acknowledgement -------------------------------------------

/// --kill-before-checkpoint, in the child: polls the indexes' stats until one of them that
/// checkpointed in this session has `fraction` of the changes its next checkpoint is due at
/// (next_checkpoint: the interval when it last checkpointed) since its last one, then writes what
/// every index had (changes since its checkpoint: about what the restart will replay) to
/// `report` and kills the process with SIGKILL, as `kill -9` would, while the clients keep
/// writing. Returns when `done` is set first (the ingest ended).
void kill_before_checkpoint(store& db, double fraction, const std::string& report,
                            const std::atomic<bool>& done) {
  while (!done) {
    auto stats = db.stats();
    if (stats) {
      const index_report* worst = nullptr;
      double worst_share = 0;
      for (const auto& ix : stats->indexes) {
        // Only indexes that checkpointed in this session: the first checkpoint after an open
        // comes after a part of the interval (checkpoint_phase), later ones after a whole one.
        // The due count, not the interval now: the interval grows with the index, and a
        // growing index checkpoints at the count set at its last checkpoint.
        if (ix.next_checkpoint == 0 || ix.checkpoints == 0) continue;
        double share = static_cast<double>(ix.changes_since_checkpoint) /
                       static_cast<double>(ix.next_checkpoint);
        if (share > worst_share) {
          worst_share = share;
          worst = &ix;
        }
      }
      if (worst != nullptr && worst_share >= fraction) {
        json indexes = json::array();
        uint64_t changes = 0, most = 0;
        for (const auto& ix : stats->indexes) {
          changes += ix.changes_since_checkpoint;
          most = std::max(most, ix.changes_since_checkpoint);
          indexes.push_back({{"embedder", ix.embedder},
                             {"shard", ix.shard},
                             {"changes_since_checkpoint", ix.changes_since_checkpoint},
                             {"next_checkpoint", ix.next_checkpoint},
                             {"checkpoint_interval", ix.checkpoint_interval},
                             {"checkpoints", ix.checkpoints}});
        }
        json seen = {{"worst_index", worst->embedder},
                     {"worst_share_of_next_checkpoint", worst_share},
                     {"next_checkpoint", worst->next_checkpoint},
                     {"checkpoint_interval", worst->checkpoint_interval},
                     {"changes_since_checkpoint_sum", changes},
                     {"changes_since_checkpoint_max", most},
                     {"memories", stats->memories},
                     {"indexes", indexes}};
        {
          std::ofstream out{report};
          out << seen.dump() << '\n';
        }
        ::kill(::getpid(), SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int run_child(const options& o) {
  auto opened = steady::now();
  auto db = need(store::open(store_at(o)), "open");
  double open_s = seconds_since(opened);
  ::malloc_trim(0);
  auto rss_before = status_bytes("VmRSS");
  auto io_before = device_write_bytes();
  data_stream data{o, o.child_seed, o.child_first};
  std::mutex data_mutex;
  size_t next = o.child_first;
  const size_t end = o.child_first + o.child_count;
  std::FILE* acks = std::fopen(o.child_acks.c_str(), "w");
  if (acks == nullptr) throw scale_failure("cannot write " + o.child_acks);
  std::mutex ack_mutex;
  std::atomic<bool> failed{false};
  std::string failure;
  auto start = steady::now();
  // The index actors' trace (TELOS_TRACE_INDEX) stamps lines with the steady clock; this line
  // gives the ack log's zero on it.
  if (std::getenv("TELOS_TRACE_INDEX") != nullptr)
    std::fprintf(stderr, "telos-trace %.6f ingest-start\n",
                 std::chrono::duration<double>(start.time_since_epoch()).count());
  std::atomic<bool> ingested{false};
  std::thread watcher;
  if (o.child_kill_fraction > 0)
    watcher = std::thread{
        [&] { kill_before_checkpoint(*db, o.child_kill_fraction, o.child_kill_report, ingested); }};
  std::vector<std::thread> clients;
  for (size_t c = 0; c < o.clients; ++c)
    clients.emplace_back([&] {
      while (!failed) {
        std::vector<memory> batch;
        size_t first = 0;
        {
          std::lock_guard guard{data_mutex};
          if (next >= end) return;
          first = next;
          for (; next < end && batch.size() < o.batch; ++next)
            batch.push_back(data.next());
        }
        auto count = batch.size();
        auto t0 = seconds_since(start);
        auto ok = db->put_batch(std::move(batch));
        auto t1 = seconds_since(start);
        std::lock_guard guard{ack_mutex};
        if (!ok) {
          failure = describe(ok.error());
          failed = true;
          return;
        }
        // One line per acknowledged batch: when, its latency, its first memory, its size.
        std::fprintf(acks, "%.6f %.6f %zu %zu\n", t1, t1 - t0, first, count);
        std::fflush(acks);
      }
    });
  for (auto& t : clients)
    t.join();
  double ingest_s = seconds_since(start);
  ingested = true;
  if (watcher.joinable()) watcher.join();
  std::fclose(acks);
  if (failed) throw scale_failure("put_batch: " + failure);
  ::malloc_trim(0);
  auto rss_after = status_bytes("VmRSS");
  auto hwm = status_bytes("VmHWM");
  auto stats = need(db->stats(), "stats");
  uint64_t fresh = 0, index_bytes = 0;
  for (const auto& ix : stats.indexes) {
    fresh += ix.stats.fresh;
    index_bytes += ix.stats.memory_bytes;
  }
  auto closing = steady::now();
  need(db->close(), "close");
  double close_s = seconds_since(closing);
  json report = {{"open_s", open_s},
                 {"ingest_s", ingest_s},
                 {"close_s", close_s},
                 {"rss_before", rss_before},
                 {"rss_after", rss_after},
                 {"vm_hwm", hwm},
                 {"fresh_at_end", fresh},
                 {"index_bytes", index_bytes},
                 {"device_write_bytes", device_write_bytes() - io_before},
                 // RocksDB's own share of the writes (the rest is the indexes' checkpoints);
                 // asked before the close, so the close's flushes are not in it.
                 {"rocksdb_written",
                  {{"user", stats.written.user},
                   {"wal", stats.written.wal},
                   {"flush", stats.written.flush},
                   {"compaction", stats.written.compaction},
                   {"blob", stats.written.blob}}}};
  std::ofstream{o.child_report} << report.dump() << '\n';
  return 0;
}

/// Starts this binary as a child ingesting [first, first + count) of the data of `seed`.
pid_t spawn_child(const options& o, size_t first, size_t count, uint32_t seed,
                  const std::string& acks, const std::string& report, double kill_fraction = 0,
                  const std::string& kill_report = {}) {
  std::vector<std::string> args = {"telos-bench",
                                   "scale",
                                   "--dir",
                                   o.dir,
                                   "--clusters",
                                   std::to_string(o.clusters),
                                   "--profile",
                                   o.profile,
                                   "--batch",
                                   std::to_string(o.batch),
                                   "--clients",
                                   std::to_string(o.clients),
                                   "--m",
                                   std::to_string(o.m),
                                   "--ef-construction",
                                   std::to_string(o.ef_construction),
                                   "--ef",
                                   std::to_string(o.ef),
                                   "--vector-blob-files",
                                   o.vector_blob_files ? "true" : "false",
                                   "--blob-gc-age-cutoff",
                                   std::to_string(o.blob_gc_age_cutoff),
                                   "--max-open-files",
                                   std::to_string(o.max_open_files),
                                   "--open-table-files",
                                   o.open_table_files ? "true" : "false",
                                   "--ids",
                                   o.ids,
                                   "--checkpoint-every",
                                   std::to_string(o.checkpoint_every),
                                   "--checkpoint-fraction",
                                   std::to_string(o.checkpoint_fraction),
                                   "--child-first",
                                   std::to_string(first),
                                   "--child-count",
                                   std::to_string(count),
                                   "--child-seed",
                                   std::to_string(seed),
                                   "--child-acks",
                                   acks,
                                   "--child-report",
                                   report};
  if (kill_fraction > 0) {
    args.push_back("--child-kill-fraction");
    args.push_back(std::to_string(kill_fraction));
    args.push_back("--child-kill-report");
    args.push_back(kill_report);
  }
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto pid = ::fork();
  if (pid < 0) throw scale_failure("fork failed");
  if (pid == 0) {
    ::execv("/proc/self/exe", argv.data());
    std::perror("telos-bench scale: exec");
    ::_exit(127);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct ack {
  double at = 0;
  double latency = 0;
  size_t first = 0;
  size_t count = 0;
};

std::vector<ack> read_acks(const std::string& path) {
  std::vector<ack> out;
  std::ifstream in{path};
  ack a;
  while (in >> a.at >> a.latency >> a.first >> a.count)
    out.push_back(a);
  std::sort(out.begin(), out.end(), [](const ack& x, const ack& y) { return x.at < y.at; });
  return out;
}

// -- exact answers ------------------------------------------------------------------------------

float dot(const float* a, const float* b, size_t n) {
  float s[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j)
      s[j] += a[i + j] * b[i + j];
  float total = 0;
  for (; i < n; ++i)
    total += a[i] * b[i];
  for (float x : s)
    total += x;
  return total;
}

std::vector<float> unit(const std::vector<float>& v, size_t from = 0, size_t dim = 0) {
  if (dim == 0) dim = v.size();
  std::vector<float> out(v.begin() + static_cast<ptrdiff_t>(from),
                         v.begin() + static_cast<ptrdiff_t>(from + dim));
  auto norm = std::sqrt(dot(out.data(), out.data(), dim));
  if (norm > 0)
    for (auto& x : out)
      x /= norm;
  return out;
}

/// An embedding prepared for exact scoring: dense vectors and multi tokens scaled to unit length
/// (teleo13's dense metric is cosine; MaxSim compares tokens by cosine); sparse ones unchanged.
embedding prepared(const embedder& spec, const embedding& e) {
  embedding out = e;
  size_t dim = spec.kind == embedder_kind::multi ? spec.dim : e.values.size();
  if (spec.kind == embedder_kind::sparse || dim == 0) return out;
  for (size_t from = 0; from + dim <= e.values.size(); from += dim) {
    auto u = unit(e.values, from, dim);
    std::copy(u.begin(), u.end(), out.values.begin() + static_cast<ptrdiff_t>(from));
  }
  return out;
}

/// The exact score of a stored embedding for a query of the same embedder (both prepared), as the
/// engine defines it: cosine, sparse dot product, MaxSim (mean over query tokens of the best
/// token cosine).
float exact_score(const embedder& spec, const embedding& q, const embedding& d) {
  switch (spec.kind) {
  case embedder_kind::dense:
    return dot(q.values.data(), d.values.data(), std::min(q.values.size(), d.values.size()));
  case embedder_kind::sparse: {
    float s = 0;
    size_t i = 0, j = 0;
    while (i < q.indices.size() && j < d.indices.size()) {
      if (q.indices[i] < d.indices[j])
        ++i;
      else if (d.indices[j] < q.indices[i])
        ++j;
      else
        s += q.values[i++] * d.values[j++];
    }
    return s;
  }
  case embedder_kind::multi: {
    size_t dim = spec.dim;
    size_t qt = q.values.size() / dim, dt = d.values.size() / dim;
    float total = 0;
    for (size_t a = 0; a < qt; ++a) {
      float best = -1e30f;
      for (size_t b = 0; b < dt; ++b)
        best = std::max(best, dot(q.values.data() + a * dim, d.values.data() + b * dim, dim));
      total += best;
    }
    return qt == 0 ? 0 : total / static_cast<float>(qt);
  }
  }
  return 0;
}

/// The best `depth` (score, memory index) pairs, best first, ties by id (= index order).
struct top_list {
  size_t depth = 10;
  std::vector<std::pair<float, size_t>> items;
  void offer(float s, size_t i) {
    if (items.size() == depth && s <= items.back().first) return;
    auto at = std::upper_bound(items.begin(), items.end(), std::make_pair(s, i),
                               [](const auto& x, const auto& y) { return x.first > y.first; });
    items.insert(at, {s, i});
    if (items.size() > depth) items.pop_back();
  }
};

double recall_at_10(const std::vector<size_t>& truth, const std::vector<uuid>& found) {
  size_t hits = 0;
  for (size_t i = 0; i < std::min<size_t>(10, truth.size()); ++i)
    hits += std::count(found.begin(), found.end(), id_of(truth[i]));
  return static_cast<double>(hits) / static_cast<double>(std::min<size_t>(10, truth.size()));
}

/// Exact fused reference: weighted (1) reciprocal-rank fusion of every embedder's exact top
/// `depth`, as the store fuses its embedders' top lists; best 10, ties by id.
std::vector<size_t> exact_fused(const std::vector<top_list>& per_embedder, uint32_t rrf_k) {
  std::map<size_t, double> score;
  for (const auto& list : per_embedder)
    for (size_t r = 0; r < list.items.size(); ++r)
      score[list.items[r].second] += 1.0 / (rrf_k + static_cast<double>(r + 1));
  std::vector<std::pair<double, size_t>> all;
  for (auto [i, s] : score)
    all.emplace_back(s, i);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : id_of(a.second) < id_of(b.second);
  });
  std::vector<size_t> out;
  for (size_t i = 0; i < std::min<size_t>(10, all.size()); ++i)
    out.push_back(all[i].second);
  return out;
}

/// The queries of the run: per query, one embedding per embedder.
std::vector<std::vector<embedding>> make_queries(const options& o, const profile& prof) {
  synthetic query_gen{prof, o.clusters, o.seed};
  query_gen.reseed(o.seed + 7777);
  std::vector<std::vector<embedding>> queries(o.queries);
  for (size_t q = 0; q < o.query_offset + o.queries; ++q)
    for (size_t e = 0; e < prof.embedders.size(); ++e) {
      auto query = query_gen.make(e, (q * 7) % o.clusters);
      if (q >= o.query_offset) queries[q - o.query_offset].push_back(std::move(query));
    }
  return queries;
}

/// Per query and embedder, the exact top `depth`, built memory by memory (offer).
struct exact_answers {
  std::vector<std::vector<embedding>> prepared_queries;
  std::vector<std::vector<top_list>> lists;

  exact_answers(const profile& prof, const std::vector<std::vector<embedding>>& queries,
                size_t depth) {
    for (const auto& per_query : queries) {
      prepared_queries.emplace_back();
      for (size_t e = 0; e < prof.embedders.size(); ++e)
        prepared_queries.back().push_back(prepared(prof.embedders[e], per_query[e]));
    }
    lists.assign(queries.size(), std::vector<top_list>(prof.embedders.size(), top_list{depth, {}}));
  }

  /// Scores memory `i` for every query.
  void offer(const profile& prof, const memory& m, size_t i) {
    for (size_t e = 0; e < prof.embedders.size(); ++e) {
      const auto& spec = prof.embedders[e];
      auto stored = prepared(spec, m.embeddings.at(spec.name));
      for (size_t q = 0; q < lists.size(); ++q) {
        auto score = exact_score(spec, prepared_queries[q][e], stored);
        // The sparse index answers from its postings: a memory that shares no term with the
        // query is not a candidate (score 0), so it is not in the reference list either.
        if (spec.kind == embedder_kind::sparse && score == 0) continue;
        lists[q][e].offer(score, i);
      }
    }
  }

  json to_json() const {
    json out = json::array();
    for (const auto& per_query : lists) {
      json row = json::array();
      for (const auto& list : per_query)
        row.push_back(list.items);
      out.push_back(row);
    }
    return out;
  }

  /// Reads what to_json wrote; false when `j` does not fit these queries and embedders.
  bool from_json(const json& j) {
    if (!j.is_array() || j.size() != lists.size()) return false;
    for (size_t q = 0; q < lists.size(); ++q) {
      if (!j[q].is_array() || j[q].size() != lists[q].size()) return false;
      for (size_t e = 0; e < lists[q].size(); ++e)
        lists[q][e].items = j[q][e].get<std::vector<std::pair<float, size_t>>>();
    }
    return true;
  }
};

/// Recall@10 of every embedder and of the fused search against the exact answers, and search
/// latency: per embedder at k 10 and at the fused depth, fused over every embedder.
json search_phase(const options& o, const profile& prof, store& db,
                  const std::vector<std::vector<embedding>>& queries,
                  const std::vector<std::vector<top_list>>& exact, bool cold = false) {
  store_options defaults;
  json recall = json::object();
  std::vector<double> single_ms, e1_ms, fused_ms;
  json per_embedder = json::object();
  // Per timed search: what it read from the device and how many read calls it made.
  read_counters before;
  auto start_search = [&] {
    if (cold) evict_from_page_cache(o.dir + "/store");
    before = process_reads();
  };
  auto reads_since = [&](read_counters& sum) {
    auto now = process_reads();
    sum.device_bytes += now.device_bytes - before.device_bytes;
    sum.syscalls += now.syscalls - before.syscalls;
  };
  auto per_search = [&](const read_counters& sum) {
    auto n = static_cast<double>(o.queries);
    return json{{"device_kb", static_cast<double>(sum.device_bytes) / 1024 / n},
                {"read_calls", static_cast<double>(sum.syscalls) / n}};
  };
  for (size_t e = 0; e < prof.embedders.size(); ++e) {
    const auto& spec = prof.embedders[e];
    double sum = 0, deep_sum = 0;
    std::vector<double> own_ms, depth_ms;
    read_counters own_reads, depth_reads;
    for (size_t q = 0; q < o.queries; ++q) {
      search_request req;
      req.embedder = spec.name;
      req.query = queries[q][e];
      req.k = 10;
      req.with_records = false;
      start_search();
      auto t = steady::now();
      auto result = need(db.search(std::move(req)), "search " + spec.name);
      auto ms = seconds_since(t) * 1000;
      reads_since(own_reads);
      single_ms.push_back(ms);
      own_ms.push_back(ms);
      if (spec.name == "E1") e1_ms.push_back(ms);
      std::vector<uuid> found;
      for (const auto& h : result.hits)
        found.push_back(h.id);
      std::vector<size_t> truth;
      for (auto& [s, i] : exact[q][e].items)
        truth.push_back(i);
      sum += recall_at_10(truth, found);
      // The same search at the depth a fused search asks each embedder for.
      search_request deep;
      deep.embedder = spec.name;
      deep.query = queries[q][e];
      deep.k = defaults.fused_depth;
      deep.with_records = false;
      start_search();
      t = steady::now();
      auto deep_result = need(db.search(std::move(deep)), "search " + spec.name);
      depth_ms.push_back(seconds_since(t) * 1000);
      reads_since(depth_reads);
      // Recall at the fused depth: how much of the exact top list the fusion gets.
      size_t deep_found = 0;
      std::set<uuid> deep_ids;
      for (const auto& h : deep_result.hits)
        deep_ids.insert(h.id);
      for (auto i : truth)
        deep_found += deep_ids.count(id_of(i));
      deep_sum +=
          truth.empty() ? 1.0 : static_cast<double>(deep_found) / static_cast<double>(truth.size());
    }
    recall[spec.name] = sum / static_cast<double>(o.queries);
    per_embedder[spec.name] = {{"p50", percentile_of(own_ms, 0.5)},
                               {"p99", percentile_of(own_ms, 0.99)},
                               {"fused_depth_p50", percentile_of(depth_ms, 0.5)},
                               {"fused_depth_p99", percentile_of(depth_ms, 0.99)},
                               {"recall_at_fused_depth", deep_sum / static_cast<double>(o.queries)},
                               {"reads_per_search", per_search(own_reads)},
                               {"reads_per_fused_depth_search", per_search(depth_reads)}};
  }
  double fused_sum = 0;
  read_counters fused_reads;
  for (size_t q = 0; q < o.queries; ++q) {
    fused_search_request req;
    for (size_t e = 0; e < prof.embedders.size(); ++e)
      req.queries[prof.embedders[e].name] = queries[q][e];
    req.k = 10;
    req.with_records = false;
    auto rrf_k = req.rrf_k;
    start_search();
    auto t = steady::now();
    auto result = need(db.search_fused(std::move(req)), "fused search");
    fused_ms.push_back(seconds_since(t) * 1000);
    reads_since(fused_reads);
    std::vector<uuid> found;
    for (const auto& h : result.hits)
      found.push_back(h.id);
    fused_sum += recall_at_10(exact_fused(exact[q], rrf_k), found);
  }
  recall["fused"] = fused_sum / static_cast<double>(o.queries);
  json out;
  out["recall_at_10"] = recall;
  out["search_ms"] = {
      {"E1", {{"p50", percentile_of(e1_ms, 0.5)}, {"p99", percentile_of(e1_ms, 0.99)}}},
      {"single_all_embedders",
       {{"p50", percentile_of(single_ms, 0.5)}, {"p99", percentile_of(single_ms, 0.99)}}},
      {"fused_13",
       {{"p50", percentile_of(fused_ms, 0.5)},
        {"p99", percentile_of(fused_ms, 0.99)},
        {"reads_per_search", per_search(fused_reads)},
        {"each_ms", fused_ms}}},
      {"per_embedder", per_embedder}};
  out["page_cache"] = cold ? "cold" : "warm";
  return out;
}

// -- other libraries on the same E1 vectors -----------------------------------------------------

struct library_row {
  std::string name;
  double build_s = 0;
  double bytes_per_vector = 0;
  double recall = 0;
  double search_us = 0;
};

/// The libraries' search ef for a graph of n vectors: --ef, or what the store's default gives.
size_t library_ef(const options& o, size_t n) {
  return o.ef != 0 ? o.ef : storage::default_search_ef(n);
}

template <class Build, class Search>
library_row measure_library(const std::string& name, Build build, Search search,
                            const std::vector<std::vector<float>>& queries,
                            const std::vector<std::vector<size_t>>& truth, size_t n) {
  library_row row;
  row.name = name;
  ::malloc_trim(0);
  auto before = status_bytes("VmRSS");
  auto start = steady::now();
  auto index = build();
  row.build_s = seconds_since(start);
  ::malloc_trim(0);
  row.bytes_per_vector =
      static_cast<double>(status_bytes("VmRSS") - std::min(before, status_bytes("VmRSS"))) /
      static_cast<double>(n);
  double recall = 0, seconds = 0;
  for (size_t q = 0; q < queries.size(); ++q) {
    auto t = steady::now();
    auto found = search(*index, queries[q]);
    seconds += seconds_since(t);
    size_t hits = 0;
    for (auto label : found)
      hits += std::count(truth[q].begin(), truth[q].end(), label);
    recall += static_cast<double>(hits) / 10.0;
  }
  row.recall = recall / static_cast<double>(queries.size());
  row.search_us = seconds * 1e6 / static_cast<double>(queries.size());
  return row;
}

std::vector<library_row> compare_libraries(const options& o,
                                           const std::vector<std::vector<float>>& vectors,
                                           const std::vector<std::vector<float>>& queries) {
  size_t n = vectors.size();
  if (n == 0) return {};
  size_t dim = vectors[0].size();
  std::vector<float> flat;
  flat.reserve(n * dim);
  for (const auto& v : vectors)
    flat.insert(flat.end(), v.begin(), v.end());
  std::vector<std::vector<size_t>> truth;
  for (const auto& q : queries) {
    top_list top;
    for (size_t i = 0; i < n; ++i)
      top.offer(dot(q.data(), flat.data() + i * dim, dim), i);
    std::vector<size_t> ids;
    for (auto& [s, i] : top.items)
      ids.push_back(i);
    truth.push_back(ids);
  }
  // One thread each, as hnswlib's addPoint loop here is one thread.
  omp_set_num_threads(1);
  std::vector<library_row> rows;
  hnswlib::InnerProductSpace space{dim};
  rows.push_back(measure_library(
      "hnswlib HNSW f32",
      [&] {
        auto g = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, n, o.m,
                                                                   o.ef_construction, 100);
        for (size_t i = 0; i < n; ++i)
          g->addPoint(flat.data() + i * dim, i);
        g->setEf(library_ef(o, n));
        return g;
      },
      [](hnswlib::HierarchicalNSW<float>& g, const std::vector<float>& q) {
        auto found = g.searchKnn(q.data(), 10);
        std::vector<size_t> out;
        while (!found.empty()) {
          out.push_back(found.top().second);
          found.pop();
        }
        return out;
      },
      queries, truth, n));
  auto faiss_search = [](faiss::Index& index, const std::vector<float>& q) {
    std::vector<float> d(10);
    std::vector<faiss::Index::idx_t> l(10);
    index.search(1, q.data(), 10, d.data(), l.data());
    std::vector<size_t> out;
    for (auto x : l)
      if (x >= 0) out.push_back(static_cast<size_t>(x));
    return out;
  };
  auto m = static_cast<int>(o.m);
  auto efc = static_cast<int>(o.ef_construction);
  auto ef = static_cast<int>(library_ef(o, n));
  auto d = static_cast<faiss::Index::idx_t>(dim);
  auto count = static_cast<faiss::Index::idx_t>(n);
  rows.push_back(measure_library(
      "FAISS IndexHNSWFlat",
      [&] {
        auto index = std::make_unique<faiss::IndexHNSWFlat>(d, m, faiss::METRIC_INNER_PRODUCT);
        index->hnsw.efConstruction = efc;
        index->add(count, flat.data());
        index->hnsw.efSearch = ef;
        return index;
      },
      faiss_search, queries, truth, n));
  rows.push_back(measure_library(
      "FAISS IndexHNSWSQ int8",
      [&] {
        auto index = std::make_unique<faiss::IndexHNSWSQ>(d, faiss::ScalarQuantizer::QT_8bit, m,
                                                          faiss::METRIC_INNER_PRODUCT);
        index->hnsw.efConstruction = efc;
        index->train(count, flat.data());
        index->add(count, flat.data());
        index->hnsw.efSearch = ef;
        return index;
      },
      faiss_search, queries, truth, n));
  // nlist ~ sqrt(n), nprobe 1/16 of the lists, k-means on 40 vectors per list (FAISS's minimum
  // without a warning): Debian's FAISS uses the reference BLAS, so training on everything would
  // dominate the run.
  auto nlist = std::max<size_t>(1, static_cast<size_t>(std::sqrt(static_cast<double>(n))));
  auto train_n = static_cast<faiss::Index::idx_t>(std::min(n, 40 * nlist));
  auto quantizer = std::make_shared<faiss::IndexFlatIP>(d);
  rows.push_back(measure_library(
      "FAISS IndexIVFScalarQuantizer int8",
      [&] {
        auto index = std::make_unique<faiss::IndexIVFScalarQuantizer>(
            quantizer.get(), d, nlist, faiss::ScalarQuantizer::QT_8bit,
            faiss::METRIC_INNER_PRODUCT);
        index->train(train_n, flat.data());
        index->add(count, flat.data());
        index->nprobe = std::max<size_t>(1, nlist / 16);
        return index;
      },
      faiss_search, queries, truth, n));
  rows.back().name += " (nlist " + std::to_string(nlist) + ", nprobe " +
                      std::to_string(std::max<size_t>(1, nlist / 16)) + ")";
  return rows;
}

/// Waits until no index holds fresh vectors (every graph, list and centroid filing complete).
/// Until every index has filed its fresh vectors and copied the rows it mapped at open.
void wait_until_settled(store& db) {
  uint64_t left = 1;
  while (left > 0) {
    auto st = need(db.stats(), "stats");
    left = 0;
    for (const auto& ix : st.indexes)
      left += ix.stats.fresh + ix.stats.mapped_bytes;
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

/// What the exact answers in exact.json were computed for; a cache that says otherwise is
/// computed again.
json exact_key(const options& o) {
  return {{"n", o.n},
          {"seed", o.seed},
          {"clusters", o.clusters},
          {"queries", o.queries},
          {"query_offset", o.query_offset},
          {"profile", o.profile},
          {"ids", o.ids}};
}

void save_exact(const options& o, const exact_answers& exact) {
  json j = {{"key", exact_key(o)}, {"lists", exact.to_json()}};
  std::ofstream{o.dir + "/exact.json"} << j.dump() << '\n';
}

json recovery_json(const store::recovery_summary& r);

/// --search-only: recall and latency of the store a --keep run left in --dir, once for each
/// --rescore-depth, --rounds times in turn (the store reopened for each).
json run_search_only(const options& o) {
  const auto prof = profile_of(o);
  if (!fs::is_directory(o.dir + "/store"))
    throw scale_failure("--search-only: no store in " + o.dir +
                        "/store (a run with --keep leaves one)");
  auto queries = make_queries(o, prof);
  store_options defaults;
  exact_answers exact{prof, queries, defaults.fused_depth};
  bool cached = false;
  if (std::ifstream in{o.dir + "/exact.json"}) {
    auto j = json::parse(in, nullptr, false);
    cached = !j.is_discarded() && j.is_object() && j.value("key", json{}) == exact_key(o) &&
             exact.from_json(j["lists"]);
  }
  if (!cached) {
    std::cerr << "scale: exact answers of " << o.n << " memories\n";
    data_stream data{o, o.seed};
    for (size_t i = 0; i < o.n; ++i)
      exact.offer(prof, data.next(), i);
    save_exact(o, exact);
  }
  json out;
  out["n"] = o.n;
  out["queries"] = o.queries;
  out["query_offset"] = o.query_offset;
  out["runs"] = json::array();
  const auto settings = search_settings(o);
  for (size_t round = 0; round < o.rounds; ++round)
    for (const auto& s : settings) {
      auto so = store_at(o, s);
      so.create_if_missing = false;
      const auto& cache = s.page_cache;
      // A cold run opens from an evicted page cache too.
      if (cache == "cold") evict_from_page_cache(o.dir + "/store");
      ::malloc_trim(0);
      const auto anon_before = status_bytes("RssAnon");
      const auto opening = steady::now();
      auto db = need(store::open(so), "open");
      const double open_s = seconds_since(opening);
      const auto anon_after = status_bytes("RssAnon");
      const auto file_after = status_bytes("RssFile");
      wait_until_settled(*db);
      const double settled_s = seconds_since(opening);
      if (cache == "warm") load_into_page_cache(o.dir + "/store");
      auto run = search_phase(o, prof, *db, queries, exact.lists, cache == "cold");
      run["page_cache"] = cache;
      run["recovery"] = recovery_json(db->recovered());
      need(db->close(), "close");
      run["rescore_depth"] = s.rescore_depth;
      run["read_threads"] = s.read_threads;
      run["nprobe"] = s.nprobe;
      run["int8_oversample"] = s.int8_oversample;
      run["maxsim_oversample"] = s.maxsim_oversample;
      run["worker_threads"] = s.worker_threads;
      run["split_parts"] = s.split_parts;
      run["map_snapshots"] = s.map_snapshots;
      run["open_s"] = open_s;
      run["settled_s"] = settled_s;
      run["open_anonymous_bytes_per_memory"] =
          (static_cast<double>(anon_after) - static_cast<double>(anon_before)) /
          static_cast<double>(o.n);
      run["file_pages_resident_after_open_bytes"] = file_after;
      run["read_part_keys"] = o.read_part_keys;
      run["block_cache_mb"] = o.block_cache_mb;
      run["max_open_files"] = o.max_open_files;
      run["open_table_files"] = o.open_table_files;
      run["load_average"] = load_average();
      run["round"] = round;
      double lowest = 1;
      for (const auto& [name, r] : run["recall_at_10"].items())
        lowest = std::min(lowest, r.get<double>());
      const auto& ms = run["search_ms"];
      std::cerr << "scale: round " << round << " rescore_depth " << s.rescore_depth
                << ", read_threads " << s.read_threads << ", nprobe " << s.nprobe
                << ", int8 oversample " << s.int8_oversample << ", MaxSim oversample "
                << s.maxsim_oversample << ", workers " << s.worker_threads << ", split parts "
                << s.split_parts << ", " << cache << ", mapped " << s.map_snapshots << ": open "
                << open_s << " s, settled " << settled_s << " s, E1 p50 "
                << ms["E1"]["p50"].get<double>() << " ms, fused p50 "
                << ms["fused_13"]["p50"].get<double>() << " ms, p99 "
                << ms["fused_13"]["p99"].get<double>() << " ms; recall@10 fused "
                << run["recall_at_10"]["fused"].get<double>() << ", lowest " << lowest << "; load "
                << run["load_average"].get<double>() << '\n';
      out["runs"].push_back(std::move(run));
    }
  return out;
}

// -- the parent ---------------------------------------------------------------------------------

void write_plot(const options& o, const std::vector<ack>& acks) {
  if (o.plot_path.empty() || acks.empty()) return;
  auto data_path = o.plot_path + ".dat";
  {
    std::ofstream out{data_path};
    auto seconds = static_cast<size_t>(acks.back().at) + 1;
    std::vector<double> memories(seconds), worst(seconds);
    for (const auto& a : acks) {
      auto s = static_cast<size_t>(a.at);
      memories[s] += static_cast<double>(a.count);
      worst[s] = std::max(worst[s], a.latency * 1000);
    }
    size_t total = 0;
    for (size_t s = 0; s < seconds; ++s) {
      total += static_cast<size_t>(memories[s]);
      out << s << ' ' << memories[s] << ' ' << worst[s] << ' ' << total << '\n';
    }
  }
  auto script_path = o.plot_path + ".gp";
  {
    std::ofstream gp{script_path};
    gp << "set terminal pngcairo size 1200,800 noenhanced\n"
       << "set output '" << o.plot_path << "'\n"
       << "set multiplot layout 2,1 title 'telos-bench scale --n " << o.n << "'\n"
       << "set xlabel 'memories stored'\nset grid\n"
       << "set ylabel 'memories/s'\n"
       << "plot '" << data_path << "' using 4:2 with lines title 'acknowledged per second'\n"
       << "set ylabel 'ms'\nset logscale y\n"
       << "plot '" << data_path
       << "' using 4:($3 > 0 ? $3 : 1/0) with lines title 'slowest acknowledgement in that "
          "second'\n"
       << "unset multiplot\n";
  }
  auto command = "gnuplot '" + script_path + "' 2>/dev/null";
  if (std::system(command.c_str()) != 0)
    std::cerr << "telos-bench scale: gnuplot failed; the data is in " << data_path << '\n';
}

/// Where an open spent its time (store::recovered()): the backend's own open, the loading of
/// catalog and indexes (wall), and per index its snapshot load and changelog replay (thread time);
/// replay_us_per_id is the replays' thread time over the ids they replayed.
json recovery_json(const store::recovery_summary& r) {
  json indexes = json::array();
  double replay_s = 0, replay_max_s = 0, snapshot_max_s = 0, read_s = 0, apply_s = 0;
  for (const auto& ix : r.indexes) {
    replay_s += ix.replay_seconds;
    read_s += ix.read_seconds;
    apply_s += ix.apply_seconds;
    replay_max_s = std::max(replay_max_s, ix.replay_seconds);
    snapshot_max_s = std::max(snapshot_max_s, ix.snapshot_seconds);
    indexes.push_back({{"embedder", ix.embedder},
                       {"shard", ix.shard},
                       {"method", ix.method},
                       {"replayed", ix.replayed},
                       {"snapshot_s", ix.snapshot_seconds},
                       {"replay_s", ix.replay_seconds},
                       {"read_s", ix.read_seconds},
                       {"apply_s", ix.apply_seconds}});
  }
  return {{"backend_open_s", r.backend_seconds},
          {"load_s", r.load_seconds},
          {"catalog_s", r.catalog_seconds},
          {"table_files_s", r.table_files_seconds},
          {"snapshot_s_max", snapshot_max_s},
          {"replay_s_sum", replay_s},
          {"replay_s_max", replay_max_s},
          {"replay_read_s_sum", read_s},
          {"replay_apply_s_sum", apply_s},
          {"replay_us_per_id",
           r.replayed == 0 ? 0.0 : replay_s * 1e6 / static_cast<double>(r.replayed)},
          {"indexes", indexes}};
}

/// A copy of the store at `from` in `to` that opening `to` cannot change `from` through: RocksDB's
/// table and blob files and the index snapshots, which nothing writes after creating them, are
/// hard links (the bulk of the bytes); every other file is copied.
void copy_store(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::recursive_directory_iterator{from}) {
    auto target = fs::path{to} / fs::relative(entry.path(), from);
    if (entry.is_directory()) {
      fs::create_directories(target);
      continue;
    }
    if (!entry.is_regular_file()) continue;
    // Index snapshots are written to a temporary file and renamed, and mapped privately when
    // loaded: at 1M memories ~13 GB a copy would duplicate.
    auto ext = entry.path().extension();
    bool snapshot = entry.path().parent_path().parent_path().filename() == "indexes";
    if (ext == ".sst" || ext == ".blob" || (snapshot && ext != ".tmp"))
      fs::create_hard_link(entry.path(), target);
    else
      fs::copy_file(entry.path(), target);
  }
}

/// --reopen-crashed: opens copies of the store a --keep-crashed run left, one after another.
json run_reopen_crashed(const options& o) {
  const auto crashed = o.dir + "/crashed";
  if (!fs::exists(crashed))
    throw scale_failure("no " + crashed + ": run with --keep-crashed first (and --crash-n > 0)");
  json runs = json::array();
  for (size_t r = 0; r < o.rounds; ++r) {
    options at = o;
    at.dir = o.dir + "/reopen";
    fs::remove_all(at.dir);
    copy_store(crashed, at.dir + "/store");
    ::malloc_trim(0);
    auto load = load_average();
    auto start = steady::now();
    auto db = need(store::open(store_at(at)), "open a copy of " + crashed);
    double open_s = seconds_since(start);
    auto recovered = db->recovered();
    auto count = need(db->count(), "count");
    need(db->close(), "close");
    db.reset();
    fs::remove_all(at.dir);
    runs.push_back({{"open_s", open_s},
                    {"memories", count},
                    {"changelog_ids_replayed", recovered.replayed},
                    {"changelog_ids_replayed_max_per_index", recovered.max_replayed},
                    {"load_average", load},
                    {"recovery", recovery_json(recovered)}});
    std::cerr << "scale: reopen " << r + 1 << " of " << o.rounds << ": " << open_s << " s\n";
  }
  return {{"reopen_crashed", crashed}, {"runs", runs}};
}

json run_parent(const options& o) {
  fs::remove_all(o.dir);
  fs::create_directories(o.dir);
  const auto prof = profile_of(o);
  json out;
  out["n"] = o.n;
  out["profile"] = o.profile == "teleo13" ? json("teleo13") : json::parse(prof.to_json());
  out["batch"] = o.batch;
  out["clients"] = o.clients;
  out["hnsw"] = {{"m", o.m}, {"ef_construction", o.ef_construction}, {"ef", o.ef}};
  out["vector_blob_files"] = o.vector_blob_files;
  out["blob_gc_age_cutoff"] = o.blob_gc_age_cutoff;
  out["read_threads"] = o.read_threads.front();
  out["worker_threads"] = o.workers.front();
  out["split_parts"] = o.split_parts.front();
  out["read_part_keys"] = o.read_part_keys;
  out["block_cache_mb"] = o.block_cache_mb;
  out["max_open_files"] = o.max_open_files;
  out["open_table_files"] = o.open_table_files;
  out["checkpoint"] = {{"every", o.checkpoint_every}, {"fraction", o.checkpoint_fraction}};

  // 1. Ingest in a child, every acknowledgement logged.
  std::cerr << "scale: ingesting " << o.n << " memories in a child process\n";
  auto acks_path = o.dir + "/acks.txt", report_path = o.dir + "/ingest.json";
  auto pid = spawn_child(o, 0, o.n, o.seed, acks_path, report_path);
  if (auto code = wait_child(pid); code != 0)
    throw scale_failure("the ingesting child exited with " + std::to_string(code));
  std::ifstream report_file{report_path};
  auto child = json::parse(report_file);
  auto acks = read_acks(acks_path);
  double longest_gap = acks.empty() ? 0 : acks.front().at;
  std::vector<double> latencies;
  for (size_t i = 0; i < acks.size(); ++i) {
    if (i > 0) longest_gap = std::max(longest_gap, acks[i].at - acks[i - 1].at);
    latencies.push_back(acks[i].latency * 1000);
  }
  // Rate per tenth of the data (the plot has it per second), in the order acks arrived.
  json rates = json::array();
  {
    size_t stored = 0, tenth = 1, stored_before = 0;
    double since = 0;
    for (const auto& a : acks) {
      stored += a.count;
      while (tenth <= 10 && stored >= o.n * tenth / 10) {
        if (a.at > since)
          rates.push_back(
              {{"up_to", stored},
               {"memories_per_s", static_cast<double>(stored - stored_before) / (a.at - since)}});
        stored_before = stored;
        since = a.at;
        ++tenth;
      }
    }
  }
  auto n = static_cast<double>(o.n);
  double ingest_s = child["ingest_s"];
  out["ingest"] = {{"seconds", ingest_s},
                   {"memories_per_s", n / ingest_s},
                   {"rate_by_tenth", rates},
                   {"longest_gap_between_acks_s", longest_gap},
                   {"ack_latency_ms",
                    {{"p50", percentile_of(latencies, 0.5)},
                     {"p99", percentile_of(latencies, 0.99)},
                     {"max", percentile_of(latencies, 1.0)}}},
                   {"fresh_at_end", child["fresh_at_end"]},
                   {"close_s", child["close_s"]},
                   {"resident_bytes_per_memory",
                    (child["rss_after"].get<double>() - child["rss_before"].get<double>()) / n},
                   {"index_bytes_per_memory", child["index_bytes"].get<double>() / n},
                   {"peak_resident_bytes", child["vm_hwm"]}};
  write_plot(o, acks);

  // 2. The same data again, in this process: its logical bytes (the engine's own batch builder)
  //    and the exact answers of the queries.
  std::cerr << "scale: exact answers and logical bytes\n";
  auto queries = make_queries(o, prof);
  store_options defaults;
  exact_answers exact{prof, queries, defaults.fused_depth};
  auto layout = need(storage::shard_layout::make(prof), "layout");
  record_catalog catalog;
  std::vector<std::shared_ptr<storage::row_contributor>> none;
  uint64_t logical_bytes = 0, sequence = 0;
  size_t compare_n = std::min(o.compare_n, o.n);
  std::vector<std::vector<float>> e1;
  e1.reserve(compare_n);
  data_stream data{o, o.seed};
  std::vector<shard_write> writes(1);
  for (size_t i = 0; i < o.n; ++i) {
    auto m = data.next();
    exact.offer(prof, m, i);
    if (i < compare_n) e1.push_back(unit(m.embeddings.at("E1").values));
    writes[0].puts.push_back(std::move(m));
    if (writes[0].puts.size() == o.batch || i + 1 == o.n) {
      write_group_context ctx;
      ctx.layout = &layout;
      ctx.catalog = &catalog;
      ctx.sequence = ++sequence;
      ctx.now_ms = 1;
      ctx.contributors = &none;
      auto g = build_write_group(ctx, writes);
      catalog.apply(g.changes);
      for (const auto& op : g.batch.ops())
        logical_bytes += op.key.size() + op.value.size();
      writes[0].puts.clear();
    }
  }
  save_exact(o, exact);
  auto disk_after_ingest = directory_bytes(o.dir + "/store");
  out["disk"] = {{"bytes_per_memory", static_cast<double>(disk_after_ingest) / n},
                 {"logical_bytes_per_memory", static_cast<double>(logical_bytes) / n},
                 {"device_write_bytes_per_memory", child["device_write_bytes"].get<double>() / n},
                 {"write_amplification",
                  child["device_write_bytes"].get<double>() / static_cast<double>(logical_bytes)}};
  if (child.contains("rocksdb_written")) {
    // Where the device writes went, per memory: RocksDB's WAL, flushes and compactions, and the
    // rest (the indexes' checkpoints, the close's flushes, other files).
    const auto& w = child["rocksdb_written"];
    double rocksdb =
        w["wal"].get<double>() + w["flush"].get<double>() + w["compaction"].get<double>();
    out["disk"]["written_per_memory"] = {
        {"rocksdb_user", w["user"].get<double>() / n},
        {"rocksdb_wal", w["wal"].get<double>() / n},
        {"rocksdb_flush", w["flush"].get<double>() / n},
        {"rocksdb_compaction", w["compaction"].get<double>() / n},
        {"rocksdb_blob", w["blob"].get<double>() / n},
        {"other", (child["device_write_bytes"].get<double>() - rocksdb) / n}};
  }

  // 3. Clean restart, then recall and latency.
  std::cerr << "scale: reopening after a clean close, searching\n";
  ::malloc_trim(0);
  auto rss_before_open = status_bytes("VmRSS");
  auto start = steady::now();
  auto db = need(store::open(store_at(o)), "reopen");
  double open_s = seconds_since(start);
  auto clean_recovery = recovery_json(db->recovered());
  wait_until_settled(*db);
  double graphs_ready_s = seconds_since(start);
  ::malloc_trim(0);
  auto resident_open = static_cast<double>(status_bytes("VmRSS") - rss_before_open) / n;
  auto searched = search_phase(o, prof, *db, queries, exact.lists);
  out["recall_at_10"] = searched["recall_at_10"];
  out["search_ms"] = searched["search_ms"];
  auto closing = steady::now();
  need(db->close(), "close");
  db.reset();
  out["restart_clean"] = {{"open_s", open_s},
                          {"recovery", clean_recovery},
                          {"graphs_ready_s", graphs_ready_s},
                          {"resident_bytes_per_memory", resident_open},
                          {"close_s", seconds_since(closing)}};

  // 4. A second child adds other memories and is killed with SIGKILL halfway (or after
  //    --kill-at acknowledged memories, or by itself just before an index's checkpoint); nothing
  //    it had acknowledged may be missing after the reopen.
  if (o.crash_n > 0) {
    std::cerr << "scale: kill -9 of an ingesting child, reopening\n";
    auto crash_acks = o.dir + "/crash-acks.txt";
    auto kill_report = o.dir + "/crash-kill.json";
    json kill_point;
    std::string kill_rule;
    if (o.kill_before_checkpoint) {
      kill_rule = "before a checkpoint: an index at " + std::to_string(o.kill_fraction) +
                  " of the changes its next checkpoint is due at";
      auto crash_pid = spawn_child(o, o.n, o.crash_n, o.seed + 1, crash_acks,
                                   o.dir + "/crash-report.json", o.kill_fraction, kill_report);
      auto code = wait_child(crash_pid);
      if (code != 128 + SIGKILL)
        throw scale_failure(code == 0 ? "the crash child stored all " + std::to_string(o.crash_n) +
                                            " memories before an index reached " +
                                            std::to_string(o.kill_fraction) +
                                            " of its checkpoint interval: raise --crash-n"
                                      : "the crash child exited with " + std::to_string(code));
      std::ifstream in{kill_report};
      kill_point = json::parse(in);
    } else {
      const size_t kill_at = o.kill_at > 0 ? o.kill_at : o.crash_n / 2;
      kill_rule = "after " + std::to_string(kill_at) + " acknowledged memories";
      auto crash_pid =
          spawn_child(o, o.n, o.crash_n, o.seed + 1, crash_acks, o.dir + "/crash-report.json");
      size_t acked = 0;
      for (;;) {
        acked = 0;
        for (const auto& a : read_acks(crash_acks))
          acked += a.count;
        int status = 0;
        if (::waitpid(crash_pid, &status, WNOHANG) == crash_pid) {
          crash_pid = -1;
          break;
        }
        if (acked >= kill_at) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (crash_pid > 0) {
        ::kill(crash_pid, SIGKILL);
        wait_child(crash_pid);
      }
    }
    if (o.keep_crashed) {
      fs::remove_all(o.dir + "/crashed");
      copy_store(o.dir + "/store", o.dir + "/crashed");
    }
    auto acked_batches = read_acks(crash_acks);
    std::vector<uuid> acked_ids;
    for (const auto& a : acked_batches)
      for (size_t i = a.first; i < a.first + a.count; ++i)
        acked_ids.push_back(id_of(i));
    start = steady::now();
    db = need(store::open(store_at(o)), "reopen after kill -9");
    double crash_open_s = seconds_since(start);
    auto recovered = db->recovered();
    // In slices: a memory comes back with its 13 embeddings (~38 KB), and the 256,000 a child
    // acknowledges before a kill at 1M in one answer are ~10 GB beside the open store.
    size_t missing = 0;
    constexpr size_t slice = 4096;
    for (size_t begin = 0; begin < acked_ids.size(); begin += slice) {
      std::vector<uuid> ids(acked_ids.begin() + static_cast<ptrdiff_t>(begin),
                            acked_ids.begin() +
                                static_cast<ptrdiff_t>(std::min(acked_ids.size(), begin + slice)));
      auto found = need(db->get_batch(ids), "get acknowledged");
      missing += static_cast<size_t>(
          std::count_if(found.begin(), found.end(), [](const auto& m) { return !m.has_value(); }));
    }
    auto count = need(db->count(), "count");
    need(db->close(), "close");
    db.reset();
    out["restart_after_kill"] = {{"kill", kill_rule},
                                 {"acknowledged_before_kill", acked_ids.size()},
                                 {"missing_after_reopen", missing},
                                 {"memories_after_reopen", count},
                                 {"open_s", crash_open_s},
                                 {"indexes_from_snapshot", recovered.from_snapshot},
                                 {"changelog_ids_replayed", recovered.replayed},
                                 {"changelog_ids_replayed_max_per_index", recovered.max_replayed},
                                 {"recovery", recovery_json(recovered)}};
    if (!kill_point.is_null()) out["restart_after_kill"]["kill_point"] = kill_point;
    if (missing > 0)
      throw scale_failure(std::to_string(missing) + " acknowledged memories lost after kill -9");
  }

  // 5. Other libraries, the same E1 vectors.
  if (compare_n > 0) {
    std::cerr << "scale: hnswlib and FAISS on " << compare_n << " E1 vectors\n";
    std::vector<std::vector<float>> e1_queries;
    for (size_t q = 0; q < o.queries; ++q)
      e1_queries.push_back(unit(queries[q][0].values));
    json libs = json::array();
    for (const auto& row : compare_libraries(o, e1, e1_queries))
      libs.push_back({{"name", row.name},
                      {"vectors", compare_n},
                      {"build_s", row.build_s},
                      {"vectors_per_s", static_cast<double>(compare_n) / row.build_s},
                      {"resident_bytes_per_vector", row.bytes_per_vector},
                      {"recall_at_10", row.recall},
                      {"search_us", row.search_us}});
    out["libraries_e1"] = libs;
  }
  if (!o.keep) {
    std::vector<fs::path> scratch;
    for (const auto& entry : fs::directory_iterator{o.dir})
      if (!(o.keep_crashed && entry.path().filename() == "crashed"))
        scratch.push_back(entry.path());
    for (const auto& path : scratch)
      fs::remove_all(path);
    if (!o.keep_crashed) fs::remove_all(o.dir);
  }
  return out;
}

registrar scale_command{command{
    "scale",
    "one node at scale: ingest rate and gaps, memory, disk, write amplification, recall, "
    "latency, restarts; hnswlib and FAISS beside it",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<options>();
      sub.add_option("--n", o->n, "teleo13 memories to ingest (200000 for a quick run)")
          ->check(CLI::PositiveNumber);
      sub.add_option("--dir", o->dir, "scratch directory (removed unless --keep)");
      sub.add_option("--batch", o->batch, "memories per put_batch")->check(CLI::PositiveNumber);
      sub.add_option("--clients", o->clients, "client threads of the ingest")
          ->check(CLI::PositiveNumber);
      sub.add_option("--clusters", o->clusters, "clusters of the synthetic data")
          ->check(CLI::PositiveNumber);
      sub.add_option("--seed", o->seed, "data seed");
      sub.add_option("--profile", o->profile,
                     "teleo13, or a profile JSON file (dense embedders cosine)")
          ->capture_default_str();
      sub.add_option("--queries", o->queries, "queries per embedder (and fused)")
          ->check(CLI::PositiveNumber);
      sub.add_option("--query-offset", o->query_offset,
                     "skip this many queries of the generator's sequence (new queries for a "
                     "--search-only run)");
      sub.add_option("--m", o->m, "HNSW M (Telos and the libraries)");
      sub.add_option("--ef-construction", o->ef_construction, "HNSW efConstruction");
      sub.add_option("--ef", o->ef,
                     "HNSW ef at query time (0: the store's default, growing with the graph)");
      sub.add_option("--compare-n", o->compare_n,
                     "E1 vectors given to hnswlib and FAISS (at most --n; 0 = skip)");
      auto* crash_n = sub.add_option("--crash-n", o->crash_n,
                                     "memories the second child tries to add; killed at half "
                                     "(0 = skip; with --kill-before-checkpoint the most it adds, "
                                     "default 2 x --n)");
      sub.add_option("--kill-at", o->kill_at,
                     "kill the second child once it acknowledged this many memories (instead of "
                     "half of --crash-n)");
      sub.add_flag("--kill-before-checkpoint", o->kill_before_checkpoint,
                   "kill the second child at the restart's worst point: once an index has "
                   "--kill-fraction of the changes its next checkpoint is due at (the most it "
                   "will replay)");
      sub.add_option("--kill-fraction", o->kill_fraction,
                     "--kill-before-checkpoint: share of the changes a checkpoint is due at")
          ->check(CLI::Range(0.01, 1.0))
          ->capture_default_str();
      sub.add_flag("--keep-crashed", o->keep_crashed,
                   "keep the store as the kill left it in <dir>/crashed (for --reopen-crashed)");
      sub.add_flag("--reopen-crashed", o->reopen_crashed,
                   "only open copies of <dir>/crashed, --rounds times: open time and where it "
                   "went");
      sub.add_option("--vector-blob-files", o->vector_blob_files,
                     "vector keyspaces' values in RocksDB blob files (true/false)")
          ->capture_default_str();
      sub.add_option("--blob-gc-age-cutoff", o->blob_gc_age_cutoff,
                     "with blob files: share of the oldest blob files whose live blobs "
                     "compactions relocate (0: no blob garbage collection)")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str();
      sub.add_option("--ids", o->ids,
                     "sequential: ids ascend with the memory's number, like the engine's own "
                     "time-ordered ids (compactions move tables without rewriting them); "
                     "hashed: spread over the key space like a client's random UUIDv4s")
          ->check(CLI::IsMember({"sequential", "hashed"}))
          ->capture_default_str();
      sub.add_option("--checkpoint-every", o->checkpoint_every,
                     "store_options::checkpoint_every (most changes between two index "
                     "checkpoints; 0 = at close only)");
      sub.add_option("--checkpoint-fraction", o->checkpoint_fraction,
                     "store_options::checkpoint_fraction (an index checkpoints after this "
                     "fraction of its size in changes)")
          ->check(CLI::Range(0.0, 100.0));
      sub.add_option("--json", o->json_path, "also write the report here");
      sub.add_option("--plot", o->plot_path, "PNG of the ingest over time (empty = none)");
      sub.add_flag("--keep", o->keep, "keep the store afterwards");
      sub.add_flag("--search-only", o->search_only,
                   "only search the store a --keep run left in --dir (same --n, --seed, "
                   "--clusters, --queries, --profile): recall and latency");
      sub.add_option("--rescore-depth", o->rescore_depths,
                     "index_options::rescore_depth (0 = re-score k x oversample); with "
                     "--search-only several values, searched in turn")
          ->capture_default_str();
      sub.add_option("--read-threads", o->read_threads,
                     "store_options::read_threads (0 = re-score reads on the searching thread); "
                     "with --search-only several values, searched in turn")
          ->check(CLI::Range(size_t{0}, size_t{1024}))
          ->capture_default_str();
      sub.add_option("--nprobe", o->nprobes,
                     "index_options::ivf_nprobe (lists an ivf search scans; 0 = the default, "
                     "growing with the lists); with --search-only several values, searched in turn")
          ->capture_default_str();
      sub.add_option("--oversample", o->int8_oversamples,
                     "index_options::int8_oversample (an int8 search re-scores k x this many "
                     "candidates; 0 = 2 for ivf and flat, 3 for hnsw); with --search-only several "
                     "values, searched in turn")
          ->check(CLI::Range(size_t{0}, size_t{1000}))
          ->capture_default_str();
      sub.add_option("--maxsim-oversample", o->maxsim_oversamples,
                     "index_options::maxsim_oversample (a MaxSim search re-scores k x this many "
                     "candidates); with --search-only several values, searched in turn")
          ->check(CLI::Range(size_t{1}, size_t{1000}))
          ->capture_default_str();
      sub.add_option("--workers", o->workers,
                     "store_options::worker_threads (scheduler threads; 0 = CAF's default, the "
                     "cores and at least 4); with --search-only several values, searched in turn")
          ->check(CLI::Range(size_t{0}, size_t{1024}))
          ->capture_default_str();
      sub.add_option("--split-parts", o->split_parts,
                     "index_options::split_parts (parts a large ivf scan or MaxSim ranking runs "
                     "in on the read pool; 0 = one per core, 1 = none); with --search-only several "
                     "values, searched in turn")
          ->check(CLI::Range(size_t{0}, size_t{64}))
          ->capture_default_str();
      sub.add_option("--read-part-keys", o->read_part_keys,
                     "store_options::read_part_keys (least keys in one part of a split read)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      sub.add_option("--block-cache-mb", o->block_cache_mb,
                     "backend_options::block_cache_mb of the store (RocksDB's block cache)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      sub.add_option("--max-open-files", o->max_open_files,
                     "backend_options::max_open_files of the store (-1: every table file opened "
                     "at open; else at most 16 then, the others at their first read)")
          ->check(CLI::Range(-1, 1 << 20))
          ->capture_default_str();
      sub.add_option("--open-table-files", o->open_table_files,
                     "backend_options::open_table_files: open every table file's reader while the "
                     "store opens (true/false)")
          ->capture_default_str();
      sub.add_option("--page-cache", o->page_cache,
                     "--search-only: warm (the store's files read once before the run), cold "
                     "(evicted from the page cache before the open and every timed search) or "
                     "as-is (left as the runs before left them); several values are searched in "
                     "turn")
          ->check(CLI::IsMember({"warm", "cold", "as-is"}))
          ->capture_default_str();
      sub.add_option("--map-snapshots", o->map_snapshots,
                     "on: dense ivf indexes map their lists' rows from the snapshot at open "
                     "(index_options::snapshot_map_bytes), off: they read them into memory of "
                     "their own; with --search-only both can be given, opened in turn")
          ->check(CLI::IsMember({"on", "off"}))
          ->capture_default_str();
      sub.add_option("--rounds", o->rounds,
                     "--search-only: rounds over the --rescore-depth values; --reopen-crashed: "
                     "opens")
          ->check(CLI::PositiveNumber);
      sub.add_option("--min-recall", o->min_recall,
                     "exit 3 if any embedder's or the fused recall@10 is below this (0 = none)")
          ->check(CLI::Range(0.0, 1.0));
      sub.add_option("--child-count", o->child_count)->group("");
      sub.add_option("--child-first", o->child_first)->group("");
      sub.add_option("--child-seed", o->child_seed)->group("");
      sub.add_option("--child-acks", o->child_acks)->group("");
      sub.add_option("--child-report", o->child_report)->group("");
      sub.add_option("--child-kill-fraction", o->child_kill_fraction)->group("");
      sub.add_option("--child-kill-report", o->child_kill_report)->group("");
      return [o, crash_n] {
        try {
          hashed_ids = o->ids == "hashed";
          if (o->kill_before_checkpoint && crash_n->count() == 0) o->crash_n = 2 * o->n;
          if (o->kill_before_checkpoint && o->kill_at > 0)
            throw scale_failure("--kill-at and --kill-before-checkpoint exclude each other");
          if (o->kill_at > 0 && o->kill_at >= o->crash_n)
            throw scale_failure("--kill-at must be below --crash-n");
          if (o->kill_before_checkpoint && o->checkpoint_every == 0)
            throw scale_failure("--kill-before-checkpoint needs checkpoints while running "
                                "(--checkpoint-every > 0)");
          if (o->child_count > 0) return run_child(*o);
          auto report = o->reopen_crashed ? run_reopen_crashed(*o)
                        : o->search_only  ? run_search_only(*o)
                                          : run_parent(*o);
          std::cout << report.dump(2) << '\n';
          if (!o->json_path.empty()) std::ofstream{o->json_path} << report.dump(2) << '\n';
          int code = 0;
          if (o->reopen_crashed) return code;
          auto runs = o->search_only ? report["runs"] : json::array({report});
          for (const auto& run : runs)
            for (const auto& [name, recall] : run["recall_at_10"].items())
              if (recall.get<double>() < o->min_recall) {
                std::cerr << "telos-bench scale: recall@10 of " << name << " is "
                          << recall.get<double>() << ", below --min-recall " << o->min_recall
                          << '\n';
                code = 3;
              }
          return code;
        } catch (const std::exception& e) {
          std::cerr << "telos-bench scale: " << e.what() << '\n';
          return 2;
        }
      };
    }}};

} // namespace telos::bench::scale_bench
