// The transaction logic every backend shares: a write buffer over a backend snapshot, read-your-
// writes, the finished/closed/read-only rules and conflict messages. A backend supplies the
// snapshot read, the conflict-checked commit and the release of its snapshot.
#pragma once

#include "telos/storage/backend.hpp"
#include "telos/storage/backend_checks.hpp"
#include "telos/storage/call_gate.hpp"
#include "telos/storage/conflict_tracker.hpp"

#include <map>

namespace telos::storage::detail {

/// What a transaction needs to know about its backend; every pointer outlives the transaction
/// (the backend's transaction class owns the state they point into).
struct transaction_context {
  const std::vector<std::string>* names;
  backend_kind kind;
  const std::string* path;
  const call_gate* gate;
  op_counters* counters;
  bool read_only;
};

/// The error of a lost write-write conflict, naming keyspace and key.
caf::error conflict_error(const std::vector<std::string>& names,
                          const conflict_tracker::conflict& found);

class snapshot_transaction : public transaction {
public:
  explicit snapshot_transaction(const transaction_context& ctx);

  expected<std::optional<std::string>> get(keyspace_id ks, std::string_view key) final;
  expected<void> put(keyspace_id ks, std::string_view key, std::string_view value) final;
  expected<void> del(keyspace_id ks, std::string_view key) final;
  expected<void> commit(write_options opts) final;
  void rollback() final;

protected:
  /// Reads from the snapshot taken at begin.
  virtual expected<std::optional<std::string>> read_snapshot(keyspace_id ks,
                                                             std::string_view key) = 0;
  /// Applies `batch` atomically unless one of its keys was written after the snapshot
  /// (ec::conflict); also fails with ec::closed when the store closed meanwhile.
  virtual expected<void> apply_commit(const write_batch& batch, write_options opts) = 0;
  /// Releases the snapshot and unregisters the transaction; runs exactly once. Derived classes
  /// call finish() from their destructor.
  virtual void release() noexcept = 0;

  /// Ends the transaction (rollback) if it is still open.
  void finish() noexcept;

private:
  /// The error for a call the transaction cannot serve any more, or none.
  caf::error unusable();

  transaction_context ctx_;
  bool finished_ = false;
  /// This transaction's writes per keyspace: a value, or nullopt for a delete.
  std::vector<std::map<std::string, std::optional<std::string>, std::less<>>> writes_;
};

} // namespace telos::storage::detail
