// telos-stress: the main job. Concurrent writers and readers on one store, then a full check
// that every acknowledged write survived close and reopen exactly; or, with --crash N, the same
// proof across N SIGKILLs of a real writer process, injected disk faults (--faults N) or simulated
// power cuts (--power-loss N). See docs/STRESS.md.
#include "stress.hpp"

#include "telos/storage/backend.hpp"
#include "telos/storage/fault_injection.hpp"
#include "telos/storage/huge_pages.hpp"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <ftw.h>
#include <iostream>
#include <unistd.h>

namespace telos::stress {

store_options store_options_of(const config& cfg, const std::string& dir, const profile& p,
                               bool create) {
  store_options opts;
  opts.path = dir;
  // --backend was checked against the three names when parsed.
  auto kind = storage::parse_backend_kind(cfg.backend);
  opts.backend = kind ? *kind : storage::backend_kind::rocksdb;
  opts.profile = p;
  opts.shards = cfg.shards;
  opts.create_if_missing = create;
  opts.sync_writes = cfg.sync;
  opts.index_options.hnsw_threshold = cfg.hnsw_threshold;
  opts.checkpoint_every = cfg.checkpoint_every;
  opts.max_fresh = cfg.max_fresh;
  if (cfg.max_inflight_writes > 0) opts.max_inflight_writes = cfg.max_inflight_writes;
  if (cfg.ef_search > 0) opts.index_options.hnsw_ef_search = cfg.ef_search;
  // --vector-storage was checked against the three names when parsed.
  if (cfg.vector_storage == "compressed") opts.backend_options.vector_keyspace_prefix.clear();
  opts.backend_options.vector_blob_files = cfg.vector_storage == "blob-files";
  return opts;
}

std::string make_temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "telos-stress: cannot create a temporary directory " << pattern << '\n';
    return {};
  }
  return pattern;
}

bool empty_or_missing(const std::string& path) {
  auto* dir = ::opendir(path.c_str());
  if (dir == nullptr) return errno == ENOENT;
  bool empty = true;
  while (auto* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") empty = false;
  }
  ::closedir(dir);
  return empty;
}

void remove_tree(const std::string& path) {
  ::nftw(
      path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); },
      16, FTW_DEPTH | FTW_PHYS);
}

} // namespace telos::stress

