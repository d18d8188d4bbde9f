// Two-phase commit at the coordinator: the decision log, its detached writer and the transaction
// front (see transactions.hpp).
#include "telos/actors/transactions.hpp"
#include "telos/actors/shard_plan.hpp"
#include "telos/actors/test_hooks.hpp"
#include "telos/shard/durable_file.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <type_traits>

#include <fcntl.h>
#include <unistd.h>

namespace telos {

// -- decision log ---------------------------------------------------------------------------------

namespace {

/// "commit <tx> <shard>,<shard>… <n> <id> … <id>": the decision and what it covers.
std::string commit_line(const pending_decision& d) {
  std::string line = "commit " + d.tx.to_string() + " ";
  bool first = true;
  for (auto s : d.shards) {
    line += (first ? "" : ",") + std::to_string(s);
    first = false;
  }
  line += " " + std::to_string(d.ids.size());
  for (const auto& id : d.ids)
    line += " " + id.to_string();
  return line + "\n";
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), ::isdigit);
}

/// A complete commit line, or nothing. "commit <tx>" alone (the format before compaction) names
/// no shards: every shard then counts as not having applied it.
std::optional<pending_decision> parse_commit(const std::vector<std::string>& words,
                                             uint32_t shard_count) {
  if (words.size() < 2) return std::nullopt;
  auto tx = uuid::parse(words[1]);
  if (!tx) return std::nullopt;
  pending_decision d;
  d.tx = *tx;
  if (words.size() == 2) {
    for (uint32_t s = 0; s < shard_count; ++s)
      d.shards.insert(s);
    return d;
  }
  std::istringstream list{words[2]};
  std::string item;
  while (std::getline(list, item, ',')) {
    if (!all_digits(item) || std::stoul(item) >= shard_count) return std::nullopt;
    d.shards.insert(static_cast<uint32_t>(std::stoul(item)));
  }
  if (d.shards.empty() || words.size() < 4 || !all_digits(words[3])) return std::nullopt;
  auto n = std::stoul(words[3]);
  if (words.size() != 4 + n) return std::nullopt;
  for (size_t i = 0; i < n; ++i) {
    auto id = uuid::parse(words[4 + i]);
    if (!id) return std::nullopt;
    d.ids.push_back(*id);
  }
  return d;
}

} // namespace

expected<std::shared_ptr<decision_log>>
decision_log::open(const std::string& data_dir, uint32_t shard_count, size_t compact_every) {
  std::shared_ptr<decision_log> log{new decision_log};
  log->data_dir_ = data_dir;
  log->path_ = data_dir.empty() ? std::string{} : data_dir + "/DECISIONS";
  log->shard_count_ = shard_count;
  log->compact_every_ = std::max<size_t>(compact_every, 1);
  std::string text;
  if (!log->path_.empty()) {
    std::ifstream in{log->path_, std::ios::binary};
    text.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
  }
  // Only lines ended by a newline count: a line cut short by a crash was never synced, so it
  // never was a decision (a decision is made when its fsync returned, which also made every
  // line before it durable). Lines that do not read are skipped for the same reason.
  size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos;
       start = end + 1, end = text.find('\n', start)) {
    std::istringstream in{text.substr(start, end - start)};
    std::vector<std::string> words;
    for (std::string w; in >> w;)
      words.push_back(w);
    if (words.empty()) continue;
    if (words[0] == "commit") {
      if (auto d = parse_commit(words, shard_count)) log->pending_[d->tx] = std::move(*d);
    } else if (words[0] == "applied" && words.size() == 3 && all_digits(words[2])) {
      auto tx = uuid::parse(words[1]);
      if (!tx) continue;
      auto it = log->pending_.find(*tx);
      if (it == log->pending_.end()) continue;
      it->second.shards.erase(static_cast<uint32_t>(std::stoul(words[2])));
      if (it->second.shards.empty()) log->pending_.erase(it);
    }
  }
  std::lock_guard guard{log->mutex_};
  if (auto ok = log->compact(); !ok) return std::move(ok.error());
  return log;
}

decision_log::~decision_log() {
  if (fd_ >= 0) ::close(fd_);
}

expected<void> decision_log::compact() {
  lines_ = pending_.size();
  if (path_.empty()) return {};
  std::string text;
  for (const auto& [tx, d] : pending_)
    text += commit_line(d);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // A crash before the rename leaves the old file (a superset); the directory is synced before
  // anything is appended to the new one, so a synced decision never sits in a file the directory
  // does not point to.
  if (auto ok = replace_file(path_, text); !ok) return ok;
  if (auto ok = sync_directory(data_dir_); !ok) return ok;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0)
    return make_error(ec::io_error, "cannot open '" + path_ + "': " + std::strerror(errno));
  lines_ = pending_.size();
  return {};
}

expected<void> decision_log::append(const std::string& line, bool sync) {
  if (path_.empty()) {
    ++lines_;
    return {};
  }
  if (fd_ < 0)
    return make_error(ec::io_error,
                      "the decision log '" + path_ +
                          "' is not open (a rewrite failed; restart the coordinator)");
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      (sync && ::fdatasync(fd_) != 0))
    return make_error(ec::io_error, "cannot write '" + path_ + "': " + std::strerror(errno));
  ++lines_;
  return {};
}

expected<void> decision_log::record_commit(const uuid& tx, const std::set<uint32_t>& shards,
                                           const std::vector<uuid>& ids) {
  pending_decision d{tx, shards, ids};
  auto line = commit_line(d);
  std::lock_guard guard{mutex_};
  if (auto ok = append(line, true); !ok)
    return make_error(ec::io_error, "cannot record the decision for transaction " + tx.to_string() +
                                        ": " + describe(ok.error()));
  pending_[tx] = std::move(d);
  return {};
}

