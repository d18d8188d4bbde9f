// Write-write conflict detection shared by every backend.
#include "telos/storage/conflict_tracker.hpp"

namespace telos::storage::detail {

std::string conflict_tracker::tracked_key(keyspace_id ks, std::string_view key) {
  std::string out;
  out.reserve(4 + key.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((ks >> shift) & 0xFF));
  out.append(key);
  return out;
}

void conflict_tracker::record(uint64_t seq, const write_batch& batch) {
  std::lock_guard<std::mutex> lock{mutex_};
  // Between a writer's any_open() and this lock the last transaction may have closed; then nobody
  // needs the record.
  if (snapshots_.empty()) return;
  for (const auto& op : batch.ops()) {
    auto key = tracked_key(op.ks, op.key);
    auto [it, inserted] = last_write_.try_emplace(key, seq);
    if (!inserted) {
      if (it->second == seq) continue; // same key twice in one batch
      it->second = seq;
    }
    log_.emplace_back(seq, std::move(key));
  }
}

std::optional<conflict_tracker::conflict> conflict_tracker::find(uint64_t snapshot_seq,
                                                                 const write_batch& batch) const {
  std::lock_guard<std::mutex> lock{mutex_};
  for (const auto& op : batch.ops()) {
    auto it = last_write_.find(tracked_key(op.ks, op.key));
    if (it != last_write_.end() && it->second > snapshot_seq)
      return conflict{op.ks, op.key, snapshot_seq, it->second};
  }
  return std::nullopt;
}

void conflict_tracker::close_locked(std::optional<uint64_t> seq) {
  if (seq) {
    auto it = snapshots_.find(*seq);
    if (it != snapshots_.end()) snapshots_.erase(it);
  }
  open_count_.fetch_sub(1, std::memory_order_seq_cst);
  if (snapshots_.empty()) {
    last_write_.clear();
    log_.clear();
    return;
  }
  // A record matters only to snapshots older than it.
  auto oldest = *snapshots_.begin();
  while (!log_.empty() && log_.front().first <= oldest) {
    auto it = last_write_.find(log_.front().second);
    if (it != last_write_.end() && it->second == log_.front().first) last_write_.erase(it);
    log_.pop_front();
  }
}

} // namespace telos::storage::detail
