// Input checks and error texts shared by every backend.
#include "telos/storage/backend_checks.hpp"

#include "telos/messages/envelope.hpp"

#include <filesystem>
#include <set>

namespace telos::storage {

bool asks_for_reopen(const caf::error& err) {
  return err && describe(err).find(reopen_needed_text) != std::string::npos;
}

} // namespace telos::storage

namespace telos::storage::detail {

caf::error check_keyspace_names(const std::vector<std::string>& names) {
  std::set<std::string_view> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& name = names[i];
    auto where = "keyspace #" + std::to_string(i) + " '" + printable_key(name) + "'";
    if (name.empty())
      return make_error(ec::invalid_argument, "keyspace #" + std::to_string(i) + " has no name");
    if (name.size() > 255)
      return make_error(ec::invalid_argument,
                        where + " is " + std::to_string(name.size()) +
                            " bytes long; keyspace names have at most 255 bytes");
    if (name.find('\0') != std::string::npos)
      return make_error(ec::invalid_argument, where + " contains a NUL byte");
    if (name.compare(0, 2, "__") == 0)
      return make_error(ec::invalid_argument,
                        where + " starts with \"__\", which is reserved for internal keyspaces");
    if (!seen.insert(name).second)
      return make_error(ec::invalid_argument, where + " is declared twice");
  }
  return {};
}

caf::error check_keyspace(const std::vector<std::string>& names, keyspace_id ks) {
  if (ks < names.size()) return {};
  return make_error(ec::unknown_keyspace, "keyspace id " + std::to_string(ks) +
                                              " was not declared (the store has " +
                                              std::to_string(names.size()) + " keyspaces)");
}

caf::error key_error(const std::vector<std::string>& names, keyspace_id ks, std::string_view key) {
  if (auto err = check_keyspace(names, ks)) return err;
  if (key.empty())
    return make_error(ec::invalid_argument, "empty key in keyspace '" + names[ks] +
                                                "' (keys have 1.." + std::to_string(max_key_size) +
                                                " bytes)");
  if (key.size() > max_key_size)
    return make_error(ec::invalid_argument, "key '" + printable_key(key) + "' in keyspace '" +
                                                names[ks] + "' is " + std::to_string(key.size()) +
                                                " bytes long; the maximum is " +
                                                std::to_string(max_key_size));
  return {};
}

caf::error check_batch(const std::vector<std::string>& names, const write_batch& batch) {
  const auto& ops = batch.ops();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto err = check_key(names, ops[i].ks, ops[i].key)) {
      auto code = static_cast<ec>(err.code());
      auto text = describe(err);
      // describe() prefixes the code name; keep only the context after it.
      auto colon = text.find(": ");
      auto what = colon == std::string::npos ? text : text.substr(colon + 2);
      return make_error(code, "write batch operation #" + std::to_string(i) + " (" +
                                  (ops[i].kind == write_batch::op_kind::put ? "put" : "del") +
                                  "): " + what);
    }
  }
  return {};
}

caf::error closed_error(backend_kind kind, const std::string& path) {
  std::string what = std::string{to_string(kind)} + " store";
  if (!path.empty()) what += " " + path;
  return make_error(ec::closed, what + " is closed");
}

caf::error read_only_error(backend_kind kind, const std::string& path, const char* what) {
  std::string store = std::string{to_string(kind)} + " store";
  if (!path.empty()) store += " " + path;
  return make_error(ec::read_only, std::string{what} + " refused: " + store + " is open read-only");
}

key_range prefix_range(std::string_view prefix) {
  key_range range;
  range.begin = std::string{prefix};
  range.begin_inclusive = true;
  // The smallest string greater than every string with this prefix: drop trailing 0xFF bytes,
  // then increment the last byte. Nothing is left for "" or all-0xFF prefixes: the end is open.
  std::string end{prefix};
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF)
    end.pop_back();
  if (!end.empty()) {
    end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    range.end = std::move(end);
    range.end_inclusive = false;
  }
  if (prefix.empty()) range.begin.reset();
  return range;
}

void op_counters::add_batch(const write_batch& batch) {
  uint64_t puts = 0;
  uint64_t dels = 0;
  for (const auto& op : batch.ops())
    (op.kind == write_batch::op_kind::put ? puts : dels) += 1;
  if (puts) writes.fetch_add(puts, std::memory_order_relaxed);
  if (dels) deletes.fetch_add(dels, std::memory_order_relaxed);
}

uint64_t directory_bytes(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code err;
  uint64_t total = 0;
  fs::recursive_directory_iterator it{dir, fs::directory_options::skip_permission_denied, err};
  for (; !err && it != fs::recursive_directory_iterator{}; it.increment(err)) {
    std::error_code size_err;
    if (it->is_regular_file(size_err)) {
      auto size = it->file_size(size_err);
      if (!size_err) total += size;
    }
  }
  return total;
}

} // namespace telos::storage::detail