expected<void> decision_log::record_applied(const uuid& tx, uint32_t shard) {
  std::lock_guard guard{mutex_};
  auto it = pending_.find(tx);
  if (it == pending_.end() || it->second.shards.count(shard) == 0) return {};
  if (auto ok = append("applied " + tx.to_string() + " " + std::to_string(shard) + "\n", false);
      !ok)
    return ok;
  it->second.shards.erase(shard);
  if (it->second.shards.empty()) pending_.erase(it);
  if (lines_ - pending_.size() >= compact_every_) return compact();
  return {};
}

bool decision_log::committed(const uuid& tx) const {
  std::lock_guard guard{mutex_};
  return pending_.count(tx) != 0;
}

std::vector<pending_decision> decision_log::pending() const {
  std::lock_guard guard{mutex_};
  std::vector<pending_decision> result;
  for (const auto& [tx, d] : pending_)
    result.push_back(d);
  return result;
}

void decision_log::begin(const uuid& tx) {
  std::lock_guard guard{mutex_};
  undecided_.insert(tx);
}

void decision_log::end(const uuid& tx) {
  std::lock_guard guard{mutex_};
  undecided_.erase(tx);
}

bool decision_log::undecided(const uuid& tx) const {
  std::lock_guard guard{mutex_};
  return undecided_.count(tx) != 0;
}

size_t decision_log::lines() const {
  std::lock_guard guard{mutex_};
  return lines_;
}

// -- the decision log's writer
// ---------------------------------------------------------------------

namespace {

decision_log_actor::behavior_type decision_writer(decision_log_actor::pointer self,
                                                  std::shared_ptr<decision_log> log) {
  return {
      [log](atom::commit_tx, const uuid& tx, const std::vector<uint32_t>& shards,
            const std::vector<uuid>& ids) -> caf::result<atom::ok> {
        // Test hooks: TELOS_TEST_CRASH=before-decision / after-decision kill the process like
        // kill -9 with every part staged, before or after the decision is durable.
        detail::crash_point("before-decision");
        if (auto logged = log->record_commit(tx, {shards.begin(), shards.end()}, ids); !logged)
          return std::move(logged.error());
        detail::crash_point("after-decision");
        return atom::ok_v;
      },
      // A failure only keeps the decision in the log longer (its line is rewritten later).
      [log](atom::applied_tx, const uuid& tx, uint32_t shard) {
        (void)log->record_applied(tx, shard);
        return atom::ok_v;
      },
      [self](atom::close) {
        self->quit();
        return atom::ok_v;
      },
  };
}

} // namespace

decision_log_actor spawn_decision_writer(caf::actor_system& sys,
                                         std::shared_ptr<decision_log> log) {
  return sys.spawn<caf::detached>(decision_writer, std::move(log));
}

// -- transaction front ----------------------------------------------------------------------------

namespace {

/// What a read may observe: the ids it names (get, exists), or everything (searches, lists,
/// counts, graph reads, stats, verify, checkpoint).
struct footprint {
  bool all = false;
  std::set<uuid> ids;

