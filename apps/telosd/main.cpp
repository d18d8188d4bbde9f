// telosd: a Telos node. Either hosts shards of a store and publishes them to a coordinator, or
// runs a coordinator over shards on other nodes and publishes it to clients (docs/CLUSTER.md), or
// serves collections of its own over HTTP in Qdrant's dialect (--http, docs/HTTP.md); a
// coordinator with --http serves the cluster's store as one collection there too.
#include "telos/actors/cluster.hpp"
#include "telos/actors/config.hpp"
#include "telos/actors/coordinator.hpp"
#include "telos/actors/engine.hpp"
#include "telos/actors/test_hooks.hpp"
#include "telos/messages/json_value.hpp"
#include "telos/server/collections.hpp"
#include "telos/server/http_metrics.hpp"
#include "telos/server/http_server.hpp"
#include "telos/server/qdrant_api.hpp"
#include "telos/shard/open_shard.hpp"
#include "telos/storage/huge_pages.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using namespace telos;

namespace {

struct options {
  std::string listen = "127.0.0.1:0";
  std::string data_dir = "telos-data";
  std::string backend;
  std::vector<uint32_t> shard_ids;
  uint32_t shard_count = 0;
  std::string profile;
  bool sync = true;
  bool insecure = false;
  bool coordinator = false;
  std::string shards;
  double wait_shards = 30;
  double ping_interval = 1;
  double ping_timeout = 3;
  std::string restore_from;
  size_t compact_decisions = 1024;
  tls_options tls;
  std::string http;
  std::string api_key;
  std::string http_collection = "telos";
  double max_body_mb = 32;
  double http_timeout = 30;
  size_t http_threads = 4;
};

int fail(const std::string& message) {
  std::cerr << "telosd: " << message << '\n';
  std::cout << dump(json_value{{"error", message}}) << std::endl;
  return 1;
}

int fail(const caf::error& err) {
  return fail(describe(err));
}

/// Blocks SIGINT and SIGTERM in every thread (call before the actor system starts its threads),
/// so that wait_for_stop() receives them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void wait_for_stop(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
}

void announce(json_value line) {
  std::cout << dump(line) << std::endl;
}

expected<telos::profile> load_profile(const std::string& arg) {
  return telos::profile::load(arg.empty() ? "teleo13" : arg);
}

// -- shard host -----------------------------------------------------------------------------------

/// --restore-from DIR: replaces the hosted shards of the data dir with their copies in DIR (a
/// checkpoint written by `telos --connect … checkpoint DIR` on this machine) before they open.
/// Their index snapshots and staged two-phase-commit parts go too (both describe the replaced
/// data). An empty string when done, else what is wrong.
std::string restore_shards(const options& o, const store_manifest& m, bool restorable) {
  if (!restorable)
    return "--restore-from needs an existing data dir of a persistent backend (the shards to "
           "replace); '" +
           o.data_dir + "' holds none";
  if (auto ok = check_checkpoint(o.restore_from, m, o.shard_ids); !ok)
    return describe(ok.error()) + " (data dir '" + o.data_dir + "')";
  for (uint32_t id : o.shard_ids) {
    if (auto ok = replace_shard_directory(o.data_dir, o.restore_from, id); !ok)
      return describe(ok.error());
    std::cerr << "telosd: shard " << id << " restored from '" << o.restore_from << "'\n";
  }
  return {};
}

