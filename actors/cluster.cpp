// Distribution: network configuration, node actors, the cluster map and the remote shard.
#include "telos/actors/cluster.hpp"
#include "telos/actors/test_hooks.hpp"
#include "telos/shard/durable_file.hpp"
#include "telos/storage/backend_checks.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include <csignal>
#include <cstdlib>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace telos {

namespace detail {
void keep_openssl_error_queue_guard(); // openssl_error_queue.cpp
} // namespace detail

namespace {

/// The text of any error: Telos errors through describe(), CAF's own through the system.
std::string text_of(caf::actor_system& sys, const caf::error& err) {
  if (err.category() == caf::atom("telos")) return describe(err);
  return sys.render(err);
}

bool is_telos(const caf::error& err) {
  return err.category() == caf::atom("telos");
}

expected<std::string> read_small_file(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(ec::io_error, "cannot read '" + path + "': " + ec.message());
  if (size > (1u << 20))
    return make_error(ec::corrupt_value, "'" + path + "' is " + std::to_string(size) +
                                             " bytes, too large for what Telos writes there");
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  if (!in && !in.eof()) return make_error(ec::io_error, "cannot read '" + path + "'");
  return out.str();
}

/// The text of a small file, or nothing when there is no such file.
expected<std::optional<std::string>> read_optional_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<std::string>{};
  auto text = read_small_file(path);
  if (!text) return std::move(text.error());
  return std::optional<std::string>{std::move(*text)};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string shard_list(const std::vector<shard_host>& shards) {
  std::string names;
  for (const auto& s : shards)
    names += (names.empty() ? "" : ", ") + std::to_string(s.storage->id);
  return names;
}

} // namespace

// -- configuration --------------------------------------------------------------------------------

expected<void> tls_options::check() const {
  if (!enabled()) return {};
  if (certificate.empty() || key.empty() || cafile.empty())
    return make_error(ec::invalid_argument,
                      "TLS needs a certificate, its key and the CA file together (given: " +
                          std::string(certificate.empty() ? "" : "certificate ") +
                          (key.empty() ? "" : "key ") + (cafile.empty() ? "" : "cafile") + ")");
  for (const auto& [what, path] : {std::pair{"certificate", certificate}, std::pair{"key", key},
                                   std::pair{"CA file", cafile}}) {
    std::ifstream in{path};
    if (!in)
      return make_error(ec::invalid_argument, std::string("TLS ") + what + " '" + path +
                                                  "' cannot be read: " + std::strerror(errno));
  }
  return {};
}

expected<endpoint> parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return make_error(ec::invalid_argument, "'" + text + "' is not HOST:PORT");
  auto host = text.substr(0, colon);
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), ::isdigit) ||
      std::stoul(digits) > 65535)
    return make_error(ec::invalid_argument,
                      "'" + text + "': port '" + digits + "' is not a number from 0 to 65535");
  return endpoint{host, static_cast<uint16_t>(std::stoul(digits))};
}

void configure_network(caf::actor_system_config& cfg, const tls_options& tls) {
  cfg.load<caf::io::middleman>();
  if (tls.enabled()) {
    detail::keep_openssl_error_queue_guard();
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = tls.certificate;
    cfg.openssl_key = tls.key;
    cfg.openssl_cafile = tls.cafile;
  }
}

expected<uint16_t> publish_node(caf::actor_system& sys, const node_actor& node,
                                const endpoint& where, bool tls) {
  // SO_REUSEADDR: a node restarted after a crash binds its port again at once (connections of the
  // dead process linger in TIME_WAIT); Linux still refuses a second listener on the port.
  auto bound = tls ? caf::openssl::publish(node, where.port, where.host.c_str(), true)
                   : sys.middleman().publish(node, where.port, where.host.c_str(), true);
  if (!bound)
    return make_error(ec::io_error,
                      "cannot listen on " + where.to_string() + ": " + sys.render(bound.error()));
  return *bound;
}

expected<node_actor> connect_node(caf::actor_system& sys, const endpoint& where, bool tls) {
  auto found = tls ? caf::openssl::remote_actor<node_actor>(sys, where.host, where.port)
                   : sys.middleman().remote_actor<node_actor>(where.host, where.port);
  if (!found)
    return make_error(ec::unavailable, "cannot reach the Telos node at " + where.to_string() +
                                           ": " + sys.render(found.error()) +
                                           (tls ? " (TLS)" : ""));
  return *found;
}

// -- node binding ---------------------------------------------------------------------------------

namespace {

std::string binding_path(const std::string& data_dir) {
  return data_dir + "/NODE";
}

std::string map_path(const std::string& data_dir) {
  return data_dir + "/CLUSTER";
}

} // namespace

expected<std::optional<node_binding>> read_node_binding(const std::string& data_dir) {
  auto path = binding_path(data_dir);
  auto found = read_optional_file(path);
  if (!found) return std::move(found.error());
  if (!*found) return std::optional<node_binding>{};
  const auto& text = *found;
  node_binding b;
  bool magic = false, cluster = false, count = false;
  for (const auto& line : lines_of(*text)) {
    std::istringstream in{line};
    std::string key, value;
    in >> key >> value;
    if (key == "telos-node") magic = value == "1";
    if (key == "cluster") {
      auto id = uuid::parse(value);
      if (!id) break;
      b.cluster = *id;
      cluster = true;
    }
    if (key == "shards" && !value.empty() && std::all_of(value.begin(), value.end(), ::isdigit)) {
      b.shard_count = static_cast<uint32_t>(std::stoul(value));
      count = true;
    }
  }
  if (!magic || !cluster || !count)
    return make_error(ec::corrupt_value, "'" + path + "' is not a Telos node binding");
  return std::optional<node_binding>{b};
}

expected<void> write_node_binding(const std::string& data_dir, const node_binding& b) {
  return replace_file(binding_path(data_dir), "telos-node 1\ncluster " + b.cluster.to_string() +
                                                  "\nshards " + std::to_string(b.shard_count) +
                                                  "\n");
}

// -- node actors ----------------------------------------------------------------------------------

