// mapped_array's mappings: anonymous, private, grown and shrunk with mremap.
#include "telos/storage/mapped_array.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace telos::storage::mapping {

namespace {

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

constexpr size_t huge_page_bytes = size_t{2} << 20;

} // namespace

size_t round_to_pages(size_t bytes) noexcept {
  const size_t page = page_bytes();
  if (bytes > static_cast<size_t>(-1) - (page - 1)) return 0;
  return (bytes + page - 1) / page * page;
}

void* remap(void* data, size_t old_bytes, size_t bytes) noexcept {
  if (bytes == 0) return nullptr;
  void* mapped = data == nullptr ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                                 : mremap(data, old_bytes, bytes, MREMAP_MAYMOVE);
  if (mapped == MAP_FAILED) return nullptr;
  // Transparent huge pages where the system allows them on request (the usual "madvise" setting):
  // rows are appended one after another, and with 4 KiB pages every 1024-d row took a page fault
  // of its own; mremap then moves 2 MiB entries, not 4 KiB ones. Advisory only.
  if (bytes >= huge_page_bytes) ::madvise(mapped, bytes, MADV_HUGEPAGE);
  return mapped;
}

void unmap(void* data, size_t bytes) noexcept {
  if (data != nullptr) munmap(data, bytes);
}

} // namespace telos::storage::mapping
