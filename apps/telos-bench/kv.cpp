// `telos-bench kv`: the Telos storage interface against the raw RocksDB and
// LMDB APIs configured identically, in one process on the same data (fill,
// point reads, range scans), plus the latency of single operations against the
// original plan's baselines.
#include "bench_command.hpp"
#include "kv_raw.hpp"
#include "kv_workload.hpp"

#include "telos/storage/backend.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace telos::bench {

namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;
using json = nlohmann::json;

/// The keyspace the workload writes to; the only one declared, on both sides.
constexpr const char* kv_keyspace = "kv";

/// Every ratio ours/raw should reach this.
constexpr double ratio_target = 0.90;
/// Every latency should beat the plan's baseline by this factor.
constexpr double baseline_factor_target = 10.0;

struct kv_options {
  kv_workload_config workload;
  std::string backend = "both";
  std::string dir;
  std::string json_path;
  size_t rounds = 2;
  std::vector<std::string> argv;
};

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

[[noreturn]] void fail(const std::string& what, const caf::error& err) {
  throw kv_failure(what + ": " + describe(err));
}

// -- Telos, through the storage interface
// ---------------------------------------------------------

class telos_store final : public kv_store_under_test {
public:
  telos_store(storage::backend_kind kind, const storage::backend_options& opts) {
    auto db = storage::make_backend(kind, opts);
    if (!db) fail(std::string{"open "} + to_string(kind) + " store at " + opts.path, db.error());
    db_ = std::move(*db);
    auto ks = db_->keyspace(kv_keyspace);
    if (!ks) fail("keyspace", ks.error());
    ks_ = *ks;
  }

  ~telos_store() override { db_->close(); }

  void fill(const kv_dataset& data, const kv_progress& progress) override {
    const size_t batch_size = data.config().batch_size;
    write_batch batch;
    batch.reserve(batch_size);
    for (size_t begin = 0; begin < data.size(); begin += batch_size) {
      size_t end = std::min(begin + batch_size, data.size());
      batch.clear();
      for (size_t i = begin; i < end; ++i)
        batch.put(ks_, data.key(i), data.value(i));
      if (auto ok = db_->write(batch); !ok) fail("write batch", ok.error());
      progress(end);
    }
  }

  kv_tally point_reads(const kv_dataset& data) override {
    kv_tally tally;
    for (uint32_t index : data.read_order()) {
      auto value = db_->get(ks_, data.key(index));
      if (!value) fail("get", value.error());
      if (!*value) continue;
      const std::string& bytes = **value;
      ++tally.items;
      tally.bytes += bytes.size();
      tally.digest += kv_prefix_word(bytes.data(), bytes.size());
    }
    return tally;
  }

  kv_tally range_scans(const kv_dataset& data) override {
    kv_tally tally;
    const size_t length = data.config().scan_length;
    storage::key_range range;
    for (uint32_t start : data.scan_starts()) {
      range.begin = std::string{data.key(start)};
      auto it = db_->scan(ks_, range);
      if (!it) fail("scan", it.error());
      auto& entries = **it;
      for (size_t n = 0; n < length && entries.valid(); ++n, entries.next()) {
        auto key = entries.key();
        auto value = entries.value();
        ++tally.items;
        tally.bytes += key.size() + value.size();
        tally.digest +=
            kv_prefix_word(key.data(), key.size()) + kv_prefix_word(value.data(), value.size());
      }
      if (auto err = entries.status()) fail("scan", err);
    }
    return tally;
  }

  storage::backend& db() { return *db_; }
  keyspace_id ks() const { return ks_; }

private:
  std::unique_ptr<storage::backend> db_;
  keyspace_id ks_ = 0;
};

// -- measurements
// ---------------------------------------------------------------------------------

struct run_result {
  std::string side; ///< "raw" or "ours"
  size_t round = 0;
  double fill_seconds = 0;
  double read_seconds = 0;
  double scan_seconds = 0;
  kv_tally reads;
  kv_tally scans;
};

/// Per-operation latency samples of one kind of operation.
struct latency {
  std::string name;
  std::string unit_of_work;
  double baseline_ms = 0;
  std::vector<double> samples_ms;