namespace {

struct shard_node_state {
  static inline const char* name = "shard_node";
  std::string data_dir;
  std::string backend;
  telos::profile profile;
  uint32_t shard_count = 0;
  shard_node_config config;
  std::vector<shard_host> shards;
  /// Shards being restored (their actor is null meanwhile).
  std::set<uint32_t> restoring;
  /// Shards a restore closed and could not reopen: why (they serve nothing until a restore
  /// succeeds).
  std::map<uint32_t, std::string> broken;
  /// Run once no restore is in progress (stop_shard_node).
  std::vector<std::function<void()>> after_restores;
  /// Commits being applied, by shard and transaction: a repeated commit (the coordinator retries
  /// after a lost answer) waits for the first instead of applying the part twice.
  std::map<std::pair<uint32_t, uuid>, std::vector<caf::typed_response_promise<shard_write_result>>>
      applying;
  /// Shards whose store asked to be reopened after a write error, with the wait before the next
  /// probe of the disk (or the next attempt to open, after a reopen that failed).
  std::map<uint32_t, std::chrono::milliseconds> recovering;
  /// Shards being closed and reopened after such an error (their actor is null meanwhile).
  std::set<uint32_t> reopening;
  /// close began: no recovery starts any more.
  bool stopping = false;
};

using attach_reply = caf::result<caf::actor, shard_identity>;

/// A shard's actors report a write error that asks for a reopen (`false`), or the node retries
/// its recovery after a wait (`true`).
using reopen_atom = caf::atom_constant<caf::atom("reopen")>;
constexpr reopen_atom reopen_v{};

/// A shard host's node actor: the attach handshake plus the participant side of two-phase
/// commit. Published as a node_actor; coordinators cast it to participant_actor.
using shard_node_actor =
    node_actor::extend_with<participant_actor>::extend<caf::replies_to<atom::close>::with<atom::ok>,
                                                       caf::reacts_to<reopen_atom, uint32_t, bool>>;
using shard_node_ptr = shard_node_actor::stateful_pointer<shard_node_state>;

/// Where a prepared part of transaction tx waits for its outcome.
std::string prepared_dir(const std::string& data_dir, uint32_t shard) {
  return data_dir + "/prepared/shard-" + std::to_string(shard);
}

/// Test hook: TELOS_TEST_PAUSE=before-commit:DIR|after-commit:DIR makes a shard host stop once at
/// that point of a commit (before applying its part, or after applying it and before answering)
/// until told to go on: it writes a byte to the FIFO DIR/reached, then reads one from DIR/resume.
/// tests/cluster use it to hold one shard's commit while another shard's part is visible.
void pause_point(const char* point) {
  static std::atomic<bool> paused{false};
  auto* wanted = std::getenv("TELOS_TEST_PAUSE");
  if (wanted == nullptr) return;
  std::string spec = wanted;
  auto colon = spec.find(':');
  if (colon == std::string::npos || spec.substr(0, colon) != point || paused.exchange(true)) return;
  auto dir = spec.substr(colon + 1);
  char byte = '1';
  if (auto fd = ::open((dir + "/reached").c_str(), O_WRONLY | O_CLOEXEC); fd >= 0) {
    (void)!::write(fd, &byte, 1);
    ::close(fd);
  }
  if (auto fd = ::open((dir + "/resume").c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    (void)!::read(fd, &byte, 1);
    ::close(fd);
  }
}

/// Test hook: TELOS_TEST_FAIL=restore-copy makes the first live restore of a shard on this node
/// fail after its shard was closed (tests/cluster prove that running the restore again finishes).
bool fail_point(const char* point) {
  static std::atomic<bool> fired{false};
  auto* wanted = std::getenv("TELOS_TEST_FAIL");
  return wanted != nullptr && std::strcmp(wanted, point) == 0 && !fired.exchange(true);
}

shard_host* hosted(shard_node_state& st, uint32_t shard) {
  for (auto& h : st.shards)
    if (h.storage->id == shard) return &h;
  return nullptr;
}

/// ec::unavailable for a hosted shard that has no actor now (being restored, or a restore failed).
caf::error not_serving(const shard_node_state& st, uint32_t shard) {
  auto name = "shard " + std::to_string(shard) + " on the node with data dir '" + st.data_dir + "'";
  if (st.restoring.count(shard) != 0)
    return make_error(ec::unavailable, name + " is being restored");
  auto why = st.broken.find(shard);
  if (st.reopening.count(shard) != 0)
    return make_error(ec::unavailable, name + " is being reopened after a write error its store "
                                              "could not recover from while open");
  if (st.recovering.count(shard) != 0)
    return make_error(ec::unavailable,
                      name +
                          " was closed after a write error and is reopened once its disk takes "
                          "writes again (last attempt: " +
                          (why == st.broken.end() ? std::string{"unknown"} : why->second) + ")");
  return make_error(ec::unavailable,
                    name + " serves nothing: a restore closed it and could not reopen it (" +
                        (why == st.broken.end() ? std::string{"unknown reason"} : why->second) +
                        "); run the restore again");
}

/// Restore phase 1 on this node: what check_checkpoint says about DIR for `shard`.
caf::error check_restore(const shard_node_state& st, uint32_t shard, const std::string& dir) {
  auto name = "shard " + std::to_string(shard) + " on the node with data dir '" + st.data_dir + "'";
  auto m = read_manifest(st.data_dir);
  if (!m) return make_error(code_of(m.error()), name + ": " + describe(m.error()));
  if (!*m)
    return make_error(ec::invalid_argument,
                      name + ": the node's store has no MANIFEST (a memory store has nothing to "
                             "restore into)");
  if (auto ok = check_checkpoint(dir, **m, {shard}); !ok)
    return make_error(code_of(ok.error()), name + ": " + describe(ok.error()));
  return {};
}

/// The blocking part of a live restore, run on a thread of its own so that the node keeps
/// answering (pings, other shards): closes the shard's storage, swaps its directory, reopens it.
struct restore_job {
  opened_shard* storage = nullptr;
  std::string data_dir;
  std::string dir;
  shard_open_options open;
  expected<opened_shard> result{make_error(ec::internal, "the restore did not run")};

  void run() {
    if (auto ok = close_shard(*storage); !ok) {
      result = make_error(code_of(ok.error()), "closing the shard: " + describe(ok.error()));
      return;
    }
    if (fail_point("restore-copy")) {
      result = make_error(ec::io_error, "cannot copy '" + backend_directory(dir, open.shard) +
                                            "': failure injected by TELOS_TEST_FAIL");
      return;
    }
    if (auto ok = replace_shard_directory(data_dir, dir, open.shard); !ok) {
      result = std::move(ok.error());
      return;
    }
    auto opened = open_shard(open);
    if (!opened) {
      result = make_error(code_of(opened.error()),
                          "reopening the restored shard: " + describe(opened.error()));
      return;
    }
    result = std::move(*opened);
  }
};

using run_job = caf::atom_constant<caf::atom("runjob")>;
constexpr run_job run_job_v{};

void restores_done(shard_node_state& st) {
  if (!st.restoring.empty() || !st.reopening.empty()) return;
  auto waiting = std::move(st.after_restores);
  st.after_restores.clear();
  for (auto& f : waiting)
    f();
}

caf::error not_hosted(const shard_node_state& st, uint32_t shard) {
  return make_error(ec::not_found, "the node with data dir '" + st.data_dir + "' hosts shard(s) " +
                                       shard_list(st.shards) + ", not shard " +
                                       std::to_string(shard));
}

/// Runs `work` on a thread of its own (blocking file I/O must not stall the node, which keeps
/// answering pings and serving its other shards), then `then` in the node actor.
void run_blocking(shard_node_ptr self, std::function<void()> work, std::function<void()> then) {
  // (The work goes in as an argument: CAF 0.17 dereferences an empty argument tuple when a
  // function-based actor takes none, which UBSan rejects.)
  auto worker = self->system().spawn<caf::detached>(
      [](caf::event_based_actor* w, std::shared_ptr<std::function<void()>> job) -> caf::behavior {
        return {[job, w](run_job) {
          (*job)();
          w->quit();
          return atom::ok_v;
        }};
      },
      std::make_shared<std::function<void()>>(std::move(work)));
  self->request(worker, caf::infinite, run_job_v)
      .then([then](atom::ok) { then(); }, [then](caf::error&) { then(); });
}

/// Spawns the actors of a hosted shard over its opened storage. A write of the shard that fails
/// with an error asking for a reopen tells the node (reopen_atom).
void serve(shard_node_ptr self, shard_host& host) {
  auto& st = self->state;
  auto opts = st.config.engine;
  opts.on_write_error = [node = self->address()](uint32_t shard, const caf::error& err) {
    if (!storage::asks_for_reopen(err)) return;
    if (auto handle = caf::actor_cast<caf::actor>(node))
      caf::anon_send(handle, reopen_v, shard, false);
  };
  std::vector<opened_shard> one;
  one.push_back(std::move(*host.storage));
  auto actors = spawn_engine(self->system(), one, st.profile, opts);
  *host.storage = std::move(one.front());
  host.actor = actors.shards.front();
  host.engine = actors.coordinator;
}

/// Whether the disk under the node's data dir takes writes: a small file written, fsynced and
/// removed again (through the same seams as every own file, so an injected fault fails it too).
expected<void> probe_disk(const std::string& data_dir, uint32_t shard) {
  auto path = data_dir + "/.write-probe-shard-" + std::to_string(shard);
  auto ok = replace_file(path, "telosd write probe\n", true);
  std::error_code ec;
  fs::remove(path, ec);
  return ok;
}

/// Closes a shard whose store stopped writes and opens it again, on a thread of its own; its
/// actors are stopped first. A reopen that fails is tried again after a wait.
void reopen_shard(shard_node_ptr self, uint32_t shard) {
  auto& st = self->state;
  auto* host = hosted(st, shard);
  st.reopening.insert(shard);
  auto open = st.config.open;
  open.shard = shard;
  open.backend_options.create_if_missing = false;
  auto result =
      std::make_shared<expected<opened_shard>>(make_error(ec::internal, "the reopen did not run"));
  auto storage = host->storage;
  auto finish = [self, shard, result] {
    auto& st = self->state;
    st.reopening.erase(shard);
    auto* host = hosted(st, shard);
    if (!*result) {
      st.broken[shard] = describe(result->error());
      std::cerr << "telosd: reopening shard " << shard << " failed: " << st.broken[shard]
                << "; trying again\n";
      auto& wait = st.recovering[shard];
      wait = std::clamp(wait * 2, std::chrono::milliseconds{50}, st.config.max_probe_wait);
      if (!st.stopping) self->delayed_send(self, wait, reopen_v, shard, true);
      restores_done(st);
      return;
    }
    st.broken.erase(shard);
    st.recovering.erase(shard);
    *host->storage = std::move(**result);
    serve(self, *host);
    std::cerr << "telosd: shard " << shard << " reopened; it takes writes again\n";
    restores_done(st);
  };
  auto run = [self, storage, open, result, finish] {
    run_blocking(
        self,
        [storage, open, result] {
          // A store that stopped writes cannot save its index snapshots: the close reports that,
          // and the open replays the changelog after the last snapshot instead. Nothing is lost.
          if (auto ok = close_shard(*storage); !ok)
            std::cerr << "telosd: closing shard " << open.shard
                      << " to reopen it: " << describe(ok.error()) << '\n';
          *result = open_shard(open);
        },
        finish);
  };
  if (!host->engine) {
    run();
    return;
  }
  auto engine = host->engine;
  host->actor = nullptr;
  host->engine = nullptr;
  self->request(engine, caf::infinite, atom::close_v)
      .then([run](atom::ok) { run(); },
            [run](caf::error&) {
              // The storage is closed below whatever the actors said.
              run();
            });
}

/// A write of `shard` failed with an error asking for a reopen (`retry` false), or a wait of its
/// recovery ended (`retry` true). While the shard still serves reads it probes the disk first and
/// reopens only once the disk takes writes again; otherwise it tries the reopen again at once.
void recover(shard_node_ptr self, uint32_t shard, bool retry) {
  auto& st = self->state;
  auto* host = hosted(st, shard);
  if (host == nullptr || st.stopping) return;
  // A second report while the recovery runs, or a retry of a recovery that ended, changes nothing.
  if (retry != (st.recovering.count(shard) != 0)) return;
  if (st.restoring.count(shard) != 0 || st.reopening.count(shard) != 0) return;
  if (!retry) {
    st.recovering[shard] = std::chrono::milliseconds{0};
    std::cerr << "telosd: shard " << shard
              << " stopped writes after an error its store cannot recover from while open; it is "
                 "reopened once its disk takes writes again\n";
  }
  if (!host->engine) {
    reopen_shard(self, shard);
    return;
  }
  auto probe = std::make_shared<expected<void>>();
  run_blocking(
      self, [probe, dir = st.data_dir, shard] { *probe = probe_disk(dir, shard); },
      [self, shard, probe] {
        auto& st = self->state;
        auto it = st.recovering.find(shard);
        if (it == st.recovering.end() || st.stopping) return;
        if (!*probe) {
          it->second =
              std::clamp(it->second * 2, std::chrono::milliseconds{50}, st.config.max_probe_wait);
          self->delayed_send(self, it->second, reopen_v, shard, true);
          return;
        }
        auto* host = hosted(st, shard);
        if (host == nullptr || !host->engine || st.restoring.count(shard) != 0) {
          st.recovering.erase(it);
          return;
        }
        reopen_shard(self, shard);
      });
}

shard_node_actor::behavior_type shard_node(shard_node_ptr self, shard_node_config config,
                                           std::vector<shard_host> shards) {
  auto& st = self->state;
  st.config = std::move(config);
  st.data_dir = st.config.data_dir;
  st.backend = st.config.backend;
  st.profile = st.config.profile;
  st.shard_count = st.config.shard_count;
  st.shards = std::move(shards);
  for (auto& h : st.shards)
    if (!h.engine) serve(self, h);
  return {
      [self](reopen_atom, uint32_t shard, bool retry) { recover(self, shard, retry); },
      [self](atom::attach, uint32_t shard, const uuid& cluster, uint32_t count,
             bool bound_before) -> attach_reply {
        auto& st = self->state;
        auto it = std::find_if(st.shards.begin(), st.shards.end(),
                               [&](const shard_host& h) { return h.storage->id == shard; });
        if (it == st.shards.end())
          return make_error(ec::format_mismatch,
                            "the node with data dir '" + st.data_dir + "' hosts shard(s) " +
                                shard_list(st.shards) + ", not shard " + std::to_string(shard) +
                                " (wrong --shard-id, or wrong position in --shards)");
        if (!it->actor) return not_serving(st, shard);
        if (count != st.shard_count)
          return make_error(ec::format_mismatch,
                            "shard " + std::to_string(shard) + " in '" + st.data_dir +
                                "' belongs to a store of " + std::to_string(st.shard_count) +
                                " shards, the coordinator routes over " + std::to_string(count));
        auto binding = read_node_binding(st.data_dir);
        if (!binding) return std::move(binding.error());
        if (*binding) {
          if ((*binding)->cluster != cluster)
            return make_error(ec::format_mismatch,
                              "data dir '" + st.data_dir + "' belongs to cluster " +
                                  (*binding)->cluster.to_string() + ", not to cluster " +
                                  cluster.to_string() + " (wrong --data-dir?)");
        } else {
          if (bound_before)
            return make_error(ec::format_mismatch,
                              "data dir '" + st.data_dir + "' is bound to no cluster, but shard " +
                                  std::to_string(shard) + " of cluster " + cluster.to_string() +
                                  " was attached before (wrong or wiped --data-dir?)");
          if (auto ok = write_node_binding(st.data_dir, node_binding{cluster, count}); !ok)
            return std::move(ok.error());
        }
        shard_identity id;
        id.shard = shard;
        id.shard_count = st.shard_count;
        id.backend = st.backend;
        id.profile = st.profile;
        id.data_dir = st.data_dir;
        return attach_reply{caf::actor_cast<caf::actor>(it->actor), std::move(id)};
      },
      [self](atom::attach) -> caf::result<caf::actor, cluster_identity> {
        return make_error(ec::invalid_argument,
                          "this telosd hosts shard(s) " + shard_list(self->state.shards) +
                              "; clients connect to the coordinator node (telosd --coordinator)");
      },
      [self](atom::prepare_tx, uint32_t shard, const uuid& tx,
             const shard_write& part) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        std::vector<char> bytes;
        caf::binary_serializer sink{self->system(), bytes};
        if (auto err = sink(const_cast<shard_write&>(part)))
          return make_error(ec::internal,
                            "cannot encode the prepared part: " + self->system().render(err));
        auto dir = prepared_dir(st.data_dir, shard);
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) return make_error(ec::io_error, "cannot create '" + dir + "': " + ec.message());
        if (auto ok = replace_file(dir + "/" + tx.to_string(), {bytes.begin(), bytes.end()}); !ok)
          return std::move(ok.error());
        if (auto ok = sync_directory(dir); !ok) return std::move(ok.error());
        detail::crash_point("after-prepare");
        return atom::ok_v;
      },
      [self](atom::commit_tx, uint32_t shard, const uuid& tx) -> caf::result<shard_write_result> {
        detail::crash_point("before-commit");
        pause_point("before-commit");
        auto& st = self->state;
        auto* host = hosted(st, shard);
        if (host == nullptr) return not_hosted(st, shard);
        if (!host->actor) return not_serving(st, shard);
        auto path = prepared_dir(st.data_dir, shard) + "/" + tx.to_string();
        auto key = std::make_pair(shard, tx);
        if (auto it = st.applying.find(key); it != st.applying.end()) {
          it->second.push_back(self->make_response_promise<shard_write_result>());
          return it->second.back();
        }
        std::error_code ec;
        // Applied and dropped already (a repeated commit after a lost answer).
        if (!fs::exists(path, ec)) return shard_write_result{};
        auto bytes = read_small_file(path);
        if (!bytes) return std::move(bytes.error());
        shard_write part;
        caf::binary_deserializer source{self->system(), bytes->data(), bytes->size()};
        if (auto err = source(part))
          return make_error(ec::corrupt_value, "prepared part '" + path + "' does not decode: " +
                                                   self->system().render(err));
        auto rp = self->make_response_promise<shard_write_result>();
        st.applying[key].push_back(rp);
        auto answer = [self, key](auto result) {
          auto waiting = std::move(self->state.applying[key]);
          self->state.applying.erase(key);
          for (auto& w : waiting)
            w.deliver(result);
        };
        self->request(host->actor, caf::infinite, atom::write_v, std::move(part))
            .then(
                [answer, path](shard_write_result& r) mutable {
                  std::error_code ec;
                  fs::remove(path, ec);
                  pause_point("after-commit");
                  answer(r);
                },
                [answer](caf::error& err) mutable { answer(err); });
        return rp;
      },
      [self](atom::abort_tx, uint32_t shard, const uuid& tx) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        std::error_code ec;
        fs::remove(prepared_dir(st.data_dir, shard) + "/" + tx.to_string(), ec);
        return atom::ok_v;
      },
      [](atom::ping) { return atom::ok_v; },
      [self](atom::checkpoint, uint32_t shard, std::string& dir) -> caf::result<atom::ok> {
        auto& st = self->state;
        auto* host = hosted(st, shard);
        if (host == nullptr) return not_hosted(st, shard);
        if (!host->actor) return not_serving(st, shard);
        auto target = backend_directory(dir, shard);
        std::error_code ec;
        if (fs::exists(target, ec))
          return make_error(ec::already_exists, "checkpoint directory '" + target +
                                                    "' exists already on the node of shard " +
                                                    std::to_string(shard));
        fs::create_directories(dir, ec);
        if (ec)
          return make_error(ec::io_error, "cannot create '" + dir + "' on the node of shard " +
                                              std::to_string(shard) + ": " + ec.message());
        auto rp = self->make_response_promise<atom::ok>();
        self->request(host->actor, caf::infinite, atom::checkpoint_v, dir)
            .then(
                [self, rp, dir](atom::ok) mutable {
                  auto& st = self->state;
                  // Copies of the node's MANIFEST and binding make DIR a data dir that telosd
                  // serves as it is. Nodes sharing a disk may write them at once: each through
                  // a temporary file of its own, all with the same bytes.
                  for (auto name : {"MANIFEST", "NODE"}) {
                    auto from = st.data_dir + "/" + name;
                    std::error_code ec;
                    if (!fs::exists(from, ec)) continue;
                    auto bytes = read_small_file(from);
                    if (!bytes) {
                      rp.deliver(std::move(bytes.error()));
                      return;
                    }
                    if (auto ok = replace_file(dir + "/" + name, *bytes, true); !ok) {
                      rp.deliver(std::move(ok.error()));
                      return;
                    }
                  }
                  rp.deliver(atom::ok_v);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::prepared_tx, uint32_t shard) -> caf::result<std::vector<uuid>> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        std::vector<uuid> result;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(prepared_dir(st.data_dir, shard), ec))
          if (auto id = uuid::parse(entry.path().filename().string())) result.push_back(*id);
        return result;
      },
      [self](atom::restore_check, uint32_t shard, std::string& dir) -> caf::result<atom::ok> {
        auto& st = self->state;
        if (hosted(st, shard) == nullptr) return not_hosted(st, shard);
        if (st.restoring.count(shard) != 0) return not_serving(st, shard);
        if (auto err = check_restore(st, shard, dir)) return err;
        return atom::ok_v;
      },
      [self](atom::restore_live, uint32_t shard, std::string& dir) -> caf::result<caf::actor> {
        auto& st = self->state;
        auto* host = hosted(st, shard);
        if (host == nullptr) return not_hosted(st, shard);
        if (st.restoring.count(shard) != 0 || st.reopening.count(shard) != 0)
          return not_serving(st, shard);
        if (auto err = check_restore(st, shard, dir)) return err;
        st.restoring.insert(shard);
        auto job = std::make_shared<restore_job>();
        job->storage = host->storage;
        job->data_dir = st.data_dir;
        job->dir = dir;
        job->open = st.config.open;
        job->open.shard = shard;
        job->open.backend_options.create_if_missing = false;
        auto rp = self->make_response_promise<caf::actor>();
        // Reopened: the shard serves again through actors of its own.
        auto finish = [self, shard, job, rp]() mutable {
          auto& st = self->state;
          st.restoring.erase(shard);
          auto* host = hosted(st, shard);
          if (!job->result) {
            st.broken[shard] = describe(job->result.error());
            std::cerr << "telosd: restoring shard " << shard << " from '" << job->dir
                      << "' failed: " << st.broken[shard] << '\n';
            rp.deliver(make_error(code_of(job->result.error()),
                                  "shard " + std::to_string(shard) +
                                      " on the node with data dir '" + st.data_dir +
                                      "' was closed but not restored: " + st.broken[shard]));
            restores_done(st);
            return;
          }
          st.broken.erase(shard);
          st.recovering.erase(shard);
          *host->storage = std::move(*job->result);
          serve(self, *host);
          std::cerr << "telosd: shard " << shard << " restored live from '" << job->dir << "'\n";
          rp.deliver(caf::actor_cast<caf::actor>(host->actor));
          restores_done(st);
        };
        // The blocking part runs on a thread of its own once the shard's actors stopped.
        auto run = [self, job, finish] {
          run_blocking(
              self, [job] { job->run(); }, finish);
        };
        if (!host->actor) {
          run();
          return rp;
        }
        auto engine = host->engine;
        host->actor = nullptr;
        host->engine = nullptr;
        self->request(engine, caf::infinite, atom::close_v)
            .then([run](atom::ok) { run(); },
                  [run, shard](caf::error& err) {
                    // The storage is closed below whatever the actors said.
                    std::cerr << "telosd: stopping shard " << shard
                              << " for the restore: " << to_string(err) << '\n';
                    run();
                  });
        return rp;
      },
      [self](atom::close) -> caf::result<atom::ok> {
        auto rp = self->make_response_promise<atom::ok>();
        auto close_all = [self, rp]() mutable {
          auto& st = self->state;
          auto left = std::make_shared<size_t>(1);
          auto done = [self, rp, left]() mutable {
            if (--*left > 0) return;
            rp.deliver(atom::ok_v);
            self->quit();
          };
          for (auto& h : st.shards) {
            if (!h.engine) continue;
            ++*left;
            auto engine = std::move(h.engine);
            h.actor = nullptr;
            self->request(engine, caf::infinite, atom::close_v)
                .then([done](atom::ok) mutable { done(); },
                      [done](caf::error& err) mutable {
                        std::cerr << "telosd: closing: " << to_string(err) << '\n';
                        done();
                      });
          }
          done();
        };
        self->state.stopping = true;
        if (self->state.restoring.empty() && self->state.reopening.empty())
          close_all();
        else
          self->state.after_restores.push_back(close_all);
        return rp;
      },
  };
}

