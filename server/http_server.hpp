// The HTTP/1.1 server of telosd --http (Boost.Beast): one I/O thread reads and writes sockets
// with deadlines (a slow client is cut off), a pool of worker threads runs the handler, which may
// block on the store facade; no CAF scheduler thread ever waits for HTTP. Bodies are bounded
// (413), TLS optional (HTTPS only on that port), the API key is checked before the handler runs
// (401), and every answer is counted.
#pragma once

#include "telos/actors/cluster.hpp"
#include "telos/messages/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace telos::server {

class http_metrics;

struct http_request {
  std::string method;
  /// The path without the query string, e.g. "/collections/a/points".
  std::string path;
  /// The query string without '?', e.g. "wait=true".
  std::string query;
  std::string body;
};

struct http_answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// The route pattern for metrics, e.g. "/collections/{name}".
  std::string route = "unmatched";
};

using http_handler = std::function<http_answer(const http_request&)>;

struct http_options {
  std::string host = "127.0.0.1";
  /// 0 = any free port.
  uint16_t port = 6333;
  size_t max_body_bytes = size_t{32} << 20;
  /// A request must arrive whole, and an answer be taken, within this time.
  std::chrono::milliseconds timeout{30000};
  size_t worker_threads = 4;
  /// When set, every request but the health probes must carry it in the `api-key` header (or
  /// `Authorization: Bearer …`).
  std::string api_key;
  /// When it names a certificate and key, the port serves HTTPS only (a plain HTTP request gets
  /// one 400 naming the scheme); a CA file on top requires client certificates signed by it.
  tls_options tls;
};

class http_server {
public:
  /// Binds and starts serving; the error names the address when it cannot bind.
  static expected<std::unique_ptr<http_server>> start(http_options opts, http_handler handler,
                                                      http_metrics& metrics);
  ~http_server();
  /// The bound port.
  uint16_t port() const;
  /// Stops accepting, finishes the requests being handled, joins every thread. Idempotent.
  void stop();

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace telos::server