  double percentile(double p) const {
    std::vector<double> sorted = samples_ms;
    std::sort(sorted.begin(), sorted.end());
    size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[rank];
  }
  /// The conservative figure compared with the baseline: p99 of many samples,
  /// or the slowest of few.
  double judged_ms() const { return samples_ms.size() >= 100 ? percentile(0.99) : percentile(1.0); }
  const char* judged_name() const { return samples_ms.size() >= 100 ? "p99" : "max"; }
  double times_better() const { return baseline_ms / judged_ms(); }
};

class stderr_progress {
public:
  explicit stderr_progress(std::string label)
      : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}

  /// Rewrites the progress line at most once per percent, and only on a
  /// terminal.
  void update(size_t done, size_t total) {
    if (!tty_) return;
    int percent = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
    if (percent == last_percent_) return;
    last_percent_ = percent;
    std::fprintf(stderr, "\r%s %3d%%", label_.c_str(), percent);
    std::fflush(stderr);
  }

  void finish(const std::string& summary) {
    std::fprintf(stderr, "%s%s %s\n", tty_ ? "\r" : "", label_.c_str(), summary.c_str());
  }

private:
  std::string label_;
  bool tty_;
  int last_percent_ = -1;
};

std::string rate(double ops, double seconds) {
  std::ostringstream out;
  out.precision(0);
  out << std::fixed << ops / seconds << " ops/s";
  return out.str();
}

