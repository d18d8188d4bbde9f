// Distribution over CAF's io middleman: the network configuration of an actor system (plain TCP
// or TLS through caf_openssl), publishing and reaching a node actor, the node actors a telosd
// process publishes (shard host, coordinator), the persisted cluster map, and the remote shard:
// the coordinator's stand-in for a shard on another node, which fails requests fast while the
// node is gone and reconnects on its own. See docs/CLUSTER.md.
#pragma once

#include "telos/actors/engine.hpp"
#include "telos/actors/transactions.hpp"
#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/shard/shard_storage.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace telos {

/// Certificates for TLS between nodes and clients. All empty = plain TCP. With a certificate,
/// key and CA file, every connection is mutually authenticated: a peer without a certificate
/// signed by the CA gets nothing (the TLS handshake fails before any message is read).
struct tls_options {
  /// PEM certificate of this process.
  std::string certificate;
  /// PEM private key of the certificate.
  std::string key;
  /// PEM certificate of the CA that signed every peer's certificate.
  std::string cafile;

  bool enabled() const { return !certificate.empty() || !key.empty() || !cafile.empty(); }
  /// ec::invalid_argument naming what is missing or unreadable.
  expected<void> check() const;
};

/// "host:port" split; ec::invalid_argument naming the text when malformed.
struct endpoint {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};
expected<endpoint> parse_endpoint(const std::string& text);

/// Loads the io middleman (and caf_openssl with its certificate settings when TLS is enabled)
/// into a config, before the actor system starts.
void configure_network(caf::actor_system_config& cfg, const tls_options& tls);

/// Publishes `node` at host:port (port 0 = any free port) over TLS when enabled; the bound port.
expected<uint16_t> publish_node(caf::actor_system& sys, const node_actor& node,
                                const endpoint& where, bool tls);

/// Connects to the node actor published at `where` (blocking).
expected<node_actor> connect_node(caf::actor_system& sys, const endpoint& where, bool tls);

// -- shard nodes ----------------------------------------------------------------------------------

/// A node's binding of its data directory to one cluster, in <data-dir>/CLUSTER.
struct node_binding {
  uuid cluster;
  uint32_t shard_count = 0;
};
expected<std::optional<node_binding>> read_node_binding(const std::string& data_dir);
expected<void> write_node_binding(const std::string& data_dir, const node_binding& b);

struct shard_host {
  /// Owned by the caller; a live restore, and a reopen after a write error, replace what it holds
  /// (close_shard, then open_shard).
  opened_shard* storage = nullptr;
  /// Null while the shard is being restored or reopened, or after a restore or reopen that
  /// failed. The node spawns it (and `engine`) when it starts.
  shard_actor actor;
  /// The engine coordinator over this shard alone (spawn_engine): closing it stops the shard's
  /// actors (shard, backend, indexes).
  coordinator_actor engine;
};

struct shard_node_config {
  std::string data_dir;
  std::string backend;
  telos::profile profile;
  uint32_t shard_count = 0;
  /// How the node (re)opens a shard after a live restore or a write error (`shard` is set per
  /// shard).
  shard_open_options open;
  engine_options engine;
  /// A shard whose store asked to be reopened (storage::asks_for_reopen) probes its disk at most
  /// this long apart until the disk takes writes again, then is reopened.
  std::chrono::milliseconds max_probe_wait{1000};
};

/// The node actor of a telosd shard host: spawns the actors of the shards it hosts (opened, their
/// `actor` and `engine` null), answers attach for them, takes part in two-phase commit, writes
/// checkpoints and restores them live. When a shard's store stops writes after an error it
/// cannot recover from while open (RocksDB's fatal background error, LMDB's MDB_PANIC), the node
/// keeps serving the shard's reads, probes the disk (a small file written and fsynced beside the
/// store) and, once that succeeds, closes and reopens the shard by itself.
node_actor spawn_shard_node(caf::actor_system& sys, shard_node_config config,
                            std::vector<shard_host> shards);

/// Stops a shard node: waits for a restore in progress, closes the actors of every hosted shard
/// and lets the node quit. Afterwards the caller closes the storage (close_shard).
expected<void> stop_shard_node(caf::actor_system& sys, const node_actor& node);

// -- restore --------------------------------------------------------------------------------------

/// Checks that `dir` is a checkpoint of a store like `m` (backend, shard count, profile) holding
/// `shards` (DIR/shard-<i>); ec::invalid_argument or ec::not_found naming what is wrong.
expected<void> check_checkpoint(const std::string& dir, const store_manifest& m,
                                const std::vector<uint32_t>& shards);

/// Replaces shard `shard` of the store in `data_dir` with its copy in checkpoint `dir`: its
/// backend directory is swapped, its index snapshots (rebuilt at the next open) and staged
/// two-phase-commit parts dropped. The shard must be closed.
expected<void> replace_shard_directory(const std::string& data_dir, const std::string& dir,
                                       uint32_t shard);

/// The node actor of a telosd coordinator: hands the coordinator to clients.
node_actor spawn_coordinator_node(caf::actor_system& sys, coordinator_actor coordinator,
                                  cluster_identity identity);

// -- coordinator nodes ----------------------------------------------------------------------------

/// The coordinator's persisted shard map, <data-dir>/CLUSTER (text, one fact a line).
struct cluster_map {
  uuid cluster;
  std::string backend;
  /// Empty name until a shard told it.
  telos::profile profile;
  struct entry {
    endpoint where;
    /// Attached at least once: its node's data directory is bound to this cluster.
    bool bound = false;
  };
  std::vector<entry> shards;
};
expected<std::optional<cluster_map>> read_cluster_map(const std::string& data_dir);
expected<void> write_cluster_map(const std::string& data_dir, const cluster_map& m);

struct attached_shard {
  node_actor node;
  shard_actor shard;
  shard_identity identity;
};

/// Attaches to shard `shard` at `where` (blocking), checking its identity against the map.
expected<attached_shard> attach_shard(caf::actor_system& sys, const cluster_map& map,
                                      uint32_t shard, bool tls);

struct remote_shard_config {
  uint32_t shard = 0;
  uint32_t shard_count = 0;
  uuid cluster;
  endpoint where;
  bool tls = false;
  telos::profile profile;
  /// Already attached (may be null: the remote shard connects on its own).
  shard_actor initial;
  node_actor initial_node;
  /// Resolves the transactions a participant still holds prepared, whenever it attaches.
  std::shared_ptr<decision_log> decisions;
  /// Why `initial` is null, for the first errors.
  std::string initial_error;
  /// Reconnect delays double from min to max.
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  /// Heartbeat: a ping to the node every interval; a node that leaves one unanswered for
  /// ping_timeout is hung (stopped, stuck) and treated as unavailable until it answers again.
  std::chrono::milliseconds ping_interval{1000};
  std::chrono::milliseconds ping_timeout{3000};
};

/// A shard on another node, as the coordinator sees it: forwards every request, fails the ones in
/// flight with ec::unavailable naming the shard as soon as the node goes down, answers new ones
/// with that error at once while it is gone, and reconnects with backoff. `close` does not close
/// the remote shard (its node owns it). A heartbeat pings the node: a node that does not answer
/// within ping_timeout (SIGSTOP, a stuck machine) fails the requests in flight and new ones at once
/// like a dead one, until it answers a ping again. The actor also takes the transaction_shard_actor
/// messages (two-phase commit), forwarded to the node's participant.
shard_actor spawn_remote_shard(caf::actor_system& sys, remote_shard_config config);

} // namespace telos
