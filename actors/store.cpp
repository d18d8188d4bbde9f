// The blocking facade: opens the shards (recovery runs here, on the caller's thread), spawns the
// actors (with several shards, the transaction front and its local participants too, after
// resolving what a crash left staged), and turns each call into one request to the coordinator
// (or the front); a search that needs no record runs search_run here over the local indexes
// instead (shard/local_indexes.hpp).
#include "telos/actors/store.hpp"

#include "telos/actors/cluster.hpp"
#include "telos/actors/config.hpp"
#include "telos/actors/engine.hpp"
#include "telos/actors/node_files.hpp"
#include "telos/actors/participant.hpp"
#include "telos/actors/test_hooks.hpp"
#include "telos/actors/trace.hpp"
#include "telos/actors/transactions.hpp"
#include "telos/messages/actor_interfaces.hpp"
#include "telos/shard/durable_file.hpp"
#include "telos/shard/local_indexes.hpp"
#include "telos/shard/open_shard.hpp"
#include "telos/shard/search_run.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/thread_hook.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include <pthread.h>
#include <sched.h>

namespace fs = std::filesystem;

namespace telos {

struct store::impl {
  // Declared first, destroyed last: the actor system waits for every actor when it goes.
  std::unique_ptr<caf::actor_system_config> own_config;
  std::unique_ptr<caf::actor_system> own_system;
  caf::actor_system* sys = nullptr;

  store_options opts;
  telos::profile profile;
  store_manifest manifest;
  std::vector<opened_shard> shards;
  /// With several shards actors.coordinator is the transaction front over the engine's coordinator
  /// (start_transactions); these are its participants, their keeper of staged parts and the
  /// writer of its decisions.
  engine_actors actors;
  std::vector<transaction_shard_actor> participants;
  prepared_parts_actor parts;

  /// Connected to a coordinator node (store::connect): no shards here, close leaves it running.
  bool remote = false;
  std::string remote_address;
  caf::duration request_timeout{caf::infinite};

  std::mutex close_mutex;
  std::atomic<bool> closed{false};
  /// The shards' indexes, searched on the caller's thread; kept (closed, not reset) until the
  /// facade goes, so a search racing with close meets ec::closed, never a freed index.
  std::shared_ptr<local_indexes> local;

  // The facade's own bound on writes in flight: callers beyond it wait here instead of seeing
  // ec::overloaded from the coordinator.
  std::mutex writes_mutex;
  std::condition_variable writes_cv;
  size_t writes = 0;

  ~impl() { actors = {}; }

  caf::error closed_error() const { return make_error(ec::closed, "the store is closed"); }

  template <class T, class... Ts>
  expected<T> ask(Ts&&... xs) {
    if (closed) return closed_error();
    caf::scoped_actor self{*sys};
    expected<T> result{make_error(ec::internal, "the coordinator did not answer")};
    self->request(actors.coordinator, request_timeout, std::forward<Ts>(xs)...)
        .receive([&](T& x) { result = std::move(x); },
                 [&](caf::error& err) {
                   if (remote && err.category() != caf::atom("telos")) {
                     result = make_error(ec::unavailable, "the coordinator at " + remote_address +
                                                              ": " + sys->render(err));
                     return;
                   }
                   // A request racing with close meets a coordinator that is gone.
                   result =
                       closed && code_of(err) == ec::internal ? closed_error() : std::move(err);
                 });
    return result;
  }

  /// One search, run by search_run. A search that needs no record of a store in this process is
  /// driven here: with one top list (one embedder, one shard) this thread searches the index
  /// itself, no thread hand-off at all; with several, the index actors search them in parallel.
  /// Every other search is driven by the coordinator, which also fetches the records.
  template <class Request>
  expected<search_result> search(Request req) {
    if (!trace::searches()) return search_untraced(std::move(req));
    const double t0 = trace::steady_seconds();
    const size_t embedders = embedder_count(req);
    auto answer = search_untraced(std::move(req));
    trace::search_line(t0, trace::steady_seconds(), answer ? "ok" : "failed", embedders);
    return answer;
  }

  static size_t embedder_count(const search_request&) { return 1; }
  static size_t embedder_count(const fused_search_request& req) { return req.queries.size(); }

