// Crash-safe file replacement (see durable_file.hpp).
#include "telos/shard/durable_file.hpp"

#include "telos/storage/fault_injection.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace telos {

expected<void> replace_file(const std::string& path, const std::string& text, bool unique_tmp) {
  using storage::file_op;
  using storage::own_file_fault;
  // Unique to this call: the process id for writers in other processes, a counter for other
  // threads of this one (a node checkpoints the shards it hosts at once).
  static std::atomic<uint64_t> calls{0};
  auto tmp = path + ".tmp" +
             (unique_tmp ? "." + std::to_string(::getpid()) + "." + std::to_string(++calls)
                         : std::string{});
  if (auto fault = own_file_fault(file_op::create, tmp))
    return make_error(ec::io_error, "cannot create '" + tmp + "': " + std::strerror(fault.error));
  auto fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(ec::io_error, "cannot create '" + tmp + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = 0;
    if (auto fault = own_file_fault(file_op::write, tmp)) {
      // A torn write: half of the bytes land, then the device fails.
      if (fault.partial) {
        auto half = ::write(fd, text.data() + done, (text.size() - done) / 2);
        static_cast<void>(half);
      }
      errno = fault.error;
      n = -1;
    } else {
      n = ::write(fd, text.data() + done, text.size() - done);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return make_error(ec::io_error, "cannot write '" + tmp + "': " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = !own_file_fault(file_op::sync, tmp) && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return make_error(ec::io_error, "cannot sync '" + tmp + "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return make_error(ec::io_error, "cannot rename '" + tmp + "': " + ec.message());
  return {};
}

expected<void> sync_directory(const std::string& dir) {
  auto fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(ec::io_error, "cannot open '" + dir + "': " + std::strerror(errno));
  bool ok = !storage::own_file_fault(storage::file_op::sync, dir) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return make_error(ec::io_error, "cannot sync '" + dir + "'");
  return {};
}

expected<void> sync_tree(const std::string& dir) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto path = it->path().string();
    if (it->is_directory(ec)) {
      if (auto ok = sync_directory(path); !ok) return ok;
      continue;
    }
    auto fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return make_error(ec::io_error, "cannot open '" + path + "': " + std::strerror(errno));
    bool ok = !storage::own_file_fault(storage::file_op::sync, path) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return make_error(ec::io_error, "cannot sync '" + path + "'");
  }
  if (ec) return make_error(ec::io_error, "cannot list '" + dir + "': " + ec.message());
  return sync_directory(dir);
}

expected<void> swap_directory(const std::string& staging, const std::string& target) {
  auto parent = fs::path(target).parent_path().string();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    fs::rename(staging, target, ec);
    if (ec)
      return make_error(ec::io_error,
                        "cannot rename '" + staging + "' to '" + target + "': " + ec.message());
    return sync_directory(parent);
  }
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS)
      return make_error(ec::io_error, "cannot exchange '" + staging + "' and '" + target +
                                          "': " + std::strerror(errno));
    auto old = staging + ".old";
    fs::remove_all(old, ec);
    fs::rename(target, old, ec);
    if (!ec) fs::rename(staging, target, ec);
    if (!ec) fs::rename(old, staging, ec);
    if (ec)
      return make_error(ec::io_error,
                        "cannot move '" + staging + "' to '" + target + "': " + ec.message());
  }
  return sync_directory(parent);
}

expected<std::string> read_small_file(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(ec::io_error, "cannot read '" + path + "': " + ec.message());
  if (size > (1u << 20))
    return make_error(ec::corrupt_value, "'" + path + "' is " + std::to_string(size) +
                                             " bytes, too large for what Telos writes there");
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  if (!in && !in.eof()) return make_error(ec::io_error, "cannot read '" + path + "'");
  return out.str();
}

expected<std::optional<std::string>> read_optional_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<std::string>{};
  auto text = read_small_file(path);
  if (!text) return std::move(text.error());
  return std::optional<std::string>{std::move(*text)};
}

} // namespace telos
