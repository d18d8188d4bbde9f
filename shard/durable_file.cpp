// Crash-safe file replacement (see durable_file.hpp).
#include "telos/shard/durable_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace telos {

expected<void> replace_file(const std::string& path, const std::string& text, bool unique_tmp) {
  auto tmp = path + ".tmp" + (unique_tmp ? "." + std::to_string(::getpid()) : std::string{});
  auto fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(ec::io_error, "cannot create '" + tmp + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return make_error(ec::io_error, "cannot write '" + tmp + "': " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return make_error(ec::io_error, "cannot sync '" + tmp + "'");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return make_error(ec::io_error, "cannot rename '" + tmp + "': " + ec.message());
  return {};
}

expected<void> sync_directory(const std::string& dir) {
  auto fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(ec::io_error, "cannot open '" + dir + "': " + std::strerror(errno));
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return make_error(ec::io_error, "cannot sync '" + dir + "'");
  return {};
}

} // namespace telos
