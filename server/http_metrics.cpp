// Prometheus text of the HTTP API's requests, latencies, collections and process (see
// http_metrics.hpp).
#include "telos/server/http_metrics.hpp"

#include "telos/server/collections.hpp"

#include <fstream>
#include <shared_mutex>
#include <sstream>
#include <unistd.h>

namespace telos::server {

namespace {

const std::vector<double> metrics_bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};

std::string metrics_label(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

uint64_t metrics_resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

} // namespace

void http_metrics::record(const std::string& method, const std::string& route, int status,
                          double seconds) {
  std::lock_guard<std::mutex> guard{mutex_};
  ++requests_[{method, route, status}];
  auto& h = latency_[{method, route}];
  if (h.buckets.empty()) h.buckets.assign(metrics_bounds.size(), 0);
  for (size_t i = 0; i < metrics_bounds.size(); ++i)
    if (seconds <= metrics_bounds[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

std::string http_metrics::render(const collection_registry& collections) const {
  std::ostringstream out;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    out << "# HELP telos_http_requests_total HTTP requests answered, by method, route and status.\n"
        << "# TYPE telos_http_requests_total counter\n";
    for (const auto& [key, n] : requests_)
      out << "telos_http_requests_total{method=\"" << metrics_label(std::get<0>(key))
          << "\",route=\"" << metrics_label(std::get<1>(key)) << "\",status=\"" << std::get<2>(key)
          << "\"} " << n << '\n';
    out << "# HELP telos_http_request_duration_seconds Time from a request read to its answer.\n"
        << "# TYPE telos_http_request_duration_seconds histogram\n";
    for (const auto& [key, h] : latency_) {
      std::string labels =
          "method=\"" + metrics_label(key.first) + "\",route=\"" + metrics_label(key.second) + "\"";
      for (size_t i = 0; i < metrics_bounds.size(); ++i)
        out << "telos_http_request_duration_seconds_bucket{" << labels << ",le=\""
            << metrics_bounds[i] << "\"} " << h.buckets[i] << '\n';
      out << "telos_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << h.count
          << '\n'
          << "telos_http_request_duration_seconds_sum{" << labels << "} " << h.sum << '\n'
          << "telos_http_request_duration_seconds_count{" << labels << "} " << h.count << '\n';
    }
  }
  out << "# HELP telos_collection_memories Memories (points) stored per collection.\n"
      << "# TYPE telos_collection_memories gauge\n";
  std::ostringstream disk;
  disk << "# HELP telos_collection_disk_bytes Bytes on disk per collection's store.\n"
       << "# TYPE telos_collection_disk_bytes gauge\n";
  std::ostringstream vectors;
  vectors << "# HELP telos_index_vectors Vectors in one index (a vector of a collection, one "
             "shard).\n"
          << "# TYPE telos_index_vectors gauge\n";
  std::ostringstream fresh;
  fresh << "# HELP telos_index_fresh_vectors Vectors searchable exactly but not yet in the HNSW "
           "graph, per index.\n"
        << "# TYPE telos_index_fresh_vectors gauge\n";
  std::ostringstream rocks;
  rocks << "# HELP telos_rocksdb_written_bytes_total Bytes written per collection's store since it "
           "was opened: by users, to the write-ahead log, by flushes, by compactions (RocksDB).\n"
        << "# TYPE telos_rocksdb_written_bytes_total counter\n";
  std::ostringstream stalls;
  stalls << "# HELP telos_rocksdb_stall_seconds_total Time writers were slowed down or stopped "
            "because flushes or compactions fell behind (RocksDB).\n"
         << "# TYPE telos_rocksdb_stall_seconds_total counter\n";
  std::ostringstream compactions;
  compactions << "# HELP telos_rocksdb_running_compactions Compactions running now (RocksDB).\n"
              << "# TYPE telos_rocksdb_running_compactions gauge\n";
  std::ostringstream pending;
  pending << "# HELP telos_rocksdb_pending_compaction_bytes Bytes compactions still have to "
             "rewrite, estimated (RocksDB).\n"
          << "# TYPE telos_rocksdb_pending_compaction_bytes gauge\n";
  for (const auto& name : collections.names()) {
    auto c = collections.find(name);
    if (!c) continue;
    std::shared_lock<std::shared_mutex> shared{c->use};
    if (!c->store) continue;
    if (auto n = c->store->count(); n)
      out << "telos_collection_memories{collection=\"" << metrics_label(name) << "\"} " << *n
          << '\n';
    if (auto bytes = c->store->storage_size(); bytes)
      disk << "telos_collection_disk_bytes{collection=\"" << metrics_label(name) << "\"} " << *bytes
           << '\n';
    auto stats = c->store->stats();
    if (stats && stats->backend == storage::backend_kind::rocksdb) {
      auto label = "collection=\"" + metrics_label(name) + "\"";
      const auto& w = stats->written;
      for (auto [kind, bytes] : {std::pair<const char*, uint64_t>{"user", w.user},
                                 {"wal", w.wal},
                                 {"flush", w.flush},
                                 {"compaction", w.compaction}})
        rocks << "telos_rocksdb_written_bytes_total{" << label << ",kind=\"" << kind << "\"} "
              << bytes << '\n';
      stalls << "telos_rocksdb_stall_seconds_total{" << label << "} "
             << static_cast<double>(w.stall_micros) / 1e6 << '\n';
      compactions << "telos_rocksdb_running_compactions{" << label << "} " << w.running_compactions
                  << '\n';
      pending << "telos_rocksdb_pending_compaction_bytes{" << label << "} "
              << w.pending_compaction_bytes << '\n';
    }
    if (stats)
      for (const auto& index : stats->indexes) {
        // The Qdrant name of the embedder's vector ("" for the unnamed one).
        std::string vector = index.embedder;
        for (const auto& slot : c->schema.slots)
          if (slot.embedder == index.embedder) vector = slot.name;
        auto labels = "collection=\"" + metrics_label(name) + "\",vector=\"" +
                      metrics_label(vector) + "\",shard=\"" + std::to_string(index.shard) + "\"";
        vectors << "telos_index_vectors{" << labels << "} " << index.stats.vectors << '\n';
        fresh << "telos_index_fresh_vectors{" << labels << "} " << index.stats.fresh << '\n';
      }
  }
  out << disk.str() << vectors.str() << fresh.str() << rocks.str() << stalls.str()
      << compactions.str() << pending.str();
  out << "# HELP process_resident_memory_bytes Resident memory of telosd.\n"
      << "# TYPE process_resident_memory_bytes gauge\n"
      << "process_resident_memory_bytes " << metrics_resident_bytes() << '\n';
  return out.str();
}

} // namespace telos::server
