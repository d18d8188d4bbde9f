// Growable arrays for the indexes' large arrays (token rows, codes, fresh rows), each in an
// anonymous mapping of its own that grows with mremap: the kernel moves page tables, not the data,
// so growing a GB array under an index's lock takes microseconds, not the seconds a vector's copy
// takes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace telos::storage {

namespace mapping {

/// `bytes` rounded up to whole pages (whole 2 MiB huge pages from one huge page up); 0 when that
/// overflows (no mapping can be that large).
size_t round_to_pages(size_t bytes) noexcept;
/// A fresh anonymous mapping of `bytes` (whole pages; from one huge page up it starts on a
/// huge-page boundary) when `data` is null, else the mapping `data` of `old_bytes` grown or shrunk
/// to `bytes` (moved by mremap where it cannot stay); null when the system has no memory (or
/// address space) to give, the old mapping then unchanged.
void* remap(void* data, size_t old_bytes, size_t bytes) noexcept;
/// Returns a mapping to the system (nothing for null).
void unmap(void* data, size_t bytes) noexcept;

} // namespace mapping

/// Like std::vector<T> for trivially copyable T, but growing costs neither a copy (the mapping is
/// moved with mremap, not reallocated and copied) nor a pass of zeroes over elements the caller is
/// about to overwrite: resize(n) leaves new elements unspecified (zero when the memory is fresh,
/// old values after a shrink); resize(n, value) sets them. Elements stay contiguous. When the
/// system has no memory to give, growing throws std::bad_alloc and leaves the array as it was.
/// Move-only.
template <class T>
class mapped_array {
  static_assert(std::is_trivially_copyable_v<T>);

public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  mapped_array() = default;
  ~mapped_array() { mapping::unmap(data_, bytes_); }
  mapped_array(const mapped_array&) = delete;
  mapped_array& operator=(const mapped_array&) = delete;
  mapped_array(mapped_array&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
        bytes_(std::exchange(other.bytes_, 0)) {}
  mapped_array& operator=(mapped_array&& other) noexcept {
    if (this != &other) {
      mapping::unmap(data_, bytes_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  void swap(mapped_array& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(bytes_, other.bytes_);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& back() { return data_[size_ - 1]; }
  const T& back() const { return data_[size_ - 1]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Elements the current mapping holds.
  size_t capacity() const { return bytes_ / sizeof(T); }

  /// Sets the size; growing past the capacity at least doubles it (or takes exactly what is
  /// needed when the system refuses the double). New elements are unspecified.
  void resize(size_t n) {
    if (n > capacity()) grow(n);
    size_ = n;
  }
  /// Sets the size; new elements are `value`.
  void resize(size_t n, const T& value) {
    const size_t old = size_;
    resize(n);
    if (n > old) std::fill(data_ + old, data_ + n, value);
  }
  void assign(size_t n, const T& value) {
    size_ = 0;
    resize(n, value);
  }
  /// Makes room for `n` elements without changing the size (exactly n when it has to grow).
  void reserve(size_t n) {
    if (n > capacity()) remap_to(n);
  }
  /// Makes room for `n` elements without changing the size, growing as resize(n) would.
  void make_room(size_t n) {
    if (n > capacity()) grow(n);
  }
  /// Appends `count` elements copied from `values` (which must not lie in this array).
  void append(const T* values, size_t count) {
    if (count == 0) return;
    const size_t old = size_;
    resize(old + count);
    std::memcpy(static_cast<void*>(data_ + old), values, count * sizeof(T));
  }
  void push_back(const T& value) {
    if (size_ == capacity()) grow(size_ + 1);
    data_[size_++] = value;
  }
  void pop_back() { --size_; }
  void clear() { size_ = 0; }
  /// Returns the whole pages beyond the size to the system (all of them when empty).
  void shrink_to_fit() {
    if (size_ == 0) {
      mapping::unmap(data_, bytes_);
      data_ = nullptr;
      bytes_ = 0;
      return;
    }
    const size_t wanted = mapping::round_to_pages(size_ * sizeof(T));
    if (wanted < bytes_) {
      // Shrinking in place does not fail; if it did, the larger mapping simply stays.
      if (void* p = mapping::remap(data_, bytes_, wanted)) {
        data_ = static_cast<T*>(p);
        bytes_ = wanted;
      }
    }
  }

private:
  /// Capacity for at least n elements: double the current one, or n when the system refuses that.
  void grow(size_t n) {
    const size_t doubled = capacity() > max_elements() / 2 ? max_elements() : 2 * capacity();
    if (doubled > n && try_remap_to(doubled)) return;
    remap_to(n);
  }
  void remap_to(size_t n) {
    if (!try_remap_to(n)) throw std::bad_alloc{};
  }
  bool try_remap_to(size_t n) {
    if (n > max_elements()) return false;
    const size_t bytes = mapping::round_to_pages(n * sizeof(T));
    if (bytes == 0) return false;
    void* p = mapping::remap(data_, bytes_, bytes);
    if (p == nullptr) return false;
    data_ = static_cast<T*>(p);
    bytes_ = bytes;
    return true;
  }
  static constexpr size_t max_elements() { return static_cast<size_t>(-1) / sizeof(T); }

  T* data_ = nullptr;
  size_t size_ = 0;
  /// Bytes mapped: a multiple of the page size, 0 without a mapping.
  size_t bytes_ = 0;
};

/// The dense index's fresh rows and an inverted file's loaded lists.
using float_buffer = mapped_array<float>;

} // namespace telos::storage
