// Commands about the store as a whole: init, delete, count, stats, checkpoint, restore, verify,
// optimize, compact, flush.
#include "cli.hpp"

#include "telos/actors/transactions.hpp"

#include <caf/actor.hpp>

#include <dirent.h>
#include <sys/stat.h>

namespace telos::cli {
namespace {

/// True when `path` exists and is anything but an empty directory.
bool occupied(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) return true;
  auto* dir = ::opendir(path.c_str());
  if (dir == nullptr) return true;
  bool any = false;
  while (auto* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") {
      any = true;
      break;
    }
  }
  ::closedir(dir);
  return any;
}

expected<telos::profile> load_profile(const std::string& arg) {
  if (arg != "-") return telos::profile::load(arg);
  auto text = read_input(arg);
  if (!text) return text.error();
  auto parsed = telos::profile::from_json(*text);
  if (!parsed)
    return make_error(ec::invalid_argument, "profile from stdin: " + describe(parsed.error()));
  return parsed;
}

std::function<int()> init_setup(CLI::App& sub, const global_options& globals) {
  auto profile_arg = std::make_shared<std::string>("teleo13");
  auto shards = std::make_shared<uint32_t>(1);
  auto* profile_option =
      sub.add_option("--profile", *profile_arg, "teleo13, or a profile JSON file")
          ->capture_default_str();
  auto* shards_option =
      sub.add_option("--shards", *shards, "Number of shards (fixed for the store's life)")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
  auto graph = std::make_shared<storage::graph_options>();
  auto indexed = std::make_shared<std::vector<std::string>>();
  sub.add_option("--index-attribute", *indexed,
                 "Attribute to index by value (repeatable; fixed for the store's life)");
  sub.add_option("--time-bucket", graph->time_bucket_ms,
                 "Width of a created_at index bucket in ms (fixed for the store's life)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  auto* indexed_option = sub.get_option("--index-attribute");
  auto* bucket_option = sub.get_option("--time-bucket");
  return [&globals, profile_arg, shards, graph, indexed, profile_option, shards_option,
          indexed_option, bucket_option] {
    if (!globals.connect.empty()) {
      // A cluster's stores are created by telosd: init reports the cluster when it is what was
      // asked for, and names the difference when it is not.
      if (indexed_option->count() > 0 || bucket_option->count() > 0)
        return fail(exit_bad_input,
                    "init over --connect cannot set --index-attribute or --time-bucket: a "
                    "cluster's stores are created by `telosd --shard-id N --shard-count M`");
      std::optional<telos::profile> wanted;
      if (profile_option->count() > 0) {
        auto p = load_profile(*profile_arg);
        if (!p) return fail(p.error());
        wanted = std::move(*p);
      }
      return with_store(globals, [&](store& db) {
        auto st = db.stats();
        if (!st) return fail(st.error(), "init over --connect");
        if (wanted && *wanted != db.profile())
          return fail(exit_store_error, "the cluster at " + globals.connect + " has " +
                                            describe_profile(db.profile()) + ", init asked for " +
                                            describe_profile(*wanted) +
                                            " (a cluster's profile is fixed by its shard nodes)");
        if (shards_option->count() > 0 && *shards != st->shards)
          return fail(exit_store_error, "the cluster at " + globals.connect + " has " +
                                            std::to_string(st->shards) +
                                            " shards, init asked for " + std::to_string(*shards) +
                                            " (a cluster's shard count is fixed by telosd)");
        print({{"exists", globals.connect},
               {"backend", storage::to_string(st->backend)},
               {"profile", db.profile().name},
               {"embedders", db.profile().embedders.size()},
               {"shards", st->shards}});
        return int{exit_ok};
      });
    }
    auto kind = backend_of(globals);
    if (!kind) return fail(kind.error());
    auto profile = load_profile(*profile_arg);
    if (!profile) return fail(profile.error());
    if (*kind != storage::backend_kind::memory && occupied(globals.data_dir))
      return fail(exit_store_error,
                  "'" + globals.data_dir +
                      "' already exists and is not empty; init never overwrites a store");
    store_options opts;
    opts.path = globals.data_dir;
    opts.backend = *kind;
    opts.profile = *profile;
    opts.shards = *shards;
    opts.create_if_missing = true;
    opts.sync_writes = !globals.no_sync;
    graph->indexed_attributes.insert(indexed->begin(), indexed->end());
    opts.graph = *graph;
    auto opened = store::open(std::move(opts));
    if (!opened)
      return fail(exit_store_error,
                  "creating a store at '" + globals.data_dir + "': " + describe(opened.error()));
    if (auto closed = (*opened)->close(); !closed)
      return fail(exit_store_error, "closing the new store: " + describe(closed.error()));
    print({{"created", globals.data_dir},
           {"backend", storage::to_string(*kind)},
           {"profile", profile->name},
           {"embedders", profile->embedders.size()},
           {"shards", *shards}});
    return int{exit_ok};
  };
}

registrar init_command{{"init", "Create a store (default profile teleo13)", init_setup}};

std::function<int()> delete_setup(CLI::App& sub, const global_options& globals) {
  auto id_text = std::make_shared<std::string>();
  sub.add_option("ID", *id_text, "Memory id")->required();
  return [&globals, id_text] {
    auto id = uuid::parse(*id_text);
    if (!id) return fail(id.error());
    return with_store(globals, [&](store& db) {
      auto removed = db.remove(*id);
      if (!removed) return fail(removed.error(), "delete " + *id_text);
      if (!*removed) return fail(exit_not_found, "no memory with id " + id->to_string());
      print({{"deleted", id->to_string()}});
      return int{exit_ok};
    });
  };
}

registrar delete_command{{"delete", "Delete one memory by id", delete_setup}};

std::function<int()> count_setup(CLI::App& sub, const global_options& globals) {
  auto filter = std::make_shared<filter_options>();
  filter->add_to(sub);
  return [&globals, filter] {
    auto f = filter->build();
    if (!f) return fail(f.error());
    return with_store(globals, [&](store& db) {
      auto n = filter->beyond_namespace() ? db.count_matching(*f) : db.count(filter->ns);
      if (!n) return fail(n.error(), "count");
      print({{"count", *n}});
      return int{exit_ok};
    });
  };
}

registrar count_command{{"count", "Count memories, in all namespaces or one", count_setup}};

std::function<int()> stats_setup(CLI::App&, const global_options& globals) {
  return [&globals] {
    return with_store(globals, [&](store& db) {
      auto st = db.stats();
      if (!st) return fail(st.error(), "stats");
      json_value indexes = json_value::array();
      for (auto& ix : st->indexes) {
        json_value entry{{"embedder", ix.embedder},
                         {"shard", ix.shard},
                         {"structure", ix.stats.structure},
                         {"vectors", ix.stats.vectors},
                         {"fresh", ix.stats.fresh},
                         {"memory_bytes", ix.stats.memory_bytes},
                         {"snapshot_sequence", ix.snapshot_sequence}};
        if (!ix.checkpoint_error.empty()) entry["checkpoint_error"] = ix.checkpoint_error;
        indexes.push_back(std::move(entry));
      }
      print({{"backend", storage::to_string(st->backend)},
             {"profile", db.profile().name},
             {"shards", st->shards},
             {"memories", st->memories},
             {"namespaces", st->per_namespace},
             {"disk_bytes", st->disk_bytes},
             {"sequences", st->sequences},
             {"indexes", indexes}});
      return int{exit_ok};
    });
  };
}

registrar stats_command{
    {"stats", "Counts, bytes on disk and per-index sizes, as JSON", stats_setup}};

std::function<int()> checkpoint_setup(CLI::App& sub, const global_options& globals) {
  auto dir = std::make_shared<std::string>();
  sub.add_option("DIR", *dir, "Checkpoint directory")->required();
  return [&globals, dir] {
    // Over --connect DIR names a directory on every shard node, not here.
    bool remote = !globals.connect.empty();
    if (!remote && occupied(*dir))
      return fail(exit_store_error, "checkpoint directory '" + *dir + "' already exists");
    return with_store(globals, [&](store& db) {
      if (auto done = db.checkpoint(*dir); !done)
        return fail(exit_store_error, "checkpoint to '" + *dir + "': " + describe(done.error()));
      if (remote)
        print({{"checkpoint", *dir}, {"on", "every shard node"}});
      else
        print({{"checkpoint", *dir}});
      return int{exit_ok};
    });
  };
}

registrar checkpoint_command{{"checkpoint",
                              "Write a consistent copy of the store to DIR (which must not exist)",
                              checkpoint_setup}};

std::function<int()> restore_setup(CLI::App& sub, const global_options& globals) {
  auto dir = std::make_shared<std::string>();
  sub.add_option("DIR", *dir, "Checkpoint directory (written by `telos checkpoint`)")->required();
  return [&globals, dir] {
    if (!globals.connect.empty()) {
      // Live: every shard node replaces its shards with their copies in DIR on its own disk.
      return with_store(globals, [&](store& db) {
        auto front = db.coordinator();
        auto n = restore_cluster(front->home_system(), front, *dir, std::chrono::hours(24));
        if (!n) return fail(n.error(), "restore from '" + *dir + "'");
        print({{"restored", *dir}, {"memories", *n}});
        return int{exit_ok};
      });
    }
    if (!occupied(*dir)) return fail(exit_not_found, "no checkpoint at '" + *dir + "'");
    global_options of_checkpoint = globals;
    of_checkpoint.data_dir = *dir;
    auto kind = backend_of(of_checkpoint);
    if (!kind) return fail(kind.error());
    store_options target;
    target.path = globals.data_dir;
    target.backend = *kind;
    target.create_if_missing = true;
    target.sync_writes = !globals.no_sync;
    auto restored = store::restore(*dir, std::move(target));
    if (!restored)
      return fail(exit_store_error, "restore from '" + *dir + "': " + describe(restored.error()));
    auto n = (*restored)->count();
    if (!n) return fail(n.error(), "count after restore");
    if (auto closed = (*restored)->close(); !closed)
      return fail(exit_store_error, "closing the store: " + describe(closed.error()));
    print({{"restored", *dir}, {"memories", *n}});
    return int{exit_ok};
  };
}

registrar restore_command{
    {"restore", "Replace the store with the checkpoint in DIR", restore_setup}};

/// Where the command's store is, for its output: the directory, or the cluster's coordinator.
std::string store_name(const global_options& globals) {
  return globals.connect.empty() ? globals.data_dir : globals.connect;
}

std::function<int()> optimize_setup(CLI::App&, const global_options& globals) {
  return [&globals] {
    return with_store(globals, [&](store& db) {
      auto done = finish_indexes(db, stderr_is_terminal());
      if (!done) return fail(done.error(), "optimize");
      print({{"optimized", store_name(globals)},
             {"vectors", done->vectors},
             {"fresh_before", done->fresh_before},
             {"fresh", done->fresh_after},
             {"seconds", done->seconds}});
      return int{exit_ok};
    });
  };
}

registrar optimize_command{
    {"optimize",
     "Finish the indexes: move every vector still outside its HNSW graph into it (progress on "
     "a terminal), so the next search runs at full speed",
     optimize_setup}};

std::function<int()> compact_setup(CLI::App&, const global_options& globals) {
  return [&globals] {
    return with_store(globals, [&](store& db) {
      if (auto done = db.compact(); !done) return fail(done.error(), "compact");
      print({{"compacted", store_name(globals)}});
      return int{exit_ok};
    });
  };
}

registrar compact_command{
    {"compact", "Compact the backend's files (reclaims space; data unchanged)", compact_setup}};

std::function<int()> flush_setup(CLI::App&, const global_options& globals) {
  return [&globals] {
    return with_store(globals, [&](store& db) {
      if (auto done = db.flush(); !done) return fail(done.error(), "flush");
      print({{"flushed", store_name(globals)}});
      return int{exit_ok};
    });
  };
}

registrar flush_command{
    {"flush", "Make everything written durable on disk (memtables and WAL flushed)", flush_setup}};

json_value to_json(const verify_report& report) {
  return {{"consistent", report.consistent},
          {"records_checked", report.records_checked},
          {"problems", report.problems},
          {"repaired", report.repaired}};
}

std::function<int()> verify_setup(CLI::App& sub, const global_options& globals) {
  auto repair = std::make_shared<bool>(false);
  sub.add_flag("--repair", *repair, "Rebuild whatever differs from the records");
  return [&globals, repair] {
    return with_store(globals, [&](store& db) {
      auto report = db.verify(*repair);
      if (!report) return fail(report.error(), "verify");
      auto out = to_json(*report);
      bool consistent = report->consistent;
      if (*repair && !report->consistent) {
        // A repair is only believed once a fresh check finds nothing left.
        auto after = db.verify(false);
        if (!after) return fail(after.error(), "verify after repair");
        out["after_repair"] = to_json(*after);
        consistent = after->consistent;
      }
      print(out);
      if (!consistent)
        std::cerr << "telos: verify: the store is inconsistent (" << report->problems.size()
                  << " problem(s), listed on stdout)\n";
      return consistent ? int{exit_ok} : int{exit_store_error};
    });
  };
}

registrar verify_command{
    {"verify", "Check records, embeddings, indexes and checksums; exit 0 only if consistent",
     verify_setup}};

} // namespace
} // namespace telos::cli
