// Checksummed, atomically replaced snapshot files of the vector indexes.
#include "telos/storage/index_snapshot.hpp"

#include "telos/storage/fault_injection.hpp"

#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace telos::storage {

namespace {

constexpr char magic[8] = {'T', 'E', 'L', 'O', 'S', 'I', 'D', 'X'};
constexpr size_t header_size =
    sizeof(magic) + sizeof(uint32_t) + sizeof(uint8_t) + sizeof(uint32_t);
constexpr size_t trailer_size = sizeof(uint64_t);
/// A meta envelope is a few hundred bytes; anything near this is not ours.
constexpr uint32_t max_meta_bytes = 1 << 20;

std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> new_hash() {
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> state{
      XXH3_createState(), [](XXH3_state_s* s) { XXH3_freeState(s); }};
  if (state) XXH3_64bits_reset(state.get());
  return state;
}

std::string errno_text() {
  return std::strerror(errno);
}

expected<void> fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0)
    return make_error(ec::io_error, "cannot open '" + path + "' to fsync: " + errno_text());
  int rc = 0;
  if (auto fault = own_file_fault(file_op::sync, path)) {
    errno = fault.error;
    rc = -1;
  } else {
    rc = ::fsync(fd);
  }
  auto saved = errno;
  ::close(fd);
  if (rc != 0)
    return make_error(ec::io_error, "fsync of '" + path + "' failed: " + std::strerror(saved));
  // A file the power-cut model tracks (one RocksDB wrote through the fault file system) is durable
  // now; for any other path this does nothing.
  if (auto injector = installed_fault_injector()) {
    if ((flags & O_DIRECTORY) != 0)
      injector->note_dir_synced(path);
    else
      injector->note_synced(path);
  }
  return {};
}

std::string parent_directory(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string{"."} : parent.string();
}

} // namespace

expected<file_digest> digest_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    auto code = errno == ENOENT ? ec::not_found : ec::io_error;
    return make_error(code, "cannot open '" + path + "': " + errno_text());
  }
  auto hash = new_hash();
  if (!hash) {
    std::fclose(f);
    return make_error(ec::io_error, "cannot allocate an XXH3 state to hash '" + path + "'");
  }
  std::vector<char> buffer(1 << 20);
  file_digest result;
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
    XXH3_64bits_update(hash.get(), buffer.data(), n);
    result.size += n;
  }
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return make_error(ec::io_error, "cannot read '" + path + "'");
  result.xxh3 = XXH3_64bits_digest(hash.get());
  return result;
}

expected<void> sync_file(const std::string& path) {
  return fsync_path(path, O_RDONLY);
}

expected<void> sync_directory_entries(const std::string& dir) {
  return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

snapshot_writer::snapshot_writer(std::string path, snapshot_structure structure,
                                 const std::string& meta)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp"), hash_(new_hash()) {
  if (!hash_) {
    error_ = "cannot allocate an XXH3 state";
    return;
  }
  if (auto fault = own_file_fault(file_op::create, tmp_path_)) {
    error_ = "cannot create '" + tmp_path_ + "': " + std::strerror(fault.error);
    return;
  }
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (file_ == nullptr) {
    error_ = "cannot create '" + tmp_path_ + "': " + errno_text();
    return;
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  uint32_t version = index_snapshot_version;
  auto tag = static_cast<uint8_t>(structure);
  auto meta_length = static_cast<uint32_t>(meta.size());
  write(magic, sizeof(magic));
  write(&version, sizeof(version));
  write(&tag, sizeof(tag));
  write(&meta_length, sizeof(meta_length));
  write(meta.data(), meta.size());
  static constexpr char zeroes[snapshot_section_alignment] = {};
  const size_t written = header_size + meta.size();
  write(zeroes, (snapshot_section_alignment - written % snapshot_section_alignment) %
                    snapshot_section_alignment);
}

snapshot_writer::~snapshot_writer() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(tmp_path_.c_str());
}

void snapshot_writer::write(const void* data, size_t size) {
  if (file_ == nullptr || !error_.empty() || size == 0) return;
  XXH3_64bits_update(hash_.get(), data, size);
  if (auto fault = own_file_fault(file_op::write, tmp_path_)) {
    if (fault.partial) {
      auto half = std::fwrite(data, 1, size / 2, file_);
      static_cast<void>(half);
    }
    error_ = "cannot write '" + tmp_path_ + "': " + std::strerror(fault.error);
    return;
  }
  if (std::fwrite(data, 1, size, file_) != size) {
    error_ = "cannot write '" + tmp_path_ + "': " + errno_text();
    return;
  }
  written_ += size;
  write_back();
}

