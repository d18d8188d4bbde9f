// The directory rules RocksDB and LMDB stores share: a TELOS marker naming the backend kind and
// format version, written at creation and checked at open, and an exclusive flock on it held for
// the life of the backend, so a second open (in this or another process) fails cleanly.
//
// Layout:  <dir>/TELOS   the marker (text: "telos-store", "backend=<kind>", "format=<n>")
//          <dir>/data/   the backend library's own files
#pragma once

#include "telos/storage/backend.hpp"

#include <string>

namespace telos::storage::detail {

class store_dir {
public:
  /// Opens the directory of a `kind` store: creates it when missing and allowed, checks the
  /// marker and takes the lock. Errors: ec::invalid_argument (empty path), ec::not_found,
  /// ec::not_a_store, ec::format_mismatch, ec::locked, ec::io_error.
  static expected<store_dir> open(const std::string& path, backend_kind kind,
                                  bool create_if_missing, bool read_only);

  /// Writes a complete marker into `dir` (used for checkpoints).
  static expected<void> write_marker(const std::string& dir, backend_kind kind);

  store_dir(store_dir&& other) noexcept;
  store_dir& operator=(store_dir&& other) noexcept;
  store_dir(const store_dir&) = delete;
  store_dir& operator=(const store_dir&) = delete;
  /// Releases the lock.
  ~store_dir();

  const std::string& path() const { return path_; }
  /// Where the backend library keeps its files.
  std::string data_path() const { return path_ + "/data"; }
  /// True if the store is being created by this open: the backend creates its files, then
  /// calls seal().
  bool creating() const { return creating_; }
  /// Completes the marker after the backend created its files.
  expected<void> seal();

private:
  store_dir(std::string path, backend_kind kind, int fd, bool creating);

  std::string path_;
  backend_kind kind_ = backend_kind::memory;
  int fd_ = -1;
  bool creating_ = false;
};

} // namespace telos::storage::detail
