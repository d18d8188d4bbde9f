// The collections of telosd --http: one Telos store per Qdrant collection, each in its own
// directory under the data dir (collection.json holds the Qdrant schema, store/ the Telos store),
// all in one actor system. Looked up by name from the HTTP worker threads. On a cluster's
// coordinator it serves the cluster's store as one fixed collection instead (serve_fixed).
#pragma once

#include "telos/actors/store.hpp"
#include "telos/server/qdrant_model.hpp"

#include <caf/fwd.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace telos::server {

struct collection {
  std::string name;
  std::string dir;
  collection_schema schema;
  std::unique_ptr<telos::store> store;
  /// Requests hold it shared; deleting the collection holds it exclusively, so a store is never
  /// closed under a request.
  std::shared_mutex use;
  /// Serialises this server's read-modify-write operations (payload updates, deletes by filter).
  std::mutex rewrite;
  std::atomic<uint64_t> operations{0};
  /// Set (under `use`, exclusively) once the collection is deleted or the server closes.
  bool closed = false;
};

struct collection_options {
  std::string data_dir = "telos-data";
  storage::backend_kind backend = storage::backend_kind::rocksdb;
  /// fsync every write before acknowledging it (store_options::sync_writes).
  bool sync_writes = true;
};

class collection_registry {
public:
  collection_registry(caf::actor_system& sys, collection_options opts);
  ~collection_registry();
  /// Opens every collection found under the data dir (creating the dir when missing).
  expected<size_t> open_existing();
  /// The named collection, or nullptr.
  std::shared_ptr<collection> find(const std::string& name) const;
  /// The named collection; api_error 404 in Qdrant's words when there is none.
  std::shared_ptr<collection> get(const std::string& name) const;
  /// Creates a collection; 409 when it exists, 400 for an invalid name, 500 when the store fails.
  void create(const std::string& name, const collection_schema& schema);
  /// Writes the collection's schema file again (after its payload indexes changed), through a
  /// rename so a crash leaves the old file or the new one; api_error 500 when it cannot.
  void save_schema(const collection& c);
  /// Closes and deletes a collection; false when there was none.
  bool drop(const std::string& name);
  /// Serves `s` (a cluster's store, telosd --coordinator --http) as the only collection, `name`,
  /// with `schema` (collection_schema::from_profile of its profile). From then on creating or
  /// deleting a collection is refused (400 naming the served one); close_all lets go of the store.
  void serve_fixed(const std::string& name, collection_schema schema,
                   std::unique_ptr<telos::store> s);
  /// Collection names in name order.
  std::vector<std::string> names() const;
  /// Closes every store (flushing them); the registry is empty after.
  void close_all();

private:
  caf::actor_system& sys_;
  collection_options opts_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<collection>> collections_;
  /// Set by serve_fixed: the name of the one collection, which cannot be created or deleted.
  std::string fixed_;
};

} // namespace telos::server
