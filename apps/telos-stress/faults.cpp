// --faults N and --power-loss N: the store under injected disk faults and simulated power cuts,
// through the fault seam of storage/fault_injection.hpp (RocksDB's file system wrapper and
// Telos's own file writes). --faults: load, a fault armed at random points (ENOSPC, EIO on write,
// EIO on fsync, short write, EIO on read), lifted; every cycle proves that failed writes were
// reported and are all-or-nothing, acknowledged ones are all there, reads kept working while
// writes failed, writes succeed again without a reopen, verify is clean. --power-loss: load, a cut
// that drops every byte not fsynced, reopen, check (with --sync nothing acknowledged may be lost;
// without it the store must come back at a prefix of each writer's acknowledged writes).
#include "stress.hpp"

#include "telos/storage/fault_injection.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <sys/stat.h>

namespace telos::stress {

namespace {

using fault_clock = std::chrono::steady_clock;

void fault_sleep_ms(uint64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds{ms});
}

/// Sends one write of a script to the store; the error, if it failed.
caf::error apply_fault_write(store& db, const generator& gen, const write_op& op) {
  std::vector<memory> batch;
  for (size_t i = 0; i < op.ids.size() && op.kind != op_kind::remove; ++i)
    batch.push_back(gen.make(op.ids[i], op.versions[i]));
  switch (op.kind) {
  case op_kind::put:
    if (auto r = db.put(std::move(batch.front())); !r) return r.error();
    break;
  case op_kind::batch:
    if (auto r = db.put_batch(std::move(batch)); !r) return r.error();
    break;
  case op_kind::update:
    if (auto r = db.update(std::move(batch.front())); !r) return r.error();
    break;
  case op_kind::remove:
    if (auto r = db.remove(gen.id(op.ids.front())); !r) return r.error();
    break;
  }
  return {};
}

/// What one writer thread did in one cycle.
struct fault_writer {
  std::vector<write_op> acked;
  /// The write that failed (the writer stops at its first failure): uncertain.
  std::optional<write_op> failed;
  std::string error;
};

/// Runs `writers` threads on `db` until `stop` or their first failure. Each writer owns its ids
/// (writer_script), applies acknowledged writes to `model` and records them.
std::vector<fault_writer> run_fault_writers(store& db, const generator& gen,
                                            std::vector<id_state>& model, const config& cfg,
                                            uint64_t cycle_seed, std::atomic<bool>& stop,
                                            const std::function<void()>& main_thread) {
  std::vector<fault_writer> out(cfg.writers);
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < cfg.writers; ++w)
    threads.emplace_back([&, w] {
      writer_script script{cycle_seed, w, cfg.writers, gen.memories(), cfg.max_batch};
      auto& me = out[w];
      while (!stop.load()) {
        auto op = script.next(model);
        if (auto err = apply_fault_write(db, gen, op)) {
          me.failed = op;
          me.error = describe(err);
          return;
        }
        writer_script::apply(op, model);
        me.acked.push_back(std::move(op));
      }
    });
  main_thread();
  stop = true;
  for (auto& t : threads)
    t.join();
  return out;
}

std::string prepare_root(const config& cfg, const char* prefix) {
  auto root = cfg.data_dir.empty() ? make_temp_dir(prefix) : cfg.data_dir;
  if (!root.empty()) ::mkdir(root.c_str(), 0755);
  return root;
}

expected<std::unique_ptr<store>> open_fault_store(const config& cfg, const std::string& dir,
                                                  const profile& p, bool create) {
  return store::open(store_options_of(cfg, dir, p, create));
}

/// Whether an error says that only a reopen brings the store back.
bool needs_reopen(const std::string& error) {
  return error.find("reopen the store") != std::string::npos;
}

/// Writes one operation until it succeeds (the same write again: puts and updates of one version
/// and removes are idempotent), at most `tries` times `pause_ms` apart, or until the store says
/// that only a reopen brings writes back. The attempts it took, or 0 if it never succeeded; `last`
/// gets the last error.
uint32_t write_until_accepted(store& db, const generator& gen, const write_op& op, uint32_t tries,
                              uint64_t pause_ms, std::string& last) {
  for (uint32_t attempt = 1; attempt <= tries; ++attempt) {
    auto err = apply_fault_write(db, gen, op);
    if (!err) return attempt;
    last = describe(err);
    if (needs_reopen(last)) return 0;
    fault_sleep_ms(pause_ms);
  }
  return 0;
}