struct coordinator_node_state {
  static inline const char* name = "coordinator_node";
  coordinator_actor coordinator;
  cluster_identity identity;
};

node_actor::behavior_type
coordinator_node(node_actor::stateful_pointer<coordinator_node_state> self,
                 coordinator_actor coordinator, cluster_identity identity) {
  self->state.coordinator = std::move(coordinator);
  self->state.identity = std::move(identity);
  return {
      [](atom::attach, uint32_t shard, const uuid&, uint32_t, bool) -> attach_reply {
        return make_error(ec::invalid_argument, "this telosd is a coordinator, it hosts no shard " +
                                                    std::to_string(shard));
      },
      [self](atom::attach) -> caf::result<caf::actor, cluster_identity> {
        return {caf::actor_cast<caf::actor>(self->state.coordinator), self->state.identity};
      },
  };
}

} // namespace

node_actor spawn_shard_node(caf::actor_system& sys, shard_node_config config,
                            std::vector<shard_host> shards) {
  return caf::actor_cast<node_actor>(sys.spawn(shard_node, std::move(config), std::move(shards)));
}

expected<void> stop_shard_node(caf::actor_system& sys, const node_actor& node) {
  caf::scoped_actor self{sys};
  expected<void> result;
  self->request(caf::actor_cast<caf::actor>(node), caf::infinite, atom::close_v)
      .receive([](atom::ok) {},
               [&](caf::error& err) { result = make_error(ec::internal, sys.render(err)); });
  return result;
}