/// The plan's single-operation baselines, measured through our interface on a
/// filled store.
std::vector<latency> measure_latencies(telos_store& store, const kv_dataset& data) {
  storage::backend& db = store.db();
  const keyspace_id ks = store.ks();
  const auto& config = data.config();
  // A stream of its own, so the comparison phases see the same keys with or
  // without this part.
  std::mt19937_64 rng{config.seed ^ 0x6c6174656e6379ULL};
  std::uniform_int_distribution<uint32_t> any_key{0, static_cast<uint32_t>(data.size() - 1)};
  auto fresh_key = [&rng] {
    std::string key(16, '\0');
    uint64_t words[2] = {rng(), rng()};
    std::memcpy(key.data(), words, sizeof(words));
    return key;
  };
  const std::string_view value = data.value(0);
  auto timed = [](auto&& operation) {
    auto start = steady::now();
    operation();
    return std::chrono::duration<double, std::milli>(steady::now() - start).count();
  };

  std::vector<latency> results;
  latency get{"single GET", "get of one existing key", 1.0, {}};
  for (int i = 0; i < 10'000; ++i) {
    std::string_view key = data.key(any_key(rng));
    get.samples_ms.push_back(timed([&] {
      auto found = db.get(ks, key);
      if (!found || !*found) throw kv_failure("latency probe: existing key not found");
    }));
  }
  results.push_back(std::move(get));

  latency put{"single PUT", "one-op write, sync off (the default)", 2.0, {}};
  for (int i = 0; i < 10'000; ++i) {
    std::string key = fresh_key();
    put.samples_ms.push_back(timed([&] {
      if (auto ok = db.put(ks, key, value); !ok) fail("latency probe put", ok.error());
    }));
  }
  results.push_back(std::move(put));

  latency durable_put{
      "single PUT, durable", "one-op write with sync (fsync before return)", 2.0, {}};
  write_batch one;
  for (int i = 0; i < 200; ++i) {
    one.clear();
    one.put(ks, fresh_key(), value);
    durable_put.samples_ms.push_back(timed([&] {
      if (auto ok = db.write(one, storage::write_options{true}); !ok)
        fail("latency probe sync put", ok.error());
    }));
  }
  results.push_back(std::move(durable_put));

  latency scan{"1K range scan", "iterate 1,000 consecutive keys from a random key", 100.0, {}};
  for (int i = 0; i < 200; ++i) {
    storage::key_range range;
    range.begin = std::string{data.key(any_key(rng))};
    scan.samples_ms.push_back(timed([&] {
      auto it = db.scan(ks, range);
      if (!it) fail("latency probe scan", it.error());
      size_t n = 0;
      for (; n < 1'000 && (*it)->valid(); (*it)->next())
        ++n;
      if (auto err = (*it)->status()) fail("latency probe scan", err);
    }));
  }
  results.push_back(std::move(scan));

  latency batch{"10K batch write", "build and write one batch of 10,000 new items", 5'000.0, {}};
  write_batch big;
  for (int i = 0; i < 10; ++i) {
    std::vector<std::string> keys(10'000);
    for (auto& key : keys)
      key = fresh_key();
    batch.samples_ms.push_back(timed([&] {
      big.clear();
      for (const auto& key : keys)
        big.put(ks, key, value);
      if (auto ok = db.write(big); !ok) fail("latency probe batch", ok.error());
    }));
  }
  results.push_back(std::move(batch));
  return results;
}

// -- the machine, for the report
// ------------------------------------------------------------------

struct machine_info {
  unsigned cores = 0;
  uint64_t ram_bytes = 0;
  std::string cpu;
  std::string disk;
};

std::string read_first_line(const fs::path& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

machine_info describe_machine(const fs::path& dir) {
  machine_info info;
  info.cores = std::thread::hardware_concurrency();
  info.ram_bytes =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::ifstream cpuinfo{"/proc/cpuinfo"};
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      info.cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  // The block device holding `dir`, from sysfs: its name and whether the kernel
  // calls it rotational (virtual disks often report 1 whatever the host medium
  // is).
  struct stat st {};
  info.disk = "unknown";
  if (stat(dir.c_str(), &st) == 0) {
    fs::path dev = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                   std::to_string(minor(st.st_dev));
    std::error_code err;
    fs::path real = fs::canonical(dev, err);
    if (!err) {
      fs::path queue = real / "queue";
      if (!fs::exists(queue)) queue = real.parent_path() / "queue"; // a partition
      std::string rotational = read_first_line(queue / "rotational");
      info.disk = real.filename().string() +
                  (rotational.empty() ? "" : ", rotational=" + rotational + " per sysfs");
    }
  }
  return info;
}

// -- the comparison
// -------------------------------------------------------------------------------

struct backend_report {
  storage::backend_kind kind;
  std::vector<run_result> runs;
  std::vector<latency> latencies;
};

double best_rate(const std::vector<run_result>& runs, const std::string& side, double ops,
                 double run_result::*seconds) {
  double best = 0;
  for (const auto& run : runs)
    if (run.side == side) best = std::max(best, ops / (run.*seconds));
  return best;
}

std::unique_ptr<kv_store_under_test> open_side(storage::backend_kind kind, const std::string& side,
                                               const storage::backend_options& opts) {
  if (side == "ours") return std::make_unique<telos_store>(kind, opts);
  if (kind == storage::backend_kind::rocksdb) return open_raw_rocksdb(opts, kv_keyspace);
  return open_raw_lmdb(opts, kv_keyspace);
}

backend_report compare(storage::backend_kind kind, const kv_dataset& data, const fs::path& base,
                       size_t rounds, std::optional<kv_tally>& expected_reads,
                       std::optional<kv_tally>& expected_scans) {
  backend_report report{kind, {}, {}};
  const auto& config = data.config();
  for (size_t round = 1; round <= rounds; ++round) {
    // ABBA order: raw first in odd rounds, ours first in even ones, so neither
    // side always runs on a machine the other one just warmed up (or just
    // loaded with writeback).
    std::vector<std::string> order = round % 2 == 1 ? std::vector<std::string>{"raw", "ours"}
                                                    : std::vector<std::string>{"ours", "raw"};
    for (const auto& side : order) {
      storage::backend_options opts;
      opts.path = (base / (std::string{to_string(kind)} + "-" + side + "-" + std::to_string(round)))
                      .string();
      opts.keyspaces = {kv_keyspace};
      fs::remove_all(opts.path);
      // Write back what earlier runs left dirty, so it does not land in this
      // run's timings.
      ::sync();
      std::string label = std::string{"["} + to_string(kind) + " " + side + " " +
                          std::to_string(round) + "/" + std::to_string(rounds) + "]";
      run_result run{side, round, 0, 0, 0, {}, {}};
      {
        auto store = open_side(kind, side, opts);
        stderr_progress fill_progress{label + " fill"};
        auto start = steady::now();
        store->fill(data, [&](size_t done) { fill_progress.update(done, data.size()); });
        run.fill_seconds = seconds_since(start);
        fill_progress.finish(rate(static_cast<double>(data.size()), run.fill_seconds));

        stderr_progress read_progress{label + " point reads"};
        start = steady::now();
        run.reads = store->point_reads(data);
        run.read_seconds = seconds_since(start);
        read_progress.finish(rate(static_cast<double>(config.reads), run.read_seconds));

        stderr_progress scan_progress{label + " range scans"};
        start = steady::now();
        run.scans = store->range_scans(data);
        run.scan_seconds = seconds_since(start);
        scan_progress.finish(rate(static_cast<double>(config.scans), run.scan_seconds));

        if (run.reads.items != config.reads)
          throw kv_failure(label + " point reads found " + std::to_string(run.reads.items) +
                           " of " + std::to_string(config.reads) + " existing keys");
        if (!expected_reads) expected_reads = run.reads;
        if (!expected_scans) expected_scans = run.scans;
        if (run.reads != *expected_reads || run.scans != *expected_scans)
          throw kv_failure(label + " read different data than the first run: the stores disagree");

        if (side == "ours" && round == rounds) {
          stderr_progress latency_progress{label + " single-operation latencies"};
          report.latencies = measure_latencies(static_cast<telos_store&>(*store), data);
          latency_progress.finish("done");
        }
      }
      fs::remove_all(opts.path);
      report.runs.push_back(run);
    }
  }
  return report;
}

// -- the report
// -----------------------------------------------------------------------------------

std::string fixed(double x, int digits) {
  std::ostringstream out;
  out.precision(digits);
  out << std::fixed << x;
  return out.str();
}

std::string pad(const std::string& text, size_t width, bool right = false) {
  if (text.size() >= width) return text;
  std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

std::string format_ms(double ms) {
  if (ms < 0.01) return fixed(ms * 1000.0, 2) + " us";
  if (ms < 1.0) return fixed(ms * 1000.0, 1) + " us";
  return fixed(ms, 2) + " ms";
}

int run_kv(const kv_options& options) {
  const auto& config = options.workload;
  std::vector<storage::backend_kind> kinds;
  if (options.backend != "lmdb") kinds.push_back(storage::backend_kind::rocksdb);
  if (options.backend != "rocksdb") kinds.push_back(storage::backend_kind::lmdb);

  // Our own temporary directory is removed at the end; a --dir given to us is
  // kept (only the per-run stores inside it are removed, each right after its
  // run).
  fs::path base;
  bool remove_base = options.dir.empty();
  if (remove_base) {
    std::string pattern = (fs::temp_directory_path() / "telos-bench-kv-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw kv_failure("cannot create a temporary directory");
    base = pattern;
  } else {
    base = options.dir;
    fs::create_directories(base);
  }
  struct remove_on_exit {
    fs::path dir;
    bool active;
    ~remove_on_exit() {
      std::error_code ignored;
      if (active) fs::remove_all(dir, ignored);
    }
  } cleanup{base, remove_base};

  std::cerr << "telos-bench kv: generating " << config.keys << " keys (seed " << config.seed
            << ")\n";
  kv_dataset data{config};
  machine_info machine = describe_machine(base);

  std::vector<backend_report> reports;
  std::optional<kv_tally> expected_reads;
  std::optional<kv_tally> expected_scans;
  for (auto kind : kinds)
    reports.push_back(compare(kind, data, base, options.rounds, expected_reads, expected_scans));

  storage::backend_options defaults;
  std::ostringstream method;
  method << "One process, one dataset (generated before timing). For each "
            "backend, "
         << options.rounds
         << " rounds in ABBA order (raw,ours / ours,raw / ...); every run opens a "
            "fresh "
            "directory, runs fill -> point reads -> range scans, closes, and "
            "deletes it; "
            "sync() before each run keeps earlier writeback out of its timings. "
            "Each phase is "
            "reported as the best of its rounds per side. Both sides use the same "
            "backend_options values; both verify every read and must see "
            "identical data.";
  std::ostringstream command;
  for (size_t i = 0; i < options.argv.size(); ++i)
    command << (i ? " " : "") << options.argv[i];

  std::cout << "telos-bench kv: Telos storage interface vs raw RocksDB/LMDB "
               "API, same process\n"
            << "command:  " << command.str() << "\n"
            << "machine:  " << machine.cores << " cores (" << machine.cpu << "), "
            << fixed(static_cast<double>(machine.ram_bytes) / (1ULL << 30), 1) << " GiB RAM, "
            << "store on " << machine.disk << "\n"
            << "workload: " << config.keys << " random " << config.key_size << "-byte keys, "
            << config.value_size << "-byte values (50% compressible), batches of "
            << config.batch_size << "; " << config.reads << " random point reads; " << config.scans
            << " range scans of " << config.scan_length << " keys from random existing keys; seed "
            << config.seed << "\n"
            << "options:  rocksdb block cache " << defaults.block_cache_mb << " MB, bloom filters "
            << (defaults.bloom_filters ? "on" : "off") << ", compression "
            << (defaults.compression ? "LZ4 + ZSTD bottommost" : "off") << ", write buffer "
            << defaults.write_buffer_mb << " MB, max_open_files " << defaults.max_open_files
            << "; lmdb initial map " << defaults.lmdb_map_mb
            << " MB (doubling when full); writes not synced\n"
            << "method:   " << method.str() << "\n\n";

  json doc;
  doc["command"] = command.str();
  doc["machine"] = {{"cores", machine.cores},
                    {"cpu", machine.cpu},
                    {"ram_bytes", machine.ram_bytes},
                    {"disk", machine.disk}};
  doc["workload"] = {{"keys", config.keys},
                     {"key_size", config.key_size},
                     {"value_size", config.value_size},
                     {"batch_size", config.batch_size},
                     {"reads", config.reads},
                     {"scans", config.scans},
                     {"scan_length", config.scan_length},
                     {"seed", config.seed},
                     {"rounds", options.rounds}};
  doc["method"] = method.str();
  doc["targets"] = {{"ratio_ours_over_raw", ratio_target},
                    {"times_better_than_baseline", baseline_factor_target}};
  bool all_met = true;

  std::cout << pad("backend", 9) << pad("phase", 13) << pad("raw ops/s", 13, true)
            << pad("ours ops/s", 13, true) << pad("ours/raw", 10, true) << "  target "
            << fixed(ratio_target, 2) << "\n";
  for (const auto& report : reports) {
    struct phase {
      const char* name;
      double ops;
      double run_result::*seconds;
    };
    const phase phases[] = {
        {"fill", static_cast<double>(config.keys), &run_result::fill_seconds},
        {"point read", static_cast<double>(config.reads), &run_result::read_seconds},
        {"range scan", static_cast<double>(config.scans), &run_result::scan_seconds}};
    json& backend_doc = doc["backends"][to_string(report.kind)];
    for (const auto& p : phases) {
      double raw = best_rate(report.runs, "raw", p.ops, p.seconds);
      double ours = best_rate(report.runs, "ours", p.ops, p.seconds);
      double ratio = ours / raw;
      bool met = ratio >= ratio_target;
      all_met = all_met && met;
      std::cout << pad(to_string(report.kind), 9) << pad(p.name, 13) << pad(fixed(raw, 0), 13, true)
                << pad(fixed(ours, 0), 13, true) << pad(fixed(ratio, 3), 10, true) << "  "
                << (met ? "met" : "MISSED") << "\n";
      backend_doc["phases"][p.name] = {
          {"raw_ops_per_s", raw}, {"ours_ops_per_s", ours}, {"ratio", ratio}, {"met", met}};
    }
    for (const auto& run : report.runs)
      backend_doc["runs"].push_back({{"side", run.side},
                                     {"round", run.round},
                                     {"fill_seconds", run.fill_seconds},
                                     {"read_seconds", run.read_seconds},
                                     {"scan_seconds", run.scan_seconds}});
  }
  std::cout << "(scan ops = scans of " << config.scan_length << " keys; all runs per round in the "
            << "JSON report)\n";

  for (const auto& report : reports) {
    std::cout << "\nPlan baselines, through our interface (" << to_string(report.kind)
              << ", on the filled store of the last round):\n"
              << pad("operation", 22) << pad("samples", 8, true) << pad("p50", 11, true)
              << pad("p99", 11, true) << pad("max", 11, true) << pad("baseline", 11, true)
              << pad("x better", 10, true) << "  target " << fixed(baseline_factor_target, 0)
              << "x\n";
    json& latency_doc = doc["backends"][to_string(report.kind)]["latency"];
    for (const auto& probe : report.latencies) {
      double better = probe.times_better();
      bool met = better >= baseline_factor_target;
      all_met = all_met && met;
      std::cout << pad(probe.name, 22) << pad(std::to_string(probe.samples_ms.size()), 8, true)
                << pad(format_ms(probe.percentile(0.5)), 11, true)
                << pad(format_ms(probe.percentile(0.99)), 11, true)
                << pad(format_ms(probe.percentile(1.0)), 11, true)
                << pad("< " + format_ms(probe.baseline_ms), 11, true)
                << pad(fixed(better, 0) + "x", 10, true) << "  " << (met ? "met" : "MISSED") << " ("
                << probe.judged_name() << ")\n";
      latency_doc[probe.name] = {{"what", probe.unit_of_work},
                                 {"samples", probe.samples_ms.size()},
                                 {"p50_ms", probe.percentile(0.5)},
                                 {"p99_ms", probe.percentile(0.99)},
                                 {"max_ms", probe.percentile(1.0)},
                                 {"baseline_ms", probe.baseline_ms},
                                 {"judged_by", probe.judged_name()},
                                 {"times_better", better},
                                 {"met", met}};
    }
  }
  std::cout << "\nall targets " << (all_met ? "met" : "NOT met") << "\n";
  doc["all_targets_met"] = all_met;

  if (!options.json_path.empty()) {
    std::ofstream out{options.json_path};
    out << doc.dump(2) << "\n";
    if (!out) throw kv_failure("cannot write the JSON report to " + options.json_path);
  }
  return 0;
}

const registrar kv_registration{command{
    "kv",
    "Telos storage interface vs the raw RocksDB/LMDB API (same options, same "
    "process): fill, point "
    "reads, range scans; plus single-operation latencies against the plan's "
    "baselines",
    [](CLI::App& sub) {
      auto options = std::make_shared<kv_options>();
      auto& w = options->workload;
      sub.add_option("--keys", w.keys, "Keys to fill (16-byte random keys, 100-byte values)")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{4'000'000'000}));
      sub.add_option("--reads", w.reads, "Random point reads of existing keys")
          ->capture_default_str();
      sub.add_option("--scans", w.scans, "Range scans of 1,000 consecutive keys")
          ->capture_default_str();
      sub.add_option("--backend", options->backend, "rocksdb, lmdb or both")
          ->capture_default_str()
          ->check(CLI::IsMember({"rocksdb", "lmdb", "both"}));
      sub.add_option("--dir", options->dir,
                     "Directory for the stores (kept; each run's store inside is deleted "
                     "after "
                     "it). Default: a fresh temporary directory, removed afterwards");
      sub.add_option("--seed", w.seed, "Seed of keys, values and access order")
          ->capture_default_str();
      sub.add_option("--rounds", options->rounds,
                     "Rounds per backend (ABBA order); each phase reports the "
                     "best round")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100}));
      sub.add_option("--json", options->json_path, "Also write a machine-readable report here");
      return [options, &sub]() -> int {
        options->argv = {"telos-bench", "kv"};
        for (const auto* option : sub.get_options()) {
          if (option->count() == 0 || option->get_name() == "--help") continue;
          for (const auto& value : option->results())
            options->argv.push_back(option->get_name() + "=" + value);
        }
        try {
          return run_kv(*options);
        } catch (const std::exception& e) {
          std::cerr << "\ntelos-bench kv: " << e.what() << "\n";
          return 1;
        }
      };
    }}};

} // namespace

} // namespace telos::bench
