// One Telos store per Qdrant collection under the data dir (see collections.hpp).
#include "telos/server/collections.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;

namespace telos::server {

namespace {

constexpr const char* schema_file = "collection.json";

bool registry_valid_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return false;
  return true;
}

store_options registry_store_options(const collection_options& o, const std::string& dir,
                                     const collection_schema& schema) {
  store_options so;
  so.path = (fs::path{dir} / "store").string();
  so.backend = o.backend;
  so.profile = schema.profile();
  so.sync_writes = o.sync_writes;
  // The attribute slots of payload indexes are fixed when the store is created; an existing
  // store keeps what it has (graph unset).
  if (schema.index_slot_count > 0) {
    storage::graph_options g;
    for (uint32_t i = 0; i < schema.index_slot_count; ++i)
      g.indexed_attributes.insert(index_attribute(i));
    so.graph = g;
  }
  return so;
}

/// Writes `schema` to DIR/collection.json through a temporary file and a rename.
bool registry_write_schema(const std::string& dir, const collection_schema& schema) {
  auto tmp = fs::path{dir} / (std::string{schema_file} + ".tmp");
  {
    std::ofstream out{tmp};
    out << dump(schema.to_json(), 2) << '\n';
    out.flush();
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(tmp, fs::path{dir} / schema_file, ec);
  return !ec;
}

} // namespace

collection_registry::collection_registry(caf::actor_system& sys, collection_options opts)
    : sys_(sys), opts_(std::move(opts)) {}

collection_registry::~collection_registry() {
  close_all();
}

expected<size_t> collection_registry::open_existing() {
  std::error_code ec;
  fs::create_directories(opts_.data_dir, ec);
  if (ec)
    return make_error(ec::io_error, "cannot create '" + opts_.data_dir + "': " + ec.message());
  size_t opened = 0;
  for (const auto& entry : fs::directory_iterator(opts_.data_dir)) {
    auto file = entry.path() / schema_file;
    if (!entry.is_directory() || !fs::exists(file)) continue;
    std::ifstream in{file};
    std::stringstream text;
    text << in.rdbuf();
    auto doc = parse_json(text.str());
    if (!doc) return make_error(ec::corrupt_value, file.string() + ": " + describe(doc.error()));
    auto c = std::make_shared<collection>();
    c->name = entry.path().filename().string();
    c->dir = entry.path().string();
    try {
      c->schema = collection_schema::from_json(*doc);
    } catch (const std::exception& e) {
      return make_error(ec::corrupt_value, file.string() + ": " + e.what());
    }
    auto s = store::open(sys_, registry_store_options(opts_, c->dir, c->schema));
    if (!s)
      return make_error(code_of(s.error()), "collection '" + c->name + "': " + describe(s.error()));
    c->store = std::move(*s);
    std::lock_guard<std::mutex> guard{mutex_};
    collections_[c->name] = c;
    ++opened;
  }
  return opened;
}

std::shared_ptr<collection> collection_registry::find(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = collections_.find(name);
  return it == collections_.end() ? nullptr : it->second;
}

std::shared_ptr<collection> collection_registry::get(const std::string& name) const {
  auto c = find(name);
  if (!c) throw api_error(404, "Not found: Collection `" + name + "` doesn't exist!");
  return c;
}

namespace {

[[noreturn]] void registry_refuse_fixed(const std::string& fixed) {
  throw api_error(400, "Bad request: this telosd serves a cluster's store as the one collection `" +
                           fixed +
                           "`; collections are not created or deleted over HTTP on a coordinator "
                           "(docs/HTTP.md, \"Clusters\")");
}

} // namespace

void collection_registry::serve_fixed(const std::string& name, collection_schema schema,
                                      std::unique_ptr<telos::store> s) {
  auto c = std::make_shared<collection>();
  c->name = name;
  c->dir = (fs::path{opts_.data_dir} / ("http-" + name)).string();
  c->schema = std::move(schema);
  c->store = std::move(s);
  std::lock_guard<std::mutex> guard{mutex_};
  fixed_ = name;
  collections_[name] = c;
}

void collection_registry::create(const std::string& name, const collection_schema& schema) {
  if (!fixed_.empty()) registry_refuse_fixed(fixed_);
  if (!registry_valid_name(name))
    bad_request("collection_name", "'" + name +
                                       "' is not a valid name (1 to 255 of A-Z a-z 0-9 _ - ., "
                                       "not starting with '.')");
  std::lock_guard<std::mutex> guard{mutex_};
  if (collections_.count(name))
    throw api_error(409, "Wrong input: Collection `" + name + "` already exists!");
  auto c = std::make_shared<collection>();
  c->name = name;
  c->dir = (fs::path{opts_.data_dir} / name).string();
  c->schema = schema;
  std::error_code ec;
  fs::remove_all(c->dir, ec); // a leftover of a create that failed half way
  fs::create_directories(c->dir, ec);
  if (ec) throw api_error(500, "Service internal error: cannot create " + c->dir);
  auto s = store::open(sys_, registry_store_options(opts_, c->dir, schema));
  if (!s) {
    fs::remove_all(c->dir, ec);
    throw api_error(code_of(s.error()) == ec::invalid_argument ? 400 : 500,
                    "Service internal error: " + describe(s.error()));
  }
  c->store = std::move(*s);
  // The schema file is written last, through a rename: a directory without it is not a collection.
  if (!registry_write_schema(c->dir, schema)) {
    (void)c->store->close();
    fs::remove_all(c->dir, ec);
    throw api_error(500, "Service internal error: cannot write the collection's schema");
  }
  collections_[name] = c;
}

void collection_registry::save_schema(const collection& c) {
  if (!registry_write_schema(c.dir, c.schema))
    throw api_error(500, "Service internal error: cannot write the schema of collection `" +
                             c.name + "`");
}

bool collection_registry::drop(const std::string& name) {
  std::shared_ptr<collection> c;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!fixed_.empty()) registry_refuse_fixed(fixed_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return false;
    c = it->second;
    collections_.erase(it);
  }
  std::unique_lock<std::shared_mutex> exclusive{c->use};
  c->closed = true;
  if (auto ok = c->store->close(); !ok)
    std::cerr << "telosd: closing collection " << name << ": " << describe(ok.error()) << '\n';
  std::error_code ec;
  fs::remove(fs::path{c->dir} / schema_file, ec);
  fs::remove_all(c->dir, ec);
  return true;
}

std::vector<std::string> collection_registry::names() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> out;
  for (const auto& [name, c] : collections_)
    out.push_back(name);
  return out;
}

void collection_registry::close_all() {
  std::map<std::string, std::shared_ptr<collection>> all;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    all.swap(collections_);
  }
  for (auto& [name, c] : all) {
    std::unique_lock<std::shared_mutex> exclusive{c->use};
    c->closed = true;
    if (auto ok = c->store->close(); !ok)
      std::cerr << "telosd: closing collection " << name << ": " << describe(ok.error()) << '\n';
  }
}

} // namespace telos::server
