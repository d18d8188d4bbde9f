// Private file mappings whose unreadable pages are read again (or zeroed) by a SIGBUS handler.
#include "telos/storage/file_view.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace telos::storage {

namespace {

/// What the SIGBUS handler knows of one view. begin/end are published last (release) and cleared
/// first, so the handler never sees a half-filled slot.
struct view_slot {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  /// File offset of the page at begin, and the descriptor to read it from.
  std::atomic<uint64_t> offset{0};
  std::atomic<int> fd{-1};
  std::atomic<bool> failed{false};
};

/// Views alive at once: each index keeps at most a few (13 embedders per shard).
constexpr size_t max_views = 4096;
std::array<view_slot, max_views> slots;

struct sigaction previous_action {};
size_t page_bytes = 4096;
std::once_flag page_size_known;

/// Reads the page of a view at `page` again into a private page of its own and moves that over
/// it (mremap replaces the mapping in one step, so a thread reading the page meanwhile sees the
/// old mapping or the new one). A read that fails or comes up short leaves zeroes and marks the
/// view failed. False when there is no memory to do it with.
bool replace_page(view_slot& s, uintptr_t begin, uintptr_t end, uintptr_t page) {
  void* fresh =
      ::mmap(nullptr, page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fresh == MAP_FAILED) return false;
  const size_t wanted = std::min<uintptr_t>(page_bytes, end - page);
  const uint64_t at = s.offset.load(std::memory_order_acquire) + (page - begin);
  const int fd = s.fd.load(std::memory_order_acquire);
  size_t got = 0;
  while (got < wanted) {
    auto n =
        ::pread(fd, static_cast<char*>(fresh) + got, wanted - got, static_cast<off_t>(at + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < wanted) s.failed.store(true, std::memory_order_release);
  if (::mremap(fresh, page_bytes, page_bytes, MREMAP_MAYMOVE | MREMAP_FIXED,
               reinterpret_cast<void*>(page)) == MAP_FAILED) {
    ::munmap(fresh, page_bytes);
    return false;
  }
  return true;
}

void on_sigbus(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& s : slots) {
    const auto begin = s.begin.load(std::memory_order_acquire);
    if (begin == 0 || address < begin) continue;
    const auto end = s.end.load(std::memory_order_acquire);
    if (address >= end) continue;
    if (replace_page(s, begin, end, address & ~(uintptr_t{page_bytes} - 1))) {
      errno = saved_errno;
      return; // the faulting access runs again, now on the replaced page
    }
    break;
  }
  // Not a view's page (or no memory to replace it): what would have happened without us.
  errno = saved_errno;
  if ((previous_action.sa_flags & SA_SIGINFO) != 0 && previous_action.sa_sigaction != nullptr) {
    previous_action.sa_sigaction(signal, info, context);
    return;
  }
  if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(signal);
    return;
  }
  // The access runs again and ends the process as it would have.
  ::signal(SIGBUS, SIG_DFL);
}

/// Puts on_sigbus in place unless it is: each time a view is made, since a program (or a test
/// framework) may have put a handler of its own over it since; that one becomes the handler
/// on_sigbus passes foreign faults to.
void install_handler() {
  static std::mutex lock;
  std::lock_guard guard{lock};
  std::call_once(page_size_known,
                 [] { page_bytes = static_cast<size_t>(::sysconf(_SC_PAGESIZE)); });
  struct sigaction current {};
  if (::sigaction(SIGBUS, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) != 0 &&
      current.sa_sigaction == on_sigbus)
    return;
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous_action);
}

std::string errno_text(int error) {
  return std::strerror(error);
}

} // namespace

file_view::~file_view() {
  reset();
}

file_view::file_view(file_view&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), mapped_(std::exchange(other.mapped_, 0)),
      data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      slot_(std::exchange(other.slot_, -1)) {}

file_view& file_view::operator=(file_view&& other) noexcept {
  if (this != &other) {
    reset();
    base_ = std::exchange(other.base_, nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    slot_ = std::exchange(other.slot_, -1);
  }
  return *this;
}

void file_view::reset() noexcept {
  if (slot_ >= 0) {
    auto& s = slots[static_cast<size_t>(slot_)];
    s.begin.store(0, std::memory_order_release);
    s.end.store(0, std::memory_order_release);
    ::close(s.fd.exchange(-1));
    s.failed.store(false);
    s.used.store(false, std::memory_order_release);
    slot_ = -1;
  }
  if (base_ != nullptr) ::munmap(base_, mapped_);
  base_ = data_ = nullptr;
  mapped_ = size_ = 0;
}

expected<file_view> file_view::map(int fd, const std::string& path, uint64_t offset, size_t size) {
  file_view view;
  if (size == 0) return view;
  install_handler();
  const uint64_t start = offset / page_bytes * page_bytes;
  const size_t lead = static_cast<size_t>(offset - start);
  size_t slot = 0;
  while (slot < max_views) {
    bool expected_free = false;
    if (slots[slot].used.compare_exchange_strong(expected_free, true)) break;
    ++slot;
  }
  if (slot == max_views)
    return make_error(ec::io_error, "cannot map '" + path + "': " + std::to_string(max_views) +
                                        " mapped snapshot sections are open already");
  auto& s = slots[slot];
  view.slot_ = static_cast<int>(slot);
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0)
    return make_error(ec::io_error, "cannot keep '" + path + "' open: " + errno_text(errno));
  s.fd.store(copy, std::memory_order_release);
  void* at = ::mmap(nullptr, lead + size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
                    static_cast<off_t>(start));
  if (at == MAP_FAILED)
    return make_error(ec::io_error, "cannot map " + std::to_string(size) + " bytes of '" + path +
                                        "': " + errno_text(errno));
  view.base_ = static_cast<std::byte*>(at);
  view.mapped_ = lead + size;
  view.data_ = view.base_ + lead;
  view.size_ = size;
  s.offset.store(start, std::memory_order_release);
  s.end.store(reinterpret_cast<uintptr_t>(view.data_ + size), std::memory_order_release);
  s.begin.store(reinterpret_cast<uintptr_t>(view.base_), std::memory_order_release);
  return view;
}

bool file_view::failed() const {
  return slot_ >= 0 && slots[static_cast<size_t>(slot_)].failed.load(std::memory_order_acquire);
}

void file_view::release(const void* first, size_t bytes) const {
  auto begin = (reinterpret_cast<uintptr_t>(first) + page_bytes - 1) / page_bytes * page_bytes;
  auto end = (reinterpret_cast<uintptr_t>(first) + bytes) / page_bytes * page_bytes;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

int file_view::populate(size_t from, size_t bytes) const {
  if (bytes == 0 || base_ == nullptr) return 0;
  const auto first = reinterpret_cast<uintptr_t>(data_ + from) / page_bytes * page_bytes;
  const auto end = reinterpret_cast<uintptr_t>(data_ + from + bytes);
  if (::madvise(reinterpret_cast<void*>(first), end - first, MADV_POPULATE_READ) == 0) return 0;
  return errno == EINVAL ? 0 : errno;
}

} // namespace telos::storage
