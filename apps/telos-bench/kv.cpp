// `telos-bench kv`: the Telos storage interface against the raw RocksDB and LMDB APIs configured
// identically, in one process on the same data (fill, point reads, range scans), plus the latency
// of single operations against the original plan's baselines.
#include "bench_command.hpp"
#include "kv_raw.hpp"
#include "kv_workload.hpp"
#include "timing.hpp"

#include "telos/storage/backend.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
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
/// Each phase is cut into this many slices per side; the two sides alternate slice by slice.
constexpr size_t slices_per_phase = 1000;

struct kv_options {
  kv_workload_config workload;
  std::string backend = "both";
  std::string dir;
  std::string json_path;
  size_t rounds = 2;
  std::vector<std::string> argv;
};

[[noreturn]] void fail(const std::string& what, const caf::error& err) {
  throw kv_failure(what + ": " + describe(err));
}

// -- Telos, through the storage interface ---------------------------------------------------------

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

  void fill(const kv_dataset& data, size_t first, size_t last) override {
    const size_t batch_size = data.config().batch_size;
    write_batch batch;
    batch.reserve(batch_size);
    for (size_t begin = first; begin < last; begin += batch_size) {
      size_t end = std::min(begin + batch_size, last);
      batch.clear();
      for (size_t i = begin; i < end; ++i)
        batch.put(ks_, data.key(i), data.value(i));
      if (auto ok = db_->write(batch); !ok) fail("write batch", ok.error());
    }
  }

  void point_reads(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) override {
    for (size_t i = begin; i < end; ++i) {
      auto value = db_->get(ks_, data.key(data.read_order()[i]));
      if (!value) fail("get", value.error());
      if (!*value) continue;
      const std::string& bytes = **value;
      ++tally.items;
      tally.bytes += bytes.size();
      tally.digest += kv_consume(bytes.data(), bytes.size());
    }
  }

  void range_scans(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) override {
    const size_t length = data.config().scan_length;
    storage::key_range range;
    for (size_t i = begin; i < end; ++i) {
      range.begin = std::string{data.key(data.scan_starts()[i])};
      auto it = db_->scan(ks_, range);
      if (!it) fail("scan", it.error());
      auto& entries = **it;
      for (size_t n = 0; n < length && entries.valid(); ++n, entries.next()) {
        auto key = entries.key();
        auto value = entries.value();
        ++tally.items;
        tally.bytes += key.size() + value.size();
        tally.digest += kv_consume(key.data(), key.size()) + kv_consume(value.data(), value.size());
      }
      if (auto err = entries.status()) fail("scan", err);
    }
  }

  storage::backend& db() { return *db_; }
  keyspace_id ks() const { return ks_; }

private:
  std::unique_ptr<storage::backend> db_;
  keyspace_id ks_ = 0;
};

// -- formatting -----------------------------------------------------------------------------------

std::string fixed(double x, int digits) {
  std::ostringstream out;
  out.precision(digits);
  out << std::fixed << x;
  return out.str();
}

std::string fixed_rate(double ops_per_second) {
  return fixed(ops_per_second, 0);
}

