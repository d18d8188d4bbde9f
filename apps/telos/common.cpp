// Failure reporting, store opening and small I/O helpers shared by every telos command.
#include "cli.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>
#include <thread>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace telos::cli {

void filter_options::add_to(CLI::App& sub, bool short_time_names) {
  sub.add_option("--namespace", ns, "Only memories of this namespace");
  sub.add_option("--where", where,
                 "KEY=VALUE: only memories whose attribute KEY is VALUE; KEY=V1,V2 for any of "
                 "several values; repeat for several attributes (all must hold)");
  sub.add_option(short_time_names ? "--after,--created-after" : "--created-after", created_after,
                 "Only memories created at or after T (ms since the epoch)");
  sub.add_option(short_time_names ? "--before,--created-before" : "--created-before",
                 created_before, "Only memories created before T (ms since the epoch)");
}

expected<telos::filter> filter_options::build() const {
  telos::filter f;
  f.ns = ns;
  for (const auto& w : where) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error(ec::invalid_argument,
                        "--where '" + w + "': expected KEY=VALUE or KEY=VALUE1,VALUE2");
    attribute_predicate p;
    p.key = w.substr(0, eq);
    auto values = w.substr(eq + 1);
    size_t start = 0;
    while (true) {
      auto comma = values.find(',', start);
      p.values.push_back(values.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    f.where.push_back(std::move(p));
  }
  f.created_after = created_after;
  f.created_before = created_before;
  if (created_after && created_before && *created_before <= *created_after)
    return make_error(ec::invalid_argument, "--created-before " + std::to_string(*created_before) +
                                                " is not after --created-after " +
                                                std::to_string(*created_after));
  return f;
}

int fail(int code, const std::string& message) {
  std::cerr << "telos: " << message << '\n';
  print(json_value{{"error", message}});
  return code;
}

int exit_code_of(const caf::error& err) {
  switch (code_of(err)) {
  case ec::not_found:
    return exit_not_found;
  case ec::invalid_argument:
    return exit_bad_input;
  default:
    return exit_store_error;
  }
}

int fail(const caf::error& err, const std::string& context) {
  auto text = describe(err);
  return fail(exit_code_of(err), context.empty() ? text : context + ": " + text);
}

void print(const json_value& value) {
  std::cout << dump(value) << '\n';
}

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

} // namespace

namespace {

/// The backend named by a store marker file ("backend=<kind>" line), if `path` is one.
std::optional<std::string> marker_backend(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  bool is_marker = false;
  while (std::getline(in, line)) {
    if (line == "telos-store") is_marker = true;
    if (is_marker && line.rfind("backend=", 0) == 0) return line.substr(8);
  }
  return std::nullopt;
}

} // namespace

expected<storage::backend_kind> backend_of(const global_options& globals) {
  if (!globals.backend.empty()) return storage::parse_backend_kind(globals.backend);
  // Every persistent store directory (each shard's, for a sharded store) carries a TELOS marker
  // naming its backend, so an existing store opens without repeating --backend.
  if (auto kind = marker_backend(globals.data_dir + "/TELOS"))
    return storage::parse_backend_kind(*kind);
  if (auto* dir = ::opendir(globals.data_dir.c_str())) {
    std::optional<std::string> found;
    while (auto* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      found = marker_backend(globals.data_dir + "/" + name + "/TELOS");
      if (found) break;
    }
    ::closedir(dir);
    if (found) return storage::parse_backend_kind(*found);
  }
  return storage::backend_kind::rocksdb;
}