/// Switches on the fault seam of the store's backend: RocksDB's file system wrapper needs
/// nothing more; LMDB's calls are faulted through libfiu (the program was started again with its
/// preload library, main.cpp). 0, or the exit code of the error it printed.
int enable_backend_faults(const config& cfg, const char* mode) {
  if (cfg.backend == "rocksdb") return 0;
  if (cfg.backend != "lmdb") {
    std::cerr << "telos-stress: " << mode << " needs a persistent backend (rocksdb or lmdb)\n";
    return 2;
  }
  if (auto enabled = storage::enable_posix_faults(); !enabled) {
    std::cerr << "telos-stress: " << describe(enabled.error()) << '\n';
    return 2;
  }
  return 0;
}

bool is_write_fault(storage::fault_kind kind) {
  return kind != storage::fault_kind::read_error;
}

} // namespace

int run_faults(const config& cfg) {
  using storage::fault_kind;
  if (auto err = enable_backend_faults(cfg, "--faults")) return err;
  auto prof = load_profile(cfg.profile);
  if (!prof) {
    std::cerr << "telos-stress: " << describe(prof.error()) << '\n';
    return 2;
  }
  generator gen{*prof, cfg.seed, cfg.memories};
  auto root = prepare_root(cfg, "telos-faults-");
  if (root.empty()) return 3;
  auto store_dir = root + "/store";
  const bool lmdb = cfg.backend == "lmdb";
  auto injector = std::make_shared<storage::fault_injector>(mix(cfg.seed, 0xFA17));
  storage::install_fault_injector(injector);
  auto opened = open_fault_store(cfg, store_dir, *prof, true);
  if (!opened) {
    std::cerr << "telos-stress: cannot create a store at " << store_dir << ": "
              << describe(opened.error()) << '\n';
    return 3;
  }
  auto db = std::move(*opened);
  if (!cfg.quiet)
    std::cerr << "telos-stress: fault test, " << cfg.faults << " cycles, " << cfg.backend
              << " store at " << store_dir << ", profile " << prof->name << ", " << cfg.writers
              << " writers, " << cfg.memories << " ids, seed " << cfg.seed
              << (cfg.sync ? ", sync" : ", no sync") << '\n';
  const fault_kind kinds[] = {fault_kind::no_space, fault_kind::write_error, fault_kind::sync_error,
                              fault_kind::short_write, fault_kind::read_error};
  std::vector<id_state> model(gen.memories());
  rng timing{mix(cfg.seed, 0xFA1)};
  bool passed = true;
  uint64_t total_acked = 0, total_failed = 0, total_injected = 0, reopens = 0;
  for (uint32_t c = 1; c <= cfg.faults && passed; ++c) {
    std::vector<std::string> problems;
    auto kind = kinds[(c - 1) % 5];
    double probability = timing.chance(0.5) ? 1.0 : 0.3;
    auto healthy_ms = 100 + timing.below(300);
    auto fault_ms = 200 + timing.below(500);
    auto injected_before = injector->injected();
    std::atomic<bool> stop{false};
    std::atomic<bool> armed{false};
    bool flushed = false;
    std::atomic<uint64_t> reads_ok{0}, reads_failed{0}, reads_during_fault{0},
        reads_needing_reopen{0};
    std::string read_error;
    std::mutex read_error_mutex;
    // One reader: point reads and searches all through the cycle, counted while the fault is on.
    std::thread reader{[&] {
      rng r{mix(cfg.seed, 0x4EAD, c)};
      uint64_t salt = 0;
      while (!stop.load()) {
        bool during = armed.load();
        caf::error err;
        if (r.chance(0.5)) {
          if (auto got = db->get(gen.id(r.below(gen.memories()))); !got) err = got.error();
        } else {
          search_request req;
          auto e = r.below(prof->embedders.size());
          req.embedder = prof->embedders[e].name;
          req.query = gen.make_query(e, mix(c, ++salt));
          req.k = 5;
          if (auto got = db->search(std::move(req)); !got) err = got.error();
        }
        if (during) ++reads_during_fault;
        if (err) {
          ++reads_failed;
          if (lmdb && needs_reopen(describe(err))) {
            // LMDB's fatal state after a failed meta page write: every call says so until the
            // store is reopened (docs/STORAGE.md); counted, and the reopen below follows.
            ++reads_needing_reopen;
          } else if (during && is_write_fault(kind)) {
            std::lock_guard<std::mutex> guard{read_error_mutex};
            if (read_error.empty()) read_error = describe(err);
          }
        } else {
          ++reads_ok;
        }
        fault_sleep_ms(2);
      }
    }};
    auto writers = run_fault_writers(*db, gen, model, cfg, mix(cfg.seed, 0xFA17C, c), stop, [&] {
      fault_sleep_ms(healthy_ms);
      injector->arm(kind, probability);
      armed = true;
      fault_sleep_ms(fault_ms / 2);
      // A flush writes and syncs table files and index snapshots: the fault meets those
      // write points too, not only the write-ahead log.
      flushed = static_cast<bool>(db->flush());
      fault_sleep_ms(fault_ms / 2);
    });
    reader.join();
    injector->lift();
    armed = false;
    auto injected = injector->injected() - injected_before;
    total_injected += injected;
    uint64_t acked = 0, failed = 0;
    check_options copts;
    copts.queries = std::min<uint32_t>(cfg.check_queries, 2);
    for (uint32_t w = 0; w < cfg.writers; ++w) {
      acked += writers[w].acked.size();
      if (writers[w].failed) {
        ++failed;
        copts.uncertain.push_back({*writers[w].failed, w, writers[w].acked.size() + 1});
      }
    }
    total_acked += acked;
    total_failed += failed;
    if (!read_error.empty())
      problems.push_back(std::string{"a read failed while only writes were faulty ("} +
                         to_string(kind) + "): " + read_error);
    bool reopened = false;
    if (lmdb) {
      // A failed write of LMDB's meta page leaves the environment refusing every call until the
      // store is reopened: if it says so, reopen before checking.
      auto probe_read = db->get(gen.id(0));
      if (!probe_read && needs_reopen(describe(probe_read.error()))) {
        if (!cfg.quiet)
          std::cerr << "cycle " << c << ": the store asks for a reopen ("
                    << describe(probe_read.error()) << ")\n";
        (void)db->close();
        db.reset();
        auto again = open_fault_store(cfg, store_dir, *prof, false);
        if (!again) {
          std::printf("cycle %u: reopen after the fault failed: %s\n", c,
                      describe(again.error()).c_str());
          passed = false;
          break;
        }
        db = std::move(*again);
        reopened = true;
        ++reopens;
      }
    }
    // The store as it is, without a reopen (unless LMDB asked for one): acknowledged writes there,
    // failed ones all or nothing.
    // A failed write whose bytes reached the write-ahead log before its sync failed is not in the
    // open store but comes back whole when a reopen replays the log (docs/STORAGE.md, "Faults"):
    // the model as it was before this check decides it again after a reopen.
    auto model_before_check = model;
    auto checked = check_store(*db, gen, model, copts);
    problems.insert(problems.end(), checked.problems.begin(), checked.problems.end());
    // Writes succeed again once the fault is lifted, without a reopen.
    writer_script probe{mix(cfg.seed, 0x9E5, c), 0, cfg.writers, gen.memories(), cfg.max_batch};
    auto op = probe.next(model);
    std::string last;
    auto attempts = write_until_accepted(*db, gen, op, 100, 100, last);
    if (attempts == 0) {
      // Without a reopen writes did not come back: the store must have said that it needs one.
      if (!needs_reopen(last))
        problems.push_back("writes did not resume within 10 s after the fault was lifted, and the "
                           "store did not say that it needs a reopen: " +
                           last);
      else if (!cfg.quiet)
        std::cerr << "cycle " << c << ": the store asks for a reopen (" << last << ")\n";
      (void)db->close();
      db.reset();
      auto again = open_fault_store(cfg, store_dir, *prof, false);
      if (!again) {
        problems.push_back("reopen after the fault failed: " + describe(again.error()));
      } else {
        db = std::move(*again);
        reopened = true;
        ++reopens;
        // The probe write that kept failing is as uncertain as the writers' failed ones; a new
        // probe write follows from what the reopened store holds.
        model = model_before_check;
        auto reopened_opts = copts;
        reopened_opts.uncertain.push_back({op, 0, 0});
        auto rechecked = check_store(*db, gen, model, reopened_opts);
        problems.insert(problems.end(), rechecked.problems.begin(), rechecked.problems.end());
        op = probe.next(model);
        attempts = write_until_accepted(*db, gen, op, 10, 100, last);
      }
    }
    if (attempts == 0)
      problems.push_back("writes did not succeed again after the fault was lifted: " + last);
    else
      writer_script::apply(op, model);
    // Every fifth cycle and the last: close, reopen, and check again, so what was acknowledged
    // under faults is proven durable, not only visible.
    if (db && (c % 5 == 0 || c == cfg.faults)) {
      if (auto closed = db->close(); !closed)
        problems.push_back("close failed: " + describe(closed.error()));
      db.reset();
      auto again = open_fault_store(cfg, store_dir, *prof, false);
      if (!again) {
        problems.push_back("reopen failed: " + describe(again.error()));
      } else {
        db = std::move(*again);
        check_options full;
        full.queries = std::min<uint32_t>(cfg.check_queries, 2);
        auto rechecked = check_store(*db, gen, model, full);
        problems.insert(problems.end(), rechecked.problems.begin(), rechecked.problems.end());
      }
    }
    if (!cfg.quiet)
      std::fprintf(
          stderr,
          "cycle %u/%u: %s p=%.1f for %llu ms: %llu faults injected; %llu writes "
          "acknowledged, %llu failed (reported, all-or-nothing); flush %s; reads during the "
          "fault %llu (%llu failed overall, %llu of them asking for a reopen); writes resumed "
          "after %u attempt(s)%s: %s\n",
          c, cfg.faults, to_string(kind), probability, static_cast<unsigned long long>(fault_ms),
          static_cast<unsigned long long>(injected), static_cast<unsigned long long>(acked),
          static_cast<unsigned long long>(failed), flushed ? "succeeded" : "failed",
          static_cast<unsigned long long>(reads_during_fault.load()),
          static_cast<unsigned long long>(reads_failed.load()),
          static_cast<unsigned long long>(reads_needing_reopen.load()), attempts,
          reopened ? " and a reopen" : "", problems.empty() ? "OK" : "FAILED");
    for (auto& p : problems)
      std::printf("cycle %u: %s\n", c, p.c_str());
    passed = passed && problems.empty() && db != nullptr;
  }
  if (db) {
    if (auto closed = db->close(); !closed) {
      std::printf("close failed: %s\n", describe(closed.error()).c_str());
      passed = false;
    }
    db.reset();
  }
  storage::install_fault_injector(nullptr);
  std::printf(
      "telos-stress --faults: %u cycles, %llu faults injected, %llu acknowledged writes "
      "checked, %llu failed writes all-or-nothing, %llu reopens, %s\n",
      cfg.faults, static_cast<unsigned long long>(total_injected),
      static_cast<unsigned long long>(total_acked), static_cast<unsigned long long>(total_failed),
      static_cast<unsigned long long>(reopens),
      passed ? "PASS: no abort, nothing acknowledged lost, writes resumed" : "FAIL (see above)");
  std::fflush(stdout);
  if (cfg.data_dir.empty() && !cfg.keep && passed)
    remove_tree(root);
  else if (!passed)
    std::cerr << "telos-stress: the store is kept for inspection at " << store_dir << '\n';
  return passed ? 0 : 1;
}

