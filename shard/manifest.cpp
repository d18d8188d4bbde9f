// The store's files before any shard opens: directory names and the MANIFEST.
#include "telos/shard/manifest.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/shard/durable_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace telos {

std::string backend_directory(const std::string& root, uint32_t shard) {
  return root + "/shard-" + std::to_string(shard);
}

std::string snapshot_directory(const std::string& root, uint32_t shard) {
  return root + "/indexes/shard-" + std::to_string(shard);
}

std::string manifest_path(const std::string& root) {
  return root + "/MANIFEST";
}

std::string describe_profile(const telos::profile& p) {
  std::string out = "profile '" + p.name + "' (";
  for (size_t i = 0; i < p.embedders.size(); ++i) {
    const auto& e = p.embedders[i];
    if (i > 0) out += ", ";
    out += e.name + " " + to_string(e.kind) + " " + std::to_string(e.dim);
    if (e.kind == embedder_kind::dense) out += std::string{" "} + to_string(e.metric);
    // The index policy, when it is not the default, so that two profiles a store refuses to mix
    // never print alike.
    const auto& policy = e.index;
    if (policy.structure != index_structure::hnsw)
      out += std::string{" "} + to_string(policy.structure);
    if (policy.quantization != quantization::none)
      out += std::string{" "} + to_string(policy.quantization);
    if (policy.m != 0) out += " m" + std::to_string(policy.m);
    if (policy.ef_construction != 0) out += " efc" + std::to_string(policy.ef_construction);
    if (policy.oversample != 0) out += " x" + std::to_string(policy.oversample);
  }
  return out + ")";
}

expected<std::optional<store_manifest>> read_manifest(const std::string& root) {
  auto path = manifest_path(root);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<store_manifest>{};
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(ec::io_error, "cannot read '" + path + "': " + ec.message());
  // A manifest is a few hundred bytes; anything huge is not ours.
  if (size > (1u << 20))
    return make_error(ec::corrupt_value,
                      "'" + path + "' is " + std::to_string(size) + " bytes, not a Telos manifest");
  std::string bytes(size, '\0');
  auto fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(ec::io_error, "cannot open '" + path + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ::close(fd);
      return make_error(ec::io_error, "cannot read '" + path + "'");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  auto m = decode_value<store_manifest>(bytes, path);
  if (!m) return std::move(m.error());
  return std::optional<store_manifest>{std::move(*m)};
}

expected<void> write_manifest(const std::string& root, const store_manifest& m) {
  return replace_file(manifest_path(root), encode_value(m));
}

} // namespace telos