  template <class Request>
  expected<search_result> search_untraced(Request req) {
    if (remote || !local || needs_records(req))
      return ask<search_result>(atom::search_v, std::move(req));
    if (closed) return closed_error();
    auto run = plan_search(std::move(req));
    if (!run) return std::move(run.error());
    if (run->empty()) return search_result{};
    auto ok = run->list_count() == 1 ? local->search(*run) : ask_index_actors(*run);
    if (!ok) return std::move(ok.error());
    return run->finish();
  }

  /// Steps 1 and 2 of `run` by the index actors: every request of a step goes out before the
  /// first answer is awaited, so the shards and embedders search concurrently.
  expected<void> ask_index_actors(search_run& run) {
    caf::scoped_actor self{*sys};
    caf::error failure;
    auto collect = [&](auto& pending, std::vector<std::vector<hit>>& out) {
      out.resize(pending.size());
      for (size_t i = 0; i < pending.size(); ++i)
        pending[i].receive([&out, i](std::vector<hit>& hits) { out[i] = std::move(hits); },
                           [&failure](caf::error& err) {
                             if (!failure) failure = std::move(err);
                           });
    };
    auto index_of = [&](size_t shard, size_t part) -> const index_actor& {
      return actors.indexes[shard][run.parts()[part].index];
    };
    auto ask_list = [&](size_t i) {
      const auto& part = run.list_part(i);
      return self->request(actors.indexes[run.list_shard(i)][part.index], request_timeout,
                           atom::search_v, part.query, run.depth(), run.request_filter());
    };
    std::vector<decltype(ask_list(0))> lists_pending;
    for (size_t i = 0; i < run.list_count(); ++i)
      lists_pending.push_back(ask_list(i));
    std::vector<std::vector<hit>> lists;
    collect(lists_pending, lists);
    if (failure) return search_failure(std::move(failure));
    run.take_lists(std::move(lists));
    auto asked = run.missing_scores();
    if (asked.empty()) return {};
    auto ask_score = [&](const search_run::score_request& a) {
      return self->request(index_of(a.shard, a.part), request_timeout, atom::score_v,
                           run.parts()[a.part].query, a.ids);
    };
    std::vector<decltype(ask_score(asked.front()))> scores_pending;
    for (const auto& a : asked)
      scores_pending.push_back(ask_score(a));
    std::vector<std::vector<hit>> scores;
    collect(scores_pending, scores);
    if (failure) return search_failure(std::move(failure));
    run.take_scores(asked, std::move(scores));
    return {};
  }

  /// An index actor's error; ec::closed when the actor was gone because the store closed.
  caf::error search_failure(caf::error err) const {
    return closed && code_of(err) == ec::internal ? closed_error() : std::move(err);
  }

  expected<search_run> plan_search(search_request req) const {
    return search_run::plan(profile, opts.limits, std::move(req), shards.size());
  }

  expected<search_run> plan_search(fused_search_request req) const {
    return search_run::plan(profile, opts.limits, std::move(req), opts.fused_depth, shards.size());
  }

  /// A store with several shards commits the writes that span shards (edges, removes of memories
  /// with edges elsewhere) by two-phase commit, as a cluster does: decisions in `dir`/DECISIONS,
  /// staged parts in `dir`/prepared/shard-<i>/ (both in memory when `dir` is empty). What a crash
  /// left staged is resolved here, before the store serves: decided parts are applied (again:
  /// applying is idempotent), undecided ones dropped.
  expected<void> start_transactions(const std::string& dir) {
    auto n = static_cast<uint32_t>(shards.size());
    auto log = decision_log::open(dir, n);
    if (!log) return std::move(log.error());
    parts = spawn_parts_keeper(*sys, dir);
    for (uint32_t i = 0; i < n; ++i)
      participants.push_back(spawn_local_participant(
          *sys, actors.shards[i], parts, i,
          dir.empty() ? "shard " + std::to_string(i) + " (in memory)" : prepared_dir(dir, i)));
    caf::scoped_actor self{*sys};
    caf::error failed;
    auto fail = [&failed](caf::error& err) { failed = std::move(err); };
    for (uint32_t i = 0; i < n && !failed; ++i) {
      std::vector<uuid> txs;
      self->request(parts, caf::infinite, atom::prepared_tx_v, i)
          .receive([&txs](std::vector<uuid>& found) { txs = std::move(found); }, fail);
      for (size_t k = 0; k < txs.size() && !failed; ++k) {
        if ((*log)->committed(txs[k]))
          self->request(participants[i], caf::infinite, atom::commit_tx_v, txs[k])
              .receive([](shard_write_result&) {}, fail);
        else
          self->request(participants[i], caf::infinite, atom::abort_tx_v, txs[k])
              .receive([](atom::ok) {}, fail);
      }
    }
    if (failed)
      return make_error(code_of(failed),
                        "cannot finish the cross-shard writes a crash interrupted: " +
                            describe(failed));
    // A part is dropped only once it was applied: every decision is applied everywhere now.
    for (const auto& d : (*log)->pending())
      for (auto s : d.shards)
        if (auto ok = (*log)->record_applied(d.tx, s); !ok) return ok;
    auto writer = spawn_decision_writer(*sys, *log);
    actors.coordinator =
        spawn_transaction_front(*sys, actors.coordinator, participants, profile, opts.limits,
                                std::move(*log), std::move(writer), opts.atomic_batches);
    return {};
  }

