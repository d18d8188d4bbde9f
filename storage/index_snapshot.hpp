// Snapshot files of the vector indexes. Layout (integers little-endian, as the host writes them):
//   "TELOSIDX"  u32 snapshot_version  u8 structure  u32 meta_length  meta (a Cereal envelope)
//   zero bytes up to a multiple of 64 bytes from the start (version 2; version 1 has none)
//   raw sections (ids, counts, floats; each index defines its own)
//   u64 XXH3-64 of every byte before it
// Written to "<path>.tmp", fsynced, renamed over <path>, directory fsynced: a crash leaves the
// old snapshot or the new one. Reading hashes as it goes and bounds every count by the bytes
// left, so a truncated or corrupt file is an error, never a crash or a huge allocation. A read
// goes from the file straight into the index's own memory (read(2), no stdio buffer between) and
// is hashed a cache-sized piece at a time right after it arrived; an I/O error is an error
// (ec::io_error), never a signal. A large section can instead be mapped (map(): a private
// file_view, hashed through the mapping), so the index uses the page cache's pages rather than
// copies; the padding of version 2 keeps such sections aligned for their floats.
#pragma once

#include "telos/messages/envelope.hpp"
#include "telos/messages/error.hpp"
#include "telos/storage/file_view.hpp"

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

struct XXH3_state_s;

namespace telos::storage {

/// What snapshot_writer writes; readers accept every version from 1 on.
inline constexpr uint32_t index_snapshot_version = 2;
/// Version 2 pads the header and meta data to a multiple of this many bytes.
inline constexpr size_t snapshot_section_alignment = 64;

/// Which index wrote a snapshot (a byte of the header).
/// maxsim (3) is the exact MaxSim index before token centroids; it still loads. maxsim_centroids
/// (4) is a MaxSim index with every f32 token row; it still loads. maxsim_codes (6) is what a
/// MaxSim index writes now: int8 codes of every token row, the f32 rows only of the memories it
/// holds them for (storage/maxsim_index.cpp), and its centroids when it has them.
/// dense_ivf (5) is a dense index of policy ivf: fresh rows, and once trained its centroids and
/// lists; dense (1) stays the hnsw and flat policies' format. sparse_postings (7) is what a sparse
/// index writes now: its documents and its postings as built, so a load maps them instead of
/// building the postings; sparse (2), the documents only, still loads. dense_ivf_delta (8) is
/// what a dense ivf index appended to its lists since a dense_ivf snapshot (its base), and its
/// fresh rows: read only together with that base (vector_index::save_delta).
/// dense_ivf_delta_removals (9) is the same with the base's rows removed since (by list and id):
/// written only when there are such, so a delta of appends stays readable by builds that know 8.
enum class snapshot_structure : uint8_t {
  dense = 1,
  sparse = 2,
  maxsim = 3,
  maxsim_centroids = 4,
  dense_ivf = 5,
  maxsim_codes = 6,
  sparse_postings = 7,
  dense_ivf_delta = 8,
  dense_ivf_delta_removals = 9
};

/// XXH3-64 and size of a whole file (used for the HNSW graph file beside a snapshot).
struct file_digest {
  uint64_t size = 0;
  uint64_t xxh3 = 0;
};

/// Reads the whole file; ec::not_found when missing, ec::io_error when unreadable.
expected<file_digest> digest_file(const std::string& path);

/// fsyncs a file that someone else wrote (hnswlib writes through an ofstream; RocksDB's logs,
/// backend::sync_written). Through the own-file seam of storage/fault_injection.hpp.
expected<void> sync_file(const std::string& path);
/// fsyncs a directory, so the entries of the files created in it are durable.
expected<void> sync_directory_entries(const std::string& dir);

class snapshot_writer {
public:
  /// Starts "<path>.tmp" with the header; errors are reported by commit().
  snapshot_writer(std::string path, snapshot_structure structure, const std::string& meta);
  /// Removes the temporary file unless commit() succeeded.
  ~snapshot_writer();
  snapshot_writer(const snapshot_writer&) = delete;
  snapshot_writer& operator=(const snapshot_writer&) = delete;

  void write(const void* data, size_t size);