int main(int argc, char** argv) {
  // First, before any thread: glibc's heap on huge pages (storage/huge_pages.hpp).
  telos::storage::restart_with_huge_pages(argv);
  using namespace telos::stress;
  config cfg;
  CLI::App app{"telos-stress: concurrent load on a Telos store, then proof that every "
               "acknowledged write survived; --crash N proves it across SIGKILLs"};
  app.add_option("--backend", cfg.backend, "rocksdb | lmdb | memory")
      ->capture_default_str()
      ->check(CLI::IsMember({"rocksdb", "lmdb", "memory"}));
  app.add_option("--profile", cfg.profile, "teleo13, small (5 little embedders), or a JSON file")
      ->capture_default_str();
  app.add_option("--memories", cfg.memories, "Distinct ids the writers put, replace and delete")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  app.add_option("--duration", cfg.duration, "Seconds of concurrent load")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--writers", cfg.writers, "Concurrent writers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--readers", cfg.readers, "Concurrent readers (gets, searches, fused searches)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  app.add_option("--seed", cfg.seed, "Seed of every id, content and operation sequence")
      ->capture_default_str();
  app.add_flag(
      "--sync,!--no-sync", cfg.sync,
      "fsync every acknowledged write (the default, as the store's; --no-sync turns it off)");
  app.add_option("--shards", cfg.shards, "Shards of the store")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--max-batch", cfg.max_batch, "Largest put_batch")
      ->capture_default_str()
      ->check(CLI::Range(2, 10000));
  app.add_option("--check-queries", cfg.check_queries,
                 "Queries per embedder compared with brute force after the run")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--hnsw-threshold", cfg.hnsw_threshold,
                 "Vectors from which a dense index builds its HNSW graph (reach it sooner)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 40));
  app.add_option("--checkpoint-every", cfg.checkpoint_every,
                 "Each index saves a snapshot after as many changed vectors as it holds, at most "
                 "this many (0: at close only)")
      ->capture_default_str();
  app.add_option("--compact-every", cfg.compact_every,
                 "Crash mode: in every Nth cycle the child flushes and compacts its store in a "
                 "loop while it writes, so kills land inside compactions (0: never)")
      ->capture_default_str();
  app.add_option("--ef-search", cfg.ef_search,
                 "HNSW search ef of the store's indexes (0: the default, 64)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  app.add_option("--max-fresh", cfg.max_fresh,
                 "Vectors per index outside the graph beyond which writes wait for graph work "
                 "(0: no bound)")
      ->capture_default_str();
  app.add_option("--max-inflight-writes", cfg.max_inflight_writes,
                 "Writes in flight in the store beyond which writers are pushed back: answered "
                 "'overloaded' (load mode: writer actors back off and retry) or made to wait "
                 "(facade callers) (0: the store's default, 256)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 30));
  app.add_flag("--require-push-back", cfg.require_push_back,
               "Load mode: fail unless some write was pushed back (answered 'overloaded')");
  app.add_option("--max-rss-mib", cfg.max_rss_mib,
                 "Load mode: fail if the peak resident memory during the load (VmHWM) exceeds "
                 "this many MiB (0: no bound)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--vector-storage", cfg.vector_storage,
                 "RocksDB vector keyspaces: uncompressed (in the LSM tree), blob-files "
                 "(uncompressed, in blob files) or compressed (like the other keyspaces)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uncompressed", "blob-files", "compressed"}));
  app.add_option("--data-dir", cfg.data_dir,
                 "Directory for the store (default: a fresh temporary directory, removed after)");
  app.add_flag("--keep", cfg.keep, "Keep the temporary store directory");
  app.add_option("--report", cfg.report, "Write a JSON report here");
  app.add_option("--plot", cfg.plot,
                 "Write throughput and latency over time here: PNG (gnuplot), or HTML if it ends "
                 "in .html");
  app.add_flag("--quiet", cfg.quiet, "No progress output");
  app.add_option("--crash", cfg.crash,
                 "Crash mode: N cycles of writer child process, SIGKILL, reopen, check")
      ->check(CLI::Range(1, 100000));
  app.add_option("--kill-min-ms", cfg.kill_min_ms, "Crash mode: earliest kill after ready")
      ->capture_default_str();
  app.add_option("--kill-max-ms", cfg.kill_max_ms, "Crash mode: latest kill after ready")
      ->capture_default_str();
  app.add_option("--faults", cfg.faults,
                 "Fault mode: N cycles of load while a disk fault (ENOSPC, EIO on write or fsync, "
                 "short write, EIO on read) is injected and lifted, then a check (RocksDB, LMDB)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--power-loss", cfg.power_loss,
                 "Power-loss mode: N cycles of load, a simulated power cut dropping every byte "
                 "not fsynced, reopen, check (RocksDB; LMDB: docs/STORAGE.md)")
      ->check(CLI::Range(1, 100000));
  // The child of a crash cycle; started by the parent, never by people, so not in --help.
  app.add_flag("--crash-child", cfg.child)->group("");
  app.add_option("--cycle", cfg.cycle)->group("");
  app.add_option("--ack-log", cfg.ack_log)->group("");
  app.add_option("--state-file", cfg.state_file)->group("");
  CLI11_PARSE(app, argc, argv);
  if (cfg.kill_max_ms < cfg.kill_min_ms) {
    std::cerr << "telos-stress: --kill-max-ms must not be below --kill-min-ms\n";
    return 2;
  }
  if (cfg.crash > 0 && cfg.backend == "memory") {
    std::cerr << "telos-stress: --crash needs a persistent backend (rocksdb or lmdb)\n";
    return 2;
  }
  if (!cfg.child && !cfg.data_dir.empty() && !empty_or_missing(cfg.data_dir)) {
    // The model starts empty, so an existing store would show up as unacknowledged writes.
    std::cerr << "telos-stress: --data-dir " << cfg.data_dir << " must be empty or missing\n";
    return 2;
  }
  if ((cfg.crash > 0) + (cfg.faults > 0) + (cfg.power_loss > 0) > 1) {
    std::cerr << "telos-stress: --crash, --faults and --power-loss are separate modes; pick one\n";
    return 2;
  }
  if ((cfg.require_push_back || cfg.max_rss_mib > 0) &&
      (cfg.crash > 0 || cfg.faults > 0 || cfg.power_loss > 0)) {
    std::cerr << "telos-stress: --require-push-back and --max-rss-mib apply to the load mode "
                 "only, not to --crash, --faults or --power-loss\n";
    return 2;
  }
  if (cfg.child) return run_crash_child(cfg);
  if ((cfg.faults > 0 || cfg.power_loss > 0) && cfg.backend == "lmdb" &&
      !telos::storage::posix_faults_loaded()) {
    // LMDB's file calls are faulted through libfiu's POSIX preload library, which must be loaded
    // before libc: start this program again with it (docs/STORAGE.md, "Faults and power loss").
    auto preload = telos::storage::posix_fault_preload_path();
    if (std::getenv("TELOS_STRESS_PRELOADED") != nullptr || ::access(preload.c_str(), R_OK) != 0) {
      std::cerr << "telos-stress: --faults and --power-loss on LMDB need libfiu's POSIX preload "
                   "library "
                << preload
                << " (Debian packages fiu-utils and libfiu0, installed by scripts/setup.sh; "
                   "TELOS_FIU_PRELOAD names another path)\n";
      return 2;
    }
    ::setenv("LD_PRELOAD", telos::storage::posix_fault_preload_list().c_str(), 1);
    ::setenv("TELOS_STRESS_PRELOADED", "1", 1);
    ::execv("/proc/self/exe", argv);
    std::cerr << "telos-stress: cannot start itself again with " << preload << ": "
              << std::strerror(errno) << '\n';
    return 2;
  }
  if (cfg.faults > 0) return run_faults(cfg);
  if (cfg.power_loss > 0) return run_power_loss(cfg);
  if (cfg.crash > 0) return run_crash(cfg);
  return run_load(cfg);
}