  /// Stops the participants and their keeper (after the front closed).
  void stop_transactions() {
    for (auto& a : participants)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    participants.clear();
    if (parts) caf::anon_send(parts, atom::close_v);
    parts = prepared_parts_actor{};
  }

  template <class T, class... Ts>
  expected<T> ask_write(Ts&&... xs) {
    {
      std::unique_lock guard{writes_mutex};
      writes_cv.wait(guard, [&] { return writes < opts.max_inflight_writes; });
      ++writes;
    }
    auto result = ask<T>(std::forward<Ts>(xs)...);
    {
      std::lock_guard guard{writes_mutex};
      --writes;
    }
    writes_cv.notify_one();
    return result;
  }
};

namespace {

std::vector<std::string> contributor_keyspaces(const store_options& opts) {
  std::vector<std::string> names;
  for (const auto& c : opts.row_contributors)
    for (auto& name : c->keyspaces())
      names.push_back(std::move(name));
  return names;
}

bool directory_has_entries(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && !fs::is_empty(path, ec);
}

/// Decides profile, shard count and keyspaces from the manifest (existing store) or the options
/// (new store).
expected<store_manifest> plan_store(const store_options& opts, bool& exists) {
  bool persistent = opts.backend != storage::backend_kind::memory;
  exists = false;
  if (persistent) {
    auto found = read_manifest(opts.path);
    if (!found) return std::move(found.error());
    if (*found) {
      exists = true;
      auto m = std::move(**found);
      if (m.format != storage::layout_version)
        return make_error(ec::format_mismatch,
                          "store at '" + opts.path + "' has format " + std::to_string(m.format) +
                              ", this build reads " + std::to_string(storage::layout_version));
      if (m.backend != opts.backend)
        return make_error(ec::format_mismatch,
                          "store at '" + opts.path + "' was created with backend " +
                              to_string(m.backend) + ", opened with " + to_string(opts.backend));
      if (opts.profile && *opts.profile != m.profile)
        return make_error(ec::format_mismatch, "store at '" + opts.path + "' was created with " +
                                                   describe_profile(m.profile) + ", opened with " +
                                                   describe_profile(*opts.profile));
      for (auto& name : contributor_keyspaces(opts))
        if (std::find(m.extra_keyspaces.begin(), m.extra_keyspaces.end(), name) ==
            m.extra_keyspaces.end())
          m.extra_keyspaces.push_back(std::move(name));
      return m;
    }
    if (!opts.create_if_missing)
      return make_error(ec::not_found,
                        "no Telos store at '" + opts.path + "' (create_if_missing is off)");
    std::error_code ec;
    // A directory with shards but no manifest is a store whose creation was cut short.
    if (directory_has_entries(opts.path) && !fs::exists(backend_directory(opts.path, 0), ec))
      return make_error(ec::not_a_store,
                        "directory '" + opts.path + "' is not empty and holds no Telos store");
  }
  store_manifest m;
  m.backend = opts.backend;
  m.profile = opts.profile ? *opts.profile : telos::profile::teleo13();
  m.shards = opts.shards;
  m.extra_keyspaces = contributor_keyspaces(opts);
  return m;
}

} // namespace

expected<std::optional<store_description>> store::inspect(const std::string& path) {
  auto manifest = read_manifest(path);
  if (!manifest) return std::move(manifest.error());
  if (!*manifest) return std::optional<store_description>{};
  store_description d;
  d.backend = (*manifest)->backend;
  d.profile = (*manifest)->profile;
  d.shards = (*manifest)->shards;
  return std::optional<store_description>{std::move(d)};
}

namespace {

/// Moves each scheduler thread to SCHED_BATCH as it starts. CAF 0.17 names its scheduler threads
/// "caf.multiplexer" before it calls the hooks (caf/scheduler/worker.hpp); its other threads
/// (detached actors such as the backends' writers, the clock) keep the normal policy.
class batch_worker_hook final : public caf::thread_hook {
public:
  void init(caf::actor_system&) override {}

