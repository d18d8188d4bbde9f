// The RocksDB file system wrapper of the fault seam (rocksdb_fault_fs.hpp): every writable file,
// readable file and directory RocksDB opens is wrapped so the fault_injector can fail its
// operations and track what is durable.
#include "telos/storage/rocksdb_fault_fs.hpp"

#include <rocksdb/file_system.h>

#include <cstring>

namespace telos::storage::detail {

namespace {

rocksdb::IOStatus injected_status(const fault_decision& d, const char* what,
                                  const std::string& path) {
  std::string msg = std::string{"injected fault: "} + what + " " + path;
  if (d.error == ENOSPC) {
    // As RocksDB's POSIX file system reports a full disk: NoSpace, retryable.
    auto s = rocksdb::IOStatus::NoSpace(msg, std::strerror(ENOSPC));
    s.SetRetryable(true);
    return s;
  }
  return rocksdb::IOStatus::IOError(msg, std::strerror(d.error));
}

class faulty_writable_file final : public rocksdb::FSWritableFileOwnerWrapper {
public:
  faulty_writable_file(std::unique_ptr<rocksdb::FSWritableFile> file, std::string path,
                       std::shared_ptr<fault_injector> injector)
      : FSWritableFileOwnerWrapper(std::move(file)), path_(std::move(path)),
        injector_(std::move(injector)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::write, path_))
      return fail_append(d, data, options, dbg);
    auto s = target()->Append(data, options, dbg);
    if (s.ok()) injector_->note_appended(path_, data.size());
    return s;
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::write, path_))
      return fail_append(d, data, options, dbg);
    auto s = target()->Append(data, options, info, dbg);
    if (s.ok()) injector_->note_appended(path_, data.size());
    return s;
  }

  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::write, path_))
      return injected_status(d, "positioned append to", path_);
    auto s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) injector_->note_appended(path_, data.size());
    return s;
  }

  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::write, path_))
      return injected_status(d, "positioned append to", path_);
    auto s = target()->PositionedAppend(data, offset, options, info, dbg);
    if (s.ok()) injector_->note_appended(path_, data.size());
    return s;
  }

  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::write, path_))
      return injected_status(d, "truncate of", path_);
    auto s = target()->Truncate(size, options, dbg);
    if (s.ok()) injector_->note_truncated(path_, size);
    return s;
  }

  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::sync, path_))
      return injected_status(d, "sync of", path_);
    auto s = target()->Sync(options, dbg);
    if (s.ok()) injector_->note_synced(path_);
    return s;
  }

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::sync, path_))
      return injected_status(d, "fsync of", path_);
    auto s = target()->Fsync(options, dbg);
    if (s.ok()) injector_->note_synced(path_);
    return s;
  }

  rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    // A range sync starts writeback but promises nothing: it never counts as synced.
    if (auto d = injector_->decide(file_op::sync, path_))
      return injected_status(d, "range sync of", path_);
    return target()->RangeSync(offset, nbytes, options, dbg);
  }

private:
  rocksdb::IOStatus fail_append(const fault_decision& d, const rocksdb::Slice& data,
                                const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
    if (d.partial && data.size() > 1) {
      // A torn write: the first half reaches the file, then the device fails.
      rocksdb::Slice half{data.data(), data.size() / 2};
      if (target()->Append(half, options, dbg).ok()) injector_->note_appended(path_, half.size());
      return injected_status(d, "short write to", path_);
    }
    return injected_status(d, "append to", path_);
  }

  std::string path_;
  std::shared_ptr<fault_injector> injector_;
};

class faulty_random_access_file final : public rocksdb::FSRandomAccessFileOwnerWrapper {
public:
  faulty_random_access_file(std::unique_ptr<rocksdb::FSRandomAccessFile> file, std::string path,
                            std::shared_ptr<fault_injector> injector)
      : FSRandomAccessFileOwnerWrapper(std::move(file)), path_(std::move(path)),
        injector_(std::move(injector)) {}

  rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& options,
                         rocksdb::Slice* result, char* scratch,
                         rocksdb::IODebugContext* dbg) const override {
    if (auto d = injector_->decide(file_op::read, path_))
      return injected_status(d, "read of", path_);
    return target()->Read(offset, n, options, result, scratch, dbg);
  }

  rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t count,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::read, path_)) {
      auto s = injected_status(d, "read of", path_);
      for (size_t i = 0; i < count; ++i)
        reqs[i].status = s;
      return s;
    }
    return target()->MultiRead(reqs, count, options, dbg);
  }

private:
  std::string path_;
  std::shared_ptr<fault_injector> injector_;
};

class faulty_sequential_file final : public rocksdb::FSSequentialFileOwnerWrapper {
public:
  faulty_sequential_file(std::unique_ptr<rocksdb::FSSequentialFile> file, std::string path,
                         std::shared_ptr<fault_injector> injector)
      : FSSequentialFileOwnerWrapper(std::move(file)), path_(std::move(path)),
        injector_(std::move(injector)) {}

