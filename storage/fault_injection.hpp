// Fault injection under the storage layer, for tests and telos-stress only: one fault_injector
// decides which file operations fail (ENOSPC, EIO on write, EIO on fsync, short write, EIO on
// read) and simulates a power cut (bytes never fsynced are dropped). Two seams consult it: the
// RocksDB backend's file system wrapper (storage/rocksdb_fault_fs.cpp) and Telos's own file
// writes (index snapshots, the shard manifest, the decision log, cluster files) through
// own_file_fault(). Both are switched on for the whole process by install_fault_injector(), which
// only tests and telos-stress call: a RocksDB store opened while an injector is installed runs on
// the fault file system; otherwise RocksDB runs on its own file system and the own-file seam costs
// one atomic load. docs/STORAGE.md ("Faults") says what Telos promises under each fault.
#pragma once

#include "telos/messages/error.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace telos::storage {

/// What an armed fault does to the operations it hits.
enum class fault_kind : uint8_t {
  none,
  /// Writes and file creation fail with ENOSPC (a full disk).
  no_space,
  /// Writes fail with EIO.
  write_error,
  /// fsync / fdatasync fail with EIO (the data written before may or may not be on disk).
  sync_error,
  /// A write stores only the first half of its bytes, then fails with EIO (a torn write).
  short_write,
  /// Reads of files fail with EIO.
  read_error,
};

const char* to_string(fault_kind kind);
/// Parses "no_space", "write_error", "sync_error", "short_write" or "read_error".
expected<fault_kind> parse_fault_kind(std::string_view text);

/// The class of a file operation, as a seam reports it.
enum class file_op : uint8_t { create, write, sync, read };

/// What a seam must do with one operation.
struct fault_decision {
  /// 0: carry on; else fail the operation with this errno.
  int error = 0;
  /// Write the first half of the data before failing (short_write).
  bool partial = false;
  explicit operator bool() const { return error != 0; }
};

/// What a simulated power cut dropped.
struct power_loss_report {
  /// Files truncated back to their last fsynced size, and the bytes dropped from them.
  uint64_t files_truncated = 0;
  uint64_t bytes_dropped = 0;
  /// Files created since their directory was last fsynced, deleted (their entry never reached
  /// the disk).
  uint64_t files_removed = 0;
};

/// Thread-safe. Shared (shared_ptr) by the test that drives it and the seams that consult it.
class fault_injector {
public:
  explicit fault_injector(uint64_t seed = 1);

  // -- faults ------------------------------------------------------------------------------------

  /// From now on each operation `kind` applies to fails with `probability` (0..1], drawn from
  /// this injector's seeded sequence. Replaces any fault armed before.
  void arm(fault_kind kind, double probability = 1.0);
  /// Lifts the armed fault: operations succeed again (unless the power is cut).
  void lift();
  fault_kind armed() const { return armed_.load(std::memory_order_relaxed); }
  /// From now on, before each decision, reads the file `path`: a fault kind name ("no_space",
  /// …) arms that kind with probability 1, an empty or missing file lifts it. For a process
  /// driven from outside (telosd under TELOS_TEST_FAULT_FILE, actors/test_hooks.hpp): the next
  /// file operation after the file changed already sees the change. Call before installing.
  void arm_from_file(std::string path);
  /// Called by the seams for each operation of class `op` on `path`.
  fault_decision decide(file_op op, std::string_view path);
  /// Faults injected so far.
  uint64_t injected() const { return injected_.load(std::memory_order_relaxed); }

  // -- power loss --------------------------------------------------------------------------------

  /// The file system wrapper reports what it did, so a cut knows what was never made durable.
  /// A path is tracked from its creation (or first append) on; files that existed before are
  /// durable up to the size they had.
  void note_created(const std::string& path);
  void note_appended(const std::string& path, uint64_t bytes);
  void note_truncated(const std::string& path, uint64_t size);
  void note_synced(const std::string& path);
  void note_dir_synced(const std::string& dir);
  void note_deleted(const std::string& path);
  void note_renamed(const std::string& from, const std::string& to);

  /// The power goes off: from now on every file operation through the seams fails with EIO, so
  /// nothing more reaches the disk, until drop_unsynced() is called.
  void cut_power();
  bool power_is_cut() const { return cut_.load(std::memory_order_relaxed); }
  /// After whatever had the files open is closed: truncates every tracked file to its last
  /// fsynced size, deletes files whose directory was not fsynced since their creation, forgets
  /// all tracking and turns the power back on. The state on disk is then what a machine that lost
  /// power at cut_power() would find.
  expected<power_loss_report> drop_unsynced();

private:
  struct file_state {
    uint64_t size = 0;
    uint64_t synced = 0;
    /// Created since its directory was last fsynced.
    bool new_entry = false;
  };

  void read_control_file();

  std::string control_file_;
  std::atomic<fault_kind> armed_{fault_kind::none};
  std::atomic<bool> cut_{false};
  std::atomic<uint64_t> injected_{0};
  mutable std::mutex mutex_;
  uint64_t rng_state_;
  uint64_t threshold_ = 0;
  std::map<std::string, file_state> files_;
};

/// Installs the injector of this process (nullptr: none, the default). Tests and telos-stress
/// only. RocksDB stores opened afterwards run on the fault file system and keep this injector
/// for their lifetime; Telos's own file writes consult it at once. Install (or remove) it only
/// while no own file is being written.
void install_fault_injector(std::shared_ptr<fault_injector> injector);
/// The injector installed for this process, if any.
std::shared_ptr<fault_injector> installed_fault_injector();

/// The seam of Telos's own files: what the operation `op` on `path` must do now. Cheap when
/// nothing is installed.
fault_decision own_file_fault(file_op op, std::string_view path);

// -- the POSIX seam (LMDB) ------------------------------------------------------------------------
//
// LMDB writes its data file through its own pwrite/writev/fdatasync calls (and reads it through a
// memory map), not through a file object that can be wrapped. Its calls are faulted through
// Debian's libfiu instead: telos-stress runs with libfiu's fiu_posix_preload.so preloaded
// (LD_PRELOAD), which puts a named point of failure in front of every POSIX I/O call of the
// process; enable_posix_faults() hands the decision for those points to the installed injector,
// and only for calls made on a thread inside a posix_fault_scope (the LMDB backend opens one
// around each commit, sync and open), so the rest of the process (logs, stdout, RocksDB) is never
// faulted through this seam.

/// Marks the calls this thread makes until destruction as calls on the store at `path`. Cheap
/// (a thread-local pointer); nests.
class posix_fault_scope {
public:
  explicit posix_fault_scope(const std::string& path);
  ~posix_fault_scope();
  posix_fault_scope(const posix_fault_scope&) = delete;
  posix_fault_scope& operator=(const posix_fault_scope&) = delete;

private:
  const std::string* previous_;
};

/// Where libfiu's POSIX preload library is (TELOS_FIU_PRELOAD, else Debian's path).
std::string posix_fault_preload_path();
/// The LD_PRELOAD value that loads it: a sanitizer runtime this process runs with first, then
/// the preload library, then what LD_PRELOAD held.
std::string posix_fault_preload_list();
/// Whether that library is loaded into this process (it must be preloaded: it replaces libc's
/// calls only when it comes first).
bool posix_faults_loaded();
/// Routes libfiu's POSIX points of failure (writes, syncs, reads) to the installed injector.
/// Error if the preload library is not loaded. Idempotent.
expected<void> enable_posix_faults();

} // namespace telos::storage