void snapshot_writer::write_back() {
  if (written_ - started_to_ < writeback_step) return;
  if (std::fflush(file_) != 0) {
    error_ = "cannot write '" + tmp_path_ + "': " + errno_text();
    return;
  }
  // Advisory: a range the system does not write now is written by commit()'s fsync, which also
  // reports any error of these writes.
  const int fd = ::fileno(file_);
  ::sync_file_range(fd, static_cast<off_t>(started_to_), static_cast<off_t>(written_ - started_to_),
                    SYNC_FILE_RANGE_WRITE);
  if (started_to_ > settled_to_)
    ::sync_file_range(
        fd, static_cast<off_t>(settled_to_), static_cast<off_t>(started_to_ - settled_to_),
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  settled_to_ = started_to_;
  started_to_ = written_;
}

expected<void> snapshot_writer::commit() {
  if (error_.empty()) {
    uint64_t digest = XXH3_64bits_digest(hash_.get());
    if (std::fwrite(&digest, 1, sizeof(digest), file_) != sizeof(digest) || std::fflush(file_) != 0)
      error_ = "cannot write '" + tmp_path_ + "': " + errno_text();
    else if (auto fault = own_file_fault(file_op::sync, tmp_path_))
      error_ = "fsync of '" + tmp_path_ + "' failed: " + std::strerror(fault.error);
    else if (::fsync(::fileno(file_)) != 0)
      error_ = "fsync of '" + tmp_path_ + "' failed: " + errno_text();
  }
  if (file_ != nullptr && std::fclose(file_) != 0 && error_.empty())
    error_ = "cannot close '" + tmp_path_ + "': " + errno_text();
  file_ = nullptr;
  if (!error_.empty()) return make_error(ec::io_error, "index snapshot: " + error_);
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    return make_error(ec::io_error,
                      "cannot rename '" + tmp_path_ + "' to '" + path_ + "': " + errno_text());
  committed_ = true;
  return sync_directory_entries(parent_directory(path_));
}

snapshot_reader::snapshot_reader() : hash_(new_hash()) {}

snapshot_reader::~snapshot_reader() {
  if (fd_ >= 0) ::close(fd_);
}

expected<std::string> snapshot_reader::open(const std::string& path, snapshot_structure structure) {
  return open(path, {structure});
}

expected<std::string> snapshot_reader::open(const std::string& path,
                                            std::initializer_list<snapshot_structure> accepted) {
  path_ = path;
  if (!hash_)
    return make_error(ec::io_error, "cannot allocate an XXH3 state to read '" + path + "'");
  if (auto fault = own_file_fault(file_op::read, path))
    return make_error(ec::io_error,
                      "cannot read index snapshot '" + path + "': " + std::strerror(fault.error));
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    auto code = errno == ENOENT ? ec::not_found : ec::io_error;
    return make_error(code, "cannot open index snapshot '" + path + "': " + errno_text());
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0)
    return make_error(ec::io_error, "cannot stat index snapshot '" + path + "': " + errno_text());
  auto file_size = static_cast<uint64_t>(st.st_size);
  // The whole file is read once, front to back: ask for large read-ahead (advisory).
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (file_size < header_size + trailer_size)
    return corrupt("has " + std::to_string(file_size) + " bytes, less than an empty snapshot");
  payload_end_ = file_size - trailer_size;
  char found_magic[sizeof(magic)] = {};
  uint32_t version = 0;
  uint8_t tag = 0;
  uint32_t meta_length = 0;
  read(found_magic, sizeof(found_magic));
  read(&version, sizeof(version));
  read(&tag, sizeof(tag));
  read(&meta_length, sizeof(meta_length));
  if (read_errno_ != 0) return corrupt("cannot be read");
  if (std::memcmp(found_magic, magic, sizeof(magic)) != 0)
    return corrupt("does not start with the index snapshot magic 'TELOSIDX'");
  if (version < 1 || version > index_snapshot_version)
    return make_error(ec::format_mismatch, "index snapshot '" + path + "' has version " +
                                               std::to_string(version) + ", expected 1 to " +
                                               std::to_string(index_snapshot_version));
  std::string expected_tags;
  bool known = false;
  for (auto s : accepted) {
    known = known || tag == static_cast<uint8_t>(s);
    expected_tags += (expected_tags.empty() ? "" : " or ") + std::to_string(static_cast<int>(s));
  }
  if (!known)
    return make_error(ec::format_mismatch, "index snapshot '" + path + "' holds structure " +
                                               std::to_string(tag) + ", expected " + expected_tags);
  structure_ = static_cast<snapshot_structure>(tag);
  if (meta_length > max_meta_bytes || meta_length > remaining())
    return corrupt("has a meta length of " + std::to_string(meta_length) + " bytes, " +
                   std::to_string(remaining()) + " bytes left");
  std::string meta(meta_length, '\0');
  if (!read(meta.data(), meta.size())) return corrupt("is truncated inside its meta data");
  if (version >= 2) {
    char padding[snapshot_section_alignment] = {};
    const size_t pad = (snapshot_section_alignment - position_ % snapshot_section_alignment) %
                       snapshot_section_alignment;
    if (!read(padding, pad)) return corrupt("is truncated inside its meta data");
  }
  return meta;
}