// -- restore --------------------------------------------------------------------------------------

expected<void> check_checkpoint(const std::string& dir, const store_manifest& m,
                                const std::vector<uint32_t>& shards) {
  auto found = read_manifest(dir);
  if (!found) return std::move(found.error());
  std::error_code ec;
  if (!*found)
    return make_error(ec::not_found,
                      "'" + dir + "' holds no Telos checkpoint (" +
                          (fs::exists(dir, ec) ? "no MANIFEST" : "no such directory") + ")");
  const auto& c = **found;
  if (c.backend != m.backend || c.shards != m.shards || c.profile != m.profile)
    return make_error(ec::invalid_argument,
                      "checkpoint '" + dir + "' is of a " + storage::to_string(c.backend) +
                          " store of " + std::to_string(c.shards) + " shards with " +
                          describe_profile(c.profile) + ", not of a " +
                          storage::to_string(m.backend) + " store of " + std::to_string(m.shards) +
                          " shards with " + describe_profile(m.profile));
  for (uint32_t id : shards)
    if (!fs::exists(backend_directory(dir, id), ec))
      return make_error(ec::not_found, "checkpoint '" + dir + "' holds no shard " +
                                           std::to_string(id) + " (written on another node?)");
  return {};
}

expected<void> replace_shard_directory(const std::string& data_dir, const std::string& dir,
                                       uint32_t shard) {
  // The checkpoint's copy is made beside the shard's directory, made durable and swapped in with
  // one atomic exchange, so a crash leaves the old or the new directory whole, never a mix that
  // RocksDB could open as a different store. The next restore removes what a crash left beside.
  std::error_code ec;
  auto target = backend_directory(data_dir, shard);
  auto staging = target + ".restoring";
  for (const auto& gone : {staging, staging + ".old", snapshot_directory(data_dir, shard),
                           prepared_dir(data_dir, shard)}) {
    fs::remove_all(gone, ec);
    if (ec) return make_error(ec::io_error, "cannot remove '" + gone + "': " + ec.message());
  }
  fs::copy(backend_directory(dir, shard), staging, fs::copy_options::recursive, ec);
  if (ec)
    return make_error(ec::io_error, "cannot copy '" + backend_directory(dir, shard) + "' to '" +
                                        staging + "': " + ec.message());
  if (auto synced = sync_tree(staging); !synced) return synced;
  if (auto swapped = swap_directory(staging, target); !swapped) return swapped;
  fs::remove_all(staging, ec);
  return {};
}

