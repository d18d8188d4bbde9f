// The network of an actor system: TCP/TLS setup, endpoints, publish/connect, the coordinator's
// node actor (see network.hpp).
#include "telos/actors/network.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace telos {

namespace detail {
void keep_openssl_error_queue_guard(); // openssl_error_queue.cpp
} // namespace detail

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

// -- the coordinator's node actor -----------------------------------------------------------------

namespace {

using attach_reply = caf::result<caf::actor, shard_identity>;

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

node_actor spawn_coordinator_node(caf::actor_system& sys, coordinator_actor coordinator,
                                  cluster_identity identity) {
  return sys.spawn(coordinator_node, std::move(coordinator), std::move(identity));
}

} // namespace telos
