// An allocator for the large arrays of the indexes (std::vector<T, bulk_allocator<T>>): a block
// of 2 MiB or more is an anonymous mapping of its own with transparent huge pages requested,
// smaller ones come from operator new; resize() leaves new elements uninitialised, so an array
// sized before a snapshot is read into it is not first filled with zeroes the read overwrites.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/mman.h>

namespace telos::storage {

template <class T>
class bulk_allocator {
public:
  static_assert(std::is_trivially_copyable_v<T>);
  using value_type = T;
  /// Blocks from this size on are mappings of their own (a huge page's size).
  static constexpr size_t mapped_bytes = size_t{2} << 20;

  bulk_allocator() noexcept = default;
  template <class U>
  bulk_allocator(const bulk_allocator<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_alloc{};
    const size_t bytes = n * sizeof(T);
    if (bytes < mapped_bytes) return static_cast<T*>(::operator new(bytes));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc{};
    // Advisory: with huge pages a snapshot's rows take one page fault per 2 MiB, not per 4 KiB.
    ::madvise(p, bytes, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }

  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes < mapped_bytes)
      ::operator delete(p);
    else
      ::munmap(p, bytes);
  }

  /// Default-initialises: an int8 or float element is left as the memory had it.
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  template <class U>
  bool operator==(const bulk_allocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const bulk_allocator<U>&) const noexcept {
    return false;
  }
};

/// A vector for index rows and codes (see bulk_allocator).
template <class T>
using bulk_vector = std::vector<T, bulk_allocator<T>>;

} // namespace telos::storage