int run_shard_host(const options& o, const endpoint& where) {
  std::set<uint32_t> unique(o.shard_ids.begin(), o.shard_ids.end());
  if (unique.size() != o.shard_ids.size()) return fail("a --shard-id is given twice");
  auto manifest = read_manifest(o.data_dir);
  if (!manifest) return fail(manifest.error());
  store_manifest m;
  bool exists = manifest->has_value();
  if (exists) {
    m = **manifest;
    if (!o.backend.empty() && o.backend != storage::to_string(m.backend))
      return fail("data dir '" + o.data_dir + "' holds a " + storage::to_string(m.backend) +
                  " store, --backend says " + o.backend);
    if (o.shard_count != 0 && o.shard_count != m.shards)
      return fail("data dir '" + o.data_dir + "' holds shards of a store of " +
                  std::to_string(m.shards) + " shards, --shard-count says " +
                  std::to_string(o.shard_count));
    if (!o.profile.empty()) {
      auto p = load_profile(o.profile);
      if (!p) return fail(p.error());
      if (*p != m.profile)
        return fail("data dir '" + o.data_dir + "' holds " + describe_profile(m.profile) +
                    ", --profile gives " + describe_profile(*p));
    }
  } else {
    if (o.shard_count == 0)
      return fail("data dir '" + o.data_dir +
                  "' holds no store yet: give --shard-count (the number of shards of the whole "
                  "cluster) to create one");
    auto kind = storage::parse_backend_kind(o.backend.empty() ? "rocksdb" : o.backend);
    if (!kind) return fail(kind.error());
    auto p = load_profile(o.profile);
    if (!p) return fail(p.error());
    m.backend = *kind;
    m.profile = *p;
    m.shards = o.shard_count;
  }
  bool persistent = m.backend != storage::backend_kind::memory;
  std::vector<uint32_t> present;
  for (uint32_t id : o.shard_ids) {
    if (id >= m.shards)
      return fail("--shard-id " + std::to_string(id) + " is outside a store of " +
                  std::to_string(m.shards) + " shards (ids 0 to " + std::to_string(m.shards - 1) +
                  ")");
  }
  if (exists && persistent) {
    for (uint32_t id = 0; id < m.shards; ++id)
      if (fs::exists(backend_directory(o.data_dir, id))) present.push_back(id);
    for (uint32_t id : o.shard_ids)
      if (std::find(present.begin(), present.end(), id) == present.end()) {
        std::string held;
        for (auto h : present)
          held += (held.empty() ? "" : ", ") + std::to_string(h);
        return fail("data dir '" + o.data_dir + "' holds shard(s) " + held + ", not shard " +
                    std::to_string(id) + " (wrong --shard-id or --data-dir?)");
      }
  }
  if (!o.restore_from.empty())
    if (auto err = restore_shards(o, m, exists && persistent); !err.empty()) return fail(err);
  if (persistent && !exists) {
    std::error_code ec;
    fs::create_directories(o.data_dir, ec);
    if (ec) return fail("cannot create '" + o.data_dir + "': " + ec.message());
  }
  std::vector<opened_shard> shards;
  // Reserved: the node actor holds pointers to the elements (a live restore replaces them).
  shards.reserve(o.shard_ids.size());
  auto close_all = [&] {
    for (auto& s : shards)
      close_shard(s);
  };
  shard_open_options so;
  so.root = o.data_dir;
  so.shard_count = m.shards;
  so.backend = m.backend;
  so.backend_options.create_if_missing = !exists;
  so.backend_options.sync_by_default = o.sync;
  so.profile = m.profile;
  so.extra_keyspaces = m.extra_keyspaces;
  so.graph = true; // as store::open does: edges, quads and index rows in the shard
  for (uint32_t id : o.shard_ids) {
    so.shard = id;
    auto s = open_shard(so);
    if (!s) {
      close_all();
      return fail("shard " + std::to_string(id) + " in '" + o.data_dir +
                  "': " + describe(s.error()));
    }
    shards.push_back(std::move(*s));
  }
  if (persistent && !exists)
    if (auto ok = write_manifest(o.data_dir, m); !ok) {
      close_all();
      return fail(ok.error());
    }
  auto stop = block_stop_signals();
  caf::actor_system_config cfg;
  register_telos(cfg);
  configure_network(cfg, o.tls);
  {
    caf::actor_system sys{cfg};
    shard_node_config nc;
    nc.data_dir = o.data_dir;
    nc.backend = storage::to_string(m.backend);
    nc.profile = m.profile;
    nc.shard_count = m.shards;
    nc.open = so;
    nc.engine.sync_writes = o.sync;
    // The node spawns one engine per shard, never published: closing its coordinator stops that
    // shard's actors, so a live restore (or a reopen after a write error) replaces one shard
    // while the others serve.
    std::vector<shard_host> hosts;
    for (auto& s : shards)
      hosts.push_back({&s, {}, {}});
    auto node = spawn_shard_node(sys, std::move(nc), hosts);
    auto port = publish_node(sys, node, where, o.tls.enabled());
    if (!port) {
      (void)stop_shard_node(sys, node);
      close_all();
      return fail(port.error());
    }
    announce({{"listening", where.host + ":" + std::to_string(*port)},
              {"role", "shard"},
              {"shards", o.shard_ids},
              {"shard_count", m.shards},
              {"backend", storage::to_string(m.backend)},
              {"tls", o.tls.enabled()}});
    wait_for_stop(stop);
    if (auto ok = stop_shard_node(sys, node); !ok)
      std::cerr << "telosd: closing: " << describe(ok.error()) << '\n';
    // Every actor of the shards has stopped: the storage closes now, before the actor system.
    for (auto& s : shards)
      if (auto ok = close_shard(s); !ok)
        std::cerr << "telosd: closing shard " << s.id << ": " << describe(ok.error()) << '\n';
    // CAF 0.17 can hang for good in ~actor_system joining the thread of a detached actor (here
    // the backend actors; actor-framework issue #1196, fixed in 0.18). Everything is closed and
    // durable at this point, so the process ends without that wait.
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(0);
  }
}