std::string pad(const std::string& text, size_t width, bool right = false) {
  if (text.size() >= width) return text;
  std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

std::string format_ms(double ms) {
  if (ms < 0.01) return fixed(ms * 1000.0, 2) + " us";
  if (ms < 1.0) return fixed(ms * 1000.0, 1) + " us";
  if (ms < 1000.0) return fixed(ms, 2) + " ms";
  return fixed(ms / 1000.0, 2) + " s";
}

/// The plan's round-number baselines: "< 1 ms", "< 100 ms", "< 5 s".
std::string format_baseline(double ms) {
  return "< " + (ms >= 1000.0 ? fixed(ms / 1000.0, 0) + " s" : fixed(ms, 0) + " ms");
}

std::string format_factor(double x) {
  return (x < 10 ? fixed(x, 1) : fixed(x, 0)) + "x";
}

// -- single-operation latencies against the plan's baselines --------------------------------------

/// Latency samples of one kind of operation.
struct latency {
  std::string name;
  std::string unit_of_work;
  double baseline_ms = 0;
  /// False: reported for information, not held to the target.
  bool judged = true;
  std::vector<double> samples_ms;

  double percentile(double p) const {
    std::vector<double> sorted = samples_ms;
    std::sort(sorted.begin(), sorted.end());
    size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[rank];
  }
  double times_better(double p) const { return baseline_ms / percentile(p); }
};

/// The plan's single-operation baselines, measured through our interface on a filled store.
std::vector<latency> measure_latencies(telos_store& store, const kv_dataset& data) {
  storage::backend& db = store.db();
  const keyspace_id ks = store.ks();
  const auto& config = data.config();
  // A stream of its own, so the comparison phases see the same keys with or without this part.
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
  latency get{"single GET", "get of one existing key", 1.0, true, {}};
  for (int i = 0; i < 10'000; ++i) {
    std::string_view key = data.key(any_key(rng));
    get.samples_ms.push_back(timed([&] {
      auto found = db.get(ks, key);
      if (!found || !*found) throw kv_failure("latency probe: existing key not found");
    }));
  }
  results.push_back(std::move(get));

  latency put{"single PUT", "one-op write, sync off (the default)", 2.0, true, {}};
  for (int i = 0; i < 10'000; ++i) {
    std::string key = fresh_key();
    put.samples_ms.push_back(timed([&] {
      if (auto ok = db.put(ks, key, value); !ok) fail("latency probe put", ok.error());
    }));
  }
  results.push_back(std::move(put));

  // Informational: the plan's baseline does not say the PUT was durable; with sync, the figure
  // is the disk's flush latency more than ours.
  latency durable_put{
      "single PUT, durable", "one-op write with sync (fsync before return)", 2.0, false, {}};
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

  latency scan{
      "1K range scan", "iterate 1,000 consecutive keys from a random key", 100.0, true, {}};
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

  latency batch{
      "10K batch write", "build and write one batch of 10,000 new items", 5'000.0, true, {}};
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

// -- the machine, for the report -----------------------------------------------------------------

struct machine_info {
  unsigned cores = 0;
  uint64_t ram_bytes = 0;
  std::string cpu;
  std::string disk;
  /// 1, 5 and 15 minute load averages when the run started: other work on the machine.
  std::string load_average;
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
  // The block device holding `dir`, from sysfs: its name and whether the kernel calls it
  // rotational (virtual disks often report 1 whatever the host medium is).
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
  std::istringstream loadavg{read_first_line("/proc/loadavg")};
  std::string one, five, fifteen;
  loadavg >> one >> five >> fifteen;
  info.load_average = one + " " + five + " " + fifteen;
  return info;
}

// -- the comparison -------------------------------------------------------------------------------

enum side : size_t { raw_side = 0, ours_side = 1 };
constexpr std::array<const char*, 2> side_names = {"raw", "ours"};

/// Seconds each side spent in one phase: wall clock, and CPU time of the benchmark thread (which
/// leaves out time the machine's other work took the CPU away, and the libraries' background
/// threads).
struct phase_time {
  std::array<double, 2> wall{};
  std::array<double, 2> cpu{};
  /// Per slice: raw's wall time / ours' wall time on the same keys, a few milliseconds apart.
  std::vector<double> slice_ratios;
};

/// One round: the time of each phase per side, and what each side's reads saw.
struct round_result {
  phase_time fill;
  phase_time reads;
  phase_time scans;
  std::array<kv_tally, 2> read_tally{};
  std::array<kv_tally, 2> scan_tally{};
};

struct backend_report {
  storage::backend_kind kind;
  std::vector<round_result> rounds;
  std::vector<latency> latencies;
};

/// Runs `step(side, begin, end)` over [0, total) in slices, alternating the sides slice by slice
/// (raw first in even slices, ours first in odd ones), and adds each side's time to `time`.
/// Both sides thus run under the same machine load, a few milliseconds apart.
template <class Step>
void interleave(size_t total, Step&& step, phase_time& time, const std::string& label) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  const size_t slice = std::max<size_t>(1, (total + slices_per_phase - 1) / slices_per_phase);
  size_t n = 0;
  for (size_t begin = 0; begin < total; begin += slice, ++n) {
    size_t end = std::min(begin + slice, total);
    std::array<double, 2> wall{};
    for (size_t k = 0; k < 2; ++k) {
      auto who = static_cast<side>((n + k) % 2);
      auto wall_start = steady::now();
      double cpu_start = thread_cpu_seconds();
      step(who, begin, end);
      time.cpu[who] += thread_cpu_seconds() - cpu_start;
      wall[who] = std::chrono::duration<double>(steady::now() - wall_start).count();
      time.wall[who] += wall[who];
    }
    time.slice_ratios.push_back(wall[raw_side] / wall[ours_side]);
    if (tty) std::fprintf(stderr, "\r%s %3zu%%", label.c_str(), 100 * end / total);
  }
  auto rate = [&](side who) { return fixed_rate(static_cast<double>(total) / time.wall[who]); };
  std::fprintf(stderr, "%s%s raw %s, ours %s ops/s\n", tty ? "\r" : "", label.c_str(),
               rate(raw_side).c_str(), rate(ours_side).c_str());
}

std::unique_ptr<kv_store_under_test> open_raw(storage::backend_kind kind,
                                              const storage::backend_options& opts) {
  if (kind == storage::backend_kind::rocksdb) return open_raw_rocksdb(opts, kv_keyspace);
  return open_raw_lmdb(opts, kv_keyspace);
}

backend_report compare(storage::backend_kind kind, const kv_dataset& data, const fs::path& base,
                       size_t rounds, std::optional<kv_tally>& expected_reads,
                       std::optional<kv_tally>& expected_scans) {
  backend_report report{kind, {}, {}};
  const auto& config = data.config();
  for (size_t round = 1; round <= rounds; ++round) {
    std::array<storage::backend_options, 2> opts;
    for (size_t who = 0; who < 2; ++who) {
      opts[who].path = (base / (std::string{to_string(kind)} + "-" + side_names[who] + "-" +
                                std::to_string(round)))
                           .string();
      opts[who].keyspaces = {kv_keyspace};
      fs::remove_all(opts[who].path);
    }
    // Write back what earlier rounds left dirty, so it does not land in this round's timings.
    ::sync();
    const std::string label = std::string{"["} + to_string(kind) + " round " +
                              std::to_string(round) + "/" + std::to_string(rounds) + "]";
    round_result result;
    {
      auto raw = open_raw(kind, opts[raw_side]);
      telos_store ours{kind, opts[ours_side]};
      std::array<kv_store_under_test*, 2> stores{raw.get(), &ours};

      interleave(
          config.keys, [&](side who, size_t b, size_t e) { stores[who]->fill(data, b, e); },
          result.fill, label + " fill");
      interleave(
          config.reads,
          [&](side who, size_t b, size_t e) {
            stores[who]->point_reads(data, b, e, result.read_tally[who]);
          },
          result.reads, label + " point reads");
      interleave(
          config.scans,
          [&](side who, size_t b, size_t e) {
            stores[who]->range_scans(data, b, e, result.scan_tally[who]);
          },
          result.scans, label + " range scans");

      for (size_t who = 0; who < 2; ++who) {
        const std::string name = label + " " + side_names[who];
        if (result.read_tally[who].items != config.reads)
          throw kv_failure(name + " point reads found " +
                           std::to_string(result.read_tally[who].items) + " of " +
                           std::to_string(config.reads) + " existing keys");
        if (!expected_reads) expected_reads = result.read_tally[who];
        if (!expected_scans) expected_scans = result.scan_tally[who];
        if (result.read_tally[who] != *expected_reads || result.scan_tally[who] != *expected_scans)
          throw kv_failure(name + " read other data than the first store: the stores disagree");
      }

      if (round == rounds) {
        std::fprintf(stderr, "%s single-operation latencies (ours)\n", label.c_str());
        report.latencies = measure_latencies(ours, data);
      }
    }
    for (const auto& o : opts)
      fs::remove_all(o.path);
    report.rounds.push_back(result);
  }
  return report;
}

// -- the report -----------------------------------------------------------------------------------

struct phase_figures {
  const char* name;
  double raw_ops_per_s = 0;
  double ours_ops_per_s = 0;
  /// ours/raw: the median over all slices of raw's time / ours' time on the same keys. A slice
  /// that lost the CPU to another process is an outlier the median ignores.
  double ratio = 0;
  /// ours/raw of the total wall time (what the ops/s columns show).
  double total_ratio = 0;
  /// ours/raw of the benchmark thread's total CPU time.
  double cpu_ratio = 0;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/// Rates over all rounds (total operations / total wall time per side) and the ratios.
std::vector<phase_figures> summarize(const backend_report& report,
                                     const kv_workload_config& config) {
  struct phase {
    const char* name;
    size_t ops;
    phase_time round_result::*time;
  };
  const phase phases[] = {{"fill", config.keys, &round_result::fill},
                          {"point read", config.reads, &round_result::reads},
                          {"range scan", config.scans, &round_result::scans}};
  std::vector<phase_figures> out;
  for (const auto& p : phases) {
    phase_time total;
    for (const auto& round : report.rounds) {
      const phase_time& t = round.*(p.time);
      for (size_t who = 0; who < 2; ++who) {
        total.wall[who] += t.wall[who];
        total.cpu[who] += t.cpu[who];
      }
      total.slice_ratios.insert(total.slice_ratios.end(), t.slice_ratios.begin(),
                                t.slice_ratios.end());
    }
    const double ops = static_cast<double>(p.ops * report.rounds.size());
    phase_figures figures{p.name};
    figures.raw_ops_per_s = ops / total.wall[raw_side];
    figures.ours_ops_per_s = ops / total.wall[ours_side];
    figures.ratio = median(total.slice_ratios);
    figures.total_ratio = figures.ours_ops_per_s / figures.raw_ops_per_s;
    figures.cpu_ratio = total.cpu[raw_side] / total.cpu[ours_side];
    out.push_back(figures);
  }
  return out;
}

int run_kv(const kv_options& options) {
  const auto& config = options.workload;
  std::vector<storage::backend_kind> kinds;
  if (options.backend != "lmdb") kinds.push_back(storage::backend_kind::rocksdb);
  if (options.backend != "rocksdb") kinds.push_back(storage::backend_kind::lmdb);

  // Our own temporary directory is removed at the end; a --dir given to us is kept (only the
  // stores inside it are removed, each right after its round).
  fs::path base;
  const bool remove_base = options.dir.empty();
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

  std::fprintf(stderr, "telos-bench kv: generating %zu keys (seed %llu)\n", config.keys,
               static_cast<unsigned long long>(config.seed));
  kv_dataset data{config};
  const machine_info machine = describe_machine(base);

  std::vector<backend_report> reports;
  std::optional<kv_tally> expected_reads;
  std::optional<kv_tally> expected_scans;
  for (auto kind : kinds)
    reports.push_back(compare(kind, data, base, options.rounds, expected_reads, expected_scans));

  const storage::backend_options defaults;
  std::ostringstream method;
  method << "One process, one dataset generated before timing. Each round opens a fresh raw "
            "store and a fresh Telos store side by side (separate directories, identical "
            "options) and runs fill, point reads and range scans on both, each phase cut into "
         << slices_per_phase
         << " slices of the same keys that alternate between the sides (raw first, then ours "
            "first, ...), so both run under the same machine load and cache conditions, "
            "milliseconds apart. The judged ratio is the median of the per-slice time ratios, "
            "which ignores slices that lost the CPU to other processes; ops/s are totals over "
         << options.rounds
         << " rounds. Both sides read every byte of every key and value they get and must see "
            "identical data (checked).";
  std::ostringstream command;
  for (size_t i = 0; i < options.argv.size(); ++i)
    command << (i ? " " : "") << options.argv[i];

  std::cout << "telos-bench kv: Telos storage interface vs raw RocksDB/LMDB API, same process\n"
            << "command:  " << command.str() << "\n"
            << "machine:  " << machine.cores << " cores (" << machine.cpu << "), "
            << fixed(static_cast<double>(machine.ram_bytes) / (1ULL << 30), 1) << " GiB RAM, "
            << "store on " << machine.disk << ", load average " << machine.load_average << "\n"
            << "workload: " << config.keys << " random " << config.key_size << "-byte keys, "
            << config.value_size << "-byte values (50% compressible), batches of "
            << config.batch_size << "; " << config.reads << " random point reads; " << config.scans
            << " range scans of " << config.scan_length << " keys from random existing keys; seed "
            << config.seed << "\n"
            << "options:  rocksdb block cache " << defaults.block_cache_mb << " MB, bloom filters "
            << (defaults.bloom_filters ? "10 bits/key" : "off") << ", compression "
            << (defaults.compression ? "LZ4 + ZSTD bottommost" : "off") << ", write buffer "
            << defaults.write_buffer_mb << " MB, max_open_files " << defaults.max_open_files
            << ", column families default/__meta/kv; lmdb MDB_NOTLS|MDB_NOSYNC, initial map "
            << defaults.lmdb_map_mb << " MB doubling as needed; writes not synced\n"
            << "method:   " << method.str() << "\n\n";

  json doc;
  doc["command"] = command.str();
  doc["machine"] = {{"cores", machine.cores},
                    {"cpu", machine.cpu},
                    {"ram_bytes", machine.ram_bytes},
                    {"disk", machine.disk},
                    {"load_average_at_start", machine.load_average}};
  doc["workload"] = {{"keys", config.keys},
                     {"key_size", config.key_size},
                     {"value_size", config.value_size},
                     {"batch_size", config.batch_size},
                     {"reads", config.reads},
                     {"scans", config.scans},
                     {"scan_length", config.scan_length},
                     {"seed", config.seed},
                     {"rounds", options.rounds},
                     {"slices_per_phase", slices_per_phase}};
  doc["method"] = method.str();
  doc["targets"] = {{"ratio_ours_over_raw", ratio_target},
                    {"times_better_than_baseline_at_p50", baseline_factor_target}};
  bool all_met = true;

  std::cout << pad("backend", 9) << pad("phase", 12) << pad("raw ops/s", 12, true)
            << pad("ours ops/s", 12, true) << pad("ours/raw", 10, true) << pad("(totals", 9, true)
            << pad("CPU)", 7, true) << "  target " << fixed(ratio_target, 2) << "\n";
  for (const auto& report : reports) {
    json& backend_doc = doc["backends"][to_string(report.kind)];
    for (const auto& figures : summarize(report, config)) {
      const bool met = figures.ratio >= ratio_target;
      all_met = all_met && met;
      std::cout << pad(to_string(report.kind), 9) << pad(figures.name, 12)
                << pad(fixed_rate(figures.raw_ops_per_s), 12, true)
                << pad(fixed_rate(figures.ours_ops_per_s), 12, true)
                << pad(fixed(figures.ratio, 3), 10, true)
                << pad(fixed(figures.total_ratio, 3), 9, true)
                << pad(fixed(figures.cpu_ratio, 3), 7, true) << "  " << (met ? "met" : "MISSED")
                << "\n";
      backend_doc["phases"][figures.name] = {{"raw_ops_per_s", figures.raw_ops_per_s},
                                             {"ours_ops_per_s", figures.ours_ops_per_s},
                                             {"ratio_median_of_slices", figures.ratio},
                                             {"ratio_of_total_wall_time", figures.total_ratio},
                                             {"ratio_of_thread_cpu_time", figures.cpu_ratio},
                                             {"met", met}};
    }
  }
  std::cout << "(ops/s: operations / total wall time over all rounds. ours/raw, judged: median "
               "over all slices of raw's time / ours' time for the same keys; in parentheses "
               "the ratio of total wall time and of the benchmark thread's CPU time. A range "
               "scan op = one scan of "
            << config.scan_length << " keys.)\n";

  for (const auto& report : reports) {
    std::cout << "\nPlan baselines through our interface (" << to_string(report.kind)
              << ", on the filled store of the last round; judged on the median):\n"
              << pad("operation", 21) << pad("samples", 8, true) << pad("p50", 11, true)
              << pad("p99", 11, true) << pad("max", 11, true) << pad("baseline", 11, true)
              << pad("x at p50", 10, true) << pad("x at p99", 10, true) << "  target "
              << format_factor(baseline_factor_target) << "\n";
    json& latency_doc = doc["backends"][to_string(report.kind)]["latency"];
    for (const auto& probe : report.latencies) {
      const double better = probe.times_better(0.5);
      const bool met = better >= baseline_factor_target;
      if (probe.judged) all_met = all_met && met;
      std::cout << pad(probe.name, 21) << pad(std::to_string(probe.samples_ms.size()), 8, true)
                << pad(format_ms(probe.percentile(0.5)), 11, true)
                << pad(format_ms(probe.percentile(0.99)), 11, true)
                << pad(format_ms(probe.percentile(1.0)), 11, true)
                << pad(format_baseline(probe.baseline_ms), 11, true)
                << pad(format_factor(better), 10, true)
                << pad(format_factor(probe.times_better(0.99)), 10, true) << "  "
                << (probe.judged ? (met ? "met" : "MISSED") : "info") << "\n";
      latency_doc[probe.name] = {
          {"what", probe.unit_of_work},      {"samples", probe.samples_ms.size()},
          {"p50_ms", probe.percentile(0.5)}, {"p99_ms", probe.percentile(0.99)},
          {"max_ms", probe.percentile(1.0)}, {"baseline_ms", probe.baseline_ms},
          {"times_better_p50", better},      {"times_better_p99", probe.times_better(0.99)},
          {"judged", probe.judged},          {"met", met}};
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
    "Telos storage interface vs the raw RocksDB/LMDB API (same options, same process): fill, "
    "point reads, range scans; plus single-operation latencies against the plan's baselines",
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
                     "Directory for the stores (kept; the stores inside are deleted after each "
                     "round). Default: a fresh temporary directory, removed afterwards");
      sub.add_option("--seed", w.seed, "Seed of keys, values and access order")
          ->capture_default_str();
      sub.add_option("--rounds", options->rounds,
                     "Rounds per backend, each on fresh stores; rates are over all rounds")
          ->capture_default_str()
          ->check(CLI::Range(size_t{1}, size_t{100}));
      sub.add_option("--json", options->json_path, "Also write a machine-readable report here");
      return [options, &sub]() -> int {
        options->argv = {"telos-bench", "kv"};
        for (const auto* option : sub.get_options()) {
          if (option->count() == 0) continue;
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