  void thread_started() override {
#if defined(__linux__) && defined(SCHED_BATCH)
    char name[16] = {};
    if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) return;
    if (std::strcmp(name, "caf.multiplexer") != 0) return;
    sched_param param{};
    param.sched_priority = 0;
    // Refused (a seccomp filter, say): the thread stays as it was, which only costs speed.
    static_cast<void>(sched_setscheduler(0, SCHED_BATCH, &param));
#endif
  }

  void thread_terminates() override {}
};

} // namespace

void use_batch_workers(caf::actor_system_config& cfg) {
  cfg.add_thread_hook<batch_worker_hook>();
}

store::store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

store::~store() {
  if (impl_) close();
}

expected<std::unique_ptr<store>> store::open(store_options opts) {
  auto cfg = std::make_unique<caf::actor_system_config>();
  register_telos(*cfg);
  if (opts.worker_threads > 1024)
    return make_error(ec::invalid_argument, "worker_threads " +
                                                std::to_string(opts.worker_threads) +
                                                " is more than 1024");
  if (opts.worker_threads > 0) cfg->set("scheduler.max-threads", opts.worker_threads);
  if (opts.scheduler == scheduler_policy::sharing)
    cfg->set("scheduler.policy", caf::atom("sharing"));
  if (opts.batch_workers) use_batch_workers(*cfg);
  auto sys = std::make_unique<caf::actor_system>(*cfg);
  auto result = open(*sys, std::move(opts));
  if (!result) return result;
  (*result)->impl_->own_config = std::move(cfg);
  (*result)->impl_->own_system = std::move(sys);
  return result;
}

expected<std::unique_ptr<store>> store::open(caf::actor_system& sys, store_options opts) {
  if (opts.shards == 0) return make_error(ec::invalid_argument, "a store needs at least 1 shard");
  if (opts.max_inflight_writes == 0)
    return make_error(ec::invalid_argument, "max_inflight_writes must be at least 1");
  if (opts.max_group_bytes == 0)
    return make_error(ec::invalid_argument, "max_group_bytes must be at least 1");
  if (opts.read_threads > 1024)
    return make_error(ec::invalid_argument,
                      "read_threads " + std::to_string(opts.read_threads) + " is more than 1024");
  if (opts.read_part_keys == 0)
    return make_error(ec::invalid_argument, "read_part_keys must be at least 1");
  bool exists = false;
  auto manifest = plan_store(opts, exists);
  if (!manifest) return std::move(manifest.error());
  if (auto ok = manifest->profile.validate(); !ok) return std::move(ok.error());
  bool persistent = opts.backend != storage::backend_kind::memory;
  if (persistent && !exists) {
    std::error_code ec;
    fs::create_directories(opts.path, ec);
    if (ec) return make_error(ec::io_error, "cannot create '" + opts.path + "': " + ec.message());
  }
  auto p = std::make_unique<impl>();
  p->sys = &sys;
  p->profile = manifest->profile;
  p->manifest = *manifest;
  std::shared_ptr<storage::read_pool> reads;
  if (persistent && opts.read_threads > 0)
    reads = std::make_shared<storage::read_pool>(opts.read_threads, opts.read_part_keys,
                                                 opts.read_split_device_bytes);
  for (uint32_t i = 0; i < manifest->shards; ++i) {
    shard_open_options so;
    so.root = opts.path;
    so.shard = i;
    so.shard_count = manifest->shards;
    so.backend = opts.backend;
    so.backend_options = opts.backend_options;
    so.backend_options.create_if_missing = !exists;
    so.backend_options.sync_by_default = opts.sync_writes || opts.backend_options.sync_by_default;
    so.profile = manifest->profile;
    so.extra_keyspaces = manifest->extra_keyspaces;
    so.index_options = opts.index_options;
    so.graph = true;
    so.graph_options = opts.graph;
    so.read_pool = reads;
    auto shard = open_shard(so);
    if (!shard) {
      for (auto& s : p->shards)
        close_shard(s);
      return std::move(shard.error());
    }
    p->shards.push_back(std::move(*shard));
  }
  if (persistent && !exists) {
    if (auto ok = write_manifest(opts.path, *manifest); !ok) {
      for (auto& s : p->shards)
        close_shard(s);
      return std::move(ok.error());
    }
  }
  engine_options eo;
  eo.limits = opts.limits;
  eo.max_inflight_writes = opts.max_inflight_writes;
  eo.max_group_bytes = opts.max_group_bytes;
  eo.fused_depth = opts.fused_depth;
  eo.sync_writes = opts.sync_writes;
  eo.row_contributors = opts.row_contributors;
  eo.checkpoint_every = opts.checkpoint_every;
  eo.checkpoint_fraction = opts.checkpoint_fraction;
  eo.max_fresh = opts.max_fresh;
  p->actors = spawn_engine(sys, p->shards, p->profile, eo);
  p->local = p->actors.local;
  p->opts = std::move(opts);
  auto opened = std::unique_ptr<store>{new store(std::move(p))};
  if (opened->impl_->shards.size() > 1) {
    auto& o = *opened->impl_;
    if (auto ok = o.start_transactions(persistent ? o.opts.path : std::string{}); !ok) {
      opened->close();
      return std::move(ok.error());
    }
  }
  return opened;
}