// -- HTTP port ------------------------------------------------------------------------------------

/// The address of --http, refused off loopback unless clients are authenticated (TLS with client
/// certificates, or TLS and an API key) or --insecure insists: plain HTTP would carry the key in
/// the clear.
expected<endpoint> http_address(const options& o) {
  auto where = parse_endpoint(o.http);
  if (!where) return make_error(ec::invalid_argument, "--http: " + describe(where.error()));
  bool loopback = where->host == "127.0.0.1" || where->host == "localhost" || where->host == "::1";
  bool authenticated = o.tls.enabled() && (!o.tls.cafile.empty() || !o.api_key.empty());
  if (!loopback && !authenticated && !o.insecure)
    return make_error(ec::invalid_argument,
                      "--http " + where->to_string() +
                          " would serve anyone who reaches the port: give --tls-cert and "
                          "--tls-key with --api-key or --tls-ca (docs/HTTP.md, \"TLS\"), or "
                          "--insecure to allow it");
  return where;
}

/// What serves the Qdrant dialect: the collections, the metrics, the API over them, the server.
struct http_front {
  std::unique_ptr<server::collection_registry> registry;
  server::http_metrics metrics;
  std::unique_ptr<server::qdrant_api> api;
  std::unique_ptr<server::http_server> server;

  /// Starts serving `registry` at `where`.
  expected<void> start(const options& o, const endpoint& where) {
    api = std::make_unique<server::qdrant_api>(*registry, metrics);
    server::http_options ho;
    ho.host = where.host;
    ho.port = where.port;
    ho.max_body_bytes = static_cast<size_t>(o.max_body_mb * 1024 * 1024);
    ho.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.http_timeout * 1000));
    ho.worker_threads = o.http_threads;
    ho.api_key = o.api_key;
    ho.tls = o.tls;
    auto* a = api.get();
    auto srv = server::http_server::start(
        ho, [a](const server::http_request& r) { return a->handle(r); }, metrics);
    if (!srv) return std::move(srv.error());
    server = std::move(*srv);
    return {};
  }

  /// Stops the server, then closes (or lets go of) every store.
  void stop() {
    if (server) server->stop();
    if (registry) registry->close_all();
  }
};

// -- coordinator ----------------------------------------------------------------------------------

