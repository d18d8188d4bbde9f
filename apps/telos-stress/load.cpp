// Normal mode of telos-stress: writers and readers hammer one store concurrently for a while; the
// store is then closed, reopened and compared with the model of every acknowledged write.
#include "report.hpp"
#include "stress.hpp"

#include "telos/actors/config.hpp"
#include "telos/messages/actor_interfaces.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace telos::stress {

namespace {

using clock = std::chrono::steady_clock;

/// What the workers share besides the store: the model (each writer owns disjoint elements), the
/// samples, and problems seen while running.
struct shared_state {
  const config& cfg;
  const generator& gen;
  store& db;
  clock::time_point start;
  std::atomic<bool> stop{false};
  std::vector<id_state> model;
  std::atomic<int64_t> present{0};
  std::vector<recorder> recorders;
  std::mutex mutex;
  std::vector<std::string> problems;
  /// Writes that failed: the engine promises they changed nothing, the check accepts either.
  std::vector<in_flight> failed_writes;
  coordinator_actor coordinator;
  /// The indexes once a second (under `mutex`), from the sampler thread.
  std::vector<index_sample> index_samples;
  /// Worker actors not yet terminated.
  size_t running = 0;
  std::condition_variable finished;

  shared_state(const config& c, const generator& g, store& s, size_t workers)
      : cfg(c), gen(g), db(s), model(g.memories()), recorders(workers),
        coordinator(caf::actor_cast<coordinator_actor>(s.coordinator())), running(workers) {}

  void worker_finished() {
    std::lock_guard<std::mutex> guard{mutex};
    if (--running == 0) finished.notify_all();
  }

  void await_workers() {
    std::unique_lock<std::mutex> guard{mutex};
    finished.wait(guard, [this] { return running == 0; });
  }

  void problem(std::string text) {
    std::lock_guard<std::mutex> guard{mutex};
    if (problems.size() < 200) problems.push_back(std::move(text));
  }