expected<std::unique_ptr<store>> store::connect(const std::string& host, uint16_t port,
                                                const tls_options& tls,
                                                std::chrono::milliseconds timeout) {
  if (auto ok = tls.check(); !ok) return std::move(ok.error());
  auto cfg = std::make_unique<caf::actor_system_config>();
  register_telos(*cfg);
  configure_network(*cfg, tls);
  auto sys = std::make_unique<caf::actor_system>(*cfg);
  endpoint where{host, port};
  auto node = connect_node(*sys, where, tls.enabled());
  if (!node) return std::move(node.error());
  auto p = std::make_unique<impl>();
  p->sys = sys.get();
  p->remote = true;
  p->remote_address = where.to_string();
  p->request_timeout = caf::duration{timeout};
  caf::error failed;
  {
    caf::scoped_actor self{*sys};
    self->request(*node, timeout, atom::attach_v)
        .receive(
            [&](caf::actor& coordinator, cluster_identity& id) {
              p->actors.coordinator = caf::actor_cast<coordinator_actor>(coordinator);
              p->profile = std::move(id.profile);
              p->manifest.profile = p->profile;
              p->manifest.shards = id.shards;
              auto kind = storage::parse_backend_kind(id.backend);
              if (kind) p->opts.backend = *kind;
            },
            [&](caf::error& err) {
              failed = err.category() == caf::atom("telos")
                           ? std::move(err)
                           : make_error(ec::unavailable, "the node at " + where.to_string() + ": " +
                                                             sys->render(err));
            });
  }
  if (failed) return failed;
  p->own_config = std::move(cfg);
  p->own_system = std::move(sys);
  return std::unique_ptr<store>{new store(std::move(p))};
}

std::unique_ptr<store> store::attach(caf::actor_system& sys, const caf::actor& coordinator,
                                     const cluster_identity& identity, const std::string& name,
                                     std::chrono::milliseconds timeout) {
  auto p = std::make_unique<impl>();
  p->sys = &sys;
  p->remote = true;
  p->remote_address = name;
  p->request_timeout = caf::duration{timeout};
  p->actors.coordinator = caf::actor_cast<coordinator_actor>(coordinator);
  p->profile = identity.profile;
  p->manifest.profile = identity.profile;
  p->manifest.shards = identity.shards;
  if (auto kind = storage::parse_backend_kind(identity.backend)) p->opts.backend = *kind;
  return std::unique_ptr<store>{new store(std::move(p))};
}

