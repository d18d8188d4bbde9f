// telos-stress: the modes of the harness and the options they share. See docs/STRESS.md.
#pragma once

#include "checks.hpp"
#include "metrics.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace telos::stress {

struct config {
  /// Store directory; empty = a fresh temporary directory, removed at the end unless --keep.
  std::string data_dir;
  bool keep = false;
  std::string backend = "rocksdb";
  std::string profile = "teleo13";
  /// Size of the id space: writers put, replace and delete among this many ids.
  uint64_t memories = 5000;
  /// Seconds of concurrent load (normal mode).
  double duration = 40;
  uint32_t writers = 2;
  uint32_t readers = 2;
  uint64_t seed = 1;
  bool sync = true;
  uint32_t shards = 1;
  uint32_t max_batch = 8;
  /// index_options::hnsw_threshold of the store.
  size_t hnsw_threshold = storage::index_options{}.hnsw_threshold;
  /// store_options::checkpoint_every of the store.
  size_t checkpoint_every = store_options{}.checkpoint_every;
  /// Crash mode: in every Nth cycle the child flushes and compacts its store over and over while
  /// its writers run, so kills land inside compactions (0: never).
  uint32_t compact_every = 0;
  /// index_options::hnsw_ef_search of the store (0: the default).
  size_t ef_search = 0;
  /// store_options::max_fresh of the store.
  size_t max_fresh = store_options{}.max_fresh;
  /// How a RocksDB store keeps its vector keyspaces: "uncompressed" (the default: in the LSM
  /// tree), "blob-files" (uncompressed, in blob files) or "compressed" (like every other
  /// keyspace: the settings before 2026-12-02). docs/STORAGE.md, "Vector keyspaces".
  std::string vector_storage = "uncompressed";
  /// store_options::max_inflight_writes of the store (0: its default). Writers beyond it are
  /// pushed back: actor writers get ec::overloaded, facade callers wait.
  size_t max_inflight_writes = 0;
  /// Load mode: fail unless some writer was pushed back (answered ec::overloaded).
  bool require_push_back = false;
  /// Load mode: fail if the peak resident memory of the process during the load (VmHWM) exceeds
  /// this many MiB (0: no bound).
  double max_rss_mib = 0;
  /// Queries per embedder compared with brute force after the run.
  uint32_t check_queries = 8;
  std::string report;
  std::string plot;
  bool quiet = false;

  /// Crash cycles (0 = normal mode).
  uint32_t crash = 0;
  /// A child is killed this long after it reported ready: uniform in [min, max] milliseconds.
  uint32_t kill_min_ms = 100;
  uint32_t kill_max_ms = 1200;

  /// Fault cycles (--faults N): load while a disk fault is injected, then lifted.
  uint32_t faults = 0;
  /// Power-loss cycles (--power-loss N): load, a cut that drops unsynced bytes, reopen, check.
  uint32_t power_loss = 0;

  // Hidden: the child process of --crash.
  bool child = false;
  uint32_t cycle = 0;
  std::string ack_log;
  std::string state_file;
};

/// Normal mode: concurrent load, close, reopen, full check, summary.
int run_load(const config& cfg);
/// --crash N: N cycles of child, SIGKILL, reopen, check.
int run_crash(const config& cfg);
/// The child of one crash cycle: writes until killed, logging every acknowledged write.
int run_crash_child(const config& cfg);
/// --faults N: N cycles of load under an injected disk fault, lift, check (faults.cpp).
int run_faults(const config& cfg);
/// --power-loss N: N cycles of load, simulated power cut, reopen, check (faults.cpp).
int run_power_loss(const config& cfg);

/// The store options a config asks for, for the store in `dir`. `create`: a new store with
/// profile `p`; else an existing one, whose stored profile must be `p`.
store_options store_options_of(const config& cfg, const std::string& dir, const profile& p,
                               bool create);

/// Creates a fresh temporary directory for a store; returns its path.
std::string make_temp_dir(const std::string& prefix);
/// True when `path` does not exist or is an empty directory.
bool empty_or_missing(const std::string& path);
/// Removes a directory tree.
void remove_tree(const std::string& path);

} // namespace telos::stress
