// The Qdrant REST dialect over Telos collections: routes requests to collections, points,
// search and query, and /metrics; answers in Qdrant's envelopes ({"result":…,"status":"ok",
// "time":…} and {"status":{"error":…},"time":…}). Runs on the HTTP worker threads and reaches the
// stores through the blocking facade only. docs/HTTP.md lists every endpoint.
#pragma once

#include "telos/server/collections.hpp"
#include "telos/server/http_metrics.hpp"
#include "telos/server/http_server.hpp"

namespace telos::server {

class qdrant_api {
public:
  qdrant_api(collection_registry& collections, http_metrics& metrics);
  /// Answers one request (never throws).
  http_answer handle(const http_request& req);

private:
  collection_registry& collections_;
  http_metrics& metrics_;
};

} // namespace telos::server