int run_coordinator(const options& o, const endpoint& where) {
  std::vector<endpoint> addresses;
  std::string rest = o.shards;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    auto e = parse_endpoint(item);
    if (!e) return fail("--shards: " + describe(e.error()));
    addresses.push_back(*e);
  }
  if (addresses.empty()) return fail("--coordinator needs --shards HOST:PORT,… (shard 0 first)");
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec) return fail("cannot create '" + o.data_dir + "': " + ec.message());
  auto found = read_cluster_map(o.data_dir);
  if (!found) return fail(found.error());
  cluster_map map;
  if (*found) {
    map = std::move(**found);
    if (map.shards.size() != addresses.size())
      return fail("the cluster in '" + o.data_dir + "' has " + std::to_string(map.shards.size()) +
                  " shards, --shards names " + std::to_string(addresses.size()) +
                  " (the shard count is fixed for a cluster's life)");
    for (size_t i = 0; i < addresses.size(); ++i)
      if (map.shards[i].where.to_string() != addresses[i].to_string()) {
        std::cerr << "telosd: shard " << i << " moved from " << map.shards[i].where.to_string()
                  << " to " << addresses[i].to_string() << '\n';
        map.shards[i].where = addresses[i];
      }
  } else {
    map.cluster = uuid::random();
    for (auto& a : addresses)
      map.shards.push_back({a, false});
  }
  if (auto ok = write_cluster_map(o.data_dir, map); !ok) return fail(ok.error());
  auto stop = block_stop_signals();
  caf::actor_system_config cfg;
  register_telos(cfg);
  configure_network(cfg, o.tls);
  caf::actor_system sys{cfg};
  // Attach to every shard once (bounded retries while a node is still starting): a node with the
  // wrong shard, count, data dir or profile is refused here, before any client is served.
  auto decisions =
      decision_log::open(o.data_dir, static_cast<uint32_t>(map.shards.size()), o.compact_decisions);
  if (!decisions) return fail(decisions.error());
  std::vector<attached_shard> attached(map.shards.size());
  std::vector<std::string> why(map.shards.size());
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(o.wait_shards * 1000));
  auto delay = std::chrono::milliseconds(20);
  for (;;) {
    bool missing = false;
    for (uint32_t i = 0; i < map.shards.size(); ++i) {
      if (attached[i].shard) continue;
      auto r = attach_shard(sys, map, i, o.tls.enabled());
      if (!r) {
        if (code_of(r.error()) != ec::unavailable)
          return fail("refusing shard " + std::to_string(i) + " at " +
                      map.shards[i].where.to_string() + ": " + describe(r.error()));
        why[i] = describe(r.error());
        missing = true;
        continue;
      }
      attached[i] = std::move(*r);
      map.shards[i].bound = true;
      if (map.profile.embedders.empty()) map.profile = attached[i].identity.profile;
      if (map.backend.empty()) map.backend = attached[i].identity.backend;
    }
    if (!missing || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
  }
  if (auto ok = write_cluster_map(o.data_dir, map); !ok) return fail(ok.error());
  for (uint32_t i = 0; i < map.shards.size(); ++i)
    if (!attached[i].shard) {
      if (map.profile.embedders.empty())
        return fail("shard " + std::to_string(i) + ": " + why[i] +
                    " (a new cluster needs every shard once, to learn the profile)");
      std::cerr << "telosd: shard " << i
                << " not reachable yet, retrying in the background: " << why[i] << '\n';
    }
  // Writes the log off the scheduler's threads; the transaction front closes it.
  auto decision_writer = spawn_decision_writer(sys, *decisions);
  coordinator_config cc;
  cc.profile = map.profile;
  for (uint32_t i = 0; i < map.shards.size(); ++i) {
    remote_shard_config rc;
    rc.shard = i;
    rc.shard_count = static_cast<uint32_t>(map.shards.size());
    rc.cluster = map.cluster;
    rc.where = map.shards[i].where;
    rc.tls = o.tls.enabled();
    rc.profile = map.profile;
    rc.initial = attached[i].shard;
    rc.initial_node = attached[i].node;
    rc.decisions = *decisions;
    rc.decision_writer = decision_writer;
    rc.initial_error = why[i];
    rc.ping_interval = std::chrono::milliseconds(static_cast<int64_t>(o.ping_interval * 1000));
    rc.ping_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.ping_timeout * 1000));
    cc.shards.push_back(spawn_remote_shard(sys, std::move(rc)));
  }
  std::vector<transaction_shard_actor> participants;
  for (auto& shard : cc.shards)
    participants.push_back(caf::actor_cast<transaction_shard_actor>(shard));
  auto engine_coordinator = spawn_coordinator(sys, cc);
  // Clients reach the coordinator through the transaction front: batches spanning shards commit
  // with two-phase commit, everything else goes to the coordinator as it is.
  auto coordinator = spawn_transaction_front(sys, engine_coordinator, std::move(participants),
                                             map.profile, cc.limits, *decisions, decision_writer);
  cluster_identity identity;
  identity.cluster = map.cluster;
  identity.shards = static_cast<uint32_t>(map.shards.size());
  identity.backend = map.backend;
  identity.profile = map.profile;
  auto node = spawn_coordinator_node(sys, coordinator, identity);
  auto port = publish_node(sys, node, where, o.tls.enabled());
  caf::scoped_actor self{sys};
  auto shutdown = [&] {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    self->request(coordinator, caf::infinite, atom::close_v)
        .receive([](atom::ok) {}, [](caf::error&) {});
  };
  if (!port) {
    shutdown();
    return fail(port.error());
  }
  json_value line = {{"listening", where.host + ":" + std::to_string(*port)},
                     {"role", "coordinator"},
                     {"cluster", map.cluster.to_string()},
                     {"shards", map.shards.size()},
                     {"tls", o.tls.enabled()}};
  // --http: the cluster's store as one collection, through a facade over the transaction front
  // (every request takes the path a remote client's does, two-phase commit included).
  http_front front;
  if (!o.http.empty()) {
    auto http_where = http_address(o);
    if (!http_where) {
      shutdown();
      return fail(http_where.error());
    }
    server::collection_options co;
    co.data_dir = o.data_dir;
    front.registry = std::make_unique<server::collection_registry>(sys, co);
    front.registry->serve_fixed(o.http_collection,
                                server::collection_schema::from_profile(map.profile),
                                store::attach(sys, caf::actor_cast<caf::actor>(coordinator),
                                              identity, "this node's coordinator"));
    if (auto ok = front.start(o, *http_where); !ok) {
      front.stop();
      shutdown();
      return fail(ok.error());
    }
    line["http"] = http_where->host + ":" + std::to_string(front.server->port());
    line["collection"] = o.http_collection;
  }
  announce(line);
  wait_for_stop(stop);
  front.stop();
  shutdown();
  return 0;
}