namespace {

/// The state of `ids` in `model` after applying the first `count` of `ops` to `start`.
std::vector<id_state> state_after(const std::vector<id_state>& start,
                                  const std::vector<write_op>& ops, size_t count,
                                  const std::vector<uint64_t>& ids) {
  auto scratch = start;
  for (size_t i = 0; i < count; ++i)
    writer_script::apply(ops[i], scratch);
  std::vector<id_state> out;
  out.reserve(ids.size());
  for (auto n : ids)
    out.push_back(scratch[n]);
  return out;
}

} // namespace

int run_power_loss(const config& cfg) {
  if (auto err = enable_backend_faults(cfg, "--power-loss")) return err;
  auto prof = load_profile(cfg.profile);
  if (!prof) {
    std::cerr << "telos-stress: " << describe(prof.error()) << '\n';
    return 2;
  }
  generator gen{*prof, cfg.seed, cfg.memories};
  auto root = prepare_root(cfg, "telos-power-");
  if (root.empty()) return 3;
  auto store_dir = root + "/store";
  auto injector = std::make_shared<storage::fault_injector>(mix(cfg.seed, 0x9057));
  storage::install_fault_injector(injector);
  {
    auto created = open_fault_store(cfg, store_dir, *prof, true);
    if (!created || !(*created)->close()) {
      std::cerr << "telos-stress: cannot create a store at " << store_dir << '\n';
      return 3;
    }
  }
  if (!cfg.quiet)
    std::cerr << "telos-stress: power-loss test, " << cfg.power_loss << " cycles, " << cfg.backend
              << " store at " << store_dir << ", profile " << prof->name << ", " << cfg.writers
              << " writers, " << cfg.memories << " ids, seed " << cfg.seed
              << (cfg.sync ? ", sync: nothing acknowledged may be lost"
                           : ", no sync: a suffix of the acknowledged writes may be lost")
              << (cfg.backend == "lmdb" ? "; LMDB: the cut fails every later file call, what LMDB "
                                          "wrote before it stays in the page cache "
                                          "(docs/STORAGE.md)"
                                        : "")
              << '\n';
  std::vector<id_state> model(gen.memories());
  rng timing{mix(cfg.seed, 0xC07)};
  bool passed = true;
  uint64_t total_acked = 0, total_lost = 0, total_dropped = 0;
  for (uint32_t c = 1; c <= cfg.power_loss && passed; ++c) {
    std::vector<std::string> problems;
    auto opened = open_fault_store(cfg, store_dir, *prof, false);
    if (!opened) {
      std::printf("cycle %u: reopen failed: %s\n", c, describe(opened.error()).c_str());
      passed = false;
      break;
    }
    auto db = std::move(*opened);
    auto before = model;
    auto cut_after_ms = 50 + timing.below(450);
    std::atomic<bool> stop{false};
    auto writers = run_fault_writers(*db, gen, model, cfg, mix(cfg.seed, 0xC0C1E, c), stop, [&] {
      fault_sleep_ms(cut_after_ms);
      injector->cut_power();
      // Let every writer run into the cut: their next write fails.
      fault_sleep_ms(50);
    });
    // The machine is off: whatever close() tries to write fails; nothing of it is checked.
    (void)db->close();
    db.reset();
    auto dropped = injector->drop_unsynced();
    if (!dropped) {
      std::printf("cycle %u: %s\n", c, describe(dropped.error()).c_str());
      passed = false;
      break;
    }
    total_dropped += dropped->bytes_dropped;
    auto reopened = open_fault_store(cfg, store_dir, *prof, false);
    if (!reopened) {
      std::printf("cycle %u: reopen after the power cut failed: %s\n", c,
                  describe(reopened.error()).c_str());
      passed = false;
      break;
    }
    db = std::move(*reopened);
    uint64_t acked = 0, lost = 0;
    check_options copts;
    copts.queries = std::min<uint32_t>(cfg.check_queries, 2);
    if (cfg.sync) {
      // Every acknowledged write was fsynced before its acknowledgement: all must be there; the
      // one write per writer that failed at the cut is all-or-nothing.
      for (uint32_t w = 0; w < cfg.writers; ++w) {
        acked += writers[w].acked.size();
        if (writers[w].failed)
          copts.uncertain.push_back({*writers[w].failed, w, writers[w].acked.size() + 1});
      }
    } else {
      // The store must be at some prefix of each writer's writes (the acknowledged ones, then the
      // one that failed): unsynced writes are lost from the end, never from the middle.
      model = before;
      for (uint32_t w = 0; w < cfg.writers; ++w) {
        auto ops = writers[w].acked;
        acked += ops.size();
        if (writers[w].failed) ops.push_back(*writers[w].failed);
        std::vector<uint64_t> ids;
        for (auto& op : ops)
          ids.insert(ids.end(), op.ids.begin(), op.ids.end());
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        std::vector<uuid> uuids;
        for (auto n : ids)
          uuids.push_back(gen.id(n));
        auto got = db->get_batch(uuids);
        if (!got) {
          problems.push_back("reading writer " + std::to_string(w) +
                             "'s ids failed: " + describe(got.error()));
          continue;
        }
        std::vector<id_state> found(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
          uint64_t n = 0;
          uint32_t v = 0;
          if ((*got)[i] && generator::decode(*(*got)[i], n, v)) found[i] = {v, true};
        }
        // Versions only grow, so a state names at most one prefix; find it from the longest.
        std::optional<size_t> prefix;
        for (size_t j = ops.size() + 1; j-- > 0;) {
          auto expect = state_after(before, ops, j, ids);
          bool same = true;
          for (size_t i = 0; i < ids.size() && same; ++i)
            same = expect[i].present == found[i].present &&
                   (!found[i].present || expect[i].version == found[i].version);
          if (same) {
            prefix = j;
            break;
          }
        }
        if (!prefix) {
          problems.push_back("writer " + std::to_string(w) +
                             ": the store is at no prefix of its writes (a write lost from the "
                             "middle, or half applied)");
          continue;
        }
        for (size_t i = 0; i < *prefix; ++i)
          writer_script::apply(ops[i], model);
        auto kept = std::min(*prefix, writers[w].acked.size());
        lost += writers[w].acked.size() - kept;
      }
    }
    total_acked += acked;
    total_lost += lost;
    // A failed write whose bytes reached the write-ahead log before its sync failed is not in the
    // open store but comes back whole when a reopen replays the log (docs/STORAGE.md, "Faults"):
    // the model as it was before this check decides it again after a reopen.
    auto model_before_check = model;
    auto checked = check_store(*db, gen, model, copts);
    problems.insert(problems.end(), checked.problems.begin(), checked.problems.end());
    if (cfg.sync && lost != 0) problems.push_back("acknowledged writes lost with --sync");
    if (auto closed = db->close(); !closed)
      problems.push_back("close failed: " + describe(closed.error()));
    db.reset();
    if (!cfg.quiet)
      std::fprintf(stderr,
                   "cycle %u/%u: cut after %llu ms; %llu bytes never fsynced dropped (%llu files "
                   "truncated, %llu removed); %llu writes acknowledged, %llu of them lost%s: %s\n",
                   c, cfg.power_loss, static_cast<unsigned long long>(cut_after_ms),
                   static_cast<unsigned long long>(dropped->bytes_dropped),
                   static_cast<unsigned long long>(dropped->files_truncated),
                   static_cast<unsigned long long>(dropped->files_removed),
                   static_cast<unsigned long long>(acked), static_cast<unsigned long long>(lost),
                   cfg.sync ? "" : " (the unsynced tail)", problems.empty() ? "OK" : "FAILED");
    for (auto& p : problems)
      std::printf("cycle %u: %s\n", c, p.c_str());
    passed = passed && problems.empty();
  }
  storage::install_fault_injector(nullptr);
  std::printf("telos-stress --power-loss: %u cycles%s, %llu acknowledged writes, %llu lost, %llu "
              "unsynced bytes dropped, %s\n",
              cfg.power_loss, cfg.sync ? " with --sync" : " without --sync",
              static_cast<unsigned long long>(total_acked),
              static_cast<unsigned long long>(total_lost),
              static_cast<unsigned long long>(total_dropped),
              passed ? (cfg.sync ? "PASS: nothing acknowledged was lost, the store is consistent"
                                 : "PASS: only an unsynced tail was lost, the store is consistent")
                     : "FAIL (see above)");
  std::fflush(stdout);
  if (cfg.data_dir.empty() && !cfg.keep && passed)
    remove_tree(root);
  else if (!passed)
    std::cerr << "telos-stress: the store is kept for inspection at " << store_dir << '\n';
  return passed ? 0 : 1;
}

} // namespace telos::stress