  template <class T>
  void write_array(const T* data, size_t count) {
    static_assert(std::is_trivially_copyable_v<T>);
    write(data, count * sizeof(T));
  }

  /// Appends the checksum, fsyncs, renames over the destination and fsyncs the directory.
  expected<void> commit();

  /// The writer hands what it wrote to the device every this many bytes as it goes
  /// (sync_file_range), and waits for the stretch before, so no more than about twice this many
  /// bytes of the file are ever waiting in the page cache. Left to the final fsync instead, a
  /// snapshot of a million-memory index (0.5-1.5 GB) went to the device in one burst, and the
  /// store's own synced writes waited behind it: every ingest pause of 0.87-1.3 s at 1M ended
  /// in the last 1.5 s of a checkpoint (docs/ENGINE.md, "Recovery").
  static constexpr uint64_t writeback_step = uint64_t{8} << 20;

private:
  /// Starts the device write of what was written since the last call once that is at least
  /// writeback_step bytes, and waits for the stretch started the time before.
  void write_back();

  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  /// Bytes handed to the file; bytes whose device write was started; bytes waited for.
  uint64_t written_ = 0;
  uint64_t started_to_ = 0;
  uint64_t settled_to_ = 0;
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> hash_;
  std::string error_;
  bool committed_ = false;
};

class snapshot_reader {
public:
  snapshot_reader();
  ~snapshot_reader();
  snapshot_reader(const snapshot_reader&) = delete;
  snapshot_reader& operator=(const snapshot_reader&) = delete;

  /// Opens `path` and checks the header; returns the meta envelope's bytes. ec::not_found when
  /// missing, ec::format_mismatch when another structure or version wrote it, ec::corrupt_value
  /// when the header is damaged.
  expected<std::string> open(const std::string& path, snapshot_structure structure);
  /// As above, accepting any of `accepted` (structure() then says which one wrote the file).
  expected<std::string> open(const std::string& path,
                             std::initializer_list<snapshot_structure> accepted);

  /// The structure byte of the opened file.
  snapshot_structure structure() const { return structure_; }

  /// Reads `size` bytes into `data` (straight from the file, no copy between); false when fewer
  /// remain before the trailer or the file cannot be read (corrupt() then says which).
  bool read(void* data, size_t size);

  /// Reads `count` elements into `out` (a std::vector or float_buffer of trivially copyable
  /// elements); false (and no allocation) when the file cannot hold them.
  template <class T>
  bool read_array(T& out, uint64_t count) {
    using element = typename T::value_type;
    static_assert(std::is_trivially_copyable_v<element>);
    if (count > remaining() / sizeof(element)) return false;
    out.resize(static_cast<size_t>(count));
    return read(out.data(), out.size() * sizeof(element));
  }

  /// True when the next section starts at a file offset that is a multiple of `alignment` (so
  /// map() can hand out its elements where they lie).
  bool aligned_for(size_t alignment) const { return fd_ >= 0 && position_ % alignment == 0; }

  /// Maps the next `size` bytes into `out` instead of reading them (file_view::map), and hashes
  /// them through the mapping (which reads them in once); false when fewer remain before the
  /// trailer, the system refuses the mapping, or a page cannot be read (corrupt() then says
  /// which).
  bool map(file_view& out, size_t size);

  /// Bytes left before the trailer.
  uint64_t remaining() const { return payload_end_ - position_; }

  /// True when everything before the trailer was read and the checksum matches.
  bool verify();

  /// ec::corrupt_value naming the file and `what`; ec::io_error naming the system's error instead
  /// when a read failed.
  caf::error corrupt(const std::string& what) const;

  const std::string& path() const { return path_; }

private:
  /// read(2) until `size` bytes arrived; false at the end of the file or on an error (read_errno_).
  bool read_fully(void* data, size_t size);

  std::string path_;
  int fd_ = -1;
  /// errno of the first failed read, 0 while none failed.
  int read_errno_ = 0;
  /// Why map() could not map (empty when it could).
  std::string map_error_;
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> hash_;
  uint64_t position_ = 0;
  uint64_t payload_end_ = 0;
  snapshot_structure structure_ = snapshot_structure::dense;
};

} // namespace telos::storage