// -- HTTP (Qdrant dialect) ------------------------------------------------------------------------

int run_http(const options& o) {
  auto where = http_address(o);
  if (!where) return fail(where.error());
  auto backend = storage::backend_kind::rocksdb;
  if (!o.backend.empty()) {
    auto b = storage::parse_backend_kind(o.backend);
    if (!b) return fail("--backend: unknown backend '" + o.backend + "'");
    backend = *b;
  }
  auto stop = block_stop_signals();
  caf::actor_system_config cfg;
  register_telos(cfg);
  caf::actor_system sys{cfg};
  server::collection_options co;
  co.data_dir = o.data_dir;
  co.backend = backend;
  co.sync_writes = o.sync;
  http_front front;
  front.registry = std::make_unique<server::collection_registry>(sys, co);
  auto opened = front.registry->open_existing();
  if (!opened) return fail(opened.error());
  if (auto ok = front.start(o, *where); !ok) {
    front.stop();
    return fail(ok.error());
  }
  announce({{"listening", where->host + ":" + std::to_string(front.server->port())},
            {"role", "http"},
            {"api", "qdrant"},
            {"collections", *opened},
            {"backend", storage::to_string(backend)},
            {"api_key", !o.api_key.empty()},
            {"tls", o.tls.enabled()}});
  wait_for_stop(stop);
  front.stop();
  // As for the shard host: every store is closed and durable; skip CAF 0.17's join of detached
  // actor threads in ~actor_system (actor-framework issue #1196).
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(0);
}

} // namespace