bool snapshot_reader::read_fully(void* data, size_t size) {
  auto* out = static_cast<char*>(data);
  while (size > 0) {
    auto n = ::read(fd_, out, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_errno_ = errno;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool snapshot_reader::read(void* data, size_t size) {
  // Pieces of this size are hashed while they are still in the cache the read left them in.
  constexpr size_t piece = size_t{1} << 20;
  if (size > remaining() || read_errno_ != 0) return false;
  auto* out = static_cast<char*>(data);
  for (size_t done = 0; done < size;) {
    auto n = std::min(piece, size - done);
    if (auto fault = own_file_fault(file_op::read, path_)) {
      read_errno_ = fault.error;
      return false;
    }
    if (!read_fully(out + done, n)) return false;
    XXH3_64bits_update(hash_.get(), out + done, n);
    done += n;
    position_ += n;
  }
  return true;
}

bool snapshot_reader::map(file_view& out, size_t size) {
  // Hashed a piece at a time like read(), with the system asked to read ahead of the hash.
  constexpr size_t piece = size_t{1} << 20;
  constexpr size_t ahead = size_t{16} << 20;
  if (size > remaining() || read_errno_ != 0) return false;
  auto view = file_view::map(fd_, path_, position_, size);
  if (!view) {
    read_errno_ = ENOMEM;
    map_error_ = telos::describe(view.error());
    return false;
  }
  const auto* bytes = view->data();
  for (size_t done = 0; done < size;) {
    if (auto fault = own_file_fault(file_op::read, path_)) {
      read_errno_ = fault.error;
      return false;
    }
    // Each stretch is mapped into the page tables before it is hashed (so searches later take no
    // page faults on it, and an unreadable page is an error here rather than a SIGBUS), while
    // the system reads the next one ahead.
    if (done % ahead == 0) {
      const size_t stretch = std::min(ahead, size - done);
      if (done + stretch < size)
        ::posix_fadvise(fd_, static_cast<off_t>(position_ + stretch),
                        static_cast<off_t>(std::min(ahead, size - done - stretch)),
                        POSIX_FADV_WILLNEED);
      if (int error = view->populate(done, stretch); error != 0) {
        read_errno_ = error == EFAULT ? EIO : error;
        return false;
      }
    }
    auto n = std::min(piece, size - done);
    XXH3_64bits_update(hash_.get(), bytes + done, n);
    done += n;
    position_ += n;
  }
  if (view->failed()) {
    read_errno_ = EIO;
    return false;
  }
  // read() goes on from the descriptor's offset.
  if (::lseek(fd_, static_cast<off_t>(position_), SEEK_SET) < 0) {
    read_errno_ = errno;
    return false;
  }
  out = std::move(*view);
  return true;
}

bool snapshot_reader::verify() {
  if (position_ != payload_end_) return false;
  uint64_t stored = 0;
  if (!read_fully(&stored, sizeof(stored))) return false;
  return stored == XXH3_64bits_digest(hash_.get());
}

caf::error snapshot_reader::corrupt(const std::string& what) const {
  if (!map_error_.empty()) return make_error(ec::io_error, map_error_);
  if (read_errno_ != 0)
    return make_error(ec::io_error,
                      "cannot read index snapshot '" + path_ + "': " + std::strerror(read_errno_));
  return make_error(ec::corrupt_value, "index snapshot '" + path_ + "' " + what);
}

} // namespace telos::storage
