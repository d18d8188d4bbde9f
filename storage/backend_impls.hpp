// The three implementations behind make_backend; options are already checked (keyspace names).
#pragma once

#include "telos/storage/backend.hpp"

namespace telos::storage::detail {

expected<std::unique_ptr<backend>> make_memory_backend(const backend_options& opts);
expected<std::unique_ptr<backend>> make_rocksdb_backend(const backend_options& opts);
expected<std::unique_ptr<backend>> make_lmdb_backend(const backend_options& opts);

} // namespace telos::storage::detail
