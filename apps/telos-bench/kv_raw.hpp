// The baselines of `telos-bench kv`: the same workload written straight against the RocksDB and
// LMDB C/C++ APIs, configured exactly as storage/rocksdb_backend.cpp and storage/lmdb_backend.cpp
// configure them, so the ratio ours/raw measures only what the Telos interface adds.
#pragma once

#include "kv_workload.hpp"

#include "telos/storage/backend.hpp"

#include <memory>
#include <string>

namespace telos::bench {

/// Opens a RocksDB database at opts.path with one column family per keyspace of `opts`, the
/// options our backend derives from `opts`; the workload goes to keyspace `keyspace`.
std::unique_ptr<kv_store_under_test> open_raw_rocksdb(const storage::backend_options& opts,
                                                      const std::string& keyspace);

/// Opens an LMDB environment at opts.path with one named database per keyspace, the flags and map
/// size (doubling on MDB_MAP_FULL) of our backend; the workload goes to keyspace `keyspace`.
std::unique_ptr<kv_store_under_test> open_raw_lmdb(const storage::backend_options& opts,
                                                   const std::string& keyspace);

} // namespace telos::bench
