// Registration of Telos' CAF types and error rendering.
#include "telos/actors/config.hpp"

#include "telos/messages/error.hpp"
#include "telos/messages/type_ids.hpp"

namespace telos {

void register_telos(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::telos>();
  cfg.add_error_category(caf::atom("telos"),
                         [](uint8_t code, caf::atom_value category, const caf::message& context) {
                           return describe(caf::error{code, category, context});
                         });
}

} // namespace telos