expected<std::unique_ptr<store>> store::restore(const std::string& checkpoint_dir,
                                                store_options target) {
  auto manifest = read_manifest(checkpoint_dir);
  if (!manifest) return std::move(manifest.error());
  if (!*manifest)
    return make_error(ec::not_a_store,
                      "'" + checkpoint_dir + "' holds no Telos checkpoint (no MANIFEST)");
  std::error_code ec;
  auto source = fs::weakly_canonical(checkpoint_dir, ec);
  auto dest = fs::weakly_canonical(target.path, ec);
  auto rel = source.lexically_relative(dest);
  if (source == dest || (!rel.empty() && *rel.begin() != ".."))
    return make_error(ec::invalid_argument, "checkpoint '" + checkpoint_dir +
                                                "' lies inside the store to replace at '" +
                                                target.path + "'");
  if (directory_has_entries(target.path) && !fs::exists(manifest_path(target.path), ec))
    return make_error(ec::not_a_store, "refusing to replace '" + target.path +
                                           "': it is not empty and holds no Telos store");
  // The checkpoint is copied beside the store, made durable, and swapped in with one atomic
  // exchange: a crash at any instant leaves the old store or the whole checkpoint at target.path,
  // never a mix. What a crash leaves beside it (`<path>.restoring`) the next restore removes.
  auto dest_path = fs::absolute(target.path).lexically_normal();
  if (!dest_path.has_filename()) dest_path = dest_path.parent_path();
  auto staging = dest_path.string() + ".restoring";
  if (source == fs::weakly_canonical(staging, ec))
    return make_error(ec::invalid_argument,
                      "checkpoint '" + checkpoint_dir + "' is the directory restore copies into");
  fs::remove_all(staging, ec);
  if (!ec) fs::remove_all(staging + ".old", ec);
  if (ec) return make_error(ec::io_error, "cannot remove '" + staging + "': " + ec.message());
  fs::create_directories(dest_path.parent_path(), ec);
  if (!ec) fs::copy(checkpoint_dir, staging, fs::copy_options::recursive, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    return make_error(ec::io_error,
                      "cannot copy '" + checkpoint_dir + "' to '" + staging + "': " + ec.message());
  }
  if (auto synced = sync_tree(staging); !synced) return std::move(synced.error());
  detail::crash_point("restore-copied");
  if (auto swapped = swap_directory(staging, dest_path.string()); !swapped)
    return std::move(swapped.error());
  detail::crash_point("restore-swapped");
  // What is left at `staging` is the replaced store; failing to remove it loses nothing.
  fs::remove_all(staging, ec);
  target.backend = (*manifest)->backend;
  target.create_if_missing = false;
  return open(std::move(target));
}

// -- writes ---------------------------------------------------------------------------------------

expected<uuid> store::put(memory m) {
  std::vector<memory> batch;
  batch.push_back(std::move(m));
  auto ids = impl_->ask_write<std::vector<uuid>>(atom::put_v, std::move(batch));
  if (!ids) return std::move(ids.error());
  if (ids->size() != 1)
    return make_error(ec::internal, "put answered " + std::to_string(ids->size()) + " ids");
  return ids->front();
}

expected<std::vector<uuid>> store::put_batch(std::vector<memory> batch) {
  return impl_->ask_write<std::vector<uuid>>(atom::put_v, std::move(batch));
}

expected<void> store::update(memory m) {
  auto ok = impl_->ask_write<atom::ok>(atom::update_v, std::move(m));
  if (!ok) return std::move(ok.error());
  return {};
}

expected<bool> store::remove(const uuid& id) {
  auto removed = impl_->ask_write<flag_list>(atom::remove_v, std::vector<uuid>{id});
  if (!removed) return std::move(removed.error());
  if (removed->size() != 1)
    return make_error(ec::internal,
                      "remove answered " + std::to_string(removed->size()) + " flags");
  return removed->front();
}

// -- reads ----------------------------------------------------------------------------------------

expected<std::optional<memory>> store::get(const uuid& id) {
  auto found = get_batch({id});
  if (!found) return std::move(found.error());
  return std::move(found->front());
}

expected<std::vector<std::optional<memory>>> store::get_batch(const std::vector<uuid>& ids) {
  auto found = impl_->ask<std::vector<memory>>(atom::get_v, ids);
  if (!found) return std::move(found.error());
  std::vector<std::optional<memory>> result;
  result.reserve(found->size());
  for (auto& m : *found)
    if (m.id.is_nil())
      result.emplace_back();
    else
      result.emplace_back(std::move(m));
  return result;
}

expected<bool> store::exists(const uuid& id) {
  auto found = impl_->ask<flag_list>(atom::exists_v, std::vector<uuid>{id});
  if (!found) return std::move(found.error());
  return !found->empty() && found->front();
}

expected<memory_page> store::list(const std::string& ns, size_t limit, std::optional<uuid> after) {
  auto page =
      impl_->ask<list_page>(atom::list_v, ns, after.value_or(uuid{}), static_cast<uint64_t>(limit));
  if (!page) return std::move(page.error());
  memory_page result;
  result.items = std::move(page->items);
  if (!page->next_after.is_nil()) result.next_after = page->next_after;
  return result;
}

