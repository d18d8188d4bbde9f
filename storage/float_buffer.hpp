// A growable array of floats for index rows, in its own anonymous mapping.
#pragma once

#include <cstddef>

namespace telos::storage {

/// Like std::vector<float> for the dense index's rows, but growing costs neither a copy (the
/// mapping is moved with mremap, not reallocated and copied) nor a pass of zeroes over rows the
/// caller is about to overwrite: resize() leaves new elements unspecified (zero when the memory is
/// fresh, old values after a shrink). Move-only.
class float_buffer {
public:
  using value_type = float;

  float_buffer() = default;
  ~float_buffer();
  float_buffer(const float_buffer&) = delete;
  float_buffer& operator=(const float_buffer&) = delete;
  float_buffer(float_buffer&& other) noexcept;
  float_buffer& operator=(float_buffer&& other) noexcept;

  float* data() { return data_; }
  const float* data() const { return data_; }
  float* begin() { return data_; }
  float* end() { return data_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Elements the current mapping holds.
  size_t capacity() const { return bytes_ / sizeof(float); }

  /// Sets the size; growing past the capacity at least doubles it. Throws std::bad_alloc when
  /// the system has no memory to give.
  void resize(size_t n);
  void clear() { size_ = 0; }
  /// Returns the pages beyond the size to the system.
  void shrink_to_fit();

private:
  void remap(size_t bytes);

  float* data_ = nullptr;
  size_t size_ = 0;
  /// Bytes mapped: a multiple of the page size, 0 without a mapping.
  size_t bytes_ = 0;
};

} // namespace telos::storage
