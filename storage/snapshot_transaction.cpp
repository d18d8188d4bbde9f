// The transaction logic every backend shares.
#include "telos/storage/snapshot_transaction.hpp"

#include "telos/messages/envelope.hpp"

namespace telos::storage::detail {

caf::error conflict_error(const std::vector<std::string>& names,
                          const conflict_tracker::conflict& found) {
  auto ks_name = found.ks < names.size() ? names[found.ks] : std::to_string(found.ks);
  return make_error(ec::conflict, "write-write conflict on key '" + printable_key(found.key) +
                                      "' in keyspace '" + ks_name +
                                      "': another commit wrote it after this transaction began "
                                      "(snapshot sequence " +
                                      std::to_string(found.snapshot_seq) + ", commit sequence " +
                                      std::to_string(found.commit_seq) + ")");
}

snapshot_transaction::snapshot_transaction(const transaction_context& ctx)
    : ctx_(ctx), writes_(ctx.names->size()) {}

caf::error snapshot_transaction::unusable() {
  if (ctx_.gate->closed()) {
    finish();
    return closed_error(ctx_.kind, *ctx_.path);
  }
  if (finished_)
    return make_error(ec::invalid_argument,
                      "transaction already finished (committed, failed or rolled back)");
  return {};
}

expected<std::optional<std::string>> snapshot_transaction::get(keyspace_id ks,
                                                               std::string_view key) {
  if (auto err = unusable()) return err;
  if (auto err = check_key(*ctx_.names, ks, key)) return err;
  ctx_.counters->add_reads(1);
  const auto& own = writes_[ks];
  if (auto it = own.find(key); it != own.end()) return it->second;
  return read_snapshot(ks, key);
}

expected<void> snapshot_transaction::put(keyspace_id ks, std::string_view key,
                                         std::string_view value) {
  if (auto err = unusable()) return err;
  if (auto err = check_key(*ctx_.names, ks, key)) return err;
  auto& own = writes_[ks];
  if (auto it = own.find(key); it != own.end())
    it->second.emplace(value);
  else
    own.emplace(std::string{key}, std::string{value});
  return {};
}

expected<void> snapshot_transaction::del(keyspace_id ks, std::string_view key) {
  if (auto err = unusable()) return err;
  if (auto err = check_key(*ctx_.names, ks, key)) return err;
  auto& own = writes_[ks];
  if (auto it = own.find(key); it != own.end())
    it->second.reset();
  else
    own.emplace(std::string{key}, std::nullopt);
  return {};
}

expected<void> snapshot_transaction::commit(write_options opts) {
  if (auto err = unusable()) return err;
  write_batch batch;
  for (size_t ks = 0; ks < writes_.size(); ++ks)
    for (auto& [key, value] : writes_[ks]) {
      if (value)
        batch.put(static_cast<keyspace_id>(ks), key, *value);
      else
        batch.del(static_cast<keyspace_id>(ks), key);
    }
  writes_.clear();
  if (batch.empty()) {
    finish();
    return {};
  }
  if (ctx_.read_only) {
    finish();
    return read_only_error(ctx_.kind, *ctx_.path, "transaction commit");
  }
  auto result = apply_commit(batch, opts);
  finish();
  return result;
}

void snapshot_transaction::rollback() {
  finish();
}

void snapshot_transaction::finish() noexcept {
  if (finished_) return;
  finished_ = true;
  writes_.clear();
  release();
}

} // namespace telos::storage::detail