  void record(size_t worker, op_type type, clock::time_point begin, bool ok, size_t memories,
              bool overloaded = false) {
    auto end = clock::now();
    recorders[worker].add(
        {static_cast<uint32_t>(
             std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count()),
         static_cast<uint32_t>(
             std::chrono::duration_cast<std::chrono::microseconds>(end - begin).count()),
         type, ok, static_cast<uint16_t>(memories), overloaded});
  }
};

op_type type_of(op_kind kind) {
  switch (kind) {
  case op_kind::put:
    return op_type::put;
  case op_kind::batch:
    return op_type::batch;
  case op_kind::update:
    return op_type::update;
  case op_kind::remove:
    return op_type::remove;
  }
  return op_type::put;
}

/// Where a writer actor is in its script.
struct writer_position {
  uint32_t index;
  writer_script script;
  uint64_t seq = 0;
  /// The wait before sending a write again that the store pushed back (ec::overloaded): 1 ms,
  /// doubled on each push-back in a row up to 32 ms, back to 0 on any other answer.
  std::chrono::milliseconds backoff{0};
};

/// A writer's message to itself: send the write that was pushed back again.
using retry_atom = caf::atom_constant<caf::atom("retry")>;

void acknowledged(shared_state& s, const write_op& op) {
  int64_t delta = 0;
  for (auto n : op.ids)
    delta +=
        static_cast<int64_t>(op.kind != op_kind::remove) - static_cast<int64_t>(s.model[n].present);
  writer_script::apply(op, s.model);
  s.present.fetch_add(delta, std::memory_order_relaxed);
}

void write_next(caf::event_based_actor* self, shared_state* s, std::shared_ptr<writer_position> w);

/// Sends one write (operation number `seq` of the writer) to the coordinator; its answer sends
/// the next one, or this one again after a back-off if the store pushed it back.
void send_write(caf::event_based_actor* self, shared_state* s, std::shared_ptr<writer_position> w,
                write_op op, uint64_t seq) {
  std::vector<memory> batch;
  for (size_t i = 0; i < op.ids.size() && op.kind != op_kind::remove; ++i)
    batch.push_back(s->gen.make(op.ids[i], op.versions[i]));
  auto begin = clock::now();
  auto done = [=] {
    w->backoff = std::chrono::milliseconds{0};
    s->record(w->index, type_of(op.kind), begin, true, op.ids.size());
    acknowledged(*s, op);
    write_next(self, s, w);
  };
  auto failed = [=](caf::error& err) {
    if (code_of(err) == ec::overloaded) {
      // Push-back: the coordinator refused the write before dispatching it, so it changed
      // nothing; the writer waits and sends the same write again (a remove sent twice that had
      // landed would find nothing to delete, which the writer reports).
      s->record(w->index, type_of(op.kind), begin, false, op.ids.size(), true);
      w->backoff =
          std::clamp(w->backoff * 2, std::chrono::milliseconds{1}, std::chrono::milliseconds{32});
      self->become([=](retry_atom) {
        if (s->stop.load(std::memory_order_relaxed)) {
          self->quit();
          return;
        }
        send_write(self, s, w, op, seq);
      });
      self->delayed_send(self, w->backoff, retry_atom::value);
      return;
    }
    w->backoff = std::chrono::milliseconds{0};
    s->record(w->index, type_of(op.kind), begin, false, op.ids.size());
    {
      std::lock_guard<std::mutex> guard{s->mutex};
      // The engine promises a failed write changed nothing; the final check holds it to that
      // but also accepts the write having landed, as for a crash.
      s->failed_writes.push_back({op, w->index, seq});
      if (s->problems.size() < 200)
        s->problems.push_back("writer " + std::to_string(w->index) + ": " + to_string(op.kind) +
                              " failed: " + describe(err));
    }
    write_next(self, s, w);
  };
  switch (op.kind) {
  case op_kind::put:
  case op_kind::batch:
    self->request(s->coordinator, caf::infinite, atom::put_v, std::move(batch))
        .then([=](const std::vector<uuid>&) { done(); }, failed);
    break;
  case op_kind::update:
    self->request(s->coordinator, caf::infinite, atom::update_v, std::move(batch.front()))
        .then([=](atom::ok) { done(); }, failed);
    break;
  case op_kind::remove:
    self->request(s->coordinator, caf::infinite, atom::remove_v,
                  std::vector<uuid>{s->gen.id(op.ids.front())})
        .then(
            [=](const flag_list& existed) {
              if (existed.size() != 1 || !existed.front())
                s->problem("writer " + std::to_string(w->index) + ": delete of present memory " +
                           s->gen.id(op.ids.front()).to_string() + " found nothing to delete");
              done();
            },
            failed);
    break;
  }
}

/// Sends the writer's next operation.
void write_next(caf::event_based_actor* self, shared_state* s, std::shared_ptr<writer_position> w) {
  if (s->stop.load(std::memory_order_relaxed)) {
    self->quit();
    return;
  }
  auto op = w->script.next(s->model);
  send_write(self, s, w, std::move(op), ++w->seq);
}

/// A writer: one operation in flight at a time, each acknowledged before the next, so its part
/// of the model is exact. A write the store pushes back is sent again after a back-off.
caf::behavior writer_actor(caf::event_based_actor* self, shared_state* s, uint32_t w) {
  self->attach_functor([s] { s->worker_finished(); });
  write_next(
      self, s,
      std::make_shared<writer_position>(writer_position{
          w, writer_script{s->cfg.seed, w, s->cfg.writers, s->gen.memories(), s->cfg.max_batch}}));
  return {};
}

/// Checks a memory read while writers run: it must be exactly one version this run wrote, never
/// a mix of two.
void check_read(shared_state& s, const memory& m, const char* where) {
  uint64_t n = 0;
  uint32_t v = 0;
  if (!generator::decode(m, n, v) || n >= s.gen.memories() || s.gen.id(n) != m.id) {
    s.problem(std::string{where} + ": memory " + m.id.to_string() + " was not written by this run");
    return;
  }
  auto diff = difference(s.gen.make(n, v), m);
  if (!diff.empty())
    s.problem(std::string{where} + ": memory " + m.id.to_string() + " version " +
              std::to_string(v) + " is not what was written: " + diff);
}

void check_hits(shared_state& s, const search_result& r, uint32_t k, const char* where) {
  if (r.hits.size() > k) s.problem(std::string{where} + ": more than k hits");
  if (!std::is_sorted(r.hits.begin(), r.hits.end(), better))
    s.problem(std::string{where} + ": hits not sorted by score, then id");
  for (auto& h : r.hits)
    if (!std::isfinite(h.score)) s.problem(std::string{where} + ": non-finite score");
  for (auto& m : r.records)
    check_read(s, m, where);
}

/// Sends a reader's next get, search or fused search; its answer sends the one after.
void read_next(caf::event_based_actor* self, shared_state* s, size_t worker,
               std::shared_ptr<rng> dice) {
  if (s->stop.load(std::memory_order_relaxed)) {
    self->quit();
    return;
  }
  const auto& prof = s->gen.profile();
  auto begin = clock::now();
  auto roll = dice->below(100);
  auto failed = [=](op_type type, std::string what) {
    return [=](caf::error& err) {
      s->record(worker, type, begin, false, 0);
      s->problem(what + " failed: " + describe(err));
      read_next(self, s, worker, dice);
    };
  };
  if (roll < 40) {
    auto n = dice->below(s->gen.memories());
    self->request(s->coordinator, caf::infinite, atom::get_v, std::vector<uuid>{s->gen.id(n)})
        .then(
            [=](const std::vector<memory>& got) {
              s->record(worker, op_type::get, begin, true, 0);
              if (got.size() != 1)
                s->problem("reader get: " + std::to_string(got.size()) + " answers for one id");
              else if (!got.front().id.is_nil())
                check_read(*s, got.front(), "reader get");
              read_next(self, s, worker, dice);
            },
            failed(op_type::get, "reader get"));
  } else if (roll < 80) {
    search_request req;
    auto e = dice->below(prof.embedders.size());
    req.embedder = prof.embedders[e].name;
    req.query = s->gen.make_query(e, dice->next());
    req.k = 10;
    // A quarter of the searches fetch their records, which must each be whole.
    req.with_records = dice->below(4) == 0;
    if (dice->below(4) == 0) req.filter.ns = generator::namespace_of(dice->below(4));
    auto what = "reader search " + req.embedder;
    self->request(s->coordinator, caf::infinite, atom::search_v, std::move(req))
        .then(
            [=](const search_result& r) {
              s->record(worker, op_type::search, begin, true, 0);
              check_hits(*s, r, 10, what.c_str());
              read_next(self, s, worker, dice);
            },
            failed(op_type::search, what));
  } else {
    fused_search_request req;
    auto count = std::min<size_t>(prof.embedders.size(), 2 + dice->below(3));
    while (req.queries.size() < count) {
      auto e = dice->below(prof.embedders.size());
      req.queries[prof.embedders[e].name] = s->gen.make_query(e, dice->next());
      req.weights[prof.embedders[e].name] = 0.5f * static_cast<float>(1 + dice->below(4));
    }
    req.k = 10;
    req.with_records = dice->below(4) == 0;
    self->request(s->coordinator, caf::infinite, atom::search_v, std::move(req))
        .then(
            [=](const search_result& r) {
              s->record(worker, op_type::fused, begin, true, 0);
              check_hits(*s, r, 10, "reader fused search");
              read_next(self, s, worker, dice);
            },
            failed(op_type::fused, "reader fused search"));
  }
}

/// A reader: gets (40%), single searches (40%) and fused searches (20%), one at a time, each
/// answer checked for consistency while the writers run.
caf::behavior reader_actor(caf::event_based_actor* self, shared_state* s, uint32_t r,
                           size_t worker) {
  self->attach_functor([s] { s->worker_finished(); });
  read_next(self, s, worker, std::make_shared<rng>(mix(s->cfg.seed, 0x5EAD, r)));
  return {};
}

std::string ms_text(uint32_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", us / 1000.0);
  return buf;
}

/// Prints one progress line per second: on a terminal it overwrites itself, in a log it is one
/// line every 5 seconds.
void progress(shared_state& s, std::vector<sample>& all, std::vector<size_t>& positions,
              double elapsed, size_t from) {
  for (size_t i = 0; i < s.recorders.size(); ++i)
    positions[i] = s.recorders[i].copy_since(positions[i], all);
  auto now_ms = static_cast<uint32_t>(elapsed * 1000);
  std::vector<uint32_t> w;
  std::vector<uint32_t> r;
  uint64_t memories = 0;
  uint64_t overloaded = 0;
  for (size_t i = from; i < all.size(); ++i) {
    if (all[i].at_ms + 1000 < now_ms) continue;
    overloaded += all[i].overloaded ? 1 : 0;
    if (!all[i].ok) continue;
    if (is_write(all[i].type)) {
      w.push_back(all[i].latency_us);
      memories += all[i].memories;
    } else {
      r.push_back(all[i].latency_us);
    }
  }
  if (s.cfg.quiet) return;
  bool tty = ::isatty(STDERR_FILENO) == 1;
  if (!tty && static_cast<int>(elapsed) % 5 != 0) return;
  index_sample last;
  {
    std::lock_guard<std::mutex> guard{s.mutex};
    if (!s.index_samples.empty()) last = s.index_samples.back();
  }
  char line[400];
  std::snprintf(line, sizeof(line),
                "%4.0fs  writes %5zu/s (%5llu memories/s) p50 %s ms p99 %s ms, overloaded %llu/s | "
                "reads %5zu/s p50 %s ms p99 %s ms | present %lld | fresh %llu, RSS %.0f MiB "
                "(%.0fs ago)",
                elapsed, w.size(), static_cast<unsigned long long>(memories),
                ms_text(percentile(w, 50)).c_str(), ms_text(percentile(w, 99)).c_str(),
                static_cast<unsigned long long>(overloaded), r.size(),
                ms_text(percentile(r, 50)).c_str(), ms_text(percentile(r, 99)).c_str(),
                static_cast<long long>(s.present.load()),
                static_cast<unsigned long long>(last.fresh_max), last.rss_kib / 1024.0,
                elapsed - last.at_ms / 1000.0);
  std::cerr << (tty ? "\r" : "") << line << (tty ? "\033[K" : "\n") << std::flush;
}

/// A fixed set of searches, asked before close and after reopen: the answers must not change.
struct probe {
  std::string embedder;
  search_request req;
  fused_search_request fused;
  bool is_fused = false;
};

std::vector<probe> probes(const generator& gen) {
  std::vector<probe> result;
  const auto& prof = gen.profile();
  for (size_t e = 0; e < prof.embedders.size(); ++e) {
    probe p;
    p.req.embedder = prof.embedders[e].name;
    p.req.query = gen.make_query(e, 777000 + e);
    p.req.k = 10;
    p.req.with_records = false;
    result.push_back(std::move(p));
  }
  probe f;
  f.is_fused = true;
  for (size_t e = 0; e < prof.embedders.size(); ++e)
    f.fused.queries[prof.embedders[e].name] = gen.make_query(e, 888000 + e);
  f.fused.k = 10;
  f.fused.with_records = false;
  result.push_back(std::move(f));
  return result;
}

expected<std::vector<std::vector<hit>>> ask(store& db, const std::vector<probe>& ps) {
  std::vector<std::vector<hit>> answers;
  for (auto& p : ps) {
    auto got = p.is_fused ? db.search_fused(p.fused) : db.search(p.req);
    if (!got) return got.error();
    answers.push_back(got->hits);
  }
  return answers;
}

double seconds_since(clock::time_point t) {
  return std::chrono::duration<double>(clock::now() - t).count();
}

} // namespace

