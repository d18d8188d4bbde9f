// mapped_array's mappings: anonymous, private, grown and shrunk with mremap.
#include "telos/storage/mapped_array.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace telos::storage::mapping {

namespace {

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

constexpr size_t huge_page_bytes = size_t{2} << 20;

} // namespace

size_t round_to_pages(size_t bytes) noexcept {
  // A huge page or more: whole huge pages, so that no tail of small pages is left (a 4,000,000-byte
  // array took 8-17 ms of first touches with its last 1.8 MiB on small pages, 0.3-0.6 ms as two
  // huge pages on the test VM).
  const size_t page = bytes >= huge_page_bytes ? huge_page_bytes : page_bytes();
  if (bytes > static_cast<size_t>(-1) - (page - 1)) return 0;
  return (bytes + page - 1) / page * page;
}

namespace {

/// A fresh anonymous mapping of `bytes`, starting on a huge-page boundary when it is at least a
/// huge page: mmap places mappings on 4 KiB boundaries, and the kernel backs only the aligned
/// 2 MiB stretches of a mapping with huge pages. Maps a huge page more and returns the excess.
/// First touches of a million floats (a sparse search's sums at a million documents) took 8-17 ms
/// on the test VM unaligned, 0.3-0.6 ms aligned (docs/BENCHMARKS.md, "Huge pages for the indexes'
/// arrays").
void* map_fresh(size_t bytes) noexcept {
  constexpr int prot = PROT_READ | PROT_WRITE;
  constexpr int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (bytes < huge_page_bytes || bytes > static_cast<size_t>(-1) - huge_page_bytes)
    return mmap(nullptr, bytes, prot, flags, -1, 0);
  void* raw = mmap(nullptr, bytes + huge_page_bytes, prot, flags, -1, 0);
  if (raw == MAP_FAILED) return raw;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + huge_page_bytes - 1) & ~(uintptr_t{huge_page_bytes} - 1);
  const uintptr_t head = aligned - start; // the head and the tail together are one huge page
  if (head > 0) munmap(raw, head);
  if (head < huge_page_bytes)
    munmap(reinterpret_cast<void*>(aligned + bytes), huge_page_bytes - head);
  return reinterpret_cast<void*>(aligned);
}

} // namespace

void* remap(void* data, size_t old_bytes, size_t bytes) noexcept {
  if (bytes == 0) return nullptr;
  void* mapped =
      data == nullptr ? map_fresh(bytes) : mremap(data, old_bytes, bytes, MREMAP_MAYMOVE);
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
