// A node's files on disk: binding, cluster map, prepared parts, restore (see node_files.hpp).
#include "telos/actors/node_files.hpp"

#include "telos/shard/durable_file.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace telos {

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string binding_path(const std::string& data_dir) {
  return data_dir + "/NODE";
}

std::string map_path(const std::string& data_dir) {
  return data_dir + "/CLUSTER";
}

} // namespace

expected<std::optional<node_binding>> read_node_binding(const std::string& data_dir) {
  auto path = binding_path(data_dir);
  auto found = read_optional_file(path);
  if (!found) return std::move(found.error());
  if (!*found) return std::optional<node_binding>{};
  const auto& text = *found;
  node_binding b;
  bool magic = false, cluster = false, count = false;
  for (const auto& line : lines_of(*text)) {
    std::istringstream in{line};
    std::string key, value;
    in >> key >> value;
    if (key == "telos-node") magic = value == "1";
    if (key == "cluster") {
      auto id = uuid::parse(value);
      if (!id) break;
      b.cluster = *id;
      cluster = true;
    }
    if (key == "shards" && !value.empty() && std::all_of(value.begin(), value.end(), ::isdigit)) {
      b.shard_count = static_cast<uint32_t>(std::stoul(value));
      count = true;
    }
  }
  if (!magic || !cluster || !count)
    return make_error(ec::corrupt_value, "'" + path + "' is not a Telos node binding");
  return std::optional<node_binding>{b};
}

expected<void> write_node_binding(const std::string& data_dir, const node_binding& b) {
  return replace_file(binding_path(data_dir), "telos-node 1\ncluster " + b.cluster.to_string() +
                                                  "\nshards " + std::to_string(b.shard_count) +
                                                  "\n");
}

// -- prepared parts -------------------------------------------------------------------------------

std::string prepared_dir(const std::string& data_dir, uint32_t shard) {
  return data_dir + "/prepared/shard-" + std::to_string(shard);
}

std::string prepared_path(const std::string& data_dir, uint32_t shard, const uuid& tx) {
  return prepared_dir(data_dir, shard) + "/" + tx.to_string();
}

expected<void> write_prepared_part(const std::string& data_dir, uint32_t shard, const uuid& tx,
                                   const std::string& bytes) {
  auto dir = prepared_dir(data_dir, shard);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ec::io_error, "cannot create '" + dir + "': " + ec.message());
  if (auto ok = replace_file(prepared_path(data_dir, shard, tx), bytes); !ok) return ok;
  return sync_directory(dir);
}

expected<std::optional<std::string>> read_prepared_part(const std::string& data_dir, uint32_t shard,
                                                        const uuid& tx) {
  return read_optional_file(prepared_path(data_dir, shard, tx));
}

void remove_prepared_part(const std::string& data_dir, uint32_t shard, const uuid& tx) {
  std::error_code ec;
  fs::remove(prepared_path(data_dir, shard, tx), ec);
}

std::vector<uuid> prepared_parts(const std::string& data_dir, uint32_t shard) {
  std::vector<uuid> result;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(prepared_dir(data_dir, shard), ec))
    if (auto id = uuid::parse(entry.path().filename().string())) result.push_back(*id);
  return result;
}

// -- checkpoint -----------------------------------------------------------------------------------

expected<void> prepare_checkpoint_directory(const std::string& dir, uint32_t shard) {
  auto target = backend_directory(dir, shard);
  std::error_code ec;
  if (fs::exists(target, ec))
    return make_error(ec::already_exists, "checkpoint directory '" + target +
                                              "' exists already on the node of shard " +
                                              std::to_string(shard));
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(ec::io_error, "cannot create '" + dir + "' on the node of shard " +
                                        std::to_string(shard) + ": " + ec.message());
  return {};
}

expected<void> copy_node_files(const std::string& data_dir, const std::string& dir) {
  // Nodes sharing a disk may write them at once: each through a temporary file of its own, all
  // with the same bytes.
  for (auto name : {"MANIFEST", "NODE"}) {
    auto from = data_dir + "/" + name;
    std::error_code ec;
    if (!fs::exists(from, ec)) continue;
    auto bytes = read_small_file(from);
    if (!bytes) return std::move(bytes.error());
    if (auto ok = replace_file(dir + "/" + name, *bytes, true); !ok) return ok;
  }
  return {};
}

// -- restore --------------------------------------------------------------------------------------