  bool overlaps(const std::set<uuid>& other) const {
    if (all) return !other.empty();
    for (const auto& id : ids)
      if (other.count(id) != 0) return true;
    return false;
  }
};

/// A cross-shard batch past its commit point: waiting for the reads in flight that overlap it, or
/// running its commit phase.
struct commit_phase {
  uuid tx;
  std::set<uuid> ids;
  bool running = false;
  std::function<void()> start;
};

struct held_read {
  footprint reads;
  std::function<void()> start;
};

/// A committed cross-shard batch that some shard did not apply yet (its node died or hung after
/// the decision): its ids stay locked, reads touching them fail naming the shards, and the front
/// retries the commit on those shards until they answer.
struct unapplied_tx {
  std::set<size_t> shards;
  /// The last error of a shard that did not apply its part.
  std::string why;
  std::chrono::milliseconds backoff{0};
  bool retrying = false;
};

struct front_state {
  static inline const char* name = "transaction_front";
  coordinator_actor coordinator;
  std::vector<transaction_shard_actor> shards;
  telos::profile profile;
  telos::limits limits;
  std::shared_ptr<decision_log> decisions;
  /// Put batches over several shards go through two-phase commit too (a cluster); otherwise (a
  /// store in one process) they go to the coordinator, each shard's part atomic on its own.
  bool two_phase_puts = true;
  /// Writes the decision log (detached): the front never waits for a disk itself.
  decision_log_actor writer;
  /// Ids of every cross-shard batch from its prepare until its commit phase ended: writes to them
  /// fail with ec::conflict meanwhile.
  std::map<uuid, std::set<uuid>> locked;
  /// Reads handed to the coordinator and not answered yet.
  std::map<uint64_t, footprint> reads;
  uint64_t next_read = 0;
  /// Reads that overlap a commit phase, started in arrival order once it ended.
  std::deque<held_read> held;
  /// Commit phases waiting or running, in decision order.
  std::vector<commit_phase> commits;
  /// Committed batches not applied on every shard yet (their ids are in `locked` too).
  std::map<uuid, unapplied_tx> unapplied;
  /// Writes handed to the coordinator (or in two-phase commit) and not answered yet.
  size_t writes = 0;
  /// The memory ids of each write handed to the coordinator and not answered yet (memories put,
  /// updated or removed, edge endpoints).
  std::map<uint64_t, std::set<uuid>> writing;
  uint64_t next_write = 0;
  /// Cross-shard writes whose ids are locked, waiting for the writes in `writing` that name them
  /// before they read what they plan with (in arrival order).
  std::deque<std::pair<std::set<uuid>, std::function<void()>>> unwritten_waits;
  /// A restore runs: new requests wait in `paused` and start in arrival order once it ended.
  bool restoring = false;
  std::deque<std::function<void()>> paused;
  /// The restore's next step, run once no read, write or commit phase is in flight.
  std::function<void()> on_drained;
};

using front_ptr = transaction_front_actor::stateful_pointer<front_state>;

std::string shard_names(const std::set<size_t>& shards) {
  std::string names;
  for (auto s : shards)
    names += (names.empty() ? "" : ", ") + std::to_string(s);
  return names;
}

std::string not_applied(const uuid& tx, const unapplied_tx& u) {
  return "cross-shard transaction " + tx.to_string() +
         " is committed but not applied yet on shard(s) " + shard_names(u.shards) + " (" + u.why +
         ")";
}

/// A write naming an id of a cross-shard batch in flight: ec::conflict naming both.
caf::error locked_conflict(const front_state& st, const std::vector<uuid>& ids) {
  for (const auto& [tx, locked] : st.locked)
    for (const auto& id : ids)
      if (locked.count(id) != 0) {
        if (auto u = st.unapplied.find(tx); u != st.unapplied.end())
          return make_error(ec::conflict, "memory " + id.to_string() + " is part of " +
                                              not_applied(tx, u->second) +
                                              "; retry the write once the shard is back");
        return make_error(ec::conflict,
                          "memory " + id.to_string() + " is part of cross-shard transaction " +
                              tx.to_string() + ", which is being committed; retry the write");
      }
  return {};
}

/// A read that would see a committed batch on some shards only: ec::unavailable naming the
/// transaction and the shards that did not apply it.
caf::error unapplied_overlap(const front_state& st, const footprint& fp) {
  for (const auto& [tx, u] : st.unapplied) {
    const auto& ids = st.locked.at(tx);
    if (!fp.overlaps(ids)) continue;
    if (fp.all)
      return make_error(ec::unavailable,
                        "the " + not_applied(tx, u) +
                            ": a read over all memories would see part of it; retry once the "
                            "shard is back");
    for (const auto& id : fp.ids)
      if (ids.count(id) != 0)
        return make_error(ec::unavailable, "memory " + id.to_string() + " is part of " +
                                               not_applied(tx, u) +
                                               "; retry once the shard is back");
  }
  return {};
}

/// Starts the commit phases that no read in flight overlaps (a waiting phase holds back the new
/// reads that overlap it, so the reads it waits for only finish).
void start_commits(front_ptr self) {
  auto& st = self->state;
  for (auto& c : st.commits) {
    if (c.running) continue;
    bool blocked = false;
    for (const auto& [id, fp] : st.reads)
      if (fp.overlaps(c.ids)) {
        blocked = true;
        break;
      }
    if (blocked) continue;
    c.running = true;
    auto start = std::move(c.start);
    start();
  }
}

bool held_back(const front_state& st, const footprint& fp) {
  for (const auto& c : st.commits)
    if (fp.overlaps(c.ids)) return true;
  return false;
}

/// Ends tx's commit phase: its ids are free again (unless a shard did not apply its part) and the
/// reads it held start.
void end_commit(front_ptr self, const uuid& tx) {
  auto& st = self->state;
  if (st.unapplied.count(tx) == 0) st.locked.erase(tx);
  st.commits.erase(std::remove_if(st.commits.begin(), st.commits.end(),
                                  [&](const commit_phase& c) { return c.tx == tx; }),
                   st.commits.end());
  std::deque<held_read> still;
  auto held = std::move(st.held);
  st.held.clear();
  for (auto& h : held) {
    if (held_back(st, h.reads))
      still.push_back(std::move(h));
    else
      h.start();
  }
  for (auto& h : st.held)
    still.push_back(std::move(h));
  st.held = std::move(still);
}

/// Runs the restore's next step once nothing is in flight any more.
void check_drained(front_ptr self) {
  auto& st = self->state;
  if (!st.restoring || !st.on_drained || st.writes > 0 || !st.reads.empty() || !st.commits.empty())
    return;
  auto next = std::move(st.on_drained);
  st.on_drained = nullptr;
  next();
}

/// Runs `job` now, or after the restore in progress.
void unless_restoring(front_ptr self, std::function<void()> job) {
  if (self->state.restoring)
    self->state.paused.push_back(std::move(job));
  else
    job();
}

bool overlap(const std::set<uuid>& a, const std::set<uuid>& b) {
  for (const auto& id : a)
    if (b.count(id) != 0) return true;
  return false;
}

/// Starts the cross-shard writes that waited for writes naming their ids and no longer have to.
void start_unwritten(front_ptr self) {
  auto& st = self->state;
  auto waits = std::move(st.unwritten_waits);
  st.unwritten_waits.clear();
  std::deque<std::pair<std::set<uuid>, std::function<void()>>> still;
  for (auto& w : waits) {
    bool busy = std::any_of(st.writing.begin(), st.writing.end(),
                            [&](const auto& x) { return overlap(x.second, w.first); });
    if (busy)
      still.push_back(std::move(w));
    else
      w.second();
  }
  for (auto& w : st.unwritten_waits)
    still.push_back(std::move(w));
  st.unwritten_waits = std::move(still);
}

/// Runs `job` once no write handed to the coordinator names one of `ids` (the caller locked them,
/// so no new one does).
void when_unwritten(front_ptr self, std::set<uuid> ids, std::function<void()> job) {
  auto& st = self->state;
  bool busy = std::any_of(st.writing.begin(), st.writing.end(),
                          [&](const auto& x) { return overlap(x.second, ids); });
  if (busy)
    st.unwritten_waits.emplace_back(std::move(ids), std::move(job));
  else
    job();
}

/// A write (or anything else that changes the shards) handed to the coordinator, counted with the
/// memory ids it writes (`ids`) until it is answered; its answer goes to `rp`.
template <class R, class... Ts>
void forward_write(front_ptr self, caf::typed_response_promise<R> rp, std::set<uuid> ids,
                   Ts... xs) {
  auto& st = self->state;
  ++st.writes;
  auto id = st.next_write++;
  st.writing.emplace(id, std::move(ids));
  auto finished = [self, id] {
    --self->state.writes;
    self->state.writing.erase(id);
    start_unwritten(self);
    check_drained(self);
  };
  self->request(st.coordinator, caf::infinite, xs...)
      .then(
          [rp, finished](R& r) mutable {
            rp.deliver(std::move(r));
            finished();
          },
          [rp, finished](caf::error& err) mutable {
            rp.deliver(std::move(err));
            finished();
          });
}

/// forward_write of a write that names no memory, after the restore in progress if one runs.
template <class R, class... Ts>
caf::typed_response_promise<R> write(front_ptr self, Ts... xs) {
  auto rp = self->make_response_promise<R>();
  unless_restoring(self, [self, rp, xs...]() mutable { forward_write<R>(self, rp, {}, xs...); });
  return rp;
}

/// Hands a read to the coordinator once no commit phase it overlaps is waiting or running (and no
/// restore runs), and keeps it counted until it is answered, so no commit phase starts under it.
template <class R, class... Ts>
caf::typed_response_promise<R> read(front_ptr self, footprint fp, Ts... xs) {
  auto rp = self->make_response_promise<R>();
  auto start = [self, rp, fp, xs...]() mutable {
    auto& st = self->state;
    if (auto err = unapplied_overlap(st, fp)) {
      rp.deliver(std::move(err));
      return;
    }
    auto id = st.next_read++;
    st.reads.emplace(id, fp);
    auto finished = [self, id] {
      self->state.reads.erase(id);
      start_commits(self);
      check_drained(self);
    };
    self->request(st.coordinator, caf::infinite, xs...)
        .then(
            [rp, finished](R& r) mutable {
              rp.deliver(std::move(r));
              finished();
            },
            [rp, finished](caf::error& err) mutable {
              rp.deliver(std::move(err));
              finished();
            });
  };
  unless_restoring(self, [self, fp, start]() mutable {
    if (held_back(self->state, fp))
      self->state.held.push_back({std::move(fp), std::move(start)});
    else
      start();
  });
  return rp;
}

footprint everything() {
  footprint fp;
  fp.all = true;
  return fp;
}

footprint of_ids(const std::vector<uuid>& ids) {
  footprint fp;
  fp.ids.insert(ids.begin(), ids.end());
  return fp;
}

using tx_done = std::function<void(caf::expected<std::map<size_t, shard_write_result>>)>;

/// A shard applied its part of tx: the decision log learns it, and once every shard has, the
/// batch's ids are free.
void applied(front_ptr self, const uuid& tx, size_t shard) {
  auto& st = self->state;
  // A failure here only keeps the decision in the log longer (its line is rewritten later).
  self->request(st.writer, caf::infinite, atom::applied_tx_v, tx, static_cast<uint32_t>(shard))
      .then([](atom::ok) {}, [](caf::error&) {});
  auto it = st.unapplied.find(tx);
  if (it == st.unapplied.end()) return;
  it->second.shards.erase(shard);
  if (!it->second.shards.empty()) return;
  st.unapplied.erase(it);
  // A commit phase of tx still running unlocks at its end.
  if (std::none_of(st.commits.begin(), st.commits.end(),
                   [&](const commit_phase& c) { return c.tx == tx; }))
    st.locked.erase(tx);
}

void schedule_retry(front_ptr self, const uuid& tx) {
  auto it = self->state.unapplied.find(tx);
  if (it == self->state.unapplied.end() || it->second.retrying) return;
  auto& u = it->second;
  u.retrying = true;
  u.backoff =
      std::clamp(u.backoff * 2, std::chrono::milliseconds{50}, std::chrono::milliseconds{1000});
  self->delayed_send(self, u.backoff, atom::retry_commit_v, tx);
}

/// Asks every shard that did not apply its part of tx to commit it again (a remote shard fails at
/// once while its node is down; a participant that applied it already answers at once).
void retry_unapplied(front_ptr self, const uuid& tx) {
  auto it = self->state.unapplied.find(tx);
  if (it == self->state.unapplied.end()) return;
  it->second.retrying = true;
  auto left = std::make_shared<size_t>(it->second.shards.size());
  auto settle = [self, tx, left] {
    if (--*left > 0) return;
    if (auto u = self->state.unapplied.find(tx); u != self->state.unapplied.end()) {
      u->second.retrying = false;
      schedule_retry(self, tx);
    }
  };
  for (auto s : it->second.shards)
    self->request(self->state.shards[s], caf::infinite, atom::commit_tx_v, tx)
        .then(
            [self, tx, s, settle](shard_write_result&) {
              applied(self, tx, s);
              settle();
            },
            [self, tx, settle](caf::error& err) {
              if (auto u = self->state.unapplied.find(tx); u != self->state.unapplied.end())
                u->second.why = describe(err);
              settle();
            });
}

/// Phase 2: every participant applies its staged part. A shard that cannot is retried until it
/// applies it; the batch's ids stay locked meanwhile.
void commit_all(front_ptr self, uuid tx, std::shared_ptr<shard_plan> plan, tx_done done) {
  struct outcome {
    std::map<size_t, shard_write_result> results;
    std::set<size_t> failed;
    caf::error first;
    size_t pending = 0;
  };
  auto out = std::make_shared<outcome>();
  out->pending = plan->parts.size();
  for (auto& [shard, part] : plan->parts) {
    auto s = shard;
    auto finish = [self, out, tx, done] {
      if (--out->pending > 0) return;
      if (out->failed.empty()) {
        done(std::move(out->results));
        return;
      }
      auto& u = self->state.unapplied[tx];
      u.shards = out->failed;
      u.why = describe(out->first);
      schedule_retry(self, tx);
      done(make_error(code_of(out->first),
                      "the batch is committed (transaction " + tx.to_string() +
                          " decided), but shard(s) " + shard_names(out->failed) +
                          " did not apply their part yet: " + describe(out->first) +
                          "; its memories stay locked until they applied it (the coordinator "
                          "retries)"));
    };
    self->request(self->state.shards[s], caf::infinite, atom::commit_tx_v, tx)
        .then(
            [self, out, tx, s, finish](shard_write_result& r) {
              out->results[s] = std::move(r);
              // The answer waits for the log to learn it (a failure only keeps the decision in
              // the log longer).
              self->request(self->state.writer, caf::infinite, atom::applied_tx_v, tx,
                            static_cast<uint32_t>(s))
                  .then([finish](atom::ok) { finish(); }, [finish](caf::error&) { finish(); });
            },
            [out, s, finish](caf::error& err) {
              out->failed.insert(s);
              if (!out->first) out->first = std::move(err);
              finish();
            });
  }
}

/// A new transaction over `ids`: they are locked (writes naming them fail with ec::conflict) and
/// it counts as a write (a restore waits for it) until two_phase answers or abandon_tx.
uuid begin_tx(front_ptr self, std::set<uuid> ids) {
  auto tx = uuid::random();
  ++self->state.writes;
  self->state.locked.emplace(tx, std::move(ids));
  return tx;
}

/// A transaction of begin_tx that ends before its prepare (its planning read failed).
void abandon_tx(front_ptr self, const uuid& tx) {
  self->state.locked.erase(tx);
  --self->state.writes;
  check_drained(self);
}

/// Both phases over the plan's parts of tx (begin_tx, whose ids must hold the plan's); `done`
/// gets the per-shard results or the error. The ids stay locked to the end of the commit phase;
/// the commit phase starts once no read in flight overlaps it, and overlapping reads arriving
/// meanwhile wait for its end.
void two_phase(front_ptr self, uuid tx, std::shared_ptr<shard_plan> plan, tx_done done) {
  done = [self, done = std::move(done)](auto r) {
    done(std::move(r));
    --self->state.writes;
    check_drained(self);
  };
  self->state.locked[tx].merge(plan->ids());
  self->state.decisions->begin(tx);
  struct votes {
    std::vector<size_t> prepared;
    caf::error first;
    size_t pending = 0;
  };
  auto v = std::make_shared<votes>();
  v->pending = plan->parts.size();
  // Once every vote is in and the decision (when all voted yes) is logged.
  auto conclude = [self, tx, plan, v, done](caf::error failed) {
    self->state.decisions->end(tx);
    if (failed) {
      // No decision was logged: the transaction is aborted everywhere. A participant that cannot
      // be told now drops its staged part when the coordinator reaches it again.
      for (auto s : v->prepared)
        self->request(self->state.shards[s], caf::infinite, atom::abort_tx_v, tx)
            .then([](atom::ok) {}, [](caf::error&) {});
      self->state.locked.erase(tx);
      done(make_error(code_of(failed), describe(failed) +
                                           "; nothing of the batch was committed (transaction " +
                                           tx.to_string() + " aborted)"));
      return;
    }
    commit_phase phase;
    phase.tx = tx;
    phase.ids = self->state.locked[tx];
    phase.start = [self, tx, plan, done] {
      commit_all(self, tx, plan, [self, tx, done](auto r) {
        end_commit(self, tx);
        done(std::move(r));
      });
    };
    self->state.commits.push_back(std::move(phase));
    start_commits(self);
  };
  auto decide = [self, tx, plan, v, conclude] {
    if (--v->pending > 0) return;
    if (v->first) {
      conclude(std::move(v->first));
      return;
    }
    // The commit point: the detached writer appends and syncs the decision off this thread.
    std::vector<uint32_t> shards;
    for (const auto& [s, part] : plan->parts)
      shards.push_back(static_cast<uint32_t>(s));
    const auto& ids = self->state.locked[tx];
    self->request(self->state.writer, caf::infinite, atom::commit_tx_v, tx, std::move(shards),
                  std::vector<uuid>(ids.begin(), ids.end()))
        .then([conclude](atom::ok) { conclude({}); },
              [conclude](caf::error& err) { conclude(std::move(err)); });
  };
  for (auto& [shard, part] : plan->parts) {
    auto s = shard;
    self->request(self->state.shards[s], caf::infinite, atom::prepare_tx_v, tx, part)
        .then(
            [v, s, decide](atom::ok) {
              v->prepared.push_back(s);
              decide();
            },
            [v, decide](caf::error& err) {
              if (!v->first) v->first = std::move(err);
              decide();
            });
  }
}

// -- live restore ---------------------------------------------------------------------------------

/// A decided cross-shard batch that some shard has not applied: a restore would drop its staged
/// part on that shard, so it is refused until the shard applied it.
caf::error refuse_unapplied(const front_state& st) {
  if (st.unapplied.empty()) return {};
  const auto& [tx, u] = *st.unapplied.begin();
  return make_error(ec::unavailable, "restore refused, nothing was changed: the " +
                                         not_applied(tx, u) + "; retry once it is applied");
}

/// Ends the restore: answers the client and starts the requests that waited, in arrival order.
void end_restore(front_ptr self, caf::typed_response_promise<uint64_t> rp,
                 caf::expected<uint64_t> result) {
  auto& st = self->state;
  st.restoring = false;
  st.on_drained = nullptr;
  if (result)
    rp.deliver(*result);
  else
    rp.deliver(std::move(result.error()));
  auto paused = std::move(st.paused);
  st.paused.clear();
  for (auto& job : paused)
    job();
}

/// Asks every shard the same question in parallel; `done` gets, per shard, its error (none = it
/// answered ok).
template <class Atom>
void ask_every_shard(front_ptr self, Atom what, const std::string& dir,
                     std::chrono::milliseconds timeout,
                     std::function<void(std::vector<caf::error>)> done) {
  auto n = self->state.shards.size();
  auto errors = std::make_shared<std::vector<caf::error>>(n);
  auto left = std::make_shared<size_t>(n);
  for (size_t i = 0; i < n; ++i)
    self->request(self->state.shards[i], timeout, what, dir)
        .then(
            [left, errors, done](atom::ok) {
              if (--*left == 0) done(std::move(*errors));
            },
            [i, left, errors, done](caf::error& err) {
              (*errors)[i] = std::move(err);
              if (--*left == 0) done(std::move(*errors));
            });
}

std::string error_text(caf::actor_system& sys, size_t shard, const caf::error& err) {
  auto text = err.category() == caf::atom("telos") ? describe(err) : sys.render(err);
  // A remote shard's errors name their shard already.
  auto name = "shard " + std::to_string(shard);
  return text.compare(0, name.size(), name) == 0 ? text : name + ": " + text;
}

void replace_phase(front_ptr self, std::string dir, caf::typed_response_promise<uint64_t> rp);

/// Phase 1: every node checks its part of DIR; any failure ends the restore with nothing changed.
void check_phase(front_ptr self, std::string dir, caf::typed_response_promise<uint64_t> rp) {
  // A commit phase that failed while the restore waited left a batch unapplied.
  if (auto err = refuse_unapplied(self->state)) {
    end_restore(self, rp, std::move(err));
    return;
  }
  ask_every_shard(
      self, atom::restore_check_v, dir, std::chrono::seconds(60),
      [self, dir, rp](std::vector<caf::error> errors) mutable {
        std::string problems;
        ec code = ec::invalid_argument;
        for (size_t i = 0; i < errors.size(); ++i)
          if (errors[i]) {
            if (problems.empty()) code = code_of(errors[i]);
            problems += (problems.empty() ? "" : "; ") + error_text(self->system(), i, errors[i]);
          }
        if (!problems.empty()) {
          end_restore(self, rp,
                      make_error(code, "restore from '" + dir +
                                           "' refused, no shard was changed: " + problems));
          return;
        }
        replace_phase(self, std::move(dir), rp);
      });
}

/// Phase 2: every node replaces its shards; the answer is the count of the restored store.
void replace_phase(front_ptr self, std::string dir, caf::typed_response_promise<uint64_t> rp) {
  ask_every_shard(
      self, atom::restore_live_v, dir, std::chrono::hours(1),
      [self, dir, rp](std::vector<caf::error> errors) mutable {
        std::string restored, failed, problems;
        ec code = ec::io_error;
        for (size_t i = 0; i < errors.size(); ++i) {
          if (!errors[i]) {
            restored += (restored.empty() ? "" : ", ") + std::to_string(i);
            continue;
          }
          if (failed.empty()) code = code_of(errors[i]);
          failed += (failed.empty() ? "" : ", ") + std::to_string(i);
          problems += (problems.empty() ? "" : "; ") + error_text(self->system(), i, errors[i]);
        }
        if (!failed.empty()) {
          end_restore(self, rp,
                      make_error(code, "restore from '" + dir + "' is incomplete: shard(s) " +
                                           (restored.empty() ? "none" : restored) +
                                           " restored, shard(s) " + failed + " not (" + problems +
                                           "); run the restore again to finish it"));
          return;
        }
        self->request(self->state.coordinator, std::chrono::seconds(60), atom::count_v,
                      std::string{})
            .then([self, rp](uint64_t n) mutable { end_restore(self, rp, n); },
                  [self, rp, dir](caf::error& err) mutable {
                    end_restore(
                        self, rp,
                        make_error(code_of(err), "every shard was restored from '" + dir +
                                                     "', but counting failed: " + describe(err)));
                  });
      });
}

/// A client put: one shard's batch goes to the coordinator, a batch over several shards through
/// two-phase commit.
void put_batch(front_ptr self, std::vector<memory> batch,
               caf::typed_response_promise<std::vector<uuid>> rp, const shard_of_fn& shard_of) {
  auto& st = self->state;
  auto named = name_and_validate(batch, st.profile, st.limits);
  if (!named) {
    rp.deliver(std::move(named.error()));
    return;
  }
  auto ids = std::move(*named);
  if (auto err = locked_conflict(st, ids)) {
    rp.deliver(std::move(err));
    return;
  }
  auto plan = std::make_shared<shard_plan>(plan_puts(batch, shard_of));
  if (plan->parts.size() <= 1 || !st.two_phase_puts) {
    forward_write<std::vector<uuid>>(self, rp, {ids.begin(), ids.end()}, atom::put_v,
                                     std::move(batch));
    return;
  }
  two_phase(self, begin_tx(self, plan->ids()), plan,
            [rp, ids](caf::expected<std::map<size_t, shard_write_result>> r) mutable {
              if (r)
                rp.deliver(ids);
              else
                rp.deliver(r.error());
            });
}

/// A client remove. The ids are locked first; once no write handed on earlier names them, their
/// edges are read, and the copies of those on other shards are removed in the same transaction:
/// removes on one shard whose memories have edges only there go to the coordinator, anything
/// else through two-phase commit.
void remove_ids(front_ptr self, std::vector<uuid> ids, caf::typed_response_promise<flag_list> rp,
                const shard_of_fn& shard_of) {
  if (auto err = locked_conflict(self->state, ids)) {
    rp.deliver(std::move(err));
    return;
  }
  std::set<uuid> locked{ids.begin(), ids.end()};
  auto tx = begin_tx(self, locked);
  when_unwritten(self, locked, [self, tx, ids, rp, shard_of]() mutable {
    auto edges = std::make_shared<std::vector<std::vector<edge_data>>>(ids.size());
    auto left = std::make_shared<size_t>(ids.size());
    auto failed = std::make_shared<caf::error>();
    auto planned = [self, tx, ids, rp, shard_of, edges, failed]() mutable {
      if (*failed) {
        abandon_tx(self, tx);
        rp.deliver(make_error(code_of(*failed),
                              "reading the edges of the memories to remove failed, nothing was "
                              "removed: " +
                                  describe(*failed)));
        return;
      }
      std::vector<edge_data> all;
      for (auto& list : *edges)
        all.insert(all.end(), list.begin(), list.end());
      auto plan = std::make_shared<shard_plan>(plan_removes(ids, all, shard_of));
      if (plan->parts.size() <= 1) {
        // Handed on (and counted with its ids) before the lock goes: no write naming them, and
        // no restore, comes in between.
        std::set<uuid> names{ids.begin(), ids.end()};
        forward_write<flag_list>(self, rp, std::move(names), atom::remove_v, std::move(ids));
        abandon_tx(self, tx);
        return;
      }
      auto n = ids.size();
      two_phase(self, tx, plan,
                [rp, plan, n](caf::expected<std::map<size_t, shard_write_result>> r) mutable {
                  if (r)
                    rp.deliver(plan->removed(*r, n));
                  else
                    rp.deliver(r.error());
                });
    };
    if (ids.empty()) {
      planned();
      return;
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      neighbour_request q;
      q.node = ids[i];
      q.direction = edge_dir::both;
      self->request(self->state.coordinator, caf::infinite, atom::edges_v, std::move(q))
          .then(
              [edges, left, i, planned](std::vector<edge_data>& found) mutable {
                (*edges)[i] = std::move(found);
                if (--*left == 0) planned();
              },
              [left, failed, planned](caf::error& err) mutable {
                // A memory that is not stored has no edges (and nothing to remove).
                if (code_of(err) != ec::not_found && !*failed) *failed = std::move(err);
                if (--*left == 0) planned();
              });
    }
  });
}

/// Client edge writes: edges whose copies live on one shard go to the coordinator; the others
/// through two-phase commit, both copies of each edge in one transaction. The endpoints are
/// locked first; an add then checks, once no write handed on earlier names them, that every
/// endpoint is stored.
template <class R, class Atom, class Answer>
void edge_write(front_ptr self, Atom what, std::vector<edge_data> edges,
                caf::typed_response_promise<R> rp, std::shared_ptr<shard_plan> plan,
                Answer answer) {
  for (const auto& e : edges)
    if (auto ok = check_edge(e); !ok) {
      rp.deliver(std::move(ok.error()));
      return;
    }
  auto ids = plan->ids();
  if (auto err = locked_conflict(self->state, {ids.begin(), ids.end()})) {
    rp.deliver(std::move(err));
    return;
  }
  if (plan->parts.size() <= 1) {
    forward_write<R>(self, rp, std::move(ids), atom::edges_v, what, std::move(edges));
    return;
  }
  auto tx = begin_tx(self, ids);
  auto commit = [self, tx, plan, rp, answer]() mutable {
    two_phase(self, tx, plan,
              [rp, plan, answer](caf::expected<std::map<size_t, shard_write_result>> r) mutable {
                if (r)
                  rp.deliver(answer(*plan, *r));
                else
                  rp.deliver(r.error());
              });
  };
  if constexpr (!std::is_same_v<Atom, atom::put>) {
    when_unwritten(self, ids, commit);
  } else {
    when_unwritten(self, ids, [self, tx, ids, rp, commit]() mutable {
      std::vector<uuid> endpoints{ids.begin(), ids.end()};
      self->request(self->state.coordinator, caf::infinite, atom::exists_v, endpoints)
          .then(
              [self, tx, endpoints, rp, commit](flag_list& found) mutable {
                for (size_t i = 0; i < found.size(); ++i)
                  if (!found[i]) {
                    abandon_tx(self, tx);
                    rp.deliver(make_error(ec::not_found, "edge endpoint memory " +
                                                             endpoints[i].to_string() +
                                                             " is not stored"));
                    return;
                  }
                commit();
              },
              [self, tx, rp](caf::error& err) mutable {
                abandon_tx(self, tx);
                rp.deliver(std::move(err));
              });
    });
  }
}

transaction_front_actor::behavior_type
transaction_front(front_ptr self, coordinator_actor coordinator,
                  std::vector<transaction_shard_actor> shards, telos::profile profile,
                  telos::limits limits, std::shared_ptr<decision_log> decisions,
                  decision_log_actor writer, bool two_phase_puts) {
  auto& st = self->state;
  st.two_phase_puts = two_phase_puts;
  st.coordinator = std::move(coordinator);
  st.shards = std::move(shards);
  st.profile = std::move(profile);
  st.limits = limits;
  st.decisions = std::move(decisions);
  st.writer = std::move(writer);
  // Batches a shard had not applied when the coordinator stopped: locked again, and retried.
  for (auto& d : st.decisions->pending()) {
    st.locked[d.tx].insert(d.ids.begin(), d.ids.end());
    auto& u = st.unapplied[d.tx];
    for (auto s : d.shards)
      if (s < st.shards.size()) u.shards.insert(s);
    u.why = "not confirmed applied before the coordinator restarted";
    self->send(self, atom::retry_commit_v, d.tx);
  }
  auto count = st.shards.size();
  shard_of_fn shard_of = [count](const uuid& id) {
    return static_cast<size_t>(stable_hash(id) % count);
  };
  auto& c = st.coordinator;
  return {
      [=](atom::retry_commit, uuid& tx) { retry_unapplied(self, tx); },
      [=](atom::put, std::vector<memory>& batch) {
        auto rp = self->make_response_promise<std::vector<uuid>>();
        unless_restoring(self, [self, rp, batch = std::move(batch), shard_of]() mutable {
          put_batch(self, std::move(batch), rp, shard_of);
        });
        return rp;
      },
      [=](atom::remove, std::vector<uuid>& ids) {
        auto rp = self->make_response_promise<flag_list>();
        unless_restoring(self, [self, rp, ids = std::move(ids), shard_of]() mutable {
          remove_ids(self, std::move(ids), rp, shard_of);
        });
        return rp;
      },
      [=](atom::update, memory& m) {
        auto rp = self->make_response_promise<atom::ok>();
        unless_restoring(self, [self, rp, m = std::move(m)]() mutable {
          if (auto err = locked_conflict(self->state, {m.id}))
            rp.deliver(std::move(err));
          else
            forward_write<atom::ok>(self, rp, {m.id}, atom::update_v, std::move(m));
        });
        return rp;
      },
      [=](atom::get, std::vector<uuid>& ids) {
        auto fp = of_ids(ids); // before ids is moved into the request
        return read<std::vector<memory>>(self, std::move(fp), atom::get_v, std::move(ids));
      },
      [=](atom::exists, std::vector<uuid>& ids) {
        auto fp = of_ids(ids);
        return read<flag_list>(self, std::move(fp), atom::exists_v, std::move(ids));
      },
      [=](atom::list, std::string& ns, uuid& after, uint64_t limit) {
        return read<list_page>(self, everything(), atom::list_v, std::move(ns), after, limit);
      },
      [=](atom::count, std::string& ns) {
        return read<uint64_t>(self, everything(), atom::count_v, std::move(ns));
      },
      [=](atom::list, filter& f, uuid& after, uint64_t limit) {
        return read<list_page>(self, everything(), atom::list_v, std::move(f), after, limit);
      },
      [=](atom::count, filter& f) {
        return read<uint64_t>(self, everything(), atom::count_v, std::move(f));
      },
      // An edge whose endpoints live on two shards is written on both in one transaction.
      [=](atom::edges, atom::put, std::vector<edge_data>& edges) {
        auto rp = self->make_response_promise<atom::ok>();
        unless_restoring(self, [self, rp, edges = std::move(edges), shard_of]() mutable {
          auto plan = std::make_shared<shard_plan>(plan_edge_puts(edges, shard_of));
          edge_write(self, atom::put_v, std::move(edges), rp, plan,
                     [](const shard_plan&, const auto&) { return atom::ok_v; });
        });
        return rp;
      },
      [=](atom::edges, atom::remove, std::vector<edge_data>& edges) {
        auto rp = self->make_response_promise<flag_list>();
        unless_restoring(self, [self, rp, edges = std::move(edges), shard_of]() mutable {
          auto plan = std::make_shared<shard_plan>(plan_edge_removes(edges, shard_of));
          edge_write(self, atom::remove_v, std::move(edges), rp, plan,
                     [](const shard_plan& p, const std::map<size_t, shard_write_result>& r) {
                       return p.edges_existed(r);
                     });
        });
        return rp;
      },
      [=](atom::edges, neighbour_request& req) {
        return read<std::vector<edge_data>>(self, everything(), atom::edges_v, std::move(req));
      },
      [=](atom::traverse, traverse_request& req) {
        return read<std::vector<graph_path>>(self, everything(), atom::traverse_v, std::move(req));
      },
      [=](atom::quads, atom::put, std::vector<quad_text>& quads) {
        return write<atom::ok>(self, atom::quads_v, atom::put_v, std::move(quads));
      },
      [=](atom::quads, atom::remove, std::vector<quad_text>& quads) {
        return write<flag_list>(self, atom::quads_v, atom::remove_v, std::move(quads));
      },
      [=](atom::quads, quad_match_request& req) {
        return read<quad_match_page>(self, everything(), atom::quads_v, std::move(req));
      },
      // A search is held whole while any commit phase runs: which ids it returns is known only
      // at its end, and its record fetch must not see half a batch.
      [=](atom::search, search_request& r) {
        return read<search_result>(self, everything(), atom::search_v, std::move(r));
      },
      [=](atom::search, fused_search_request& r) {
        return read<search_result>(self, everything(), atom::search_v, std::move(r));
      },
      [=](atom::flush) { return write<atom::ok>(self, atom::flush_v); },
      [=](atom::compact) { return write<atom::ok>(self, atom::compact_v); },
      // A checkpoint is a read of everything: it never holds half of a cross-shard batch.
      [=](atom::checkpoint, std::string& dir) {
        return read<atom::ok>(self, everything(), atom::checkpoint_v, std::move(dir));
      },
      [=](atom::stats) { return read<std::vector<shard_info>>(self, everything(), atom::stats_v); },
      [=](atom::verify, bool repair) {
        return read<verify_result>(self, everything(), atom::verify_v, repair);
      },
      [=](atom::restore_live, std::string& dir) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (st.restoring) return make_error(ec::overloaded, "another restore is in progress");
        if (auto err = refuse_unapplied(st)) return err;
        st.restoring = true;
        auto rp = self->make_response_promise<uint64_t>();
        // New requests wait; the restore goes on once the ones in flight are answered.
        st.on_drained = [self, dir, rp]() mutable { check_phase(self, dir, rp); };
        check_drained(self);
        return rp;
      },
      [=](atom::close) {
        // Clients on other nodes keep references to the front: it must quit by itself. The log's
        // writer quits after the decisions and applied marks sent to it before.
        caf::anon_send(self->state.writer, atom::close_v);
        auto closing = self->delegate(c, atom::close_v);
        self->quit();
        return closing;
      },
  };
}

} // namespace

expected<uint64_t> restore_cluster(caf::actor_system& sys, const caf::actor& front,
                                   const std::string& dir, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  expected<uint64_t> result{make_error(ec::internal, "the coordinator did not answer")};
  self->request(front, timeout, atom::restore_live_v, dir)
      .receive([&](uint64_t n) { result = n; },
               [&](caf::error& err) {
                 if (err.category() == caf::atom("telos"))
                   result = std::move(err);
                 else
                   result = make_error(ec::unavailable,
                                       "restore from '" + dir + "': " + sys.render(err));
               });
  return result;
}

coordinator_actor spawn_transaction_front(caf::actor_system& sys, coordinator_actor coordinator,
                                          std::vector<transaction_shard_actor> shards,
                                          telos::profile profile, telos::limits limits,
                                          std::shared_ptr<decision_log> decisions,
                                          decision_log_actor writer, bool two_phase_puts) {
  return caf::actor_cast<coordinator_actor>(
      sys.spawn(transaction_front, std::move(coordinator), std::move(shards), std::move(profile),
                limits, std::move(decisions), std::move(writer), two_phase_puts));
}

} // namespace telos