node_actor spawn_coordinator_node(caf::actor_system& sys, coordinator_actor coordinator,
                                  cluster_identity identity) {
  return sys.spawn(coordinator_node, std::move(coordinator), std::move(identity));
}

// -- cluster map ----------------------------------------------------------------------------------

expected<std::optional<cluster_map>> read_cluster_map(const std::string& data_dir) {
  auto path = map_path(data_dir);
  auto found = read_optional_file(path);
  if (!found) return std::move(found.error());
  if (!*found) return std::optional<cluster_map>{};
  const auto& text = *found;
  auto bad = [&](const std::string& why) {
    return make_error(ec::corrupt_value, "'" + path + "' is not a Telos cluster map: " + why);
  };
  cluster_map m;
  bool magic = false, cluster = false;
  for (const auto& line : lines_of(*text)) {
    auto space = line.find(' ');
    auto key = line.substr(0, space);
    auto rest = space == std::string::npos ? std::string{} : line.substr(space + 1);
    if (key == "telos-cluster") {
      magic = rest == "1";
    } else if (key == "cluster") {
      auto id = uuid::parse(rest);
      if (!id) return bad("cluster id '" + rest + "'");
      m.cluster = *id;
      cluster = true;
    } else if (key == "backend") {
      m.backend = rest;
    } else if (key == "profile") {
      auto p = telos::profile::from_json(rest);
      if (!p) return bad("profile: " + describe(p.error()));
      m.profile = std::move(*p);
    } else if (key == "shard") {
      std::istringstream in{rest};
      size_t index = 0;
      std::string where, state;
      in >> index >> where >> state;
      auto e = parse_endpoint(where);
      if (!e || index != m.shards.size()) return bad("line '" + line + "'");
      m.shards.push_back({*e, state == "bound"});
    } else {
      return bad("unknown line '" + line + "'");
    }
  }
  if (!magic || !cluster || m.shards.empty()) return bad("header, cluster id or shards missing");
  return std::optional<cluster_map>{std::move(m)};
}

