// The CAF type-ID block of Telos: every atom and message type, registered with
// cfg.add_message_types<caf::id_block::telos>().
#pragma once

#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"

#include <caf/type_id.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(telos, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(telos, (telos::uuid))
CAF_ADD_TYPE_ID(telos, (telos::write_batch))
CAF_ADD_TYPE_ID(telos, (telos::write_batch::op))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::uuid>))

CAF_END_TYPE_ID_BLOCK(telos)