int main(int argc, char** argv) {
  // First, before any thread: glibc's heap on huge pages (storage/huge_pages.hpp).
  telos::storage::restart_with_huge_pages(argv);
  // Tests only: disk faults switched on and off through a file (docs/CLUSTER.md).
  telos::detail::test_faults_from_environment(argv);
  CLI::App app{"telosd: a Telos node hosting shards (--shard-id) or a coordinator (--coordinator)"};
  options o;
  app.add_option("--listen", o.listen, "HOST:PORT to publish on (port 0 = any free port)")
      ->capture_default_str();
  app.add_option("--data-dir", o.data_dir,
                 "Shard host: the store directory of its shards; coordinator: the cluster map")
      ->capture_default_str();
  app.add_option("--backend", o.backend, "rocksdb | lmdb | memory (new data dir; default rocksdb)")
      ->check(CLI::IsMember({"rocksdb", "lmdb", "memory"}));
  app.add_option("--shard-id", o.shard_ids, "A shard this node hosts (repeat for several)");
  app.add_option("--shard-count", o.shard_count,
                 "Shards of the whole cluster (needed to create a data dir)")
      ->check(CLI::Range(1, 256));
  app.add_option("--profile", o.profile, "teleo13, or a profile JSON file (new data dir)");
  app.add_flag("--sync,!--no-sync", o.sync,
               "fsync every acknowledged write before acknowledging it (the default; --no-sync: "
               "acknowledge once the write is in the OS page cache)");
  app.add_flag("--coordinator", o.coordinator, "Run a coordinator over remote shards");
  app.add_option("--shards", o.shards, "Coordinator: HOST:PORT of shard 0, 1, … comma-separated");
  app.add_option("--wait-shards", o.wait_shards,
                 "Coordinator: seconds to wait for every shard at start")
      ->capture_default_str();
  app.add_option("--ping-interval", o.ping_interval,
                 "Coordinator: seconds between heartbeat pings to each shard node")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--ping-timeout", o.ping_timeout,
                 "Coordinator: a shard node that leaves a ping unanswered this long (seconds) is "
                 "treated as down until it answers again")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option(
         "--compact-decisions", o.compact_decisions,
         "Coordinator: rewrite the decision log (DECISIONS) once this many of its lines are "
         "of batches every shard applied")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));
  app.add_option("--restore-from", o.restore_from,
                 "Shard host: replace the hosted shards with their copies in this checkpoint "
                 "directory (written by `telos --connect … checkpoint DIR`) before serving");
  app.add_flag("--insecure", o.insecure,
               "Allow plain TCP on an address other than loopback (anyone who reaches the port "
               "is served)");
  app.add_option("--tls-cert", o.tls.certificate,
                 "PEM certificate of this node (TLS; with --http: the port serves HTTPS)");
  app.add_option("--tls-key", o.tls.key, "PEM key of the certificate");
  app.add_option("--tls-ca", o.tls.cafile,
                 "PEM certificate of the CA every peer must be signed by (with --http: optional; "
                 "clients must then present a certificate signed by it)");
  app.add_option("--http", o.http,
                 "Serve collections of this node over HTTP in Qdrant's dialect at HOST:PORT "
                 "(port 0 = any free port); --data-dir holds one store per collection");
  app.add_option("--http-collection", o.http_collection,
                 "--coordinator --http: the name of the one collection that is the cluster's "
                 "store")
      ->capture_default_str();
  app.add_option("--api-key", o.api_key,
                 "--http: every request but /healthz, /livez, /readyz must carry this key in the "
                 "api-key header (or Authorization: Bearer)");
  app.add_option("--max-body-mb", o.max_body_mb, "--http: largest request body (MiB); 413 beyond")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4096.0));
  app.add_option("--http-timeout", o.http_timeout,
                 "--http: seconds a client has to send a whole request or take an answer")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--http-threads", o.http_threads,
                 "--http: worker threads that run requests (they may wait on the store)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{256}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!o.http.empty() && !o.coordinator) {
    if (!o.shard_ids.empty() || !o.shards.empty())
      return fail("--http serves the collections of a single node, or a cluster's store with "
                  "--coordinator: drop --shard-id / --shards");
    return run_http(o);
  }
  auto where = parse_endpoint(o.listen);
  if (!where) return fail("--listen: " + describe(where.error()));
  if (auto ok = o.tls.check(); !ok) return fail(ok.error());
  // Without TLS every peer that reaches the port is served (and CAF 0.17 believes the length
  // field of a message before reading it), so plain TCP stays on loopback unless insisted on.
  bool loopback = where->host == "127.0.0.1" || where->host == "localhost" || where->host == "::1";
  if (!loopback && !o.tls.enabled() && !o.insecure)
    return fail("--listen " + where->to_string() +
                " without TLS would serve anyone who reaches the port: give --tls-cert, "
                "--tls-key and --tls-ca (docs/CLUSTER.md), or --insecure");
  if (o.coordinator) {
    if (!o.shard_ids.empty()) return fail("--coordinator hosts no shards: drop --shard-id");
    return run_coordinator(o, *where);
  }
  if (!o.shards.empty()) return fail("--shards is for --coordinator");
  if (o.shard_ids.empty())
    return fail("give --shard-id N (a shard host) or --coordinator (see telosd --help)");
  return run_shard_host(o, *where);
}
