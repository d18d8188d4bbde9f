// The LMDB baseline of `telos-bench kv`: the workload through the LMDB C API directly, with the
// environment flags, named databases and map growth of storage/lmdb_backend.cpp.
#include "kv_raw.hpp"

#include <lmdb.h>

#include <filesystem>
#include <vector>

namespace telos::bench {

namespace {

void check(int rc, const std::string& what) {
  if (rc != MDB_SUCCESS) throw kv_failure("raw lmdb: " + what + ": " + mdb_strerror(rc));
}

MDB_val val(std::string_view bytes) {
  return {bytes.size(), const_cast<char*>(bytes.data())};
}

class raw_lmdb final : public kv_store_under_test {
public:
  raw_lmdb(const storage::backend_options& opts, const std::string& keyspace)
      : map_size_(opts.lmdb_map_mb << 20) {
    std::filesystem::create_directories(opts.path);
    MDB_env* env = nullptr;
    check(mdb_env_create(&env), "env create");
    env_.reset(env);
    // Our backend's settings: one named database per keyspace plus "__meta", 1024 readers,
    // MDB_NOTLS (read transactions belong to calls, not threads), MDB_NOSYNC (no flush per
    // commit; writes here are not synced).
    check(mdb_env_set_maxdbs(env_.get(), static_cast<MDB_dbi>(opts.keyspaces.size() + 1)),
          "set maxdbs");
    check(mdb_env_set_maxreaders(env_.get(), 1024), "set maxreaders");
    check(mdb_env_set_mapsize(env_.get(), map_size_), "set mapsize");
    check(mdb_env_open(env_.get(), opts.path.c_str(), MDB_NOTLS | MDB_NOSYNC, 0644),
          "open " + opts.path);
    MDB_stat stat;
    check(mdb_env_stat(env_.get(), &stat), "stat");
    page_size_ = stat.ms_psize;
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_.get(), nullptr, 0, &txn), "begin");
    std::vector<std::string> databases = opts.keyspaces;
    databases.push_back("__meta");
    bool found = false;
    for (const auto& name : databases) {
      MDB_dbi dbi = 0;
      int rc = mdb_dbi_open(txn, name.c_str(), MDB_CREATE, &dbi);
      if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
      check(rc, "open database " + name);
      if (name == keyspace) {
        dbi_ = dbi;
        found = true;
      }
    }
    check(mdb_txn_commit(txn), "commit database creation");
    if (!found) throw kv_failure("raw lmdb: keyspace '" + keyspace + "' not declared");
  }

  void fill(const kv_dataset& data, size_t first, size_t last) override {
    const size_t batch_size = data.config().batch_size;
    for (size_t begin = first; begin < last; begin += batch_size) {
      size_t end = std::min(begin + batch_size, last);
      // One write transaction per batch. The map grows as our backend grows it: doubled ahead
      // of a batch that may not fit, and doubled again (batch retried) on MDB_MAP_FULL.
      size_t batch_bytes = 0;
      for (size_t i = begin; i < end; ++i)
        batch_bytes += data.key(i).size() + data.value(i).size();
      grow_to(estimate_need(batch_bytes, end - begin));
      for (;;) {
        MDB_txn* txn = nullptr;
        check(mdb_txn_begin(env_.get(), nullptr, 0, &txn), "begin write");
        int rc = MDB_SUCCESS;
        for (size_t i = begin; i < end && rc == MDB_SUCCESS; ++i) {
          MDB_val key = val(data.key(i));
          MDB_val value = val(data.value(i));
          rc = mdb_put(txn, dbi_, &key, &value, 0);
        }
        if (rc == MDB_SUCCESS) {
          rc = mdb_txn_commit(txn);
        } else {
          mdb_txn_abort(txn);
        }
        if (rc == MDB_MAP_FULL) {
          grow_to(map_size_ * 2);
          continue;
        }
        check(rc, "write batch");
        break;
      }
    }
  }

  void point_reads(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) override {
    for (size_t i = begin; i < end; ++i) {
      uint32_t index = data.read_order()[i];
      MDB_txn* txn = begin_read();
      MDB_val key = val(data.key(index));
      MDB_val value;
      int rc = mdb_get(txn, dbi_, &key, &value);
      if (rc == MDB_SUCCESS) {
        ++tally.items;
        tally.bytes += value.mv_size;
        tally.digest += kv_consume(static_cast<const char*>(value.mv_data), value.mv_size);
      }
      end_read();
      if (rc != MDB_NOTFOUND) check(rc, "get");
    }
  }

  void range_scans(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) override {
    const size_t length = data.config().scan_length;
    for (size_t i = begin; i < end; ++i) {
      uint32_t start = data.scan_starts()[i];
      MDB_txn* txn = begin_read();
      MDB_cursor* cursor = nullptr;
      check(mdb_cursor_open(txn, dbi_, &cursor), "cursor open");
      MDB_val key = val(data.key(start));
      MDB_val value;
      int rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
      for (size_t n = 0; n < length && rc == MDB_SUCCESS; ++n) {
        ++tally.items;
        tally.bytes += key.mv_size + value.mv_size;
        tally.digest += kv_consume(static_cast<const char*>(key.mv_data), key.mv_size) +
                        kv_consume(static_cast<const char*>(value.mv_data), value.mv_size);
        if (n + 1 < length) rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
      }
      mdb_cursor_close(cursor);
      end_read();
      if (rc != MDB_NOTFOUND) check(rc, "scan");
    }
  }

private:
  /// Pages in use plus twice the batch plus slack: our backend's estimate of what a batch needs.
  size_t estimate_need(size_t batch_bytes, size_t batch_ops) const {
    MDB_envinfo info;
    mdb_env_info(env_.get(), &info);
    size_t used = (info.me_last_pgno + 1) * page_size_;
    return used + 2 * (batch_bytes + 64 * batch_ops) + 64 * page_size_;
  }

  /// Doubles the map until it holds `min_size` bytes.
  void grow_to(size_t min_size) {
    if (map_size_ >= min_size) return;
    while (map_size_ < min_size)
      map_size_ *= 2;
    check(mdb_env_set_mapsize(env_.get(), map_size_), "grow map");
  }

  /// A read-only transaction for one operation. LMDB's documented fast path for many short reads
  /// on one thread: reset the transaction after use and renew it next time.
  MDB_txn* begin_read() {
    if (read_txn_) {
      check(mdb_txn_renew(read_txn_.get()), "renew read");
    } else {
      MDB_txn* txn = nullptr;
      check(mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &txn), "begin read");
      read_txn_.reset(txn);
    }
    return read_txn_.get();
  }
  void end_read() { mdb_txn_reset(read_txn_.get()); }

  // Declared before the read transaction, so the environment closes after it is aborted.
  std::unique_ptr<MDB_env, decltype(&mdb_env_close)> env_{nullptr, &mdb_env_close};
  std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> read_txn_{nullptr, &mdb_txn_abort};
  MDB_dbi dbi_ = 0;
  size_t map_size_;
  size_t page_size_ = 4096;
};

} // namespace

std::unique_ptr<kv_store_under_test> open_raw_lmdb(const storage::backend_options& opts,
                                                   const std::string& keyspace) {
  return std::make_unique<raw_lmdb>(opts, keyspace);
}

} // namespace telos::bench
