// The LMDB baseline of `telos-bench kv`: the workload through the LMDB C API directly, with the
// environment flags, named databases and map growth of storage/lmdb_backend.cpp.
#include "kv_raw.hpp"

#include <lmdb.h>

#include <filesystem>

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
    check(mdb_env_set_maxdbs(env_.get(), static_cast<MDB_dbi>(opts.keyspaces.size() + 1)),
          "set maxdbs");
    check(mdb_env_set_mapsize(env_.get(), map_size_), "set mapsize");
    check(mdb_env_open(env_.get(), opts.path.c_str(), MDB_NOSYNC, 0644), "open " + opts.path);
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_.get(), nullptr, 0, &txn), "begin");
    bool found = false;
    for (const auto& name : opts.keyspaces) {
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

  void fill(const kv_dataset& data, const kv_progress& progress) override {
    const size_t batch_size = data.config().batch_size;
    for (size_t begin = 0; begin < data.size(); begin += batch_size) {
      size_t end = std::min(begin + batch_size, data.size());
      // One write transaction per batch; a full map is doubled and the batch retried, as our
      // backend does.
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
          map_size_ *= 2;
          check(mdb_env_set_mapsize(env_.get(), map_size_), "grow map");
          continue;
        }
        check(rc, "write batch");
        break;
      }
      progress(end);
    }
  }

  kv_tally point_reads(const kv_dataset& data) override {
    kv_tally tally;
    for (uint32_t index : data.read_order()) {
      MDB_txn* txn = begin_read();
      MDB_val key = val(data.key(index));
      MDB_val value;
      int rc = mdb_get(txn, dbi_, &key, &value);
      if (rc == MDB_SUCCESS) {
        ++tally.items;
        tally.bytes += value.mv_size;
        tally.digest += kv_prefix_word(static_cast<const char*>(value.mv_data), value.mv_size);
      }
      end_read();
      if (rc != MDB_NOTFOUND) check(rc, "get");
    }
    return tally;
  }

  kv_tally range_scans(const kv_dataset& data) override {
    kv_tally tally;
    const size_t length = data.config().scan_length;
    for (uint32_t start : data.scan_starts()) {
      MDB_txn* txn = begin_read();
      MDB_cursor* cursor = nullptr;
      check(mdb_cursor_open(txn, dbi_, &cursor), "cursor open");
      MDB_val key = val(data.key(start));
      MDB_val value;
      int rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
      for (size_t n = 0; n < length && rc == MDB_SUCCESS; ++n) {
        ++tally.items;
        tally.bytes += key.mv_size + value.mv_size;
        tally.digest += kv_prefix_word(static_cast<const char*>(key.mv_data), key.mv_size) +
                        kv_prefix_word(static_cast<const char*>(value.mv_data), value.mv_size);
        if (n + 1 < length) rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
      }
      mdb_cursor_close(cursor);
      end_read();
      if (rc != MDB_NOTFOUND) check(rc, "scan");
    }
    return tally;
  }

private:
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
};

} // namespace

std::unique_ptr<kv_store_under_test> open_raw_lmdb(const storage::backend_options& opts,
                                                   const std::string& keyspace) {
  return std::make_unique<raw_lmdb>(opts, keyspace);
}

} // namespace telos::bench