expected<void> write_cluster_map(const std::string& data_dir, const cluster_map& m) {
  std::string text = "telos-cluster 1\ncluster " + m.cluster.to_string() + "\n";
  if (!m.backend.empty()) text += "backend " + m.backend + "\n";
  if (!m.profile.embedders.empty()) text += "profile " + m.profile.to_json() + "\n";
  for (size_t i = 0; i < m.shards.size(); ++i)
    text += "shard " + std::to_string(i) + " " + m.shards[i].where.to_string() + " " +
            (m.shards[i].bound ? "bound" : "new") + "\n";
  return replace_file(map_path(data_dir), text);
}

expected<attached_shard> attach_shard(caf::actor_system& sys, const cluster_map& map,
                                      uint32_t shard, bool tls) {
  const auto& entry = map.shards.at(shard);
  auto node = connect_node(sys, entry.where, tls);
  if (!node) return std::move(node.error());
  caf::scoped_actor self{sys};
  expected<attached_shard> result{make_error(ec::internal, "the node did not answer")};
  self->request(*node, std::chrono::seconds(30), atom::attach_v, shard, map.cluster,
                static_cast<uint32_t>(map.shards.size()), entry.bound)
      .receive(
          [&](caf::actor& a, shard_identity& id) {
            result = attached_shard{*node, caf::actor_cast<shard_actor>(a), std::move(id)};
          },
          [&](caf::error& err) {
            result = is_telos(err)
                         ? std::move(err)
                         : make_error(ec::unavailable, "shard " + std::to_string(shard) + " at " +
                                                           entry.where.to_string() + ": " +
                                                           sys.render(err));
          });
  if (!result) return result;
  const auto& id = result->identity;
  if (!map.profile.embedders.empty() && id.profile != map.profile)
    return make_error(ec::format_mismatch, "shard " + std::to_string(shard) + " at " +
                                               entry.where.to_string() + " has " +
                                               describe_profile(id.profile) + ", the cluster " +
                                               describe_profile(map.profile));
  if (!map.backend.empty() && id.backend != map.backend)
    return make_error(ec::format_mismatch, "shard " + std::to_string(shard) + " at " +
                                               entry.where.to_string() + " runs " + id.backend +
                                               ", the cluster " + map.backend);
  return result;
}

// -- remote shard ---------------------------------------------------------------------------------

namespace {

using remote_shard_actor =
    shard_actor::extend<caf::reacts_to<atom::reconnect>,
                        caf::reacts_to<atom::heartbeat>>::extend_with<transaction_shard_actor>;

struct remote_shard_state {
  static inline const char* name = "remote_shard";
  remote_shard_config config;
  /// Null while the node is unreachable.
  shard_actor remote;
  /// The node's participant side (two-phase commit); null with `remote`.
  participant_actor participant;
  /// Why `remote` is null.
  std::string reason;
  bool connecting = false;
  /// Attached, but the node left a ping unanswered: requests fail at once until it answers.
  bool hung = false;
  /// The heartbeat chain runs (one ping in flight or one beat scheduled).
  bool beating = false;
  /// A live restore runs on the node: the shard actor going down is expected (the node answers
  /// with its successor), the node going down is not.
  bool restoring = false;
  std::chrono::milliseconds backoff{0};
  uint64_t next_request = 0;
  /// Requests forwarded and not answered: how to fail each when the node goes down.
  std::unordered_map<uint64_t, std::function<void(const caf::error&)>> pending;

