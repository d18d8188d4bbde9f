// The fault injector behind both fault seams (fault_injection.hpp): which operations fail, and
// what a power cut leaves on disk.
#include "telos/storage/fault_injection.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include <unistd.h>

namespace telos::storage {

namespace {

std::string faulted_parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
}

/// A path without "//" and trailing '/', so the names RocksDB and we use for one file agree.
std::string faulted_normal_path(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path)
    if (!(c == '/' && !out.empty() && out.back() == '/')) out.push_back(c);
  while (out.size() > 1 && out.back() == '/')
    out.pop_back();
  return out;
}

bool fault_hits(fault_kind kind, file_op op) {
  switch (kind) {
  case fault_kind::none:
    return false;
  case fault_kind::no_space:
    return op == file_op::create || op == file_op::write;
  case fault_kind::write_error:
  case fault_kind::short_write:
    return op == file_op::write;
  case fault_kind::sync_error:
    return op == file_op::sync;
  case fault_kind::read_error:
    return op == file_op::read;
  }
  return false;
}

std::atomic<fault_injector*> own_faults_raw{nullptr};
std::shared_ptr<fault_injector> own_faults_owner;
std::mutex own_faults_mutex;

} // namespace

const char* to_string(fault_kind kind) {
  switch (kind) {
  case fault_kind::none:
    return "none";
  case fault_kind::no_space:
    return "no_space";
  case fault_kind::write_error:
    return "write_error";
  case fault_kind::sync_error:
    return "sync_error";
  case fault_kind::short_write:
    return "short_write";
  case fault_kind::read_error:
    return "read_error";
  }
  return "unknown";
}

expected<fault_kind> parse_fault_kind(std::string_view text) {
  for (auto kind : {fault_kind::no_space, fault_kind::write_error, fault_kind::sync_error,
                    fault_kind::short_write, fault_kind::read_error})
    if (text == to_string(kind)) return kind;
  return make_error(ec::invalid_argument,
                    "unknown fault '" + std::string{text} +
                        "'; expected no_space, write_error, sync_error, short_write or read_error");
}

fault_injector::fault_injector(uint64_t seed) : rng_state_(seed) {}

void fault_injector::arm(fault_kind kind, double probability) {
  std::lock_guard<std::mutex> guard{mutex_};
  // A draw below the threshold fails: probability 1 makes every draw fail.
  threshold_ = probability >= 1.0   ? UINT64_MAX
               : probability <= 0.0 ? 0
                                    : static_cast<uint64_t>(probability * 18446744073709551615.0);
  armed_.store(kind, std::memory_order_relaxed);
}

void fault_injector::lift() {
  armed_.store(fault_kind::none, std::memory_order_relaxed);
}

void fault_injector::arm_from_file(std::string path) {
  control_file_ = std::move(path);
}

void fault_injector::read_control_file() {
  std::string text;
  if (std::FILE* file = std::fopen(control_file_.c_str(), "r")) {
    char buffer[64];
    size_t got = std::fread(buffer, 1, sizeof buffer, file);
    std::fclose(file);
    text.assign(buffer, got);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.pop_back();
  auto kind = text.empty() ? expected<fault_kind>{fault_kind::none} : parse_fault_kind(text);
  auto wanted = kind ? *kind : fault_kind::none;
  if (wanted == armed()) return;
  if (wanted == fault_kind::none)
    lift();
  else
    arm(wanted, 1.0);
}

fault_decision fault_injector::decide(file_op op, std::string_view) {
  if (!control_file_.empty()) read_control_file();
  if (cut_.load(std::memory_order_relaxed)) return {EIO, false};
  auto kind = armed_.load(std::memory_order_relaxed);
  if (!fault_hits(kind, op)) return {};
  uint64_t draw = 0;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    // splitmix64: the same sequence of decisions for the same seed and order of operations.
    uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    draw = z ^ (z >> 31);
    if (threshold_ != UINT64_MAX && draw >= threshold_) return {};
  }
  injected_.fetch_add(1, std::memory_order_relaxed);
  if (kind == fault_kind::no_space) return {ENOSPC, false};
  return {EIO, kind == fault_kind::short_write};
}

