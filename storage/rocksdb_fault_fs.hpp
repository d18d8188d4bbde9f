// The fault seam under the RocksDB backend: a rocksdb::FileSystemWrapper that asks a
// fault_injector before every file creation, append, sync and read, and reports appends, syncs,
// creations, renames and directory syncs to it so a simulated power cut can drop what was never
// fsynced. Used only while a fault_injector is installed (tests, telos-stress).
#pragma once

#include "telos/storage/fault_injection.hpp"

#include <memory>

namespace rocksdb {
class FileSystem;
} // namespace rocksdb

namespace telos::storage::detail {

/// Wraps `base` so that every file operation goes through `injector`.
std::shared_ptr<rocksdb::FileSystem>
make_fault_file_system(std::shared_ptr<rocksdb::FileSystem> base,
                       std::shared_ptr<fault_injector> injector);

} // namespace telos::storage::detail