  rocksdb::IOStatus Read(size_t n, const rocksdb::IOOptions& options, rocksdb::Slice* result,
                         char* scratch, rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::read, path_))
      return injected_status(d, "read of", path_);
    return target()->Read(n, options, result, scratch, dbg);
  }

  rocksdb::IOStatus PositionedRead(uint64_t offset, size_t n, const rocksdb::IOOptions& options,
                                   rocksdb::Slice* result, char* scratch,
                                   rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::read, path_))
      return injected_status(d, "read of", path_);
    return target()->PositionedRead(offset, n, options, result, scratch, dbg);
  }

private:
  std::string path_;
  std::shared_ptr<fault_injector> injector_;
};

class faulty_directory final : public rocksdb::FSDirectoryWrapper {
public:
  faulty_directory(std::unique_ptr<rocksdb::FSDirectory> dir, std::string path,
                   std::shared_ptr<fault_injector> injector)
      : FSDirectoryWrapper(std::move(dir)), path_(std::move(path)), injector_(std::move(injector)) {
  }

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::sync, path_))
      return injected_status(d, "fsync of directory", path_);
    auto s = FSDirectoryWrapper::Fsync(options, dbg);
    if (s.ok()) injector_->note_dir_synced(path_);
    return s;
  }

  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options,
                                        rocksdb::IODebugContext* dbg,
                                        const rocksdb::DirFsyncOptions& dir_options) override {
    if (auto d = injector_->decide(file_op::sync, path_))
      return injected_status(d, "fsync of directory", path_);
    auto s = FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
    if (s.ok()) injector_->note_dir_synced(path_);
    return s;
  }

private:
  std::string path_;
  std::shared_ptr<fault_injector> injector_;
};

class fault_file_system final : public rocksdb::FileSystemWrapper {
public:
  fault_file_system(std::shared_ptr<rocksdb::FileSystem> base,
                    std::shared_ptr<fault_injector> injector)
      : FileSystemWrapper(base), injector_(std::move(injector)) {}

  const char* Name() const override { return "TelosFaultFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::create, path))
      return injected_status(d, "creation of", path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    auto s = target()->NewWritableFile(path, opts, &file, dbg);
    if (!s.ok()) return s;
    injector_->note_created(path);
    *result = std::make_unique<faulty_writable_file>(std::move(file), path, injector_);
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(const std::string& path, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::create, path))
      return injected_status(d, "reopening of", path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    auto s = target()->ReopenWritableFile(path, opts, &file, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<faulty_writable_file>(std::move(file), path, injector_);
    return s;
  }

  rocksdb::IOStatus ReuseWritableFile(const std::string& path, const std::string& old_path,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    if (auto d = injector_->decide(file_op::create, path))
      return injected_status(d, "reuse of", old_path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    auto s = target()->ReuseWritableFile(path, old_path, opts, &file, dbg);
    if (!s.ok()) return s;
    injector_->note_deleted(old_path);
    injector_->note_created(path);
    *result = std::make_unique<faulty_writable_file>(std::move(file), path, injector_);
    return s;
  }

  rocksdb::IOStatus NewRandomAccessFile(const std::string& path, const rocksdb::FileOptions& opts,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                        rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSRandomAccessFile> file;
    auto s = target()->NewRandomAccessFile(path, opts, &file, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<faulty_random_access_file>(std::move(file), path, injector_);
    return s;
  }

  rocksdb::IOStatus NewSequentialFile(const std::string& path, const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSSequentialFile> file;
    auto s = target()->NewSequentialFile(path, opts, &file, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<faulty_sequential_file>(std::move(file), path, injector_);
    return s;
  }

  rocksdb::IOStatus NewDirectory(const std::string& path, const rocksdb::IOOptions& opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSDirectory> dir;
    auto s = target()->NewDirectory(path, opts, &dir, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<faulty_directory>(std::move(dir), path, injector_);
    return s;
  }

  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override {
    if (injector_->power_is_cut()) return injected_status({EIO, false}, "rename of", from);
    auto s = target()->RenameFile(from, to, opts, dbg);
    if (s.ok()) injector_->note_renamed(from, to);
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override {
    if (injector_->power_is_cut()) return injected_status({EIO, false}, "deletion of", path);
    auto s = target()->DeleteFile(path, opts, dbg);
    if (s.ok()) injector_->note_deleted(path);
    return s;
  }

private:
  std::shared_ptr<fault_injector> injector_;
};

} // namespace

std::shared_ptr<rocksdb::FileSystem>
make_fault_file_system(std::shared_ptr<rocksdb::FileSystem> base,
                       std::shared_ptr<fault_injector> injector) {
  return std::make_shared<fault_file_system>(std::move(base), std::move(injector));
}

} // namespace telos::storage::detail
