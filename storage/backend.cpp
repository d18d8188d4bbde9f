// The parts of the backend interface shared by every implementation.
#include "telos/storage/backend.hpp"

namespace telos::storage {

const char* to_string(backend_kind kind) {
  switch (kind) {
  case backend_kind::memory:
    return "memory";
  case backend_kind::rocksdb:
    return "rocksdb";
  case backend_kind::lmdb:
    return "lmdb";
  }
  return "unknown";
}

expected<backend_kind> parse_backend_kind(std::string_view text) {
  if (text == "memory") return backend_kind::memory;
  if (text == "rocksdb") return backend_kind::rocksdb;
  if (text == "lmdb") return backend_kind::lmdb;
  return make_error(ec::invalid_argument, "unknown backend '" + std::string{text} +
                                              "' (expected rocksdb, lmdb or memory)");
}

expected<keyspace_id> backend::keyspace(std::string_view name) const {
  const auto& names = keyspaces();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<keyspace_id>(i);
  return make_error(ec::unknown_keyspace, "keyspace '" + std::string{name} + "' was not declared");
}

expected<void> backend::multi_get_visit(keyspace_id ks, const std::vector<std::string>& keys,
                                        const value_visitor& visit) const {
  auto values = multi_get(ks, keys);
  if (!values) return std::move(values.error());
  for (size_t i = 0; i < values->size(); ++i)
    if ((*values)[i]) visit(i, *(*values)[i]);
  return {};
}

expected<std::vector<std::optional<std::string>>>
backend::collect_visited(size_t n,
                         const std::function<expected<void>(const value_visitor&)>& read) {
  std::vector<std::optional<std::string>> out(n);
  auto done = read([&out](size_t i, std::string_view value) { out[i].emplace(value); });
  if (!done) return std::move(done.error());
  return out;
}

expected<void> backend::put(keyspace_id ks, std::string_view key, std::string_view value) {
  write_batch batch;
  batch.put(ks, key, value);
  return write(batch);
}

expected<void> backend::del(keyspace_id ks, std::string_view key) {
  write_batch batch;
  batch.del(ks, key);
  return write(batch);
}

} // namespace telos::storage
