// The CAF type-ID block of Telos: every atom and message type, registered with
// cfg.add_message_types<caf::id_block::telos>().
#pragma once

#include "telos/messages/actor_interfaces.hpp"
#include "telos/messages/graph.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/messages/uuid.hpp"
#include "telos/messages/write_batch.hpp"

#include <caf/type_id.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(telos, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(telos, (telos::uuid))
CAF_ADD_TYPE_ID(telos, (telos::write_batch))
CAF_ADD_TYPE_ID(telos, (telos::write_batch::op))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::uuid>))

// The data model (profile.hpp, memory.hpp, search.hpp).
CAF_ADD_TYPE_ID(telos, (telos::embedder_kind))
CAF_ADD_TYPE_ID(telos, (telos::metric))
CAF_ADD_TYPE_ID(telos, (telos::embedder))
CAF_ADD_TYPE_ID(telos, (telos::profile))
CAF_ADD_TYPE_ID(telos, (telos::embedding))
CAF_ADD_TYPE_ID(telos, (telos::memory))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::memory>))
CAF_ADD_TYPE_ID(telos, (telos::limits))
CAF_ADD_TYPE_ID(telos, (telos::attribute_predicate))
CAF_ADD_TYPE_ID(telos, (telos::filter))
CAF_ADD_TYPE_ID(telos, (telos::hit))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::hit>))
CAF_ADD_TYPE_ID(telos, (telos::fusion))
CAF_ADD_TYPE_ID(telos, (telos::search_request))
CAF_ADD_TYPE_ID(telos, (telos::fused_search_request))
CAF_ADD_TYPE_ID(telos, (telos::search_result))

// The engine's actor payloads (actor_interfaces.hpp).
CAF_ADD_TYPE_ID(telos, (telos::shard_write))
CAF_ADD_TYPE_ID(telos, (telos::shard_write_result))
CAF_ADD_TYPE_ID(telos, (telos::index_update))
CAF_ADD_TYPE_ID(telos, (telos::vector_chunk))
CAF_ADD_TYPE_ID(telos, (telos::list_page))
CAF_ADD_TYPE_ID(telos, (telos::record_fact))
CAF_ADD_TYPE_ID(telos, (telos::storage_check))
CAF_ADD_TYPE_ID(telos, (telos::index_check))
CAF_ADD_TYPE_ID(telos, (telos::index_info))
CAF_ADD_TYPE_ID(telos, (telos::backend_info))
CAF_ADD_TYPE_ID(telos, (telos::shard_info))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::shard_info>))
CAF_ADD_TYPE_ID(telos, (telos::verify_result))
CAF_ADD_TYPE_ID(telos, (telos::flag_list))

// Graph (issue 5).
CAF_ADD_TYPE_ID(telos, (telos::edge_data))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::edge_data>))
CAF_ADD_TYPE_ID(telos, (telos::edge_dir))
CAF_ADD_TYPE_ID(telos, (telos::neighbour_request))
CAF_ADD_TYPE_ID(telos, (telos::traverse_request))
CAF_ADD_TYPE_ID(telos, (telos::graph_path))
CAF_ADD_TYPE_ID(telos, (std::vector<telos::graph_path>))
CAF_ADD_TYPE_ID(telos, (telos::quad_text))
CAF_ADD_TYPE_ID(telos, (telos::quad_match_request))
CAF_ADD_TYPE_ID(telos, (telos::quad_match_page))
CAF_ADD_TYPE_ID(telos, (telos::graph_write))
CAF_ADD_TYPE_ID(telos, (telos::graph_write_result))
// The cluster handshake (actor_interfaces.hpp, node_actor).
CAF_ADD_TYPE_ID(telos, (telos::shard_identity))
CAF_ADD_TYPE_ID(telos, (telos::cluster_identity))

CAF_END_TYPE_ID_BLOCK(telos)
