// The RocksDB baseline of `telos-bench kv`: the workload through rocksdb::DB directly, with the
// options storage/rocksdb_backend.cpp derives from the same backend_options.
#include "kv_raw.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace telos::bench {

namespace {

void check(const rocksdb::Status& status, const std::string& what) {
  if (!status.ok()) throw kv_failure("raw rocksdb: " + what + ": " + status.ToString());
}

class raw_rocksdb final : public kv_store_under_test {
public:
  raw_rocksdb(const storage::backend_options& opts, const std::string& keyspace) {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = opts.create_if_missing;
    db_options.create_missing_column_families = opts.create_if_missing;
    db_options.max_open_files = opts.max_open_files;

    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(opts.block_cache_mb << 20);
    if (opts.bloom_filters) table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options.write_buffer_size = opts.write_buffer_mb << 20;
    if (opts.compression) {
      cf_options.compression = rocksdb::kLZ4Compression;
      cf_options.bottommost_compression = rocksdb::kZSTD;
    } else {
      cf_options.compression = rocksdb::kNoCompression;
      cf_options.bottommost_compression = rocksdb::kNoCompression;
    }

    // The same column families as our backend: default, its "__meta", then one per keyspace,
    // all sharing one table factory and so one block cache.
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    families.emplace_back("__meta", cf_options);
    size_t target = 0;
    for (const auto& name : opts.keyspaces) {
      if (name == keyspace) target = families.size();
      families.emplace_back(name, cf_options);
    }
    if (target == 0) throw kv_failure("raw rocksdb: keyspace '" + keyspace + "' not declared");
    rocksdb::DB* db = nullptr;
    check(rocksdb::DB::Open(db_options, opts.path, families, &handles_, &db), "open " + opts.path);
    db_.reset(db);
    cf_ = handles_[target];
  }

  ~raw_rocksdb() override {
    for (auto* handle : handles_)
      db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }

  void fill(const kv_dataset& data, size_t first, size_t last) override {
    const size_t batch_size = data.config().batch_size;
    rocksdb::WriteBatch batch;
    for (size_t begin = first; begin < last; begin += batch_size) {
      size_t end = std::min(begin + batch_size, last);
      batch.Clear();
      for (size_t i = begin; i < end; ++i)
        check(batch.Put(cf_, slice(data.key(i)), slice(data.value(i))), "batch put");
      check(db_->Write(write_options_, &batch), "write batch");
    }
  }

  void point_reads(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) override {
    rocksdb::PinnableSlice value;
    for (size_t i = begin; i < end; ++i) {
      uint32_t index = data.read_order()[i];
      value.Reset();
      auto status = db_->Get(read_options_, cf_, slice(data.key(index)), &value);
      if (status.IsNotFound()) continue;
      check(status, "get");
      ++tally.items;
      tally.bytes += value.size();
      tally.digest += kv_consume(value.data(), value.size());
    }
  }

  void range_scans(const kv_dataset& data, size_t begin, size_t end, kv_tally& tally) override {
    const size_t length = data.config().scan_length;
    for (size_t i = begin; i < end; ++i) {
      uint32_t start = data.scan_starts()[i];
      std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(read_options_, cf_)};
      it->Seek(slice(data.key(start)));
      for (size_t n = 0; n < length && it->Valid(); ++n, it->Next()) {
        auto key = it->key();
        auto value = it->value();
        ++tally.items;
        tally.bytes += key.size() + value.size();
        tally.digest += kv_consume(key.data(), key.size()) + kv_consume(value.data(), value.size());
      }
      check(it->status(), "scan");
    }
  }

private:
  static rocksdb::Slice slice(std::string_view bytes) { return {bytes.data(), bytes.size()}; }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;
};

} // namespace

std::unique_ptr<kv_store_under_test> open_raw_rocksdb(const storage::backend_options& opts,
                                                      const std::string& keyspace) {
  return std::make_unique<raw_rocksdb>(opts, keyspace);
}

} // namespace telos::bench
