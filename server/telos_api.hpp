// Telos's own HTTP endpoints beside the Qdrant dialect, for what Qdrant has no words for: edges
// between points and traversal, quads, verify, flush, checkpoint and stats of a collection's
// store, under /telos/collections/{name}/… (a prefix Qdrant's routes never use). They reach the
// store through the same facade calls as the CLI; docs/HTTP.md lists each with its request and
// answer.
#pragma once

#include "telos/server/collections.hpp"
#include "telos/server/http_server.hpp"

#include <string>
#include <vector>

namespace telos::server {

/// Answers a request under /telos/: `parts` is the path split at '/', parts[0] == "telos";
/// returns the result to put in Qdrant's envelope and sets `route` to the route pattern. Throws
/// api_error for what it refuses (404 for an unknown path or collection, 400 naming the field).
json_value telos_api_route(collection_registry& registry, const http_request& req,
                           const std::vector<std::string>& parts, std::string& route);

} // namespace telos::server
