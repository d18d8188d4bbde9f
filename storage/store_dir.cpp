// Marker file and directory lock of RocksDB and LMDB stores.
#include "telos/storage/store_dir.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace telos::storage::detail {

namespace {

namespace fs = std::filesystem;

constexpr const char* marker_name = "TELOS";

std::string marker_text(backend_kind kind) {
  return std::string{"telos-store\nbackend="} + to_string(kind) +
         "\nformat=" + std::to_string(store_format_version) + "\n";
}

caf::error os_error(const std::string& what) {
  return make_error(ec::io_error, what + ": " + std::strerror(errno));
}

/// Writes all of `text` at offset 0 and makes it durable, with the directory entry.
caf::error write_durably(int fd, const std::string& text, const std::string& file) {
  if (::ftruncate(fd, 0) != 0) return os_error("cannot truncate " + file);
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot write " + file);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return os_error("cannot sync " + file);
  auto dir = fs::path{file}.parent_path().string();
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

expected<std::string> read_all(int fd, const std::string& file) {
  std::string out;
  char buf[4096];
  off_t offset = 0;
  for (;;) {
    auto n = ::pread(fd, buf, sizeof(buf), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot read " + file);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    offset += n;
    if (out.size() > 65536)
      return make_error(ec::not_a_store, file + " is too large to be a Telos store marker");
  }
  return out;
}

/// Checks a marker's text against the expected kind and format.
caf::error check_marker(const std::string& text, const std::string& dir, backend_kind kind) {
  std::istringstream in{text};
  std::string line;
  std::string found_kind;
  std::string found_format;
  bool magic = false;
  while (std::getline(in, line)) {
    if (line == "telos-store")
      magic = true;
    else if (line.rfind("backend=", 0) == 0)
      found_kind = line.substr(8);
    else if (line.rfind("format=", 0) == 0)
      found_format = line.substr(7);
  }
  if (!magic || found_kind.empty() || found_format.empty())
    return make_error(ec::not_a_store, dir + "/" + marker_name +
                                           " is not a Telos store marker (content '" +
                                           text.substr(0, 80) + "')");
  auto expected_format = std::to_string(store_format_version);
  if (found_kind != to_string(kind) || found_format != expected_format)
    return make_error(ec::format_mismatch, "store " + dir + " is a " + found_kind +
                                               " store of format " + found_format +
                                               "; expected a " + to_string(kind) +
                                               " store of format " + expected_format);
  return {};
}

bool directory_is_empty(const std::string& dir) {
  std::error_code err;
  return fs::is_empty(dir, err) && !err;
}

} // namespace

store_dir::store_dir(std::string path, backend_kind kind, int fd, bool creating)
    : path_(std::move(path)), kind_(kind), fd_(fd), creating_(creating) {}

store_dir::store_dir(store_dir&& other) noexcept
    : path_(std::move(other.path_)), kind_(other.kind_), fd_(other.fd_),
      creating_(other.creating_) {
  other.fd_ = -1;
}

store_dir& store_dir::operator=(store_dir&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    kind_ = other.kind_;
    fd_ = other.fd_;
    creating_ = other.creating_;
    other.fd_ = -1;
  }
  return *this;
}

store_dir::~store_dir() {
  // Closing the descriptor releases the flock.
  if (fd_ >= 0) ::close(fd_);
}

expected<store_dir> store_dir::open(const std::string& path, backend_kind kind,
                                    bool create_if_missing, bool read_only) {
  if (path.empty())
    return make_error(ec::invalid_argument,
                      std::string{"no directory given for the "} + to_string(kind) + " store");
  bool may_create = create_if_missing && !read_only;
  std::error_code err;
  auto status = fs::status(path, err);
  if (!fs::exists(status)) {
    if (!may_create)
      return make_error(ec::not_found,
                        "store directory " + path + " does not exist" +
                            (read_only ? " (opened read-only)" : " (create_if_missing is off)"));
    fs::create_directories(path, err);
    if (err)
      return make_error(ec::io_error,
                        "cannot create store directory " + path + ": " + err.message());
  } else if (!fs::is_directory(status)) {
    return make_error(ec::not_a_store, path + " is not a directory");
  }
  auto marker = path + "/" + marker_name;
  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  int fd = ::open(marker.c_str(), flags);
  if (fd < 0 && errno == ENOENT) {
    if (!directory_is_empty(path))
      return make_error(ec::not_a_store, "directory " + path +
                                             " is not empty and holds no Telos store (no " +
                                             marker_name + " marker)");
    if (!may_create)
      return make_error(ec::not_found,
                        "directory " + path + " holds no store" +
                            (read_only ? " (opened read-only)" : " (create_if_missing is off)"));
    fd = ::open(marker.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    // Another process may have created it between our two opens; then take its marker.
    if (fd < 0 && errno == EEXIST) fd = ::open(marker.c_str(), flags);
  }
  if (fd < 0) return os_error("cannot open " + marker);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto saved = errno;
    ::close(fd);
    if (saved == EWOULDBLOCK)
      return make_error(ec::locked, "store " + path + " is locked by another process");
    errno = saved;
    return os_error("cannot lock " + marker);
  }
  store_dir dir{path, kind, fd, false};
  auto text = read_all(fd, marker);
  if (!text) return text.error();
  if (text->empty()) {
    // An empty marker is a creation that never finished: finish it when allowed.
    if (!may_create)
      return make_error(ec::not_a_store, "store " + path + " was never completely created (empty " +
                                             marker_name + " marker)");
    dir.creating_ = true;
    return dir;
  }
  if (auto bad = check_marker(*text, path, kind)) return bad;
  return dir;
}

expected<void> store_dir::seal() {
  if (auto err = write_durably(fd_, marker_text(kind_), path_ + "/" + marker_name)) return err;
  creating_ = false;
  return {};
}

expected<void> store_dir::write_marker(const std::string& dir, backend_kind kind) {
  auto marker = dir + "/" + marker_name;
  int fd = ::open(marker.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return os_error("cannot create " + marker);
  auto err = write_durably(fd, marker_text(kind), marker);
  ::close(fd);
  if (err) return err;
  return {};
}

} // namespace telos::storage::detail
