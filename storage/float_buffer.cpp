// float_buffer: one anonymous private mapping, grown and shrunk with mremap.
#include "telos/storage/float_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>
#include <utility>

namespace telos::storage {

namespace {

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

constexpr size_t huge_page_bytes = size_t{2} << 20;

size_t round_to_pages(size_t bytes) {
  auto page = page_bytes();
  return (bytes + page - 1) / page * page;
}

} // namespace

float_buffer::~float_buffer() {
  if (data_ != nullptr) munmap(data_, bytes_);
}

float_buffer::float_buffer(float_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      bytes_(std::exchange(other.bytes_, 0)) {}

float_buffer& float_buffer::operator=(float_buffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) munmap(data_, bytes_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void float_buffer::resize(size_t n) {
  if (n > capacity()) remap(round_to_pages(std::max(n, 2 * capacity()) * sizeof(float)));
  size_ = n;
}

void float_buffer::shrink_to_fit() {
  auto wanted = round_to_pages(size_ * sizeof(float));
  if (wanted < bytes_) remap(wanted);
}

void float_buffer::remap(size_t bytes) {
  if (bytes == 0) {
    munmap(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
    return;
  }
  void* mapped = data_ == nullptr ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                                  : mremap(data_, bytes_, bytes, MREMAP_MAYMOVE);
  if (mapped == MAP_FAILED) throw std::bad_alloc{};
  data_ = static_cast<float*>(mapped);
  bytes_ = bytes;
  // Transparent huge pages where the system allows them on request (the usual "madvise" setting):
  // rows are appended one after another, and with 4 KiB pages every 1024-d row took a page fault
  // of its own. Advisory only; without THP nothing changes.
  if (bytes >= huge_page_bytes) ::madvise(data_, bytes_, MADV_HUGEPAGE);
}

} // namespace telos::storage