expected<uint64_t> store::count(const std::string& ns) {
  return impl_->ask<uint64_t>(atom::count_v, ns);
}

expected<search_result> store::search(search_request req) {
  return impl_->search(std::move(req));
}

expected<search_result> store::search_fused(fused_search_request req) {
  return impl_->search(std::move(req));
}

expected<memory_page> store::list_matching(const filter& f, size_t limit,
                                           std::optional<uuid> after) {
  auto page =
      impl_->ask<list_page>(atom::list_v, f, after.value_or(uuid{}), static_cast<uint64_t>(limit));
  if (!page) return std::move(page.error());
  memory_page result;
  result.items = std::move(page->items);
  if (!page->next_after.is_nil()) result.next_after = page->next_after;
  return result;
}

expected<uint64_t> store::count_matching(const filter& f) {
  return impl_->ask<uint64_t>(atom::count_v, f);
}

// -- graph ----------------------------------------------------------------------------------------

expected<void> store::edge_add(std::vector<edge_data> edges) {
  auto ok = impl_->ask_write<atom::ok>(atom::edges_v, atom::put_v, std::move(edges));
  if (!ok) return std::move(ok.error());
  return {};
}

expected<void> store::edge_add(edge_data e) {
  return edge_add(std::vector<edge_data>{std::move(e)});
}

expected<bool> store::edge_remove(const edge_data& e) {
  auto existed =
      impl_->ask_write<flag_list>(atom::edges_v, atom::remove_v, std::vector<edge_data>{e});
  if (!existed) return std::move(existed.error());
  if (existed->size() != 1)
    return make_error(ec::internal,
                      "edge remove answered " + std::to_string(existed->size()) + " flags");
  return existed->front();
}

expected<std::vector<edge_data>> store::neighbours(neighbour_request q) {
  return impl_->ask<std::vector<edge_data>>(atom::edges_v, std::move(q));
}

expected<std::vector<graph_path>> store::traverse(traverse_request q) {
  return impl_->ask<std::vector<graph_path>>(atom::traverse_v, std::move(q));
}

expected<void> store::quad_add(std::vector<quad_text> quads) {
  auto ok = impl_->ask_write<atom::ok>(atom::quads_v, atom::put_v, std::move(quads));
  if (!ok) return std::move(ok.error());
  return {};
}

expected<std::vector<bool>> store::quad_remove(std::vector<quad_text> quads) {
  auto existed = impl_->ask_write<flag_list>(atom::quads_v, atom::remove_v, std::move(quads));
  if (!existed) return std::move(existed.error());
  return std::vector<bool>{std::move(*existed)};
}

expected<quad_match_page> store::quad_match(quad_match_request q) {
  return impl_->ask<quad_match_page>(atom::quads_v, std::move(q));
}

// -- maintenance ----------------------------------------------------------------------------------

expected<void> store::flush() {
  auto ok = impl_->ask<atom::ok>(atom::flush_v);
  if (!ok) return std::move(ok.error());
  return {};
}

expected<void> store::compact() {
  auto ok = impl_->ask<atom::ok>(atom::compact_v);
  if (!ok) return std::move(ok.error());
  return {};
}

expected<void> store::checkpoint(const std::string& dir) {
  if (impl_->remote) {
    // Every shard node writes its shards (with its MANIFEST) under `dir` on its own disk.
    auto ok = impl_->ask<atom::ok>(atom::checkpoint_v, dir);
    if (!ok) return std::move(ok.error());
    return {};
  }
  std::error_code ec;
  if (fs::exists(dir, ec))
    return make_error(ec::already_exists, "checkpoint directory '" + dir + "' exists already");
  auto ok = impl_->ask<atom::ok>(atom::checkpoint_v, dir);
  if (!ok) return std::move(ok.error());
  // The manifest goes last: a directory without one is no checkpoint to restore from.
  return write_manifest(dir, impl_->manifest);
}