int run_load(const config& cfg) {
  auto prof = load_profile(cfg.profile);
  if (!prof) {
    std::cerr << "telos-stress: " << describe(prof.error()) << '\n';
    return 2;
  }
  generator gen{*prof, cfg.seed, cfg.memories};
  auto dir = cfg.data_dir.empty() ? make_temp_dir("telos-stress-") : cfg.data_dir;
  if (dir.empty()) return 3;
  run_report rep;
  rep.cfg = cfg;
  rep.data_dir = dir;
  rep.profile = *prof;
  // The workers are actors in this system, next to the store's own actors.
  caf::actor_system_config sys_cfg;
  register_telos(sys_cfg);
  // As store::open(opts) sets up its own system (store_options::batch_workers).
  use_batch_workers(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto opened = store::open(sys, store_options_of(cfg, dir, *prof, true));
  if (!opened) {
    std::cerr << "telos-stress: cannot create a store at " << dir << ": "
              << describe(opened.error()) << '\n';
    return 3;
  }
  if (!cfg.quiet)
    std::cerr << "telos-stress: " << cfg.backend << " store at " << dir << ", profile "
              << prof->name << " (" << prof->embedders.size() << " embedders), " << cfg.writers
              << " writers, " << cfg.readers << " readers, " << cfg.memories << " ids, "
              << cfg.duration << " s, seed " << cfg.seed << (cfg.sync ? ", sync" : "") << '\n';
  auto db = std::move(*opened);
  shared_state s{cfg, gen, *db, cfg.writers + cfg.readers};
  s.start = clock::now();
  for (uint32_t w = 0; w < cfg.writers; ++w)
    sys.spawn(writer_actor, &s, w);
  for (uint32_t r = 0; r < cfg.readers; ++r)
    sys.spawn(reader_actor, &s, r, size_t{cfg.writers + r});
  // Index stats once a second on a thread of their own: a stalled store delays these answers, not
  // the progress line.
  std::thread sampler{[&s] {
    while (!s.stop.load()) {
      auto next = clock::now() + std::chrono::seconds{1};
      if (auto st = s.db.stats()) {
        index_sample x;
        x.at_ms = static_cast<uint32_t>(seconds_since(s.start) * 1000);
        x.memories = st->memories;
        for (auto& ix : st->indexes) {
          x.fresh_total += ix.stats.fresh;
          x.fresh_max = std::max<uint64_t>(x.fresh_max, ix.stats.fresh);
          x.graphs += ix.stats.structure == "hnsw" ? 1 : 0;
        }
        x.rss_kib = read_resident_memory().now_kib;
        std::lock_guard<std::mutex> guard{s.mutex};
        s.index_samples.push_back(x);
      }
      while (!s.stop.load() && clock::now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  }};
  std::vector<sample> all;
  std::vector<size_t> positions(s.recorders.size());
  size_t window_start = 0;
  for (int tick = 1;; ++tick) {
    auto deadline = s.start + std::chrono::milliseconds{static_cast<int64_t>(
                                  std::min<double>(tick, cfg.duration) * 1000)};
    std::this_thread::sleep_until(deadline);
    auto elapsed = seconds_since(s.start);
    progress(s, all, positions, elapsed, window_start);
    // Only the last second's samples matter for the progress line; skip older ones next time.
    while (window_start < all.size() &&
           all[window_start].at_ms + 2000 < static_cast<uint32_t>(elapsed * 1000))
      ++window_start;
    if (elapsed >= cfg.duration) break;
  }
  s.stop = true;
  s.await_workers();
  sampler.join();
  rep.load_s = seconds_since(s.start);
  // The peak of the load, before the close and the check (which reads every id back) add theirs.
  rep.peak_rss_kib = read_resident_memory().peak_kib;
  for (size_t i = 0; i < s.recorders.size(); ++i)
    positions[i] = s.recorders[i].copy_since(positions[i], all);
  if (!cfg.quiet && ::isatty(STDERR_FILENO) == 1) std::cerr << '\n';
  rep.samples = std::move(all);
  rep.problems = s.problems;
  rep.index_samples = s.index_samples;

  // Before the close: the bytes written during the load count from this open.
  if (auto st = db->stats()) rep.loaded = *st;
  auto ps = probes(gen);
  auto before = ask(*db, ps);
  if (!before) rep.problems.push_back("searches before close failed: " + describe(before.error()));
  // A memory store has nothing to reopen: it is checked as it stands.
  bool persistent = cfg.backend != "memory";
  auto t = clock::now();
  if (persistent) {
    if (auto closed = db->close(); !closed)
      rep.problems.push_back("close failed: " + describe(closed.error()));
    db.reset();
    rep.close_s = seconds_since(t);
    t = clock::now();
    auto reopened = store::open(store_options_of(cfg, dir, *prof, false));
    rep.reopen_s = seconds_since(t);
    if (reopened)
      db = std::move(*reopened);
    else
      rep.problems.push_back("reopen failed: " + describe(reopened.error()));
  }
  if (db) {
    if (!cfg.quiet)
      std::cerr << "telos-stress: "
                << (persistent ? "reopened in " + std::to_string(rep.reopen_s) + " s; " : "")
                << "checking\n";
    t = clock::now();
    check_options copts;
    copts.queries = cfg.check_queries;
    copts.uncertain = s.failed_writes;
    rep.check = check_store(*db, gen, s.model, std::move(copts));
    rep.check_s = seconds_since(t);
    // An HNSW graph or MaxSim centroids rebuilt at open may differ from before, so only exact
    // indexes must answer bit for bit as before the reopen.
    bool exact = true;
    if (auto st = db->stats())
      for (auto& ix : st->indexes)
        exact = exact && !storage::approximate_structure(ix.stats.structure);
    if (before && exact) {
      auto after = ask(*db, ps);
      if (!after)
        rep.problems.push_back("searches after reopen failed: " + describe(after.error()));
      else
        for (size_t i = 0; i < ps.size(); ++i)
          if ((*after)[i] != (*before)[i])
            rep.problems.push_back("search " +
                                   (ps[i].is_fused ? std::string{"fused"} : ps[i].req.embedder) +
                                   " answers differently after reopen");
    }
    if (auto st = db->stats()) rep.stats = *st;
    if (auto closed = db->close(); !closed)
      rep.problems.push_back("final close failed: " + describe(closed.error()));
    db.reset();
  }
  for (uint64_t n = 0; n < gen.memories(); ++n)
    rep.present += s.model[n].present ? 1 : 0;
  auto passed = finish_report(rep);
  if (cfg.data_dir.empty() && !cfg.keep) remove_tree(dir);
  return passed ? 0 : 1;
}

} // namespace telos::stress
