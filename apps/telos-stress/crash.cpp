// --crash N: durability under SIGKILL. Each cycle starts this binary again as a child that writes
// and appends every acknowledged write to a log (fsynced after each ack), kills it at a seeded
// random moment, reopens the store and checks it against the log: every logged write present and
// exact, the one write per writer that was in flight either wholly there or wholly absent,
// nothing else changed, verify consistent.
#include "report.hpp"
#include "stress.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace telos::stress {

namespace {

using clock = std::chrono::steady_clock;

void save_state(const std::string& path, const std::vector<id_state>& model) {
  std::ofstream out{path, std::ios::trunc};
  for (size_t n = 0; n < model.size(); ++n)
    if (model[n].version != 0)
      out << n << ' ' << model[n].version << ' ' << model[n].present << '\n';
}

bool load_state(const std::string& path, std::vector<id_state>& model) {
  std::ifstream in{path};
  if (!in) return false;
  uint64_t n = 0;
  uint32_t v = 0;
  int present = 0;
  while (in >> n >> v >> present) {
    if (n >= model.size()) return false;
    model[n] = {v, present != 0};
  }
  return in.eof();
}

/// One line of the acknowledgement log: "<writer> <seq> <kind> <n>[,<n>...]".
struct ack {
  uint32_t writer = 0;
  uint64_t seq = 0;
  std::string kind;
  std::vector<uint64_t> ids;
};

std::string format_ack(uint32_t writer, uint64_t seq, const write_op& op) {
  std::string line =
      std::to_string(writer) + ' ' + std::to_string(seq) + ' ' + to_string(op.kind) + ' ';
  for (size_t i = 0; i < op.ids.size(); ++i)
    line += (i ? "," : "") + std::to_string(op.ids[i]);
  return line + '\n';
}

/// Complete lines only: a line the kill cut short was never fully recorded, so its write counts
/// as in flight.
std::vector<ack> read_acks(const std::string& path, std::vector<std::string>& problems) {
  std::ifstream in{path, std::ios::binary};
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::vector<ack> result;
  size_t start = 0;
  for (;;) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) break;
    std::istringstream line{text.substr(start, end - start)};
    ack a;
    std::string ids;
    if (!(line >> a.writer >> a.seq >> a.kind >> ids)) {
      problems.push_back("unreadable line in the acknowledgement log: '" +
                         text.substr(start, end - start) + "'");
    } else {
      std::istringstream list{ids};
      std::string item;
      while (std::getline(list, item, ','))
        a.ids.push_back(std::stoull(item));
      result.push_back(std::move(a));
    }
    start = end + 1;
  }
  return result;
}

std::string self_path() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  buf[n] = '\0';
  return buf;
}

struct child_process {
  pid_t pid = -1;
  /// Read end of the child's stdout, where it says "ready".
  int ready_fd = -1;
};

child_process spawn_child(const config& cfg, const std::string& store_dir, uint32_t cycle,
                          const std::string& log, const std::string& state) {
  std::vector<std::string> args = {self_path(),
                                   "--crash-child",
                                   "--data-dir",
                                   store_dir,
                                   "--backend",
                                   cfg.backend,
                                   "--profile",
                                   cfg.profile,
                                   "--memories",
                                   std::to_string(cfg.memories),
                                   "--writers",
                                   std::to_string(cfg.writers),
                                   "--seed",
                                   std::to_string(cfg.seed),
                                   "--max-batch",
                                   std::to_string(cfg.max_batch),
                                   "--hnsw-threshold",
                                   std::to_string(cfg.hnsw_threshold),
                                   "--checkpoint-every",
                                   std::to_string(cfg.checkpoint_every),
                                   "--compact-every",
                                   std::to_string(cfg.compact_every),
                                   "--ef-search",
                                   std::to_string(cfg.ef_search),
                                   "--max-fresh",
                                   std::to_string(cfg.max_fresh),
                                   "--vector-storage",
                                   cfg.vector_storage,
                                   "--max-inflight-writes",
                                   std::to_string(cfg.max_inflight_writes),
                                   "--cycle",
                                   std::to_string(cycle),
                                   "--ack-log",
                                   log,
                                   "--state-file",
                                   state};
  args.push_back(cfg.sync ? "--sync" : "--no-sync");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe(fds) != 0) return {};
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid == 0) {
    // A child must never outlive a parent that died: it would keep writing to the store.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(99);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(98);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

/// Reads the child's pipe into `got` (all it said so far) until `line` is there, for up to
/// `timeout_ms`; false if it died or took too long. The child says "opening" before store::open
/// and "ready" after it.
bool wait_line(int fd, std::string& got, const char* line, int timeout_ms) {
  auto deadline = clock::now() + std::chrono::milliseconds{timeout_ms};
  while (got.find(line) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[64];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return true;
}

/// Where an early kill landed, from what the dead child had said on its pipe: "starting" (before
/// store::open began), "opening" (inside store::open: recovery) or "running" (after it).
std::string phase_at_kill(int fd, std::string got) {
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 0) > 0) {
    char buf[64];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  if (got.find("ready\n") != std::string::npos) return "running";
  if (got.find("opening\n") != std::string::npos) return "opening";
  return "starting";
}

struct cycle_result {
  uint32_t cycle = 0;
  bool early = false;
  /// Of an early kill: "starting", "opening" (recovery) or "running" (phase_at_kill).
  std::string phase;
  double killed_after_ms = 0;
  uint64_t acked_ops = 0;
  uint64_t acked_memories = 0;
  uint64_t in_flight = 0;
  uint64_t in_flight_applied = 0;
  uint64_t present = 0;
  double check_s = 0;
  /// Of check_s: store::open alone (recovery), and what it replayed or rebuilt.
  double open_s = 0;
  store::recovery_summary recovered;
  std::vector<std::string> problems;
};

} // namespace

