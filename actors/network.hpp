// The network of an actor system (owns): plain TCP or TLS through caf_openssl, endpoints,
// publishing a node actor and reaching one, and the node actor a telosd coordinator publishes. The
// shard node is in shard_node.hpp, the coordinator's stand-in for a remote shard in
// remote_shard.hpp.
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/error.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

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

/// The node actor of a telosd coordinator: hands the coordinator to clients.
node_actor spawn_coordinator_node(caf::actor_system& sys, coordinator_actor coordinator,
                                  cluster_identity identity);

} // namespace telos