void fault_injector::note_created(const std::string& path) {
  std::lock_guard<std::mutex> guard{mutex_};
  files_[faulted_normal_path(path)] = file_state{0, 0, true};
}

void fault_injector::note_appended(const std::string& path, uint64_t bytes) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto key = faulted_normal_path(path);
  auto it = files_.find(key);
  if (it == files_.end()) {
    // A file that existed before tracking began: durable up to the size it had.
    std::error_code err;
    auto size = std::filesystem::file_size(key, err);
    uint64_t before = err ? 0 : static_cast<uint64_t>(size) - std::min<uint64_t>(size, bytes);
    it = files_.emplace(key, file_state{before, before, false}).first;
  }
  it->second.size += bytes;
}

void fault_injector::note_truncated(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = files_.find(faulted_normal_path(path));
  if (it == files_.end()) return;
  it->second.size = size;
  it->second.synced = std::min(it->second.synced, size);
}

void fault_injector::note_synced(const std::string& path) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = files_.find(faulted_normal_path(path));
  if (it != files_.end()) it->second.synced = it->second.size;
}

void fault_injector::note_dir_synced(const std::string& dir) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto d = faulted_normal_path(dir);
  for (auto& [path, state] : files_)
    if (faulted_parent_dir(path) == d) state.new_entry = false;
}

void fault_injector::note_deleted(const std::string& path) {
  std::lock_guard<std::mutex> guard{mutex_};
  files_.erase(faulted_normal_path(path));
}

void fault_injector::note_renamed(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = files_.find(faulted_normal_path(from));
  if (it == files_.end()) return;
  auto state = it->second;
  files_.erase(it);
  // RocksDB renames a fully written and synced temporary file (CURRENT, OPTIONS) and then syncs
  // the directory; the renamed entry keeps its durability state.
  files_[faulted_normal_path(to)] = state;
}

void fault_injector::cut_power() {
  cut_.store(true, std::memory_order_relaxed);
}

expected<power_loss_report> fault_injector::drop_unsynced() {
  std::lock_guard<std::mutex> guard{mutex_};
  power_loss_report report;
  for (auto& [path, state] : files_) {
    std::error_code err;
    if (!std::filesystem::exists(path, err)) continue;
    if (state.new_entry) {
      std::filesystem::remove(path, err);
      if (err)
        return make_error(ec::io_error, "power cut: cannot remove " + path + ": " + err.message());
      ++report.files_removed;
      report.bytes_dropped += state.size;
      continue;
    }
    auto size = std::filesystem::file_size(path, err);
    if (err) continue;
    if (size > state.synced) {
      if (::truncate(path.c_str(), static_cast<off_t>(state.synced)) != 0)
        return make_error(ec::io_error, "power cut: cannot truncate " + path);
      ++report.files_truncated;
      report.bytes_dropped += size - state.synced;
    }
  }
  files_.clear();
  cut_.store(false, std::memory_order_relaxed);
  return report;
}

void install_fault_injector(std::shared_ptr<fault_injector> injector) {
  std::lock_guard<std::mutex> guard{own_faults_mutex};
  own_faults_raw.store(injector.get(), std::memory_order_release);
  own_faults_owner = std::move(injector);
}

std::shared_ptr<fault_injector> installed_fault_injector() {
  std::lock_guard<std::mutex> guard{own_faults_mutex};
  return own_faults_owner;
}

fault_decision own_file_fault(file_op op, std::string_view path) {
  auto* injector = own_faults_raw.load(std::memory_order_acquire);
  if (injector == nullptr) return {};
  return injector->decide(op, path);
}

} // namespace telos::storage
