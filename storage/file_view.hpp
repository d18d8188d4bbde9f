// A range of a file mapped into memory private (copy-on-write): the indexes' largest snapshot
// sections are used where the page cache holds them instead of being copied into fresh memory
// (docs/ENGINE.md, "Recovery"). Writes stay in this process. A page the system cannot read back
// later (a media error after the page was evicted, or the file cut short under the mapping)
// raises SIGBUS; the handler this file installs reads that page again with pread(2) into a
// private page of its own and puts it in place, so a process never dies of it. When even that
// read fails, the page reads as zeroes and the view reports failed(): its owner must not trust
// (nor save) what it holds.
#pragma once

#include "telos/messages/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace telos::storage {

class file_view {
public:
  file_view() = default;
  ~file_view();
  file_view(const file_view&) = delete;
  file_view& operator=(const file_view&) = delete;
  file_view(file_view&& other) noexcept;
  file_view& operator=(file_view&& other) noexcept;

  /// Maps `size` bytes of the file open as `fd` from `offset` on (any offset: the mapping starts
  /// at the page boundary below it). Keeps a duplicate of `fd` for rereading pages. io_error
  /// naming `path` when the system refuses; a view of 0 bytes maps nothing.
  static expected<file_view> map(int fd, const std::string& path, uint64_t offset, size_t size);

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// True once a page of this view could not be read (it reads as zeroes).
  bool failed() const;

  /// Returns the whole pages inside [first, first + bytes) (which must lie in the view) to the
  /// system: they read the file's bytes again afterwards, writes made to them are gone. For
  /// parts nobody reads again.
  void release(const void* first, size_t bytes) const;

  /// Maps the pages holding [data() + from, data() + from + bytes) into this process's page
  /// tables now (MADV_POPULATE_READ: reading them from the file first where the page cache lacks
  /// them), so the accesses that follow take no page faults; 0, or the errno of a page that
  /// cannot be read (EFAULT, EIO: the error comes back here instead of as SIGBUS). A kernel
  /// without MADV_POPULATE_READ (before Linux 5.14) counts as success: the pages then come in
  /// on first access.
  int populate(size_t from, size_t bytes) const;

private:
  void reset() noexcept;

  /// The mapping (page-aligned) and its length.
  std::byte* base_ = nullptr;
  size_t mapped_ = 0;
  /// The requested bytes inside it.
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  /// Slot of the SIGBUS handler's table this view registered in (-1: none).
  int slot_ = -1;
};

} // namespace telos::storage