expected<store_stats> store::stats() {
  auto infos = impl_->ask<std::vector<shard_info>>(atom::stats_v);
  if (!infos) return std::move(infos.error());
  store_stats result;
  result.backend = impl_->opts.backend;
  result.shards = static_cast<uint32_t>(infos->size());
  for (auto& info : *infos) {
    result.memories += info.memories;
    for (const auto& [ns, n] : info.per_namespace)
      result.per_namespace[ns] += n;
    result.disk_bytes += info.disk_bytes;
    result.written += info.written;
    result.sequences.push_back(info.sequence);
    for (auto& i : info.indexes) {
      index_report report;
      report.embedder = i.embedder;
      report.shard = i.shard;
      report.stats.vectors = i.vectors;
      report.stats.fresh = i.fresh;
      report.stats.memory_bytes = i.memory_bytes;
      report.stats.mapped_bytes = i.mapped_bytes;
      report.stats.structure = i.structure;
      report.snapshot_sequence = i.snapshot_sequence;
      report.checkpoints = i.checkpoints;
      report.checkpoint_error = i.checkpoint_error;
      report.changes_since_checkpoint = i.changes_since_checkpoint;
      report.next_checkpoint = i.next_checkpoint;
      report.checkpoint_interval = i.checkpoint_interval;
      result.indexes.push_back(std::move(report));
    }
  }
  return result;
}

expected<uint64_t> store::storage_size() {
  auto s = stats();
  if (!s) return std::move(s.error());
  return s->disk_bytes;
}

storage::backend_kind store::backend() const {
  return impl_->opts.backend;
}

const telos::profile& store::profile() const {
  return impl_->profile;
}

expected<verify_report> store::verify(bool repair) {
  auto r = impl_->ask<verify_result>(atom::verify_v, repair);
  if (!r) return std::move(r.error());
  verify_report report;
  report.consistent = r->problems.empty();
  report.records_checked = r->records_checked;
  report.problems = std::move(r->problems);
  report.repaired = r->repaired;
  return report;
}

std::vector<std::string> store::recovery_report() const {
  std::vector<std::string> lines;
  for (const auto& s : impl_->shards) {
    for (const auto& r : s.recovery) {
      auto line = "shard " + std::to_string(s.id) + " index " + r.embedder + ": " + r.method +
                  ", " + std::to_string(r.vectors) + " vectors";
      if (r.method == "snapshot") line += ", " + std::to_string(r.replayed) + " ids replayed";
      if (!r.reason.empty()) line += " (snapshot not used: " + r.reason + ")";
      lines.push_back(std::move(line));
    }
    for (const auto& problem : s.problems)
      lines.push_back("skipped at open: " + problem);
  }
  return lines;
}

store::recovery_summary store::recovered() const {
  recovery_summary sum;
  for (const auto& s : impl_->shards) {
    sum.backend_seconds += s.timing.backend_seconds;
    sum.load_seconds += s.timing.load_seconds;
    sum.catalog_seconds += s.timing.catalog_seconds;
    sum.table_files_seconds += s.timing.table_files_seconds;
    for (const auto& r : s.recovery) {
      sum.indexes.push_back({s.id, r.embedder, r.method, r.replayed, r.snapshot_seconds,
                             r.replay_seconds, r.read_seconds, r.apply_seconds});
      if (r.method == "snapshot") {
        ++sum.from_snapshot;
        sum.replayed += r.replayed;
        sum.max_replayed = std::max(sum.max_replayed, r.replayed);
      } else if (r.method == "rebuilt") {
        ++sum.rebuilt;
      } else {
        ++sum.created;
      }
    }
  }
  return sum;
}

expected<void> store::close() {
  auto& p = *impl_;
  std::lock_guard guard{p.close_mutex};
  if (p.closed) return {};
  if (p.remote) {
    // The coordinator belongs to its node: let go of it, close nothing.
    p.closed = true;
    p.actors = {};
    return {};
  }
  auto ok = p.ask<atom::ok>(atom::close_v);
  p.stop_transactions();
  // Searches on callers' threads that started before this finish first; later ones see closed.
  p.local->close();
  p.closed = true;
  // The index actors' handles stay until the facade goes: a search racing with close may still be
  // reading them (its requests fail, the actors are gone).
  p.actors.coordinator = coordinator_actor{};
  p.actors.shards.clear();
  if (!ok) return std::move(ok.error());
  // Every actor stopped: the indexes and backends are ours alone now.
  caf::error first;
  for (auto& s : p.shards)
    if (auto closed = close_shard(s); !closed && !first) first = std::move(closed.error());
  if (first) return first;
  return {};
}

caf::actor_system& store::system() const {
  return *impl_->sys;
}

caf::actor store::coordinator() const {
  return caf::actor_cast<caf::actor>(impl_->actors.coordinator);
}

} // namespace telos