expected<std::unique_ptr<store>> open_existing(const global_options& globals) {
  if (!globals.connect.empty()) {
    auto where = parse_endpoint(globals.connect);
    if (!where) return make_error(ec::invalid_argument, "--connect: " + describe(where.error()));
    return store::connect(where->host, where->port, globals.tls);
  }
  auto kind = backend_of(globals);
  if (!kind) return kind.error();
  auto no_store = [&] {
    return make_error(ec::not_a_store, "no Telos store at '" + globals.data_dir +
                                           "' (create one with `telos init`, or pass --data-dir)");
  };
  // Checked here too, so that a command other than init can never create a store, whatever the
  // backend does with a missing directory.
  if (*kind != storage::backend_kind::memory && !exists(globals.data_dir)) return no_store();
  store_options opts;
  opts.path = globals.data_dir;
  opts.backend = *kind;
  opts.create_if_missing = false;
  opts.sync_writes = !globals.no_sync;
  if (globals.hnsw_threshold > 0) opts.index_options.hnsw_threshold = globals.hnsw_threshold;
  auto opened = store::open(std::move(opts));
  if (opened) return opened;
  switch (code_of(opened.error())) {
  case ec::not_found:
    return no_store();
  case ec::locked:
    return make_error(ec::locked, "the store at '" + globals.data_dir +
                                      "' is locked by another process; try again when it is done");
  default:
    // The engine's errors name the store and what is wrong with it already.
    return opened.error();
  }
}

int with_store(const global_options& globals, const std::function<int(store&)>& body) {
  auto opened = open_existing(globals);
  // Whatever went wrong while opening, the command could not reach its store: a store error.
  if (!opened) return fail(exit_store_error, describe(opened.error()));
  auto result = body(**opened);
  if (auto closed = (*opened)->close(); !closed)
    return fail(exit_store_error, "closing the store: " + describe(closed.error()));
  return result;
}

namespace {

struct fresh_count {
  uint64_t vectors = 0;
  uint64_t fresh = 0;
};

expected<fresh_count> count_fresh(store& db) {
  auto st = db.stats();
  if (!st) return st.error();
  fresh_count n;
  for (const auto& ix : st->indexes) {
    n.vectors += ix.stats.vectors;
    n.fresh += ix.stats.fresh;
  }
  return n;
}

void draw_finish_bar(uint64_t done, uint64_t total, double elapsed) {
  constexpr int width = 30;
  double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  int filled = static_cast<int>(fraction * width);
  std::cerr << "\r[" << std::string(static_cast<size_t>(filled), '#')
            << std::string(static_cast<size_t>(width - filled), ' ') << "] "
            << static_cast<int>(fraction * 100) << "% indexes: " << done << " of " << total
            << " vectors moved into their graphs, "
            << static_cast<uint64_t>(elapsed > 0 ? static_cast<double>(done) / elapsed : 0)
            << "/s   " << std::flush;
}

} // namespace

expected<index_finish> finish_indexes(store& db, bool progress, bool wait) {
  constexpr double stall_seconds = 600;
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto first = count_fresh(db);
  if (!first) return first.error();
  index_finish out;
  out.vectors = first->vectors;
  out.fresh_before = first->fresh;
  out.fresh_after = first->fresh;
  auto last_fall = start;
  auto seconds_since = [](clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  };
  while (wait && out.fresh_after > 0) {
    if (progress)
      draw_finish_bar(out.fresh_before - std::min(out.fresh_before, out.fresh_after),
                      out.fresh_before, seconds_since(start));
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    auto now = count_fresh(db);
    if (!now) return now.error();
    out.vectors = now->vectors;
    if (now->fresh < out.fresh_after) last_fall = clock::now();
    out.fresh_after = now->fresh;
    if (out.fresh_after > 0 && seconds_since(last_fall) > stall_seconds)
      return make_error(ec::io_error, "the indexes moved no vector into their graphs for " +
                                          std::to_string(static_cast<int>(stall_seconds)) + " s; " +
                                          std::to_string(out.fresh_after) +
                                          " vectors are still outside them");
  }
  if (wait && progress && out.fresh_before > 0) {
    draw_finish_bar(out.fresh_before, out.fresh_before, seconds_since(start));
    std::cerr << '\n';
  }
  out.seconds = seconds_since(start);
  return out;
}

expected<std::string> read_input(const std::string& path) {
  std::ostringstream out;
  if (path == "-") {
    out << std::cin.rdbuf();
    return out.str();
  }
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(ec::invalid_argument,
                      "cannot read '" + path + "': " + std::generic_category().message(errno));
  out << in.rdbuf();
  return out.str();
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void complete(memory& m) {
  complete_memory(m, now_ms());
}

bool stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

} // namespace telos::cli