  caf::error unavailable() const {
    return make_error(ec::unavailable, "shard " + std::to_string(config.shard) + " at " +
                                           config.where.to_string() + " is unavailable: " + reason);
  }
};

using remote_ptr = remote_shard_actor::stateful_pointer<remote_shard_state>;

void connect(remote_ptr self);

void retry_later(remote_ptr self, std::string why) {
  auto& st = self->state;
  st.connecting = false;
  st.reason = std::move(why) + " (reconnecting)";
  st.backoff = std::clamp(st.backoff * 2, st.config.min_backoff, st.config.max_backoff);
  self->delayed_send(self, st.backoff, atom::reconnect_v);
}

/// Settles what the participant still holds prepared: commit what the decision log says was
/// decided, abort the rest (no decision logged = aborted), except transactions still waiting for
/// their decision (their staged part may yet be committed).
void resolve_prepared(remote_ptr self) {
  auto& st = self->state;
  if (!st.participant || !st.config.decisions) return;
  self->request(st.participant, std::chrono::seconds(30), atom::prepared_tx_v, st.config.shard)
      .then(
          [self](std::vector<uuid>& txs) {
            auto& st = self->state;
            for (auto& tx : txs) {
              if (st.config.decisions->undecided(tx)) continue;
              if (st.config.decisions->committed(tx))
                self->request(st.participant, caf::infinite, atom::commit_tx_v, st.config.shard, tx)
                    .then(
                        [self, tx](shard_write_result&) {
                          auto& st = self->state;
                          (void)st.config.decisions->record_applied(tx, st.config.shard);
                        },
                        [](caf::error&) {});
              else
                self->request(st.participant, caf::infinite, atom::abort_tx_v, st.config.shard, tx)
                    .then([](atom::ok) {}, [](caf::error&) {});
            }
          },
          [](caf::error&) {});
}

/// Fails every request in flight with the shard's current error.
void fail_pending(remote_ptr self) {
  auto& st = self->state;
  auto pending = std::move(st.pending);
  st.pending.clear();
  auto err = st.unavailable();
  for (auto& [id, fail] : pending)
    fail(err);
}

/// One heartbeat: pings the node; a timeout marks it hung, an answer marks it alive again. The
/// next beat follows the answer (or the timeout), so at most one ping is in flight.
void beat(remote_ptr self) {
  auto& st = self->state;
  if (!st.participant) {
    st.beating = false;
    return;
  }
  auto node = st.participant;
  auto next = [self] {
    self->delayed_send(self, self->state.config.ping_interval, atom::heartbeat_v);
  };
  self->request(node, st.config.ping_timeout, atom::ping_v)
      .then(
          [self, node, next](atom::ok) {
            auto& st = self->state;
            if (st.hung && st.participant == node) {
              st.hung = false;
              st.reason.clear();
              // Commits or aborts that timed out while it hung are settled now.
              resolve_prepared(self);
            }
            next();
          },
          [self, node, next](caf::error& err) {
            auto& st = self->state;
            if (err == caf::sec::request_timeout && st.participant == node && !st.hung) {
              st.hung = true;
              st.reason = "its node did not answer a ping within " +
                          std::to_string(st.config.ping_timeout.count()) +
                          " ms (stopped or stuck?); a write in flight to it may still be applied "
                          "when it resumes";
              fail_pending(self);
              st.reason = "its node did not answer a ping within " +
                          std::to_string(st.config.ping_timeout.count()) +
                          " ms (stopped or stuck?; probing)";
            }
            next();
          });
}

void attached(remote_ptr self, shard_actor remote, node_actor node) {
  auto& st = self->state;
  st.connecting = false;
  st.hung = false;
  st.remote = std::move(remote);
  st.participant = caf::actor_cast<participant_actor>(node);
  st.reason.clear();
  st.backoff = std::chrono::milliseconds{0};
  self->monitor(st.remote);
  resolve_prepared(self);
  if (!st.beating) {
    st.beating = true;
    self->delayed_send(self, st.config.ping_interval, atom::heartbeat_v);
  }
}

void lost(remote_ptr self, const std::string& why) {
  auto& st = self->state;
  st.remote = nullptr;
  st.participant = nullptr;
  st.hung = false;
  st.reason = why + " (reconnecting)";
  fail_pending(self);
  retry_later(self, why);
}

void connect(remote_ptr self) {
  auto& st = self->state;
  if (st.connecting || st.remote) return;
  st.connecting = true;
  auto& sys = self->system();
  auto mm = st.config.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  self->request(mm, std::chrono::seconds(10), caf::connect_atom_v, st.config.where.host,
                st.config.where.port)
      .then(
          [self](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr) {
              retry_later(self, "nothing is published at the node's port");
              return;
            }
            auto& st = self->state;
            auto node = caf::actor_cast<node_actor>(ptr);
            self->request(node, std::chrono::seconds(10), atom::attach_v, st.config.shard,
                          st.config.cluster, st.config.shard_count, true)
                .then(
                    [self, node](caf::actor& a, shard_identity& id) {
                      auto& st = self->state;
                      if (id.profile != st.config.profile) {
                        retry_later(self, "the node has " + describe_profile(id.profile) +
                                              ", the cluster " +
                                              describe_profile(st.config.profile));
                        return;
                      }
                      attached(self, caf::actor_cast<shard_actor>(a), node);
                    },
                    [self](caf::error& err) { retry_later(self, text_of(self->system(), err)); });
          },
          [self](caf::error& err) {
            retry_later(self, "cannot connect: " + text_of(self->system(), err));
          });
}

/// Has the node replace the shard (restore phase 2) and attaches to the shard actor it answers
/// with at once. A node that goes down or hangs meanwhile fails the restore like any request.
caf::typed_response_promise<atom::ok> restore_live(remote_ptr self, std::string dir) {
  auto rp = self->make_response_promise<atom::ok>();
  auto& st = self->state;
  if (!st.participant || st.hung) {
    rp.deliver(st.unavailable());
    return rp;
  }
  if (st.restoring) {
    rp.deliver(make_error(ec::overloaded, "shard " + std::to_string(st.config.shard) +
                                              " is being restored already"));
    return rp;
  }
  auto node = st.participant;
  st.restoring = true;
  self->monitor(node);
  auto id = st.next_request++;
  // Ends the restore; after a failure the shard actor may be gone (the node closed it): it is
  // dropped and attached again (a node refuses a shard that does not serve until a restore
  // succeeds). A node that went down is reconnected to by lost() already.
  auto end = [self, node](const std::string* failure) {
    auto& st = self->state;
    st.restoring = false;
    self->demonitor(node.address());
    if (failure == nullptr || !st.participant) return;
    if (st.remote) self->demonitor(st.remote.address());
    st.remote = nullptr;
    st.backoff = std::chrono::milliseconds{0};
    retry_later(self, "the restore failed: " + *failure);
  };
  st.pending.emplace(id, [self, rp, end](const caf::error& err) mutable {
    auto why = text_of(self->system(), err);
    end(&why);
    rp.deliver(err);
  });
  self->request(node, caf::infinite, atom::restore_live_v, st.config.shard, std::move(dir))
      .then(
          [self, id, rp, end, node](caf::actor& a) mutable {
            if (self->state.pending.erase(id) == 0) return;
            end(nullptr);
            attached(self, caf::actor_cast<shard_actor>(a), caf::actor_cast<node_actor>(node));
            rp.deliver(atom::ok_v);
          },
          [self, id, rp, end](caf::error& err) mutable {
            if (self->state.pending.erase(id) == 0) return;
            auto why = text_of(self->system(), err);
            end(&why);
            auto& st = self->state;
            rp.deliver(is_telos(err)
                           ? std::move(err)
                           : make_error(ec::unavailable,
                                        "shard " + std::to_string(st.config.shard) + " at " +
                                            st.config.where.to_string() + ": " + why));
          });
  return rp;
}