expected<void> check_checkpoint(const std::string& dir, const store_manifest& m,
                                const std::vector<uint32_t>& shards) {
  auto found = read_manifest(dir);
  if (!found) return std::move(found.error());
  std::error_code ec;
  if (!*found)
    return make_error(ec::not_found,
                      "'" + dir + "' holds no Telos checkpoint (" +
                          (fs::exists(dir, ec) ? "no MANIFEST" : "no such directory") + ")");
  const auto& c = **found;
  if (c.backend != m.backend || c.shards != m.shards || c.profile != m.profile)
    return make_error(ec::invalid_argument,
                      "checkpoint '" + dir + "' is of a " + storage::to_string(c.backend) +
                          " store of " + std::to_string(c.shards) + " shards with " +
                          describe_profile(c.profile) + ", not of a " +
                          storage::to_string(m.backend) + " store of " + std::to_string(m.shards) +
                          " shards with " + describe_profile(m.profile));
  for (uint32_t id : shards)
    if (!fs::exists(backend_directory(dir, id), ec))
      return make_error(ec::not_found, "checkpoint '" + dir + "' holds no shard " +
                                           std::to_string(id) + " (written on another node?)");
  return {};
}

expected<void> replace_shard_directory(const std::string& data_dir, const std::string& dir,
                                       uint32_t shard) {
  // The checkpoint's copy is made beside the shard's directory, made durable and swapped in with
  // one atomic exchange, so a crash leaves the old or the new directory whole, never a mix that
  // RocksDB could open as a different store. The next restore removes what a crash left beside.
  std::error_code ec;
  auto target = backend_directory(data_dir, shard);
  auto staging = target + ".restoring";
  for (const auto& gone : {staging, staging + ".old", snapshot_directory(data_dir, shard),
                           prepared_dir(data_dir, shard)}) {
    fs::remove_all(gone, ec);
    if (ec) return make_error(ec::io_error, "cannot remove '" + gone + "': " + ec.message());
  }
  fs::copy(backend_directory(dir, shard), staging, fs::copy_options::recursive, ec);
  if (ec)
    return make_error(ec::io_error, "cannot copy '" + backend_directory(dir, shard) + "' to '" +
                                        staging + "': " + ec.message());
  if (auto synced = sync_tree(staging); !synced) return synced;
  if (auto swapped = swap_directory(staging, target); !swapped) return swapped;
  fs::remove_all(staging, ec);
  return {};
}

// -- cluster map ----------------------------------------------------------------------------------

expected<std::optional<cluster_map>> read_cluster_map(const std::string& data_dir) {
  auto path = map_path(data_dir);
  auto found = read_optional_file(path);
  if (!found) return std::move(found.error());
  if (!*found) return std::optional<cluster_map>{};
  const auto& text = *found;
  auto bad = [&](const std::string& why) {
    return make_error(ec::corrupt_value, "'" + path + "' is not a Telos cluster map: " + why);
  };
  cluster_map m;
  bool magic = false, cluster = false;
  for (const auto& line : lines_of(*text)) {
    auto space = line.find(' ');
    auto key = line.substr(0, space);
    auto rest = space == std::string::npos ? std::string{} : line.substr(space + 1);
    if (key == "telos-cluster") {
      magic = rest == "1";
    } else if (key == "cluster") {
      auto id = uuid::parse(rest);
      if (!id) return bad("cluster id '" + rest + "'");
      m.cluster = *id;
      cluster = true;
    } else if (key == "backend") {
      m.backend = rest;
    } else if (key == "profile") {
      auto p = telos::profile::from_json(rest);
      if (!p) return bad("profile: " + describe(p.error()));
      m.profile = std::move(*p);
    } else if (key == "shard") {
      std::istringstream in{rest};
      size_t index = 0;
      std::string where, state;
      in >> index >> where >> state;
      auto e = parse_endpoint(where);
      if (!e || index != m.shards.size()) return bad("line '" + line + "'");
      m.shards.push_back({*e, state == "bound"});
    } else {
      return bad("unknown line '" + line + "'");
    }
  }
  if (!magic || !cluster || m.shards.empty()) return bad("header, cluster id or shards missing");
  return std::optional<cluster_map>{std::move(m)};
}

expected<void> write_cluster_map(const std::string& data_dir, const cluster_map& m) {
  std::string text = "telos-cluster 1\ncluster " + m.cluster.to_string() + "\n";
  if (!m.backend.empty()) text += "backend " + m.backend + "\n";
  if (!m.profile.embedders.empty()) text += "profile " + m.profile.to_json() + "\n";
  for (size_t i = 0; i < m.shards.size(); ++i)
    text += "shard " + std::to_string(i) + " " + m.shards[i].where.to_string() + " " +
            (m.shards[i].bound ? "bound" : "new") + "\n";
  return replace_file(map_path(data_dir), text);
}

} // namespace telos
