// The one factory: checks what every backend shares, then opens the requested kind.
#include "telos/storage/backend_checks.hpp"
#include "telos/storage/backend_impls.hpp"

namespace telos::storage {

expected<std::unique_ptr<backend>> make_backend(backend_kind kind, const backend_options& opts) {
  if (auto err = detail::check_keyspace_names(opts.keyspaces)) return err;
  switch (kind) {
  case backend_kind::memory:
    return detail::make_memory_backend(opts);
  case backend_kind::rocksdb:
    return detail::make_rocksdb_backend(opts);
  case backend_kind::lmdb:
    return detail::make_lmdb_backend(opts);
  }
  return make_error(ec::invalid_argument,
                    "unknown backend kind " + std::to_string(static_cast<int>(kind)));
}

} // namespace telos::storage