/// Forwards one request to the remote shard and relays the answer, or fails it with
/// ec::unavailable when the node is (or goes) down first.
/// With NeedShard false, only the node must be reachable (the shard may be closed by a restore).
template <class R, bool NeedShard = true, class Dest, class... Ts>
caf::typed_response_promise<R> forward_to(remote_ptr self, const Dest& dest, Ts&&... xs) {
  auto rp = self->template make_response_promise<R>();
  auto& st = self->state;
  if ((NeedShard && !st.remote) || !dest || st.hung) {
    rp.deliver(st.unavailable());
    return rp;
  }
  auto id = st.next_request++;
  st.pending.emplace(id, [rp](const caf::error& err) mutable { rp.deliver(err); });
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
      .then(
          [self, id, rp](R& r) mutable {
            if (self->state.pending.erase(id) > 0) rp.deliver(std::move(r));
          },
          [self, id, rp](caf::error& err) mutable {
            if (self->state.pending.erase(id) == 0) return;
            if (is_telos(err))
              rp.deliver(std::move(err));
            else
              rp.deliver(
                  make_error(ec::unavailable, "shard " + std::to_string(self->state.config.shard) +
                                                  " at " + self->state.config.where.to_string() +
                                                  ": " + self->system().render(err)));
          });
  return rp;
}

template <class R, class... Ts>
caf::typed_response_promise<R> forward(remote_ptr self, Ts&&... xs) {
  auto remote = self->state.remote;
  return forward_to<R>(self, remote, std::forward<Ts>(xs)...);
}

remote_shard_actor::behavior_type remote_shard(remote_ptr self, remote_shard_config config) {
  auto& st = self->state;
  st.config = std::move(config);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.remote && dm.source == st.remote.address() && !st.restoring)
      lost(self, "its node went down (" + self->system().render(dm.reason) + ")");
    else if (st.restoring && st.participant && dm.source == st.participant.address())
      lost(self,
           "its node went down during the restore (" + self->system().render(dm.reason) + ")");
  });
  if (st.config.initial) {
    attached(self, std::move(st.config.initial), std::move(st.config.initial_node));
  } else {
    st.reason = st.config.initial_error.empty() ? "not connected yet" : st.config.initial_error;
    connect(self);
  }
  return {
      [self](atom::write, shard_write& w) {
        return forward<shard_write_result>(self, atom::write_v, std::move(w));
      },
      [self](atom::get, std::vector<uuid>& ids) {
        return forward<std::vector<memory>>(self, atom::get_v, std::move(ids));
      },
      [self](atom::exists, std::vector<uuid>& ids) {
        return forward<flag_list>(self, atom::exists_v, std::move(ids));
      },
      [self](atom::list, std::string& ns, uuid& after, uint64_t limit) {
        return forward<std::vector<memory>>(self, atom::list_v, std::move(ns), after, limit);
      },
      [self](atom::count, std::string& ns) {
        return forward<uint64_t>(self, atom::count_v, std::move(ns));
      },
      [self](atom::list, filter& f, uuid& after, uint64_t limit) {
        return forward<std::vector<memory>>(self, atom::list_v, std::move(f), after, limit);
      },
      [self](atom::count, filter& f) {
        return forward<uint64_t>(self, atom::count_v, std::move(f));
      },
      [self](atom::edges, neighbour_request& req) {
        return forward<std::vector<edge_data>>(self, atom::edges_v, std::move(req));
      },
      [self](atom::traverse, traverse_request& req) {
        return forward<std::vector<graph_path>>(self, atom::traverse_v, std::move(req));
      },
      [self](atom::quads, quad_match_request& req) {
        return forward<quad_match_page>(self, atom::quads_v, std::move(req));
      },
      [self](atom::search, std::string& embedder, embedding& q, uint32_t k, filter& f) {
        return forward<std::vector<hit>>(self, atom::search_v, std::move(embedder), std::move(q), k,
                                         std::move(f));
      },
      [self](atom::score, std::string& embedder, embedding& q, std::vector<uuid>& ids) {
        return forward<std::vector<hit>>(self, atom::score_v, std::move(embedder), std::move(q),
                                         std::move(ids));
      },
      [self](atom::flush) { return forward<atom::ok>(self, atom::flush_v); },
      [self](atom::compact) { return forward<atom::ok>(self, atom::compact_v); },
      // Through the node: it adds its MANIFEST and binding to the shard's copy.
      [self](atom::checkpoint, std::string& dir) {
        auto participant = self->state.participant;
        return forward_to<atom::ok>(self, participant, atom::checkpoint_v, self->state.config.shard,
                                    std::move(dir));
      },
      [self](atom::stats) { return forward<shard_info>(self, atom::stats_v); },
      [self](atom::verify, bool repair) {
        return forward<verify_result>(self, atom::verify_v, repair);
      },
      [self](atom::intents) { return forward<std::vector<shard_intent>>(self, atom::intents_v); },
      // The node owns its shard: a closing coordinator lets go of it and leaves it running.
      [self](atom::close) {
        self->quit();
        return atom::ok_v;
      },
      [self](atom::reconnect) { connect(self); },
      [self](atom::heartbeat) { beat(self); },
      [self](atom::prepare_tx, uuid& tx, shard_write& part) {
        auto participant = self->state.participant;
        return forward_to<atom::ok>(self, participant, atom::prepare_tx_v, self->state.config.shard,
                                    tx, std::move(part));
      },
      [self](atom::commit_tx, uuid& tx) {
        auto participant = self->state.participant;
        return forward_to<shard_write_result>(self, participant, atom::commit_tx_v,
                                              self->state.config.shard, tx);
      },
      [self](atom::abort_tx, uuid& tx) {
        auto participant = self->state.participant;
        return forward_to<atom::ok>(self, participant, atom::abort_tx_v, self->state.config.shard,
                                    tx);
      },
      [self](atom::restore_check, std::string& dir) {
        auto participant = self->state.participant;
        return forward_to<atom::ok, false>(self, participant, atom::restore_check_v,
                                           self->state.config.shard, std::move(dir));
      },
      [self](atom::restore_live, std::string& dir) { return restore_live(self, std::move(dir)); },
  };
}

} // namespace

shard_actor spawn_remote_shard(caf::actor_system& sys, remote_shard_config config) {
  return caf::actor_cast<shard_actor>(sys.spawn(remote_shard, std::move(config)));
}

} // namespace telos
