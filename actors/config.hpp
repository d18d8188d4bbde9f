// Actor system configuration for applications that host Telos actors.
#pragma once

#include <caf/actor_system_config.hpp>

namespace telos {

/// Registers Telos' message types and its error category renderer with a CAF config. Call once
/// per config before the actor system starts.
void register_telos(caf::actor_system_config& cfg);

} // namespace telos
