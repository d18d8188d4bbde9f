// What a store wrote to its files for the bytes its users wrote: the figures behind its write
// amplification (RocksDB's statistics tickers; backends that do not count them report zeros).
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>

namespace telos {

/// Bytes written since the store was opened.
struct write_volume {
  /// Keys and values of the batches users wrote, with RocksDB's few bytes of framing per entry
  /// (`rocksdb.bytes.written`).
  uint64_t user = 0;
  /// To the write-ahead log (`rocksdb.wal.bytes`).
  uint64_t wal = 0;
  /// By memtable flushes, to table files and blob files alike (`rocksdb.flush.write.bytes`: the
  /// flushing thread's I/O counter).
  uint64_t flush = 0;
  /// By compactions, blob files they rewrite included (`rocksdb.compact.write.bytes`).
  uint64_t compaction = 0;
  /// The part of flush and compaction that went to blob files
  /// (`rocksdb.blobdb.blob.file.bytes.written`); not added again in files().
  uint64_t blob = 0;
  /// Compaction and stall state (RocksDB; zeros elsewhere), summed over shards: microseconds
  /// writers were slowed down or stopped because flushes or compactions fell behind
  /// (`rocksdb.stall.micros`), compactions running now (`rocksdb.num-running-compactions`), and
  /// bytes compactions still have to rewrite (`rocksdb.estimate-pending-compaction-bytes`, over
  /// every keyspace).
  uint64_t stall_micros = 0;
  uint64_t running_compactions = 0;
  uint64_t pending_compaction_bytes = 0;

  /// Every byte written to files: WAL, flushes, compactions.
  uint64_t files() const { return wal + flush + compaction; }

  /// Bytes written to files per byte users wrote; 0 before any write.
  double amplification() const {
    return user == 0 ? 0.0 : static_cast<double>(files()) / static_cast<double>(user);
  }

  write_volume& operator+=(const write_volume& x) {
    user += x.user;
    wal += x.wal;
    flush += x.flush;
    compaction += x.compaction;
    blob += x.blob;
    stall_micros += x.stall_micros;
    running_compactions += x.running_compactions;
    pending_compaction_bytes += x.pending_compaction_bytes;
    return *this;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_volume& x) {
  return f(caf::meta::type_name("write_volume"), x.user, x.wal, x.flush, x.compaction, x.blob,
           x.stall_micros, x.running_compactions, x.pending_compaction_bytes);
}

} // namespace telos
