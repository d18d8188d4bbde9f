// Counters and latency histograms of the HTTP API, and their Prometheus text form with the
// figures of the collections (memories per collection, disk bytes) and of the process (resident
// memory). Recorded by the HTTP worker threads, read by GET /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace telos::server {

class collection_registry;

class http_metrics {
public:
  /// One answered request: its route pattern (e.g. "/collections/{name}/points/search"), method,
  /// status and seconds from the whole request read to the answer handed to the socket.
  void record(const std::string& method, const std::string& route, int status, double seconds);
  /// The Prometheus text exposition (version 0.0.4).
  std::string render(const collection_registry& collections) const;

private:
  struct histogram {
    std::vector<uint64_t> buckets;
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, histogram> latency_;
};

} // namespace telos::server
