// Shared pieces of the `telos` CLI: global options, the command registry (each command group
// registers itself from its own file, so main.cpp never changes when commands are added), exit
// codes and the one way a command reports failure.
#pragma once

#include "telos/actors/store.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/import_line.hpp"
#include "telos/messages/json_value.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace telos::cli {

/// Process exit codes, documented in docs/CLI.md.
enum exit_code : int {
  exit_ok = 0,
  /// The addressed memory (or checkpoint) does not exist.
  exit_not_found = 1,
  /// The input (arguments, JSON, a memory) is malformed or violates the profile.
  exit_bad_input = 2,
  /// The store is missing, locked, corrupt or failed; also an inconsistent `verify`.
  exit_store_error = 3,
};

/// Options that come before the command name and apply to every command.
struct global_options {
  std::string data_dir = "telos-data";
  /// As given on the command line; empty when not given (then detected from the store).
  std::string backend;
  /// HOST:PORT of a coordinator node (telosd --coordinator); empty = the local store at data_dir.
  std::string connect;
  /// Certificates for a TLS connection (with connect).
  tls_options tls;
  /// Vectors per dense index before it builds an HNSW graph (index_options::hnsw_threshold);
  /// 0 = the engine's default. Applies to this process's open of a local store.
  size_t hnsw_threshold = 0;
  /// --no-sync: acknowledge writes before they are fsynced (store_options::sync_writes off).
  bool no_sync = false;
};

struct command {
  std::string name;
  std::string description;
  /// Adds the command's options to `sub` and returns what to run once parsing succeeded. The
  /// global options are filled by then.
  std::function<std::function<int()>(CLI::App& sub, const global_options& globals)> setup;
};

inline std::vector<command>& commands() {
  static std::vector<command> all;
  return all;
}

struct registrar {
  explicit registrar(command c) { commands().push_back(std::move(c)); }
};

/// The options that narrow which memories a command sees, the same on search, list and count:
/// --namespace, --where KEY=VALUE[,VALUE…] (repeatable; all must hold, a value list is set
/// membership), --created-after T and --created-before T (ms since the epoch, [after, before)).
/// Where --after is free (search, count) it is an alias of --created-after, and --before of
/// --created-before; list keeps --after for its page continuation.
struct filter_options {
  std::string ns;
  std::vector<std::string> where;
  std::optional<int64_t> created_after;
  std::optional<int64_t> created_before;
  /// Adds the filter options to a command; `short_time_names` adds --after/--before too.
  void add_to(CLI::App& sub, bool short_time_names = true);
  /// The filter the options describe; ec::invalid_argument naming the option when malformed.
  expected<telos::filter> build() const;
  /// Whether anything beyond the namespace is asked for.
  bool beyond_namespace() const { return !where.empty() || created_after || created_before; }
};

/// Prints `message` on stderr, {"error": message} on stdout, and returns `code`.
int fail(int code, const std::string& message);

/// fail() with the exit code that belongs to the error's code: not_found 1, invalid_argument 2,
/// everything else 3. `context` (e.g. "get 1234-…") is prefixed to the message when non-empty.
int fail(const caf::error& err, const std::string& context = {});

/// The exit code for an error of the engine.
int exit_code_of(const caf::error& err);

/// Prints one JSON value as one line on stdout.
void print(const json_value& value);

/// The backend named on the command line, or the one recorded in the store directory, or the
/// default (rocksdb) for a directory that holds no store.
expected<storage::backend_kind> backend_of(const global_options& globals);

/// Opens the store of an earlier `telos init`; never creates one. A missing store, another
/// process holding it, or a damaged store all give ec errors whose text says what to do.
expected<std::unique_ptr<store>> open_existing(const global_options& globals);

/// Opens the store (as open_existing), runs `body` on it, closes it, and returns body's exit
/// code; a store that cannot be opened or closed is reported with exit code 3.
int with_store(const global_options& globals, const std::function<int(store&)>& body);

/// Milliseconds since the Unix epoch, now.
int64_t now_ms();

/// What finish_indexes() did: vectors in all indexes, how many were still outside their HNSW graph
/// ("fresh") when it started and when it returned, and how long it took.
struct index_finish {
  uint64_t vectors = 0;
  uint64_t fresh_before = 0;
  uint64_t fresh_after = 0;
  double seconds = 0;
};

/// Waits until no index of the store holds a vector outside its graph (the index actors move them
/// in the background; this only watches, through stats()), drawing a progress bar on stderr when
/// `progress` is set. A store closed afterwards snapshots finished graphs, so the next process
/// searches at full speed from its first query. ec::io_error if the fresh count stops falling for
/// ten minutes. With `wait` off it only reads the counts (fresh_after = fresh_before).
expected<index_finish> finish_indexes(store& db, bool progress, bool wait = true);

/// Sets what a memory from JSON may leave open: a nil id becomes a fresh random id, a zero
/// created_at or updated_at becomes now (complete_memory). Given values are kept, so an exported
/// memory imports unchanged.
void complete(memory& m);

/// The whole content of a file, or of standard input for "-".
expected<std::string> read_input(const std::string& path);

/// True when standard error is a terminal (progress output is for people, not for logs).
bool stderr_is_terminal();

} // namespace telos::cli