int run_crash_child(const config& cfg) {
  auto prof = load_profile(cfg.profile);
  if (!prof) {
    std::cerr << "telos-stress child: " << describe(prof.error()) << '\n';
    return 2;
  }
  generator gen{*prof, cfg.seed, cfg.memories};
  std::vector<id_state> model(gen.memories());
  if (!load_state(cfg.state_file, model)) {
    std::cerr << "telos-stress child: cannot read the state file " << cfg.state_file << '\n';
    return 3;
  }
  std::cout << "opening" << std::endl;
  auto opened = store::open(store_options_of(cfg, cfg.data_dir, *prof, false));
  if (!opened) {
    std::cerr << "telos-stress child: cannot open " << cfg.data_dir << ": "
              << describe(opened.error()) << '\n';
    return 3;
  }
  auto& db = **opened;
  int log = ::open(cfg.ack_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    std::cerr << "telos-stress child: cannot open " << cfg.ack_log << ": " << std::strerror(errno)
              << '\n';
    return 3;
  }
  std::cout << "ready" << std::endl;
  auto cycle_seed = mix(cfg.seed, 0xC7C1E, cfg.cycle);
  std::atomic<int> failure{0};
  std::vector<std::thread> writers;
  for (uint32_t w = 0; w < cfg.writers; ++w)
    writers.emplace_back([&, w] {
      writer_script script{cycle_seed, w, cfg.writers, gen.memories(), cfg.max_batch};
      for (uint64_t seq = 1; failure == 0; ++seq) {
        auto op = script.next(model);
        caf::error err;
        std::vector<memory> batch;
        for (size_t i = 0; i < op.ids.size() && op.kind != op_kind::remove; ++i)
          batch.push_back(gen.make(op.ids[i], op.versions[i]));
        switch (op.kind) {
        case op_kind::put:
          if (auto r = db.put(std::move(batch.front())); !r) err = r.error();
          break;
        case op_kind::batch:
          if (auto r = db.put_batch(std::move(batch)); !r) err = r.error();
          break;
        case op_kind::update:
          if (auto r = db.update(std::move(batch.front())); !r) err = r.error();
          break;
        case op_kind::remove:
          if (auto r = db.remove(gen.id(op.ids.front())); !r) err = r.error();
          break;
        }
        if (err) {
          std::cerr << "telos-stress child: writer " << w << " op " << seq << " ("
                    << to_string(op.kind) << ") failed: " << describe(err) << '\n';
          failure = 1;
          return;
        }
        // The write is acknowledged: record it durably before starting the next one, so the
        // log never lags the store by more than the one write in flight.
        auto line = format_ack(w, seq, op);
        if (::write(log, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
            ::fdatasync(log) != 0) {
          std::cerr << "telos-stress child: cannot append to " << cfg.ack_log << '\n';
          failure = 1;
          return;
        }
        writer_script::apply(op, model);
      }
    });
  // Every compact_every-th cycle, flush and compact while the writers run, so the kill can land
  // inside a memtable flush or a compaction (RocksDB; on LMDB flush is an env sync and compact
  // does nothing).
  if (cfg.compact_every != 0 && cfg.cycle % cfg.compact_every == 0)
    writers.emplace_back([&] {
      while (failure == 0) {
        if (auto r = db.flush(); !r) {
          std::cerr << "telos-stress child: flush failed: " << describe(r.error()) << '\n';
          failure = 1;
        } else if (auto c = db.compact(); !c) {
          std::cerr << "telos-stress child: compact failed: " << describe(c.error()) << '\n';
          failure = 1;
        }
      }
    });
  for (auto& t : writers)
    t.join();
  return 3;
}

int run_crash(const config& cfg) {
  auto prof = load_profile(cfg.profile);
  if (!prof) {
    std::cerr << "telos-stress: " << describe(prof.error()) << '\n';
    return 2;
  }
  generator gen{*prof, cfg.seed, cfg.memories};
  auto root = cfg.data_dir.empty() ? make_temp_dir("telos-crash-") : cfg.data_dir;
  if (root.empty()) return 3;
  ::mkdir(root.c_str(), 0755);
  auto store_dir = root + "/store";
  {
    auto created = store::open(store_options_of(cfg, store_dir, *prof, true));
    if (!created) {
      std::cerr << "telos-stress: cannot create a store at " << store_dir << ": "
                << describe(created.error()) << '\n';
      return 3;
    }
    if (auto closed = (*created)->close(); !closed) {
      std::cerr << "telos-stress: closing the new store failed: " << describe(closed.error())
                << '\n';
      return 3;
    }
  }
  if (!cfg.quiet)
    std::cerr << "telos-stress: crash test, " << cfg.crash << " cycles, " << cfg.backend
              << " store at " << store_dir << ", profile " << prof->name << ", " << cfg.writers
              << " writers, " << cfg.memories << " ids, seed " << cfg.seed
              << (cfg.sync ? ", sync" : ", no sync") << '\n';
  std::vector<id_state> model(gen.memories());
  std::vector<cycle_result> cycles;
  bool passed = true;
  rng timing{mix(cfg.seed, 0x4B111)};
  double last_open_ms = 40; // the first early kill, before any reopen was timed
  for (uint32_t c = 1; c <= cfg.crash && passed; ++c) {
    cycle_result res;
    res.cycle = c;
    auto log = root + "/acks-" + std::to_string(c) + ".log";
    auto state = root + "/state-" + std::to_string(c);
    save_state(state, model);
    // One cycle in five is killed while the child is still opening (recovering) the store: at a
    // random moment after it said "opening", within the time the last reopen here took.
    res.early = timing.chance(0.2);
    auto delay_ms = res.early
                        ? timing.below(std::max<uint64_t>(1, static_cast<uint64_t>(last_open_ms)))
                        : cfg.kill_min_ms + timing.below(cfg.kill_max_ms - cfg.kill_min_ms + 1);
    auto child = spawn_child(cfg, store_dir, c, log, state);
    if (child.pid < 0) {
      std::cerr << "telos-stress: cannot start the child process\n";
      return 3;
    }
    auto started = clock::now();
    std::string said;
    if (!wait_line(child.ready_fd, said, res.early ? "opening\n" : "ready\n", 120000))
      res.problems.push_back("the child did not become ready (see its messages above)");
    std::this_thread::sleep_for(std::chrono::milliseconds{delay_ms});
    ::kill(child.pid, SIGKILL);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    if (res.early) res.phase = phase_at_kill(child.ready_fd, said);
    ::close(child.ready_fd);
    res.killed_after_ms = std::chrono::duration<double, std::milli>(clock::now() - started).count();
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      res.problems.push_back("the child ended by itself (status " + std::to_string(status) +
                             ") before it was killed");

    // Replay every writer's script against the log: the logged writes must be exactly its
    // first operations, and the next one is the write that was in flight.
    auto acks = read_acks(log, res.problems);
    auto cycle_seed = mix(cfg.seed, 0xC7C1E, c);
    std::vector<std::vector<ack>> per_writer(cfg.writers);
    for (auto& a : acks) {
      if (a.writer >= cfg.writers) {
        res.problems.push_back("acknowledgement log names writer " + std::to_string(a.writer));
        continue;
      }
      per_writer[a.writer].push_back(a);
    }
    check_options copts;
    copts.queries = std::min<uint32_t>(cfg.check_queries, 2);
    for (uint32_t w = 0; w < cfg.writers; ++w) {
      writer_script script{cycle_seed, w, cfg.writers, gen.memories(), cfg.max_batch};
      for (size_t i = 0; i < per_writer[w].size(); ++i) {
        auto& a = per_writer[w][i];
        auto op = script.next(model);
        if (a.seq != i + 1 || a.kind != to_string(op.kind) || a.ids != op.ids) {
          res.problems.push_back("acknowledgement log of writer " + std::to_string(w) +
                                 " diverges from its script at op " + std::to_string(i + 1));
          break;
        }
        writer_script::apply(op, model);
        ++res.acked_ops;
        res.acked_memories += op.ids.size();
      }
      copts.uncertain.push_back({script.next(model), w, per_writer[w].size() + 1});
    }
    res.in_flight = copts.uncertain.size();
    auto before = model;
    auto t = clock::now();
    auto opened = store::open(store_options_of(cfg, store_dir, *prof, false));
    if (!opened) {
      res.problems.push_back("reopen after the kill failed: " + describe(opened.error()));
    } else {
      res.open_s = std::chrono::duration<double>(clock::now() - t).count();
      last_open_ms = res.open_s * 1000;
      res.recovered = (*opened)->recovered();
      auto checked = check_store(**opened, gen, model, copts);
      res.problems.insert(res.problems.end(), checked.problems.begin(), checked.problems.end());
      if (auto closed = (*opened)->close(); !closed)
        res.problems.push_back("close failed: " + describe(closed.error()));
    }
    res.check_s = std::chrono::duration<double>(clock::now() - t).count();
    for (auto& u : copts.uncertain)
      if (!u.op.ids.empty() && model[u.op.ids.front()] != before[u.op.ids.front()])
        ++res.in_flight_applied;
    for (auto& s : model)
      res.present += s.present ? 1 : 0;
    if (!cfg.quiet) {
      std::fprintf(stderr,
                   "cycle %u/%u: killed after %.0f ms%s; %llu acknowledged writes (%llu memories) "
                   "all present; %llu in flight (%llu landed); %llu memories stored; reopen "
                   "%.2f s (%u indexes from a snapshot + %llu ids replayed, %u rebuilt), reopen + "
                   "check %.2f s: %s\n",
                   c, cfg.crash, res.killed_after_ms,
                   res.early ? (" (early kill, " + res.phase + ")").c_str() : "",
                   static_cast<unsigned long long>(res.acked_ops),
                   static_cast<unsigned long long>(res.acked_memories),
                   static_cast<unsigned long long>(res.in_flight),
                   static_cast<unsigned long long>(res.in_flight_applied),
                   static_cast<unsigned long long>(res.present), res.open_s,
                   res.recovered.from_snapshot,
                   static_cast<unsigned long long>(res.recovered.replayed), res.recovered.rebuilt,
                   res.check_s, res.problems.empty() ? "OK" : "FAILED");
    }
    for (auto& p : res.problems)
      std::printf("cycle %u: %s\n", c, p.c_str());
    passed = passed && res.problems.empty();
    cycles.push_back(std::move(res));
  }
  uint64_t total_acked = 0;
  size_t early = 0, in_recovery = 0;
  for (auto& r : cycles) {
    total_acked += r.acked_ops;
    early += r.early ? 1 : 0;
    in_recovery += r.phase == "opening" ? 1 : 0;
  }
  std::printf("telos-stress --crash: %zu early kills, %zu of them inside store::open (recovery)\n",
              early, in_recovery);
  std::printf("telos-stress --crash: %zu of %u cycles, %llu acknowledged writes checked, %s\n",
              cycles.size(), cfg.crash, static_cast<unsigned long long>(total_acked),
              passed ? "PASS: nothing acknowledged was lost, nothing half-written"
                     : "FAIL (see above)");
  std::fflush(stdout);
  if (!cfg.report.empty()) {
    nlohmann::ordered_json doc;
    doc["mode"] = "crash";
    doc["passed"] = passed;
    doc["config"] = {{"backend", cfg.backend}, {"profile", prof->name}, {"memories", cfg.memories},
                     {"writers", cfg.writers}, {"seed", cfg.seed},      {"sync", cfg.sync},
                     {"cycles", cfg.crash}};
    auto& list = doc["cycles"] = nlohmann::ordered_json::array();
    for (auto& r : cycles)
      list.push_back({{"cycle", r.cycle},
                      {"killed_early", r.early},
                      {"phase_at_kill", r.early ? r.phase : std::string{"running"}},
                      {"killed_after_ms", r.killed_after_ms},
                      {"acked_writes", r.acked_ops},
                      {"acked_memories", r.acked_memories},
                      {"in_flight", r.in_flight},
                      {"in_flight_landed", r.in_flight_applied},
                      {"stored", r.present},
                      {"reopen_s", r.open_s},
                      {"indexes_from_snapshot", r.recovered.from_snapshot},
                      {"ids_replayed", r.recovered.replayed},
                      {"indexes_rebuilt", r.recovered.rebuilt},
                      {"reopen_and_check_s", r.check_s},
                      {"problems", r.problems}});
    std::ofstream out{cfg.report};
    out << doc.dump(2) << '\n';
  }
  if (cfg.data_dir.empty() && !cfg.keep && passed)
    remove_tree(root);
  else if (!passed)
    std::cerr << "telos-stress: the store is kept for inspection at " << store_dir << '\n';
  return passed ? 0 : 1;
}

} // namespace telos::stress
